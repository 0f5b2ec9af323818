"""Python twin of the survival statistics (no R needed): stratified Cox, log-rank, API."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv.exceptions import ConvergenceWarning, DataWarning
from desurv.metrics import concordance_index
from desurv.stats import cox_ph, logrank_test
from desurv.stats._cox import _CoxData
from desurv.tl import survival
from tests._rhelpers import simulate_survival


@pytest.fixture(scope="module")
def cohort():
    return simulate_survival(n=240, seed=1)


def _naive_loglik(beta, X, t, e, s, ties):
    """Partial log-likelihood written out subject by subject (reference)."""
    ll = 0.0
    eta = X @ beta
    for g in np.unique(s):
        m = s == g
        tg, eg, etag = t[m], e[m], eta[m]
        for u in np.unique(tg[eg]):
            D = (tg == u) & eg
            R = tg >= u
            d = D.sum()
            ll += etag[D].sum()
            for l in range(d):
                frac = l / d if ties == "efron" else 0.0
                ll -= np.log(np.exp(etag[R]).sum() - frac * np.exp(etag[D]).sum())
    return ll


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_partial_likelihood_and_gradient(cohort, ties):
    X = cohort[["x1", "x2"]].to_numpy()
    t = cohort["time"].to_numpy(float)
    e = cohort["event"].to_numpy(bool)
    s = pd.factorize(cohort["stratum"])[0]
    data = _CoxData(X, t, e, s, ties)
    beta = np.array([0.3, -0.2])
    ll, g, info = data.evaluate(beta)
    assert ll == pytest.approx(_naive_loglik(beta, X, t, e, s, ties), rel=1e-12)
    h = 1e-6
    num = [
        (data.evaluate(beta + h * np.eye(2)[j])[0] - data.evaluate(beta - h * np.eye(2)[j])[0])
        / (2 * h)
        for j in range(2)
    ]
    np.testing.assert_allclose(g, num, rtol=1e-6)
    num_h = np.array(
        [
            (data.evaluate(beta + h * np.eye(2)[j])[1] - data.evaluate(beta - h * np.eye(2)[j])[1])
            / (2 * h)
            for j in range(2)
        ]
    )
    np.testing.assert_allclose(info, -num_h, rtol=1e-5)


def test_efron_matches_lifelines_stratified(cohort):
    from lifelines import CoxPHFitter

    df = cohort[["time", "event", "x1", "x2", "stratum"]]
    cph = CoxPHFitter()
    cph.fit(df, "time", "event", strata=["stratum"])
    # lifelines stops its Newton steps at a looser tolerance than ours (1e-13 relative
    # log-likelihood change), hence 1e-5 / 1e-4 here; the 1e-6 parity is with R.
    res = cox_ph(df["time"], df["event"], df[["x1", "x2"]], df["stratum"], ties="efron")
    np.testing.assert_allclose(
        res["coefficients"]["coef"].to_numpy(), cph.params_.to_numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(
        res["coefficients"]["se"].to_numpy(), cph.standard_errors_.to_numpy(), rtol=1e-4
    )
    assert res["loglik"] == pytest.approx(cph.log_likelihood_, rel=1e-8)


def test_cox_outputs_are_consistent(cohort):
    res = cox_ph(cohort["time"], cohort["event"], cohort[["x1", "x2", "grp"]], cohort["stratum"])
    tab = res["coefficients"]
    assert list(tab.index) == ["x1", "x2", "grpB", "grpC"]  # R's term names
    k = len(tab)
    assert res["implementation"] == "python"
    assert res["nevent"] == int(cohort["event"].sum()) and res["n"] == len(cohort)
    assert res["lrt"]["statistic"] == pytest.approx(2 * (res["loglik"] - res["loglik_null"]))
    assert res["aic"] == pytest.approx(-2 * res["loglik"] + 2 * k)
    # R's BIC(coxph) uses the number of events as n
    assert res["bic"] == pytest.approx(-2 * res["loglik"] + np.log(res["nevent"]) * k)
    np.testing.assert_allclose(tab["hr"], np.exp(tab["coef"]))
    np.testing.assert_allclose(
        tab["hr_lower_95"], np.exp(tab["coef"] - 1.959963984540054 * tab["se"])
    )
    assert res["coefficients"]["p"].between(0, 1).all()
    # concordance of the linear predictor, within strata
    X = np.column_stack(
        [cohort["x1"], cohort["x2"], cohort["grp"] == "B", cohort["grp"] == "C"]
    ).astype(float)
    lp = X @ tab["coef"].to_numpy()
    assert res["concordance"] == concordance_index(
        cohort["time"], cohort["event"], lp, strata=cohort["stratum"]
    )


def test_breslow_differs_from_efron_with_ties(cohort):
    ef = cox_ph(cohort["time"], cohort["event"], cohort[["x1"]], ties="efron")
    br = cox_ph(cohort["time"], cohort["event"], cohort[["x1"]], ties="breslow")
    assert ef["loglik"] != pytest.approx(br["loglik"], rel=1e-6)


def test_monotone_likelihood_warns():
    t = np.arange(1.0, 21.0)
    e = np.ones(20)
    x = (t < 10).astype(float)  # perfect separation
    with pytest.warns(ConvergenceWarning, match="infinite"):
        cox_ph(t, e, x, max_iter=15)


def test_collinear_covariates_raise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    with pytest.raises(ValueError, match="collinear"):
        cox_ph(rng.exponential(size=30), np.ones(30), np.column_stack([x, 2 * x]))


def test_logrank_matches_lifelines_unstratified(cohort):
    from lifelines.statistics import multivariate_logrank_test

    res = logrank_test(cohort["time"], cohort["event"], cohort["grp"])
    ref = multivariate_logrank_test(cohort["time"], cohort["grp"], cohort["event"])
    assert res["chisq"] == pytest.approx(ref.test_statistic, rel=1e-9)
    assert res["df"] == 2
    assert res["table"]["observed"].sum() == cohort["event"].sum()
    assert res["table"]["expected"].sum() == pytest.approx(cohort["event"].sum())


def test_stratified_logrank_sums_over_strata(cohort):
    res = logrank_test(cohort["time"], cohort["event"], cohort["grp"], cohort["stratum"])
    O = np.zeros(3)
    E = np.zeros(3)
    for _, sub in cohort.groupby("stratum"):
        r = logrank_test(sub["time"], sub["event"], pd.Categorical(sub["grp"], ["A", "B", "C"]))
        O += r["table"]["observed"].to_numpy()
        E += r["table"]["expected"].to_numpy()
    np.testing.assert_allclose(res["table"]["observed"], O)
    np.testing.assert_allclose(res["table"]["expected"], E)


def test_survival_on_anndata_writes_uns_and_roundtrips(cohort, make_survival_adata, tmp_path):
    adata = make_survival_adata(cohort)
    assert survival(adata, ["x1", "x2"], strata="stratum", groupby="grp", score_key="score") is None
    uns = adata.uns["survival"]
    assert uns["implementation"] == "python"
    assert list(uns["cox"]["terms"]) == ["x1", "x2"]
    assert set(uns["cox"]) >= {"coef", "hr", "se", "p", "lrt", "bic", "aic", "concordance"}
    assert uns["logrank"]["df"] == 2
    assert 0 < uns["concordance"]["concordance"] < 1
    path = tmp_path / "s.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_allclose(back.uns["survival"]["cox"]["coef"], uns["cox"]["coef"])
    assert back.uns["survival"]["params"]["strata"].tolist() == ["stratum"]


def test_survival_copy_and_key_added(cohort, make_survival_adata):
    adata = make_survival_adata(cohort)
    out = survival(adata, groupby="grp", key_added="surv_grp", copy=True)
    assert "surv_grp" in out.uns and "surv_grp" not in adata.uns
    # groupby alone: Cox on the groups (HR against the first level) + log-rank
    assert list(out.uns["surv_grp"]["cox"]["terms"]) == ["grpB", "grpC"]


def test_survival_on_dataframe_and_arrays(cohort):
    res = survival(cohort, "score", strata="stratum")
    assert res.implementation == "python" and res.logrank is None
    res2 = survival(
        None,
        cohort[["score"]].to_numpy(),
        time_key=cohort["time"].to_numpy(),
        event_key=cohort["event"].to_numpy(),
        strata=cohort["stratum"].to_numpy(),
    )
    assert res2.cox["coefficients"]["coef"].iloc[0] == pytest.approx(
        res.cox["coefficients"]["coef"].iloc[0], rel=1e-12
    )


def test_survival_score_key_cindex_within_strata(cohort):
    res = survival(cohort, score_key="score", strata="stratum")
    assert res.cox is None and res.logrank is None
    expected = concordance_index(
        cohort["time"], cohort["event"], cohort["score"], strata=cohort["stratum"]
    )
    assert res.concordance["concordance"] == expected
    assert res.concordance["score"] == "score"
    with pytest.raises(AttributeError):
        res.no_such_key  # noqa: B018


def test_survival_drops_missing_with_warning(cohort):
    df = cohort.copy()
    df.loc[[0, 5], "x1"] = np.nan
    with pytest.warns(DataWarning, match="dropped 2"):
        res = survival(df, "x1")
    assert res.cox["n"] == len(df) - 2


def test_survival_argument_errors(cohort):
    with pytest.raises(ValueError, match="implementation"):
        survival(cohort, "x1", implementation="julia")
    with pytest.raises(KeyError, match="not a column"):
        survival(cohort, "nope")
    with pytest.raises(ValueError, match="covariates"):
        survival(cohort)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        survival(cohort, "x1")  # no spurious warnings
