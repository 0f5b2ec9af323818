"""desurv.selection.consensus_fit: many fits, their consensus seed, one final fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from desurv.exceptions import DeSurvWarning
from desurv.selection import consensus_fit


def _planted(seed=0, p=240, n=80, k=3, block=40):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0, 0.05, (p, k))
    truth = np.full(p, -1)
    for j in range(k):
        W[j * block : (j + 1) * block, j] += rng.uniform(1, 2, block)
        truth[j * block : (j + 1) * block] = j
    H = rng.gamma(2.0, 1.0, (k, n))
    X = W @ H + rng.uniform(0, 0.05, (p, n))
    risk = H[0] / H[0].std()
    time = rng.exponential(np.exp(-risk))
    event = (rng.random(n) < 0.8).astype(float)
    return X.T, time, event, truth


def test_consensus_fit_recovers_the_planted_programs_and_repeats_with_a_seed():
    X, t, e, truth = _planted()
    kw = dict(n_components=3, n_top=30, n_fits=12, alpha=0.3, max_iter=200, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        model, seed = consensus_fit(X, t, e, **kw)
        again, _ = consensus_fit(X, t, e, **kw)
    markers = truth >= 0
    # every planted block is one factor of the final fit
    assert adjusted_rand_score(truth[markers], model.W_[markers].argmax(axis=1)) > 0.95
    # the seed keeps (nearly) only marker genes, about n_top per block
    assert seed.n_fits == 12 and seed.kept[markers].sum() >= 75 and seed.kept[~markers].sum() <= 5
    np.testing.assert_array_equal(model.W_, again.W_)


def test_consensus_fit_checks_its_arguments():
    X, t, e, _ = _planted()
    with pytest.raises(ValueError, match="n_fits"):
        consensus_fit(X, t, e, n_fits=1)
    with pytest.raises(ValueError, match="solver"):
        consensus_fit(X, t, e, n_fits=3, solver="nope")
