"""``desurv.pp.rank_transform``: within-sample ranks (average ties, as R's ``rank``)."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData
from scipy.stats import rankdata

from desurv._anndata import (
    check_adata,
    check_finite,
    check_unique_genes,
    get_matrix,
    layer_name,
    record_pp_step,
    set_matrix,
)

logger = logging.getLogger("desurv")


def rank_rows(X: np.ndarray, n_target: int | None = None) -> np.ndarray:
    """Average ranks within each row of a samples x genes array.

    With ``n_target`` (the number of genes ranked at training time) the ranks 1..p of a row
    with p genes are mapped linearly onto 1..n_target, ``1 + (n_target - 1) (r - 1)/(p - 1)``,
    so a new cohort measured on fewer genes lands on the training scale.
    """
    ranks = rankdata(X, method="average", axis=1)
    p = X.shape[1]
    if n_target is not None and n_target != p:
        if p == 1:
            return np.full_like(ranks, (1.0 + n_target) / 2.0)
        ranks = 1.0 + (n_target - 1.0) * (ranks - 1.0) / (p - 1.0)
    return ranks


def rank_transform(
    adata: AnnData, *, layer: str | None = None, copy: bool = False
) -> AnnData | None:
    """Replace each sample's expression values by their ranks within the sample.

    Ties get the average of their ranks, exactly as R's ``rank(x)`` (ties.method "average")
    and ``scipy.stats.rankdata(method="average")``; ranks run from 1 to the number of genes.

    Parameters
    ----------
    adata : AnnData
        Samples x genes, without missing values.
    layer : str, optional
        Transform ``adata.layers[layer]`` instead of ``adata.X``.
    copy : bool, default False
        Return a transformed copy instead of modifying ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes:

        - ``adata.X`` or ``adata.layers[layer]``: ranks (samples x genes, float);
        - ``adata.uns['rank_transform']``: ``{'method': 'average', 'n_genes': p,
          'genes': the var names ranked, 'layer': ...}`` (read by :func:`desurv.tl.score`);
        - ``adata.uns['desurv_pp']``: ``'rank_transform'`` appended to ``'steps'``.
    """
    check_adata(adata)
    check_unique_genes(adata, "adata (rank_transform input)")  # its record is read by gene name
    if copy:
        adata = adata.copy()
    X = get_matrix(adata, layer)
    check_finite(X, adata, f"{layer_name(layer)} (rank_transform input)")
    set_matrix(adata, rank_rows(X), layer)
    adata.uns["rank_transform"] = {
        "method": "average",
        "n_genes": int(adata.n_vars),
        "genes": np.asarray(adata.var_names, dtype=object),
        "layer": layer_name(layer),
    }
    record_pp_step(adata, "rank_transform", layer)
    logger.info("rank_transform applied to %s (%d genes)", layer_name(layer), adata.n_vars)
    return adata if copy else None
