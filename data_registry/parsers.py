"""Parsers for the file formats the cohorts are published in.

Every expression parser returns a :class:`pandas.DataFrame` **genes x samples** (index: the
feature ids as published: symbols, probe ids or Ensembl ids; columns: sample ids as published)
of floats; clinical parsers return a DataFrame indexed by sample (or patient) id. Nothing is
renamed, mapped or converted here: gene-id mapping, survival units and sample selection happen
in :mod:`data_registry.assemble`, driven by the registry entry.

Malformed input raises :class:`~data_registry.errors.MalformedFileError` naming the file and
the rows (1-based line numbers of the file) or ids at fault: truncated files and rows with too
few fields, non-numeric values in a matrix, duplicated sample ids, duplicated clinical rows.

Formats
-------
- tidy layout of ``shared/data``: :func:`parse_tidy_expression`, :func:`parse_tidy_clinical`
- GEO series matrix (``GSExxx_series_matrix.txt.gz``): :func:`parse_geo_series_matrix`
- GEO supplementary tables (genes x samples text tables): :func:`parse_geo_supplementary_table`
- GEO platform annotation (``GPLxxx.annot.gz`` / SOFT tables) and UCSC Xena probe maps:
  :func:`parse_id_map`
- ArrayExpress / BioStudies: :func:`parse_sdrf`, :func:`parse_processed_matrix`
- UCSC Xena / GDC: :func:`parse_xena_matrix`, :func:`parse_xena_clinical`
- cBioPortal study folders: :func:`parse_cbioportal_study`
- ICGC release files: :func:`parse_icgc_expression`, :func:`parse_icgc_donor`
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from data_registry.errors import MalformedFileError

__all__ = [
    "parse_cbioportal_study",
    "parse_geo_series_matrix",
    "parse_geo_supplementary_table",
    "parse_icgc_donor",
    "parse_icgc_expression",
    "parse_id_map",
    "parse_processed_matrix",
    "parse_sdrf",
    "parse_tidy_clinical",
    "parse_tidy_expression",
    "parse_xena_clinical",
    "parse_xena_matrix",
]

NA_VALUES = ["", "NA", "NaN", "nan", "null", "NULL", "N/A", "n/a", "--", "[Not Available]",
             "[Not Applicable]", "[Unknown]", "[Discrepancy]", "[Not Evaluated]"]


# ------------------------------------------------------------------------------ helpers

def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path) -> io.TextIOBase:
    if _is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _lines(path: Path) -> Iterator[str]:
    """Yield the lines of a (possibly gzipped) text file; truncation becomes MalformedFileError."""
    n = 0
    try:
        with _open_text(path) as fh:
            for line in fh:
                n += 1
                yield line.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise MalformedFileError(
            f"{path}: the file is truncated or corrupt after line {n} ({exc}); delete it and "
            "fetch it again"
        ) from None


def _split(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep, quotechar='"'))


def _fmt_rows(rows: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" (and {len(rows) - limit} more)" if len(rows) > limit else "")


def _check_unique(ids: list[str] | pd.Index, path: Path, what: str,
                  line_of: dict[str, list[int]] | None = None) -> None:
    s = pd.Index([str(i) for i in ids])
    dup = s[s.duplicated(keep=False)].unique()
    if len(dup):
        detail = ""
        if line_of is not None:
            detail = "; " + "; ".join(f"{d!r} on lines {_fmt_rows(line_of.get(d, []))}"
                                      for d in dup[:5])
        raise MalformedFileError(
            f"{path}: duplicated {what}: {', '.join(repr(d) for d in dup[:10])}"
            f"{' ...' if len(dup) > 10 else ''}{detail}. Each {what.rstrip('s')} must appear "
            "once: fix or de-duplicate the file."
        )


def _read_matrix(path: Path, *, sep: str, skiprows: int = 0, nrows: int | None = None,
                 comment_prefixes: tuple[str, ...] = (), what: str = "expression matrix",
                 header: list[str] | None = None, extra_skip: int = 0) -> pd.DataFrame:
    """Read a features x samples numeric table whose first column holds the feature ids.

    ``skiprows`` lines are skipped before the header; ``nrows`` data rows are read. Checks:
    unique sample ids, every row has as many fields as the header, values are numeric.
    ``extra_skip`` lines right after the header are skipped too (MAGE-TAB second headers).
    """
    if header is None:
        lines = _lines(path)
        for _ in range(skiprows):
            next(lines, None)
        first = next(lines, None)
        if first is None:
            raise MalformedFileError(f"{path}: empty {what} (no header line)")
        header = _split(first, sep)
    if len(header) < 2:
        raise MalformedFileError(f"{path}: the {what} header has no sample columns "
                                 f"(separator {sep!r} expected)")
    _check_unique(header[1:], path, "sample ids (header columns)")
    try:
        df = pd.read_csv(
            path, sep=sep, index_col=0, header=0, nrows=nrows,
            skiprows=list(range(skiprows)) + list(range(skiprows + 1, skiprows + 1 + extra_skip)),
            na_values=NA_VALUES, keep_default_na=False, quotechar='"', low_memory=False,
            comment=None, compression="gzip" if _is_gzip(path) else None,
            on_bad_lines="error", dtype={header[0]: str},
        )
    except (EOFError, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
        raise MalformedFileError(
            f"{path}: the file is truncated or corrupt ({exc}); delete it and fetch it again"
        ) from None
    except pd.errors.ParserError as exc:
        raise MalformedFileError(f"{path}: cannot parse the {what}: {exc}") from None
    if comment_prefixes and len(df):
        keep = ~df.index.astype(str).str.startswith(comment_prefixes)
        df = df.loc[keep]
    df.index = df.index.astype(str)
    df.index.name = None
    df.columns = [str(c) for c in df.columns]
    if df.isna().to_numpy().any():
        _check_short_rows(path, sep=sep, skiprows=skiprows + extra_skip, n_fields=len(header),
                          df=df, what=what)
    bad_cols = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad_cols:
        rows = []
        for c in bad_cols[:3]:
            conv = pd.to_numeric(df[c], errors="coerce")
            rows += list(df.index[conv.isna() & df[c].notna()][:3])
        raise MalformedFileError(
            f"{path}: non-numeric values in the {what}, sample columns "
            f"{', '.join(map(repr, bad_cols[:5]))}, rows {', '.join(map(repr, rows[:5]))}"
        )
    return df.astype(np.float64)


def _check_short_rows(path: Path, *, sep: str, skiprows: int, n_fields: int,
                      df: pd.DataFrame, what: str) -> None:
    """Raise if any data row has fewer fields than the header (a truncated matrix)."""
    short: list[int] = []
    lines = _lines(path)
    for i, line in enumerate(lines, start=1):
        if i <= skiprows + 1:
            continue
        if i > skiprows + 1 + len(df):
            break
        if line.count(sep) + 1 < n_fields and len(_split(line, sep)) < n_fields:
            short.append(i)
    if short:
        raise MalformedFileError(
            f"{path}: the {what} is truncated or ragged: line(s) {_fmt_rows(short)} have fewer "
            f"fields than the header's {n_fields}; fetch the file again"
        )


def _read_table(path: Path, *, sep: str, comment: str | None = None,
                skip_prefixes: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a text table of strings (clinical / annotation), skipping prefixed preamble lines."""
    skip = 0
    if skip_prefixes:
        for line in _lines(path):
            if line.startswith(skip_prefixes):
                skip += 1
            else:
                break
    try:
        return pd.read_csv(
            path, sep=sep, skiprows=skip, dtype=str, na_values=NA_VALUES, keep_default_na=False,
            quotechar='"', compression="gzip" if _is_gzip(path) else None, comment=comment,
            on_bad_lines="error",
        )
    except (EOFError, gzip.BadGzipFile) as exc:
        raise MalformedFileError(f"{path}: the file is truncated or corrupt ({exc})") from None
    except pd.errors.ParserError as exc:
        raise MalformedFileError(f"{path}: cannot parse the table: {exc}") from None
    except pd.errors.EmptyDataError:
        raise MalformedFileError(f"{path}: empty table") from None


