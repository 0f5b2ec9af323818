"""Consensus clustering of samples (Monti et al. 2003): the Python twin of ConsensusClusterPlus.

Semantics of Bioconductor's ConsensusClusterPlus (CCP): ``reps`` resamples, each drawing
``floor(n * p_item)`` samples *without replacement* with probabilities ``weights_item`` and
(when ``p_feature < 1`` or ``weights_feature`` is given) ``floor(p * p_feature)`` features
likewise; each resample is clustered for every k = 2..max_k (k-means with ``km_n_init``
starts, scikit-learn's ``KMeans``; hierarchical clustering cut at k; or PAM); the consensus
matrix is (times i and j were clustered together) / (times both were drawn), 0 when never
drawn together; the final classes cut an average-linkage (``final_linkage``) tree of
``1 - consensus``. Labels are numbered by first appearance, as R's ``cutree``. CCP itself
runs through :func:`r_bridge.consensus_cluster_plus`; its random stream is R's, so classes
agree with this twin only up to the randomness of the resamples (on clearly clustered data
the adjusted Rand index is >= 0.95).

Figures computed for each k from the consensus matrix (lower triangle, no diagonal), as
CCP's ``CDF`` does (:func:`consensus_figures`): the empirical CDF on 100 bins of width 0.01
(right-closed, as R's ``hist``), the area under it, the delta-area (the area for k = 2, then
the relative increase ``(A_k - A_{k-1}) / A_{k-1}``), and the PAC, the proportion of
ambiguous clustering ``CDF(u2) - CDF(u1)`` with ``(u1, u2) = (0.1, 0.9)`` (Senbabaoglu et
al. 2014; lower is better).

Weighted subject sampling (paper)
---------------------------------
When validation cohorts of different sizes are merged, the paper samples subjects with
weight ``1 / (D n_d)`` (D cohorts, n_d subjects in cohort d) so that each cohort is drawn
equally often in total: :func:`cohort_weights`. Both implementations treat the weights as
*sampling probabilities* (R's ``sample(prob=)``, numpy's ``choice(p=)``) of a draw without
replacement: subjects with tiny weights are rarely drawn, and a subject never drawn keeps an
empty (all-zero) consensus row.

The AnnData call site is :func:`desurv.tl.consensus_cluster`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import pdist, squareform
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

__all__ = ["cohort_weights", "consensus_cluster_python", "consensus_figures"]

_LINKAGES = {
    "average": "average",
    "complete": "complete",
    "single": "single",
    "mcquitty": "weighted",
    "ward.D2": "ward",
}
_DISTANCES = (
    "pearson",
    "spearman",
    "euclidean",
    "manhattan",
    "maximum",
    "canberra",
    "binary",
    "minkowski",
)


# --------------------------------------------------------------------------------------
# Weights.
# --------------------------------------------------------------------------------------
def cohort_weights(cohorts: ArrayLike) -> np.ndarray:
    """Sampling weights ``1 / (D n_d)`` from a cohort label per subject (the paper's scheme).

    ``D`` is the number of cohorts and ``n_d`` the size of subject's cohort ``d``; the
    weights sum to 1 and each cohort carries total weight ``1 / D``. Used as sampling
    probabilities by consensus clustering (see the module docstring).

    Parameters
    ----------
    cohorts : array-like of shape (n,)
        Cohort label of each subject, no missing values.

    Returns
    -------
    ndarray of float, shape (n,)
    """
    c = pd.Series(np.asarray(cohorts, dtype=object))
    if c.isna().any():
        raise ValueError("cohort labels contain missing values")
    sizes = c.map(c.value_counts())
    D = c.nunique()
    return (1.0 / (D * sizes.to_numpy(dtype=float))).astype(float)


# --------------------------------------------------------------------------------------
# Building blocks.
# --------------------------------------------------------------------------------------
def _relabel_first_appearance(labels: np.ndarray) -> np.ndarray:
    """Labels 1..k numbered by first appearance in sample order (as R's ``cutree``)."""
    uniq, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(uniq.size, dtype=int)
    rank[np.argsort(first)] = np.arange(1, uniq.size + 1)
    return rank[inv.ravel()]


def _distance_matrix(Xs: np.ndarray, distance: str) -> np.ndarray:
    """Condensed distances between the rows (samples) of ``Xs``, as R's CCP computes them."""
    if distance in ("pearson", "spearman"):
        flat = ~(Xs.max(axis=1) > Xs.min(axis=1))
        if flat.any():
            raise ValueError(
                f"{int(flat.sum())} sample(s) are constant over the {Xs.shape[1]} features of a "
                f"resample, so their {distance} correlation (and distance) is undefined; use "
                "distance='euclidean', p_feature=1 with more features, or drop those samples"
            )
        if distance == "spearman":
            from scipy.stats import rankdata  # noqa: PLC0415

            Xs = rankdata(Xs, axis=1)
        c = np.corrcoef(Xs)
        return squareform(1.0 - c, checks=False)
    metric = {
        "euclidean": "euclidean",
        "manhattan": "cityblock",
        "maximum": "chebyshev",
        "canberra": "canberra",
        "binary": "jaccard",
        "minkowski": "euclidean",
    }[distance]
    if metric == "jaccard":
        return pdist(Xs != 0, metric="jaccard")
    return pdist(Xs, metric=metric)


def _kmeans(X: np.ndarray, k: int, n_init: int, rng: np.random.Generator) -> np.ndarray:
    """k-means labels (0..k-1) of the rows of ``X``: scikit-learn's ``KMeans``.

    k-means++ seeding, best of ``n_init`` starts; its seed is an integer drawn from ``rng``,
    so results are reproducible from the consensus seed. R's ConsensusClusterPlus runs
    ``kmeans(..., nstart = 1)`` (Hartigan-Wong) under R's random stream, so no k-means
    implementation could reproduce its classes; the two twins agree on the consensus, not
    on each draw (tests/test_consensus_r.py), and scikit-learn's k-means serves that.
    """
    seed = int(rng.integers(0, 2**31 - 1))
    km = KMeans(n_clusters=k, n_init=max(1, int(n_init)), random_state=seed)
    return km.fit(X).labels_


def _pam(D: np.ndarray, k: int) -> np.ndarray:
    """Partitioning around medoids (BUILD + SWAP, as R's ``cluster::pam``) on a distance
    matrix; returns labels 0..k-1 (medoid order).

    Our own because scikit-learn has no PAM; R's CCP calls ``cluster::pam``, whose BUILD and
    SWAP steps (deterministic) this follows.
    """
    n = D.shape[0]
    medoids = [int(np.argmin(D.sum(axis=1)))]
    nearest = D[medoids[0]].copy()
    for _ in range(1, k):
        gain = np.maximum(nearest[None, :] - D, 0.0).sum(axis=1)
        gain[medoids] = -np.inf
        m = int(np.argmax(gain))
        medoids.append(m)
        nearest = np.minimum(nearest, D[m])
    medoids_arr = np.array(medoids)
    for _ in range(100):
        Dm = D[medoids_arr]  # (k, n)
        cost = Dm.min(axis=0).sum()
        best = (cost, -1, -1)
        for i in range(k):
            others = np.delete(Dm, i, axis=0)
            rest = others.min(axis=0) if others.size else np.full(n, np.inf)
            cand = np.minimum(rest[None, :], D).sum(axis=1)  # cost if medoid i -> h
            cand[medoids_arr] = np.inf
            h = int(np.argmin(cand))
            if cand[h] < best[0] - 1e-12:
                best = (cand[h], i, h)
        if best[1] < 0:
            break
        medoids_arr[best[1]] = best[2]
    return np.argmin(D[medoids_arr], axis=0)


def _sample(rng: np.random.Generator, size: int, n_draw: int, weights) -> np.ndarray:
    if weights is None:
        return np.sort(rng.choice(size, n_draw, replace=False))
    return np.sort(rng.choice(size, n_draw, replace=False, p=weights))


def _normalise_weights(w, size: int, what: str):
    if w is None:
        return None
    w = np.asarray(w, dtype=float).ravel()
    if w.shape != (size,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"{what} must be {size} finite nonnegative numbers, not all zero")
    return w / w.sum()


def consensus_figures(
    consensus: dict[int, np.ndarray] | dict[int, pd.DataFrame],
    pac_window: tuple[float, float] = (0.1, 0.9),
    breaks: int = 100,
) -> dict[str, Any]:
    """CDF, area, delta-area and PAC of consensus matrices, as R's CCP computes them.

    Parameters
    ----------
    consensus : dict of int to (n, n) array or DataFrame
        The consensus matrix of each k.
    pac_window : (float, float), default (0.1, 0.9)
        ``(u1, u2)`` of the PAC, ``CDF(u2) - CDF(u1)``.
    breaks : int, default 100
        Number of CDF bins on [0, 1] (right-closed, as R's ``hist``).

    Returns
    -------
    dict
        ``cdf`` (DataFrame, rows = upper bin edges, columns = k), ``area``,
        ``delta_area`` and ``pac`` (Series indexed by k).
    """
    ks = sorted(consensus)
    edges = np.arange(breaks + 1) * (1.0 / breaks)  # R: seq(0, 1, by = 1/breaks)
    diddle = 1e-7 * float(np.median(np.diff(edges)))
    fuzzy = edges + diddle
    fuzzy[0] = edges[0] - diddle  # include.lowest
    cdfs = []
    areas = []
    pacs = []
    u1, u2 = pac_window
    for k in ks:
        M = np.asarray(consensus[k], dtype=float)
        v = M[np.tril_indices_from(M, k=-1)]
        # right-closed bins (fuzzy[b], fuzzy[b+1]]
        b = np.searchsorted(fuzzy, v, side="left") - 1
        b = np.clip(b, 0, breaks - 1)
        counts = np.bincount(b, minlength=breaks).astype(float)
        cdf = np.cumsum(counts) / counts.sum()
        area = 0.0
        for bi in range(breaks):
            area += cdf[bi] * (edges[bi + 1] - edges[bi])
        cdfs.append(cdf)
        areas.append(area)
        pacs.append(float(np.mean((v > u1) & (v <= u2))))
    delta = [areas[0]] + [(areas[i] - areas[i - 1]) / areas[i - 1] for i in range(1, len(ks))]
    kidx = pd.Index(ks, name="k")
    return {
        "cdf": pd.DataFrame(
            np.column_stack(cdfs),
            index=pd.Index(edges[1:], name="consensus_index"),
            columns=kidx,
        ),
        "area": pd.Series(areas, index=kidx, name="area"),
        "delta_area": pd.Series(delta, index=kidx, name="delta_area"),
        "pac": pd.Series(pacs, index=kidx, name="pac"),
    }


def check_reps(reps: Any) -> int:
    """The number of resamples: an integer >= 1 (with none there is no consensus, and PAC
    would read 0, as if perfectly stable). Used by the engine and by ``tl.consensus_cluster``
    for both implementations."""
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or reps < 1:
        raise ValueError(
            f"reps (resamples) must be an integer >= 1; got {reps!r} (with no resample there "
            "is no consensus, and PAC would read 0, as if perfectly stable)."
        )
    return int(reps)


def consensus_cluster_python(
    X: ArrayLike | pd.DataFrame,
    *,
    max_k: int = 6,
    reps: int = 100,
    p_item: float = 0.8,
    p_feature: float = 1.0,
    cluster_alg: str = "hc",
    distance: str = "pearson",
    inner_linkage: str = "average",
    final_linkage: str = "average",
    weights_item: ArrayLike | None = None,
    weights_feature: ArrayLike | None = None,
    seed: int | None = 0,
    km_n_init: int = 5,
    sample_names: Sequence[str] | None = None,
    pac_window: tuple[float, float] = (0.1, 0.9),
) -> dict[str, Any]:
    """Python twin of ConsensusClusterPlus on samples x features ``X``.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Finite values; a DataFrame's index names the samples.
    max_k, reps, p_item, p_feature, cluster_alg, distance, inner_linkage, final_linkage
        As in :func:`desurv.tl.consensus_cluster` (CCP's ``maxK``, ``reps``, ``pItem``,
        ``pFeature``, ``clusterAlg``, ``distance``, ``innerLinkage``, ``finalLinkage``).
    weights_item, weights_feature : array-like, optional
        Sampling probabilities of samples / features (normalised to sum 1).
    seed : int or None, default 0
        Seed of numpy's ``default_rng``, which draws the resamples and the k-means seeds.
    km_n_init : int, default 5
        k-means starts per resample and k (R's CCP uses one).
    sample_names : sequence of str, optional
        Names of the samples (default: the DataFrame index, else ``s1``, ``s2``, ...).
    pac_window : (float, float), default (0.1, 0.9)
        ``(u1, u2)`` of the PAC.

    Returns
    -------
    dict
        The layout of :func:`r_bridge.consensus_cluster_plus`: ``classes`` (DataFrame
        samples x k, labels 1..k), ``consensus`` ({k: DataFrame samples x samples}), ``cdf``,
        ``area``, ``delta_area``, ``pac`` (see :func:`consensus_figures`), ``seed``.
    """
    if isinstance(X, pd.DataFrame):
        if sample_names is None:
            sample_names = [str(i) for i in X.index]
        X = X.to_numpy(dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D samples x features, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        bad = int((~np.isfinite(X)).sum())
        raise ValueError(
            f"the matrix to cluster has {bad} NaN or infinite values; impute or drop them "
            "(e.g. keep the genes without missing values) before consensus clustering"
        )
    # Every distance and clustering here is scale-equivariant, so one global rescaling
    # changes no cluster; it keeps squared distances and correlations of values near
    # 1e+-300 from overflowing or underflowing.
    amax = float(np.max(np.abs(X))) if X.size else 0.0
    if amax > 0.0 and not 1e-100 < amax < 1e100:
        X = X / amax
    n, p = X.shape
    if sample_names is None:
        sample_names = [f"s{i + 1}" for i in range(n)]
    if distance in ("pearson", "spearman") and n and p:
        flat = ~(X.max(axis=1) > X.min(axis=1))
        if flat.any():
            raise ValueError(
                f"{int(flat.sum())} sample(s) have the same value in every feature (e.g. "
                f"{[sample_names[i] for i in np.flatnonzero(flat)[:5]]}): their {distance} "
                "distance to any other sample is undefined; drop them or use "
                "distance='euclidean'"
            )
    if cluster_alg not in ("hc", "km", "pam"):
        raise ValueError(f"cluster_alg must be 'hc', 'km' or 'pam', got {cluster_alg!r}")
    if distance not in _DISTANCES:
        raise ValueError(f"distance must be one of {_DISTANCES}, got {distance!r}")
    for name, link in (("inner_linkage", inner_linkage), ("final_linkage", final_linkage)):
        if link not in _LINKAGES:
            raise ValueError(f"{name} must be one of {tuple(_LINKAGES)}, got {link!r}")
    if not 0 < p_item <= 1 or not 0 < p_feature <= 1:
        raise ValueError("p_item and p_feature must be in (0, 1]")
    n_item = math.floor(n * p_item)
    check_reps(reps)
    if max_k < 2 or max_k > n_item:
        raise ValueError(f"max_k must be in [2, floor(n * p_item) = {n_item}], got {max_k}")
    wi = _normalise_weights(weights_item, n, "weights_item")
    wf = _normalise_weights(weights_feature, p, "weights_feature")
    if wi is not None and np.count_nonzero(wi) < n_item:
        raise ValueError("fewer subjects with nonzero weight than floor(n * p_item)")
    sub_features = p_feature < 1 or wf is not None
    n_feat = math.floor(p * p_feature)
    rng = np.random.default_rng(seed)
    ks = list(range(2, max_k + 1))
    conn = np.zeros((len(ks), n, n))
    count = np.zeros((n, n))
    full_dist = None
    if cluster_alg != "km" and not sub_features:
        full_dist = squareform(_distance_matrix(X, distance))
    # One thread for the many small k-means / BLAS calls: threads contend badly on them
    # (on a loaded 2-core machine scikit-learn's KMeans took 50x longer with two).
    with threadpool_limits(limits=1):
        for _ in range(reps):
            items = _sample(rng, n, n_item, wi)
            if sub_features:
                feats = _sample(rng, p, n_feat, wf)
                Xs = X[np.ix_(items, feats)]
            else:
                Xs = X[items]
            count[np.ix_(items, items)] += 1
            if cluster_alg == "km":
                labels = [_kmeans(Xs, k, km_n_init, rng) for k in ks]
            else:
                if full_dist is not None:
                    Dsq = full_dist[np.ix_(items, items)]
                else:
                    Dsq = squareform(_distance_matrix(Xs, distance))
                if cluster_alg == "hc":
                    Z = linkage(squareform(Dsq, checks=False), method=_LINKAGES[inner_linkage])
                    cuts = cut_tree(Z, n_clusters=ks)
                    labels = [cuts[:, j] for j in range(len(ks))]
                else:
                    labels = [_pam(Dsq, k) for k in ks]
            for j, lab in enumerate(labels):
                same = lab[:, None] == lab[None, :]
                conn[j][np.ix_(items, items)] += same
    with np.errstate(invalid="ignore", divide="ignore"):
        cons = np.where(count > 0, conn / np.where(count > 0, count, 1), 0.0)
    idx = pd.Index([str(s) for s in sample_names], name="sample")
    classes = {}
    consensus = {}
    for j, k in enumerate(ks):
        M = cons[j]
        Z = linkage(squareform(1.0 - M, checks=False), method=_LINKAGES[final_linkage])
        lab = cut_tree(Z, n_clusters=k)[:, 0]
        classes[k] = _relabel_first_appearance(lab)
        consensus[k] = pd.DataFrame(M, index=idx, columns=idx)
    figs = consensus_figures(consensus, pac_window)
    cls = pd.DataFrame(classes, index=idx)
    cls.columns.name = "k"
    return {"classes": cls, "consensus": consensus, **figs, "seed": seed}
