"""Turn a cohort's parsed files into an AnnData, following its registry entry.

Steps (each recorded in ``adata.uns``): read the files with the parser of the entry's format;
map feature ids to gene symbols and collapse ids sharing a symbol; align the clinical table to
the expression samples; build ``time`` (months) and ``event`` (0/1) from the entry's clinical
mapping; apply the paper's sample selection; build the AnnData (samples x genes).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from data_registry import parsers
from data_registry.errors import DataRegistryWarning, MalformedFileError, RegistryError
from data_registry.registry import (
    TIME_UNITS,
    CohortEntry,
    load_selections,
    normalise_time_unit,
)

__all__ = ["read_cohort", "build_anndata", "DAYS_PER_MONTH"]

log = logging.getLogger("desurv")

#: 1 month = 365.25 / 12 days.
DAYS_PER_MONTH = 365.25 / 12.0
_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*[GTP]\d+)\.\d+(_PAR_Y)?$")


def _one(paths: Mapping[str, list[Path]], role: str, entry: CohortEntry) -> Path:
    found = paths.get(role, [])
    if len(found) != 1:
        raise RegistryError(f"cohort {entry.id!r} (format {entry.format}) needs exactly one "
                            f"file with role {role!r}, has {len(found)}")
    return found[0]


def read_cohort(entry: CohortEntry, paths: Mapping[str, list[Path]]
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series | None]:
    """Parse a cohort's local files with the parser of its format.

    Parameters
    ----------
    entry : CohortEntry
    paths : mapping of str to list of Path
        Local files by role (as returned by :func:`data_registry.fetch.locate`).

    Returns
    -------
    expression : DataFrame
        Features x samples as published.
    clinical : DataFrame
        Indexed by sample id (possibly with rows for samples that have no expression).
    id_map : Series or None
        Feature id -> symbol, when the entry maps ids through an annotation file.
    """
    opts = entry.parse
    fmt = entry.format
    if fmt == "tidy":
        expr = parsers.parse_tidy_expression(_one(paths, "expression", entry))
        clin = parsers.parse_tidy_clinical(_one(paths, "clinical", entry))
    elif fmt == "geo_series_matrix":
        expr, clin = parsers.parse_geo_series_matrix(_one(paths, "series_matrix", entry))
        if paths.get("supplementary"):
            key = opts.get("supplementary_sample_key", "title")
            expr = parsers.parse_geo_supplementary_table(_one(paths, "supplementary", entry))
            if key not in clin.columns:
                raise RegistryError(f"cohort {entry.id!r}: series matrix has no sample field "
                                    f"{key!r} to match the supplementary table's columns")
            to_gsm = pd.Series(clin.index, index=clin[key].astype(str))
            if to_gsm.index.duplicated().any():
                raise MalformedFileError(f"{paths['series_matrix'][0]}: sample field {key!r} "
                                         "is not unique; cannot match the supplementary table")
            unknown = [c for c in expr.columns if c not in to_gsm.index]
            if unknown:
                raise MalformedFileError(
                    f"{paths['supplementary'][0]}: columns {unknown[:10]} match no sample's "
                    f"{key!r} in the series matrix"
                )
            expr.columns = [to_gsm[c] for c in expr.columns]
            n_series = len(clin)
            clin = clin.loc[clin.index.isin(expr.columns)]
            if len(clin) < n_series:
                log.info("%s: %d series samples are not in the supplementary table", entry.id,
                         n_series - len(clin))
    elif fmt == "arrayexpress":
        sdrf = parsers.parse_sdrf(_one(paths, "sdrf", entry),
                                  sample_column=opts.get("sdrf_sample_column", "Source Name"))
        expr = parsers.parse_processed_matrix(_one(paths, "expression", entry),
                                              member=opts.get("member"))
        key = opts.get("matrix_column_key")
        if key and key != opts.get("sdrf_sample_column", "Source Name"):
            if key not in sdrf.columns:
                raise MalformedFileError(f"{paths['sdrf'][0]}: no SDRF column {key!r}")
            to_sample = pd.Series(sdrf.index, index=sdrf[key].astype(str))
            to_sample = to_sample[~to_sample.index.duplicated()]
            unknown = [c for c in expr.columns if c not in to_sample.index]
            if unknown:
                raise MalformedFileError(
                    f"{paths['expression'][0]}: matrix columns {unknown[:10]} match no SDRF "
                    f"{key!r} value"
                )
            expr.columns = [to_sample[c] for c in expr.columns]
            parsers._check_unique(list(expr.columns), paths["expression"][0],
                                  "samples (matrix columns mapped through the SDRF)")
        clin = sdrf
    elif fmt == "xena":
        expr = parsers.parse_xena_matrix(_one(paths, "expression", entry))
        sample_col = opts.get("clinical_sample_column")
        tables = [parsers.parse_xena_clinical(p, sample_column=sample_col)
                  for p in paths.get("clinical", [])]
        surv = [parsers.parse_xena_clinical(p) for p in paths.get("survival", [])]
        if surv:
            s = pd.concat(surv, axis=0)
            s = s[~s.index.duplicated(keep="first")]
            tables.append(s)
        if not tables:
            raise RegistryError(f"cohort {entry.id!r}: a xena entry needs a clinical or "
                                "survival file")
        clin = tables[0]
        for t in tables[1:]:
            clin = clin.join(t, how="outer", rsuffix="_survival")
    elif fmt == "cbioportal":
        folder = _one(paths, "study", entry)
        if opts.get("study_dir") and (folder / opts["study_dir"]).is_dir():
            folder = folder / opts["study_dir"]
        expr, clin = parsers.parse_cbioportal_study(
            folder, mrna_file=opts.get("mrna_file", "data_mrna_seq_v2_rsem.txt"),
            symbol_column=entry.genes.get("column", "Hugo_Symbol"),
        )
    elif fmt == "icgc":
        expr, samples = parsers.parse_icgc_expression(
            _one(paths, "expression", entry), value_column=opts["value_column"],
            sample_column=opts.get("sample_column", "icgc_sample_id"),
        )
        donors = parsers.parse_icgc_donor(_one(paths, "clinical", entry))
        clin = samples.join(donors, on="icgc_donor_id", rsuffix="_donor")
    else:  # pragma: no cover - the registry validates formats
        raise RegistryError(f"cohort {entry.id!r}: unknown format {fmt!r}")
    id_map = None
    if entry.genes.get("map"):
        mp = _one(paths, entry.genes["map"], entry)
        id_map = parsers.parse_id_map(mp, id_column=entry.genes.get("map_id_column", "ID"),
                                      symbol_column=entry.genes.get("map_symbol_column",
                                                                    "Gene symbol"))
    return expr, clin, id_map


def _strip_version(ids: pd.Index) -> pd.Index:
    return pd.Index([_ENSEMBL_VERSION.sub(r"\1\2", str(i)) for i in ids])


def map_genes(expr: pd.DataFrame, entry: CohortEntry, id_map: pd.Series | None
              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Map feature ids to gene symbols and collapse features that share a symbol.

    Parameters
    ----------
    expr : DataFrame
        Features x samples.
    entry : CohortEntry
        ``entry.genes``: ``id_type`` (symbol | ensembl | probe | entrez), ``collapse``
        (``mean``, default, or ``max_mean``: keep the feature with the highest mean).
    id_map : Series or None
        Feature id -> symbol (Ensembl versions are stripped on both sides before matching).

    Returns
    -------
    DataFrame
        Genes x samples with unique symbols (in first-seen order).
    dict
        What was done: ``id_type``, ``n_features``, ``n_unmapped``, ``n_collapsed``,
        ``collapse``.
    """
    id_type = entry.genes["id_type"]
    collapse = entry.genes.get("collapse", "mean")
    info: dict[str, Any] = {"id_type": id_type, "n_features": int(expr.shape[0]),
                            "collapse": collapse, "n_unmapped": 0, "n_collapsed": 0}
    if id_type != "symbol":
        if id_map is None:
            raise RegistryError(f"cohort {entry.id!r}: id_type {id_type!r} needs genes.map")
        ids = expr.index
        if id_type == "ensembl":
            ids = _strip_version(ids)
            id_map = id_map.copy()
            id_map.index = _strip_version(id_map.index)
            id_map = id_map[~id_map.index.duplicated(keep="first")]
        symbols = pd.Series(ids, index=expr.index).map(id_map)
        mapped = symbols.notna().to_numpy()
        info["n_unmapped"] = int((~mapped).sum())
        expr = expr.loc[mapped]
        expr.index = pd.Index(symbols[mapped].astype(str).to_numpy())
        if info["n_unmapped"]:
            log.info("%s: %d of %d features have no gene symbol and were dropped", entry.id,
                     info["n_unmapped"], info["n_features"])
    if expr.index.has_duplicates:
        n_before = expr.shape[0]
        if collapse == "max_mean":
            means = expr.mean(axis=1).to_numpy()
            order = pd.DataFrame({"g": expr.index, "m": means, "i": np.arange(n_before)})
            best = order.sort_values(["g", "m"], ascending=[True, False]).drop_duplicates("g")
            expr = expr.iloc[np.sort(best["i"].to_numpy())]
        elif collapse == "mean":
            expr = expr.groupby(level=0, sort=False).mean()
        else:
            raise RegistryError(f"cohort {entry.id!r}: genes.collapse {collapse!r} must be "
                                "'mean' or 'max_mean'")
        info["n_collapsed"] = int(n_before - expr.shape[0])
        log.info("%s: %d features collapsed onto shared symbols (%s)", entry.id,
                 info["n_collapsed"], collapse)
    return expr, info


