"""Property-based tests of the public entry points (hypothesis, fixed seed, bounded).

Every call on generated input either succeeds with finite results or raises one of our
documented errors (``ValueError`` and its subclasses such as ``MalformedFileError``,
``TypeError``, ``KeyError``, ``DivergenceError``); no other exception escapes, nothing prints
from LAPACK (checked on the C-level stderr with ``capfd``), nothing hangs (small iteration
caps).

Inputs: random shapes, zeros, magnitudes from 1e-300 to 1e300, constant genes, single-event
cohorts, all times tied, duplicated names, NaN and inf in every input, sparse and float32 X.
Bounded: ``derandomize=True`` (the same examples every run) and a fixed number of examples
per property (100; 40 for consensus clustering, 60 for the parser), small shapes and
iteration caps: the file runs in about 5 s on 2 cores.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import desurv
from desurv import DeSurv
from desurv.exceptions import DivergenceError

ALLOWED = (ValueError, TypeError, KeyError, DivergenceError)
PROPS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def cohorts(draw, *, allow_bad: bool = True):
    """(X samples x genes, time, event, gene names, sample names) with hostile corners."""
    n = draw(st.integers(2, 24))
    p = draw(st.integers(1, 15))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 1.0, (n, p))
    scale = 10.0 ** draw(st.sampled_from([-300, -150, -20, -2, 0, 2, 20, 150, 300]))
    X = X * scale
    if draw(st.booleans()):
        X[:, rng.integers(p)] = 0.0  # an all-zero gene
    if draw(st.booleans()):
        X[:, rng.integers(p)] = 3.0  # a constant gene
    if draw(st.booleans()):
        X[rng.random((n, p)) < 0.3] = 0.0
    time = rng.exponential(10.0, n)
    event = (rng.random(n) < 0.6).astype(float)
    corner = draw(st.sampled_from(["none", "one_event", "no_event", "tied", "zero_time"]))
    if corner == "one_event":
        event[:] = 0
        event[rng.integers(n)] = 1
    elif corner == "no_event":
        event[:] = 0
    elif corner == "tied":
        time[:] = 5.0
    elif corner == "zero_time":
        time[: max(1, n // 3)] = 0.0
    if allow_bad:
        hostile = ["nan_x", "inf_x", "neg_x", "nan_t", "inf_t", "neg_t", "nan_e", "bad_e"]
        bad = draw(st.sampled_from(["none"] * 9 + hostile))
        if bad == "nan_x":
            X[rng.integers(n), rng.integers(p)] = np.nan
        elif bad == "inf_x":
            X[rng.integers(n), rng.integers(p)] = np.inf
        elif bad == "neg_x":
            X[rng.integers(n), rng.integers(p)] = -1.0
        elif bad == "nan_t":
            time[rng.integers(n)] = np.nan
        elif bad == "inf_t":
            time[rng.integers(n)] = np.inf
        elif bad == "neg_t":
            time[rng.integers(n)] = -1.0
        elif bad == "nan_e":
            event[rng.integers(n)] = np.nan
        elif bad == "bad_e":
            event[rng.integers(n)] = 2.0
    genes = [f"g{j}" for j in range(p)]
    if p > 1 and draw(st.integers(0, 5)) == 0:
        genes[-1] = genes[0]  # duplicated gene names
    samples = [f"s{i}" for i in range(n)]
    if n > 1 and draw(st.integers(0, 5)) == 0:
        samples[-1] = samples[0]  # duplicated sample names
    fmt = draw(st.sampled_from(["f64", "f64", "f32", "sparse"]))
    return X, time, event, genes, samples, fmt


def _f32(X):
    with np.errstate(over="ignore"):  # 1e300 is inf in float32: a legitimate hostile input
        return X.astype(np.float32)


def _adata(X, time, event, genes, samples, fmt):
    M = _f32(X) if fmt == "f32" else X
    if fmt == "sparse":
        M = sp.csr_matrix(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ad.AnnData(M, obs=pd.DataFrame({"time": time, "event": event}, index=samples),
                       var=pd.DataFrame(index=genes))  # fmt: skip
    return a


def _call(fn):
    """Run ``fn``; return its value or None when it raised an allowed error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except ALLOWED:
            return None


def _no_lapack_output(capfd):
    out, err = capfd.readouterr()
    assert "On entry to" not in err and "illegal value" not in err, err
    assert "On entry to" not in out, out


def _finite(*arrays):
    for a in arrays:
        assert np.all(np.isfinite(np.asarray(a, dtype=float)))


@PROPS
@given(cohorts())
def test_estimator_fit_predict_score(capfd, data):
    X, time, event, genes, _, fmt = data
    Xin = _f32(X) if fmt == "f32" else (sp.csr_matrix(X) if fmt == "sparse" else X)
    k = 1 + int(X.shape[1] > 2)
    model = DeSurv(k, n_init=1, max_iter=15, warmup_iter=5, random_state=0)
    fitted = _call(lambda: model.fit(Xin, time, event))
    if fitted is not None:
        _finite(model.W_, model.H_, model.coef_)
        risk = _call(lambda: model.predict(Xin))
        if risk is not None:
            _finite(risk)
        c = _call(lambda: model.score(Xin, time, event))
        if c is not None:
            assert np.isnan(c) or 0.0 <= c <= 1.0
    _no_lapack_output(capfd)