def _index_by(df: pd.DataFrame, column: str, path: Path, header_lines: int = 1) -> pd.DataFrame:
    if column not in df.columns:
        raise MalformedFileError(
            f"{path}: no column {column!r}; columns are {', '.join(map(repr, df.columns[:12]))}"
        )
    ids = df[column].astype(str)
    missing = df[column].isna().to_numpy()
    if missing.any():
        rows = [int(i) + header_lines + 1 for i in np.flatnonzero(missing)]
        raise MalformedFileError(f"{path}: empty {column!r} on line(s) {_fmt_rows(rows)}")
    line_of: dict[str, list[int]] = {}
    for i, v in enumerate(ids):
        line_of.setdefault(v, []).append(i + header_lines + 1)
    _check_unique(list(ids), path, f"{column} values", line_of)
    out = df.drop(columns=[column])
    out.index = pd.Index(ids.to_numpy(), name=None)
    return out


# ------------------------------------------------------------------------------ tidy

def parse_tidy_expression(path: str | Path) -> pd.DataFrame:
    """Read a tidy ``expression.csv.gz`` (genes x samples; first column ``gene``).

    Parameters
    ----------
    path : str or Path
        Comma-separated, optionally gzipped; header ``gene,<sample ids...>``.

    Returns
    -------
    DataFrame
        Genes x samples, float64; index = gene symbols, columns = sample ids.

    Raises
    ------
    MalformedFileError
        Truncated file or rows, non-numeric values, duplicated sample ids or genes.
    """
    path = Path(path)
    df = _read_matrix(path, sep=",", what="tidy expression matrix")
    line_of: dict[str, list[int]] = {}
    for i, g in enumerate(df.index):
        line_of.setdefault(g, []).append(i + 2)
    _check_unique(list(df.index), path, "genes", line_of)
    return df


