"""Parity of the survival statistics: R's survival package against the Python twin.

Simulated cohort with strata, tied times and tied scores. Tolerances of the issue: Cox
coefficients and log-likelihood 1e-6 relative, LRT and BIC 1e-6, log-rank chi-square 1e-8,
C-index exact (observed: about 1e-13 and below everywhere).
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv.metrics import concordance_counts, concordance_index
from desurv.stats import cox_ph, logrank_test
from desurv.tl import survival
from tests._rhelpers import require_r, simulate_survival

pytestmark = pytest.mark.needs_r


@pytest.fixture(scope="module")
def rb():
    return require_r()


@pytest.fixture(scope="module")
def cohort():
    return simulate_survival(n=300, seed=11)


def _rel(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("stratified", [False, True])
def test_coxph_parity(rb, cohort, ties, stratified):
    cov = cohort[["x1", "x2", "grp", "score"]]
    strata = cohort["stratum"] if stratified else None
    py = cox_ph(cohort["time"], cohort["event"], cov, strata, ties=ties)
    r = rb.coxph(cohort["time"], cohort["event"], cov, strata, ties=ties)
    assert r["implementation"] == "r" and py["implementation"] == "python"
    assert list(py["coefficients"].index) == list(r["coefficients"].index)
    assert _rel(py["coefficients"]["coef"], r["coefficients"]["coef"]) < 1e-6
    assert _rel(py["coefficients"]["se"], r["coefficients"]["se"]) < 1e-6
    assert _rel(py["coefficients"]["p"], r["coefficients"]["p"]) < 1e-5
    for col in ("hr", "hr_lower_95", "hr_upper_95"):
        assert _rel(py["coefficients"][col], r["coefficients"][col]) < 1e-6
    assert _rel(py["loglik"], r["loglik"]) < 1e-6
    assert _rel(py["loglik_null"], r["loglik_null"]) < 1e-6
    assert abs(py["lrt"]["statistic"] - r["lrt"]["statistic"]) < 1e-6
    assert py["lrt"]["df"] == r["lrt"]["df"]
    assert abs(py["bic"] - r["bic"]) < 1e-6
    assert abs(py["aic"] - r["aic"]) < 1e-6
    assert _rel(py["wald"]["statistic"], r["wald"]["statistic"]) < 1e-6
    assert _rel(py["score"]["statistic"], r["score"]["statistic"]) < 1e-6
    assert py["nevent"] == r["nevent"] and py["n"] == r["n"]
    assert py["concordance"] == r["concordance"]
    assert py["concordance_counts"] == r["concordance_counts"]


@pytest.mark.parametrize("stratified", [False, True])
def test_survdiff_parity(rb, cohort, stratified):
    strata = cohort["stratum"] if stratified else None
    py = logrank_test(cohort["time"], cohort["event"], cohort["grp"], strata)
    r = rb.survdiff(cohort["time"], cohort["event"], cohort["grp"], strata)
    assert abs(py["chisq"] - r["chisq"]) < 1e-8
    assert py["df"] == r["df"]
    assert abs(py["p"] - r["p"]) < 1e-10
    pd.testing.assert_frame_equal(py["table"], r["table"], rtol=1e-12)
    np.testing.assert_allclose(py["var"], r["var"], rtol=1e-10)


@pytest.mark.parametrize("stratified", [False, True])
def test_concordance_exact(rb, cohort, stratified):
    strata = cohort["stratum"] if stratified else None
    r = rb.concordance(cohort["time"], cohort["event"], cohort["score"], strata)
    assert (
        concordance_counts(cohort["time"], cohort["event"], cohort["score"], strata)
        == (r["counts"])
    )
    assert (
        concordance_index(cohort["time"], cohort["event"], cohort["score"], strata)
        == (r["concordance"])
    )
    assert r["counts"]["tied_x"] > 0 and r["counts"]["tied_xy"] > 0  # ties exercised


def test_call_site_records_implementation(rb, cohort, make_survival_adata, tmp_path):
    adata = make_survival_adata(cohort)
    kw = {"strata": "stratum", "groupby": "grp", "score_key": "score"}
    survival(adata, ["x1", "grp"], key_added="s_py", **kw)
    survival(adata, ["x1", "grp"], key_added="s_r", implementation="r", **kw)
    py, r = adata.uns["s_py"], adata.uns["s_r"]
    assert py["implementation"] == "python" and r["implementation"] == "r"
    assert list(py["cox"]["terms"]) == list(r["cox"]["terms"]) == ["x1", "grpB", "grpC"]
    np.testing.assert_allclose(py["cox"]["coef"], r["cox"]["coef"], rtol=1e-6)
    assert abs(py["logrank"]["chisq"] - r["logrank"]["chisq"]) < 1e-8
    assert py["concordance"]["concordance"] == r["concordance"]["concordance"]
    adata.write_h5ad(tmp_path / "r.h5ad")
    assert ad.read_h5ad(tmp_path / "r.h5ad").uns["s_r"]["implementation"] == "r"


PDATK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pdac" / "pdatk_20gene"


def _pdatk_merged(cohorts=("CHEN", "COLLISON", "ICGCSEQ", "TCGA", "UNC")):
    frames = []
    for c in cohorts:
        clin = pd.read_csv(PDATK / c / "clinical.csv")
        expr = pd.read_csv(PDATK / c / "expression.csv.gz", index_col=0)
        z = expr.sub(expr.mean(axis=1), axis=0).div(expr.std(axis=1), axis=0)  # per cohort
        df = clin[["sample_id", "time", "event"]].copy()
        df["cohort"] = c
        for g in ("KRT6A", "BTNL8"):
            df[g] = z.loc[g, clin["sample_id"]].to_numpy()
        frames.append(df)
    df = pd.concat(frames, ignore_index=True).dropna(subset=["time", "event"])
    df["score"] = np.round(df["KRT6A"] - df["BTNL8"], 1)  # basal minus classical, tied
    df["high"] = np.where(df["score"] > df["score"].median(), "high", "low")
    return df


@pytest.mark.skipif(not PDATK.is_dir(), reason="shared real data (../shared/data) not present")
def test_parity_on_real_pdac_cohorts(rb):
    """Real PDAC cohorts (PDATK 20-gene subsets, times in days: many ties), stratified by
    cohort as in the paper's validation; same tolerances as above."""
    df = _pdatk_merged()
    py = survival(df, ["KRT6A", "BTNL8"], strata="cohort", groupby="high", score_key="score")
    r = survival(
        df,
        ["KRT6A", "BTNL8"],
        strata="cohort",
        groupby="high",
        score_key="score",
        implementation="r",
    )
    assert _rel(py.cox["coefficients"]["coef"], r.cox["coefficients"]["coef"]) < 1e-6
    assert _rel(py.cox["loglik"], r.cox["loglik"]) < 1e-6
    assert abs(py.cox["lrt"]["statistic"] - r.cox["lrt"]["statistic"]) < 1e-6
    assert abs(py.cox["bic"] - r.cox["bic"]) < 1e-6
    assert py.cox["concordance"] == r.cox["concordance"]
    assert abs(py.logrank["chisq"] - r.logrank["chisq"]) < 1e-8
    assert py.concordance["concordance"] == r.concordance["concordance"]
    assert py.concordance["counts"] == r.concordance["counts"]
