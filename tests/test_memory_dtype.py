"""The memory of a fit and ``DeSurv(dtype="float32")``.

The memory figures themselves (peak beyond X: about 2.1 x X in float64, 1.1 x X in float32 at
p = 20,000, n = 1,000, k = 10) live in ``benchmarks/bench_memory.py``, never in a test; here
its ``--fast`` mode runs and prints them, and the copies removed from the fit path keep the
fit what it was (the helpers are bitwise the expressions they replace).

dtype="float32" holds X in single precision and makes the products with X single-precision
products; the factors, the Cox part and the loss stay float64. Public attributes: ``W_`` and
``H_`` are float32, everything else (``coef_``, ``coef_std_``, ``mean_z_``, ``sd_z_``,
``train_scores_``, ``loss_history_``, predictions) float64. Measured against float64 on the
same data and seed (``bench_memory.make_data``; p = 500, n = 100, k = 3, the fits of
``test_float32_is_close_to_float64``: 30 iterations with mu, hals, 3 starts chosen by loss
and by C-index, alpha = 0, lambda_h = 0.2, and 300 iterations): relative difference of the
final loss at most 4e-7, of W (matched columns) at most 1.5e-5, the same training C-index,
risk max abs difference at most 1e-5 of its sd; at p = 2000, n = 200, k = 5 over 300-1000
iterations (mu and hals) at most 2e-7, 2e-5, 0 and 1e-4 sd. The tolerances below are 20 to
100 times the figures measured here.

Longer fits with the default solver ("hals", whose extrapolation amplifies the rounding of
float32 products) keep the loss and the C-index but not W to that precision: at p = 500,
n = 100, 200-300 iterations the final loss differs by at most 5e-6, W by 2.2e-2 (matched
columns), the C-index not at all and the risk by 2e-3 of its sd (mu over 300 iterations:
6e-8, 8e-6, 0, 4e-6). Those fits are checked with the looser ``HALS_LONG`` tolerances
(20 x the loss and risk figures; W at 4.5 x).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from desurv import DeSurv, tl
from desurv._anndata import get_matrix
from desurv._core import solver
from desurv._validation import check_expression
from desurv.estimator import _genes_by_samples
from desurv.exceptions import DeSurvWarning

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
FIT = {"max_iter": 30, "tol": 0.0, "warmup_iter": 10, "random_state": 0}
# float32 against float64 (measured: see the module docstring)
LOSS_RTOL = 1e-5
W_RTOL = 3e-4
CINDEX_ATOL = 1e-3
RISK_SD_TOL = 1e-3
HALS_LONG = {"loss": 1e-4, "W": 0.1, "cindex": 1e-3, "risk_sd": 0.04}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_memory")


@pytest.fixture(scope="module")
def data(bench):
    return bench.make_data(500, 100, k=3)


def _fit(X, t, e, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)  # fixed iterations: no convergence
        return DeSurv(3, **{**FIT, **kw}).fit(X, t, e)


def _result(m: DeSurv) -> dict:
    return {
        "loss": m.loss_history_["loss"].to_numpy(),
        "W": m.W_,
        "cindex": m.train_cindex_,
        "risk": m.train_scores_ @ m.coef_,
    }


def _assert_close(bench, m64: DeSurv, m32: DeSurv, tol: dict | None = None) -> None:
    tol = tol or {"loss": LOSS_RTOL, "W": W_RTOL, "cindex": CINDEX_ATOL, "risk_sd": RISK_SD_TOL}
    acc = bench.accuracy(_result(m64), _result(m32))
    assert acc["loss"] < tol["loss"]
    assert acc["W"] < tol["W"]
    assert abs(m32.train_cindex_ - m64.train_cindex_) < tol["cindex"]
    assert acc["risk_sd"] < tol["risk_sd"]


# ------------------------------------------------------------------ the benchmark
def test_bench_memory_fast_prints_the_figures(bench, capsys):
    out = bench.main(["--fast"])
    text = capsys.readouterr().out
    assert "tracemalloc peak" in text and "maxrss" in text
    assert "float32 against float64" in text and "final loss rel. diff" in text
    assert "failed" not in text
    assert {(r["path"], r["dtype"]) for r in out["rows"]} == set(bench.CASES)
    for row in out["rows"]:
        assert np.isfinite(row["traced"]) and row["traced"] > 0
        assert np.isfinite(row["maxrss"])
        assert row["n_iter"] == bench.ITERS
    assert set(out["accuracy"]) == {"DeSurv.fit", "tl.fit"}
    for acc in out["accuracy"].values():
        assert all(np.isfinite(v) for v in acc.values())


# ------------------------------------------------------------------ the copies removed
def test_column_sums_of_squares_are_bitwise_numpy(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(301, 37))
    monkeypatch.setattr(solver, "_BLOCK_BYTES", 37 * 8 * 16)  # 16 genes per block
    assert solver._gene_blocks(X).step == 16
    assert solver._column_sq_sums(X).tobytes() == (X**2).sum(axis=0).tobytes()
    # float32 X: the squares and their sum in float64
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(
        solver._column_sq_sums(X32), (X32.astype(np.float64) ** 2).sum(axis=0), rtol=1e-14
    )
    M = rng.uniform(size=(37, 2))
    np.testing.assert_allclose(
        solver._x_times_double(X32, M), X32.astype(np.float64) @ M, rtol=1e-12
    )


def test_the_core_copy_of_x_is_one_sorted_c_contiguous_array():
    rng = np.random.default_rng(1)
    X = rng.lognormal(size=(50, 20))
    order = rng.permutation(20)
    out = np.take(X, order, axis=1)
    assert out.flags.c_contiguous
    assert out.tobytes() == np.ascontiguousarray(X[:, order]).tobytes()


@pytest.mark.parametrize("drop", [False, True])
def test_genes_by_samples_is_the_transposed_copy(drop):
    rng = np.random.default_rng(2)
    arr = rng.lognormal(size=(30, 2500))  # more genes than one copy block
    used = np.ones(2500, dtype=bool)
    if drop:
        used[::7] = False
    out = _genes_by_samples(arr, used, np.dtype(np.float64))
    assert out.flags.c_contiguous
    assert out.tobytes() == np.ascontiguousarray(arr[:, used].T).tobytes()
    out32 = _genes_by_samples(arr, used, np.dtype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32, arr[:, used].T.astype(np.float32))


def test_check_expression_and_get_matrix_can_skip_the_copy():
    X = np.random.default_rng(3).uniform(size=(6, 4))
    arr, _, _ = check_expression(X)
    assert np.shares_memory(arr, X)
    X32 = X.astype(np.float32)
    assert check_expression(X32)[0].dtype == np.float64  # converted by default
    kept, _, _ = check_expression(X32, dtypes=(np.float64, np.float32))
    assert kept.dtype == np.float32 and np.shares_memory(kept, X32)
    a = ad.AnnData(X)
    assert not np.shares_memory(get_matrix(a), a.X)  # a fresh copy by default
    assert np.shares_memory(get_matrix(a, copy=False), a.X)
    b = ad.AnnData(X32)
    assert get_matrix(b, copy=False).dtype == np.float64
    same = get_matrix(b, dtype=(np.float64, np.float32), copy=False)
    assert same.dtype == np.float32 and np.shares_memory(same, b.X)


def test_tl_fit_reads_adata_x_without_changing_it(make_toy_adata):
    a = make_toy_adata()
    before = np.array(a.X, copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(a, n_components=3, max_iter=20, random_state=0)
        c = tl.fit(a, n_components=3, max_iter=20, random_state=0, copy=True, key_added="c")
    assert np.array_equal(a.X, before)
    assert c is not a and "c" in c.uns and "c" not in a.uns
    np.testing.assert_array_equal(c.varm["c_W"], a.varm["desurv_W"])


# ------------------------------------------------------------------ dtype="float32"
def test_dtype_is_a_constructor_parameter():
    m = DeSurv(3)
    assert m.get_params()["dtype"] == "float64"
    m32 = DeSurv(3, dtype="float32")
    assert m32.get_params()["dtype"] == "float32"
    assert clone(m32).dtype == "float32"
    assert m.set_params(dtype="float32").dtype == "float32"


@pytest.mark.parametrize("bad", ["float16", "double", "f4", np.float32, np.dtype("float32"), None])
def test_invalid_dtype_is_refused(data, bad):
    X, t, e = data
    with pytest.raises(ValueError, match=r"dtype must be 'float64' \(the default\) or 'float32'"):
        DeSurv(3, dtype=bad).fit(X, t, e)


def test_float32_with_the_r_variant_is_refused(data):
    X, t, e = data
    with pytest.raises(ValueError, match="default variant only"):
        DeSurv(3, dtype="float32", variant="r-desurv").fit(X, t, e)


def test_float32_fit_attributes_dtypes_and_finiteness(data):
    X, t, e = data
    m = _fit(X, t, e, dtype="float32")
    assert m.W_.dtype == np.float32 and m.H_.dtype == np.float32
    for name in ("coef_", "coef_std_", "mean_z_", "sd_z_", "train_scores_"):
        assert getattr(m, name).dtype == np.float64, name
    assert (m.loss_history_.dtypes == np.float64).all()
    assert m.W_.shape == (X.shape[1], 3) and m.H_.shape == (3, X.shape[0])
    for v in (m.W_, m.H_, m.coef_, m.train_scores_, m.loss_history_.to_numpy()):
        assert np.all(np.isfinite(v))
    assert m.n_iter_ == FIT["max_iter"]
    assert np.all(m.W_ >= 0) and np.all(m.H_ >= 0)
    np.testing.assert_allclose(np.linalg.norm(m.W_, axis=0), 1.0, rtol=1e-6)
    # the training scores are what transform gives (X W in float64)
    np.testing.assert_array_equal(m.train_scores_, m.transform(X))
    assert m.predict(X).dtype == np.float64
    # the loss never increases (the monotone steps keep working in float32)
    loss = m.loss_history_["loss"].to_numpy()
    assert np.all(np.diff(loss) <= 1e-12 * np.abs(loss[:-1]))


@pytest.mark.parametrize("kw", [{}, {"solver": "hals"}])
def test_float32_is_deterministic(data, kw):
    X, t, e = data
    a, b = _fit(X, t, e, dtype="float32", **kw), _fit(X, t, e, dtype="float32", **kw)
    for name in ("W_", "H_", "coef_", "train_scores_"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.loss_history_.equals(b.loss_history_)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"solver": "hals"},
        {"max_iter": 300, "solver": "mu"},
        {"max_iter": 300},
        {"n_init": 3, "init_max_iter": 5},
        {"n_init": 3, "init_max_iter": 5, "init_criterion": "cindex"},
        {"alpha": 0.0},
        {"lambda_h": 0.2},
    ],
)
def test_float32_is_close_to_float64(bench, data, kw):
    X, t, e = data
    long_hals = kw.get("max_iter", FIT["max_iter"]) > 100 and kw.get("solver", "hals") == "hals"
    _assert_close(
        bench, _fit(X, t, e, **kw), _fit(X, t, e, dtype="float32", **kw),
        HALS_LONG if long_hals else None,
    )  # fmt: skip


def test_float32_takes_float32_x_as_it_is(data):
    X, t, e = data
    X32 = X.astype(np.float32)
    m32 = _fit(X32, t, e, dtype="float32")
    m64in = _fit(X32.astype(np.float64), t, e, dtype="float32")  # the same values
    for name in ("W_", "H_", "coef_"):
        assert getattr(m32, name).tobytes() == getattr(m64in, name).tobytes(), name
    np.testing.assert_allclose(m32.train_scores_, m64in.train_scores_, rtol=1e-12)


def test_float32_with_dropped_genes_and_names(bench, data):
    X, t, e = data
    Xz = X.copy()
    Xz[:, [4, 40]] = 0.0
    df = pd.DataFrame(
        Xz, index=[f"s{i}" for i in range(X.shape[0])], columns=[f"g{j}" for j in range(X.shape[1])]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        m64 = DeSurv(3, **FIT).fit(df, t, e)
        m32 = DeSurv(3, dtype="float32", **FIT).fit(df, t, e)
    assert np.all(m32.W_[[4, 40]] == 0) and m32.W_.dtype == np.float32
    _assert_close(bench, m64, m32)
    np.testing.assert_array_equal(m32.predict(df), m32.predict(df.iloc[:, ::-1]))


def test_tl_fit_passes_dtype_through(bench, data):
    X, t, e = data
    out = {}
    for dtype, values in (("float64", X), ("float32", X), ("float32", X.astype(np.float32))):
        a = ad.AnnData(values)
        a.obs["time"], a.obs["event"] = t, e
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeSurvWarning)
            tl.fit(a, n_components=3, dtype=dtype, **FIT)
        assert a.uns["desurv"]["params"]["dtype"] == dtype
        assert a.varm["desurv_W"].dtype == np.float64  # stored in float64 whatever the fit
        rec = a.uns["desurv"]
        out[dtype, values.dtype.name] = {
            "loss": rec["loss_history"]["loss"],
            "W": a.varm["desurv_W"],
            "cindex": rec["train_cindex"],
            "risk": a.obs["desurv_risk"].to_numpy(),
        }
    ref = out["float64", "float64"]
    for key in (("float32", "float64"), ("float32", "float32")):
        acc = bench.accuracy(ref, out[key])
        assert acc["loss"] < LOSS_RTOL and acc["W"] < W_RTOL and acc["risk_sd"] < RISK_SD_TOL
