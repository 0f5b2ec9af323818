"""``desurv.tl.score``: project a new cohort on a trained DeSurv model."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import (
    check_adata,
    check_finite,
    check_unique_genes,
    get_matrix,
    layer_name,
)
from desurv.exceptions import DataWarning
from desurv.pp._log1p import log1p_values, logged_layers
from desurv.pp._quantile import quantile_to_target
from desurv.pp._rank import rank_rows
from desurv.tl._top_genes import get_W, top_genes_table

logger = logging.getLogger("desurv")


def _fit_record(model: AnnData, key: str) -> dict[str, Any]:
    if key not in model.uns or "beta" not in model.uns[key]:
        raise KeyError(
            f"model.uns[{key!r}] holds no DeSurv fit record; pass the AnnData that "
            f"desurv.tl.fit(..., key_added={key!r}) wrote (uns keys: {list(model.uns)})"
        )
    return model.uns[key]


def _restrict(X: np.ndarray, genes: pd.Index, keep: Any) -> tuple[np.ndarray, pd.Index]:
    keep_idx = pd.Index(np.asarray(keep, dtype=object).astype(str))
    cols = genes.isin(keep_idx)
    return X[:, cols], genes[cols]


def _preprocess(
    X: np.ndarray, genes: pd.Index, adata_new: AnnData, layer: str | None, pp_rec: dict
) -> tuple[np.ndarray, pd.Index, list[str]]:
    """Apply the model's recorded preprocessing to a new cohort's matrix (see score)."""
    steps = [str(s) for s in np.asarray(pp_rec.get("steps", []), dtype=object).ravel()]
    done: list[str] = []
    for step in steps:
        if X.shape[1] == 0:  # no shared gene: the coverage check reports it
            break
        if step == "log1p":
            if layer_name(layer) in logged_layers(adata_new):
                continue
            if X.size and X.min() < 0:
                raise ValueError(
                    f"the model was trained on log1p data but the new cohort's "
                    f"{layer_name(layer)} has negative values and no uns['log1p'] record; "
                    "if it is already on a log scale, undo that with desurv.pp.unlog(adata_new) "
                    "(it reads the scale recorded in uns['value_scale'], e.g. "
                    "log2(TPM + 0.001)), or pass preprocess=False and prepare the cohort "
                    "yourself"
                )
            base = pp_rec.get("log1p", {}).get("base")
            X = log1p_values(X, None if base is None else float(base))
            done.append("log1p")
        elif step == "quantile_normalize":
            rec = pp_rec["quantile_normalize"]
            X, genes = _restrict(X, genes, rec["genes"])
            X = quantile_to_target(X, np.asarray(rec["target"], dtype=np.float64))
            done.append("quantile_normalize")
        elif step == "rank_transform":
            rec = pp_rec["rank_transform"]
            X, genes = _restrict(X, genes, rec["genes"])
            X = rank_rows(X, n_target=int(rec["n_genes"]))
            if "scale" in rec:  # tl.select's in-fold rank transform: ranks / p_train
                X = X * float(rec["scale"])
            done.append("rank_transform")
    return X, genes, done


def _check_projectable(
    X: np.ndarray,
    genes: pd.Index,
    adata_new: AnnData,
    layer: str | None,
    applied: list[str],
    pp_rec: dict,
    preprocess: bool,
) -> None:
    """Refuse negative values in what is projected on W (the model's genes of the new
    cohort, after the preprocessing applied), with the check ``DeSurv.predict`` uses.

    None of the steps that :func:`score` replays (log1p, quantile normalisation to a
    nonnegative training target, ranks) leaves negative values from valid input, so a
    negative value here means the cohort is on another scale than the training data.
    """
    from desurv._validation import check_nonnegative

    what = f"{layer_name(layer)} of the new cohort"
    if applied:
        what += f" after the model's preprocessing ({', '.join(applied)})"
    try:
        check_nonnegative(X, what, adata_new.obs_names, genes)
    except ValueError as err:
        steps = [str(s) for s in np.asarray(pp_rec.get("steps", []), dtype=object).ravel()]
        how = (
            "with preprocess=False the matrix is projected as it is"
            if not preprocess
            else f"the model's recorded preprocessing ({', '.join(steps) or 'none'}) has no "
            "step that makes negative values valid input"
        )
        raise ValueError(
            f"{err} desurv.tl.score projects the cohort on W as DeSurv.predict does, which "
            f"refuses negative expression, and {how}. If the cohort is on a log scale (e.g. "
            "log2(TPM + 0.001)), undo it with desurv.pp.unlog(adata_new) and score again "
            "(with preprocess=True the model's log1p, if any, is then applied); otherwise "
            "prepare it on the scale of the training cohort."
        ) from None


def project(
    adata_new: AnnData,
    model: AnnData,
    *,
    genes: str = "all",
    layer: str | None = None,
    preprocess: bool = True,
    min_coverage: float = 0.5,
    key: str = "desurv",
    stacklevel: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The new cohort's matrix on the model's genes, after the model's preprocessing.

    Steps 1 and 2 of :func:`score` without writing anything: returns ``X`` (samples x model
    genes, in the order of ``model.uns[key]['genes']``; missing genes are 0), ``W`` (model
    genes x k; with ``genes="top"`` the weights outside each factor's top list are 0),
    ``beta`` (k) and an info dict (``n_needed``, ``n_present``, ``coverage``,
    ``missing_genes``, ``preprocessing`` (steps applied), ``needed`` (bool per model gene),
    ``model_genes``, ``record`` (the fit record)). Raises and warns as :func:`score`.
    """
    check_adata(adata_new, "adata_new")
    check_adata(model, "model")
    if genes not in ("all", "top"):
        raise ValueError(f"genes must be 'all' or 'top', got {genes!r}")
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage!r}")
    rec = _fit_record(model, key)
    W_full = get_W(model, key)
    model_genes = pd.Index(np.asarray(rec["genes"], dtype=object).astype(str))
    idx = pd.Index(model.var_names.astype(str)).get_indexer(model_genes)
    if (idx < 0).any():
        raise KeyError(
            f"{int((idx < 0).sum())} genes of the fit record are missing from model.var_names; "
            "the model AnnData was subset after fitting, score with the AnnData as fitted"
        )
    W = W_full[idx]
    beta = np.asarray(rec["beta"], dtype=np.float64)
    if genes == "top":
        table = top_genes_table(model, key)
        mask = np.zeros_like(W, dtype=bool)
        pos = model_genes.get_indexer(table["gene"].astype(str))
        if (pos < 0).any():
            raise ValueError("the top-genes table names genes that were not used in the fit")
        mask[pos, table["factor"].to_numpy() - 1] = True
        W = np.where(mask, W, 0.0)
        needed = mask.any(axis=1)
    else:
        needed = np.ones(len(model_genes), dtype=bool)

    X = get_matrix(adata_new, layer)
    check_finite(X, adata_new, f"{layer_name(layer)} of the new cohort")
    check_unique_genes(adata_new, "the new cohort (adata_new)")
    new_genes = pd.Index(adata_new.var_names.astype(str))
    applied: list[str] = []
    if preprocess:
        X, new_genes, applied = _preprocess(
            X, new_genes, adata_new, layer, rec.get("preprocessing", {})
        )
    col = new_genes.get_indexer(model_genes)
    present = col >= 0
    n_needed = int(needed.sum())
    n_present = int((present & needed).sum())
    coverage = n_present / n_needed if n_needed else 0.0
    missing = model_genes[needed & ~present]
    if coverage < min_coverage:
        raise ValueError(
            f"the new cohort has {n_present} of the model's {n_needed} "
            f"{'top ' if genes == 'top' else ''}genes (coverage {coverage:.1%} < min_coverage "
            f"{min_coverage:.0%}); check that genes are named the same way (symbols vs "
            f"Ensembl ids; e.g. model {list(model_genes[:3])}, new cohort "
            f"{list(adata_new.var_names[:3])}) or lower min_coverage"
        )
    _check_projectable(X[:, col[present]], new_genes[col[present]], adata_new, layer, applied,
                       rec.get("preprocessing", {}), preprocess)  # fmt: skip
    if len(missing):
        warnings.warn(
            f"{len(missing)} of the model's {n_needed} genes are missing from the new cohort "
            f"and were filled with 0 (coverage {coverage:.1%}; e.g. {list(missing[:5])})",
            DataWarning,
            stacklevel=stacklevel,
        )
    Xm = np.zeros((X.shape[0], len(model_genes)), dtype=np.float64)
    Xm[:, present] = X[:, col[present]]
    info = {
        "n_needed": n_needed,
        "n_present": n_present,
        "coverage": float(coverage),
        "missing_genes": missing,
        "preprocessing": applied,
        "needed": needed,
        "model_genes": model_genes,
        "record": rec,
    }
    return Xm, W, beta, info


