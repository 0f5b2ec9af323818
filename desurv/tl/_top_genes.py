"""``desurv.tl.top_genes``: the genes that define each factor."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import check_adata, h5ad_safe

logger = logging.getLogger("desurv")

_METHODS = ("weight", "specificity")


def get_W(adata: AnnData, key: str) -> np.ndarray:
    """W (genes x k) of a fit stored under ``key``, with an error that says what to run."""
    name = f"{key}_W"
    if name not in adata.varm:
        raise KeyError(
            f"adata.varm[{name!r}] not found: no DeSurv fit under key {key!r}; run "
            f"desurv.tl.fit(adata, ..., key_added={key!r}) first (varm keys: {list(adata.varm)})"
        )
    return np.asarray(adata.varm[name], dtype=np.float64)


def specificity_scores(W: np.ndarray) -> np.ndarray:
    """The authors' specificity score of every gene for every factor (genes x k).

    Each column of W is divided by its maximum; a gene's score for factor j is its scaled
    value in j minus its largest scaled value in any other factor (0 other factors when k = 1).
    """
    col_max = W.max(axis=0)
    scaled = np.divide(W, col_max, out=np.zeros_like(W), where=col_max > 0)
    k = W.shape[1]
    if k == 1:
        return scaled.copy()
    other = np.empty_like(scaled)
    for j in range(k):
        other[:, j] = np.delete(scaled, j, axis=1).max(axis=1)
    return scaled - other


def top_gene_indices(
    W: np.ndarray, n_top: int, crit: np.ndarray, positive_only: bool = True
) -> list[np.ndarray]:
    """Per factor j, the row indices of W of its top ``n_top`` genes, best first, ranked by
    ``crit[:, j]`` (ties by row order, as R's ``order``): among the genes with a positive
    weight W[g, j] (``positive_only``, the rule of :func:`top_genes`) or among all genes (the
    R package's ``desurv_get_top_genes``, which the paper's cross-validation uses). The two
    agree on the default variant's fits, whose W is floored at a positive epsilon."""
    out = []
    for j in range(W.shape[1]):
        ok = np.flatnonzero(W[:, j] > 0) if positive_only else np.arange(W.shape[0])
        out.append(ok[np.argsort(-crit[ok, j], kind="stable")][:n_top])
    return out


def top_union(
    W: np.ndarray, n_top: int, method: str = "specificity", positive_only: bool = True
) -> np.ndarray:
    """Boolean mask (genes,) of the union over the factors of W (genes x k) of their top
    ``n_top`` genes by ``method`` ("specificity" or "weight"; see :func:`top_genes` and
    :func:`top_gene_indices`)."""
    crit = W if method == "weight" else specificity_scores(W)
    top = np.zeros(W.shape[0], dtype=bool)
    for idx in top_gene_indices(W, min(int(n_top), W.shape[0]), crit, positive_only):
        top[idx] = True
    return top


def top_gene_score(X: np.ndarray, W: np.ndarray, beta: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The paper's top-gene risk score X_top theta_top / ||theta_top|| with theta = W beta.

    X is samples x genes, W genes x k, beta (k,) the raw coefficients, ``top`` a boolean mask
    of genes (:func:`top_union`). As the authors' ``compute_lp``: theta_top is used as it is
    when its norm is 0, and a non-finite norm gives a score of 0 for every sample.
    """
    theta = W[top] @ beta
    with np.errstate(over="ignore", invalid="ignore"):
        norm = float(np.linalg.norm(theta))
    if not np.isfinite(norm):
        return np.zeros(X.shape[0])
    return (X[:, top] @ theta) / (norm if norm > 0 else 1.0)


def top_genes_table(adata: AnnData, key: str = "desurv") -> pd.DataFrame:
    """The table stored by :func:`top_genes` under ``uns[f"{key}_top_genes"]``."""
    name = f"{key}_top_genes"
    if name not in adata.uns:
        raise KeyError(
            f"adata.uns[{name!r}] not found; run desurv.tl.top_genes(adata, key={key!r}) first"
        )
    table = pd.DataFrame({c: np.asarray(v) for c, v in adata.uns[name]["table"].items()})
    return table[["factor", "rank", "gene", "weight", "score"]]


def top_genes(
    adata: AnnData,
    n_top: int = 50,
    *,
    method: str = "specificity",
    key: str = "desurv",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Top genes of each factor of a DeSurv fit, as a tidy table, also stored in ``uns``.

    Two definitions (W is genes x k, from ``adata.varm[f"{key}_W"]``):

    - ``"weight"``: the ``n_top`` genes with the largest weight W[g, j] in factor j;
    - ``"specificity"`` (the authors'): each column of W is scaled by its maximum, and a gene's
      score for factor j is its scaled value minus its largest scaled value in any other
      factor; the ``n_top`` genes with the highest score.

    Only genes with a positive weight in the factor qualify (a factor with fewer such genes
    returns fewer rows). Ties are broken by the order of ``adata.var``.

    Parameters
    ----------
    adata : AnnData
        Fitted by :func:`desurv.tl.fit` (samples x genes).
    n_top : int, default 50
        Genes per factor.
    method : {"specificity", "weight"}, default "specificity"
        Ranking criterion.
    key : str, default "desurv"
        ``key_added`` of the fit.
    key_added : str, optional
        Where to store the table; default ``f"{key}_top_genes"``.

    Returns
    -------
    pandas.DataFrame
        One row per (factor, gene): ``factor`` (1-based: factor j is column j - 1 of W and of
        ``obsm[f"X_{key}"]``), ``rank`` (1 = top), ``gene``, ``weight`` (W[g, j]) and
        ``score`` (the specificity score, whatever the method). Also writes
        ``adata.uns[key_added]`` = ``{'method', 'n_top', 'key', 'table': dict of the
        table's columns}``.
    """
    check_adata(adata)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if isinstance(n_top, bool) or not isinstance(n_top, int | np.integer) or n_top < 1:
        raise ValueError(f"n_top must be a positive integer, got {n_top!r}")
    W = get_W(adata, key)
    spec = specificity_scores(W)
    crit = W if method == "weight" else spec
    genes = np.asarray(adata.var_names, dtype=object)
    rows = []
    for j, order in enumerate(top_gene_indices(W, n_top, crit)):
        for r, g in enumerate(order, start=1):
            rows.append((j + 1, r, genes[g], W[g, j], spec[g, j]))
    table = pd.DataFrame(rows, columns=["factor", "rank", "gene", "weight", "score"])
    table = table.astype({"factor": np.int64, "rank": np.int64, "weight": float, "score": float})
    name = key_added or f"{key}_top_genes"
    adata.uns[name] = {
        "method": method,
        "n_top": int(n_top),
        "key": key,
        "table": h5ad_safe(table),
    }
    logger.info("top_genes: %d genes per factor by %s stored in uns[%r]", n_top, method, name)
    return table
