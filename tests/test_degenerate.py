"""Degenerate fits are diagnosed (warnings that name the cause and the knob), as lifelines does."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from desurv import DeSurv
from desurv.estimator import _monotone_likelihood, _warn_if_unlogged
from desurv.exceptions import (
    DataWarning,
    DegenerateFitWarning,
    SeparationWarning,
)
from desurv.simulate import simulate


@pytest.fixture(scope="module")
def sim():
    d = simulate(
        "primary", n_genes=400, n_markers=40, n_background=60, n_samples=80, random_state=4
    )
    return d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()


def _caught(fn) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fn()
    return rec


def _kinds(rec, kind) -> list[str]:
    return [str(w.message) for w in rec if issubclass(w.category, kind)]


def test_separating_gene_warns_separation():
    """One gene orders the samples by survival exactly: with a weak penalty the fit
    memorises the outcomes (training C 1) and says so, naming alpha and lambda_."""
    rng = np.random.default_rng(0)
    n, p = 60, 30
    time = rng.exponential(1.0, n)
    event = np.ones(n)
    X = rng.gamma(2.0, 1.0, (n, p))
    X[:, 0] = 10.0 * (np.argsort(np.argsort(-time)) + 1) / n  # high = early death
    model = DeSurv(2, alpha=0.9, lambda_=1e-3, max_iter=300, random_state=0)
    rec = _caught(lambda: model.fit(X, time, event))
    msgs = _kinds(rec, SeparationWarning)
    assert model.train_cindex_ >= 0.99
    assert len(msgs) == 1 and "alpha" in msgs[0] and "lambda_" in msgs[0]
    assert all(w.filename == __file__ for w in rec if issubclass(w.category, SeparationWarning))


def test_ordinary_fit_gives_no_degenerate_warning(sim):
    X, t, e = sim
    model = DeSurv(3, alpha=0.5, max_iter=200, random_state=0)
    rec = _caught(lambda: model.fit(X, t, e))
    assert not _kinds(rec, SeparationWarning) and not _kinds(rec, DegenerateFitWarning)
    assert not _kinds(rec, DataWarning)
    assert model.train_cindex_ < 0.99 and np.any(model.coef_ != 0)


def test_monotone_likelihood_detects_separation_beyond_the_c_index():
    rng = np.random.default_rng(1)
    t = rng.exponential(1.0, 50)
    e = np.ones(50)
    assert _monotone_likelihood(-t, t, e, "efron")  # perfectly ordered risk
    assert not _monotone_likelihood(rng.normal(size=50) - 0.3 * t, t, e, "efron")


def test_all_zero_coefficients_warn(sim):
    X, t, e = sim
    model = DeSurv(3, alpha=0.5, lambda_=10.0, l1_ratio=1.0, max_iter=100, random_state=0)
    rec = _caught(lambda: model.fit(X, t, e))
    msgs = _kinds(rec, DegenerateFitWarning)
    assert np.all(model.coef_ == 0)
    assert len(msgs) == 1 and "every Cox coefficient is 0" in msgs[0] and "lambda_" in msgs[0]


def test_max_iter_within_warmup_warns(sim):
    X, t, e = sim
    model = DeSurv(3, alpha=0.5, max_iter=40, warmup_iter=50, random_state=0)
    rec = _caught(lambda: model.fit(X, t, e))
    msgs = _kinds(rec, DegenerateFitWarning)
    assert len(msgs) == 1 and "warmup_iter" in msgs[0] and "never updated" in msgs[0]
    assert np.all(model.coef_std_ == 0)
    # alpha = 0 has no survival term to switch on: nothing to say about the warm-up
    rec0 = _caught(lambda: DeSurv(3, alpha=0.0, max_iter=40, random_state=0).fit(X, t, e))
    assert not any("warmup_iter" in m for m in _kinds(rec0, DegenerateFitWarning))


def test_warmup_that_ends_early_is_not_a_degenerate_fit(sim):
    """With ``warmup_tol`` the warm-up may end before ``warmup_iter``: a fit whose warm-up
    cap reaches past max_iter warns only when the warm-up did not end (the case above, with
    the default warmup_tol 1e-6); here it ends at a loose 1e-2 and the Cox part moves."""
    X, t, e = sim
    model = DeSurv(3, alpha=0.5, max_iter=40, warmup_iter=50, warmup_tol=1e-2, random_state=0)
    rec = _caught(lambda: model.fit(X, t, e))
    assert not any("warmup_iter" in m for m in _kinds(rec, DegenerateFitWarning))
    cox = model.loss_history_["cox"].to_numpy()
    assert np.any(cox != cox[0]) and np.any(model.coef_std_ != 0)


def test_default_warmup_cap_is_half_of_max_iter(sim):
    """warmup_iter=None (the default): at most max_iter // 2 warm-up iterations, so the
    survival part keeps half of the iterations; an explicit warmup_iter is kept."""
    X, t, e = sim
    firsts = {}
    for w in (None, 12):
        m = DeSurv(3, alpha=0.5, max_iter=60, tol=0.0, warmup_iter=w, warmup_tol=0.0,
                   random_state=0)  # fmt: skip
        _caught(lambda m=m: m.fit(X, t, e))
        cox = m.loss_history_["cox"].to_numpy()
        firsts[w] = int(np.flatnonzero(cox != cox[0])[0])  # the first iteration with a b step
    assert firsts == {None: 30, 12: 12}


def test_unlogged_counts_warn_and_logged_data_do_not():
    """RSEM-like counts (a heavy right tail over five orders of magnitude) against their
    log1p, and against log data in another unit (the check is scale-free)."""
    rng = np.random.default_rng(2)
    counts = np.floor(rng.lognormal(4.0, 2.5, (40, 300)))
    assert _kinds(_caught(lambda: _warn_if_unlogged(counts)), DataWarning)
    logged = np.log1p(counts)
    assert not _kinds(_caught(lambda: _warn_if_unlogged(logged)), DataWarning)
    assert not _kinds(_caught(lambda: _warn_if_unlogged(1e3 * logged)), DataWarning)
    t = rng.exponential(1.0, 40)
    e = (rng.random(40) < 0.7).astype(float)
    rec = _caught(lambda: DeSurv(2, alpha=0.0, max_iter=20).fit(counts + 1, t, e))
    msgs = _kinds(rec, DataWarning)
    assert len(msgs) == 1 and "log1p" in msgs[0]


def test_lambda_w_is_refused_by_the_default_model(sim):
    X, t, e = sim
    with pytest.raises(ValueError, match="no ridge on W"):
        DeSurv(3, lambda_w=0.1).fit(X, t, e)
