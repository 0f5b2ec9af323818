"""Parity of the r-desurv solver with the authors' R package DeSurv.

The reference outputs were produced by the R package from fixed W0, H0, beta0 for four
configurations A-D and 1, 2, 5, 20, 100 iterations (``tests/data/README_r_desurv.md``). They
are read from ``../shared/reference/r_desurv`` next to the checkout when it is there, else
from the slice committed in ``tests/data/r_desurv`` (configs A and D after 1, 5, 20
iterations, and ``fits_summary.csv`` of all 20 runs); the conftest fixture ``r_reference``
chooses. Each run is one test (runs the folder lacks skip): W, H (input order),
beta/meanZ/sdZ, every row of the loss trace, the final loss after the beta refit and the
linear predictor must agree to 1e-8 relative on entries above 1e-8 in size (1e-12 absolute
below), with the same zero pattern of beta. Further tests cover the training C-index, the
tie rule, the multi-start, the errors and the committed slice itself.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from desurv._core import rdesurv
from desurv._core.rdesurv import (
    fit_rdesurv,
    fit_rdesurv_multistart,
    harrell_cindex,
    init_rdesurv,
    nnls_h0,
)

CONFIGS = {
    "A_alpha0.5_pen": dict(alpha=0.5, lambda_=0.1, l1_ratio=0.5, lambda_w=0.1, lambda_h=0.1),
    "B_alpha0_pen": dict(alpha=0.0, lambda_=0.1, l1_ratio=0.5, lambda_w=0.1, lambda_h=0.1),
    "C_alpha0.5_nopen": dict(alpha=0.5, lambda_=0.1, l1_ratio=0.5, lambda_w=0.0, lambda_h=0.0),
    "D_alpha0_nopen": dict(alpha=0.0, lambda_=0.1, l1_ratio=0.5, lambda_w=0.0, lambda_h=0.0),
}
ITERS = (1, 2, 5, 20, 100)
RTOL = 1e-8
ATOL_SMALL = 1e-12
SMALL = 1e-8


def assert_parity(ours: np.ndarray, ref: np.ndarray, what: str) -> float:
    """Relative error <= RTOL where |ref| > SMALL, absolute <= ATOL_SMALL elsewhere.

    Returns the largest relative error over the large entries.
    """
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != reference {ref.shape}"
    assert np.all(np.isfinite(ours)), f"{what}: non-finite values"
    big = np.abs(ref) > SMALL
    err = np.abs(ours - ref)
    rel = np.zeros(ref.shape)
    rel[big] = err[big] / np.abs(ref[big])
    worst = float(rel.max()) if rel.size else 0.0
    assert worst <= RTOL, f"{what}: max relative error {worst:.3e} > {RTOL}"
    if (~big).any():
        worst_abs = float(err[~big].max())
        assert worst_abs <= ATOL_SMALL, (
            f"{what}: max absolute error {worst_abs:.3e} on entries below {SMALL}"
        )
    return worst


@pytest.fixture(scope="module")
def inputs(r_reference) -> dict[str, np.ndarray]:
    r = r_reference
    return {"X": r.X, "time": r.time, "event": r.event, "W0": r.W0, "H0": r.H0, "beta0": r.beta0}


@pytest.fixture(scope="module")
def summary(r_reference) -> pd.DataFrame:
    return r_reference.summary


_FITS: dict[str, rdesurv.RDesurvResult] = {}


def fit_case(inputs: dict[str, np.ndarray], config: str, n_iter: int) -> rdesurv.RDesurvResult:
    key = f"{config}_it{n_iter:03d}"
    if key not in _FITS:
        _FITS[key] = fit_rdesurv(
            inputs["X"], inputs["time"], inputs["event"],
            inputs["W0"], inputs["H0"], inputs["beta0"],
            max_iter=n_iter, tol=0.0, **CONFIGS[config],
        )
    return _FITS[key]


@pytest.mark.parametrize("n_iter", ITERS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_reproduces_r_package(r_reference, inputs, config: str, n_iter: int) -> None:
    run = r_reference.run(config, n_iter)  # skips when only the committed slice is there
    res = fit_case(inputs, config, n_iter)

    assert res.n_iter == n_iter
    assert not res.converged  # tol 0: the package reports convergence FALSE
    assert not res.diverged

    errs = {}
    errs["W"] = assert_parity(res.W, run.read("W.csv", index_col=0).to_numpy(), "W")
    errs["H"] = assert_parity(
        res.H, run.read("H_original_order.csv", index_col=0).to_numpy(), "H"
    )
    beta_ref = run.read("beta.csv", index_col=0)
    errs["beta"] = assert_parity(res.beta, beta_ref["beta"], "beta")
    errs["meanZ"] = assert_parity(res.mean_z, beta_ref["meanZ"], "meanZ")
    errs["sdZ"] = assert_parity(res.sd_z, beta_ref["sdZ"], "sdZ")
    np.testing.assert_array_equal(
        res.beta == 0.0, beta_ref["beta"].to_numpy() == 0.0, err_msg="zero pattern of beta"
    )

    trace = run.read("loss_trace.csv")
    assert len(trace) == n_iter
    for col in trace.columns.drop("iter"):
        errs[f"trace.{col}"] = assert_parity(res.loss_trace[col], trace[col], f"trace {col}")

    final = run.read("loss_final_after_beta_refit.csv", index_col=0)["value"]
    for name, value in final.items():
        errs[f"final.{name}"] = assert_parity(res.final_loss[name], value, f"final {name}")

    lp = run.read("linear_predictor.csv", index_col=0)["lp"]
    errs["lp"] = assert_parity(res.linear_predictor, lp, "linear predictor")

    worst = max(errs, key=errs.get)
    print(f"{run.name}: max relative error {errs[worst]:.2e} ({worst})")


@pytest.mark.parametrize("n_iter", ITERS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_training_cindex_and_summary(inputs, summary, config: str, n_iter: int) -> None:
    """fits_summary.csv: training C-index (Harrell's C), losses, loss increases, beta."""
    row = summary.loc[f"{config}_it{n_iter:03d}"]
    res = fit_case(inputs, config, n_iter)
    cidx = harrell_cindex(inputs["time"], inputs["event"], res.linear_predictor)
    # The summary prints 10 significant digits.
    assert cidx == pytest.approx(float(row["cindex_train"]), abs=1e-10)
    # The package-wide metric (R's survival::concordance conventions) agrees.
    from desurv.metrics import concordance_index

    assert concordance_index(
        inputs["time"], inputs["event"], res.linear_predictor
    ) == pytest.approx(float(row["cindex_train"]), abs=1e-10)
    assert res.final_loss["loss"] == pytest.approx(float(row["final_loss"]), rel=1e-8)
    assert res.loss_trace["loss"][-1] == pytest.approx(float(row["last_iter_loss"]), rel=1e-8)
    increases = int(np.sum(np.diff(res.loss_trace["loss"]) > 0))
    assert increases == int(row["n_loss_increases"])
    beta_ref = np.array([float(b) for b in str(row["beta"]).split(";")])
    np.testing.assert_allclose(res.beta, beta_ref, rtol=1e-9, atol=1e-12)


def test_committed_slice_covers_the_documented_runs(r_reference_slice) -> None:
    """tests/data/r_desurv holds what tests/data/README_r_desurv.md says, all gzipped."""
    s = r_reference_slice
    assert s.runs == [f"{c}_it{i:03d}" for c in ("A_alpha0.5_pen", "D_alpha0_nopen")
                      for i in (1, 5, 20)]
    inputs = ["H0", "W0", "X", "beta0", "fits_summary", "survival", "truth_H", "truth_W"]
    assert sorted(p.name for p in s.root.glob("*.csv.gz")) == [f"{n}.csv.gz" for n in inputs]
    outputs = ["H_original_order", "W", "beta", "linear_predictor",
               "loss_final_after_beta_refit", "loss_trace"]
    for name in s.runs:
        files = sorted(p.name for p in (s.root / "fits" / name).iterdir())
        assert files == [f"{n}.csv.gz" for n in outputs], name
    assert not list(s.root.rglob("*.csv")), "the slice's CSVs are gzipped"
    assert s.X.shape == (500, 200) and list(s.summary.index) == [
        f"{c}_it{i:03d}" for c in CONFIGS for i in ITERS
    ]


def test_committed_slice_equals_the_shared_files(r_reference, r_reference_slice) -> None:
    """Every file of the committed slice, unzipped, is byte for byte the shared file."""
    r_reference.require_full()
    files = sorted(r_reference_slice.root.rglob("*.csv.gz"))
    assert len(files) == 8 + 6 * 6
    for path in files:
        rel = path.relative_to(r_reference_slice.root).with_suffix("")
        assert gzip.decompress(path.read_bytes()) == (r_reference.root / rel).read_bytes(), rel


def test_harrell_cindex_by_definition() -> None:
    """Brute-force Harrell's C with the survival package's conventions."""
    rng = np.random.default_rng(3)
    time = rng.integers(1, 8, size=40).astype(float)  # many tied times
    event = (rng.random(40) < 0.6).astype(float)
    risk = np.round(rng.standard_normal(40), 1)  # tied risks too
    conc = total = 0.0
    for i in range(40):
        for j in range(40):
            if event[i] == 1 and (time[i] < time[j] or (time[i] == time[j] and event[j] == 0)):
                total += 1
                conc += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    assert harrell_cindex(time, event, risk) == pytest.approx(conc / total, rel=1e-15)
    assert harrell_cindex(time, event, -risk) == pytest.approx(1 - conc / total, rel=1e-12)
    from desurv.metrics import concordance_index

    assert concordance_index(time, event, risk) == pytest.approx(conc / total, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Behaviour beyond the reference runs
# ---------------------------------------------------------------------------------------------


def small_problem(seed: int = 0, p: int = 60, n: int = 40, k: int = 3, ties: bool = False):
    rng = np.random.default_rng(seed)
    W = rng.gamma(1.0, 1.0, size=(p, k))
    H = rng.gamma(2.0, 1.0, size=(k, n))
    X = W @ H + rng.gamma(1.0, 0.3, size=(p, n))
    time = rng.exponential(1.0 / np.exp(0.5 * (H[0] - H[0].mean())))
    if ties:
        time = np.ceil(time * 3.0)  # a handful of distinct times
    event = (rng.random(n) < 0.7).astype(float)
    event[0] = 1.0
    W0, H0, beta0 = init_rdesurv(X, k, np.random.default_rng(seed + 100))
    return X, time, event, W0, H0, beta0


HYPER = dict(alpha=0.5, lambda_=0.1, l1_ratio=0.5, lambda_w=0.1, lambda_h=0.1)


def test_h_in_input_order_and_permutation_equivariance() -> None:
    """Without ties, permuting the samples permutes H and the linear predictor only."""
    X, time, event, W0, H0, beta0 = small_problem(1)
    res = fit_rdesurv(X, time, event, W0, H0, beta0 + 0.01, max_iter=15, tol=0.0, **HYPER)
    perm = np.random.default_rng(9).permutation(X.shape[1])
    res_p = fit_rdesurv(
        X[:, perm], time[perm], event[perm], W0, H0[:, perm], beta0 + 0.01,
        max_iter=15, tol=0.0, **HYPER,
    )
    np.testing.assert_allclose(res_p.W, res.W, rtol=1e-12)
    np.testing.assert_allclose(res_p.beta, res.beta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(res_p.H, res.H[:, perm], rtol=1e-12)
    np.testing.assert_allclose(res_p.linear_predictor, res.linear_predictor[perm], rtol=1e-12)
    # H is factors x samples in input order: W H approximates X column by column.
    assert np.linalg.norm(X - res.W @ res.H) < np.linalg.norm(X - res.W @ res.H[:, ::-1])


def test_tie_rule_is_stable_sort_suffix_risk_sets() -> None:
    """Ties: sort stably by (time, input index); risk set of position i = positions >= i."""
    X, time, event, W0, H0, beta0 = small_problem(2, ties=True)
    assert len(np.unique(time)) < len(time) // 2
    eta = np.random.default_rng(5).standard_normal(len(time))
    order = np.lexsort((np.arange(len(time)), time))
    e_s, d_s = eta[order], event[order]
    by_definition = sum(
        d_s[i] * (e_s[i] - np.log(np.sum(np.exp(e_s[i:])))) for i in range(len(time))
    )
    assert rdesurv._cox_loglik(e_s, d_s) == pytest.approx(by_definition, rel=1e-13)
    np.testing.assert_array_equal(np.argsort(time, kind="stable"), order)


def test_tied_times_are_deterministic() -> None:
    X, time, event, W0, H0, beta0 = small_problem(3, ties=True)
    runs = [
        fit_rdesurv(X, time, event, W0, H0, beta0, max_iter=10, tol=0.0, **HYPER)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].W, runs[1].W)
    np.testing.assert_array_equal(runs[0].H, runs[1].H)
    np.testing.assert_array_equal(runs[0].beta, runs[1].beta)
    np.testing.assert_array_equal(runs[0].loss_trace["loss"], runs[1].loss_trace["loss"])
    # The rule depends on the input order of tied samples only through the documented
    # tie-break: reversing the input gives the same fit as sorting by (time, reversed index).
    rev = np.arange(X.shape[1])[::-1]
    res_rev = fit_rdesurv(
        X[:, rev], time[rev], event[rev], W0, H0[:, rev], beta0, max_iter=10, tol=0.0, **HYPER
    )
    order_rev = np.lexsort((np.arange(len(time))[::-1], time))  # ties: later input first
    pre = order_rev  # feed the samples already in that order: the stable sort keeps it
    res_pre = fit_rdesurv(
        X[:, pre], time[pre], event[pre], W0, H0[:, pre], beta0, max_iter=10, tol=0.0, **HYPER
    )
    np.testing.assert_allclose(res_rev.W, res_pre.W, rtol=1e-12)
    np.testing.assert_allclose(res_rev.beta, res_pre.beta, rtol=1e-12, atol=1e-15)


def test_trace_and_final_loss_match_the_direct_formula() -> None:
    """The fast (Gram) NMF term and the reused parts agree with the loss computed directly."""
    X, time, event, W0, H0, beta0 = small_problem(4)
    res = fit_rdesurv(X, time, event, W0, H0, beta0, max_iter=8, tol=0.0, **HYPER)
    order = np.argsort(time, kind="stable")
    hp = rdesurv._Hyper(**{k: float(v) for k, v in HYPER.items()}, n_event=int(event.sum()))
    direct = rdesurv._loss(
        X[:, order], event[order], res.W, res.H[:, order], res.beta, res.sd_z, hp
    )
    for key, value in direct.items():
        assert res.final_loss[key] == pytest.approx(value, rel=1e-12)


def test_gram_form_falls_back_when_the_fit_is_nearly_exact() -> None:
    rng = np.random.default_rng(6)
    W = rng.random((50, 3))
    H = rng.random((3, 30))
    X = W @ H + 1e-9 * rng.random((50, 30))
    exact = rdesurv._nmf_exact(X, W, H)
    fast = rdesurv._nmf_fast(X, float(np.sum(X * X)), W, W @ (H @ H.T), X @ H.T, H)
    assert fast == pytest.approx(exact, rel=1e-12)


def test_alpha_zero_is_nmf_then_cox_refit() -> None:
    X, time, event, W0, H0, beta0 = small_problem(7)
    hyper = dict(HYPER, alpha=0.0)
    res = fit_rdesurv(X, time, event, W0, H0, beta0 + 0.05, max_iter=12, tol=0.0, **hyper)
    # Without the survival term the NMF part of the loss never increases.
    nmf = res.loss_trace["nmf_loss"] + 0.1 * res.loss_trace["penalty_H"]
    nmf = nmf + 0.1 * res.loss_trace["penalty_W"]
    assert np.all(np.diff(nmf) <= 1e-12 * nmf[:-1])
    # ... and the refit gives beta on the final scores.
    assert res.sd_z == pytest.approx(np.std(X.T @ res.W, axis=0, ddof=1), rel=1e-12)


def test_stopping_rule() -> None:
    X, time, event, W0, H0, beta0 = small_problem(8)
    res = fit_rdesurv(X, time, event, W0, H0, beta0, max_iter=500, tol=1e-3, **HYPER)
    assert res.converged
    assert res.n_iter < 500
    tr = res.loss_trace["loss"]
    assert abs(tr[-1] - tr[-2]) / abs(tr[-2]) <= 1e-3
    assert np.all(np.abs(np.diff(tr[:-1])) / np.abs(tr[:-2]) > 1e-3)
    res0 = fit_rdesurv(X, time, event, W0, H0, beta0, max_iter=0, tol=0.0, **HYPER)
    assert res0.n_iter == 0 and res0.loss_trace["loss"].shape == (0,)


def test_init_rdesurv_recipe() -> None:
    X, *_ = small_problem(10)
    W0, H0, beta0 = init_rdesurv(X, 4, 123)
    assert W0.shape == (X.shape[0], 4) and H0.shape == (4, X.shape[1])
    assert W0.min() >= 0 and W0.max() <= X.max() and H0.max() <= X.max()
    np.testing.assert_array_equal(beta0, np.zeros(4))
    W1, H1, _ = init_rdesurv(X, 4, 123)
    np.testing.assert_array_equal(W0, W1)
    np.testing.assert_array_equal(H0, H1)
    with pytest.raises(ValueError, match="k must be"):
        init_rdesurv(X, 0, 1)


def test_multistart_keeps_the_best_cindex_start() -> None:
    X, time, event, *_ = small_problem(11)
    kw = dict(max_iter=20, tol=1e-6, ninit=4, imaxit=5, tol_init=1e-4, **HYPER)
    res = fit_rdesurv_multistart(X, time, event, 3, rng=np.random.default_rng(42), **kw)
    assert res.start_cindices.shape == (4,)
    assert res.best_start == int(np.nanargmax(res.start_cindices))
    assert res.init_cindex == res.start_cindices[res.best_start]
    # Replay: the same random starts, the same short fits, then the long fit from the best.
    rng = np.random.default_rng(42)
    shorts = []
    for _ in range(4):
        W0, H0, b0 = init_rdesurv(X, 3, rng)
        shorts.append(fit_rdesurv(X, time, event, W0, H0, b0, max_iter=5, tol=1e-4, **HYPER))
    cidx = [harrell_cindex(time, event, s.linear_predictor) for s in shorts]
    np.testing.assert_allclose(res.start_cindices, cidx)
    best = shorts[int(np.argmax(cidx))]
    again = fit_rdesurv(X, time, event, best.W, best.H, best.beta, max_iter=20, tol=1e-6, **HYPER)
    np.testing.assert_array_equal(res.W, again.W)
    np.testing.assert_array_equal(res.beta, again.beta)


def test_nnls_h0() -> None:
    rng = np.random.default_rng(12)
    W = rng.random((40, 3))
    H = rng.random((3, 15))
    H[0, :5] = 0.0
    np.testing.assert_allclose(nnls_h0(W @ H, W), H, atol=1e-10)
    X = rng.random((40, 15))
    H0 = nnls_h0(X, W)
    assert H0.shape == (3, 15) and H0.min() >= 0


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(alpha=1.0), r"alpha .*must be in \[0, 1\)"),
        (dict(alpha=-0.1), r"alpha .*must be in \[0, 1\)"),
        (dict(l1_ratio=1.5), "l1_ratio"),
        (dict(lambda_=-1.0), "lambda_ is a penalty and must be a finite number >= 0"),
        (dict(lambda_w=-1.0), "lambda_w is a penalty and must be a finite number >= 0"),
        (dict(lambda_h=float("nan")), "lambda_h must be finite"),
        (dict(tol=-1.0), "tol must be a finite number >= 0"),
        (dict(max_iter=-1), "max_iter must be >= 0"),
    ],
)
def test_bad_hyperparameters_raise(change: dict, match: str) -> None:
    X, time, event, W0, H0, beta0 = small_problem(13)
    kw = dict(HYPER, max_iter=2, tol=0.0)
    kw.update(change)
    with pytest.raises(ValueError, match=match):
        fit_rdesurv(X, time, event, W0, H0, beta0, **kw)


