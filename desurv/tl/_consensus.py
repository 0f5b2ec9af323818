"""Consensus clustering of samples (Monti et al. 2003), as Bioconductor's ConsensusClusterPlus.

Two implementations with one layout of results:

- ``"python"`` (default, no R needed), with ConsensusClusterPlus' semantics: ``reps``
  resamples, each drawing ``floor(n * p_item)`` samples *without replacement* with
  probabilities ``weights_item`` and (when ``p_feature < 1`` or ``weights_feature`` is
  given) ``floor(p * p_feature)`` features likewise; each resample is clustered for every
  k = 2..max_k (k-means with ``km_n_init`` starts, hierarchical clustering cut at k, or PAM);
  the consensus matrix is (times i and j were clustered together) / (times both were drawn),
  0 when never drawn together; the final classes cut an average-linkage (``final_linkage``)
  tree of ``1 - consensus``. Labels are numbered by first appearance, as R's ``cutree``.
- ``"r"``: ConsensusClusterPlus itself through :mod:`r_bridge` (its random stream is R's,
  so classes agree with the Python twin only up to the randomness of the resamples:
  on clearly clustered data the adjusted Rand index is >= 0.95).

Figures computed for each k from the consensus matrix (lower triangle, no diagonal), as
ConsensusClusterPlus' ``CDF`` does: the empirical CDF on 100 bins of width 0.01
(right-closed, as R's ``hist``), the area under it, the delta-area (the area for k = 2, then
the relative increase ``(A_k - A_{k-1}) / A_{k-1}``), and the PAC, the proportion of
ambiguous clustering ``CDF(u2) - CDF(u1)`` with ``(u1, u2) = (0.1, 0.9)`` (Senbabaoglu et
al. 2014; lower is better).

Weighted subject sampling (paper)
---------------------------------
When validation cohorts of different sizes are merged, the paper samples subjects with
weight ``1 / (D n_d)`` (D cohorts, n_d subjects in cohort d) so that each cohort is drawn
equally often in total: :func:`cohort_weights`, or ``cohort_key=`` in
:func:`consensus_cluster`. Both implementations treat the weights as *sampling
probabilities* (R's ``sample(prob=)``, numpy's ``choice(p=)``) of a draw without
replacement: subjects with tiny weights are rarely drawn, and a subject never drawn keeps an
empty (all-zero) consensus row.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import cut_tree, linkage
from scipy.spatial.distance import pdist, squareform

from desurv.exceptions import DataWarning

__all__ = [
    "consensus_cluster",
    "consensus_cluster_python",
    "consensus_figures",
    "cohort_weights",
    "ConsensusResult",
]

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
def cohort_weights(cohorts) -> np.ndarray:
    """Sampling weights ``1 / (D n_d)`` from a cohort label per subject (the paper's scheme).

    ``D`` is the number of cohorts and ``n_d`` the size of subject's cohort ``d``; the
    weights sum to 1 and each cohort carries total weight ``1 / D``. Used as sampling
    probabilities by consensus clustering (see the module docstring).
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
    if distance == "pearson":
        c = np.corrcoef(Xs)
        return squareform(1.0 - c, checks=False)
    if distance == "spearman":
        from scipy.stats import rankdata  # noqa: PLC0415

        c = np.corrcoef(rankdata(Xs, axis=1))
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


def _kmeans(X: np.ndarray, k: int, n_init: int, rng: np.random.Generator, max_iter: int = 100):
    """Lloyd's k-means with k-means++ seeding, best of ``n_init`` starts (labels 0..k-1)."""
    n = X.shape[0]
    x2 = np.einsum("ij,ij->i", X, X)
    best_lab, best_inertia = None, np.inf
    for _ in range(max(1, n_init)):
        idx = [int(rng.integers(n))]
        d2 = np.maximum(x2 - 2 * X @ X[idx[0]] + x2[idx[0]], 0.0)
        for _c in range(1, k):
            tot = d2.sum()
            nxt = int(rng.choice(n, p=d2 / tot)) if tot > 0 else int(rng.integers(n))
            idx.append(nxt)
            d2 = np.minimum(d2, np.maximum(x2 - 2 * X @ X[nxt] + x2[nxt], 0.0))
        C = X[idx].copy()
        lab = None
        for _it in range(max_iter):
            D = x2[:, None] - 2 * X @ C.T + np.einsum("ij,ij->i", C, C)[None, :]
            new = np.argmin(D, axis=1)
            if lab is not None and np.array_equal(new, lab):
                break
            lab = new
            counts = np.bincount(lab, minlength=k)
            sums = np.zeros_like(C)
            np.add.at(sums, lab, X)
            empty = counts == 0
            C[~empty] = sums[~empty] / counts[~empty, None]
            if empty.any():  # re-seed empty clusters at the worst-fitted points
                far = np.argsort(D[np.arange(n), lab])[::-1][: int(empty.sum())]
                C[empty] = X[far]
        D = x2[:, None] - 2 * X @ C.T + np.einsum("ij,ij->i", C, C)[None, :]
        lab = np.argmin(D, axis=1)
        inertia = float(D[np.arange(n), lab].sum())
        if inertia < best_inertia:
            best_lab, best_inertia = lab, inertia
    return best_lab


def _pam(D: np.ndarray, k: int) -> np.ndarray:
    """Partitioning around medoids (BUILD + SWAP, as R's ``cluster::pam``) on a distance
    matrix; returns labels 0..k-1 (medoid order)."""
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
) -> dict:
    """CDF, area, delta-area and PAC of consensus matrices ({k: n x n}), as R's CCP.

    Returns ``cdf`` (DataFrame, rows = upper bin edges, columns = k), ``area``,
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


def consensus_cluster_python(
    X,
    *,
    max_k: int = 6,
    reps: int = 100,
    p_item: float = 0.8,
    p_feature: float = 1.0,
    cluster_alg: str = "hc",
    distance: str = "pearson",
    inner_linkage: str = "average",
    final_linkage: str = "average",
    weights_item=None,
    weights_feature=None,
    seed: int | None = 0,
    km_n_init: int = 5,
    sample_names: Sequence[str] | None = None,
    pac_window: tuple[float, float] = (0.1, 0.9),
) -> dict:
    """Python twin of ConsensusClusterPlus on samples x features ``X``.

    Same parameters as :func:`consensus_cluster` (without the AnnData handling). Returns the
    layout of :func:`r_bridge.consensus_cluster_plus`: ``classes`` (DataFrame samples x k),
    ``consensus`` ({k: DataFrame}), ``cdf``, ``area``, ``delta_area``, ``pac``, ``seed``.
    """
    if isinstance(X, pd.DataFrame):
        if sample_names is None:
            sample_names = [str(i) for i in X.index]
        X = X.to_numpy(dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D samples x features, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    n, p = X.shape
    if sample_names is None:
        sample_names = [f"s{i + 1}" for i in range(n)]
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


# --------------------------------------------------------------------------------------
# Results and the user call site.
# --------------------------------------------------------------------------------------
class ConsensusResult(dict):
    """Results of :func:`consensus_cluster` (a dict with attribute access).

    Keys: ``classes`` (DataFrame samples x k, int labels 1..k), ``consensus``
    ({k: DataFrame samples x samples}), ``cdf`` (DataFrame bins x k), ``area``,
    ``delta_area``, ``pac`` (Series by k), ``seed``, ``implementation``, ``params``.
    """

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _features(data, layer, use_rep, var_names):
    """Samples x features matrix, sample names and feature names from the input."""
    if type(data).__name__ == "AnnData" and hasattr(data, "obs"):
        if use_rep is not None and layer is not None:
            raise ValueError("give layer= or use_rep=, not both")
        if use_rep is not None:
            rep = data.obsm[use_rep]
            if isinstance(rep, pd.DataFrame):
                names = [str(c) for c in rep.columns]
                M = rep.to_numpy(dtype=float)
            else:
                M = np.asarray(rep, dtype=float)
                names = [f"{use_rep}_{j}" for j in range(M.shape[1])]
            if var_names is not None:
                raise ValueError("var_names selects genes; it cannot be combined with use_rep")
        else:
            sub = data if var_names is None else data[:, list(var_names)]
            M = sub.layers[layer] if layer is not None else sub.X
            if hasattr(M, "toarray"):
                M = M.toarray()
            M = np.asarray(M, dtype=float)
            names = [str(v) for v in sub.var_names]
        return M, [str(o) for o in data.obs_names], names
    if layer is not None or use_rep is not None:
        raise ValueError("layer= and use_rep= apply to AnnData input only")
    if isinstance(data, pd.DataFrame):
        df = data if var_names is None else data.loc[:, list(var_names)]
        return (
            df.to_numpy(dtype=float),
            [str(i) for i in df.index],
            [str(c) for c in df.columns],
        )
    M = np.asarray(data, dtype=float)
    if var_names is not None:
        raise ValueError("var_names needs an AnnData or a DataFrame")
    if M.ndim != 2:
        raise ValueError(f"data must be 2-D samples x features, got shape {M.shape}")
    return M, [f"s{i + 1}" for i in range(M.shape[0])], [f"f{j + 1}" for j in range(M.shape[1])]


def consensus_cluster(
    data,
    *,
    max_k: int = 6,
    reps: int = 100,
    p_item: float = 0.8,
    p_feature: float = 1.0,
    cluster_alg: str = "hc",
    distance: str | None = None,
    inner_linkage: str = "average",
    final_linkage: str = "average",
    weights_item=None,
    weights_feature=None,
    cohort_key: str | Sequence | None = None,
    seed: int | None = 0,
    km_n_init: int = 5,
    layer: str | None = None,
    use_rep: str | None = None,
    var_names: Sequence[str] | None = None,
    k: int | None = None,
    pac_window: tuple[float, float] = (0.1, 0.9),
    implementation: str = "python",
    key_added: str = "consensus",
    copy: bool = False,
):
    """Consensus clustering of samples, in Python or with R's ConsensusClusterPlus.

    Parameters
    ----------
    data
        AnnData (samples x genes; features from ``adata.X``, ``layer=``, or
        ``adata.obsm[use_rep]``), a DataFrame (samples x features) or a 2-D array.
    max_k
        Largest number of clusters; results for every k = 2..max_k (CCP's ``maxK``).
    reps
        Number of resamples (``reps``).
    p_item, p_feature
        Proportion of samples / features drawn per resample (``pItem``, ``pFeature``).
    cluster_alg
        ``"hc"`` (hierarchical, ``inner_linkage``), ``"km"`` (k-means; euclidean only) or
        ``"pam"`` (partitioning around medoids) (``clusterAlg``).
    distance
        ``"pearson"`` (1 - correlation of samples; default except for km), ``"spearman"``,
        ``"euclidean"`` (default and only choice for km), ``"manhattan"``, ``"maximum"``,
        ``"canberra"``, ``"binary"``, ``"minkowski"`` (``distance``).
    inner_linkage, final_linkage
        Linkage of the per-resample hc (``innerLinkage``) and of the final clustering of
        ``1 - consensus`` (``finalLinkage``): ``"average"``, ``"complete"``, ``"single"``,
        ``"mcquitty"``, ``"ward.D2"``.
    weights_item, weights_feature
        Sampling probabilities of samples / features (``weightsItem``,
        ``weightsFeature``); see the module docstring: a sample with a tiny weight is rarely
        drawn and its consensus row stays 0.
    cohort_key
        obs column (or labels) of the cohort of each sample: sets ``weights_item`` to the
        paper's ``1 / (D n_d)`` (:func:`cohort_weights`). Not together with
        ``weights_item``.
    seed
        Random seed (numpy ``default_rng`` for Python; R's ``set.seed`` for R). Recorded.
    km_n_init
        Python k-means starts per resample (R's CCP uses one start).
    layer, use_rep, var_names
        Which AnnData matrix to use, and an optional subset of genes (e.g. the top genes).
    k
        The chosen number of clusters: also written to ``adata.obs[key_added]``.
    pac_window
        ``(u1, u2)`` of the PAC.
    implementation
        ``"python"`` (default) or ``"r"`` (ConsensusClusterPlus through :mod:`r_bridge`).
    key_added
        Prefix of the keys written into an AnnData.
    copy
        With AnnData: work on (and return) a copy.

    Returns
    -------
    With AnnData: None (or the copy with ``copy=True``), after writing

    - ``adata.obs[f"{key_added}_k{k}"]``: categorical classes ("1".."k") for each k;
    - ``adata.obs[key_added]``: the classes at the chosen ``k`` (only when ``k`` is given);
    - ``adata.obsp[f"{key_added}_k{k}"]``: the consensus matrix (samples x samples) per k;
    - ``adata.uns[key_added]``: ``implementation``, ``params``, ``seed``, ``ks`` (array of
      k), ``cdf`` (array len(ks) x 100), ``cdf_breaks`` (the 100 upper bin edges),
      ``area``, ``delta_area``, ``pac`` (arrays over ks), and for R ``r_patched`` /
      ``r_version``. Only types that h5ad writes.

    Otherwise a :class:`ConsensusResult` (classes, consensus, cdf, area, delta_area, pac,
    seed, implementation, params).
    """
    if implementation not in ("python", "r"):
        raise ValueError(f"implementation must be 'python' or 'r', got {implementation!r}")
    is_ad = type(data).__name__ == "AnnData" and hasattr(data, "obs")
    adata = (data.copy() if copy else data) if is_ad else None
    M, samples, features = _features(adata if is_ad else data, layer, use_rep, var_names)
    if distance is None:
        distance = "euclidean" if cluster_alg == "km" else "pearson"
    if cluster_alg == "km" and distance != "euclidean":
        raise ValueError("cluster_alg='km' supports distance='euclidean' only (as CCP)")
    if cohort_key is not None:
        if weights_item is not None:
            raise ValueError("give cohort_key= or weights_item=, not both")
        if isinstance(cohort_key, str):
            if not is_ad:
                raise ValueError(
                    "cohort_key as a name looks up adata.obs; with other inputs pass the labels"
                )
            labels = adata.obs[cohort_key].to_numpy()
        else:
            labels = np.asarray(cohort_key)
        if len(labels) != len(samples):
            raise ValueError("cohort labels must have one value per sample")
        weights_item = cohort_weights(labels)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    if weights_item is not None:
        w = np.asarray(weights_item, dtype=float)
        if w.size and w.max() > 0 and np.any(w / w.max() < 1e-3):
            warnings.warn(
                "Some samples have sampling weights below 1/1000 of the largest: they are "
                "rarely drawn and their consensus rows may stay empty (0).",
                DataWarning,
                stacklevel=2,
            )
    params: dict[str, Any] = {
        "max_k": int(max_k),
        "reps": int(reps),
        "p_item": float(p_item),
        "p_feature": float(p_feature),
        "cluster_alg": cluster_alg,
        "distance": distance,
        "inner_linkage": inner_linkage,
        "final_linkage": final_linkage,
        "weighted_items": weights_item is not None,
        "weighted_features": weights_feature is not None,
        "cohort_key": cohort_key if isinstance(cohort_key, str) else None,
        "layer": layer,
        "use_rep": use_rep,
        "n_features": len(features),
        "k": k,
        "pac_window": list(pac_window),
        "implementation": implementation,
    }
    if implementation == "python":
        params["km_n_init"] = int(km_n_init)
        res = consensus_cluster_python(
            M,
            max_k=max_k,
            reps=reps,
            p_item=p_item,
            p_feature=p_feature,
            cluster_alg=cluster_alg,
            distance=distance,
            inner_linkage=inner_linkage,
            final_linkage=final_linkage,
            weights_item=weights_item,
            weights_feature=weights_feature,
            seed=seed,
            km_n_init=km_n_init,
            sample_names=samples,
            pac_window=pac_window,
        )
    else:
        import r_bridge  # noqa: PLC0415 - lazy: importing desurv never starts R

        res = r_bridge.consensus_cluster_plus(
            M,
            maxK=max_k,
            reps=reps,
            pItem=p_item,
            pFeature=p_feature,
            clusterAlg=cluster_alg,
            distance=distance,
            innerLinkage=inner_linkage,
            finalLinkage=final_linkage,
            weightsItem=weights_item,
            weightsFeature=weights_feature,
            seed=seed,
            sample_names=samples,
            feature_names=features,
            pac_window=pac_window,
        )
    params["seed"] = res["seed"]
    result = ConsensusResult(res, implementation=implementation, params=params)
    if k is not None and k not in result["classes"].columns:
        raise ValueError(f"k={k} is outside 2..max_k={max_k}")
    if adata is None:
        return result
    ks = list(result["classes"].columns)
    for kk in ks:
        col = result["classes"][kk].to_numpy()
        adata.obs[f"{key_added}_k{kk}"] = pd.Categorical(
            col.astype(str), categories=[str(i) for i in range(1, kk + 1)]
        )
        adata.obsp[f"{key_added}_k{kk}"] = result["consensus"][kk].to_numpy()
    if k is not None:
        adata.obs[key_added] = adata.obs[f"{key_added}_k{k}"].copy()
    uns = {
        "implementation": implementation,
        "params": {kk: v for kk, v in params.items() if v is not None},
        "ks": np.asarray(ks, dtype=np.int64),
        "cdf": result["cdf"].to_numpy().T.copy(),
        "cdf_breaks": result["cdf"].index.to_numpy(dtype=float),
        "area": result["area"].to_numpy(dtype=float),
        "delta_area": result["delta_area"].to_numpy(dtype=float),
        "pac": result["pac"].to_numpy(dtype=float),
    }
    if res.get("seed") is not None:
        uns["seed"] = int(res["seed"])
    if implementation == "r":
        uns["r_patched"] = bool(res["patched"])
        uns["r_version"] = str(res["version"])
    uns["params"]["pac_window"] = np.asarray(pac_window, dtype=float)
    adata.uns[key_added] = uns
    return adata if copy else None
