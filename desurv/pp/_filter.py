"""``desurv.pp.filter_genes``: the paper's top highly expressed and variable genes."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.stats import rankdata

from desurv._anndata import (
    check_adata,
    check_finite,
    check_unique_genes,
    get_matrix,
    layer_name,
    record_pp_step,
)

logger = logging.getLogger("desurv")


def _top_by_rank_sum(X: np.ndarray, n_top: int) -> tuple[np.ndarray, np.ndarray]:
    """Rank sum (mean rank + variance rank, 1 = highest, average ties) and the kept mask."""
    mean = X.mean(axis=0)
    var = X.var(axis=0, ddof=1)
    rank_sum = rankdata(-mean, method="average") + rankdata(-var, method="average")
    order = np.argsort(rank_sum, kind="stable")
    keep = np.zeros(X.shape[1], dtype=bool)
    keep[order[: min(n_top, X.shape[1])]] = True
    return rank_sum, keep


def filter_genes(
    adata: AnnData,
    n_top: int = 1000,
    *,
    cohort_key: str | None = None,
    layer: str | None = None,
    subset: bool = True,
    key_added: str = "desurv_filter",
    copy: bool = False,
) -> AnnData | None:
    """Keep the top highly expressed and variable genes (the DeSurv paper's gene filter).

    Within each cohort, genes are ranked by their mean and by their variance across samples
    (rank 1 = highest; ties get average ranks; sample variance, ``ddof=1`` as R's ``var``);
    the ``n_top`` genes with the smallest sum of the two ranks are kept (ties in the sum
    are broken by the order of ``adata.var``). With ``cohort_key`` this is done per cohort
    and the kept sets are intersected, so a gene survives only if it is among the top in
    every cohort.

    Parameters
    ----------
    adata : AnnData
        Samples x genes (apply :func:`desurv.pp.log1p` first for counts).
    n_top : int, default 1000
        Number of genes kept per cohort (all genes if larger than the number of genes).
    cohort_key : str, optional
        Column of ``adata.obs`` naming the cohort of each sample; it must hold at least two
        cohorts. Default: all samples form one cohort.
    layer : str, optional
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    subset : bool, default True
        Subset ``adata`` to the kept genes (in place, or on the copy); otherwise only mark them.
    key_added : str, default "desurv_filter"
        Prefix of the keys written.
    copy : bool, default False
        Work on and return a copy.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes:

        - ``adata.var[key_added]``: bool, gene kept;
        - ``adata.var[f"{key_added}_rank_sum"]``: mean-rank + variance-rank, averaged over
          cohorts;
        - ``adata.var[f"{key_added}_n_cohorts"]``: in how many cohorts the gene is in the top;
        - ``adata.uns[key_added]``: ``'n_top'``, ``'cohort_key'``, ``'cohorts'``,
          ``'n_kept'``, ``'layer'``;
        - ``adata.uns['desurv_pp']``: ``'filter_genes'`` appended to ``'steps'``;
        - with ``subset=True`` the AnnData keeps only the kept genes.

    Raises
    ------
    KeyError
        If ``cohort_key`` is not a column of ``adata.obs``.
    ValueError
        If ``n_top`` < 1, gene names are duplicated, some samples have no cohort label, the
        cohort key holds a single cohort, a cohort has fewer than two samples, or no gene is
        kept in every cohort.
    """
    check_adata(adata)
    if isinstance(n_top, bool) or not isinstance(n_top, int | np.integer) or n_top < 1:
        raise ValueError(f"n_top must be a positive integer, got {n_top!r}")
    check_unique_genes(adata, "adata (filter_genes input)")
    X = get_matrix(adata, layer)
    check_finite(X, adata, f"{layer_name(layer)} (filter_genes input)")
    if cohort_key is None:
        groups = pd.Series("all", index=adata.obs_names)
    else:
        if cohort_key not in adata.obs.columns:
            raise KeyError(
                f"cohort_key {cohort_key!r} is not a column of adata.obs; columns: "
                f"{list(adata.obs.columns)}"
            )
        labels = adata.obs[cohort_key]
        unlabelled = np.asarray(labels.isna())
        if unlabelled.any():
            raise ValueError(
                f"adata.obs[{cohort_key!r}] has no cohort label for {int(unlabelled.sum())} of "
                f"{adata.n_obs} samples (e.g. {list(adata.obs_names[unlabelled][:5])}); they "
                "would form a cohort named 'nan'/'None' of their own. Label them, or drop "
                "them first (adata = adata[adata.obs[cohort_key].notna()].copy())."
            )
        groups = labels.astype(str)
        if groups.nunique() < 2:
            raise ValueError(
                f"cohort_key {cohort_key!r} holds a single cohort ({groups.iloc[0]!r}); the "
                "per-cohort intersection needs at least two. Pass cohort_key=None to filter "
                "one cohort."
            )
    cohorts = list(pd.unique(groups))
    rank_sums = []
    keeps = []
    for c in cohorts:
        rows = np.asarray(groups == c)
        if rows.sum() < 2:
            raise ValueError(
                f"cohort {c!r} has {int(rows.sum())} sample; mean and variance ranks need at "
                "least two samples per cohort"
            )
        rs, keep = _top_by_rank_sum(X[rows], int(n_top))
        rank_sums.append(rs)
        keeps.append(keep)
    n_cohorts = np.sum(keeps, axis=0)
    kept = n_cohorts == len(cohorts)
    if not kept.any():
        raise ValueError(
            f"no gene is among the top {n_top} of every cohort ({cohorts}); increase n_top"
        )
    if copy:
        adata = adata.copy()
    adata.var[key_added] = kept
    adata.var[f"{key_added}_rank_sum"] = np.mean(rank_sums, axis=0)
    adata.var[f"{key_added}_n_cohorts"] = n_cohorts.astype(np.int64)
    adata.uns[key_added] = {
        "n_top": int(n_top),
        "cohort_key": "" if cohort_key is None else str(cohort_key),
        "cohorts": np.asarray(cohorts, dtype=object),
        "n_kept": int(kept.sum()),
        "layer": layer_name(layer),
    }
    record_pp_step(adata, "filter_genes", layer)
    logger.info("filter_genes kept %d of %d genes", int(kept.sum()), kept.size)
    if subset:
        adata._inplace_subset_var(kept)
    return adata if copy else None
