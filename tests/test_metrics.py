"""desurv.metrics: Harrell's C with R's conventions (checked by brute force here; against R
itself in test_survival_r.py)."""

from __future__ import annotations

import numpy as np
import pytest

from desurv.metrics import concordance_counts, concordance_index, timefix


def brute_force_counts(t, e, r):
    """Pair-by-pair counts with R's rules (reverse = TRUE: higher risk, shorter time)."""
    c = dict.fromkeys(("concordant", "discordant", "tied_x", "tied_y", "tied_xy"), 0.0)
    n = len(t)
    for i in range(n):
        for j in range(i + 1, n):
            if t[i] == t[j]:
                if e[i] and e[j]:
                    c["tied_xy" if r[i] == r[j] else "tied_y"] += 1
                    continue
                if not e[i] and not e[j]:
                    continue
                a, b = (i, j) if e[i] else (j, i)  # a: event; b censored at the same time
            else:
                a, b = (i, j) if t[i] < t[j] else (j, i)
                if not e[a]:
                    continue
            if r[a] > r[b]:
                c["concordant"] += 1
            elif r[a] < r[b]:
                c["discordant"] += 1
            else:
                c["tied_x"] += 1
    return c


@pytest.mark.parametrize("seed", range(6))
def test_counts_match_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 80
    t = rng.integers(1, 12, n).astype(float)  # tied times
    e = rng.random(n) < 0.6
    r = rng.integers(0, 5, n).astype(float)  # tied risks
    assert concordance_counts(t, e, r) == brute_force_counts(t, e, r)


def test_r_documented_example():
    # Output of R 4.2 / survival 3.5-3:
    # concordance(Surv(time, status) ~ x, reverse = TRUE) -> 17 3 2 0 1, C = 0.8181818
    time = [1, 2, 2, 2, 3, 4, 4, 5]
    status = [1, 1, 1, 0, 1, 0, 1, 0]
    x = [5, 3, 3, 4, 2, 2, 1, 1]
    assert concordance_counts(time, status, x) == {
        "concordant": 17.0,
        "discordant": 3.0,
        "tied_x": 2.0,
        "tied_y": 0.0,
        "tied_xy": 1.0,
    }
    assert concordance_index(time, status, x) == pytest.approx(0.8181818, abs=1e-7)
    # stratified: R gives counts (6,0,0,0,0) and (2,1,0,0,0), C = 8/9
    s = [1, 1, 2, 2, 1, 2, 1, 2]
    assert concordance_index(time, status, x, strata=s) == pytest.approx(8 / 9, abs=1e-15)


def test_event_and_censoring_at_same_time_is_comparable():
    # the event at t=2 is earlier than the censoring at t=2
    assert concordance_counts([2, 2], [1, 0], [1.0, 0.0])["concordant"] == 1
    assert concordance_counts([2, 2], [0, 1], [1.0, 0.0])["discordant"] == 1
    # two events at the same time: tied on y, not in C
    c = concordance_counts([2, 2], [1, 1], [1.0, 0.0])
    assert c["tied_y"] == 1 and c["concordant"] == c["discordant"] == 0
    assert np.isnan(concordance_index([2, 2], [1, 1], [1.0, 0.0]))


def test_direction_higher_risk_shorter_survival():
    t = np.arange(1.0, 11.0)
    e = np.ones(10)
    assert concordance_index(t, e, -t) == 1.0
    assert concordance_index(t, e, t) == 0.0
    assert concordance_index(t, e, np.zeros(10)) == 0.5


def test_stratified_sums_counts_within_strata():
    rng = np.random.default_rng(3)
    n = 60
    t = rng.integers(1, 10, n).astype(float)
    e = rng.random(n) < 0.7
    r = rng.normal(size=n)
    s = rng.integers(0, 3, n)
    total = dict.fromkeys(("concordant", "discordant", "tied_x", "tied_y", "tied_xy"), 0.0)
    for g in range(3):
        m = s == g
        for k, v in brute_force_counts(t[m], e[m], r[m]).items():
            total[k] += v
    assert concordance_counts(t, e, r, strata=s) == total
    assert concordance_counts(t, e, r, strata=s.astype(str)) == total


def test_timefix_merges_rounding_level_differences():
    t = np.array([1.0, 1.0 + 1e-12, 2.0, 3.0])
    assert np.array_equal(timefix(t), [1.0, 1.0, 2.0, 3.0])
    c = concordance_counts(t, [1, 1, 1, 0], [2.0, 1.0, 0.0, 0.0])
    assert c["tied_y"] == 1  # the first two are tied after timefix, as in R


def test_input_checks():
    with pytest.raises(ValueError, match="same length"):
        concordance_index([1, 2], [1, 0], [1.0])
    with pytest.raises(ValueError, match="risk contains NaN"):
        concordance_index([1, 2], [1, 0], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"event must be 0 \(censored\) or 1"):
        concordance_index([1, 2], [2, 0], [1.0, 0.0])


def test_chunking_does_not_change_counts(monkeypatch):
    import desurv.stats._concordance as m

    rng = np.random.default_rng(7)
    n = 90
    t = rng.integers(1, 15, n).astype(float)
    e = rng.random(n) < 0.5
    r = rng.integers(0, 6, n).astype(float)
    monkeypatch.setattr(m, "_CHUNK_CELLS", 3 * n)  # 3 events per chunk
    assert m.concordance_counts(t, e, r) == brute_force_counts(t, e, r)
