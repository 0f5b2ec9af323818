"""The DeSurv estimator: the scikit-learn surface, reproducibility, and bad input messages."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from desurv import ConvergenceWarning, DataWarning, DeSurv, DivergenceError
from desurv.metrics import concordance_index


def make_data(n=40, p=30, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.gamma(2.0, 1.0, (n, p)),
        index=[f"s{i}" for i in range(n)],
        columns=[f"g{j}" for j in range(p)],
    )
    time = pd.Series(rng.exponential(1.0, n) + 0.01, index=X.index)
    event = pd.Series((rng.random(n) < 0.7).astype(int), index=X.index)
    event.iloc[0] = 1
    return X, time, event


FAST = dict(max_iter=30, tol=1e-6, warmup_iter=5)


def fit_quiet(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def test_fit_attributes_and_orientation():
    X, t, e = make_data()
    m = fit_quiet(DeSurv(3, alpha=0.3, random_state=0, **FAST), X, t, e)
    assert m.W_.shape == (30, 3) and m.H_.shape == (3, 40) and m.coef_.shape == (3,)
    assert list(m.feature_names_in_) == list(X.columns)
    assert m.transform(X).shape == (40, 3)
    np.testing.assert_allclose(m.transform(X), X.to_numpy() @ m.W_)
    np.testing.assert_allclose(m.predict(X), X.to_numpy() @ m.W_ @ m.coef_)
    assert m.score(X, t, e) == pytest.approx(concordance_index(t, e, m.predict(X)))
    assert m.train_cindex_ == pytest.approx(m.score(X, t, e))
    assert list(m.loss_history_.columns) == [
        "loss",
        "nmf",
        "cox",
        "penalty_beta",
        "penalty_w",
        "penalty_h",
    ]
    assert len(m.loss_history_) == m.n_iter_
    # columns reordered by name in transform
    np.testing.assert_allclose(m.transform(X[X.columns[::-1]]), m.transform(X))


def test_same_seed_same_fit_whatever_n_jobs():
    X, t, e = make_data(seed=1)
    kw = dict(alpha=0.3, n_init=4, init_max_iter=10, random_state=7, **FAST)
    a = fit_quiet(DeSurv(3, n_jobs=1, **kw), X, t, e)
    b = fit_quiet(DeSurv(3, n_jobs=2, **kw), X, t, e)
    c = fit_quiet(DeSurv(3, n_jobs=1, **kw), X, t, e)
    np.testing.assert_array_equal(a.W_, c.W_)
    # the starts run in the same batches whatever n_jobs is: bitwise the same fit
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.init_scores_, b.init_scores_)
    for crit in ("loss", "cindex"):
        one = fit_quiet(DeSurv(3, n_jobs=1, init_criterion=crit, **kw), X, t, e)
        two = fit_quiet(DeSurv(3, n_jobs=2, init_criterion=crit, **kw), X, t, e)
        np.testing.assert_array_equal(one.W_, two.W_)
    d = fit_quiet(DeSurv(3, n_jobs=1, **{**kw, "random_state": 8}), X, t, e)
    assert not np.allclose(a.W_, d.W_)


def test_multistart_picks_the_best_start():
    X, t, e = make_data(seed=2)
    m = fit_quiet(DeSurv(3, alpha=0.3, n_init=5, init_max_iter=8, random_state=3, **FAST), X, t, e)
    assert m.init_scores_.shape == (5,)
    assert m.loss_history_["loss"].iloc[7] == pytest.approx(m.init_scores_.min())
    mc = fit_quiet(
        DeSurv(
            3, alpha=0.3, n_init=5, init_max_iter=8, init_criterion="cindex", random_state=3, **FAST
        ),
        X,
        t,
        e,
    )
    assert mc.init_scores_.shape == (5,) and np.all(mc.init_scores_ <= 1)


def test_given_starting_values_are_used():
    X, t, e = make_data(seed=3)
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((30, 2)) + 0.1, rng.random((2, 40)) + 0.1
    m1 = fit_quiet(DeSurv(2, alpha=0.2, **FAST), X, t, e, W0=W0, H0=H0, beta0=np.zeros(2))
    m2 = fit_quiet(DeSurv(2, alpha=0.2, random_state=99, **FAST), X, t, e, W0=W0, H0=H0)
    np.testing.assert_array_equal(m1.W_, m2.W_)


def test_convergence_warning_names_the_knob():
    X, t, e = make_data()
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        DeSurv(2, alpha=0.2, max_iter=3, tol=1e-12, warmup_iter=0, random_state=0).fit(X, t, e)


def test_all_zero_genes_are_dropped_with_a_warning():
    X, t, e = make_data()
    X["g3"] = 0.0
    with pytest.warns(DataWarning, match="1 genes are zero in every sample.*g3"):
        m = fit_quiet(DeSurv(2, alpha=0.2, random_state=0, **FAST), X, t, e)
    assert np.all(m.W_[3] == 0) and not m.genes_used_[3]


def test_divergence_error_names_hyperparameters(monkeypatch):
    import desurv._core.solver as solver

    X, t, e = make_data()
    real = solver.solve_beta

    def broken(*args, **kwargs):
        beta, f = real(*args, **kwargs)
        return beta, f * np.nan  # the beta part of the loss turns non-finite

    monkeypatch.setattr(solver, "solve_beta", broken)
    with pytest.raises(DivergenceError, match=r"n_components=2.*alpha=0\.2.*lambda_=0\.1"):
        DeSurv(2, alpha=0.2, lambda_=0.1, random_state=0, **FAST).fit(X, t, e)


# ---------------------------------------------------------------- bad input, message checked
def bad(X=None, t=None, e=None, **params):
    X0, t0, e0 = make_data()
    X = X0 if X is None else X
    t = t0 if t is None else t
    e = e0 if e is None else e
    return DeSurv(**{"n_components": 2, "random_state": 0, **FAST, **params}).fit(X, t, e)


def test_negative_expression_names_where_and_hints():
    X, t, e = make_data()
    X.iloc[4, 7] = -1.0
    with pytest.raises(
        ValueError, match=r"negative values.*sample s4, gene g7.*centred or z-scored"
    ):
        bad(X=X)


def test_non_finite_expression():
    X, t, e = make_data()
    X.iloc[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*sample s2, gene g1"):
        bad(X=X)


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf])
def test_bad_times(value):
    X, t, e = make_data()
    t.iloc[5] = value
    with pytest.raises(ValueError, match=r"time must be finite and >= 0.*s5"):
        bad(t=t)


def test_event_not_binary():
    X, t, e = make_data()
    e.iloc[3] = 2
    with pytest.raises(ValueError, match=r"event must be 0 \(censored\) or 1.*s3"):
        bad(e=e)


def test_no_events():
    X, t, e = make_data()
    with pytest.raises(ValueError, match="no events"):
        bad(e=e * 0)


def test_length_mismatch():
    X, t, e = make_data()
    with pytest.raises(ValueError, match=r"time has 39 values but X has 40 samples"):
        bad(t=t.to_numpy()[:-1])


def test_sample_names_mismatch():
    X, t, e = make_data()
    t.index = [f"x{i}" for i in range(40)]
    with pytest.raises(ValueError, match=r"index of time does not match the sample names"):
        bad(t=t)


def test_duplicated_names():
    X, t, e = make_data()
    X.columns = ["g0"] + list(X.columns[1:-1]) + ["g0"]
    with pytest.raises(ValueError, match=r"duplicated gene \(column\) names: g0"):
        bad(X=X)
    X, t, e = make_data()
    X.index = ["s0"] + list(X.index[1:])
    X.index = list(X.index[:-1]) + ["s0"]
    with pytest.raises(ValueError, match=r"duplicated sample \(row\) names: s0"):
        bad(X=X)


@pytest.mark.parametrize("k", [0, 31])
def test_bad_k(k):
    with pytest.raises(ValueError, match=r"n_components \(k\) must be between 1 and"):
        bad(n_components=k)


def test_all_zero_sample():
    X, t, e = make_data()
    X.iloc[6] = 0.0
    with pytest.raises(ValueError, match=r"1 samples have zero expression in every gene.*s6"):
        bad(X=X)


@pytest.mark.parametrize("alpha", [-0.1, 1.0, 1.5])
def test_alpha_outside_range(alpha):
    with pytest.raises(ValueError, match=r"alpha .* must be in \[0, 1\)"):
        bad(alpha=alpha)


@pytest.mark.parametrize("name", ["lambda_", "lambda_w", "lambda_h"])
def test_negative_penalties(name):
    with pytest.raises(ValueError, match=f"{name} is a penalty and must be a finite number >= 0"):
        bad(**{name: -0.1})


def test_predict_before_fit_and_wrong_genes():
    X, t, e = make_data()
    with pytest.raises(ValueError, match="not fitted yet"):
        DeSurv(2).predict(X)
    m = fit_quiet(DeSurv(2, alpha=0.2, random_state=0, **FAST), X, t, e)
    with pytest.raises(ValueError, match="lacks 1 of the model's genes"):
        m.predict(X.drop(columns="g5"))
    with pytest.raises(ValueError, match="X has 29 genes"):
        m.predict(X.drop(columns="g5").to_numpy())


def test_fits_run_with_one_blas_thread(monkeypatch):
    """fit limits BLAS to one thread while it runs (twice in a row: the controller is cached)
    and gives the threads back afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import desurv.estimator as est

    seen = []
    real = est.fit_batch

    def spy(*args, **kwargs):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return real(*args, **kwargs)

    monkeypatch.setattr(est, "fit_batch", spy)
    X, t, e = make_data()
    with threadpool_limits(limits=2, user_api="blas"):  # whatever the environment says
        before = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
        assert 2 in before.values()
        for _ in range(2):
            fit_quiet(DeSurv(2, alpha=0.2, random_state=0, **FAST), X, t, e)
        after = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
    assert len(seen) == 2 and all(s == {1} for s in seen)
    assert after == before