def _align_clinical(expr: pd.DataFrame, clin: pd.DataFrame, entry: CohortEntry,
                    clinical_file: str) -> pd.DataFrame:
    samples = pd.Index(expr.columns)
    unmatched_policy = entry.parse.get("clinical_unmatched",
                                       "error" if entry.format in ("tidy", "geo_series_matrix")
                                       else "drop")
    extra = clin.index.difference(samples, sort=False)
    if len(extra) and unmatched_policy == "error":
        pos = [int(i) + 2 for i in np.flatnonzero(clin.index.isin(extra))]
        raise MalformedFileError(
            f"cohort {entry.id!r}: {len(extra)} clinical row(s) of {clinical_file} match no "
            f"expression sample: ids {', '.join(map(repr, extra[:10]))} on line(s) "
            f"{parsers._fmt_rows(pos)}. Fix the sample ids or remove those rows."
        )
    if len(extra):
        log.info("%s: %d clinical rows without expression were left out", entry.id, len(extra))
    missing = samples.difference(clin.index, sort=False)
    if len(missing):
        if entry.format == "tidy":
            raise MalformedFileError(
                f"cohort {entry.id!r}: expression samples {', '.join(map(repr, missing[:10]))} "
                f"have no row in {clinical_file}"
            )
        warnings.warn(
            f"cohort {entry.id!r}: {len(missing)} expression sample(s) have no clinical row "
            f"({', '.join(map(repr, missing[:5]))}); their time and event are missing",
            DataRegistryWarning, stacklevel=3,
        )
    return clin.reindex(samples)


