"""The bladder and colorectal vignettes run end to end in fast mode.

Each vignette runs in a subprocess (``python vignettes/<name>.py --fast --out OUT`` from the
repository root, ``PYTHONPATH`` = the root), as CI runs it. ``OUT`` is
``$DESURV_VIGNETTE_OUT/<name>`` when that variable is set (to keep the rendered reports),
else a temporary folder. Checked: exit status 0, ``report.md``, the figures it links, and
finite validation C-indices (DeSurv and NMF) for every validation cohort in
``results.json``. Needs the shared data folder (``../shared/data``); skipped without it.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NEEDS = {
    "bladder": ["bladder/imvigor210_bladder_site", "bladder/imvigor210_other_sites",
                "bladder/tcga_blca_hypoxia"],
    "colorectal": ["colorectal/gse17538"],
}  # fmt: skip
EXPECTED_COHORTS = {
    "bladder": {"IMvigor210 other sites", "TCGA-BLCA"},
    "colorectal": {"GSE17538 test"},
}
FIGURES = ["select_k", "heatmap", "km_train", "validation_km", "validation_forest",
           "validation_comparison"]  # fmt: skip


def _out_dir(name: str, tmp_path: Path) -> Path:
    base = os.environ.get("DESURV_VIGNETTE_OUT")
    return Path(base) / name if base else tmp_path / name


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bladder", "colorectal"])
def test_vignette_fast(name: str, tmp_path: Path) -> None:
    if os.environ.get("DESURV_DATA_MIRROR") is None:
        missing = [p for p in NEEDS[name] if not (DATA / p).is_dir()]
        if missing:
            pytest.skip(f"shared data folder lacks {missing} (looked in {DATA})")
    out = _out_dir(name, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, f"vignettes/{name}.py", "--fast", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"{name} exited {proc.returncode}\nstdout tail:\n{proc.stdout[-3000:]}\n"
        f"stderr tail:\n{proc.stderr[-3000:]}"
    )
    report = out / "report.md"
    assert report.is_file()
    text = report.read_text()
    for fig in FIGURES:
        assert (out / "figures" / f"{fig}.png").is_file(), fig
        assert f"figures/{fig}.png" in text, fig
    for link in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (out / link).is_file(), link

    res = json.loads((out / "results.json").read_text())
    assert res["vignette"] == name and res["fast"] is True
    assert isinstance(res["n_train"], int) and res["n_train"] > 0
    assert isinstance(res["n_genes_model"], int) and res["n_genes_model"] > 0
    assert res["train_factor_p"] and all(_finite(p) and 0 <= p <= 1
                                         for p in res["train_factor_p"])  # fmt: skip
    assert (out / res["headline_figure"]).is_file()
    val = res["validation"]
    assert set(val) == EXPECTED_COHORTS[name]
    for cohort, v in val.items():
        assert isinstance(v["n"], int) and v["n"] > 0, cohort
        assert isinstance(v["genes_shared"], int) and 0 < v["genes_shared"] <= res[
            "n_genes_model"], cohort
        for key in ("cindex_desurv", "cindex_nmf"):
            assert _finite(v[key]) and 0.0 <= v[key] <= 1.0, (cohort, key, v[key])
