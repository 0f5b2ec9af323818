"""Defects of the reliability issue (items 6, 7 and 9), each reproduced first and kept as the
test: monotone likelihood in ``cox_ph``, sparse / float32 ``pp.log1p``, negative expression
in ``tl.score``, Series alignment in ``DeSurv.fit``/``score``, duplicated gene names and
missing cohort labels in ``pp``, and R errors of ``r_bridge``'s ``define``."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from desurv import DeSurv, pp, tl
from desurv.exceptions import ConvergenceWarning, DeSurvWarning, SeparationWarning
from desurv.simulate import simulate
from desurv.stats import cox_ph
from desurv.stats._cox import _CoxData
from tests._rhelpers import require_r


@pytest.fixture
def r_session():
    return require_r()


# --------------------------------------------------------------------------------------
# item 7: cox_ph with a perfectly separating covariate (monotone likelihood)
# --------------------------------------------------------------------------------------
def _separated(seed: int = 0, n: int = 60):
    rng = np.random.default_rng(seed)
    t = rng.exponential(10, n)
    sep = (t < np.median(t)).astype(float)
    return rng, t, sep


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cox_separating_covariate_warns_separation_not_singular(sign):
    _, t, sep = _separated()
    with pytest.warns(SeparationWarning, match=r"\['x'\].*coefficient may be infinite"):
        res = cox_ph(t, np.ones(60), pd.DataFrame({"x": sign * sep}))
    row = res["coefficients"].loc["x"]
    assert np.isfinite(row["coef"]) and np.sign(row["coef"]) == sign and abs(row["coef"]) > 10
    assert np.isfinite(row["se"]) and row["se"] > 1e3  # huge, as R's
    assert np.isfinite(res["loglik"]) and res["loglik"] > res["loglik_null"]


def test_cox_separation_names_only_the_separating_term():
    rng, t, sep = _separated(1)
    e = (rng.random(60) < 0.7).astype(float)
    x2 = rng.normal(size=60)
    g = np.where(sep == 1, "hi", np.where(rng.random(60) < 0.5, "a", "b"))
    for cov, term in (
        (pd.DataFrame({"x": sep, "x2": x2}), "x"),
        (pd.DataFrame({"x2": x2, "x": 100 * sep}), "x"),
        (pd.DataFrame({"g": g}), "ghi"),  # a level of a factor
    ):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            res = cox_ph(t, e, cov)
        msgs = [str(w.message) for w in rec if issubclass(w.category, SeparationWarning)]
        assert len(msgs) == 1 and f"['{term}']" in msgs[0], msgs
        finite = res["coefficients"].drop(index=term)
        assert (finite["se"] < 1).all()  # the other terms keep a usable fit


def test_cox_continuous_perfect_order_reaches_the_supremum():
    """A continuous covariate ordering every event: the log-likelihood rises to 0 while the
    linear predictor spreads over thousands of units (exp underflowed: inf / singular)."""
    rng = np.random.default_rng(1)
    t = rng.exponential(10, 60)
    e = (rng.random(60) < 0.7).astype(float)
    with pytest.warns(SeparationWarning, match="may be infinite"):
        res = cox_ph(t, e, pd.DataFrame({"x": -np.log(t)}))
    assert -1e-4 < res["loglik"] <= 0
    assert res["coefficients"].loc["x", "coef"] > 0


def _loglik_logspace(beta, X, t, e, s, ties):
    """Partial log-likelihood subject by subject, each risk set shifted by its own max."""
    ll = 0.0
    eta = X @ beta
    for g in np.unique(s):
        m = s == g
        tg, eg, etag = t[m], e[m], eta[m]
        for u in np.unique(tg[eg]):
            D = (tg == u) & eg
            R = tg >= u
            d = D.sum()
            mx = etag[R].max()
            ll += etag[D].sum()
            for l in range(d):
                frac = l / d if ties == "efron" else 0.0
                ll -= np.log(np.exp(etag[R] - mx).sum() - frac * np.exp(etag[D] - mx).sum()) + mx
    return ll


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_likelihood_stays_finite_when_the_linear_predictor_spreads(ties):
    rng = np.random.default_rng(3)
    n = 200
    t = np.round(rng.exponential(10, n))  # ties
    e = rng.random(n) < 0.7
    s = rng.integers(0, 3, n)
    X = np.column_stack([-np.log1p(t) + 0.1 * rng.normal(size=n), rng.normal(size=n)])
    data = _CoxData(X, t, e, s, ties)
    for scale in (200.0, 1000.0, 5000.0):  # eta spans ~800 .. ~20000
        beta = np.array([scale, 0.3 * scale])
        ll, g, info = data.evaluate(beta)
        ref = _loglik_logspace(beta, X, t, e, s, ties)
        assert ll == pytest.approx(ref, rel=1e-12, abs=1e-9)
        h = 1e-6 * scale
        num = [
            (
                data.evaluate(beta + h * np.eye(2)[j], False)[0]
                - data.evaluate(beta - h * np.eye(2)[j], False)[0]
            )
            / (2 * h)
            for j in range(2)
        ]
        np.testing.assert_allclose(g, num, rtol=1e-5)
        assert np.all(np.isfinite(info))


def test_cox_regular_fits_do_not_warn_separation():
    rng = np.random.default_rng(1)
    t = rng.exponential(10, 60)
    e = (rng.random(60) < 0.7).astype(float)
    for cov in (
        pd.DataFrame({"x2": rng.normal(size=60), "x3": 1e-3 * rng.normal(size=60)}),
        pd.DataFrame({"x": -np.log(t) + 0.3 * rng.normal(size=60)}),  # strong, not separating
        pd.DataFrame({"x": 1e6 * rng.normal(size=60)}),  # tiny coefficient
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeSurvWarning)
            cox_ph(t, e, cov)


def test_cox_collinear_or_constant_covariates_still_raise_the_clear_error():
    _, t, sep = _separated()
    for cov in (
        pd.DataFrame({"x": sep, "x_twice": 2 * sep}),  # collinear (and separating)
        pd.DataFrame({"c": np.ones(60)}),  # constant
    ):
        with pytest.raises(ValueError, match="collinear or constant"):
            cox_ph(t, np.ones(60), cov)


def test_cox_max_iter_still_warns_convergence():
    t = np.arange(1.0, 21.0)
    with pytest.warns(ConvergenceWarning, match="infinite"):
        cox_ph(t, np.ones(20), (t < 10).astype(float), max_iter=5)


@pytest.mark.needs_r
def test_cox_separation_agrees_with_r(r_session):
    rng, t, sep = _separated()
    cov = pd.DataFrame({"x": sep})
    with pytest.warns(SeparationWarning):
        py = cox_ph(t, np.ones(60), cov)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = r_session.coxph(t, np.ones(60), cov)
    assert any("coefficient may be infinite" in str(w.message) for w in rec)
    assert py["loglik"] == pytest.approx(r["loglik"], abs=1e-6)
    assert py["loglik_null"] == pytest.approx(r["loglik_null"], abs=1e-9)
    assert np.sign(py["coefficients"].loc["x", "coef"]) == np.sign(
        r["coefficients"].loc["x", "coef"]
    )
    # with a second, ordinary covariate: same loglik, same ordinary coefficient
    e = (rng.random(60) < 0.7).astype(float)
    cov2 = pd.DataFrame({"x": sep, "x2": rng.normal(size=60)})
    with pytest.warns(SeparationWarning, match=r"\['x'\]"):
        py2 = cox_ph(t, e, cov2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r2 = r_session.coxph(t, e, cov2)
    assert any("Loglik converged before variable  1 " in str(w.message) for w in rec)
    assert py2["loglik"] == pytest.approx(r2["loglik"], abs=1e-6)
    assert py2["coefficients"].loc["x2", "coef"] == pytest.approx(
        r2["coefficients"].loc["x2", "coef"], rel=1e-6
    )


# --------------------------------------------------------------------------------------
# item 9: pp.log1p keeps sparse sparse and float32 float32
# --------------------------------------------------------------------------------------
def _counts(n=6, p=5, seed=0):
    return np.random.default_rng(seed).poisson(1, (n, p)).astype(np.float32)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_keeps_sparse_and_dtype(fmt, dtype):
    D = _counts().astype(dtype)
    M = sparse.csr_matrix(D) if fmt == "csr" else sparse.csc_matrix(D)
    a = ad.AnnData(M)
    nnz = M.nnz
    pp.log1p(a)
    assert sparse.issparse(a.X) and a.X.format == fmt
    assert a.X.dtype == dtype and a.X.nnz == nnz  # zeros stay (implicit) zeros
    np.testing.assert_allclose(a.X.toarray(), np.log1p(D), rtol=1e-6)
    b = ad.AnnData(M.copy())
    pp.log1p(b, base=2)
    np.testing.assert_allclose(b.X.toarray(), np.log2(1 + D), rtol=1e-6)


def test_log1p_keeps_dense_float32_and_float64():
    D = _counts()
    for dtype in (np.float32, np.float64):
        a = ad.AnnData(D.astype(dtype))
        pp.log1p(a)
        assert isinstance(a.X, np.ndarray) and a.X.dtype == dtype
        np.testing.assert_allclose(a.X, np.log1p(D), rtol=1e-6)
    layered = ad.AnnData(D.astype(np.float64), layers={"counts": sparse.csr_matrix(D)})
    pp.log1p(layered, layer="counts")
    assert (
        sparse.issparse(layered.layers["counts"]) and layered.layers["counts"].dtype == np.float32
    )
    np.testing.assert_array_equal(layered.X, D)  # X untouched


def test_log1p_sparse_refuses_negative_and_missing_with_names():
    D = _counts()
    names = dict(obs=pd.DataFrame(index=list("abcdef")), var=pd.DataFrame(index=list("VWXYZ")))
    neg = D.copy()
    neg[2, 3] = -1
    with pytest.raises(ValueError, match=r"1 negative values.*sample c, gene Y"):
        pp.log1p(ad.AnnData(sparse.csr_matrix(neg), **names))
    nan = D.copy()
    nan[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 missing or infinite values.*\['e'\]"):
        pp.log1p(ad.AnnData(sparse.csr_matrix(nan), **names))


def test_sparse_float32_cohort_runs_through_the_pipeline():
    d = simulate("primary", n_genes=80, n_markers=15, n_background=15, n_samples=40, random_state=3)
    rng = np.random.default_rng(0)
    counts = np.round(np.expm1(d.X.to_numpy()) * (rng.random(d.X.shape) > 0.3))
    obs = pd.DataFrame({"time": d.time.to_numpy(), "event": d.event.to_numpy()}, index=d.X.index)
    var = pd.DataFrame(index=d.X.columns)
    train = ad.AnnData(sparse.csr_matrix(counts[:30].astype(np.float32)), obs=obs[:30], var=var)
    new = ad.AnnData(sparse.csr_matrix(counts[30:].astype(np.float32)), obs=obs[30:], var=var)
    pp.log1p(train)
    assert sparse.issparse(train.X) and train.X.dtype == np.float32
    pp.filter_genes(train, n_top=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(train, n_components=2, max_iter=30, n_init=1, random_state=0)
    again = tl.score(train, train, copy=True, key_added="again")
    np.testing.assert_allclose(again.obs["again_risk"], train.obs["desurv_risk"], rtol=1e-5)
    tl.score(new, train)  # raw sparse float32 counts: the model's log1p is applied
    assert np.all(np.isfinite(new.obs["desurv_risk"]))
    assert list(new.uns["desurv_score"]["preprocessing"]) == ["log1p"]
    ranked = train.copy()
    pp.rank_transform(ranked)
    q = train.copy()
    pp.quantile_normalize(q)
    assert np.all(np.isfinite(ranked.X)) and np.all(np.isfinite(q.X))


# --------------------------------------------------------------------------------------
# item 9: tl.score refuses negative expression as DeSurv.predict does
# --------------------------------------------------------------------------------------
GENES = [f"g{i}" for i in range(6)]
W = np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 1.0], [0.3, 0.0], [0.0, 0.4], [0.2, 0.2]])


def _hand_model(steps=(), records=None) -> ad.AnnData:
    m = ad.AnnData(np.random.default_rng(1).uniform(0, 5, (4, 6)), var=pd.DataFrame(index=GENES))
    m.varm["desurv_W"] = W
    m.var["desurv_used"] = True
    m.uns["desurv"] = {
        "genes": np.array(GENES, dtype=object),
        "beta": np.array([0.7, -0.3]),
        "preprocessing": {"steps": np.array(list(steps), dtype=object), **(records or {})},
        "version": "0.1.0",
    }
    return m


def _negative_cohort() -> ad.AnnData:
    X = np.random.default_rng(2).uniform(0, 5, (5, 6)) - 2.0  # e.g. centred values
    return ad.AnnData(
        X.copy(),
        obs=pd.DataFrame(index=[f"n{i}" for i in range(5)]),
        var=pd.DataFrame(index=GENES),
        layers={"expr": X.copy()},
    )


def test_score_refuses_negative_expression_without_a_log1p_step():
    m, new = _hand_model(), _negative_cohort()
    n_neg = int((new.X < 0).sum())
    with pytest.raises(
        ValueError,
        match=rf"X of the new cohort has {n_neg} negative values"
        r".*DeSurv\.predict.*desurv\.pp\.unlog",
    ):
        tl.score(new, m)
    with pytest.raises(ValueError, match=r"expr of the new cohort .*preprocess=False"):
        tl.score(new, m, layer="expr", preprocess=False)
    assert "X_desurv" not in new.obsm
    with pytest.raises(ValueError, match="negative"):  # the estimator refuses the same
        est = DeSurv(2)
        est.W_, est.coef_, est.n_features_in_ = W, np.array([0.7, -0.3]), 6
        est.predict(new.X)


def test_score_accepts_negative_input_that_a_rank_step_makes_valid():
    m = _hand_model(
        ["rank_transform"],
        {
            "rank_transform": {
                "method": "average",
                "n_genes": 6,
                "genes": np.array(GENES, dtype=object),
            }
        },
    )
    new = _negative_cohort()
    tl.score(new, m)
    assert np.all(np.isfinite(new.obs["desurv_risk"]))
    assert list(new.uns["desurv_score"]["preprocessing"]) == ["rank_transform"]


# --------------------------------------------------------------------------------------
# item 9: DeSurv.fit / score with Series that a plain-array X cannot align
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    return simulate(
        "primary", n_genes=100, n_markers=20, n_background=20, n_samples=40, random_state=2
    )


def test_fit_refuses_labelled_series_with_a_plain_array(small):
    X = small.X.to_numpy()
    t, e = small.time.reset_index(drop=True), small.event.reset_index(drop=True)
    rev_t, rev_e = t[::-1], e[::-1]  # index 39..0: by position this pairs wrong samples
    with pytest.raises(
        ValueError,
        match=r"time is a pandas Series.*no sample names"
        r".*DataFrame indexed by sample.*time\.to_numpy\(\)",
    ):
        DeSurv(2, max_iter=5).fit(X, rev_t, rev_e)
    with pytest.raises(ValueError, match="no sample names"):  # named samples, array X
        DeSurv(2, max_iter=5).fit(X, small.time, small.event)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        m = DeSurv(2, max_iter=5, random_state=0).fit(X, t, e)  # default index: fine
        with pytest.raises(ValueError, match=r"event is a pandas Series.*no sample names"):
            m.score(X, t.to_numpy(), rev_e)
        assert 0 <= m.score(X, t, e) <= 1


def test_fit_aligns_series_on_a_dataframe_index(small):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        a = DeSurv(2, max_iter=5, random_state=0).fit(small.X, small.time[::-1], small.event[::-1])
        b = DeSurv(2, max_iter=5, random_state=0).fit(small.X, small.time, small.event)
    np.testing.assert_array_equal(a.W_, b.W_)
    assert a.score(small.X, small.time[::-1], small.event[::-1]) == b.score(
        small.X, small.time, small.event
    )
    other = small.time.rename(lambda s: s + "_x")
    with pytest.raises(ValueError, match="does not match the sample names"):
        DeSurv(2, max_iter=5).fit(small.X, other, small.event)


# --------------------------------------------------------------------------------------
# item 9: duplicated gene names and missing cohort labels in pp
# --------------------------------------------------------------------------------------
def _dup_genes() -> ad.AnnData:
    rng = np.random.default_rng(0)
    return ad.AnnData(
        rng.uniform(0, 5, (8, 5)),
        obs=pd.DataFrame({"cohort": ["A"] * 4 + ["B"] * 4}, index=[f"s{i}" for i in range(8)]),
        var=pd.DataFrame(index=["TP53", "KRAS", "TP53", "MYC", "KRAS"]),
    )


@pytest.mark.parametrize(
    "step",
    [
        lambda a: pp.filter_genes(a, n_top=3),
        lambda a: pp.quantile_normalize(a),
        lambda a: pp.rank_transform(a),
        lambda a: pp.merge_cohorts({"A": a[:4].copy(), "B": a[4:].copy()}),
    ],
    ids=["filter_genes", "quantile_normalize", "rank_transform", "merge_cohorts"],
)
def test_pp_refuses_duplicated_gene_names(step):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata's own non-unique warning
        a = _dup_genes()
        with pytest.raises(
            ValueError,
            match=r"duplicated gene names \('TP53', 'KRAS'\)"
            r".*var_names_make_unique",
        ):
            step(a)


@pytest.mark.parametrize("missing", [None, np.nan])
def test_filter_genes_refuses_missing_cohort_labels(missing):
    rng = np.random.default_rng(0)
    labels = ["A", "A", "A", missing, "B", "B", "B", missing]
    a = ad.AnnData(
        rng.uniform(0, 5, (8, 6)),
        obs=pd.DataFrame(
            {"cohort": np.array(labels, dtype=object)}, index=[f"s{i}" for i in range(8)]
        ),
        var=pd.DataFrame(index=[f"g{j}" for j in range(6)]),
    )
    with pytest.raises(
        ValueError,
        match=r"no cohort label for 2 of 8 samples.*'s3', 's7'"
        r".*Label them, or drop them",
    ):
        pp.filter_genes(a, n_top=3, cohort_key="cohort")
    a.obs["cohort"] = a.obs["cohort"].astype("category")  # categorical with NaN too
    with pytest.raises(ValueError, match="no cohort label for 2 of 8"):
        pp.filter_genes(a, n_top=3, cohort_key="cohort")


# --------------------------------------------------------------------------------------
# item 6: r_bridge's define() raises RError with R's message and the failing block
# --------------------------------------------------------------------------------------
@pytest.mark.needs_r
def test_define_syntax_error_is_an_r_error_naming_the_block(r_session):
    from r_bridge import _session

    with pytest.raises(
        r_session.RError,
        match=r"(?s)helper block of \S*test_reliability_defects"
        r" \(which defines broken_helper\).*unexpected",
    ) as err:
        _session.define("broken_helper <- function(x) { x +* }")
    assert "unexpected" in err.value.r_message
    assert not _session.is_defined("broken_helper")


@pytest.mark.needs_r
def test_define_missing_package_is_an_r_error_with_install_advice(r_session):
    from r_bridge import _session

    with pytest.raises(
        r_session.RError,
        match=r"(?s)my block.*there is no package called"
        r".*NoSuchPackageXyz.*apt-get install",
    ):
        _session.define("library(NoSuchPackageXyz)\nh <- function() 1", name="my block")
    # a good block still defines its helpers, and they run
    _session.define("fine_helper <- function(x) x * 2")
    assert float(_session.call("fine_helper", 2.0)[0]) == 4.0


def test_constant_x_is_a_clear_input_error_not_a_divergence():
    """Found by the property tests: X constant in every gene reached the solver and came
    back as "DeSurv diverged (non-finite loss)"."""
    from desurv import DeSurv

    X = np.full((6, 3), 3.0)
    t = np.arange(1.0, 7.0)
    e = np.array([1, 0, 1, 1, 0, 1])
    with pytest.raises(ValueError, match="every gene of X is constant across the 6 samples"):
        DeSurv(1, n_init=1, max_iter=5).fit(X, t, e)


def test_search_and_consensus_fit_refuse_labelled_series_with_a_plain_array():
    """The model selection and the consensus-seed fit read survival as DeSurv.fit does: a
    Series with its own index next to a plain-array X is refused, not used by position."""
    from desurv.selection import DeSurvSearch, consensus_fit

    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (20, 8))
    idx = np.arange(20)[::-1]
    t = pd.Series(rng.exponential(10, 20), index=idx)
    e = pd.Series((rng.random(20) < 0.6).astype(int), index=idx)
    with pytest.raises(ValueError, match="no sample names to align"):
        DeSurvSearch(n_components=[2], n_folds=2, n_starts=1).fit(X, t, e)
    with pytest.raises(ValueError, match="no sample names to align"):
        consensus_fit(X, t, e, n_components=2, n_fits=2)


@pytest.mark.needs_r
def test_r_coxph_perfect_ordering_returns_a_result():
    """R's summary() gives a bare NA Wald test when a continuous covariate orders every
    event; r_bridge.coxph raised a raw IndexError on it."""
    from tests._rhelpers import require_r

    rb = require_r()
    rng = np.random.default_rng(1)
    for size in (10, 10, 10, 60):  # the draws before the case that was found
        rng.exponential(10, size)
    t = rng.exponential(10, 60)
    x = -t  # larger x, earlier death: perfect ordering, no censoring
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = rb.coxph(t, np.ones(60), pd.DataFrame({"x": x}))
    # R gives the coefficient as NA here ("X matrix deemed to be singular") and no Wald test:
    # reported as NaN, as R says, instead of a crash
    assert "x" in out["coefficients"].index
    assert np.isfinite(out["loglik"]) and np.isnan(out["wald"]["statistic"])


@pytest.mark.parametrize("scale", [1e80, 1e90, 1e100, 1e-100])
def test_extreme_units_fit_like_unit_scale_without_lapack_noise(capfd, scale):
    """Item 3: X times 1e80..1e100 raised a raw LinAlgError from the lasso subproblem and
    LAPACK printed 'On entry to DLASCL parameter number 4 had an illegal value'. The model is
    scale-free: the same programs and C-index, nothing printed."""
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (60, 30))
    t, e = rng.exponential(10, 60), (rng.random(60) < 0.7).astype(int)
    kw = dict(n_init=1, max_iter=80, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = DeSurv(2, **kw).fit(X, t, e)
        big = DeSurv(2, **kw).fit(X * scale, t, e)
    assert np.all(np.isfinite(big.W_)) and np.all(np.isfinite(big.coef_))
    np.testing.assert_allclose(big.W_, ref.W_, rtol=1e-6, atol=1e-12)
    assert big.train_cindex_ == pytest.approx(ref.train_cindex_, abs=1e-9)
    out, err = capfd.readouterr()
    assert "On entry to" not in err + out


def test_scoring_far_outside_the_training_units_is_refused_not_infinite():
    """Found by the property tests: a model fitted on values near 1e-300 (raw coefficients
    near 1e300) scoring a cohort near 1e20 returned a risk of -inf."""
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (20, 4)) * 1e-300
    t, e = rng.exponential(10, 20), (rng.random(20) < 0.7).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = DeSurv(2, n_init=1, max_iter=20, warmup_iter=5, random_state=0).fit(X, t, e)
    new = rng.gamma(2.0, 1.0, (5, 4)) * 1e20
    assert np.all(np.isfinite(m.transform(new)))  # the scores themselves are finite
    with pytest.raises(ValueError, match="risk scores of X overflow"):
        m.predict(new)
    with pytest.raises(ValueError, match="overflow"):
        m.score(new, t[:5], e[:5])
    a = ad.AnnData(X, obs=pd.DataFrame({"time": t, "event": e}, index=[f"s{i}" for i in range(20)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tl.fit(a, n_components=2, n_init=1, max_iter=20, warmup_iter=5, random_state=0)
    b = ad.AnnData(new, var=pd.DataFrame(index=a.var_names))
    with pytest.raises(ValueError, match="scores overflow"):
        tl.score(b, a)
    np.testing.assert_allclose(m.predict(X * 3), 3 * m.predict(X))  # ordinary use unchanged
