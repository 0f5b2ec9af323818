"""Cross-validated model selection (``desurv.selection``): stratified folds, preprocessing
fitted inside the training folds only, the one-standard-error rule, the top-gene risk and
small grid searches.

scikit-learn's own model selection (``GridSearchCV`` / ``cross_val_score`` on ``DeSurv``
with a structured ``y``) is covered by ``tests/test_sklearn_api.py``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from desurv.exceptions import DataWarning
from desurv.selection import (
    DeSurvSearch,
    FoldPreprocess,
    _evaluate,
    _search,
    one_se_rule,
    stratified_folds,
    summarise,
    top_gene_risk,
)
from desurv.selection._evaluate import EvalConfig, evaluate_unit
from desurv.simulate import simulate
from desurv.tl._top_genes import specificity_scores

PARAMS = ("n_components", "alpha", "lambda_", "l1_ratio", "lambda_w", "lambda_h", "n_top")
SEED = 0
# the search draws its folds from this stream (see DeSurvSearch.fit)
FOLD_SEED_KEY = (2**31,)
TINY = dict(n_folds=3, n_starts=3, max_iter=150, random_state=SEED, progress=False)


def _fold_rng(random_state: int) -> np.random.Generator:
    entropy = np.random.SeedSequence(random_state).entropy
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=FOLD_SEED_KEY))


@pytest.fixture(scope="module")
def data():
    d = simulate("primary", random_state=0, n_genes=400, n_markers=40, n_background=100)
    X = d.X.loc[d.train].to_numpy()
    t = d.time[d.train].to_numpy()
    e = d.event[d.train].to_numpy()
    return X, t, e


def _search_fit(X, t, e, **kw):
    params = dict(n_components=[2, 3], alpha=[0.0, 0.8], n_top=[50], **TINY)
    params.update(kw)
    return DeSurvSearch(**params).fit(X, t, e)


@pytest.fixture(scope="module")
def search_top(data):
    return _search_fit(*data)


# ------------------------------------------------------------------ stratified folds
def _assert_even(fold: np.ndarray, members: np.ndarray, n_folds: int) -> None:
    counts = np.bincount(fold[members], minlength=n_folds)
    lo, hi = members.size // n_folds, -(-members.size // n_folds)
    assert counts.min() >= lo and counts.max() <= hi, counts


def test_folds_split_events_and_censored_evenly():
    rng = np.random.default_rng(11)
    event = (rng.uniform(size=103) < 0.35).astype(int)
    for n_folds in (2, 3, 5):
        fold = stratified_folds(event, n_folds, np.random.default_rng(4))
        assert fold.shape == event.shape
        assert set(np.unique(fold)) == set(range(n_folds))
        _assert_even(fold, np.flatnonzero(event == 1), n_folds)
        _assert_even(fold, np.flatnonzero(event == 0), n_folds)
        # and the strata continue one another: the fold sizes differ by at most one
        _assert_even(fold, np.arange(event.size), n_folds)


def test_folds_split_every_cohort_by_event_stratum_evenly():
    rng = np.random.default_rng(12)
    event = (rng.uniform(size=150) < 0.5).astype(int)
    cohort = rng.choice(np.array(["tcga", "cptac", "moffitt"]), size=150, p=[0.5, 0.3, 0.2])
    fold = stratified_folds(event, 4, np.random.default_rng(0), cohort)
    for c in np.unique(cohort):
        for ev in (0, 1):
            members = np.flatnonzero((cohort == c) & (event == ev))
            assert members.size >= 4
            _assert_even(fold, members, 4)
    # without the cohort the cohorts are not balanced with the same seed in general, but
    # events still are
    plain = stratified_folds(event, 4, np.random.default_rng(0))
    _assert_even(plain, np.flatnonzero(event == 1), 4)


def test_folds_are_deterministic_for_a_seed():
    event = (np.random.default_rng(13).uniform(size=80) < 0.4).astype(int)
    a = stratified_folds(event, 5, np.random.default_rng(7))
    b = stratified_folds(event, 5, np.random.default_rng(7))
    c = stratified_folds(event, 5, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_too_few_events_lower_the_fold_count_or_raise():
    event = np.zeros(40, dtype=int)
    event[:7] = 1  # 7 events, 2 per held-out fold: 3 folds
    with pytest.warns(DataWarning, match="using 3 folds"):
        fold = stratified_folds(event, 5, np.random.default_rng(0))
    assert set(np.unique(fold)) == {0, 1, 2}
    assert np.bincount(fold[event == 1]).min() >= 2
    # min_events is honoured
    with pytest.warns(DataWarning, match="using 2 folds"):
        fold = stratified_folds(event, 5, np.random.default_rng(0), min_events=3)
    assert fold.max() == 1
    # enough events: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        stratified_folds(event, 3, np.random.default_rng(0))
    event[3:] = 0  # 3 events: below 2 folds of 2 events
    with pytest.raises(ValueError, match="at least 4 events"):
        stratified_folds(event, 5, np.random.default_rng(0))


@pytest.mark.parametrize("n_folds", [1, 0, -3, 2.0, True])
def test_fold_count_below_two_or_not_an_integer_is_refused(n_folds):
    event = np.tile([0, 1], 20)
    with pytest.raises(ValueError, match="n_folds"):
        stratified_folds(event, n_folds, np.random.default_rng(0))


def test_search_lowers_the_fold_count_with_few_events(data):
    X, t, e = data
    e = e.copy()
    e[np.flatnonzero(e)[7:]] = 0  # 7 events
    with pytest.warns(DataWarning, match="using 3 folds"):
        s = DeSurvSearch(n_components=[2], alpha=[0.5], **{**TINY, "n_folds": 5}).fit(X, t, e)
    assert s.result_.folds_.max() == 2
    assert sorted(s.result_.table["fold"]) == [0, 1, 2]


# ------------------------------------------------------------------ no preprocessing leak
M_GENES = 100


@pytest.fixture(scope="module")
def leak_case(data):
    """X with genes that are low and flat in the training samples of fold 0 and huge in its
    held-out samples: a gene filter fitted on all samples keeps them, one fitted on the
    training fold does not."""
    X, t, e = data
    folds = stratified_folds(e, 3, _fold_rng(SEED))
    hold = folds == 0
    train = ~hold
    everything = np.ones(e.size, dtype=bool)
    base = FoldPreprocess(n_top_genes=M_GENES).fit_apply(X, everything)[1]
    out = np.flatnonzero(~base)
    leak = out[np.argsort(X[:, out].mean(axis=0))[:5]]
    rng = np.random.default_rng(5)
    Xc = X.copy()
    # they still vary over the training samples (a flat gene would be dropped anyway)
    Xc[np.ix_(train, leak)] = rng.uniform(0.01, 0.02, (train.sum(), leak.size))
    Xc[np.ix_(hold, leak)] = rng.uniform(20.0, 40.0, (hold.sum(), leak.size))
    return Xc, t, e, folds, train, leak


def test_search_draws_its_folds_from_the_documented_stream(data, search_top):
    _, _, e = data
    np.testing.assert_array_equal(
        search_top.result_.folds_, stratified_folds(e, 3, _fold_rng(SEED))
    )


def test_gene_filter_is_fitted_on_the_training_fold_only(leak_case):
    Xc, _, e, _, train, leak = leak_case
    fp = FoldPreprocess(n_top_genes=M_GENES)
    out_tr, kept_tr = fp.fit_apply(Xc, train)
    out_all, kept_all = fp.fit_apply(Xc, np.ones(e.size, dtype=bool))
    assert kept_tr.sum() == kept_all.sum() == M_GENES
    assert not kept_tr[leak].any()
    assert kept_all[leak].all()
    # the filter applied to every sample (held-out ones included)
    assert out_tr.shape == (e.size, M_GENES)
    np.testing.assert_array_equal(out_tr, Xc[:, kept_tr])
    np.testing.assert_array_equal(out_all, Xc[:, kept_all])


def _params_of_row(row: pd.Series) -> dict:
    return {p: row[p] for p in PARAMS}


def test_search_scores_fold_with_the_train_fitted_filter(leak_case):
    Xc, t, e, folds, train, _ = leak_case
    fp = FoldPreprocess(n_top_genes=M_GENES)
    s = DeSurvSearch(n_components=[2], alpha=[0.5], n_top=[20], preprocess=fp, **TINY)
    res = s.fit(Xc, t, e).result_
    np.testing.assert_array_equal(res.folds_, folds)
    row = res.table[res.table["fold"] == 0].iloc[0]
    params = _params_of_row(row)
    cfg = EvalConfig(n_starts=3, max_iter=150)
    entropy = res.seed_entropy
    direct = evaluate_unit(Xc, t, e, train, params, entropy, 0, cfg, fp)
    kept_tr = fp.fit_apply(Xc, train)[1]
    pre_tr = evaluate_unit(Xc[:, kept_tr], t, e, train, params, entropy, 0, cfg, None)
    kept_all = fp.fit_apply(Xc, np.ones(e.size, dtype=bool))[1]
    leaky = evaluate_unit(Xc[:, kept_all], t, e, train, params, entropy, 0, cfg, None)
    assert row["n_genes"] == direct["n_genes"] == M_GENES
    for rec in (direct, pre_tr):
        assert row["cindex"] == rec["cindex"]
        assert row["train_cindex"] == rec["train_cindex"]
        assert row["rel_error"] == pytest.approx(rec["rel_error"], rel=1e-10)
    # the filter fitted on all samples gives another fit and another held-out score
    assert row["cindex"] != leaky["cindex"]
    assert row["rel_error"] != pytest.approx(leaky["rel_error"], rel=1e-6)
    assert direct["start_cindex"] != leaky["start_cindex"]


@pytest.mark.parametrize("n_top_genes", [None, M_GENES])
def test_quantile_target_is_learnt_from_training_samples_only(leak_case, n_top_genes):
    Xc, _, _, _, train, _ = leak_case
    fp = FoldPreprocess(n_top_genes=n_top_genes, transform="quantile")
    a, kept_a = fp.fit_apply(Xc, train)
    X2 = Xc.copy()
    rng = np.random.default_rng(9)
    X2[~train] = X2[~train] * 3.0 + rng.uniform(0.0, 5.0, X2[~train].shape)
    b, kept_b = fp.fit_apply(X2, train)
    np.testing.assert_array_equal(kept_a, kept_b)
    np.testing.assert_array_equal(a[train], b[train])
    assert not np.allclose(a[~train], b[~train])
    # every training sample has the training target's values (its sorted profile)
    from desurv.pp._quantile import quantile_target

    target = quantile_target(Xc[:, kept_a][train])
    np.testing.assert_allclose(np.sort(a[train], axis=1), np.tile(target, (train.sum(), 1)))
    # a target learnt on all samples would have moved the training rows
    everything = np.ones(train.size, dtype=bool)
    c = FoldPreprocess(n_top_genes=n_top_genes, transform="quantile").fit_apply(X2, everything)[0]
    assert not np.allclose(c[train], b[train])


def test_rank_transform_is_per_sample(leak_case):
    Xc, _, _, _, train, _ = leak_case
    fp = FoldPreprocess(transform="rank")
    a = fp.fit_apply(Xc, train)[0]
    X2 = Xc.copy()
    X2[~train] = X2[~train][:, ::-1]
    b = fp.fit_apply(X2, train)[0]
    np.testing.assert_array_equal(a[train], b[train])
    assert a.max() == 1.0 and a.min() > 0
    np.testing.assert_allclose(np.sort(a[0]), np.arange(1, Xc.shape[1] + 1) / Xc.shape[1])


def test_held_out_survival_does_not_reach_the_training_fit(data):
    X, t, e = data
    folds = stratified_folds(e, 3, _fold_rng(SEED))
    train = folds != 0
    params = dict(_evaluate.PARAM_DEFAULTS, n_components=2, n_top=20)
    cfg = EvalConfig(n_starts=2, max_iter=100)
    a = evaluate_unit(X, t, e, train, params, 0, 0, cfg)
    t2, e2 = t.copy(), e.copy()
    t2[~train] = t2[~train][::-1]
    e2[~train] = 1 - e2[~train]
    b = evaluate_unit(X, t2, e2, train, params, 0, 0, cfg)
    assert a["train_cindex"] == b["train_cindex"]
    assert a["rel_error"] == b["rel_error"]
    assert a["n_iter"] == b["n_iter"]
    assert a["cindex"] != b["cindex"]


def test_held_out_expression_does_not_reach_the_training_fit(data):
    X, t, e = data
    folds = stratified_folds(e, 3, _fold_rng(SEED))
    train = folds != 0
    params = dict(_evaluate.PARAM_DEFAULTS, n_components=2, n_top=20)
    cfg = EvalConfig(n_starts=2, max_iter=100)
    a = evaluate_unit(X, t, e, train, params, 0, 0, cfg)
    X2 = X.copy()
    X2[~train] *= 0.5
    b = evaluate_unit(X2, t, e, train, params, 0, 0, cfg)
    assert a["train_cindex"] == b["train_cindex"]
    assert a["rel_error"] == pytest.approx(b["rel_error"], rel=1e-9)


# ------------------------------------------------------------------ summarise, one-SE rule
def _expected_k(summary: pd.DataFrame) -> tuple[int, float, int]:
    """The one-SE rule written out: (k, threshold, setting chosen at k)."""
    rows = [r for _, r in summary.iterrows() if math.isfinite(r["mean_cindex"])]
    best = rows[0]
    for r in rows[1:]:
        if r["mean_cindex"] > best["mean_cindex"]:
            best = r
    se = best["se_cindex"] if math.isfinite(best["se_cindex"]) else 0.0
    thr = best["mean_cindex"] - se
    for k in sorted({int(r["n_components"]) for r in rows}):
        at_k = [r for r in rows if r["n_components"] == k]
        top = at_k[0]
        for r in at_k[1:]:
            if r["mean_cindex"] > top["mean_cindex"]:
                top = r
        if top["mean_cindex"] >= thr:
            return k, thr, int(top["setting"])
    raise AssertionError("the best setting always clears its own threshold")


def _summary(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    """(k, alpha, mean, se) per setting, in setting order."""
    out = []
    for i, (k, alpha, mean, se) in enumerate(rows):
        row = {"setting": i, "phase": "grid", **_evaluate.PARAM_DEFAULTS}
        row.update(n_components=k, alpha=alpha, mean_cindex=mean, se_cindex=se, n_folds=3)
        out.append(row)
    return pd.DataFrame(out)


SUMMARIES = {
    # k=2's best (0.72, not its 0.60) clears 0.74 - 0.03
    "smaller_k": [(2, 0.0, 0.60, 0.01), (2, 0.5, 0.72, 0.02), (3, 0.5, 0.74, 0.03),
                  (4, 0.5, 0.73, 0.01)],
    # nothing smaller clears: the best k
    "best_k": [(2, 0.0, 0.60, 0.01), (3, 0.0, 0.65, 0.01), (4, 0.5, 0.80, 0.01)],
    # k=2 exactly at the threshold 0.75 - 0.25 (exact in binary): chosen
    "tie_at_threshold": [(2, 0.0, 0.5, 0.1), (3, 0.0, 0.75, 0.25), (4, 0.0, 0.25, 0.1)],
    # just below the threshold: not chosen
    "below_threshold": [(2, 0.0, 0.4999, 0.1), (3, 0.0, 0.75, 0.25), (4, 0.0, 0.7, 0.1)],
    # two settings share the best mean: the first is the best, its SE sets the threshold
    "tied_best": [(2, 0.0, 0.70, 0.0), (3, 0.0, 0.80, 0.05), (4, 0.0, 0.80, 0.2),
                  (5, 0.0, 0.76, 0.0)],
    # two settings tie within a k: the first is that k's best
    "tie_within_k": [(2, 0.0, 0.78, 0.0), (2, 0.5, 0.78, 0.0), (3, 0.0, 0.80, 0.05)],
    # a setting without a score is ignored
    "nan_setting": [(2, 0.0, float("nan"), float("nan")), (3, 0.0, 0.79, 0.01),
                    (4, 0.0, 0.80, 0.02)],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_one_se_rule_on_hand_made_summaries(name):
    summary = _summary(SUMMARIES[name])
    k, thr, setting = _expected_k(summary)
    rule = one_se_rule(summary)
    assert rule["k"] == k
    assert rule["threshold"] == pytest.approx(thr, abs=1e-15)
    assert rule["at_k"]["setting"] == setting
    assert rule["at_k"]["n_components"] == k
    assert rule["best"]["mean_cindex"] == np.nanmax(summary["mean_cindex"])
    per_k = rule["per_k"]
    finite = summary[np.isfinite(summary["mean_cindex"])]
    assert list(per_k["n_components"]) == sorted(finite["n_components"].unique())
    for _, r in per_k.iterrows():
        at = finite[finite["n_components"] == r["n_components"]]
        assert r["mean_cindex"] == at["mean_cindex"].max()
    expected = {"smaller_k": 2, "best_k": 4, "tie_at_threshold": 2, "below_threshold": 3,
                "tied_best": 3, "tie_within_k": 2, "nan_setting": 3}  # fmt: skip
    assert rule["k"] == expected[name]
    if name == "tied_best":
        assert rule["best"]["setting"] == 1 and rule["threshold"] == pytest.approx(0.75)
    if name == "tie_within_k":
        assert rule["at_k"]["setting"] == 0


def test_one_se_rule_with_one_fold_uses_the_best_mean():
    summary = _summary([(2, 0.0, 0.79, np.nan), (3, 0.0, 0.80, np.nan), (4, 0.0, 0.7, np.nan)])
    rule = one_se_rule(summary)
    assert rule["threshold"] == 0.80
    assert rule["k"] == 3
    summary.loc[0, "mean_cindex"] = 0.80
    assert one_se_rule(summary)["k"] == 2


def test_one_se_rule_without_any_score_is_refused():
    summary = _summary([(2, 0.0, np.nan, np.nan), (3, 0.0, np.nan, np.nan)])
    with pytest.raises(ValueError, match="finite mean C-index"):
        one_se_rule(summary)


def test_summarise_gives_mean_and_standard_error():
    rows = []
    cindex = {0: [0.6, 0.7, 0.8], 1: [0.55, np.nan, 0.65], 2: [0.7]}
    rel = {0: [0.1, 0.2, 0.3], 1: [0.2, 0.2, 0.2], 2: [0.5]}
    for s, cs in cindex.items():
        for f, c in enumerate(cs):
            row = {"setting": s, "phase": "grid", **_evaluate.PARAM_DEFAULTS}
            row.update(n_components=2 + s, fold=f, cindex=c, rel_error=rel[s][f])
            rows.append(row)
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # any row order
    summ = summarise(table)
    assert list(summ["setting"]) == [0, 1, 2]
    assert list(summ["n_components"]) == [2, 3, 4]
    for s, cs in cindex.items():
        r = summ[summ["setting"] == s].iloc[0]
        c = np.array(cs)
        c = c[np.isfinite(c)]
        assert r["n_folds"] == c.size
        assert r["mean_cindex"] == pytest.approx(c.mean())
        if c.size > 1:
            assert r["se_cindex"] == pytest.approx(np.std(c, ddof=1) / np.sqrt(c.size))
        else:
            assert np.isnan(r["se_cindex"])
        assert r["rel_error"] == pytest.approx(np.mean(rel[s]))
        assert r["cindex_over_error"] == pytest.approx(r["mean_cindex"] / np.mean(rel[s]))
    assert summ.loc[0, "se_cindex"] == pytest.approx(0.1 / np.sqrt(3))


# ------------------------------------------------------------------ top-gene risk
@pytest.mark.parametrize("n_top", [1, 4, 12, 50])
def test_top_gene_risk_by_hand(n_top):
    rng = np.random.default_rng(21)
    p, k, m = 30, 3, 9
    W = rng.uniform(size=(p, k)) ** 3
    beta = np.array([0.8, -1.5, 0.3])
    X = rng.uniform(size=(p, m))
    # the authors' specificity: scaled weight minus the largest scaled weight elsewhere
    scaled = W / W.max(axis=0)
    spec = np.column_stack(
        [scaled[:, j] - np.delete(scaled, j, axis=1).max(axis=1) for j in range(k)]
    )
    np.testing.assert_allclose(specificity_scores(W), spec)
    top = set()
    for j in range(k):
        top |= set(np.argsort(-spec[:, j])[:n_top].tolist())
    top = np.array(sorted(top))
    theta = W[top] @ beta
    expected = X[top].T @ theta / np.linalg.norm(theta)
    got = top_gene_risk(W, beta, X, n_top)
    assert got.shape == (m,)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if n_top >= p:  # every gene: the full risk, normalised
        full = X.T @ (W @ beta)
        np.testing.assert_allclose(got, full / np.linalg.norm(W @ beta), rtol=1e-12)
    elif k * n_top < p:
        assert top.size < p


def test_top_gene_risk_follows_the_authors_rules_where_the_validation_rule_differs():
    """The search's top-gene risk is the authors' compute_lp: the top genes by specificity
    among all genes (desurv_get_top_genes does not ask for a positive weight), and a
    non-finite ||theta_top|| scores every sample 0. tl.validate's union keeps
    tl.top_genes' rule (positive weights only); both share one score function."""
    from desurv.tl._top_genes import top_gene_score, top_union

    W = np.array([[1.0, 0.0], [0.0, 0.0], [0.2, 1.0], [0.1, 0.5]])
    beta = np.array([1.0, 2.0])
    X = np.arange(12.0).reshape(4, 3)  # genes x samples
    spec = specificity_scores(W)
    # factor 0's top 2 by specificity are genes 0 and 1 (gene 1 has weight 0), factor 1's
    # are genes 2 and 3: the authors' union is every gene
    assert list(np.argsort(-spec[:, 0], kind="stable")[:2]) == [0, 1]
    assert list(np.argsort(-spec[:, 1], kind="stable")[:2]) == [2, 3]
    theta = W @ beta
    np.testing.assert_allclose(
        top_gene_risk(W, beta, X, 2), X.T @ theta / np.linalg.norm(theta), rtol=1e-12
    )
    # validation's union leaves out gene 1, which has no positive weight
    assert top_union(W, 2).tolist() == [True, False, True, True]
    keep = [0, 2, 3]
    theta_v = W[keep] @ beta
    np.testing.assert_allclose(
        top_gene_score(X.T, W, beta, top_union(W, 2)),
        X[keep].T @ theta_v / np.linalg.norm(theta_v),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(top_gene_risk(W, np.array([1e308, 1e308]), X, 2), np.zeros(3))


# ------------------------------------------------------------------ grid search
def test_search_table_has_one_row_per_setting_and_fold(search_top):
    s = search_top
    res = s.result_
    grid = s.grid()
    assert [(g["n_components"], g["alpha"]) for g in grid] == [(2, 0.0), (2, 0.8), (3, 0.0),
                                                               (3, 0.8)]  # fmt: skip
    tab = res.table
    assert len(tab) == len(grid) * 3
    assert list(tab["setting"]) == [i for i in range(len(grid)) for _ in range(3)]
    assert list(tab["fold"]) == [0, 1, 2] * len(grid)
    assert set(tab["phase"]) == {"grid"}
    for i, g in enumerate(grid):
        for _, row in tab[tab["setting"] == i].iterrows():
            assert _params_of_row(row) == g
    assert np.all(np.isfinite(tab["cindex"]))
    np.testing.assert_array_equal(tab["cindex"], tab["cindex_mean"])  # start_rule="mean"
    # fold sizes and event counts follow the folds
    folds = res.folds_
    for f in range(3):
        sub = tab[tab["fold"] == f]
        assert set(sub["n_test"]) == {int(np.sum(folds == f))}
        assert set(sub["n_train"]) == {int(np.sum(folds != f))}
    assert list(res.timing.columns) == ["setting", "fold", "seconds"]
    pd.testing.assert_frame_equal(res.summary, summarise(tab))


def test_search_choices_follow_the_summary(search_top):
    res = search_top.result_
    summ = res.summary
    best = summ.loc[summ["mean_cindex"].idxmax()]
    assert res.best_params_ == {p: (best[p] if p != "n_top" else int(best[p])) for p in PARAMS}
    k, thr, at_setting = _expected_k(summ)
    assert res.k_1se_ == k == search_top.k_1se_
    assert res.one_se_threshold_ == pytest.approx(thr)
    assert res.params_1se_ == {**res.best_params_, "n_components": k}
    at = summ[summ["setting"] == at_setting].iloc[0]
    assert res.params_1se_at_k_["n_components"] == k
    assert res.params_1se_at_k_["alpha"] == at["alpha"]
    assert list(res.k_table_["n_components"]) == [2, 3]
    # the early rule: one row per k, the highest C-index / error at that k
    assert list(res.early_["n_components"]) == [2, 3]
    for _, r in res.early_.iterrows():
        at_k = summ[summ["n_components"] == r["n_components"]]
        assert r["cindex_over_error"] == at_k["cindex_over_error"].max()
    assert search_top.best_params_ == res.best_params_
    assert search_top.table_ is res.table


def test_search_is_reproducible(data, search_top):
    again = _search_fit(*data)
    pd.testing.assert_frame_equal(again.result_.table, search_top.result_.table)


def test_full_score_differs_from_top_score_on_the_same_fits(data, search_top):
    full = _search_fit(*data, score="full").result_.table
    top = search_top.result_.table
    # the same fits (the starts and the training samples are the same)
    np.testing.assert_array_equal(full["rel_error"], top["rel_error"])
    assert not np.array_equal(full["cindex"], top["cindex"])


def test_best_train_start_rule_scores_by_cindex_best_train(data, search_top):
    bt = _search_fit(*data, start_rule="best_train").result_
    mean = search_top.result_.table
    np.testing.assert_array_equal(bt.table["cindex"], bt.table["cindex_best_train"])
    np.testing.assert_array_equal(bt.table["cindex_best_train"], mean["cindex_best_train"])
    np.testing.assert_array_equal(bt.table["cindex_mean"], mean["cindex_mean"])
    assert not np.array_equal(bt.table["cindex"], mean["cindex"])
    expected = bt.table.groupby("setting")["cindex_best_train"].mean().to_numpy()
    np.testing.assert_allclose(bt.summary["mean_cindex"], expected)


# fixed fold scores per (k, alpha), and a reconstruction error per (k, alpha)
FAKE_C = {
    (2, 0.0): [0.60, 0.62, 0.64], (2, 0.5): [0.70, 0.72, 0.74],
    (3, 0.0): [0.71, 0.73, 0.75], (3, 0.5): [0.66, 0.68, 0.70],
    (4, 0.0): [0.65, 0.75, 0.85], (4, 0.5): [0.70, 0.70, 0.70],
}  # fmt: skip
FAKE_REL = {(2, 0.0): 0.1, (2, 0.5): 0.2, (3, 0.0): 0.2, (3, 0.5): 0.1, (4, 0.0): 0.1,
            (4, 0.5): 0.1}  # fmt: skip


def test_search_rules_with_fixed_fold_scores(data, monkeypatch):
    """With made-up fold scores: the best is (k=4, alpha=0) with a wide SE, k=2's best
    (alpha=0.5) clears its threshold, so params_1se_ is (k=2, alpha=0) while the best setting
    evaluated at k=2 is alpha=0.5; the early rule picks by C / error."""
    X, t, e = data
    calls = []

    def fake_unit(X_, t_, e_, train, params, entropy, fold):
        calls.append((params["n_components"], params["alpha"], fold, train.copy(), entropy))
        c = FAKE_C[(params["n_components"], params["alpha"])][fold]
        rel = FAKE_REL[(params["n_components"], params["alpha"])]
        return dict(
            cindex=c, cindex_mean=c, cindex_best_train=c - 0.01, train_cindex=0.9,
            rel_error=rel, n_iter=10.0, converged=1.0, n_train=int(train.sum()),
            n_test=int((~train).sum()), n_events_test=1, n_genes=X_.shape[1], seconds=0.0,
            start_cindex=[c],
        )  # fmt: skip

    def fake(X_, t_, e_, train, path, entropy, fold, cfg, preprocess, cohort, nmf=None):
        return [fake_unit(X_, t_, e_, train, params, entropy, fold) for params in path]

    monkeypatch.setattr(_search, "evaluate_path", fake)
    s = DeSurvSearch(n_components=[2, 3, 4], alpha=[0.0, 0.5], **TINY).fit(X, t, e)
    res = s.result_
    assert len(calls) == 18
    # every (setting, fold) once, in grid order, with that fold's training samples
    assert [c[:3] for c in calls] == [(k, a, f) for k in (2, 3, 4) for a in (0.0, 0.5)
                                      for f in range(3)]  # fmt: skip
    for _, _, fold, train, entropy in calls:
        np.testing.assert_array_equal(train, res.folds_ != fold)
        assert entropy == res.seed_entropy
    assert res.best_params_["n_components"] == 4 and res.best_params_["alpha"] == 0.0
    se = np.std([0.65, 0.75, 0.85], ddof=1) / np.sqrt(3)
    assert res.one_se_threshold_ == pytest.approx(0.75 - se)
    assert res.k_1se_ == 2
    assert res.params_1se_ == {**res.best_params_, "n_components": 2}
    assert res.params_1se_["alpha"] == 0.0
    assert res.params_1se_at_k_["n_components"] == 2 and res.params_1se_at_k_["alpha"] == 0.5
    assert list(res.k_table_["setting"]) == [1, 2, 4]
    assert list(res.early_["n_components"]) == [2, 3, 4]
    assert list(res.early_["alpha"]) == [0.0, 0.5, 0.0]
    assert list(res.early_["setting"]) == [0, 3, 4]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"alpha": [0.0, 1.0]}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"lambda_": [-0.1]}, "lambda_"),
        ({"l1_ratio": [1.5]}, "l1_ratio"),
        ({"n_components": []}, "empty"),
        ({"alpha": []}, "empty"),
        ({"n_components": [0]}, "n_components"),
        ({"n_components": [2.5]}, "n_components"),
        ({"n_top": [0]}, "n_top"),
        ({"method": "nope"}, "method"),
        ({"score": "nope"}, "score"),
        ({"start_rule": "nope"}, "start_rule"),
        ({"n_starts": 0}, "n_starts"),
        ({"n_folds": 1}, "n_folds"),
        ({"method": "bayes", "n_components": 2, "alpha": (0.9, 0.1), "n_trials": 2,
          "n_initial": 2}, "inverted"),
        ({"method": "bayes", "n_components": (2, 4, 5), "n_trials": 2, "n_initial": 2},
         "n_components"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused(data, kw, match):
    X, t, e = data
    params = dict(n_components=[2], alpha=[0.5], **TINY)
    params.update(kw)
    with pytest.raises(ValueError, match=match):
        DeSurvSearch(**params).fit(X[:60], t[:60], e[:60])


def test_k_too_large_for_a_training_fold_is_refused(data):
    X, t, e = data
    with pytest.raises(ValueError, match="n_components=200"):
        DeSurvSearch(n_components=[200], alpha=[0.5], **TINY).fit(X[:60], t[:60], e[:60])


def test_bad_preprocess_and_cohort_are_refused(data):
    X, t, e = data
    with pytest.raises(ValueError, match="transform"):
        FoldPreprocess(transform="log")
    with pytest.raises(ValueError, match="n_top_genes"):
        FoldPreprocess(n_top_genes=1)
    with pytest.raises(ValueError, match="cohort"):
        DeSurvSearch(n_components=[2], **TINY).fit(X, t, e, cohort=["a"] * 3)
    with pytest.raises(TypeError, match="alpha"):
        DeSurvSearch(alpha=["x"], **TINY).fit(X, t, e)


def test_search_stratifies_its_folds_by_cohort(data):
    X, t, e = data
    cohort = np.where(np.arange(e.size) % 3 == 0, "b", "a")
    s = DeSurvSearch(n_components=[2], alpha=[0.5], **TINY).fit(X, t, e, cohort=cohort)
    expected = stratified_folds(e, 3, _fold_rng(SEED), cohort)
    np.testing.assert_array_equal(s.result_.folds_, expected)
    assert not np.array_equal(expected, stratified_folds(e, 3, _fold_rng(SEED)))


def test_random_state_forms_are_checked(data):
    X, t, e = data
    kw = dict(n_components=2, alpha=0.0, n_folds=3, n_starts=1, max_iter=10, progress=False)
    with pytest.raises(TypeError, match="random_state"):
        DeSurvSearch(**kw, random_state=[1, 2]).fit(X, t, e)
    with pytest.raises(ValueError, match="integer random_state"):
        DeSurvSearch(**kw, random_state=True, store="unused").fit(X, t, e)
    # a Generator is accepted (its draw seeds the search; seed_entropy repeats it)
    r = DeSurvSearch(**kw, random_state=np.random.default_rng(0)).fit(X, t, e).result_
    again = DeSurvSearch(**kw, random_state=r.seed_entropy).fit(X, t, e).result_
    pd.testing.assert_frame_equal(r.table, again.table, check_exact=True)


def test_solver_reaches_every_fit_of_the_search(data):
    X, t, e = data
    kw = dict(n_components=2, alpha=0.5, n_folds=3, n_starts=2, max_iter=300, progress=False,
              random_state=0)  # fmt: skip
    paper = dict(solver="mu", warmup_iter=50, warmup_tol=None)  # the paper's recipe
    mu = DeSurvSearch(**kw, **paper).fit(X, t, e).result_
    hals = DeSurvSearch(**kw).fit(X, t, e).result_  # the default
    assert hals.config["config"]["solver"] == "hals"
    # the same folds and starts, another optimiser: fewer iterations per fold
    np.testing.assert_array_equal(mu.folds_, hals.folds_)
    assert hals.table["n_iter"].sum() < mu.table["n_iter"].sum()
    with pytest.raises(ValueError, match="solver"):
        DeSurvSearch(**{**kw, "solver": "lbfgs"}).fit(X, t, e)


def test_bayes_objective_uses_the_same_mean_as_the_summary():
    """The value the Bayesian search optimises is summarise's mean_cindex: a fold with an
    undefined C (NaN) is left out of both (it used to make the objective NaN)."""
    from desurv.selection._search import _Runner, summarise
    from desurv.selection._store import unit_key

    runner = _Runner(None, None, None, None, None, 3, 0, None, None, None, 1, False)
    params = {"n_components": 2, "alpha": 0.5, "lambda_": 0.1, "l1_ratio": 0.5,
              "lambda_w": 0.0, "lambda_h": 0.0, "n_top": 50}  # fmt: skip
    for f, c in enumerate([0.6, float("nan"), 0.7]):
        runner.done[unit_key(params, f)] = {"cindex": c}
    assert runner.value(params) == pytest.approx(0.65)
    table = pd.DataFrame([{"setting": 0, "phase": "grid", **params, "fold": f, "cindex": c,
                           "rel_error": 0.1} for f, c in enumerate([0.6, float("nan"), 0.7])])
    assert summarise(table)["mean_cindex"].iloc[0] == pytest.approx(runner.value(params))
    for f in range(3):
        runner.done[unit_key(params, f)] = {"cindex": float("nan")}
    assert np.isnan(runner.value(params))