def test_solver_option_hals_fits_the_same_loss_faster_and_is_checked():
    """The default solver ("hals") minimises the same (monotone) loss as the paper's
    multiplicative one ("mu"); on this problem it stops in fewer iterations at a loss no
    higher; a bad name is refused."""
    import warnings as _w

    from desurv import DeSurv
    from desurv.exceptions import DeSurvWarning
    from desurv.simulate import simulate

    d = simulate("primary", n_genes=400, n_markers=40, n_background=100, n_samples=100,
                 random_state=0)  # fmt: skip
    X, t, e = d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()
    with _w.catch_warnings():
        _w.simplefilter("ignore", DeSurvWarning)
        mu = DeSurv(3, alpha=0.0, tol=1e-6, max_iter=3000, random_state=0, solver="mu")
        mu.fit(X, t, e)
        hals = DeSurv(3, alpha=0.0, tol=1e-6, max_iter=3000, random_state=0).fit(X, t, e)
    assert hals.get_params()["solver"] == "hals"
    assert np.all(np.diff(hals.loss_history_["loss"].to_numpy()) <= 1e-11)
    assert hals.n_iter_ < mu.n_iter_
    assert hals.loss_history_["loss"].iloc[-1] <= mu.loss_history_["loss"].iloc[-1] * (1 + 1e-6)
    with pytest.raises(ValueError, match="solver"):
        DeSurv(3, solver="newton").fit(X, t, e)