def test_bad_data_raise() -> None:
    X, time, event, W0, H0, beta0 = small_problem(14)
    kw = dict(HYPER, max_iter=2, tol=0.0)
    with pytest.raises(ValueError, match="X has .* negative values"):
        fit_rdesurv(-X, time, event, W0, H0, beta0, **kw)
    with pytest.raises(ValueError, match="H0 must be factors x samples"):
        fit_rdesurv(X, time, event, W0, H0[:, :-1], beta0, **kw)
    with pytest.raises(ValueError, match="W0 must be genes x factors"):
        fit_rdesurv(X, time, event, W0[:-1], H0, beta0, **kw)
    with pytest.raises(ValueError, match="beta0 must have one entry per factor"):
        fit_rdesurv(X, time, event, W0, H0, beta0[:-1], **kw)
    with pytest.raises(ValueError, match=r"event must be 0 \(censored\) or 1"):
        fit_rdesurv(X, time, event * 2, W0, H0, beta0, **kw)
    with pytest.raises(ValueError, match="no events"):
        fit_rdesurv(X, time, event * 0, W0, H0, beta0, **kw)
    with pytest.raises(ValueError, match="time has .* values but X has .* samples"):
        fit_rdesurv(X, time[:-1], event, W0, H0, beta0, **kw)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_rdesurv(bad, time, event, W0, H0, beta0, **kw)


def test_divergence_is_flagged_without_numpy_warnings() -> None:
    """A non-finite loss stops the loop (the package's nan_flag) and is reported."""
    X, time, event, W0, H0, beta0 = small_problem(15)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fit_rdesurv(
            X * 1e160, time, event, W0, H0 * 1e160, beta0 + 0.1, max_iter=5, tol=0.0, **HYPER
        )
    assert res.diverged
    assert res.n_iter == 0
    assert not res.converged
    healthy = fit_rdesurv(X, time, event, W0, H0, beta0, max_iter=5, tol=0.0, **HYPER)
    assert not healthy.diverged