def parse_tidy_clinical(path: str | Path) -> pd.DataFrame:
    """Read a tidy ``clinical.csv`` (``sample_id, time, event, time_unit, ...``).

    Parameters
    ----------
    path : str or Path
        Comma-separated table, one row per sample.

    Returns
    -------
    DataFrame
        Indexed by ``sample_id``; all columns as strings (missing values as NaN).

    Raises
    ------
    MalformedFileError
        Missing ``sample_id`` column, empty or duplicated sample ids (with their line numbers).
    """
    path = Path(path)
    df = _read_table(path, sep=",")
    for col in ("sample_id", "time", "event", "time_unit"):
        if col not in df.columns:
            raise MalformedFileError(f"{path}: tidy clinical table needs a {col!r} column")
    return _index_by(df, "sample_id", path)


# ------------------------------------------------------------------------------ GEO

def parse_geo_series_matrix(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a GEO series matrix file (``GSExxx_series_matrix.txt[.gz]``).

    The ``!Sample_*`` header lines become the sample table: ``!Sample_title`` -> ``title``,
    ``!Sample_geo_accession`` -> ``geo_accession``, ...; each ``!Sample_characteristics_ch1``
    (and ``_ch2``) line holds ``key: value`` cells, which become one column per key (a key seen
    on both channels gets a ``:ch2`` suffix for channel 2). Values are unquoted.

    Parameters
    ----------
    path : str or Path
        The series matrix, gzipped or not.

    Returns
    -------
    expression : DataFrame
        Features x samples (between ``!series_matrix_table_begin`` and ``_end``); index =
        ``ID_REF`` (probe ids or symbols as published), columns = GSM ids; ``null`` -> NaN.
    samples : DataFrame
        Indexed by GSM id (``!Sample_geo_accession``), in the matrix's column order.

    Raises
    ------
    MalformedFileError
        No table, a missing ``!series_matrix_table_end`` (truncated file), rows with too few
        fields, duplicated GSM ids, or table columns that do not match the sample header.
    """
    path = Path(path)
    fields: dict[str, list[str]] = {}
    chars: list[tuple[str, list[str]]] = []
    begin = end = None
    n_lines = 0
    for i, line in enumerate(_lines(path)):
        n_lines = i + 1
        if begin is None:
            if line.startswith("!series_matrix_table_begin"):
                begin = i
            elif line.startswith("!Sample_"):
                cells = _split(line, "\t")
                key = cells[0][len("!Sample_"):]
                if key.startswith("characteristics_ch"):
                    chars.append((key[-3:], cells[1:]))
                elif key not in fields:
                    fields[key] = cells[1:]
        elif line.startswith("!series_matrix_table_end"):
            end = i
            break
    if begin is None:
        raise MalformedFileError(f"{path}: no '!series_matrix_table_begin' line: not a GEO "
                                 "series matrix, or the file is truncated")
    if end is None:
        raise MalformedFileError(
            f"{path}: no '!series_matrix_table_end' line: the file is truncated after line "
            f"{n_lines}; fetch it again"
        )
    gsm = fields.get("geo_accession")
    if not gsm:
        raise MalformedFileError(f"{path}: no '!Sample_geo_accession' line")
    _check_unique(gsm, path, "GSM ids (!Sample_geo_accession)")
    samples = pd.DataFrame({k: v for k, v in fields.items() if len(v) == len(gsm)}, index=gsm)
    seen: dict[str, str] = {}
    char_cols: dict[str, list[object]] = {}
    for ch, cells in chars:
        if len(cells) != len(gsm):
            raise MalformedFileError(
                f"{path}: a !Sample_characteristics_{ch} line has {len(cells)} cells for "
                f"{len(gsm)} samples"
            )
        for j, cell in enumerate(cells):
            if not cell:
                continue
            key, _, value = cell.partition(":")
            key = key.strip()
            value = value.strip() if _ else cell.strip()
            if not _:
                key = f"characteristics_{ch}"
            col = key if seen.get(key, ch) == ch else f"{key}:{ch}"
            seen.setdefault(key, ch)
            char_cols.setdefault(col, [np.nan] * len(gsm))[j] = value if value else np.nan
    for col, vals in char_cols.items():
        samples[col] = vals
    expr = _read_matrix(path, sep="\t", skiprows=begin + 1, nrows=end - begin - 2,
                        what="series matrix table")
    if list(expr.columns) != list(gsm):
        extra = sorted(set(expr.columns) ^ set(gsm))
        raise MalformedFileError(
            f"{path}: the table's columns do not match !Sample_geo_accession "
            f"(differing ids: {', '.join(extra[:10])})"
        )
    return expr, samples


def parse_geo_supplementary_table(path: str | Path, *, sep: str | None = None,
                                  id_column: str | None = None,
                                  drop_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a GEO supplementary expression table (features x samples text table).

    Parameters
    ----------
    path : str or Path
        Tab-, comma- or semicolon-separated, optionally gzipped; the header names the samples
        (as the submitter wrote them: titles, GSM ids or lab ids).
    sep : str, optional
        Field separator; default: guessed from the header (tab, then comma, then semicolon).
    id_column : str, optional
        The feature-id column; default: the first column.
    drop_columns : tuple of str
        Annotation columns to drop (e.g. ``("Description", "gene_name")``).

    Returns
    -------
    DataFrame
        Features x samples, float64.
    """
    path = Path(path)
    header = next(_lines(path), "")
    if sep is None:
        sep = max(["\t", ",", ";"], key=header.count)
    cols = _split(header, sep)
    if id_column is not None and id_column not in cols:
        raise MalformedFileError(f"{path}: no id column {id_column!r} in the header")
    if id_column is None and not drop_columns:
        return _read_matrix(path, sep=sep, what="supplementary table")
    df = _read_table(path, sep=sep)
    idc = id_column or df.columns[0]
    df = _index_by(df.drop(columns=[c for c in drop_columns if c in df.columns]), idc, path)
    try:
        return df.apply(pd.to_numeric, errors="raise").astype(np.float64)
    except ValueError as exc:
        raise MalformedFileError(f"{path}: non-numeric values in the table ({exc})") from None


def parse_id_map(path: str | Path, *, id_column: str, symbol_column: str) -> pd.Series:
    """Read a feature-id -> gene-symbol table.

    Handles GEO platform annotation files (``GPLxxx.annot.gz``: preamble lines starting with
    ``^``, ``!`` or ``#`` and the table between ``!platform_table_begin`` and
    ``!platform_table_end``), GEO SOFT platform tables, UCSC Xena probe maps (``id`` / ``gene``
    columns) and any tab-separated table with the named columns.

    Parameters
    ----------
    path : str or Path
    id_column, symbol_column : str
        Column names of the feature id and of the gene symbol.

    Returns
    -------
    Series
        Index = feature id, values = symbol; ids without a symbol, and ids mapping to several
        symbols (``"A /// B"``), are left out.
    """
    path = Path(path)
    rows: list[str] = []
    in_table = None
    for line in _lines(path):
        if line.startswith("!platform_table_begin"):
            in_table = True
            continue
        if line.startswith("!platform_table_end"):
            break
        if in_table is None and line.startswith(("^", "!", "#")):
            continue
        rows.append(line)
    if not rows:
        raise MalformedFileError(f"{path}: no annotation table found")
    df = pd.read_csv(io.StringIO("\n".join(rows)), sep="\t", dtype=str, na_values=NA_VALUES,
                     keep_default_na=False, quotechar='"')
    for col in (id_column, symbol_column):
        if col not in df.columns:
            raise MalformedFileError(
                f"{path}: no column {col!r}; columns are {', '.join(map(repr, df.columns[:12]))}"
            )
    s = df.set_index(id_column)[symbol_column].dropna().astype(str).str.strip()
    s = s[(s != "") & ~s.str.contains("///", regex=False)]
    s.index = s.index.astype(str)
    return s[~s.index.duplicated(keep="first")]


# ------------------------------------------------------------------------------ ArrayExpress

def parse_sdrf(path: str | Path, *, sample_column: str = "Source Name") -> pd.DataFrame:
    """Read an ArrayExpress / BioStudies SDRF (``E-XXXX-n.sdrf.txt``).

    Parameters
    ----------
    path : str or Path
        Tab-separated SDRF with MAGE-TAB columns (``Source Name``,
        ``Characteristics[...]``, ``Assay Name``, ``Array Data File``, ``Comment[...]``, ...).
    sample_column : str, default "Source Name"
        The column that identifies a sample. SDRFs repeat a sample on several rows (one per
        file or channel): identical repeats are collapsed to the first row.

    Returns
    -------
    DataFrame
        One row per sample, indexed by ``sample_column``; all columns kept as strings
        (repeated column names, e.g. several ``Comment[...]``, get ``.1``, ``.2`` suffixes).

    Raises
    ------
    MalformedFileError
        Missing sample column, empty sample ids, or one sample whose repeated rows disagree on
        a ``Characteristics[...]`` value (lines named).
    """
    path = Path(path)
    df = _read_table(path, sep="\t")
    if sample_column not in df.columns:
        raise MalformedFileError(
            f"{path}: no SDRF column {sample_column!r}; columns are "
            f"{', '.join(map(repr, df.columns[:12]))}"
        )
    empty = df[sample_column].isna().to_numpy()
    if empty.any():
        raise MalformedFileError(f"{path}: empty {sample_column!r} on line(s) "
                                 f"{_fmt_rows([int(i) + 2 for i in np.flatnonzero(empty)])}")
    chars = [c for c in df.columns if c.startswith("Characteristics[")]
    if chars:
        conflict = df.groupby(sample_column, sort=False)[chars].nunique(dropna=True).max(axis=1)
        bad = conflict[conflict > 1].index
        if len(bad):
            lines = [int(i) + 2 for i in np.flatnonzero(df[sample_column].isin(bad))]
            raise MalformedFileError(
                f"{path}: samples {', '.join(map(repr, bad[:5]))} have conflicting "
                f"Characteristics on lines {_fmt_rows(lines)}"
            )
    df = df.drop_duplicates(subset=[sample_column], keep="first")
    return _index_by(df, sample_column, path)


def parse_processed_matrix(path: str | Path, *, member: str | None = None) -> pd.DataFrame:
    """Read an ArrayExpress processed data matrix (features x assays).

    MAGE-TAB processed matrices have a first header line naming the assays (``Hybridization
    REF`` / ``Assay Name`` values) and often a second one naming the quantity (``Reporter REF``
    or ``CompositeElement REF`` followed by e.g. ``normalized``); the second is skipped. A
    ``.zip`` (as BioStudies serves processed data) is opened and its ``member`` (default: the
    only, or the largest, text file) is read.

    Parameters
    ----------
    path : str or Path
    member : str, optional
        File inside a zip archive.

    Returns
    -------
    DataFrame
        Features x assays, float64; columns as in the first header line.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if member is None:
                if not infos:
                    raise MalformedFileError(f"{path}: empty zip archive")
                info = max(infos, key=lambda i: i.file_size)
            else:
                match = [i for i in infos if i.filename == member]
                if not match:
                    raise MalformedFileError(f"{path}: no member {member!r} in the zip")
                info = match[0]
            # extracted to a temporary folder (the zip may sit in a read-only mirror)
            with tempfile.TemporaryDirectory(prefix="desurv-") as tmp:
                target = Path(tmp) / Path(info.filename).name
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                except (zipfile.BadZipFile, EOFError) as exc:
                    raise MalformedFileError(f"{path}: corrupt zip member ({exc})") from None
                try:
                    return parse_processed_matrix(target)
                except MalformedFileError as exc:
                    raise MalformedFileError(
                        str(exc).replace(str(target), f"{path} (member {info.filename})")
                    ) from None
    lines = _lines(path)
    first = next(lines, None)
    second = next(lines, None)
    if first is None:
        raise MalformedFileError(f"{path}: empty processed matrix")
    skip_second = second is not None and _split(second, "\t")[0].strip().endswith(" REF")
    return _read_matrix(path, sep="\t", what="processed matrix", extra_skip=int(skip_second))


# ------------------------------------------------------------------------------ Xena / GDC

def parse_xena_matrix(path: str | Path) -> pd.DataFrame:
    """Read a UCSC Xena / GDC genomic matrix (tab-separated, genes x samples).

    The first column holds the feature ids (``sample``, ``gene``, ``Ensembl_ID`` or ``xena
    sample`` as header: symbols, or Ensembl ids with versions such as ``ENSG00000141510.15``,
    kept as published); the header holds the sample barcodes. Also reads LinkedOmics ``.cct``
    tables, which have the same layout.

    Returns
    -------
    DataFrame
        Features x samples, float64.
    """
    return _read_matrix(Path(path), sep="\t", what="Xena matrix")


def parse_xena_clinical(path: str | Path, *, sample_column: str | None = None) -> pd.DataFrame:
    """Read a Xena / GDC phenotype or survival table (tab-separated, one row per sample).

    Parameters
    ----------
    path : str or Path
        E.g. ``TCGA.BLCA.sampleMap/BLCA_clinicalMatrix`` (first column ``sampleID``),
        ``survival/BLCA_survival.txt`` (columns ``sample, OS, OS.time, ...``) or a GDC
        ``.survival.tsv``.
    sample_column : str, optional
        The sample-id column; default: the first column.

    Returns
    -------
    DataFrame
        Indexed by sample id; columns as strings.
    """
    path = Path(path)
    df = _read_table(path, sep="\t")
    return _index_by(df, sample_column or df.columns[0], path)


# ------------------------------------------------------------------------------ cBioPortal

def _cbio_clinical(path: Path, id_column: str) -> pd.DataFrame:
    df = _read_table(path, sep="\t", skip_prefixes=("#",))
    n_pre = sum(1 for line in _lines(path) if line.startswith("#"))
    return _index_by(df, id_column, path, header_lines=n_pre + 1)


def parse_cbioportal_study(folder: str | Path, *, mrna_file: str = "data_mrna_seq_v2_rsem.txt",
                           symbol_column: str = "Hugo_Symbol",
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a cBioPortal study folder (as unpacked from the datahub ``<study>.tar.gz``).

    Reads ``data_mrna_*.txt`` (columns ``Hugo_Symbol``, ``Entrez_Gene_Id``, then one column
    per sample), ``data_clinical_sample.txt`` and ``data_clinical_patient.txt`` (four ``#``
    preamble lines with display names, descriptions, types and priorities, then the header).
    Patient fields (``OS_MONTHS``, ``OS_STATUS`` = ``"1:DECEASED"`` / ``"0:LIVING"``, ...) are
    joined onto samples through ``PATIENT_ID``.

    Parameters
    ----------
    folder : str or Path
        The study folder, or a folder holding exactly one study folder.
    mrna_file : str, default "data_mrna_seq_v2_rsem.txt"
    symbol_column : str, default "Hugo_Symbol"
        The feature-id column; the other annotation column (``Entrez_Gene_Id``) is dropped.
        Rows without a symbol are dropped.

    Returns
    -------
    expression : DataFrame
        Genes x samples, float64 (symbols may repeat: collapsing is up to the caller).
    clinical : DataFrame
        Indexed by ``SAMPLE_ID``: sample fields then patient fields.
    """
    folder = Path(folder)
    if not (folder / mrna_file).is_file():
        subs = [d for d in folder.iterdir() if d.is_dir() and (d / mrna_file).is_file()]
        if len(subs) != 1:
            raise MalformedFileError(f"{folder}: no cBioPortal study with {mrna_file!r} found")
        folder = subs[0]
    mpath = folder / mrna_file
    header = _split(next(_lines(mpath), ""), "\t")
    if symbol_column not in header:
        raise MalformedFileError(f"{mpath}: no {symbol_column!r} column")
    drop = [c for c in ("Hugo_Symbol", "Entrez_Gene_Id") if c in header and c != symbol_column]
    first = header.index(symbol_column)
    if drop or first != 0:
        df = _read_table(mpath, sep="\t").drop(columns=drop)
        df = df[df[symbol_column].notna()]
        idx = df.pop(symbol_column).astype(str)
        _check_unique(list(df.columns), mpath, "sample ids (header columns)")
        try:
            expr = df.apply(pd.to_numeric, errors="raise").astype(np.float64)
        except ValueError as exc:
            raise MalformedFileError(f"{mpath}: non-numeric values ({exc})") from None
        expr.index = pd.Index(idx.to_numpy(), name=None)
    else:
        expr = _read_matrix(mpath, sep="\t", what="cBioPortal mRNA matrix")
        expr = expr[expr.index != "nan"]
    samples = _cbio_clinical(folder / "data_clinical_sample.txt", "SAMPLE_ID")
    patients = _cbio_clinical(folder / "data_clinical_patient.txt", "PATIENT_ID")
    if "PATIENT_ID" not in samples.columns:
        raise MalformedFileError(f"{folder / 'data_clinical_sample.txt'}: no PATIENT_ID column")
    clin = samples.join(patients, on="PATIENT_ID", rsuffix="_patient")
    return expr, clin


# ------------------------------------------------------------------------------ ICGC

def parse_icgc_expression(path: str | Path, *, value_column: str,
                          sample_column: str = "icgc_sample_id",
                          gene_column: str = "gene_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read an ICGC release expression file (``exp_array.*.tsv.gz`` / ``exp_seq.*.tsv.gz``).

    These are long tables, one row per (sample, gene): ``icgc_donor_id, project_code,
    icgc_specimen_id, icgc_sample_id, submitted_sample_id, analysis_id, gene_model, gene_id,
    normalized_expression_value | normalized_read_count, ...``.

    Parameters
    ----------
    path : str or Path
    value_column : str
        ``normalized_expression_value`` (arrays) or ``normalized_read_count`` (RNA-seq).
    sample_column : str, default "icgc_sample_id"
    gene_column : str, default "gene_id"

    Returns
    -------
    expression : DataFrame
        Genes x samples (pivoted), float64.
    samples : DataFrame
        Indexed by sample id: ``icgc_donor_id``, ``icgc_specimen_id``, ``submitted_sample_id``
        (those present).

    Raises
    ------
    MalformedFileError
        Missing columns, non-numeric values, or a (sample, gene) pair listed twice with
        different values (lines named).
    """
    path = Path(path)
    df = _read_table(path, sep="\t")
    for col in (sample_column, gene_column, value_column):
        if col not in df.columns:
            raise MalformedFileError(f"{path}: no column {col!r} (ICGC expression file)")
    vals = pd.to_numeric(df[value_column], errors="coerce")
    bad = vals.isna() & df[value_column].notna()
    if bad.any():
        raise MalformedFileError(f"{path}: non-numeric {value_column!r} on line(s) "
                                 f"{_fmt_rows([int(i) + 2 for i in np.flatnonzero(bad)])}")
    df = df.assign(**{value_column: vals})
    dup = df.duplicated(subset=[sample_column, gene_column], keep=False)
    if dup.any():
        conflicting = df[dup].groupby([sample_column, gene_column])[value_column].nunique() > 1
        if conflicting.any():
            lines = [int(i) + 2 for i in np.flatnonzero(dup)]
            raise MalformedFileError(f"{path}: (sample, gene) pairs listed twice with "
                                     f"different values on lines {_fmt_rows(lines)}")
        df = df[~df.duplicated(subset=[sample_column, gene_column], keep="first")]
    order = pd.unique(df[sample_column])
    expr = df.pivot(index=gene_column, columns=sample_column, values=value_column)
    expr = expr.reindex(index=pd.unique(df[gene_column]), columns=order)
    expr.index = expr.index.astype(str)
    expr.index.name = None
    expr.columns = [str(c) for c in expr.columns]
    expr.columns.name = None
    keep = [c for c in ("icgc_donor_id", "icgc_specimen_id", "submitted_sample_id",
                        "project_code") if c in df.columns]
    samples = df.drop_duplicates(subset=[sample_column]).set_index(sample_column)[keep]
    samples.index = samples.index.astype(str)
    samples.index.name = None
    return expr.astype(np.float64), samples.loc[expr.columns]


def parse_icgc_donor(path: str | Path) -> pd.DataFrame:
    """Read an ICGC ``donor.<project>.tsv.gz`` table.

    Returns
    -------
    DataFrame
        Indexed by ``icgc_donor_id``; columns as strings (``donor_vital_status`` = ``alive``
        / ``deceased``, ``donor_survival_time`` and ``donor_interval_of_last_followup`` in
        days, ...).
    """
    path = Path(path)
    return _index_by(_read_table(path, sep="\t"), "icgc_donor_id", path)
