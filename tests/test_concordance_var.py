"""desurv.stats.concordance_var: R's variance of Harrell's C (``concordance(...)$var``).

Against live R (``needs_r``), against a pair-by-pair brute force of R's formula, by
invariances, on two hand-derived cases, and on the no-comparable-pair case (NaN).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import desurv.stats._concordance as conc_mod
from desurv.metrics import concordance_index
from desurv.metrics import concordance_var as metrics_concordance_var
from desurv.stats import concordance_var
from tests._rhelpers import require_r

# The per-subject pair counts are exact integers and the dfbeta arithmetic is R's term for
# term, so only the last summation can differ (R accumulates sum(dfbeta^2) in long double,
# we use math.fsum): a few ulp at most. 1e-12 relative leaves room for an R built without
# an 80-bit long double (plain double accumulation: error <= n * eps ~ 1e-13 for n = 500).
RTOL = 1e-12


def brute_force_var(t, e, r, s=None):
    """R's infinitesimal-jackknife variance, pair by pair (reverse = TRUE orientation)."""
    t, e, r = np.asarray(t, float), np.asarray(e, bool), np.asarray(r, float)
    n = len(t)
    s = np.zeros(n) if s is None else np.asarray(s)
    per = np.zeros((n, 3))  # concordant, discordant, tied_x pairs of each subject
    for i in range(n):
        for j in range(n):
            if i == j or s[i] != s[j] or not e[i]:
                continue
            # i is the earlier member with an event; censoring at the same time comes after
            if not (t[j] > t[i] or (t[j] == t[i] and not e[j])):
                continue
            k = 0 if r[i] > r[j] else 1 if r[i] < r[j] else 2
            per[i, k] += 1
            per[j, k] += 1
    conc, disc, tx = per.sum(axis=0) / 2
    npair = conc + disc + tx
    if npair == 0:
        return math.nan
    somer = (disc - conc) / npair
    dfbeta = ((per[:, 1] - per[:, 0]) - somer * per.sum(axis=1)) / npair
    return float(np.sum(dfbeta**2) / 4)


