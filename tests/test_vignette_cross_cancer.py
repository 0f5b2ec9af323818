"""The cross-cancer vignette (``vignettes/cross_cancer.py``) runs in fast mode and its
numbers hang together: a finite hazard ratio for every factor in every cohort, and shares
that follow from the HR table it writes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "vignettes" / "cross_cancer.py"
P_CUT = 0.05


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = os.environ.get("DESURV_VIGNETTE_OUT")
    out = Path(base) / "cross_cancer" if base else tmp_path_factory.mktemp("cross_cancer")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    env.pop("DESURV_VIGNETTE_FAST", None)  # --fast is passed explicitly
    proc = subprocess.run(
        [sys.executable, "vignettes/cross_cancer.py", "--fast", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    return proc, out


@pytest.mark.slow
def test_runs_and_writes_outputs(run):
    proc, out = run
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    assert results["fast"] is True
    assert (out / "report.md").is_file()
    head = results["headline_figure"]
    assert head.endswith(".png") and (out / head).is_file()
    assert (out / head).with_suffix(".pdf").is_file()
    text = (out / "report.md").read_text()
    assert head in text and "Share of the" in text


def _share(rows: list[dict], col: str, factors: list[int]) -> tuple[int, float]:
    types = {j: {r["cancer"] for r in rows if r["factor"] == j and r[col] < P_CUT}
             for j in factors}
    count = sum(len(t) >= 2 for t in types.values())
    return count, count / len(factors)


@pytest.mark.slow
def test_hr_table_and_shares_consistent(run):
    proc, out = run
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = json.loads((out / "results.json").read_text())
    k = res["n_factors"]
    factors = list(range(1, k + 1))
    cohorts = res["cohorts"]
    names = [c["cohort"] for c in cohorts]
    assert len(set(names)) == len(names)
    cancers = {c["cohort"]: c["cancer"] for c in cohorts}
    # the three cancer types, each with at least one validation cohort
    assert {c["cancer"] for c in cohorts if c["role"] == "validation"} == {
        "PDAC", "bladder", "colorectal"}
    for c in cohorts:
        assert c["n"] > 0 and 0 < c["genes_shared"] <= res["model"]["n_genes"]
        assert 0 < c["coverage"] <= 1
        assert math.isclose(c["coverage"], c["genes_shared"] / res["model"]["n_genes"])

    table = res["hr_table"]
    by_key = {(r["factor"], r["cohort"]): r for r in table}
    assert len(by_key) == len(table) == k * len(cohorts)
    for name in names:
        for j in factors:
            r = by_key[(j, name)]
            assert r["cancer"] == cancers[name]
            for col in ("hr", "lower", "upper", "p"):
                assert r[col] is not None and math.isfinite(r[col]), (name, j, col)
            assert r["hr"] > 0 and r["lower"] <= r["hr"] <= r["upper"]
            assert 0 <= r["p"] <= 1

    # recompute from the table: validation rows only, BH over all validation tests
    val = [r for r in table if r["role"] == "validation"]
    assert res["n_validation_tests"] == len(val)
    q = stats.false_discovery_control([r["p"] for r in val], method="bh")
    np.testing.assert_allclose([r["q_bh"] for r in val], q, rtol=1e-9)
    count, share = _share(val, "p", factors)
    val_bh = [{**r, "q": qi} for r, qi in zip(val, q)]
    count_bh, share_bh = _share(val_bh, "q", factors)
    for s in (res["share_significant_two_cancers"], res["share_significant_two_cancers_bh"]):
        assert 0.0 <= s <= 1.0
    assert res["n_significant_two_cancers"] == count
    assert math.isclose(res["share_significant_two_cancers"], share)
    assert res["n_significant_two_cancers_bh"] == count_bh
    assert math.isclose(res["share_significant_two_cancers_bh"], share_bh)
    assert share_bh <= share  # BH can only remove significance
