"""The scale-free model: invariance to the unit of X and to the column scale of W, the exact
gradient of the Cox part through the standardised scores, and alpha = 0 as NMF + Cox."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from desurv import DeSurv
from desurv._core.cox import SurvivalData, cox_loglik
from desurv._core.solver import (
    Hyper,
    _centred,
    _cox_direction,
    _eta,
    _gradient,
    _Problem,
    _score_sd,
    _wtx,
    fit_batch,
    loss_parts,
    uniform_start,
)
from desurv.exceptions import DeSurvWarning
from desurv.simulate import simulate


@pytest.fixture(scope="module")
def small_sim():
    d = simulate(
        "primary",
        n_genes=600,
        n_markers=60,
        n_background=100,
        n_samples=80,
        n_train=60,
        random_state=0,
    )
    return d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()


def _fit(X, t, e, **kw):
    params = dict(alpha=0.8, lambda_=0.1, n_init=3, max_iter=300, tol=0.0, random_state=1)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        return DeSurv(3, **params).fit(X, t, e)


@pytest.mark.parametrize("scale", [1e-300, 1e-3, 1e3, 1e300])
def test_fit_unchanged_when_X_is_multiplied_by_a_constant(small_sim, scale):
    """Every step is equivariant in exact arithmetic (the start too: H takes the constant;
    the floor of H follows the mean of X), and the estimator fits X in a binary unit (X
    times a power of two, exact), so sums of squares stay finite from 1e-300 to 1e300 and
    only rounding differs. The solver's accept/reject decisions (line search, extrapolation,
    the adaptive survival gain) amplify that rounding: measured differences are ~4e-8
    relative after 300 iterations (1e-14 without extrapolation and gain); the tolerances
    (1e-6 relative) leave room for other BLAS builds, while a fit that depended on the unit
    of X would differ at 1e-2 and more."""
    X, t, e = small_sim
    ref = _fit(X, t, e)
    got = _fit(X * scale, t, e)
    np.testing.assert_allclose(got.W_, ref.W_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(got.W_, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got.H_ / scale, ref.H_, rtol=1e-6)
    np.testing.assert_allclose(got.coef_std_, ref.coef_std_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(got.coef_ * scale, ref.coef_, rtol=1e-6, atol=1e-12)
    assert got.train_cindex_ == ref.train_cindex_
    np.testing.assert_allclose(
        got.loss_history_["loss"].to_numpy(), ref.loss_history_["loss"].to_numpy(), rtol=1e-6
    )
    assert np.any(ref.coef_std_ != 0)  # the survival part is active


def _problem(seed=0, p=40, n=30, k=3, mask=None):
    rng = np.random.default_rng(seed)
    X = rng.gamma(2.0, 1.0, (p, n))
    time = rng.integers(1, 12, n).astype(float)  # ties
    event = (rng.random(n) < 0.7).astype(float)
    event[:2] = 1
    sv = SurvivalData.from_arrays(time, event)
    m = np.ones((1, n)) if mask is None else mask
    prob = _Problem(X, sv, m[:, sv.order], "efron")
    W = rng.gamma(1.0, 1.0, (p, 1, k))
    H = rng.gamma(1.0, 1.0, (1, k, n))
    b = rng.normal(0, 0.5, (1, k))
    return prob, W, H, b, rng


@pytest.mark.parametrize("masked", [False, True])
def test_column_scale_changes_no_part_of_the_loss(masked):
    """W c and H / c leave every part unchanged: NMF (W H), the Cox part and its penalty
    (standardised scores and coefficients) and the program-energy ridge (||w_j h_j||)."""
    mask = None
    if masked:
        mask = (np.random.default_rng(5).random((1, 30)) < 0.7).astype(float)
        mask[0, :4] = 1
    prob, W, H, b, _ = _problem(mask=mask)
    hp = Hyper(alpha=0.6, lambda_=0.2, l1_ratio=0.5, lambda_h=0.3)
    base = loss_parts(prob, W, H, b, hp)
    c = np.array([1e-3, 7.0, 1e4])
    scaled = loss_parts(prob, W * c, H / c[None, :, None], b, hp)
    for key in ("nmf", "cox", "penalty_beta", "penalty_h", "loss"):
        np.testing.assert_allclose(scaled[key], base[key], rtol=1e-10, err_msg=key)
    assert base["penalty_h"][0] > 0 and base["cox"][0] > 0


@pytest.mark.parametrize("masked", [False, True])
def test_cox_gradient_in_W_matches_finite_differences(masked):
    """d l / d W = X M (through the scores and their standard deviations), checked by central
    differences (step 1e-6 relative; agreement to 1e-6 relative)."""
    mask = None
    if masked:
        mask = (np.random.default_rng(6).random((1, 30)) < 0.75).astype(float)
        mask[0, :4] = 1
    prob, W, H, b, rng = _problem(seed=2, mask=mask)

    def loglik(Wm):
        zt = _wtx(prob, Wm)
        eta = _eta(zt, b, _score_sd(prob, _centred(prob, zt)))
        return cox_loglik(eta, prob.surv, prob.mask, "efron")[0]

    zt = _wtx(prob, W)
    zc = _centred(prob, zt)
    sd = _score_sd(prob, zc)
    _, r = _gradient(_eta(zt, b, sd), prob.surv, prob.mask, "efron", prob.ev)
    M = _cox_direction(prob, zc, sd, b, r)  # (1, k, n)
    grad = prob.X @ M[0].T  # (p, k)
    for g, j in [(0, 0), (5, 1), (17, 2), (39, 0)]:
        h = 1e-6 * W[g, 0, j]
        Wp, Wm = W.copy(), W.copy()
        Wp[g, 0, j] += h
        Wm[g, 0, j] -= h
        fd = (loglik(Wp) - loglik(Wm)) / (2 * h)
        np.testing.assert_allclose(grad[g, j], fd, rtol=1e-6, atol=1e-9)


def test_alpha0_is_nmf_then_penalised_cox_on_standardised_scores():
    """At alpha = 0 the survival part is not in the loss; beta is fitted once on the final
    scores: the standardised coefficients minimise -(2/n_e) l(Zs b) + lambda |b|^2 / 2
    (l1_ratio 0: a smooth problem, solved independently with BFGS)."""
    rng = np.random.default_rng(3)
    p, n, k = 50, 40, 3
    X = rng.gamma(2.0, 1.0, (p, k)) @ rng.gamma(2.0, 1.0, (k, n))
    time = rng.exponential(1.0, n)
    event = (rng.random(n) < 0.7).astype(float)
    sv = SurvivalData.from_arrays(time, event)
    W0, H0, b0 = uniform_start(X, k, rng)
    hp = Hyper(alpha=0.0, lambda_=0.3, l1_ratio=0.0)
    res = fit_batch(X, sv, W0, H0, b0, hp, tol=0.0, max_iter=40)
    Z = X.T @ res.W[0]  # samples x k
    Zs = (Z - Z.mean(0)) / Z.std(0, ddof=1)
    ne = event.sum()

    def f(bb):
        ll = cox_loglik((Zs @ bb)[sv.order][None], sv, np.ones((1, n)), "efron")[0]
        return -2 / ne * ll + 0.5 * 0.3 * bb @ bb

    ref = minimize(f, np.zeros(k), method="BFGS", options=dict(gtol=1e-10)).x
    np.testing.assert_allclose(res.beta_std[0], ref, atol=1e-5)
    np.testing.assert_allclose(res.beta[0], res.beta_std[0] / Z.std(0, ddof=1), rtol=1e-10)
    np.testing.assert_allclose(res.score_sd[0], Z.std(0, ddof=1), rtol=1e-10)
    # the history has no survival part at alpha = 0
    assert np.all(res.history[0]["cox"] == 0)