def make_data(seed, n, n_strata=None):
    """Survival data with ties in time and risk, censorings at event times and time 0."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, max(3, n // 6), n).astype(float)  # integer times: many ties, some 0
    e = rng.random(n) < 0.65
    t[:3] = 0.0
    e[:2] = True
    e[2] = False
    if n > 6:  # an event and a censoring at the same time, for sure
        t[5], e[5], t[6], e[6] = t[4], True, t[4], False
    r = np.round(rng.normal(size=n), 1)  # tied risks
    s = None if n_strata is None else rng.integers(0, n_strata, n)
    return t, e, r, s


# (seed, n, n_strata); n_strata > 10 takes R's other route (strata as counting-process data)
R_CASES = [
    (0, 10, None),
    (1, 23, None),
    (2, 57, 2),
    (3, 120, None),
    (4, 200, 3),
    (5, 333, 12),
    (6, 500, None),
    (7, 500, 5),
    (8, 41, 15),
    (9, 150, 1),
]


@pytest.fixture(scope="module")
def rb():
    return require_r()


@pytest.mark.needs_r
@pytest.mark.parametrize(("seed", "n", "n_strata"), R_CASES)
def test_matches_r(rb, seed, n, n_strata):
    t, e, r, s = make_data(seed, n, n_strata)
    got = concordance_var(t, e, r, s)
    want = rb.concordance(t, e, r, s)["var"]
    assert want > 0
    assert got == pytest.approx(want, rel=RTOL, abs=0)


@pytest.mark.needs_r
def test_matches_r_with_timefix_and_continuous_data(rb):
    rng = np.random.default_rng(11)
    n = 300
    t = rng.exponential(size=n)
    t[::7] = t[1::7][: t[::7].size] * (1 + 1e-12)  # equal to R's timefix, not bitwise
    e = rng.random(n) < 0.5
    r = rng.normal(size=n)
    s = rng.choice(["a", "b", "c"], n)
    for strata in (None, s):
        got = concordance_var(t, e, r, strata)
        want = rb.concordance(t, e, r, strata)["var"]
        assert got == pytest.approx(want, rel=RTOL, abs=0)


@pytest.mark.needs_r
def test_nan_like_r(rb):
    for t, e in (([1.0, 2.0, 3.0], [0, 0, 0]), ([1.0, 1.0, 1.0], [1, 1, 1])):
        assert math.isnan(rb.concordance(t, e, [1.0, 2.0, 3.0])["var"])
        assert math.isnan(concordance_var(t, e, [1.0, 2.0, 3.0]))


@pytest.mark.parametrize(("seed", "n", "n_strata"), [(0, 10, None), (1, 37, 3), (2, 60, None)])
def test_matches_brute_force(seed, n, n_strata):
    t, e, r, s = make_data(seed, n, n_strata)
    assert concordance_var(t, e, r, s) == pytest.approx(brute_force_var(t, e, r, s), rel=1e-12)


def test_chunking_does_not_change_the_result(monkeypatch):
    t, e, r, s = make_data(3, 150, 2)
    full = concordance_var(t, e, r, s)
    monkeypatch.setattr(conc_mod, "_CHUNK_CELLS", 7)  # a few event rows per chunk
    assert concordance_var(t, e, r, s) == full


def test_hand_derived_cases():
    # C, D, T = 2, 1, 0; somer = -1/3; per subject (c, d) = (2, 0), (1, 1), (1, 1);
    # dfbeta = (d - c)/3 + (c + d)/9 = -4/9, 2/9, 2/9; var = (24/81)/4 = 2/27.
    assert concordance_var([1, 2, 3], [1, 1, 0], [3, 1, 2]) == pytest.approx(2 / 27, rel=1e-15)
    # Censoring at the event time 1 comes after it (comparable); tied risks at times 2, 3.
    # C, D, T = 3, 0, 1; somer = -3/4; per subject (c, t) = (3, 0), (1, 0), (1, 1), (1, 1);
    # dfbeta = -c/4 + 3(c + t)/16 = -3/16, -1/16, 2/16, 2/16; var = (18/256)/4 = 9/512.
    t, e, r = [1, 1, 2, 3], [1, 0, 1, 0], [2, 1, 1, 1]
    assert concordance_var(t, e, r) == 9 / 512
    assert concordance_index(t, e, r) == 0.875
    # Perfect, tie-free concordance: every dfbeta is 0.
    assert concordance_var([1, 2, 3], [1, 1, 0], [3, 2, 1]) == 0.0


def test_invariances():
    t, e, r, s = make_data(4, 200, 3)
    base = concordance_var(t, e, r, s)
    # a strictly increasing transform of risk keeps every pair's order, hence every count
    assert concordance_var(t, e, np.exp(2 * r) + 5, s) == base
    # permuting subjects (fsum: the result does not depend on the summation order)
    p = np.random.default_rng(0).permutation(len(t))
    assert concordance_var(t[p], e[p], r[p], s[p]) == base
    # relabelling strata
    assert concordance_var(t, e, r, np.array(["x", "y", "z"])[s]) == base
    # a positive rescaling of time
    assert concordance_var(3.0 * t, e, r, s) == pytest.approx(base, rel=1e-15)
    # reversing risk swaps concordant and discordant: the variance is the same
    assert concordance_var(t, e, -r, s) == pytest.approx(base, rel=1e-13)
    # strata whose labels are one value: the unstratified result
    assert concordance_var(t, e, r, np.zeros(len(t))) == concordance_var(t, e, r)


def test_no_comparable_pair_is_nan():
    assert math.isnan(concordance_var([1, 2, 3], [0, 0, 0], [1, 2, 3]))  # no event
    assert math.isnan(concordance_var([2, 2, 2], [1, 1, 1], [1, 2, 3]))  # tied on time only
    assert math.isnan(concordance_var([5, 1], [1, 0], [1, 2]))  # censored before the event
    # one subject per stratum: no pair within a stratum
    assert math.isnan(concordance_var([1, 2, 3, 4], [1, 0, 1, 0], [1, 2, 3, 4], [0, 1, 2, 3]))
    assert math.isnan(concordance_var([], [], []))


def test_exported_and_checked():
    assert metrics_concordance_var is concordance_var
    with pytest.raises(ValueError):
        concordance_var([1, 2], [1, 0], [1.0])
    with pytest.raises(ValueError):
        concordance_var([1, 2], [1, 0], [1.0, np.nan])
    with pytest.raises(ValueError):
        concordance_var([1, 2], [1, 0], [1.0, 2.0], strata=[0])
