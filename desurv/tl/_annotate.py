"""``desurv.tl.annotate_programs``: test each factor's top genes against gene programs."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.stats import false_discovery_control, hypergeom

from desurv._anndata import check_adata, h5ad_safe
from desurv.tl._top_genes import top_genes_table

logger = logging.getLogger("desurv")

_COLUMNS = [
    "factor", "schema", "program", "n_top", "n_program", "overlap", "jaccard",
    "pval", "qval", "rank", "genes",
]


def _programs_table(
    programs: pd.DataFrame | str | PathLike | Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    if isinstance(programs, str | PathLike):
        programs = pd.read_csv(programs)
    if isinstance(programs, Mapping):
        rows = [(str(p), str(g)) for p, genes in programs.items() for g in genes]
        programs = pd.DataFrame(rows, columns=["program", "gene"])
    if not isinstance(programs, pd.DataFrame):
        raise TypeError(
            "programs must be a DataFrame with columns schema, program, gene, a path to such a "
            f"CSV, or a dict program -> genes; got {type(programs).__name__}"
        )
    missing = [c for c in ("program", "gene") if c not in programs.columns]
    if missing:
        raise KeyError(
            f"programs table lacks columns {missing}; it has {list(programs.columns)} "
            "(expected schema, program, gene)"
        )
    tab = programs.copy()
    if "schema" not in tab.columns:
        tab["schema"] = ""
    tab = tab[["schema", "program", "gene"]].dropna().astype(str)
    return tab.drop_duplicates()


def annotate_programs(
    adata: AnnData,
    programs: pd.DataFrame | str | PathLike | Mapping[str, Sequence[str]],
    *,
    key: str = "desurv",
    min_size: int = 5,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Test each factor's top genes for enrichment in published gene programs.

    For every factor j and program P (restricted to the universe U of genes used in the fit,
    ``adata.uns[key]['genes']``): overlap = |top_j & P|, Jaccard = overlap / |top_j | P|,
    and the one-sided hypergeometric p-value P(X >= overlap) for drawing |top_j| genes from
    U containing |P| program genes. P-values are corrected with Benjamini-Hochberg over all
    (factor, program) tests of the call. A factor's best matches (``rank`` 1, 2, ...) are the
    programs with the smallest p-value, so a factor can be called tumour (classical or
    basal-like), stromal (iCAF, myCAF), immune, ...

    Parameters
    ----------
    adata : AnnData
        Fitted by :func:`desurv.tl.fit` and with top genes from :func:`desurv.tl.top_genes`.
    programs : DataFrame, path or dict
        Table with columns ``schema, program, gene`` (``schema`` optional), e.g.
        ``../shared/data/gene_programs/reference_programs.csv``, a path to such a CSV, or a
        dict program -> genes.
    key : str, default "desurv"
        ``key_added`` of the fit (the top genes are read from ``uns[f"{key}_top_genes"]``).
    min_size : int, default 5
        Programs with fewer genes in the universe are not tested.
    key_added : str, optional
        Where to store the table; default ``f"{key}_programs"``.

    Returns
    -------
    pandas.DataFrame
        One row per (factor, program) tested, sorted by factor then p-value: ``factor``
        (1-based), ``schema``, ``program``, ``n_top`` (top genes of the factor),
        ``n_program`` (program genes in the universe), ``overlap``, ``jaccard``, ``pval``,
        ``qval`` (BH), ``rank`` (within the factor, 1 = best), ``genes`` (the overlapping
        genes, comma-separated). Also writes ``adata.uns[key_added]`` =
        ``{'table': dict of columns, 'n_universe', 'min_size', 'n_programs_skipped'}``.

    Raises
    ------
    KeyError
        No fit or no top genes under ``key``; a programs table without ``program``/``gene``.
    ValueError
        No program has ``min_size`` genes in the universe.
    """
    check_adata(adata)
    if key not in adata.uns or "genes" not in adata.uns[key]:
        raise KeyError(f"adata.uns[{key!r}] holds no fit record; run desurv.tl.fit first")
    universe = pd.Index(np.asarray(adata.uns[key]["genes"], dtype=object).astype(str))
    top = top_genes_table(adata, key)
    full = _programs_table(programs)
    n_programs = full.groupby(["schema", "program"]).ngroups
    tab = full[full["gene"].isin(universe)]
    groups = {name: set(g["gene"]) for name, g in tab.groupby(["schema", "program"], sort=True)}
    tested = {name: genes for name, genes in groups.items() if len(genes) >= min_size}
    skipped = n_programs - len(tested)
    if not tested:
        raise ValueError(
            f"no program has at least min_size={min_size} genes among the {len(universe)} genes "
            "used in the fit; check gene identifiers or lower min_size"
        )
    M = len(universe)
    rows = []
    for factor, sub in top.groupby("factor", sort=True):
        top_set = set(sub["gene"].astype(str))
        N = len(top_set)
        for (schema, program), pset in tested.items():
            ov = top_set & pset
            k = len(ov)
            union = len(top_set | pset)
            p = float(hypergeom.sf(k - 1, M, len(pset), N)) if k > 0 else 1.0
            rows.append(
                (int(factor), schema, program, N, len(pset), k, k / union if union else 0.0, p,
                 ",".join(sorted(ov)))
            )
    res = pd.DataFrame(
        rows,
        columns=["factor", "schema", "program", "n_top", "n_program", "overlap", "jaccard",
                 "pval", "genes"],
    )
    res["qval"] = false_discovery_control(np.clip(res["pval"].to_numpy(), 0.0, 1.0), method="bh")
    res = res.sort_values(["factor", "pval", "jaccard"], ascending=[True, True, False],
                          kind="stable")
    res["rank"] = res.groupby("factor").cumcount() + 1
    res = res[_COLUMNS].reset_index(drop=True)
    name = key_added or f"{key}_programs"
    adata.uns[name] = {
        "table": h5ad_safe(res),
        "n_universe": int(M),
        "min_size": int(min_size),
        "n_programs_skipped": int(skipped),
    }
    for f, sub in res.groupby("factor"):
        best = sub.iloc[0]
        logger.info(
            "factor %d best program: %s/%s (overlap %d, q=%.2g)",
            f, best["schema"], best["program"], best["overlap"], best["qval"],
        )
    return res
