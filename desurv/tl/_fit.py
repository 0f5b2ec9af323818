"""``desurv.tl.fit``: fit :class:`desurv.DeSurv` on an AnnData and store the results."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import (
    check_adata,
    get_matrix,
    get_survival,
    h5ad_safe,
    layer_name,
    package_version,
    pp_steps,
)

logger = logging.getLogger("desurv")

_PP_RECORDS = ("log1p", "quantile_normalize", "rank_transform")


def preprocessing_record(adata: AnnData) -> dict[str, Any]:
    """Snapshot of the preprocessing recorded on ``adata`` (steps in order + their records)."""
    rec: dict[str, Any] = {"steps": np.asarray(pp_steps(adata), dtype=object)}
    for name in _PP_RECORDS:
        if name in adata.uns:
            rec[name] = h5ad_safe(dict(adata.uns[name]))
    return rec


def _genes_mask(adata: AnnData, genes: str | Sequence[str] | np.ndarray | None) -> np.ndarray:
    if genes is None:
        return np.ones(adata.n_vars, dtype=bool)
    if isinstance(genes, str):
        if genes not in adata.var.columns:
            raise KeyError(
                f"genes={genes!r} is not a column of adata.var (columns: "
                f"{list(adata.var.columns)}); pass a boolean var column such as the one "
                "desurv.pp.filter_genes(subset=False) writes, or a list of gene names"
            )
        mask = np.asarray(adata.var[genes])
        if mask.dtype != bool:
            raise TypeError(f"adata.var[{genes!r}] must be boolean, got {mask.dtype}")
        return mask
    arr = np.asarray(genes)
    if arr.dtype == bool:
        if arr.shape != (adata.n_vars,):
            raise ValueError(f"boolean genes mask has shape {arr.shape}, need ({adata.n_vars},)")
        return arr
    names = pd.Index(arr.astype(str))
    missing = names.difference(adata.var_names)
    if len(missing):
        raise KeyError(f"{len(missing)} genes are not in adata.var_names, e.g. {list(missing[:5])}")
    return np.asarray(adata.var_names.isin(names))


def fit(
    adata: AnnData,
    time_key: str = "time",
    event_key: str = "event",
    n_components: int = 3,
    *,
    layer: str | None = None,
    genes: str | Sequence[str] | np.ndarray | None = None,
    key_added: str = "desurv",
    copy: bool = False,
    init: str = "random",
    consensus_n_fits: int = 100,
    consensus_n_top: int = 100,
    consensus_min_fits: int | None = None,
    **estimator_params: Any,
) -> AnnData | None:
    """Fit DeSurv (NMF X ~ W H whose factor scores drive a penalised Cox model) on a cohort.

    Wraps :class:`desurv.DeSurv`: the samples x genes matrix of ``adata`` is passed as X
    (the estimator's own orientation; the paper's X is its transpose, genes x samples),
    with survival from ``adata.obs``.

    Parameters
    ----------
    adata : AnnData
        Samples x genes, nonnegative, no missing values (e.g. after
        :func:`desurv.pp.log1p` and :func:`desurv.pp.filter_genes`).
    time_key : str, default "time"
        Column of ``adata.obs`` with the follow-up time (numeric, >= 0).
    event_key : str, default "event"
        Column of ``adata.obs`` with the event indicator (1 = event, 0 = censored).
    n_components : int, default 3
        Number of factors k.
    layer : str, optional
        Fit on ``adata.layers[layer]`` instead of ``adata.X``.
    genes : str, list of str or bool array, optional
        Fit on a subset of genes: a boolean column of ``adata.var`` (e.g. ``"desurv_filter"``
        from ``pp.filter_genes(subset=False)``), gene names, or a mask. Default: all genes.
    key_added : str, default "desurv"
        Prefix of every key written.
    copy : bool, default False
        Work on and return a copy.
    init : {"random", "consensus", "warm"}, default "random"
        ``"random"``: the estimator's ``n_init`` random starts, the lowest loss kept.
        ``"warm"``: one fit from the fit already stored under ``key_added`` (its W, H and
        coefficients; same k and genes), which it replaces: a fit continued at other
        hyperparameters, e.g. along an alpha path.
        ``"consensus"``: the final paper's final fit
        (:func:`desurv.selection.consensus_fit`): ``consensus_n_fits`` fits from random
        starts, the genes among a factor's top ``consensus_n_top`` genes in at least
        ``consensus_min_fits`` of the gene sets (default ceil(0.3 n_fits), the paper's) grouped
        into k programs, W0 from the groups, H0 by NNLS, beta0 = 0, and one fit from there
        (``n_init`` is then not used).
    consensus_n_fits, consensus_n_top, consensus_min_fits : int
        The consensus seed's number of fits (the paper: 100), top genes per factor (the
        selected ``n_top``) and minimum frequency; ``init="consensus"`` only.
    **estimator_params
        Further hyperparameters of :class:`desurv.DeSurv`: ``alpha`` (survival weight),
        ``lambda_`` (penalty on the standardised Cox coefficients), ``l1_ratio`` (xi),
        ``lambda_h`` (nu, the programs' energy ridge), ``ties``, ``tol``, ``max_iter``,
        ``n_init``, ``random_state``, ``n_jobs``, ``variant`` (``lambda_w``, gamma, with
        ``variant="r-desurv"`` only), ``dtype`` (``"float32"`` holds the fit's X in single
        precision: about half the memory; a float32 matrix is then used as it is), ...
        The matrix is read, not copied (only a gene subset is), so beyond it a fit needs
        what :class:`desurv.DeSurv` needs (``benchmarks/bench_memory.py``).

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes (k = ``n_components``):

        - ``adata.varm[f"{key_added}_W"]``: W, genes x k; rows of genes not used in the fit
          are 0;
        - ``adata.var[f"{key_added}_used"]``: bool, gene used in the fit;
        - ``adata.obsm[f"{key_added}_H"]``: H transposed, samples x k;
        - ``adata.obsm[f"X_{key_added}"]``: factor scores Z^T = X W, samples x k;
        - ``adata.obs[f"{key_added}_risk"]``: risk X W beta (higher = worse);
        - ``adata.uns[key_added]``: the fit record, only h5ad-writable types:
          ``'params'`` (estimator parameters; those equal to None are omitted and listed in
          ``params['_none']``), ``'beta'`` (k; raw: risk = X W beta), ``'beta_std'`` (k; per
          training sd of each score), ``'score_sd'`` (k), ``'loss_history'`` (dict of
          per-iteration arrays ``loss, nmf, cox, penalty_beta, penalty_w, penalty_h``),
          ``'n_iter'``,
          ``'converged'``, ``'train_cindex'``, ``'seeds'``, ``'variant'``, ``'genes'``
          (genes used, in W's row order), ``'n_components'``, ``'time_key'``,
          ``'event_key'``, ``'layer'``, ``'preprocessing'`` (the ``uns['desurv_pp']`` step
          list and the ``log1p`` / ``quantile_normalize`` / ``rank_transform`` records, used
          by :func:`desurv.tl.score`), ``'version'`` (desurv's), ``'init'``; with
          ``init="consensus"`` also ``'consensus'``: ``n_fits``, ``n_top``, ``min_fits``,
          ``n_sets`` (gene sets counted), ``n_kept`` (genes clustered), ``labels`` (group of
          each gene used, in W's row order, -1 for genes not kept) and ``frequency`` (gene
          sets each gene used is in).

    Raises
    ------
    KeyError
        Missing survival columns (the message lists the columns of ``obs``), a missing layer
        or genes.
    ValueError
        Non-numeric, missing or negative survival values (naming the samples), negative or
        missing expression values.
    """
    check_adata(adata)
    if init not in ("random", "consensus", "warm"):
        raise ValueError(
            f"init must be 'random' (the estimator's n_init starts), 'consensus' (the final "
            f"paper's consensus seed) or 'warm' (from the fit under key_added), got {init!r}"
        )
    time, event = get_survival(adata, time_key, event_key)
    mask = _genes_mask(adata, genes)
    if not mask.any():
        raise ValueError("no gene selected for the fit")
    # checked once, by DeSurv.fit (with the names). The matrix is only read, so it is not
    # copied (a fresh copy held through the fit was one X more at the peak): the DataFrame
    # wraps adata's array itself, and a gene subset is the one copy made here. A float32
    # fit takes float32 data as they are.
    kept = (np.float64, np.float32) if estimator_params.get("dtype") == "float32" else np.float64
    X = get_matrix(adata, layer, dtype=kept, copy=False)
    if not mask.all():
        X = X[:, mask]
    used = adata.var_names[mask]
    from desurv.estimator import DeSurv

    Xdf = pd.DataFrame(X, index=adata.obs_names.astype(str), columns=used.astype(str), copy=False)
    consensus = None
    if init == "consensus":
        from desurv.selection import consensus_fit

        model, seed = consensus_fit(
            Xdf, time, event, n_components=n_components, n_top=consensus_n_top,
            n_fits=consensus_n_fits, min_fits=consensus_min_fits, **estimator_params,
        )  # fmt: skip
        consensus = {
            "n_fits": int(seed.n_fits),
            "n_top": int(seed.n_top),
            "min_fits": int(seed.min_fits),
            "n_sets": int(seed.n_sets),
            "n_kept": int(np.sum(seed.kept)),
            "labels": np.asarray(seed.labels, dtype=np.int64),
            "frequency": np.asarray(seed.frequency, dtype=np.int64),
        }
    else:
        model = DeSurv(n_components=n_components, **estimator_params)
        start = _warm_start(adata, key_added, n_components, used, model) if init == "warm" else {}
        model.fit(Xdf, time, event, **start)
    del X, Xdf
    if copy:  # after the fit, so that the copy's matrix and the fit's do not coexist
        adata = adata.copy()

    k = model.W_.shape[1]
    W = np.zeros((adata.n_vars, k), dtype=np.float64)
    W[mask] = np.asarray(model.W_, dtype=np.float64)
    adata.varm[f"{key_added}_W"] = W
    adata.var[f"{key_added}_used"] = mask
    adata.obsm[f"{key_added}_H"] = np.asarray(model.H_, dtype=np.float64).T
    scores = np.asarray(model.train_scores_, dtype=np.float64)  # X W, formed once in fit
    adata.obsm[f"X_{key_added}"] = scores
    adata.obs[f"{key_added}_risk"] = scores @ np.asarray(model.coef_, dtype=np.float64)
    record = {
        "params": h5ad_safe(model.get_params()),
        "beta": np.asarray(model.coef_, dtype=np.float64),
        "beta_std": np.asarray(model.coef_std_, dtype=np.float64),
        "score_sd": np.asarray(model.sd_z_, dtype=np.float64),
        "loss_history": h5ad_safe(pd.DataFrame(model.loss_history_)),
        "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_),
        "train_cindex": float(model.train_cindex_),
        "seeds": seeds_array(model.seeds_),
        "variant": str(model.get_params().get("variant", "default")),
        "genes": np.asarray(used, dtype=object),
        "n_components": int(k),
        "time_key": str(time_key),
        "event_key": str(event_key),
        "layer": layer_name(layer),
        "preprocessing": preprocessing_record(adata),
        "version": package_version(),
        "init": init,
    }
    if consensus is not None:
        record["consensus"] = consensus
    adata.uns[key_added] = record
    logger.info(
        "tl.fit: k=%d on %d samples x %d genes, train C-index %.3f, %d iterations",
        k, adata.n_obs, int(mask.sum()), record["train_cindex"], record["n_iter"],
    )
    return adata if copy else None


def _warm_start(adata: AnnData, key: str, k: int, used: pd.Index, model: Any) -> dict:
    """``W0`` (genes used x k), ``H0`` (k x samples) and ``beta0`` of the fit stored under
    ``key``, as :meth:`desurv.DeSurv.fit` takes them."""
    rec = adata.uns.get(key)
    if not isinstance(rec, dict) or f"{key}_W" not in adata.varm or f"{key}_H" not in adata.obsm:
        raise KeyError(
            f"init='warm' starts from the fit under key_added={key!r}, but adata has none "
            f"(uns[{key!r}], varm['{key}_W'], obsm['{key}_H']); fit it first"
        )
    if int(rec["n_components"]) != int(k):
        raise ValueError(
            f"init='warm': the stored fit has k={int(rec['n_components'])}, this one "
            f"n_components={k}; use the same k"
        )
    genes = pd.Index(np.asarray(rec["genes"]).astype(str))
    if not genes.equals(pd.Index(used.astype(str))):
        raise ValueError(
            f"init='warm': the stored fit used {len(genes)} genes, this one {len(used)} "
            "others; pass the same genes= (or layer) as the stored fit"
        )
    rows = adata.var_names.get_indexer(genes)
    W0 = np.asarray(adata.varm[f"{key}_W"], dtype=float)[rows]
    H0 = np.asarray(adata.obsm[f"{key}_H"], dtype=float).T
    # the default variant starts from standardised coefficients, the R variant from raw ones
    b0 = rec["beta"] if getattr(model, "variant", "default") == "r-desurv" else rec["beta_std"]
    return {"W0": W0, "H0": H0, "beta0": np.asarray(b0, dtype=float)}


def seeds_array(seeds: Any) -> np.ndarray:
    """Seeds as an int64 array, or as strings when they do not fit in 64 bits."""
    flat = list(np.asarray(seeds, dtype=object).ravel()) if seeds is not None else []
    try:
        return np.asarray([int(s) for s in flat], dtype=np.int64)
    except (OverflowError, TypeError, ValueError):
        return np.asarray([str(s) for s in flat], dtype=object)