def test_warmup_tol_starts_the_survival_part_from_a_converged_nmf():
    """DeSurv(warmup_tol=...): the Cox coefficients stay 0 (the Cox part constant) until the
    NMF part's relative change falls below warmup_tol, well before warmup_iter, and the fit
    then goes on to its own tolerance; bad values are refused. The search and tl.select pass
    it to every fit (and the search's record holds it)."""
    import warnings as _w

    from desurv.exceptions import DeSurvWarning
    from desurv.selection import DeSurvSearch
    from desurv.simulate import simulate

    d = simulate("primary", n_genes=300, n_markers=30, n_background=60, n_samples=90,
                 random_state=0)  # fmt: skip
    X, t, e = d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()
    kw = dict(alpha=0.5, tol=1e-6, solver="hals", random_state=0)
    with _w.catch_warnings():
        _w.simplefilter("ignore", DeSurvWarning)
        m = DeSurv(3, warmup_iter=2000, warmup_tol=1e-5, max_iter=3000, **kw).fit(X, t, e)
    assert m.get_params()["warmup_tol"] == 1e-5
    hist = m.loss_history_
    fit = (hist["nmf"] + hist["penalty_w"] + hist["penalty_h"]).to_numpy()  # the NMF part
    cox = hist["cox"].to_numpy()
    end = int(np.flatnonzero(cox != cox[0])[0])  # the first iteration with a beta step
    rel = np.abs(np.diff(fit[:end])) / np.abs(fit[: end - 1])
    assert 1 < end < 2000 and rel[-1] < 1e-5 and np.all(rel[:-1] >= 1e-5)
    assert m.converged_ and m.n_iter_ > end
    for bad in (-1.0, float("nan"), "small"):
        with pytest.raises(ValueError, match="warmup_tol"):
            DeSurv(3, warmup_tol=bad).fit(X, t, e)
    # 0 and None: a warm-up of exactly warmup_iter iterations, the same fit
    fixed = [DeSurv(3, warmup_iter=40, warmup_tol=w, max_iter=300, **kw) for w in (0.0, None)]
    with _w.catch_warnings():
        _w.simplefilter("ignore", DeSurvWarning)
        for f in fixed:
            f.fit(X, t, e)
    cox0 = fixed[0].loss_history_["cox"].to_numpy()
    assert int(np.flatnonzero(cox0 != cox0[0])[0]) == 40
    np.testing.assert_array_equal(fixed[0].W_, fixed[1].W_)
    grid = dict(n_components=3, alpha=0.5, n_folds=3, n_starts=2, max_iter=400,
                score="full", solver="hals", random_state=0, progress=False)  # fmt: skip
    with _w.catch_warnings():
        _w.simplefilter("ignore", DeSurvWarning)
        plain = DeSurvSearch(**grid, warmup_tol=None).fit(X, t, e).result_
        early = DeSurvSearch(**grid, warmup_iter=300, warmup_tol=1e-4).fit(X, t, e).result_
    assert early.config["config"]["warmup_tol"] == 1e-4
    assert "warmup_tol" not in plain.config["config"]
    assert not np.array_equal(plain.table["cindex"], early.table["cindex"])
