"""``desurv.pp.quantile_normalize``: preprocessCore's ``normalize.quantiles`` on AnnData."""

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
    is_anndata,
    layer_name,
    record_pp_step,
    set_matrix,
)

logger = logging.getLogger("desurv")


def quantile_target(X: np.ndarray) -> np.ndarray:
    """Mean sorted profile of a samples x genes array (preprocessCore's target), ascending."""
    return np.sort(X, axis=1).mean(axis=0)


def quantile_to_target(X: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Normalise each row (sample) of X to ``target`` with preprocessCore's rules.

    Within a sample, values get average ranks r (ties share the mean of their ranks). With
    p genes and a sorted target of length m, the value becomes the target interpolated
    linearly at position ``1 + (m - 1)(r - 1)/(p - 1)`` (1-based). For m == p this is
    ``target[r]``, and a tie whose average rank ends in .5 gets the mean of the two
    neighbouring target values: exactly ``normalize.quantiles`` and
    ``normalize.quantiles.use.target``.
    """
    t = np.sort(np.asarray(target, dtype=np.float64).ravel())
    m = t.size
    p = X.shape[1]
    ranks = rankdata(X, method="average", axis=1)
    if p == m:
        pos = ranks
    elif p == 1:
        pos = np.full_like(ranks, 1.0)
    else:
        pos = 1.0 + (m - 1.0) * (ranks - 1.0) / (p - 1.0)
    return np.interp(pos, np.arange(1, m + 1, dtype=np.float64), t)


def quantile_normalize(
    adata: AnnData,
    *,
    target: np.ndarray | AnnData | None = None,
    layer: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Quantile-normalise samples to a common distribution (preprocessCore semantics).

    Each sample's (row's) sorted values are replaced by the target: by default the mean
    sorted profile over the samples of ``adata`` (``normalize.quantiles``). Ties are treated
    as preprocessCore does: tied values get their average rank, and a rank ending in .5
    takes the mean of the two neighbouring target values. With a given ``target`` (e.g. the
    training cohort's), samples are normalised to it as ``normalize.quantiles.use.target``
    does, interpolating the target when its length differs from the number of genes.

    Parameters
    ----------
    adata : AnnData
        Samples x genes, no missing values.
    target : array or AnnData, optional
        Target distribution (any order; it is sorted), or an AnnData that was quantile
        normalised (its ``uns['quantile_normalize']['target']`` is used). Default: computed
        from ``adata``.
    layer : str, optional
        Normalise ``adata.layers[layer]`` instead of ``adata.X``.
    copy : bool, default False
        Return a normalised copy instead of modifying ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes:

        - ``adata.X`` or ``adata.layers[layer]``: normalised values (samples x genes);
        - ``adata.uns['quantile_normalize']``: ``'target'`` (sorted, ascending), ``'genes'``
          (var names at normalisation), ``'target_source'`` (``'self'`` or ``'given'``),
          ``'layer'``. :func:`desurv.tl.score` normalises new cohorts to this target;
        - ``adata.uns['desurv_pp']``: ``'quantile_normalize'`` appended to ``'steps'``.
    """
    check_adata(adata)
    check_unique_genes(adata, "adata (quantile_normalize input)")  # its record is read by gene name
    source = "self"
    if target is not None:
        source = "given"
        if is_anndata(target):
            rec = target.uns.get("quantile_normalize")
            if rec is None or "target" not in rec:
                raise KeyError(
                    "target AnnData has no uns['quantile_normalize']['target']; run "
                    "desurv.pp.quantile_normalize on it first or pass the target array"
                )
            target = np.asarray(rec["target"], dtype=np.float64)
        target = np.asarray(target, dtype=np.float64).ravel()
        if target.size == 0 or not np.isfinite(target).all():
            raise ValueError("target must be a nonempty array of finite numbers")
    if copy:
        adata = adata.copy()
    X = get_matrix(adata, layer)
    check_finite(X, adata, f"{layer_name(layer)} (quantile_normalize input)")
    if target is None:
        target = quantile_target(X)
    set_matrix(adata, quantile_to_target(X, target), layer)
    adata.uns["quantile_normalize"] = {
        "target": np.sort(target),
        "genes": np.asarray(adata.var_names, dtype=object),
        "target_source": source,
        "layer": layer_name(layer),
    }
    record_pp_step(adata, "quantile_normalize", layer)
    logger.info("quantile_normalize applied to %s (target from %s)", layer_name(layer), source)
    return adata if copy else None