@PROPS
@given(cohorts(), cohorts())
def test_tl_fit_then_score(capfd, train, new):
    a = _adata(*train)
    k = 1 + int(a.n_vars > 2)
    ok = _call(lambda: desurv.tl.fit(a, n_components=k, n_init=1, max_iter=15, warmup_iter=5,
                                     random_state=0))  # fmt: skip
    if ok is None and "desurv" in a.uns:
        _finite(a.obsm["X_desurv"], a.obs["desurv_risk"])
        b = _adata(*new)
        b.var_names = a.var_names[: b.n_vars] if b.n_vars <= a.n_vars else b.var_names
        out = _call(lambda: desurv.tl.score(b, a, copy=True))
        if out is not None:
            _finite(out.obs["desurv_risk"], out.obsm["X_desurv"])
    _no_lapack_output(capfd)


@PROPS
@given(cohorts(), st.sampled_from(["cov", "group", "score", "strata"]))
def test_tl_survival(capfd, data, what):
    X, time, event, genes, samples, _ = data
    rng = np.random.default_rng(len(samples))
    df = pd.DataFrame({"time": time, "event": event, "x": X[:, 0],
                       "g": rng.choice(["a", "b"], len(time)),
                       "s": rng.choice(["u", "v"], len(time))})  # fmt: skip
    kw = {"cov": dict(covariates="x"), "group": dict(groupby="g"), "score": dict(score_key="x"),
          "strata": dict(covariates="x", strata="s")}[what]  # fmt: skip
    res = _call(lambda: desurv.tl.survival(df, **kw))
    if res is not None:
        if res.cox is not None:
            coef = res.cox["coefficients"]["coef"].to_numpy()
            _finite(coef, res.cox["loglik"])
        if res.logrank is not None:
            assert np.isfinite(res.logrank["chisq"]) and 0 <= res.logrank["p"] <= 1
        if res.concordance is not None:
            c = res.concordance["concordance"]
            assert np.isnan(c) or 0 <= c <= 1
    _no_lapack_output(capfd)


@settings(PROPS, max_examples=40)
@given(cohorts())
def test_tl_consensus_cluster(capfd, data):
    a = _adata(*data)
    res = _call(lambda: desurv.tl.consensus_cluster(a, max_k=3, reps=5, seed=0, copy=True))
    if res is not None:
        for kk in (2, 3):
            cl = res.obs[f"consensus_k{kk}"]
            assert cl.notna().all()
        assert np.all(np.isfinite(res.uns["consensus"]["pac"]))
    _no_lapack_output(capfd)


@PROPS
@given(cohorts(), st.sampled_from(["log1p", "quantile", "rank", "filter"]))
def test_pp_functions(capfd, data, step):
    a = _adata(*data)
    fmt = data[-1]
    fn = {
        "log1p": lambda: desurv.pp.log1p(a),
        "quantile": lambda: desurv.pp.quantile_normalize(a),
        "rank": lambda: desurv.pp.rank_transform(a),
        "filter": lambda: desurv.pp.filter_genes(a, n_top=max(1, a.n_vars // 2)),
    }[step]
    before = a.n_vars
    ok = _call(lambda: (fn(), True)[1])
    if ok:
        M = a.X.toarray() if sp.issparse(a.X) else np.asarray(a.X)
        _finite(M)
        assert a.n_vars <= before
        if step == "log1p":
            # formats are kept (scanpy's behaviour): sparse stays sparse, float32 stays float32
            assert sp.issparse(a.X) == (fmt == "sparse")
            if fmt == "f32":
                assert a.X.dtype == np.float32
    _no_lapack_output(capfd)


@settings(PROPS, max_examples=60)
@given(st.lists(st.sampled_from(["gene,s1,s2", "A,1,2", "B,x,3", "A,4,5", ",1,2", "C,1",
                                 "D,nan,1", "E,1e400,2", "F,-1,2", "", "G,1,2,3"]),
                min_size=1, max_size=6))  # fmt: skip
def test_registry_parsers(tmp_path_factory, lines):
    from data_registry import parsers

    folder = tmp_path_factory.mktemp("parse")
    path = folder / "expression.csv"
    path.write_text("\n".join(["gene,s1,s2", *lines]) + "\n")
    try:
        df = parsers.parse_tidy_expression(path)
    except ALLOWED:
        return
    # parsed: unique gene and sample ids, numbers only (missing values as NaN, no text)
    assert df.index.is_unique and df.columns.is_unique
    assert all(np.issubdtype(dt, np.number) for dt in df.dtypes)
    assert not np.isinf(df.to_numpy(dtype=float)).any()


@pytest.mark.parametrize("fmt", ["f32", "sparse"])
def test_formats_fit_like_float64(fmt):
    """A float32 or sparse AnnData fits like its float64 dense copy (one example, exact:
    tl.fit converts to float64 once)."""
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (30, 12)).astype(np.float32).astype(np.float64)
    t, e = rng.exponential(10, 30), (rng.random(30) < 0.6).astype(float)
    dense = _adata(X, t, e, [f"g{j}" for j in range(12)], [f"s{i}" for i in range(30)], "f64")
    other = _adata(X, t, e, [f"g{j}" for j in range(12)], [f"s{i}" for i in range(30)], fmt)
    kw = dict(n_components=2, n_init=1, max_iter=20, warmup_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        desurv.tl.fit(dense, **kw)
        desurv.tl.fit(other, **kw)
    np.testing.assert_array_equal(dense.varm["desurv_W"], other.varm["desurv_W"])
