"""``desurv.tl.consensus_cluster``: consensus clustering of samples on AnnData.

A scanpy-style wrapper (check the input, call an engine, write the keys) around two
implementations with one layout of results:

- ``"python"`` (default, no R needed): :func:`desurv.stats.consensus_cluster_python`, the
  Python twin of Bioconductor's ConsensusClusterPlus (its module docstring gives the
  semantics, the figures CDF / area / delta-area / PAC, and the paper's weighted sampling).
- ``"r"``: ConsensusClusterPlus itself through :mod:`r_bridge` (its random stream is R's,
  so classes agree with the Python twin only up to the randomness of the resamples:
  on clearly clustered data the adjusted Rand index is >= 0.95).

When validation cohorts of different sizes are merged, ``cohort_key=`` samples subjects
with the paper's weight ``1 / (D n_d)`` (:func:`desurv.stats.cohort_weights`).
``consensus_cluster_python``, ``consensus_figures`` and ``cohort_weights`` are re-exported
here for existing imports.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import is_anndata
from desurv.exceptions import DataWarning
from desurv.stats._consensus import (
    check_reps,
    cohort_weights,
    consensus_cluster_python,
    consensus_figures,
)
from desurv.stats._result import Result

__all__ = [
    "consensus_cluster",
    "consensus_cluster_python",
    "consensus_figures",
    "cohort_weights",
    "ConsensusResult",
]


class ConsensusResult(Result):
    """Results of :func:`consensus_cluster` (a :class:`desurv.stats.Result`: a dict with
    attribute access).

    Keys: ``classes`` (DataFrame samples x k, int labels 1..k), ``consensus``
    ({k: DataFrame samples x samples}), ``cdf`` (DataFrame bins x k), ``area``,
    ``delta_area``, ``pac`` (Series by k), ``seed``, ``implementation``, ``params``.
    """


def _features(
    data: Any, layer: str | None, use_rep: str | None, var_names: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Samples x features matrix, sample names and feature names from the input."""
    if is_anndata(data):
        if use_rep is not None and layer is not None:
            raise ValueError("give layer= or use_rep=, not both")
        if use_rep is not None:
            if use_rep not in data.obsm:
                raise KeyError(
                    f"use_rep={use_rep!r} is not in adata.obsm (keys: {list(data.obsm)}); "
                    "compute it first (e.g. desurv.tl.fit writes 'X_desurv') or pass layer="
                )
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
    data: Any,
    *,
    max_k: int = 6,
    reps: int = 100,
    p_item: float = 0.8,
    p_feature: float = 1.0,
    cluster_alg: str = "hc",
    distance: str | None = None,
    inner_linkage: str = "average",
    final_linkage: str = "average",
    weights_item: Any = None,
    weights_feature: Any = None,
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
) -> ConsensusResult | AnnData | None:
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
        ``weightsFeature``) of a draw without replacement: a sample with a tiny weight is
        rarely drawn and its consensus row stays 0.
    cohort_key
        obs column (or labels) of the cohort of each sample: sets ``weights_item`` to the
        paper's ``1 / (D n_d)`` (:func:`desurv.stats.cohort_weights`). Not together with
        ``weights_item``.
    seed
        Random seed (numpy ``default_rng`` for Python; R's ``set.seed`` for R). Recorded.
    km_n_init
        Python k-means starts per resample (scikit-learn's ``KMeans``, seeded from
        ``seed``; R's CCP uses one start).
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
    ConsensusResult or AnnData or None
        With AnnData: None (or the copy with ``copy=True``), after writing

        - ``adata.obs[f"{key_added}_k{k}"]``: categorical classes ("1".."k") for each k;
        - ``adata.obs[key_added]``: the classes at the chosen ``k`` (only when ``k`` is
          given);
        - ``adata.obsp[f"{key_added}_k{k}"]``: the consensus matrix (samples x samples) per
          k;
        - ``adata.uns[key_added]``: ``implementation``, ``params``, ``seed``, ``ks`` (array
          of k), ``cdf`` (array len(ks) x 100), ``cdf_breaks`` (the 100 upper bin edges),
          ``area``, ``delta_area``, ``pac`` (arrays over ks), and for R ``r_patched`` /
          ``r_version``. Only types that h5ad writes.

        Otherwise a :class:`ConsensusResult` (classes, consensus, cdf, area, delta_area,
        pac, seed, implementation, params).
    """
    if implementation not in ("python", "r"):
        raise ValueError(f"implementation must be 'python' or 'r', got {implementation!r}")
    is_ad = is_anndata(data)
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
        "reps": check_reps(reps),
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
