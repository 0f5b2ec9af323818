"""``desurv.pp.merge_cohorts``: concatenate cohorts with a cohort label."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import anndata as ad
import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import check_adata, check_unique_genes
from desurv.exceptions import DataWarning

logger = logging.getLogger("desurv")


def merge_cohorts(
    adatas: Mapping[str, AnnData] | Sequence[AnnData],
    *,
    keys: Sequence[str] | None = None,
    join: str = "inner",
    cohort_key: str = "cohort",
    index_unique: str | None = None,
) -> AnnData:
    """Concatenate cohorts (samples x genes each) into one AnnData with a cohort label.

    Parameters
    ----------
    adatas : mapping of str to AnnData, or sequence of AnnData
        The cohorts, at least two. A mapping's keys name the cohorts.
    keys : sequence of str, optional
        Cohort names for a sequence (default ``"0"``, ``"1"``, ...).
    join : {"inner", "outer"}, default "inner"
        Genes kept: those shared by all cohorts (inner), or all genes (outer). With outer,
        genes a cohort lacks are filled with 0 in ``X`` and every layer, with a
        :class:`~desurv.exceptions.DataWarning` giving the count per cohort.
    cohort_key : str, default "cohort"
        Column of ``obs`` that receives the cohort names (categorical).
    index_unique : str, optional
        Separator used to make sample names unique (``name + sep + cohort``) when cohorts
        share sample names; default: shared sample names are an error.

    Returns
    -------
    AnnData
        Samples of all cohorts x the joined genes. ``obs`` has every column of every
        cohort (missing where a cohort lacks it), ``obs[cohort_key]`` names the cohort
        (replacing a column of that name),
        ``uns`` keeps the entries equal in all cohorts (e.g. a shared ``'log1p'`` record),
        and ``uns['merge_cohorts']`` records ``'join'``, ``'cohort_key'``, ``'cohorts'``,
        ``'n_genes'`` and ``'n_filled'`` (genes zero-filled per cohort, in cohort order).

    Raises
    ------
    ValueError
        Fewer than two cohorts, a bad ``join``, duplicated gene names within a cohort,
        shared sample names without ``index_unique``, or an inner join with no shared gene.
    """
    if join not in ("inner", "outer"):
        raise ValueError(f"join must be 'inner' or 'outer', got {join!r}")
    if isinstance(adatas, Mapping):
        names = [str(k) for k in adatas]
        items = list(adatas.values())
        if keys is not None:
            raise ValueError("pass keys= only with a sequence of AnnData; a mapping names them")
    else:
        items = list(adatas)
        names = [str(k) for k in keys] if keys is not None else [str(i) for i in range(len(items))]
        if len(names) != len(items):
            raise ValueError(f"{len(names)} keys for {len(items)} cohorts")
    if len(items) < 2:
        raise ValueError(
            f"merge_cohorts needs at least two cohorts, got {len(items)}; a single cohort "
            "needs no merging"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"cohort names must be unique, got {names}")
    for name, a in zip(names, items):
        check_adata(a, f"cohort {name!r}")
        check_unique_genes(a, f"cohort {name!r}")
    if index_unique is None:
        seen: dict[str, str] = {}
        for name, a in zip(names, items):
            for s in a.obs_names:
                if s in seen:
                    raise ValueError(
                        f"sample {s!r} is in cohorts {seen[s]!r} and {name!r}; pass "
                        "index_unique='-' to suffix sample names with their cohort"
                    )
                seen[s] = name
    gene_sets = [set(a.var_names) for a in items]
    union = set().union(*gene_sets)
    shared = set.intersection(*gene_sets)
    if join == "inner" and not shared:
        raise ValueError(
            f"cohorts {names} share no gene; check gene identifiers or use join='outer'"
        )
    n_filled = [len(union - g) if join == "outer" else 0 for g in gene_sets]
    if join == "outer" and any(n_filled):
        detail = ", ".join(f"{n}: {k}" for n, k in zip(names, n_filled) if k)
        warnings.warn(
            f"join='outer' zero-filled genes missing from cohorts ({detail} of {len(union)} "
            "genes); zeros are not measurements, consider join='inner'",
            DataWarning,
            stacklevel=2,
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not unique.*")
        merged = ad.concat(
            items,
            join=join,
            label=cohort_key,
            keys=names,
            index_unique=index_unique,
            fill_value=0 if join == "outer" else None,
            uns_merge="same",
            merge="same",
        )
    # obs: all columns of all cohorts (anndata's inner join would drop columns one lacks)
    obs = pd.concat([a.obs for a in items], join="outer", ignore_index=True)
    obs.index = merged.obs_names
    obs[cohort_key] = pd.Categorical(merged.obs[cohort_key].astype(str), categories=names)
    merged.obs = obs
    merged.uns["merge_cohorts"] = {
        "join": join,
        "cohort_key": cohort_key,
        "cohorts": np.asarray(names, dtype=object),
        "n_genes": int(merged.n_vars),
        "n_filled": np.asarray(n_filled, dtype=np.int64),
    }
    logger.info("merged %d cohorts: %d samples x %d genes", len(items), merged.n_obs, merged.n_vars)
    return merged
