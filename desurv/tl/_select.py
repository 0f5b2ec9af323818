"""``desurv.tl.select``: cross-validated model selection on an AnnData."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import check_adata, get_matrix, get_survival, h5ad_safe, pp_steps
from desurv.exceptions import DataWarning
from desurv.selection import DeSurvSearch, FoldPreprocess, SearchResult

logger = logging.getLogger("desurv")

__all__ = ["select"]


def select(
    adata: AnnData,
    time_key: str = "time",
    event_key: str = "event",
    *,
    n_components: Any = None,
    alpha: Any = None,
    lambda_: Any = None,
    l1_ratio: Any = None,
    lambda_w: Any = None,
    lambda_h: Any = None,
    n_top: Any = None,
    method: str = "grid",
    n_folds: int = 5,
    n_starts: int = 30,
    n_trials: int | None = None,
    n_initial: int = 50,
    score: str = "top",
    start_rule: str = "mean",
    filter_genes: int | None = None,
    transform: str | None = None,
    cohort_key: str | None = None,
    layer: str | None = None,
    random_state: Any = None,
    n_jobs: int | None = None,
    store: Any = None,
    max_iter: int = 2000,
    tol: float = 1e-5,
    warmup_iter: int | None = None,
    warmup_tol: float | None = 1e-5,
    progress: bool | None = None,
    refit: bool | str = False,
    refit_init: str = "random",
    refit_n_fits: int = 100,
    solver: str = "hals",
    warm_start: str | None = None,
    key_added: str = "desurv",
    copy: bool = False,
) -> SearchResult | tuple[SearchResult, AnnData]:
    """Choose k, alpha, lambda_, l1_ratio and n_top by cross-validation on a cohort.

    Runs :class:`desurv.selection.DeSurvSearch` on the samples x genes matrix of ``adata``
    (the paper's X transposed) with survival from ``adata.obs``: folds stratified by event
    (and cohort), ``n_starts`` starts per fold fitted as one batch, the held-out Harrell's C
    (R's conventions) of the top-gene or full risk, grid or Bayesian search, the
    one-standard-error rule for k. The preprocessing that learns from data
    (``filter_genes``, a ``"quantile"`` target) is fitted inside each training fold, never on
    all samples first.

    Parameters
    ----------
    adata : AnnData
        Samples x genes, nonnegative (log1p'd counts, or values already on the scale the
        model takes).
    time_key, event_key : str
        Columns of ``adata.obs`` with follow-up time (>= 0) and event (0/1).
    n_components, alpha, lambda_, l1_ratio, lambda_w, lambda_h, n_top
        Grid values (``method="grid"``) or ``(low, high)`` bounds / fixed scalars
        (``method="bayes"``); see :class:`desurv.selection.DeSurvSearch`.
    method : {"grid", "bayes"}, default "grid"
    n_folds : int, default 5
    n_starts : int, default 30
    n_trials, n_initial : int
        Bayesian search: evaluations in all (default 150) and Latin-hypercube points first
        (default 50).
    score : {"top", "full"}, default "top"
    start_rule : {"mean", "best_train"}, default "mean"
    filter_genes : int, optional
        Keep this many genes by mean rank + variance rank (:func:`desurv.pp.filter_genes`),
        fitted on each training fold (per cohort with ``cohort_key``).
    transform : {None, "rank", "quantile"}
        After the filter: ranks within sample scaled to (0, 1] (the paper), or quantile
        normalisation to the training fold's target.
    cohort_key : str, optional
        Column of ``adata.obs`` with the cohort: folds stratified by event x cohort.
    layer : str, optional
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    random_state, n_jobs, store, max_iter, tol, warmup_iter, warmup_tol, progress, solver,
    warm_start
        See :class:`desurv.selection.DeSurvSearch`.
    refit : bool or {"best", "1se"}, default False
        Fit the final model on all samples with :func:`desurv.tl.fit` (``n_init = n_starts``
        random starts) at the best setting (``True`` or ``"best"``) or at the paper's choice
        (``"1se"``: the best setting with k from the one-standard-error rule), after
        fitting the same preprocessing on all samples. With ``warm_start="alpha"`` the refit
        follows the path the search scored: the searched alphas up to the chosen one in
        increasing order, the first from the ``refit_init`` start, each next one
        ``tl.fit(init="warm")`` from the previous one (recorded as
        ``uns[key_added]["alpha_path"]``).
    refit_init : {"random", "consensus"}, default "random"
        The refit's start: the best of ``n_starts`` random starts, or the final paper's
        consensus seed (``tl.fit(init="consensus")``) of ``refit_n_fits`` fits with the
        chosen ``n_top`` top genes per factor (100 when the setting has none).
    refit_n_fits : int, default 100
        Fits behind the consensus seed (the paper: 100).
    key_added : str, default "desurv"
        Prefix of the keys written.
    copy : bool, default False
        With ``refit``: write into a copy and return it.

    Returns
    -------
    SearchResult or tuple of (SearchResult, AnnData)
        The search result; with ``refit`` and ``copy=True`` also the refitted copy.
        Writes ``adata.uns[f"{key_added}_select"]``: ``'summary'`` (the per-setting table as
        a dict of columns), ``'best_params'``, ``'k_1se'``, ``'params_1se'``,
        ``'threshold'``, ``'method'``, ``'solver'``, ``'warm_start'`` (``"none"`` or ``"alpha"``),
        ``'seed'``, ``'folds'`` (fold of every sample); an
        ``n_top`` of None (no top-gene restriction) is written as NaN. With ``refit`` also
        what :func:`desurv.tl.fit` writes under ``key_added``, and with a ``transform`` the
        values the final model was fitted on in ``adata.layers[f"{key_added}_input"]`` (0
        for filtered genes).
    """
    check_adata(adata)
    if refit not in (False, True, "best", "1se"):
        raise ValueError(f"refit must be False, True, 'best' or '1se', got {refit!r}")
    if refit_init not in ("random", "consensus"):
        raise ValueError(f"refit_init must be 'random' or 'consensus', got {refit_init!r}")
    time, event = get_survival(adata, time_key, event_key, require_event=True)
    X = get_matrix(adata, layer)
    cohort = None
    if cohort_key is not None:
        if cohort_key not in adata.obs.columns:
            raise KeyError(
                f"cohort_key={cohort_key!r} is not a column of adata.obs (columns: "
                f"{list(adata.obs.columns)})"
            )
        col = adata.obs[cohort_key]
        if col.isna().any():
            raise ValueError(
                f"adata.obs[{cohort_key!r}] has {int(col.isna().sum())} missing cohort labels; "
                "fill them or drop those samples"
            )
        cohort = col.astype(str).to_numpy()
    if "filter_genes" in pp_steps(adata):
        warnings.warn(
            "adata was gene-filtered on all samples (desurv.pp.filter_genes) before the "
            "search: the filter saw the held-out folds. For an unbiased CV estimate pass "
            "filter_genes=N to tl.select instead, which fits the filter inside each fold",
            DataWarning,
            stacklevel=2,
        )
    pre = None
    if filter_genes is not None or transform is not None:
        pre = FoldPreprocess(n_top_genes=filter_genes, transform=transform)
    search = DeSurvSearch(
        n_components=n_components,
        alpha=alpha,
        lambda_=lambda_,
        l1_ratio=l1_ratio,
        lambda_w=lambda_w,
        lambda_h=lambda_h,
        n_top=n_top,
        method=method,
        n_trials=n_trials,
        n_initial=n_initial,
        n_folds=n_folds,
        n_starts=n_starts,
        score=score,
        start_rule=start_rule,
        max_iter=max_iter,
        tol=tol,
        warmup_iter=warmup_iter,
        warmup_tol=warmup_tol,
        preprocess=pre,
        solver=solver,
        warm_start=warm_start,
        random_state=random_state,
        n_jobs=n_jobs,
        store=store,
        progress=progress,
    )
    Xdf = pd.DataFrame(X, index=adata.obs_names.astype(str), columns=adata.var_names.astype(str))
    search.fit(Xdf, time, event, cohort=cohort)
    result = search.result_
    target = adata.copy() if (refit and copy) else adata
    summary = result.summary.copy()
    # h5ad cannot write None in a numeric column: "no top-gene restriction" is NaN there
    summary["n_top"] = pd.to_numeric(summary["n_top"], errors="coerce").astype(float)
    best = {k: (np.nan if v is None else v) for k, v in result.best_params_.items()}
    one_se = {k: (np.nan if v is None else v) for k, v in result.params_1se_.items()}
    target.uns[f"{key_added}_select"] = {
        "summary": h5ad_safe(summary),
        "best_params": h5ad_safe(best),
        "k_1se": int(result.k_1se_),
        "params_1se": h5ad_safe(one_se),
        "threshold": float(result.one_se_threshold_),
        "method": method,
        "solver": str(solver),
        "warm_start": "none" if warm_start is None else str(warm_start),
        "seed": str(result.seed_entropy),
        "folds": np.asarray(result.folds_, dtype=np.int64),
    }
    if refit:
        from desurv.tl._fit import fit

        chosen = result.params_1se_ if refit == "1se" else result.best_params_
        params = dict(chosen)
        n_top_chosen = params.pop("n_top", None)
        if refit_init == "consensus":
            top = 100 if n_top_chosen is None else int(n_top_chosen)
            start = dict(init="consensus", consensus_n_fits=refit_n_fits, consensus_n_top=top)
        else:
            start = dict(n_init=n_starts)
        params.pop("lambda_w", None)
        k = int(params.pop("n_components"))
        genes = None
        fit_layer = layer
        if pre is not None:
            all_samples = np.ones(adata.n_obs, dtype=bool)
            Xp, kept = pre.fit_apply(X, all_samples, cohort)
            genes = kept
            if pre.transform is not None:
                full = np.zeros_like(X)
                full[:, kept] = Xp
                fit_layer = f"{key_added}_input"
                target.layers[fit_layer] = full
        # with warm starts along the alpha path the refit follows the path the search scored:
        # the grid's alphas up to the chosen one, each fitted from the previous one's fit
        path = [params["alpha"]]
        if warm_start == "alpha":
            path = _alpha_path(result.summary, chosen)
        for i, a in enumerate(path):
            step = start if i == 0 else dict(init="warm")
            fit(
                target,
                time_key,
                event_key,
                k,
                layer=fit_layer,
                genes=genes,
                key_added=key_added,
                max_iter=max_iter,
                tol=tol,
                warmup_iter=warmup_iter if i == 0 else 0,
                warmup_tol=warmup_tol,
                random_state=result.seed_entropy,
                solver=solver,
                **step,
                **{**params, "alpha": a},
            )
        if len(path) > 1:
            target.uns[key_added]["alpha_path"] = np.asarray(path, dtype=float)
        if pre is not None and pre.transform is not None:
            _record_fold_transform(target.uns[key_added], pre.transform, X, kept,
                                   adata.var_names)  # fmt: skip
        logger.info("tl.select: refitted k=%d with %s", k, params)
        if copy:
            return result, target
    return result


def _alpha_path(summary: pd.DataFrame, chosen: dict) -> list[float]:
    """The searched alphas up to ``chosen["alpha"]`` on ``chosen``'s warm-start path (the
    settings of ``summary`` that differ from it only in alpha), increasing."""
    from desurv.selection._search import _params_of, path_key  # noqa: PLC0415

    key = path_key(chosen)
    top = float(chosen["alpha"])
    rows = (_params_of(r) for r in summary.to_dict("records"))
    alphas = {float(p["alpha"]) for p in rows if path_key(p) == key and p["alpha"] <= top}
    return sorted(alphas) or [top]


def _record_fold_transform(rec: dict, transform: str, X: np.ndarray, kept: np.ndarray,
                           var_names) -> None:  # fmt: skip
    """Add the transform the refit's input went through (fitted on all samples, as inside
    each training fold) to the fit record's preprocessing, so that :func:`desurv.tl.score`
    and :func:`desurv.tl.validate` apply it to new cohorts: the ranks scaled by 1/p
    (``rank_transform`` with ``scale``) or the quantile target."""
    from desurv.pp._quantile import quantile_target  # noqa: PLC0415

    pp_rec = dict(rec.get("preprocessing", {}))
    steps = [str(x) for x in np.asarray(pp_rec.get("steps", []), dtype=object).ravel()]
    names = np.asarray(np.asarray(var_names)[kept], dtype=object)
    if transform == "rank":
        steps.append("rank_transform")
        pp_rec["rank_transform"] = {"genes": names, "n_genes": int(kept.sum()),
                                    "scale": 1.0 / float(kept.sum())}  # fmt: skip
    else:
        steps.append("quantile_normalize")
        pp_rec["quantile_normalize"] = {"genes": names,
                                        "target": np.sort(quantile_target(X[:, kept]))}  # fmt: skip
    pp_rec["steps"] = np.asarray(steps, dtype=object)
    rec["preprocessing"] = pp_rec