def _event_values(raw: pd.Series, emap: Mapping[str, int], entry: CohortEntry, col: str
                  ) -> np.ndarray:
    out = np.full(len(raw), np.nan)
    lowered = {str(k).strip().lower(): v for k, v in emap.items()}
    bad: list[str] = []
    for i, v in enumerate(raw.to_numpy()):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        s = str(v).strip()
        if s.lower() in lowered:
            out[i] = lowered[s.lower()]
            continue
        try:
            x = float(s)
        except ValueError:
            bad.append(raw.index[i])
            continue
        if x in (0.0, 1.0):
            out[i] = x
        else:
            bad.append(raw.index[i])
    if bad:
        vals = sorted({str(raw[b]) for b in bad})[:5]
        raise MalformedFileError(
            f"cohort {entry.id!r}: event column {col!r} has values other than 0/1 for samples "
            f"{', '.join(map(repr, bad[:10]))} (values {vals}); add them to the entry's "
            "clinical.event_map"
        )
    return out


def survival(clin: pd.DataFrame, entry: CohortEntry) -> tuple[np.ndarray, np.ndarray,
                                                                   dict[str, Any]]:
    """Build ``time`` in months and ``event`` (0/1, NaN when missing) from the clinical table.

    Parameters
    ----------
    clin : DataFrame
        Clinical table aligned to the samples.
    entry : CohortEntry
        ``entry.clinical``: ``time`` (a column or a list: the first non-missing per sample),
        ``event``, ``time_unit`` (a unit, or ``"column:NAME"``), ``event_map``.

    Returns
    -------
    time_months : ndarray of float
    event : ndarray of float (0, 1 or NaN)
    units : dict
        ``{"time": "months", "time_original_unit": ..., "time_columns": ..., ...}``.
    """
    spec = entry.clinical
    tcols = [spec["time"]] if isinstance(spec["time"], str) else list(spec["time"])
    present = [c for c in tcols if c in clin.columns]
    if not present:
        raise MalformedFileError(
            f"cohort {entry.id!r}: none of the time columns {tcols} is in the clinical table "
            f"(columns: {', '.join(map(repr, clin.columns[:15]))})"
        )
    time = pd.Series(np.nan, index=clin.index)
    for c in present:
        vals = pd.to_numeric(clin[c], errors="coerce")
        bad = vals.isna() & clin[c].notna()
        if bad.any():
            raise MalformedFileError(
                f"cohort {entry.id!r}: non-numeric time in column {c!r} for samples "
                f"{', '.join(map(repr, clin.index[bad][:10]))}"
            )
        time = time.fillna(vals)
    ecol = spec["event"]
    if ecol not in clin.columns:
        raise MalformedFileError(f"cohort {entry.id!r}: event column {ecol!r} is not in the "
                                 f"clinical table")
    event = _event_values(clin[ecol], spec.get("event_map", {}), entry, ecol)
    unit = spec["time_unit"]
    if unit.startswith("column:"):
        ucol = unit[len("column:"):]
        if ucol not in clin.columns:
            raise MalformedFileError(f"cohort {entry.id!r}: time unit column {ucol!r} missing")
        raw_units = clin[ucol]
        units = raw_units.dropna().map(normalise_time_unit)
        if units.empty:
            units = pd.Series(["months"], dtype=object)
        factor = np.array([TIME_UNITS[normalise_time_unit(u)] / DAYS_PER_MONTH
                           if isinstance(u, str) else np.nan for u in raw_units])
        factor = np.where(np.isnan(factor) & time.isna().to_numpy(), 1.0, factor)
        if np.isnan(factor).any():
            rows = clin.index[np.isnan(factor)]
            raise MalformedFileError(f"cohort {entry.id!r}: samples {list(rows[:10])} have a "
                                     f"time but no {ucol!r}")
        uniq = sorted(set(units))
        original = uniq[0] if len(uniq) == 1 else "mixed: " + ", ".join(uniq)
    else:
        original = normalise_time_unit(unit)
        factor = np.full(len(time), TIME_UNITS[original] / DAYS_PER_MONTH)
    months = time.to_numpy(dtype=float) * factor
    neg = months < 0
    if np.any(neg):
        raise MalformedFileError(f"cohort {entry.id!r}: negative survival times for samples "
                                 f"{list(clin.index[neg][:10])}")
    units_info = {"time": "months", "time_original_unit": original,
                  "time_columns": present, "event_column": ecol,
                  "days_per_month": DAYS_PER_MONTH}
    return months, event, units_info


