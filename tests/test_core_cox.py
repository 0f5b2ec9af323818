"""Cox pieces of the core against a direct O(n^2) formula, lifelines and R's survival.

Tolerances: 1e-10 relative between two exact computations of the same sums (only rounding
differs); numerical derivatives are checked to 1e-6 (central differences, step 1e-6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desurv._core.cox import SurvivalData, cox_beta_derivatives, cox_gradient, cox_loglik
from tests._rhelpers import require_r


def direct_loglik(eta, time, event, ties):
    """Textbook partial likelihood: loops over event times, risk sets as boolean masks."""
    ll = 0.0
    for t in np.unique(time[event == 1]):
        D = (time == t) & (event == 1)
        R = time >= t
        d = D.sum()
        s0 = np.exp(eta[R]).sum()
        s0d = np.exp(eta[D]).sum()
        ll += eta[D].sum()
        if ties == "breslow":
            ll -= d * np.log(s0)
        else:
            ll -= sum(np.log(s0 - m / d * s0d) for m in range(d))
    return ll


def direct_gradient(eta, time, event, ties):
    """d l / d eta from the n x n risk-set matrix (the O(n^2) formula)."""
    n = eta.size
    g = event.astype(float).copy()
    e = np.exp(eta)
    for t in np.unique(time[event == 1]):
        D = (time == t) & (event == 1)
        R = time >= t
        d = D.sum()
        s0 = e[R].sum()
        s0d = e[D].sum()
        ms = [0] if ties == "breslow" else range(d)
        for m in ms:
            frac = 0.0 if ties == "breslow" else m / d
            den = s0 - frac * s0d
            w = (d if ties == "breslow" else 1.0) / den
            g -= w * e * (R.astype(float) - frac * D.astype(float))
    assert g.shape == (n,)
    return g


def tied_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 12, n).astype(float)  # many ties
    event = (rng.random(n) < 0.7).astype(int)
    event[0] = 1
    return time, event, rng


def _ours(eta, time, event, ties):
    sv = SurvivalData.from_arrays(time, event)
    m = np.ones((1, eta.size))
    ll, g = cox_gradient(eta[sv.order][None], sv, m, ties)
    ll2 = cox_loglik(eta[sv.order][None], sv, m, ties)
    return ll[0], ll2[0], g[0][sv.inverse]


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loglik_and_gradient_match_direct_formula(ties, seed):
    time, event, rng = tied_data(seed=seed)
    eta = rng.normal(size=time.size)
    ll, ll2, g = _ours(eta, time, event, ties)
    ref = direct_loglik(eta, time, event, ties)
    assert ll == pytest.approx(ref, rel=1e-10)
    assert ll2 == pytest.approx(ref, rel=1e-10)
    np.testing.assert_allclose(g, direct_gradient(eta, time, event, ties), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_beta_derivatives_match_numerical(ties):
    time, event, rng = tied_data(seed=3)
    n, k = time.size, 3
    Z = rng.normal(size=(n, k))
    b = rng.normal(size=k) * 0.4
    sv = SurvivalData.from_arrays(time, event)
    ll, g, h = cox_beta_derivatives(Z[sv.order][None], b[None], sv, np.ones((1, n)), ties)

    def f(bb):
        return direct_loglik(Z @ bb, time, event, ties)

    eye = np.eye(k)
    gn = np.array([(f(b + 1e-6 * eye[i]) - f(b - 1e-6 * eye[i])) / 2e-6 for i in range(k)])
    hn = np.array(
        [
            [
                (
                    f(b + 1e-4 * (eye[i] + eye[j]))
                    - f(b + 1e-4 * (eye[i] - eye[j]))
                    - f(b - 1e-4 * (eye[i] - eye[j]))
                    + f(b - 1e-4 * (eye[i] + eye[j]))
                )
                / 4e-8
                for j in range(k)
            ]
            for i in range(k)
        ]
    )
    assert ll[0] == pytest.approx(f(b), rel=1e-10)
    np.testing.assert_allclose(g[0], gn, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h[0], hn, rtol=1e-5, atol=1e-4)


def test_extreme_linear_predictors_stay_finite():
    """Risk sets are summed in log space: eta spanning 4000 units gives the exact answer."""
    time = np.arange(1.0, 9.0)
    event = np.array([1, 0, 1, 1, 0, 1, 1, 1])
    eta = np.array([2000.0, 0.0, -2000.0, 5.0, 1.0, -1.0, 0.5, -3.0])
    ll, ll2, g = _ours(eta, time, event, "breslow")
    assert np.isfinite(ll) and np.all(np.isfinite(g))
    # the last risk sets only hold small etas: their terms are computed exactly
    tail = slice(3, None)
    ref_tail = direct_loglik(eta[tail], time[tail], event[tail], "breslow")
    # the first three events: sample 0's term is log(1) = 0 up to exp(-2000); sample 2's risk
    # set is samples 2..7 whose largest eta is 5
    first = 0.0
    third = -2000.0 - np.log(np.exp(eta[2:]).sum())
    assert ll == pytest.approx(first + third + ref_tail, rel=1e-12)


def test_mask_equals_subset():
    """A member with a sample mask gives the same log-likelihood and gradient as the subset."""
    time, event, rng = tied_data(n=50, seed=4)
    eta = rng.normal(size=50)
    keep = rng.random(50) < 0.6
    keep[np.flatnonzero(event)[0]] = True
    sv = SurvivalData.from_arrays(time, event)
    m = keep[sv.order].astype(float)[None]
    ll, g = cox_gradient(eta[sv.order][None], sv, m, "efron")
    ll_sub, _, g_sub = _ours(eta[keep], time[keep], event[keep], "efron")
    assert ll[0] == pytest.approx(ll_sub, rel=1e-12)
    g_full = g[0][sv.inverse]
    np.testing.assert_allclose(g_full[keep], g_sub, rtol=1e-12, atol=1e-14)
    assert np.all(g_full[~keep] == 0)


def test_efron_loglik_matches_lifelines():
    lifelines = pytest.importorskip("lifelines")
    time, event, rng = tied_data(n=120, seed=5)
    Z = rng.normal(size=(120, 2))
    df = pd.DataFrame({"T": time, "E": event, "z1": Z[:, 0], "z2": Z[:, 1]})
    cph = lifelines.CoxPHFitter().fit(df, "T", "E")
    beta = cph.params_[["z1", "z2"]].to_numpy()
    ll, _, _ = _ours(Z @ beta, time, event, "efron")
    assert ll == pytest.approx(cph.log_likelihood_, rel=1e-10)


R_GRADIENT = """
env$cox_at <- function(time, event, z1, z2, b, ties) {
  d <- data.frame(time = time, event = event, z1 = z1, z2 = z2)
  fit <- survival::coxph(survival::Surv(time, event) ~ z1 + z2, data = d, init = b,
                         control = survival::coxph.control(iter.max = 0), ties = ties)
  list(loglik = fit$loglik[2], score = colSums(residuals(fit, type = "score")))
}
"""


@pytest.mark.needs_r
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_loglik_and_gradient_match_r_survival(ties):
    """R's coxph at fixed beta (iter.max = 0): loglik and the summed score residuals."""
    rb = require_r()
    from r_bridge import _session

    time, event, rng = tied_data(n=80, seed=6)
    Z = rng.normal(size=(80, 2))
    b = np.array([0.3, -0.5])
    _session.define(R_GRADIENT)
    out = _session.call(
        "cox_at", time, event.astype(float), Z[:, 0], Z[:, 1], b, ties, packages=("survival",)
    )
    r_ll = float(rb._session.to_numpy(out.rx2("loglik"))[0])
    r_score = rb._session.to_numpy(out.rx2("score"))
    ll, _, g = _ours(Z @ b, time, event, ties)
    assert ll == pytest.approx(r_ll, rel=1e-10)
    np.testing.assert_allclose(Z.T @ g, r_score, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_fast_paths_equal_log_space_paths(ties):
    """The shifted-exp fast paths equal the log-space versions (with masks and ties)."""
    from desurv._core import cox

    time, event, rng = tied_data(seed=5)
    n, k = time.size, 3
    sv = SurvivalData.from_arrays(time, event)
    z = rng.normal(size=(4, n, k))
    beta = rng.normal(size=(4, k))
    mask = (rng.random((4, n)) < 0.8).astype(float)
    mask[:, np.flatnonzero(sv.event)[:2]] = 1.0
    eta = np.einsum("bnk,bk->bn", z, beta)
    np.testing.assert_allclose(
        cox_loglik(eta, sv, mask, ties), cox._robust_loglik(eta, sv, mask, ties), rtol=1e-12
    )
    ll, g = cox_gradient(eta, sv, mask, ties)
    ll_r, g_r = cox._robust_gradient(eta, sv, mask, ties)
    np.testing.assert_allclose(ll, ll_r, rtol=1e-12)
    np.testing.assert_allclose(g, g_r, rtol=1e-10, atol=1e-12)
    fast = cox_beta_derivatives(z, beta, sv, mask, ties)
    slow = cox._robust_beta_derivatives(z, beta, sv, mask, ties)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fast_path_falls_back_when_risk_sets_underflow():
    """eta spanning 4000 units: the beta derivatives stay finite and equal the log-space ones."""
    from desurv._core import cox

    time = np.arange(1.0, 9.0)
    event = np.array([1, 0, 1, 1, 0, 1, 1, 1.0])
    sv = SurvivalData.from_arrays(time, event)
    z = np.array([2000.0, 0.0, -2000.0, 5.0, 1.0, -1.0, 0.5, -3.0])[None, :, None]
    beta = np.ones((1, 1))
    m = np.ones((1, 8))
    fast = cox_beta_derivatives(z, beta, sv, m, "breslow")
    slow = cox._robust_beta_derivatives(z, beta, sv, m, "breslow")
    for a, b in zip(fast, slow):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-12)
