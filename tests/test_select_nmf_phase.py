"""The search shares each fold's NMF phase between the settings that need the same one.

A setting's evaluation is its NMF phase (the fold's random starts fitted by NMF alone, b = 0,
to ``warmup_tol`` within the warm-up cap) followed by its survival phase. With b = 0 the Cox
part of the loss is constant, so the NMF phase depends on the fold, k and the ridges only
(``nmf_key``), not on alpha, lambda_, l1_ratio or n_top: the search computes it once per key
and fold and passes it to every setting. These tests show that the sharing happens (the
phase is computed once per (k, fold), across the batches of a Bayesian search too) and that
it is exact (every row equals the setting evaluated alone, which computes its own phase),
and what the phase is.
"""

from __future__ import annotations

import numpy as np
import pytest

from desurv.selection import DeSurvSearch
from desurv.selection import _search as search_mod
from desurv.selection._evaluate import EvalConfig, evaluate_unit, nmf_key, nmf_phase
from desurv.selection._folds import stratified_folds
from desurv.selection._search import FOLD_SEED_KEY, _params_of

KW = dict(n_folds=3, n_starts=2, max_iter=300, score="full", random_state=0, progress=False)


@pytest.fixture(scope="module")
def data(small_search_data):
    return small_search_data


class _Count:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, X, t, e, train, params, entropy, fold, *args):
        self.calls.append((nmf_key(params), int(fold)))
        return nmf_phase(X, t, e, train, params, entropy, fold, *args)


def test_nmf_phase_is_computed_once_per_k_and_fold(data, monkeypatch):
    count = _Count()
    monkeypatch.setattr(search_mod, "nmf_phase", count)
    grid = dict(n_components=[2, 3], alpha=[0.0, 0.5, 0.9], lambda_=[0.1, 1.0], n_top=[10, 20])
    res = DeSurvSearch(**grid, **KW, n_jobs=1).fit(*data).result_
    assert len(res.summary) == 24  # 2 k x 3 alpha x 2 lambda_ x 2 n_top
    assert sorted(count.calls) == sorted({(nmf_key({"n_components": k, "lambda_w": 0.0,
                                                    "lambda_h": 0.0}), f)
                                          for k in (2, 3) for f in range(3)})  # fmt: skip
    # a ridge on the programs' energies changes the NMF phase: its own
    count.calls.clear()
    DeSurvSearch(n_components=2, alpha=[0.5], lambda_h=[0.0, 0.1], **KW, n_jobs=1).fit(*data)
    assert len(count.calls) == 2 * 3


def test_bayesian_batches_reuse_the_nmf_phase(data, monkeypatch):
    count = _Count()
    monkeypatch.setattr(search_mod, "nmf_phase", count)
    s = DeSurvSearch(
        n_components=2, alpha=(0.0, 0.9), lambda_=(0.01, 1.0, "log"), method="bayes",
        n_initial=3, n_trials=6, **KW, n_jobs=1,
    )  # fmt: skip
    res = s.fit(*data).result_
    assert len(res.summary) == 6
    assert len(count.calls) == 3 == len(set(count.calls))  # one k: once per fold, all batches


def test_shared_phase_gives_the_rows_of_settings_evaluated_alone(data):
    """Sharing is exact: every row equals evaluate_unit on its own (which computes its own
    NMF phase), bitwise, for n_jobs 1 and 2."""
    X, t, e = data
    grid = dict(n_components=[2], alpha=[0.0, 0.6], lambda_=[0.1, 0.5])
    one = DeSurvSearch(**grid, **KW, n_jobs=1).fit(X, t, e).result_
    two = DeSurvSearch(**grid, **KW, n_jobs=2).fit(X, t, e).result_
    assert one.table["cindex"].tolist() == two.table["cindex"].tolist()
    cfg = EvalConfig(n_starts=2, max_iter=300, score="full")
    for _, row in one.table.iterrows():
        train = one.folds_ != row["fold"]
        alone = evaluate_unit(X, t, e, train, _params_of(row), one.seed_entropy,
                              int(row["fold"]), cfg)  # fmt: skip
        assert alone["cindex"] == row["cindex"]
        assert alone["train_cindex"] == row["train_cindex"]
        assert alone["n_iter"] == row["n_iter"]


def test_nmf_phase_is_an_nmf_fit_to_warmup_tol(data):
    """The phase is the alpha = 0 fit of the fold's starts: every start stops by warmup_tol
    before the cap (or runs exactly the cap without warmup_tol), and a setting's n_iter
    counts it."""
    X, t, e = data
    entropy = int(np.random.SeedSequence(0).entropy)
    folds = stratified_folds(
        e, 3, np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=FOLD_SEED_KEY))
    )
    train = folds != 0
    params = dict(n_components=2, alpha=0.7, lambda_=0.1, l1_ratio=0.5, lambda_w=0.0,
                  lambda_h=0.0, n_top=None)  # fmt: skip
    cfg = EvalConfig(n_starts=2, max_iter=600, warmup_tol=1e-6)
    assert cfg.warmup == 300  # half of max_iter
    ph = nmf_phase(X, t, e, train, params, entropy, 0, cfg)
    assert np.all(ph.n_iter < 300) and np.all(ph.n_iter > 5)
    # the same for any alpha, lambda_ and l1_ratio: bitwise
    other = nmf_phase(X, t, e, train, {**params, "alpha": 0.2, "lambda_": 3.0}, entropy, 0, cfg)
    assert ph.W.tobytes() == other.W.tobytes() and ph.H.tobytes() == other.H.tobytes()
    fixed = nmf_phase(X, t, e, train, params, entropy, 0, EvalConfig(n_starts=2, max_iter=600,
                                                                      warmup=40, warmup_tol=None))
    assert fixed.n_iter.tolist() == [40, 40]
    rec = evaluate_unit(X, t, e, train, params, entropy, 0, cfg)
    assert rec["n_iter"] > np.median(ph.n_iter)
    assert nmf_phase(X, t, e, train, params, entropy, 0, EvalConfig(warmup=0)) is None