def _select(obs: pd.DataFrame, entry: CohortEntry) -> tuple[np.ndarray, dict[str, Any]]:
    """Boolean mask of the samples the entry's selection keeps, and what was applied.

    ``obs`` is the clinical table as published (strings), aligned to the samples, so that
    ``where`` clauses compare the archive's own values.
    """
    sel = entry.selection
    keep = np.ones(len(obs), dtype=bool)
    info: dict[str, Any] = {"description": sel.get("description", "all samples"),
                            "n_before": int(len(obs))}
    for clause in sel.get("where", []):
        field = clause["field"]
        values = (pd.Series(obs.index, index=obs.index) if field == "obs_names"
                  else obs[field] if field in obs.columns else None)
        if values is None:
            raise MalformedFileError(f"cohort {entry.id!r}: selection field {field!r} is not "
                                     "in the clinical table")
        s = values.astype(str)
        if "equals" in clause:
            keep &= (s == str(clause["equals"])).to_numpy()
        elif "in" in clause:
            keep &= s.isin([str(v) for v in clause["in"]]).to_numpy()
        elif "matches" in clause:
            keep &= s.str.contains(clause["matches"], regex=True).to_numpy()
        else:
            raise RegistryError(f"cohort {entry.id!r}: selection clause {clause} needs equals, "
                                "in or matches")
    wl_name = sel.get("whitelist")
    if wl_name:
        wl = load_selections()[wl_name]["samples"]
        n = sel.get("match_chars")
        norm = (lambda x: str(x)[:n]) if n else str  # noqa: E731
        wanted = {norm(x) for x in wl}
        keep &= np.array([norm(i) in wanted for i in obs.index])
        info["whitelist"] = wl_name
        info["whitelist_size"] = len(wl)
    one_per = sel.get("one_per")
    if one_per:
        first = ~obs[one_per].astype(str).duplicated(keep="first").to_numpy()
        keep &= first | obs[one_per].isna().to_numpy()
        info["one_per"] = one_per
    info["n_after"] = int(keep.sum())
    return keep, info


