"""The PDAC vignette (``vignettes/pdac.py``) runs in fast mode and reports what it claims.

The vignette runs once per module in a subprocess (``--fast``; output in
``$DESURV_VIGNETTE_OUT/pdac`` when that variable is set, else a temporary folder); the tests
read its ``results.json``: a DeSurv factor associated with survival in training (univariable
Cox p < 0.05) that is also annotated to a published PDAC program (BH q < 0.05), finite PRINCE
validation numbers for DeSurv and the alpha = 0 model, and the scanpy route.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "vignettes" / "pdac.py"
DATA = ROOT.parent / "shared" / "data"
LEVEL = 0.05

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DATA / "pdac" / "tcga_paad_3k").is_dir() and not os.environ.get("DESURV_DATA_MIRROR"),
        reason=f"needs the data mirror (TCGA-PAAD 3k, PRINCE) at {DATA} or $DESURV_DATA_MIRROR",
    ),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = os.environ.get("DESURV_VIGNETTE_OUT")
    out = Path(base) / "pdac" if base else tmp_path_factory.mktemp("pdac")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    env.pop("DESURV_VIGNETTE_FAST", None)  # --fast is passed explicitly
    proc = subprocess.run(
        [sys.executable, "vignettes/pdac.py", "--fast", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "results.json").read_text()), out


def test_outputs_written(run):
    results, out = run
    assert results["fast"] is True
    assert (out / "report.md").is_file()
    head = results["headline_figure"]
    assert head.endswith(".png") and (out / head).is_file()
    assert head in (out / "report.md").read_text()
    for name in ("select_k", "km_training", "prince_km", "prince_km_clusters", "prince_forest",
                 "prince_comparison"):
        assert (out / "figures" / f"{name}.png").is_file(), name


def test_survival_factor_annotated_to_published_program(run):
    results, _ = run
    k = results["n_factors"]
    p = results["train_factor_p"]
    assert len(p) == k and all(0.0 <= x <= 1.0 for x in p)
    ann = {a["factor"]: a for a in results["annotated_factors"]}
    assert sorted(ann) == list(range(1, k + 1))
    hits = [f for f in range(1, k + 1) if p[f - 1] < LEVEL and ann[f]["q"] < LEVEL]
    assert hits, (
        f"no factor with training Cox p < {LEVEL} and annotation q < {LEVEL}: p = {p}, "
        f"annotations = {results['annotated_factors']}"
    )
    assert results["best_annotated_significant"] is True
    for f in hits:  # the factor's program is one of the reference table's
        assert ann[f]["schema"] and ann[f]["program"]


def test_prince_validation_reported(run):
    results, _ = run
    for key in ("prince_cindex_desurv", "prince_cindex_nmf", "prince_cindex_se_desurv",
                "prince_cindex_se_nmf", "prince_cluster2_cindex_desurv",
                "prince_cluster2_cindex_nmf"):
        value = results[key]
        assert value is not None and math.isfinite(value), key
    assert 0.0 <= results["prince_cindex_desurv"] <= 1.0
    assert 0.0 <= results["prince_cindex_nmf"] <= 1.0
    assert results["validation_implementation"] in ("r", "python")


def test_scanpy_route_ran(run):
    results, _ = run
    if importlib.util.find_spec("scanpy") is None:
        pytest.skip("scanpy is not installed, so the vignette skipped its scanpy route")
    assert results["scanpy_route_ok"] is True, results.get("scanpy_note")
    assert results["scanpy"]["n_genes"] == 2000
