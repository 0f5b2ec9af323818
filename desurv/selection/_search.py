"""Cross-validated model selection: grid and Bayesian search, the one-standard-error rule."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from desurv._validation import (
    check_expression,
    check_random_state,
    check_survival,
    split_survival_target,
    warmup_cap,
)
from desurv.selection._evaluate import (
    PARAM_DEFAULTS,
    EvalConfig,
    evaluate_path,
    nmf_key,
    nmf_phase,
)
from desurv.selection._folds import FoldPreprocess, stratified_folds
from desurv.selection._space import BayesProposer, SearchSpace, gp_lcb_k
from desurv.selection._store import SearchStore, fingerprint, setting_key, unit_key

logger = logging.getLogger("desurv")

__all__ = ["DeSurvSearch", "SearchResult", "one_se_rule", "summarise"]

PARAMS = tuple(PARAM_DEFAULTS)
GRID_DEFAULTS: dict[str, tuple] = {
    "n_components": (2, 3, 4, 5, 6),
    "alpha": (0.0, 0.25, 0.5, 0.75, 0.9),
    "lambda_": (0.1,),
    "l1_ratio": (0.5,),
    "lambda_w": (0.0,),
    "lambda_h": (0.0,),
    "n_top": (None,),
}
# the unit rows' own columns, in order (after "setting", "phase", the parameters and "fold")
UNIT_COLUMNS = (
    "cindex",
    "cindex_mean",
    "cindex_best_train",
    "train_cindex",
    "rel_error",
    "n_iter",
    "converged",
    "n_train",
    "n_test",
    "n_events_test",
    "n_genes",
)
FOLD_SEED_KEY = (2**31,)
BAYES_SEED_KEY = (2**31 + 1,)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """One row per setting from the per-fold table: the parameters, ``mean_cindex``,
    ``se_cindex`` (sd over folds / sqrt(n_folds), NaN for one fold), ``n_folds``,
    ``rel_error`` (mean over folds) and ``cindex_over_error`` (the early paper's criterion:
    mean C-index over mean relative reconstruction error)."""
    rows = []
    for setting, sub in table.groupby("setting", sort=True):
        c = sub["cindex"].to_numpy(float)
        n = int(np.isfinite(c).sum())
        mean = float(np.nanmean(c)) if n else float("nan")
        se = float(np.nanstd(c, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        rel = float(sub["rel_error"].mean())
        row = {"setting": int(setting), "phase": sub["phase"].iloc[0]}
        row.update({p: sub[p].iloc[0] for p in PARAMS})
        row.update(
            mean_cindex=mean,
            se_cindex=se,
            n_folds=n,
            rel_error=rel,
            cindex_over_error=mean / rel if rel > 0 else float("nan"),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def one_se_rule(summary: pd.DataFrame, k: str = "n_components") -> dict[str, Any]:
    """The final paper's choice of k by the one-standard-error rule.

    The best setting overall is the one with the highest ``mean_cindex``; the threshold is
    its mean less its standard error (``se_cindex``; 0 when it has none); for every k its
    best setting; the chosen k is the smallest whose best mean is at or above the threshold.

    ``summary`` needs the columns ``k``, ``mean_cindex`` and ``se_cindex`` (``setting`` is
    carried into ``per_k`` when present).

    Returns
    -------
    dict
        ``k`` (int), ``threshold``, ``best`` (the best setting's row as a dict), ``per_k``
        (DataFrame: k, setting, mean_cindex, se_cindex of each k's best setting) and
        ``at_k`` (the chosen k's best setting as a dict).
    """
    ok = summary[np.isfinite(summary["mean_cindex"].to_numpy(float))]
    if ok.empty:
        raise ValueError("no setting has a finite mean C-index: nothing to choose from")
    best = ok.loc[ok["mean_cindex"].idxmax()]
    se = float(best["se_cindex"]) if np.isfinite(best["se_cindex"]) else 0.0
    threshold = float(best["mean_cindex"]) - se
    best_of_k = ok.loc[ok.groupby(k)["mean_cindex"].idxmax()].sort_values(k)
    cols = [c for c in (k, "setting", "mean_cindex", "se_cindex") if c in ok.columns]
    per_k = best_of_k[cols].reset_index(drop=True)
    clears = best_of_k[best_of_k["mean_cindex"] >= threshold]
    chosen = int(clears[k].iloc[0])
    at_k = clears.iloc[0]
    return {
        "k": chosen,
        "threshold": threshold,
        "best": best.to_dict(),
        "per_k": per_k,
        "at_k": at_k.to_dict(),
    }


def _params_of(row: dict) -> dict[str, Any]:
    out = {}
    for p in PARAMS:
        v = row[p]
        if p == "n_top":
            out[p] = None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
        elif p == "n_components":
            out[p] = int(v)
        else:
            out[p] = float(v)
    return out


@dataclass
class SearchResult:
    """What a search found.

    Attributes
    ----------
    table : DataFrame
        One row per (setting, fold): ``setting`` (evaluation order), ``phase`` ("grid",
        "lhs" or "ei"), the parameters (``n_components``, ``alpha``, ``lambda_``,
        ``l1_ratio``, ``lambda_w``, ``lambda_h``, ``n_top``), ``fold``, ``cindex`` (the
        fold's held-out score), ``cindex_mean`` (mean over starts), ``cindex_best_train``
        (held-out C of the start with the best training C), ``train_cindex``, ``rel_error``
        (||X - WH||_F / ||X||_F on the training samples), ``n_iter`` (median over starts),
        ``converged`` (share), ``n_train``, ``n_test``, ``n_events_test``, ``n_genes``.
    summary : DataFrame
        One row per setting (:func:`summarise`).
    best_params_ : dict
        The setting with the highest mean CV C-index.
    k_1se_ : int
        The k of the one-standard-error rule (:func:`one_se_rule`).
    params_1se_ : dict
        The paper's final choice: ``best_params_`` with k swapped for ``k_1se_``.
    params_1se_at_k_ : dict
        The best evaluated setting at ``k_1se_``.
    one_se_threshold_ : float
    k_table_ : DataFrame
        Each k's best setting (k, setting, mean_cindex, se_cindex).
    early_ : DataFrame
        The early paper's rule: for each k, the setting with the highest
        ``cindex_over_error``.
    k_lcb_ : dict or None
        Bayesian search only: the GP lower-confidence-bound choice of k
        (:func:`desurv.selection.gp_lcb_k`; keys k, threshold, best_params, per_k).
    folds_ : ndarray of int
        The fold of every sample (the same for every setting).
    timing : DataFrame
        Seconds per (setting, fold) unit (kept apart from ``table`` so that tables compare
        bitwise between runs).
    seed_entropy : int
        The root seed: ``random_state`` for an identical rerun.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    best_params_: dict
    k_1se_: int
    params_1se_: dict
    params_1se_at_k_: dict
    one_se_threshold_: float
    k_table_: pd.DataFrame
    early_: pd.DataFrame
    folds_: np.ndarray
    timing: pd.DataFrame
    seed_entropy: int
    method: str
    k_lcb_: dict | None = None
    config: dict = field(default_factory=dict)


class DeSurvSearch:
    """Cross-validated search over DeSurv's hyperparameters (grid or Bayesian).

    Every setting is scored by K-fold cross-validation: folds stratified by event (and
    cohort), the same folds for every setting (one fold seed for the search); in each fold
    ``n_starts`` random starts are fitted to convergence on the training samples as one batch
    (after the preprocessing that learns, fitted on those samples only) and each scores the
    held-out samples by Harrell's C (R's ``survival::concordance`` conventions, higher risk =
    worse). A fold's score is the mean over its starts (the paper) or the held-out C of the
    start with the best training C; a setting's is the mean over folds with
    SE = sd / sqrt(n_folds).

    Parameters
    ----------
    n_components, alpha, lambda_, l1_ratio, lambda_w, lambda_h, n_top : sequence or scalar
        With ``method="grid"``: the values of each parameter (a scalar is one value; None:
        the defaults ``GRID_DEFAULTS``: k 2-6, alpha {0, 0.25, 0.5, 0.75, 0.9}, lambda_ 0.1,
        l1_ratio 0.5, no lambda_w or lambda_h, no top-gene restriction). With
        ``method="bayes"``: a pair ``(low, high)`` (``lambda_``, ``lambda_w`` and
        ``lambda_h`` on a log scale when low > 0; ``(low, high, "lin")`` to force a linear
        one) or a scalar (held fixed); None: the final paper's space (k in [2, 12], alpha in
        [0, 1), lambda_ in [1e-3, 1e3] log, l1_ratio in [0, 1], n_top in [50, 300]) for the
        parameters it has, else the estimator default. ``n_top`` is the number of top genes
        per factor of the held-out top-gene risk (None: the full risk).
    method : {"grid", "bayes"}, default "grid"
    n_trials : int, optional
        Bayesian search: evaluations in all (default 150: the paper's 50 + 100).
    n_initial : int, default 50
        Bayesian search: Latin-hypercube points before the expected-improvement steps.
    n_folds : int, default 5
    n_starts : int, default 30
        Random starts per fold (the paper: 30).
    score : {"top", "full"}, default "top"
        Held-out risk: the paper's top-gene risk X_top^T theta_top / ||theta_top|| (theta =
        W beta over the union of each factor's top ``n_top`` genes; the full risk when
        ``n_top`` is None) or X^T W beta.
    start_rule : {"mean", "best_train"}, default "mean"
    max_iter : int, default 2000
    tol : float, default 1e-5
    warmup_iter : int or None, default None
        The most warm-up iterations (None: half of ``max_iter``; :class:`desurv.DeSurv`'s
        ``warmup_iter``).
    warmup_tol : float or None, default 1e-5
        End a start's warm-up once its NMF part has converged (:class:`desurv.DeSurv`'s
        ``warmup_tol``; 0 or None: exactly ``warmup_iter`` iterations).
    ties : {"efron", "breslow"}, default "efron"
    preprocess : FoldPreprocess, optional
        Preprocessing fitted inside each training fold (gene filter, quantile target) and
        applied to its held-out samples.
    solver : {"hals", "mu"}, default "hals"
        The optimiser of every fit (:class:`desurv.DeSurv`'s ``solver``). The paper's recipe
        is ``solver="mu", warmup_iter=50, warmup_tol=None``: several times slower, and on the
        paper's design its fits stop at ``max_iter`` (docs/model.md, "The solver").
    warm_start : {None, "alpha"}, default None
        ``"alpha"`` (grid only): warm starts along the alpha path. The settings that differ
        only in alpha are fitted on each fold in increasing alpha, the first from the fold's
        random starts and each next one from the previous alpha's fits (start by start, no
        warm-up), so the later alphas need fewer iterations; one job is then a path on a
        fold. None: every setting from the random starts (the paper). The table's rows and
        columns are the same either way (the values differ: the fits start elsewhere).
    random_state : int, SeedSequence or None, default None
        The root seed: folds, starts (start s of fold f: ``SeedSequence(entropy,
        spawn_key=(f, s))``, the same for every setting) and the Bayesian proposals. The
        table does not depend on ``n_jobs``.
    n_jobs : int or None, default None
        Processes (joblib; one BLAS thread each) over the (setting, fold) units; None:
        joblib's default (one, or what an active ``joblib.parallel_config`` says). Inside a
        ``joblib.parallel_config(backend="dask")`` block the units run on a Dask cluster.
    store : str or PathLike, optional
        Checkpoint directory: every finished unit is written to it at once (atomically);
        rerunning with the same store skips the finished units, so an interrupted search
        loses only what was in flight. A store of another search is refused. Needs an
        integer ``random_state``.
    progress : bool or None, default None
        A tqdm progress bar (None: only on a terminal).
    """

    def __init__(
        self,
        *,
        n_components: Any = None,
        alpha: Any = None,
        lambda_: Any = None,
        l1_ratio: Any = None,
        lambda_w: Any = None,
        lambda_h: Any = None,
        n_top: Any = None,
        method: str = "grid",
        n_trials: int | None = None,
        n_initial: int = 50,
        n_folds: int = 5,
        n_starts: int = 30,
        score: str = "top",
        start_rule: str = "mean",
        max_iter: int = 2000,
        tol: float = 1e-5,
        warmup_iter: int | None = None,
        warmup_tol: float | None = 1e-5,
        ties: str = "efron",
        preprocess: FoldPreprocess | None = None,
        solver: str = "hals",
        warm_start: str | None = None,
        random_state: Any = None,
        n_jobs: int | None = None,
        store: Any = None,
        progress: bool | None = None,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.lambda_ = lambda_
        self.l1_ratio = l1_ratio
        self.lambda_w = lambda_w
        self.lambda_h = lambda_h
        self.n_top = n_top
        self.method = method
        self.n_trials = n_trials
        self.n_initial = n_initial
        self.n_folds = n_folds
        self.n_starts = n_starts
        self.score = score
        self.start_rule = start_rule
        self.max_iter = max_iter
        self.tol = tol
        self.warmup_iter = warmup_iter
        self.warmup_tol = warmup_tol
        self.ties = ties
        self.preprocess = preprocess
        self.solver = solver
        self.warm_start = warm_start
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.store = store
        self.progress = progress

    # ---------------------------------------------------------------- parameters
    def _values(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in PARAMS}

    def grid(self) -> list[dict[str, Any]]:
        """Every setting of the grid, in evaluation order (``method="grid"``)."""
        axes = []
        for p, v in self._values().items():
            if v is None:
                vals = GRID_DEFAULTS[p]
            elif isinstance(v, str) or not isinstance(v, Iterable):
                vals = (v,)
            else:
                vals = tuple(v)
            if not vals:
                raise ValueError(f"{p}: an empty list of values; give at least one")
            axes.append([_check_value(p, x) for x in vals])
        return [dict(zip(PARAMS, combo)) for combo in itertools.product(*axes)]

    def space(self) -> SearchSpace:
        """The search space of ``method="bayes"``."""
        paper = {prm.name: prm for prm in SearchSpace.paper_final().params}
        bounds: dict[str, Any] = {}
        fixed: dict[str, Any] = {}
        for p, v in self._values().items():
            if v is None:
                if p in paper:
                    prm = paper[p]
                    bounds[p] = (prm.low, prm.high, "log") if prm.log else (prm.low, prm.high)
                else:
                    fixed[p] = PARAM_DEFAULTS[p]
            elif isinstance(v, (list, tuple)) and len(v) in (2, 3):
                lo, hi = v[0], v[1]
                scale = v[2] if len(v) == 3 else None
                if scale not in (None, "log", "lin"):
                    raise ValueError(f"{p}: the third entry must be 'log' or 'lin', got {scale!r}")
                log = scale == "log" or (
                    scale is None and p in ("lambda_", "lambda_w", "lambda_h") and lo > 0
                )
                bounds[p] = (lo, hi, "log") if log else (lo, hi)
            elif isinstance(v, (list, tuple)):
                raise ValueError(
                    f"{p}={v!r}: with method='bayes' give (low, high) bounds or one value"
                )
            else:
                fixed[p] = _check_value(p, v)
        return SearchSpace.from_bounds(bounds, fixed=fixed)

    # ---------------------------------------------------------------- fitting
    def fit(self, X: Any, time: Any, event: Any = None, *, cohort: Any = None) -> DeSurvSearch:
        """Run the search.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_genes)
            Nonnegative expression, samples x genes (the transpose of the paper's X).
        time, event : array-like, shape (n_samples,)
            Follow-up times (>= 0) and event indicators; or ``time`` alone as a structured
            array / DataFrame with event and time fields (scikit-survival's convention).
        cohort : array-like, shape (n_samples,), optional
            Cohort of each sample: folds are stratified by event x cohort and the gene
            filter of ``preprocess`` is fitted per cohort.

        Returns
        -------
        DeSurvSearch
            self, with ``result_`` (:class:`SearchResult`), ``best_params_``, ``k_1se_``,
            ``params_1se_``, ``table_``, ``summary_``.
        """
        separate = event is not None  # (X, time, event), not scikit-learn's single y
        time, event = split_survival_target(time, event)
        Xa, samples, _ = check_expression(X)
        t, e = check_survival(time, event, Xa.shape[0], samples, refuse_labelled_series=separate)
        coh = None if cohort is None else np.asarray(cohort).astype(str)
        if coh is not None and coh.shape != (Xa.shape[0],):
            raise ValueError(f"cohort has shape {coh.shape}, need ({Xa.shape[0]},)")
        if self.method not in ("grid", "bayes"):
            raise ValueError(f"method must be 'grid' or 'bayes', got {self.method!r}")
        cfg = EvalConfig(
            n_starts=self.n_starts,
            max_iter=self.max_iter,
            tol=self.tol,
            warmup=warmup_cap(self.warmup_iter, self.max_iter),
            warmup_tol=self.warmup_tol,
            ties=self.ties,
            score=self.score,
            start_rule=self.start_rule,
            solver=self.solver,
            warm_start=self.warm_start,
        )
        if self.warm_start is not None and self.method != "grid":
            raise ValueError(
                f"warm_start={self.warm_start!r} needs method='grid' (a path of alpha values "
                "at fixed other parameters); the Bayesian search proposes one setting at a time"
            )
        if self.store is not None and (
            not isinstance(self.random_state, (int, np.integer))
            or isinstance(self.random_state, bool)
        ):
            raise ValueError(
                "a checkpoint store needs an integer random_state (the resumed search must "
                "draw the same folds and starts)"
            )
        seq = check_random_state(self.random_state)
        # a spawned SeedSequence differs from its parent only by its spawn_key: fold it in
        entropy = (
            int(seq.entropy)
            if not seq.spawn_key and isinstance(seq.entropy, (int, np.integer))
            else int.from_bytes(seq.generate_state(4, dtype=np.uint32).tobytes(), "little")
        )
        folds = stratified_folds(
            e,
            self.n_folds,
            np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=FOLD_SEED_KEY)),
            coh,
        )
        n_folds = int(folds.max()) + 1
        if self.method == "grid":
            settings = self.grid()
            space_spec: dict = {"grid": [_jsonable_params(s) for s in settings]}
            space = None
        else:
            space = self.space()
            space_spec = space.spec()
        manifest = {
            "data": fingerprint(Xa, t, e, coh),
            "method": self.method,
            "space": space_spec,
            "n_trials": self.n_trials,
            "n_initial": self.n_initial,
            "config": cfg.spec(),
            "preprocess": None if self.preprocess is None else self.preprocess.spec(),
            "folds": folds.tolist(),
            "seed": entropy,
        }
        store = None if self.store is None else SearchStore(self.store, manifest)
        runner = _Runner(
            Xa,
            t,
            e,
            coh,
            folds,
            n_folds,
            entropy,
            cfg,
            self.preprocess,
            store,
            self.n_jobs,
            self.progress,
        )
        k_lcb = None
        if self.method == "grid":
            runner.run([(s, "grid") for s in settings])
        else:
            n_trials = 150 if self.n_trials is None else int(self.n_trials)
            n_init = min(int(self.n_initial), n_trials)
            if n_trials < 1 or n_init < 1:
                raise ValueError("n_trials and n_initial must be >= 1")
            bayes_seed = int(
                np.random.SeedSequence(entropy, spawn_key=BAYES_SEED_KEY).generate_state(1)[0]
            )
            proposer = BayesProposer(space, n_initial=n_init, random_state=bayes_seed)
            design = [dict(proposer.design[i]) for i in range(n_init)]
            runner.run([(_complete(d), "lhs") for d in design])
            hist_p = [_searched(d, space) for d in design]
            hist_v = [runner.value(_complete(d)) for d in design]
            for _ in range(n_trials - n_init):
                prop = proposer.propose(hist_p, hist_v)
                full = _complete(prop)
                runner.run([(full, "ei")])
                hist_p.append(_searched(prop, space))
                hist_v.append(runner.value(full))
            if "n_components" in space.names:
                k_lcb = gp_lcb_k(hist_p, hist_v, random_state=bayes_seed, space=space)
        runner.close()
        table = runner.table()
        summary = summarise(table)
        rule = one_se_rule(summary)
        best = _params_of(rule["best"])
        finite = summary[np.isfinite(summary["cindex_over_error"].to_numpy(float))]
        early = (
            finite.loc[finite.groupby("n_components")["cindex_over_error"].idxmax()]
            .sort_values("n_components")
            .reset_index(drop=True)
        )
        self.result_ = SearchResult(
            table=table,
            summary=summary,
            best_params_=best,
            k_1se_=rule["k"],
            params_1se_={**best, "n_components": rule["k"]},
            params_1se_at_k_=_params_of(rule["at_k"]),
            one_se_threshold_=rule["threshold"],
            k_table_=rule["per_k"],
            early_=early,
            folds_=folds,
            timing=runner.timing(),
            seed_entropy=entropy,
            method=self.method,
            k_lcb_=k_lcb,
            config=manifest,
        )
        self.best_params_ = self.result_.best_params_
        self.k_1se_ = self.result_.k_1se_
        self.params_1se_ = self.result_.params_1se_
        self.table_ = table
        self.summary_ = summary
        return self


def _check_value(p: str, v: Any) -> Any:
    if p in ("n_top", "n_components"):
        if v is None and p == "n_top":
            return None
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            none = " or None" if p == "n_top" else ""
            raise ValueError(f"{p} values must be integers >= 1{none}, got {v!r}")
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{p} values must be numbers, got {v!r}") from None
    if not math.isfinite(f) or f < 0:
        raise ValueError(f"{p} values must be finite and >= 0, got {v!r}")
    if p == "alpha" and f >= 1:
        raise ValueError(f"alpha values must be in [0, 1), got {v!r}")
    if p == "l1_ratio" and f > 1:
        raise ValueError(f"l1_ratio values must be in [0, 1], got {v!r}")
    if p == "lambda_w" and f != 0:
        raise ValueError(
            "lambda_w has no effect in the default (scale-free) model, whose W has unit-norm "
            "columns; leave it at 0"
        )
    return f


def _complete(params: dict) -> dict[str, Any]:
    full = dict(PARAM_DEFAULTS)
    full.update({k: v for k, v in params.items() if k in PARAMS})
    return {p: _check_value(p, full[p]) for p in PARAMS}


def _searched(params: dict, space: SearchSpace) -> dict[str, Any]:
    return {k: params[k] for k in space.names}


def _jsonable_params(params: dict) -> dict[str, Any]:
    return {
        k: (None if v is None else (int(v) if k in ("n_components", "n_top") else float(v)))
        for k, v in params.items()
    }


def path_key(params: dict) -> str:
    """The key shared by the settings of one warm-start path: the setting without alpha."""
    return setting_key({p: v for p, v in params.items() if p != "alpha"})


def _unit_job(X, t, e, train, path, entropy, fold, cfg, preprocess, cohort, nmf="compute"):
    from desurv.estimator import _one_blas_thread

    with _one_blas_thread():
        return evaluate_path(X, t, e, train, path, entropy, fold, cfg, preprocess, cohort, nmf)


def _nmf_job(X, t, e, train, params, entropy, fold, cfg, preprocess, cohort):
    from desurv.estimator import _one_blas_thread

    with _one_blas_thread():
        return nmf_phase(X, t, e, train, params, entropy, fold, cfg, preprocess, cohort)


class _Runner:
    """Evaluates (setting, fold) units in parallel, writes each to the store as it finishes,
    and keeps the rows in a deterministic order (setting order, then fold). With
    ``warm_start="alpha"`` one job is a path of settings on one fold (its units are written
    when the path finishes; a path with a missing unit is refitted whole, which gives the
    stored units again bitwise). The NMF phase of the settings that share an
    :func:`~desurv.selection._evaluate.nmf_key` is computed once per fold (its own jobs,
    before the settings that need it) and kept for the runner's life, so a later batch of
    the Bayesian search reuses it; it is a function of the fold, k and the ridges only, so
    the table is the same whichever job computes it, and a resumed search recomputes it."""

    def __init__(
        self, X, t, e, cohort, folds, n_folds, entropy, cfg, preprocess, store, n_jobs, progress
    ) -> None:
        self.X, self.t, self.e, self.cohort = X, t, e, cohort
        self.folds, self.n_folds, self.entropy, self.cfg = folds, n_folds, entropy, cfg
        self.preprocess, self.store = preprocess, store
        # None: joblib's default (1 process, or the active backend's, e.g. a Dask cluster)
        self.n_jobs = None if n_jobs is None else int(n_jobs)
        self.done: dict[str, dict] = {} if store is None else store.load()
        self.order: list[tuple[dict, str]] = []
        self.seen: set[str] = set()
        self.bar = None
        self.progress = progress
        self.best = -np.inf
        self.nmf: dict[tuple[str, int], Any] = {}  # (nmf_key, fold) -> NMFPhase

    def _bar(self, total_new: int):
        if self.progress is False:
            return None
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(
                total=0,
                desc="desurv search",
                unit="fold",
                disable=None if self.progress is None else False,
            )
        self.bar.total += total_new
        self.bar.refresh()
        return self.bar

    def _map(self, fn, args: list[tuple], lazy: bool = False):
        """``fn(*a)`` for every ``a`` in ``args``, in order: in this process with ``n_jobs=1``,
        else through joblib (``lazy``: results as they come, for the store and the bar)."""
        if self.n_jobs == 1:
            results = (fn(*a) for a in args)
            return results if lazy else list(results)
        from joblib import Parallel, delayed

        par = Parallel(n_jobs=self.n_jobs, return_as="generator" if lazy else "list")
        return par(delayed(fn)(*a) for a in args)

    def run(self, settings: Sequence[tuple[dict, str]]) -> None:
        todo = []  # (keys, path of settings, fold): one job each
        new = []
        for params, phase in settings:
            key0 = setting_key(params)
            if key0 in self.seen:
                continue
            self.seen.add(key0)
            self.order.append((params, phase))
            new.append(params)
        for path in self._paths(new):
            for f in range(self.n_folds):
                keys = [unit_key(params, f) for params in path]
                if any(key not in self.done for key in keys):
                    todo.append((keys, path, f))
        if not todo:
            return
        self._nmf_phases(todo)
        bar = self._bar(sum(key not in self.done for keys, _, _ in todo for key in keys))
        args = [
            (self.X, self.t, self.e, self.folds != f, path, self.entropy, f, self.cfg,
             self.preprocess, self.cohort, self.nmf.get((nmf_key(path[0]), f)))
            for _, path, f in todo
        ]  # fmt: skip
        results = self._map(_unit_job, args, lazy=True)
        for (keys, path, f), recs in zip(todo, results):
            for key, params, rec in zip(keys, path, recs):
                if key in self.done:  # a resumed path: this setting was stored already
                    continue
                rec = {"params": _jsonable_params(params), "fold": f, **rec}
                self.done[key] = rec
                if self.store is not None:
                    self.store.write(key, rec)
                logger.info("evaluated %s fold %d: C %.4f", params, f, rec["cindex"])
                if bar is not None:
                    self.best = max(self.best, rec["cindex"])
                    bar.update(1)
                    bar.set_postfix(best_fold_C=f"{self.best:.3f}")

    def _nmf_phases(self, todo) -> None:
        """Compute the NMF phases ``todo``'s jobs need and the runner does not hold yet."""
        if self.cfg.warmup <= 0:
            return
        need: dict[tuple[str, int], dict] = {}
        for _, path, f in todo:
            key = (nmf_key(path[0]), f)
            if key not in self.nmf:
                need.setdefault(key, path[0])
        args = [
            (self.X, self.t, self.e, self.folds != f, params, self.entropy, f, self.cfg,
             self.preprocess, self.cohort)
            for (_, f), params in need.items()
        ]  # fmt: skip
        for key, res in zip(need, self._map(_nmf_job, args)):
            logger.info("NMF phase of %s fold %d: %d iterations (median)", key[0], key[1],
                        int(np.median(res.n_iter)))  # fmt: skip
            self.nmf[key] = res

    def _paths(self, settings: list[dict]) -> list[list[dict]]:
        """The jobs' settings: one each, or with ``warm_start="alpha"`` the settings that
        differ only in alpha together, in increasing alpha (in order of first appearance)."""
        if self.cfg.warm_start != "alpha":
            return [[params] for params in settings]
        paths: dict[str, list[dict]] = {}
        for params in settings:
            paths.setdefault(path_key(params), []).append(params)
        return [sorted(path, key=lambda q: q["alpha"]) for path in paths.values()]

    def value(self, params: dict) -> float:
        """Mean held-out C over the folds that have one (as :func:`summarise`: a fold whose
        C is undefined, e.g. no comparable pair, is left out; NaN when every fold is)."""
        c = np.asarray(
            [self.done[unit_key(params, f)]["cindex"] for f in range(self.n_folds)], dtype=float
        )
        return float(np.nanmean(c)) if np.isfinite(c).any() else float("nan")

    def table(self) -> pd.DataFrame:
        rows = []
        for i, (params, phase) in enumerate(self.order):
            for f in range(self.n_folds):
                rec = self.done[unit_key(params, f)]
                row = {"setting": i, "phase": phase, **params, "fold": f}
                row.update({c: rec[c] for c in UNIT_COLUMNS})
                rows.append(row)
        tab = pd.DataFrame(rows)
        tab["n_top"] = tab["n_top"].astype(object).where(tab["n_top"].notna(), None)
        return tab

    def timing(self) -> pd.DataFrame:
        rows = [
            {"setting": i, "fold": f, "seconds": self.done[unit_key(p, f)]["seconds"]}
            for i, (p, _) in enumerate(self.order)
            for f in range(self.n_folds)
        ]
        return pd.DataFrame(rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