def _obs_columns_for_h5ad(df: pd.DataFrame) -> pd.DataFrame:
    """Clinical columns typed for ``obs`` in h5ad: numeric text as float, other text as category.

    Not a copy of ``desurv._anndata.h5ad_safe`` (the one converter of records for ``uns``):
    this one types DataFrame columns, and data_registry does not import desurv (DESIGN.md).
    """
    out = {}
    for c in df.columns:
        col = df[c]
        if col.dtype == object:
            num = pd.to_numeric(col, errors="coerce")
            if (num.notna() == col.notna()).all() and col.notna().any():
                out[str(c)] = num.astype(float)
            else:
                out[str(c)] = pd.Categorical(col.where(col.isna(), col.astype(str)))
        else:
            out[str(c)] = col
    return pd.DataFrame(out, index=df.index)


def build_anndata(entry: CohortEntry, expr: pd.DataFrame, clin: pd.DataFrame,
                  id_map: pd.Series | None, files: list[dict[str, Any]], *,
                  apply_selection: bool = True, survival_only: bool = False) -> ad.AnnData:
    """Assemble the AnnData of a cohort.

    Parameters
    ----------
    entry : CohortEntry
    expr : DataFrame
        Features x samples as parsed.
    clin : DataFrame
        Clinical table indexed by sample id.
    id_map : Series or None
        Feature id -> symbol for non-symbol ids.
    files : list of dict
        Provenance of each file (role, name, url, sha256, path).
    apply_selection : bool, default True
        Apply the entry's sample selection (the paper's whitelist / filters).
    survival_only : bool, default False
        Drop samples whose time or event is missing.

    Returns
    -------
    AnnData
        Samples x genes (``X`` = expression transposed, float64); ``obs``: ``time`` (months),
        ``event`` (int 0/1, or pandas nullable ``Int64`` when some are missing), ``cohort``,
        then the clinical fields; ``uns``: ``provenance`` (with ``files``: ``{file name: {role, url,
        sha256, path}}``), ``units``, ``value_scale``, ``selection``, ``gene_mapping``.
    """
    clinical_file = next((f["name"] for f in files if f["role"] in
                          ("clinical", "sdrf", "series_matrix", "study")), "the clinical table")
    expr, gene_info = map_genes(expr, entry, id_map)
    clin = _align_clinical(expr, clin, entry, clinical_file)
    months, event, units = survival(clin, entry)
    consumed = {"time", "event", "time_unit"} if entry.format == "tidy" else set()
    fields = clin.drop(columns=[c for c in clin.columns if c in consumed or c == "cohort"])
    fields = fields.rename(columns={c: f"{c}_raw" for c in fields.columns
                                    if c in ("time", "event")})
    obs = pd.DataFrame({"time": months, "event": event}, index=clin.index)
    obs = pd.concat([obs, _obs_columns_for_h5ad(fields)], axis=1)
    keep = np.ones(len(obs), dtype=bool)
    sel_info: dict[str, Any] = {"description": "not applied", "n_before": int(len(obs))}
    if apply_selection and entry.selection:
        keep, sel_info = _select(clin, entry)
    if survival_only:
        keep &= obs["time"].notna().to_numpy() & obs["event"].notna().to_numpy()
        sel_info["survival_only"] = True
    sel_info["n_after"] = int(keep.sum())
    obs = obs.loc[keep].copy()
    expr = expr.loc[:, keep]
    if obs["event"].isna().any():
        obs["event"] = obs["event"].astype("Int64")
    else:
        obs["event"] = obs["event"].astype(np.int64)
    obs.insert(2, "cohort", pd.Categorical([entry.id] * len(obs)))
    obs.index = obs.index.astype(str)
    obs.index.name = None
    var = pd.DataFrame(index=pd.Index(expr.index.astype(str), name=None))
    adata = ad.AnnData(X=np.ascontiguousarray(expr.to_numpy(dtype=np.float64).T), obs=obs,
                       var=var)
    adata.uns["provenance"] = {
        "cohort": entry.id,
        "name": entry.name,
        "source": entry.upstream or (entry.files[0].url or ""),
        "accession": entry.accession,
        "citation": entry.citation,
        "licence": entry.licence,
        "access": entry.access,
        "format": entry.format,
        "derived_from": entry.derived_from,
        "files": {str(f["name"]): {k: str(v) for k, v in f.items() if k != "name"}
                  for f in files},
    }
    adata.uns["units"] = {k: (list(v) if isinstance(v, list) else v) for k, v in units.items()}
    adata.uns["value_scale"] = entry.value_scale
    adata.uns["selection"] = sel_info
    adata.uns["gene_mapping"] = gene_info
    return adata