def score(
    adata_new: AnnData,
    model: AnnData,
    *,
    genes: str = "all",
    layer: str | None = None,
    preprocess: bool = True,
    min_coverage: float = 0.5,
    key: str = "desurv",
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Project a new cohort on a trained DeSurv model: factor scores and risk.

    With W (genes x k) and beta (k) of the fit stored on ``model`` (by
    :func:`desurv.tl.fit`), and X_new (samples x genes) of the new cohort after the steps
    below: ``scores = X_new[:, model genes] @ W`` (samples x k) and ``risk = scores @ beta``
    (higher = worse). Scoring the training AnnData itself reproduces its stored risk.

    What is done, in order:

    1. Preprocessing (``preprocess=True``): the steps recorded in the fit
       (``model.uns[key]['preprocessing']``, in the order applied to the training cohort) are
       applied to a copy of the new cohort's matrix; ``adata_new`` is never modified:

       - ``log1p``: applied with the training base, unless the new cohort's own
         ``uns['log1p']`` record says this layer is already logged;
       - ``quantile_normalize``: the new cohort's genes that were normalised in training are
         normalised, sample by sample, to the *training* target
         (preprocessCore ``normalize.quantiles.use.target``; the target quantiles are
         interpolated when fewer genes are shared);
       - ``rank_transform``: within-sample average ranks over the shared genes, mapped
         linearly onto the training range 1..p_train;
       - ``filter_genes``: nothing (genes are matched in step 2).
    2. Gene matching by name: model genes missing from the new cohort are filled with 0
       (after preprocessing) and reported by a :class:`~desurv.exceptions.DataWarning` that
       counts them; below ``min_coverage`` a ValueError is raised. With ``genes="top"`` only
       the genes of each factor's top list (``model.uns[f"{key}_top_genes"]``, from
       :func:`desurv.tl.top_genes`) keep their weight, the others get 0 in that factor, and
       coverage is counted over the top genes.
    3. ``scores = X @ W``, ``risk = scores @ beta``.

    Parameters
    ----------
    adata_new : AnnData
        The new cohort, samples x genes, on the same scale as the training data before
        preprocessing.
    model : AnnData
        The AnnData fitted by :func:`desurv.tl.fit` (possibly read back from h5ad).
    genes : {"all", "top"}, default "all"
        Use all the model's genes or only the top genes of each factor.
    layer : str, optional
        Use ``adata_new.layers[layer]`` instead of ``adata_new.X``.
    preprocess : bool, default True
        Apply the training preprocessing first (step 1). False: use the matrix as it is.
    min_coverage : float, default 0.5
        Smallest fraction of the model's genes (or top genes) that the new cohort must have.
    key : str, default "desurv"
        ``key_added`` of the fit on ``model``.
    key_added : str, optional
        Prefix of the keys written on ``adata_new``; default ``key``.
    copy : bool, default False
        Write into and return a copy of ``adata_new``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes on ``adata_new``:

        - ``obsm[f"X_{key_added}"]``: factor scores, samples x k;
        - ``obs[f"{key_added}_risk"]``: risk, higher = worse;
        - ``uns[f"{key_added}_score"]``: ``'genes'`` ("all"/"top"), ``'n_model_genes'``,
          ``'n_missing'``, ``'missing_genes'``, ``'coverage'``, ``'preprocessing'`` (steps
          applied), ``'min_coverage'``, ``'layer'``, ``'model_version'``.

    Raises
    ------
    KeyError
        ``model`` has no fit under ``key`` (or no top genes with ``genes="top"``), or the
        layer does not exist.
    ValueError
        The new cohort shares too few genes with the model, has missing values, or has
        negative values in the model's genes after the preprocessing applied (as
        ``DeSurv.predict``; none of the replayed steps makes them valid: undo a log scale
        with :func:`desurv.pp.unlog`).
    """
    X, W, beta, info = project(
        adata_new, model, genes=genes, layer=layer, preprocess=preprocess,
        min_coverage=min_coverage, key=key, stacklevel=3,
    )
    with np.errstate(over="ignore", invalid="ignore"):
        scores = X @ W
        risk = scores @ beta
    if not (np.all(np.isfinite(scores)) and np.all(np.isfinite(risk))):
        raise ValueError(
            f"the new cohort's scores overflow (non-finite values): its {layer_name(layer)} "
            f"(max {float(np.max(X)) if X.size else 0.0:.3g} after preprocessing) is on a scale "
            "far from the training data's; put it in the training data's units (same "
            "normalisation and log scale) before scoring"
        )
    missing, applied = info["missing_genes"], info["preprocessing"]
    n_needed, n_present, coverage = info["n_needed"], info["n_present"], info["coverage"]
    rec = info["record"]

    if copy:
        adata_new = adata_new.copy()
    out = key_added or key
    adata_new.obsm[f"X_{out}"] = scores
    adata_new.obs[f"{out}_risk"] = risk
    adata_new.uns[f"{out}_score"] = {
        "genes": genes,
        "n_model_genes": n_needed,
        "n_missing": int(len(missing)),
        "missing_genes": np.asarray(missing, dtype=object),
        "coverage": float(coverage),
        "preprocessing": np.asarray(applied, dtype=object),
        "min_coverage": float(min_coverage),
        "layer": layer_name(layer),
        "model_version": str(rec.get("version", "")),
    }
    logger.info(
        "tl.score: %d samples on %d/%d genes, preprocessing %s",
        adata_new.n_obs, n_present, n_needed, applied or "none",
    )
    return adata_new if copy else None
