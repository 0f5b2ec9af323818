"""Consensus seed: a deterministic start (W0, H0, beta0) built from many fits.

A port of the R package's ``desurv_consensus_seed`` (ayoung31/DeSurv, ``R/consensus_seed.R``),
which the DeSurv paper uses for its final fits (``code/04_fit_models.R`` in
rashidlab/DeSurv-paper: 100 fits with seeds 1-100, ``min_frequency = ceiling(0.3 * 100)``):

1. every factor (column) of every fit gives one gene set, its ``n_top`` top genes;
2. ``c_ij`` is the number of gene sets that hold both genes i and j, ``f_i = c_ii`` the number
   of gene sets that hold gene i, and the similarity is the Jaccard index
   ``s_ij = c_ij / (f_i + f_j - c_ij)`` (1 on the diagonal);
3. genes with ``f_i >= min_fits`` are kept; they are clustered by average-linkage hierarchical
   clustering of ``1 - s`` and the tree is cut into ``n_components`` groups;
4. column j of W0 is the mean similarity profile (over the kept genes) of the genes of group j;
   rows of genes that were not kept are ``sqrt(machine epsilon)``, and the remaining zeros of
   each column are floored (as the R package does);
5. H0 solves the nonnegative least squares problems ``min ||X[:, i] - W0 h||`` per sample and
   beta0 is 0 (:func:`consensus_start`).

Notes on the R code, followed here:

- "seen in ``min_fits`` fits" is counted over gene *sets*, not fits: ``f_i`` is the diagonal of
  the co-occurrence counts, so a gene among the top genes of two factors of one fit counts
  twice (this happens when ``n_top`` exceeds the genes that a factor is the most specific for).
- The top genes of a factor are ranked by the authors' specificity score (each column of W
  divided by its maximum, minus the gene's largest scaled value in any other factor), not by
  the raw loading; ties keep the gene order (R's ``order(decreasing = TRUE)`` is stable).
  Exactly ``n_top`` genes are taken per factor, zero loadings included; an all-zero column
  gives no gene set.
- The clustering is a port of R's ``stats::hclust`` (Murtagh's Fortran ``hclust.f``: its scan
  order and Lance-Williams updates), not ``scipy.cluster.hierarchy.linkage``: the distances
  ``1 - s`` are ratios of small integers and tie often, and scipy breaks ties differently, so
  it can cut different groups than R; without ties the two give the same partitions.
- Groups are numbered in the order of their first kept gene (R's ``cutree``), which fixes the
  order of the columns of W0.
- When every distance between kept genes is 0 the R code skips the clustering and deals the
  genes out in turn (``rep(seq_len(k), length.out = p)``); so does this port.
- Where the R code clamps or warns (``ntop`` above p, ``k`` above the fits' rank, fewer kept
  genes than ``k``, which leaves columns of W0 at the floor) this port raises a ValueError.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

from desurv._validation import check_nonnegative

__all__ = ["ConsensusSeed", "consensus_seed", "consensus_start"]

_METHODS = ("specificity", "weight")
_LINKAGES = ("average", "complete", "single")
_BASELINE_EPS = float(np.sqrt(np.finfo(float).eps))  # R: sqrt(.Machine$double.eps)
_FLOOR_EPS = float(np.finfo(float).eps)  # R: .Machine$double.eps


@dataclass(frozen=True, eq=False)
class ConsensusSeed:
    """The consensus of many fits: the W0 of a start, and how it was built.

    The arrays are read-only (copy them to modify).

    Attributes
    ----------
    W0 : ndarray of float, shape (p, k)
        Genes x factors. Column j is the mean similarity profile of group j over the kept
        genes; rows of genes not kept are ``sqrt(machine epsilon)`` (about 1.5e-8) and the
        other zeros of a column are floored at ``max(1e-6 * smallest positive entry, machine
        epsilon)``, as in the R package. All entries are positive.
    labels : ndarray of int, shape (p,)
        Group (column of W0) of each kept gene, 0 to k - 1 numbered in the order of the
        groups' first genes; -1 for genes not kept.
    kept : ndarray of bool, shape (p,)
        Genes with ``frequency >= min_fits``, the genes that were clustered.
    similarity : ndarray of float, shape (n_kept, n_kept)
        Jaccard similarity ``c_ij / (f_i + f_j - c_ij)`` of the kept genes (in gene order),
        1 on the diagonal.
    frequency : ndarray of int, shape (p,)
        Number of gene sets (fit x factor) in which each gene is among the top ``n_top``
        genes. A gene can be in the top sets of several factors of one fit, so this can
        exceed ``n_fits`` (the R package's counting rule, see the module notes).
    n_fits : int
        Number of fits.
    n_sets : int
        Number of gene sets (factors with a nonzero column, over all fits).
    n_top : int
        Genes per gene set.
    min_fits : int
        Threshold on ``frequency`` for a gene to be kept.
    gene_names : tuple of str or None
        Names of the p genes (rows), when given.
    """

    W0: np.ndarray
    labels: np.ndarray
    kept: np.ndarray
    similarity: np.ndarray
    frequency: np.ndarray
    n_fits: int
    n_sets: int
    n_top: int
    min_fits: int
    gene_names: tuple[str, ...] | None = None

    @property
    def n_components(self) -> int:
        """Number of factors k (columns of ``W0``)."""
        return int(self.W0.shape[1])


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _as_fits(W_list: Any) -> list[np.ndarray]:
    """The fits' W as a list of float (p, k_i) arrays, checked."""
    if isinstance(W_list, np.ndarray):
        if W_list.ndim == 2:
            raise ValueError(
                f"W_list is a single 2-D array of shape {W_list.shape}; pass a list of the "
                "fits' W matrices (each genes x factors) or a (n_fits, p, k) array "
                "(use [W] for one fit)."
            )
        if W_list.ndim != 3:
            raise ValueError(
                f"W_list must be a (n_fits, p, k) array or a list of (p, k) arrays; got an "
                f"array of shape {W_list.shape}."
            )
        items = list(W_list)
    elif isinstance(W_list, Sequence) and not isinstance(W_list, str | bytes):
        items = list(W_list)
    else:
        raise TypeError(
            "W_list must be a list of the fits' W matrices (each genes x factors) or a "
            f"(n_fits, p, k) array; got {type(W_list).__name__}."
        )
    if not items:
        raise ValueError(
            "W_list is empty: pass the W matrices (genes x factors) of the fits to combine, "
            "e.g. from many random starts."
        )
    fits = []
    p = None
    for i, W in enumerate(items):
        try:
            arr = np.array(W, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"W_list[{i}] is not a numeric matrix ({exc}).") from None
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(
                f"W_list[{i}] must be a nonempty 2-D array (genes x factors); got shape "
                f"{arr.shape}."
            )
        if p is None:
            p = arr.shape[0]
        elif arr.shape[0] != p:
            raise ValueError(
                f"W_list[{i}] has {arr.shape[0]} genes (rows) but W_list[0] has {p}: all fits "
                "must be on the same genes in the same order (W is genes x factors; transpose "
                "a factors x genes matrix)."
            )
        if not np.isfinite(arr).all():
            raise ValueError(
                f"W_list[{i}] has {int((~np.isfinite(arr)).sum())} non-finite values (NaN or "
                "inf); drop that fit (it did not converge) or refit it."
            )
        neg = arr < 0
        if neg.any():
            g, j = np.argwhere(neg)[0]
            raise ValueError(
                f"W_list[{i}] has {int(neg.sum())} negative values (min {arr.min():.4g}, e.g. "
                f"gene {g}, factor {j}); NMF loadings are nonnegative: pass the fits' W, not "
                "centred or transformed loadings."
            )
        if not (arr.max(axis=0) > 0).any():
            raise ValueError(f"W_list[{i}] is all zero, so it has no top genes; drop that fit.")
        fits.append(arr)
    return fits


def _specificity(W: np.ndarray) -> np.ndarray:
    """The authors' specificity score (genes x k) of each gene for each factor.

    Columns scaled to unit maximum, minus the largest scaled value in any other column (0
    when there is no other column). All-zero columns must have been dropped.
    """
    scaled = W / W.max(axis=0)
    k = scaled.shape[1]
    if k == 1:
        return scaled
    other = np.empty_like(scaled)
    for j in range(k):
        other[:, j] = np.delete(scaled, j, axis=1).max(axis=1)
    return scaled - other


def _top_sets(W: np.ndarray, n_top: int, method: str) -> list[np.ndarray]:
    """Gene indices of the top ``n_top`` genes of each nonzero column of W (p, k)."""
    W = W[:, W.max(axis=0) > 0]
    crit = _specificity(W) if method == "specificity" else W
    return [np.argsort(-crit[:, j], kind="stable")[:n_top] for j in range(W.shape[1])]


def _hclust(dist: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agglomerative clustering exactly as R's ``stats::hclust`` (Murtagh's ``hclust.f``).

    ``dist`` (m, m) is a symmetric dissimilarity matrix. Returns the merges as pairs of
    observation indices ``(a, b)`` with ``a < b`` (each cluster is named by its smallest
    member, which survives the merge) and their heights. Following the Fortran scan order and
    Lance-Williams update operation by operation reproduces R's choice among tied
    dissimilarities, which the co-occurrence similarities (ratios of small integers) often
    have; scipy's ``linkage`` can break those ties differently and so cut different groups.
    """
    m = dist.shape[0]
    D = np.array(dist, dtype=float)
    np.fill_diagonal(D, np.inf)
    idx = np.arange(m)
    active = np.ones(m, dtype=bool)
    size = np.ones(m)
    right = idx[None, :] > idx[:, None]

    def nearest_right(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        M = np.where(right[rows] & active[None, :], D[rows], np.inf)
        j = np.argmin(M, axis=1)  # first minimum, as the Fortran's strict "<" scan
        return j, M[np.arange(rows.size), j]

    nn, disnn = nearest_right(idx)
    ia = np.empty(m - 1, dtype=np.int64)
    ib = np.empty(m - 1, dtype=np.int64)
    height = np.empty(m - 1)
    for step in range(m - 1):
        cand = np.where(active[:-1], disnn[:-1], np.inf)
        im = int(np.argmin(cand))
        jm = int(nn[im])
        i2, j2 = min(im, jm), max(im, jm)
        ia[step], ib[step], height[step] = i2, j2, cand[im]
        active[j2] = False
        ks = idx[active & (idx != i2)]
        if method == "average":
            new = (size[i2] * D[i2, ks] + size[j2] * D[j2, ks]) / (size[i2] + size[j2])
        elif method == "single":
            new = np.minimum(D[i2, ks], D[j2, ks])
        else:  # complete
            new = np.maximum(D[i2, ks], D[j2, ks])
        D[i2, ks] = new
        D[ks, i2] = new
        after = ks > i2
        if after.any():
            pos = int(np.argmin(new[after]))
            nn_i2, dis_i2 = int(ks[after][pos]), float(new[after][pos])
        else:
            nn_i2, dis_i2 = int(nn[i2]), np.inf
        before = ~after
        closer = before & (new < disnn[ks])
        disnn[ks[closer]] = new[closer]
        nn[ks[closer]] = i2
        size[i2] += size[j2]
        disnn[i2], nn[i2] = dis_i2, nn_i2
        redo = idx[:-1][active[:-1] & ((nn[:-1] == i2) | (nn[:-1] == j2))]
        if redo.size:
            j, d = nearest_right(redo)
            nn[redo], disnn[redo] = j, d
    return ia, ib, height


def _cut_tree(ia: np.ndarray, ib: np.ndarray, m: int, k: int) -> np.ndarray:
    """Groups of ``m`` observations after the first ``m - k`` merges, numbered 0..k-1 in the
    order of their first observation (R's ``cutree(hclust, k)``)."""
    group = np.arange(m)
    for a, b in zip(ia[: m - k], ib[: m - k]):
        group[group == group[b]] = group[a]
    _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse]


def _cluster(similarity: np.ndarray, k: int, method: str) -> np.ndarray:
    """Labels 0..k-1 of the genes of ``similarity`` (m, m), cut from the hierarchical
    clustering of 1 - similarity (R's ``.desurv_cluster_consensus``)."""
    m = similarity.shape[0]
    if m == 1:
        return np.zeros(1, dtype=np.int64)
    dist = np.clip(1.0 - similarity, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    if not (dist > 0).any():
        # R: all distances 0 -> clusters <- rep(seq_len(k), length.out = p)
        return np.arange(m, dtype=np.int64) % k
    ia, ib, _ = _hclust(dist, method)
    return _cut_tree(ia, ib, m, k)


def _floor_columns(W0: np.ndarray) -> None:
    """R's ``.desurv_floor_W0``, in place: the nonpositive entries of each column become
    ``max(1e-6 * smallest positive entry, machine eps)`` (``sqrt(eps)`` if none is positive)."""
    for j in range(W0.shape[1]):
        col = W0[:, j]
        pos = col > 0
        if pos.all():
            continue
        filler = max(col[pos].min() * 1e-6, _FLOOR_EPS) if pos.any() else _BASELINE_EPS
        col[~pos] = filler


def consensus_seed(
    W_list: Sequence[np.ndarray] | np.ndarray,
    n_components: int,
    *,
    n_top: int,
    min_fits: int,
    gene_names: Sequence[str] | None = None,
    method: str = "specificity",
    linkage_method: str = "average",
) -> ConsensusSeed:
    """Consensus W0 from the top gene sets of many fits (the DeSurv paper's final-fit seed).

    Every factor of every fit gives one gene set, its ``n_top`` top genes. Genes in at least
    ``min_fits`` sets are kept and clustered by average-linkage hierarchical clustering of one
    minus their Jaccard co-occurrence similarity ``s_ij = c_ij / (f_i + f_j - c_ij)`` (``c_ij``
    sets holding both genes, ``f_i`` sets holding gene i); the tree is cut into
    ``n_components`` groups and column j of W0 is the mean similarity profile of group j.
    A port of the R package's ``desurv_consensus_seed`` (see the module notes); the result is
    deterministic and does not depend on the order of the factors within each fit.

    Parameters
    ----------
    W_list : sequence of ndarray of shape (p, k_i), or ndarray of shape (n_fits, p, k)
        The W (genes x factors, nonnegative) of each fit, e.g. ``FitResult.W`` of
        :func:`desurv._core.solver.fit_batch` over many random starts. All fits must be on
        the same p genes in the same order; the scale of the columns does not matter.
    n_components : int
        Number of groups k, the columns of W0; at most the largest k_i and the number of
        kept genes.
    n_top : int
        Top genes per factor, 1 <= n_top <= p (the paper: the BO-selected n_top).
    min_fits : int
        A gene is kept when it is in at least ``min_fits`` gene sets (counted over fit x
        factor sets, as the R package does); 1 <= min_fits <= n_fits. The paper uses
        ``ceil(0.3 * n_fits)``.
    gene_names : sequence of str of length p, optional
        Names of the genes, kept in the result (and used by :func:`consensus_start` to align
        a DataFrame X).
    method : {"specificity", "weight"}, default "specificity"
        How the top genes of a factor are ranked: ``"specificity"`` (the R package's: each
        column divided by its maximum, minus the gene's largest scaled value in another
        factor) or ``"weight"`` (the raw loading W[g, j]).
    linkage_method : {"average", "complete", "single"}, default "average"
        Linkage of the hierarchical clustering (the R argument ``clustering``).

    Returns
    -------
    ConsensusSeed
        ``W0`` (p, k) genes x factors, ``labels`` (p,) group of each kept gene (-1 when not
        kept), ``kept`` (p,) bool, ``similarity`` (n_kept, n_kept), ``frequency`` (p,) number
        of gene sets holding each gene, ``n_fits``, ``n_sets``, ``n_top``, ``min_fits``,
        ``gene_names``.

    Raises
    ------
    ValueError
        Empty ``W_list``; fits on different numbers of genes; negative or non-finite
        loadings; ``n_top`` outside [1, p]; ``min_fits`` outside [1, n_fits];
        ``n_components`` < 1 or above the fits' rank; fewer kept genes than ``n_components``.

    See Also
    --------
    consensus_start : H0 by nonnegative least squares and beta0 = 0 for this W0.
    """
    fits = _as_fits(W_list)
    n_fits = len(fits)
    p = fits[0].shape[0]
    k_max = max(W.shape[1] for W in fits)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    if linkage_method not in _LINKAGES:
        raise ValueError(f"linkage_method must be one of {_LINKAGES}; got {linkage_method!r}.")
    if not _is_int(n_components) or n_components < 1:
        raise ValueError(f"n_components must be an integer >= 1; got {n_components!r}.")
    if n_components > k_max:
        raise ValueError(
            f"n_components={n_components} exceeds the rank of the fits (at most {k_max} "
            f"factors); use n_components <= {k_max} or fits with more factors."
        )
    if not _is_int(n_top) or not 1 <= n_top <= p:
        raise ValueError(
            f"n_top must be an integer between 1 and the number of genes p = {p}; got {n_top!r}."
        )
    if not _is_int(min_fits) or min_fits < 1:
        raise ValueError(f"min_fits must be an integer >= 1; got {min_fits!r}.")
    if min_fits > n_fits:
        raise ValueError(
            f"min_fits={min_fits} exceeds the number of fits ({n_fits}): no gene could be "
            f"kept reliably; use min_fits <= {n_fits} (the paper: ceil(0.3 * n_fits) = "
            f"{int(np.ceil(0.3 * n_fits))})."
        )
    names: tuple[str, ...] | None = None
    if gene_names is not None:
        names = tuple(str(g) for g in gene_names)
        if len(names) != p:
            raise ValueError(
                f"gene_names has {len(names)} names but the fits have p = {p} genes (rows of "
                "W); pass one name per gene, in the order of the rows."
            )

    sets = [s for W in fits for s in _top_sets(W, n_top, method)]
    frequency = np.bincount(np.concatenate(sets), minlength=p).astype(np.int64)
    kept = frequency >= min_fits
    n_kept = int(kept.sum())
    if n_kept < n_components:
        raise ValueError(
            f"only {n_kept} genes are in at least min_fits={min_fits} of the {len(sets)} gene "
            f"sets (n_top={n_top} genes per factor, {n_fits} fits), fewer than "
            f"n_components={n_components}: lower min_fits (the most frequent gene is in "
            f"{int(frequency.max())} sets) or raise n_top."
        )

    position = np.cumsum(kept) - 1  # column of each kept gene in the incidence matrix
    sub = np.zeros((len(sets), n_kept))  # gene sets x kept genes, 0/1
    for r, idx in enumerate(sets):
        idx = idx[kept[idx]]
        sub[r, position[idx]] = 1.0
    counts = sub.T @ sub  # exact: integer counts in float64
    f = np.diag(counts).copy()
    union = f[:, None] + f[None, :] - counts
    similarity = np.divide(counts, union, out=np.zeros_like(counts), where=counts > 0)
    np.fill_diagonal(similarity, 1.0)

    labels_kept = _cluster(similarity, n_components, linkage_method)
    W0 = np.zeros((p, n_components))
    W0_kept = np.empty((n_kept, n_components))
    for j in range(n_components):
        W0_kept[:, j] = similarity[labels_kept == j].mean(axis=0)
    W0[kept] = W0_kept
    W0[~kept] = _BASELINE_EPS
    _floor_columns(W0)

    labels = np.full(p, -1, dtype=np.int64)
    labels[kept] = labels_kept
    for a in (W0, labels, kept, similarity, frequency):
        a.flags.writeable = False
    return ConsensusSeed(
        W0=W0,
        labels=labels,
        kept=kept,
        similarity=similarity,
        frequency=frequency,
        n_fits=n_fits,
        n_sets=len(sets),
        n_top=int(n_top),
        min_fits=int(min_fits),
        gene_names=names,
    )


def _align_rows(X: Any, seed: ConsensusSeed) -> Any:
    """Reorder the rows of a DataFrame X to ``seed.gene_names`` (R's row alignment)."""
    index = getattr(X, "index", None)
    if index is None or seed.gene_names is None or not hasattr(X, "iloc"):
        return X
    rows = [str(g) for g in index]
    if rows == list(seed.gene_names):
        return X
    position = {g: i for i, g in enumerate(rows)}
    missing = [g for g in seed.gene_names if g not in position]
    if missing:
        shown = ", ".join(missing[:5])
        if len(missing) > 5:
            shown += f", ... ({len(missing)} in all)"
        raise ValueError(
            f"X (genes x samples) lacks {len(missing)} of the seed's genes in its index: "
            f"{shown}. Pass X on the genes of the fits (rows = genes)."
        )
    return X.iloc[[position[g] for g in seed.gene_names]]


def consensus_start(
    X: Any, seed: ConsensusSeed, *, h_floor: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A start (W0, H0, beta0) from a consensus seed: H0 by nonnegative least squares.

    Each column of H0 solves ``min_{h >= 0} ||X[:, i] - W0 h||_2`` exactly (Lawson-Hanson
    NNLS, through the thin QR factorisation of W0, which leaves the minimiser unchanged), as
    the R package's ``desurv_consensus_seed`` does; beta0 is 0.

    Parameters
    ----------
    X : array-like of shape (p, n)
        Nonnegative expression, genes x samples (the fits' orientation and genes). A pandas
        DataFrame indexed by gene is reordered to ``seed.gene_names`` when those are set.
    seed : ConsensusSeed
        From :func:`consensus_seed`.
    h_floor : float, optional
        Raise the entries of H0 below ``h_floor`` to it (in the unit of X: an update that
        multiplies H cannot move an entry away from 0). Default: no floor, the exact NNLS
        solution (which may hold zeros), as in R.

    Returns
    -------
    W0 : ndarray of shape (p, k)
        Genes x factors, a copy of ``seed.W0``.
    H0 : ndarray of shape (k, n)
        Factors x samples, nonnegative.
    beta0 : ndarray of shape (k,)
        Zeros.

    Raises
    ------
    ValueError
        X not 2-D, on a different number of genes than the seed, non-finite or negative;
        ``h_floor`` negative or not finite.
    """
    if not isinstance(seed, ConsensusSeed):
        raise TypeError(
            f"seed must be a ConsensusSeed from consensus_seed(); got {type(seed).__name__}."
        )
    p, k = seed.W0.shape
    X = _align_rows(X, seed)
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"X must be a numeric genes x samples matrix ({exc}).") from None
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (genes x samples); got an array of shape {arr.shape}.")
    if arr.shape[0] != p:
        hint = (
            " It looks samples x genes: pass X.T."
            if arr.shape[1] == p
            else " Pass X on the genes of the fits."
        )
        raise ValueError(
            f"X has {arr.shape[0]} rows but the seed has p = {p} genes; X must be genes x "
            f"samples (p, n).{hint}"
        )
    if arr.shape[1] == 0:
        raise ValueError("X has no samples (columns).")
    bad = ~np.isfinite(arr)
    if bad.any():
        g, i = np.argwhere(bad)[0]
        raise ValueError(
            f"X has {int(bad.sum())} non-finite values (NaN or inf), e.g. at gene row {g}, "
            f"sample column {i}. Impute or drop them first."
        )
    if (arr < 0).any():
        n = arr.shape[1]
        check_nonnegative(
            arr.T,
            "X",
            samples=[f"column {i}" for i in range(n)],
            genes=[f"row {g}" for g in range(p)],
        )
    if h_floor is not None:
        if not isinstance(h_floor, numbers.Real) or isinstance(h_floor, bool):
            raise TypeError(f"h_floor must be None or a number; got {h_floor!r}.")
        if not np.isfinite(h_floor) or h_floor < 0:
            raise ValueError(f"h_floor must be a finite number >= 0; got {h_floor!r}.")

    W0 = np.array(seed.W0, dtype=float)
    Q, R = np.linalg.qr(W0)  # thin: Q (p, k), R (k, k); ||x - W0 h|| = ||Q^T x - R h|| + const
    B = Q.T @ arr
    H0 = np.empty((k, arr.shape[1]))
    for i in range(arr.shape[1]):
        H0[:, i] = nnls(R, B[:, i])[0]
    np.maximum(H0, 0.0, out=H0)
    if h_floor is not None:
        np.maximum(H0, float(h_floor), out=H0)
    return W0, H0, np.zeros(k)
