"""The paper's cohorts as AnnData, in one call: ``desurv.datasets.load("moffitt_gse71729")``.

Every cohort of the registry (``data_registry/registry.toml``) can be listed, described and
loaded. Files are looked for in the mirror, then the cache, then downloaded from the archive
that published them (see :mod:`data_registry.fetch`):

- ``DESURV_DATA_MIRROR``: a folder laid out like the project's ``shared/data``, used before
  any download. Unset: ``<repo>/../shared/data`` is used when it exists (tests, vignettes,
  CI). ``""`` or ``off``: no mirror.
- ``DESURV_CACHE_DIR``: where downloads go (default ``pooch.os_cache("desurv")``), one folder
  per cohort id.
- ``DESURV_LOCK_FILE``: the lock file pinning the sha256 of files the registry has no hash for
  (default ``<cache>/registry-lock.json``).

Command line: ``desurv datasets list``, ``desurv datasets info ID...``,
``desurv datasets fetch ID...``.
"""

from __future__ import annotations

# The public alias ``list = list_datasets`` (at the end) shadows the builtin in this module:
# code here writes ``builtins.list`` for the type and calls ``list_datasets``.
import builtins
import json
import sys
from pathlib import Path
from typing import Any

import anndata as ad
import pandas as pd

from data_registry import assemble
from data_registry.errors import DatasetNotAvailableError, UnknownDatasetError
from data_registry.fetch import cache_dir, expected_sha256, locate, mirror_dir
from data_registry.registry import CohortEntry, load_registry

__all__ = ["add_subtypes", "fetch", "info", "list", "list_datasets", "load", "subtypes"]


def _entry(dataset_id: str) -> CohortEntry:
    if not isinstance(dataset_id, str):
        raise TypeError(f"dataset id must be a str, got {type(dataset_id).__name__}")
    return load_registry()[dataset_id]


def _availability(entry: CohortEntry) -> str:
    mirror = mirror_dir()
    if mirror is not None and entry.mirror:
        folder = mirror / entry.mirror
        if all(
            (folder / f.name).is_file()
            or (f.unpack and (folder / f.name.removesuffix(".tar.gz")).is_dir())
            for f in entry.files
        ):
            return "mirror"
    if all((cache_dir() / entry.id / f.name).is_file() for f in entry.files):
        return "cache"
    if all(f.url for f in entry.files):
        return "download"
    return "unavailable"


def list_datasets(*, cancer: str | None = None, role: str | None = None) -> pd.DataFrame:
    """List the registry's cohorts.

    Parameters
    ----------
    cancer : str, optional
        Keep one cancer type (``"PDAC"``, ``"bladder"``, ``"colorectal"``).
    role : str, optional
        Keep one role in the paper (``"training"``, ``"validation"``, ``"extra"``).

    Returns
    -------
    DataFrame
        One row per cohort, indexed by id, with columns ``name, cancer, role, accession,
        format, access, derived_from, available``; ``available`` says where :func:`load` would
        read it from now: ``mirror``, ``cache``, ``download`` or ``unavailable`` (no open URL
        and no local copy).
    """
    rows = []
    for e in load_registry().values():
        if cancer is not None and e.cancer.lower() != cancer.lower():
            continue
        if role is not None and e.role != role:
            continue
        rows.append(
            {
                "id": e.id,
                "name": e.name,
                "cancer": e.cancer,
                "role": e.role,
                "accession": e.accession,
                "format": e.format,
                "access": e.access,
                "derived_from": e.derived_from,
                "available": _availability(e),
            }
        )
    cols = ["name", "cancer", "role", "accession", "format", "access", "derived_from", "available"]
    return pd.DataFrame(rows, columns=["id", *cols]).set_index("id")


def info(dataset_id: str) -> dict[str, Any]:
    """Describe one cohort: its registry entry plus where its files are now.

    Parameters
    ----------
    dataset_id : str
        A registry id (see :func:`list_datasets`).

    Returns
    -------
    dict
        The entry's fields (``id, name, cancer, role, accession, citation, licence, access,
        access_note, format, value_scale, description, mirror, derived_from, upstream, genes,
        clinical, selection, parse``), ``files`` (role, name, url, sha256 and the local
        ``path`` when the file is in the mirror or the cache) and ``available``.

    Raises
    ------
    UnknownDatasetError
        Unknown id; the message lists the closest ids.
    """
    e = _entry(dataset_id)
    files = []
    mirror = mirror_dir()
    for f in e.files:
        d = f.as_dict()
        sha, origin = expected_sha256(e, f)
        d["sha256"] = sha or "unknown"
        d["sha256_from"] = origin or "not pinned yet"
        local = ""
        if mirror is not None and e.mirror and (mirror / e.mirror / f.name).is_file():
            local = str(mirror / e.mirror / f.name)
        elif (cache_dir() / e.id / f.name).is_file():
            local = str(cache_dir() / e.id / f.name)
        d["path"] = local
        files.append(d)
    out = {
        k: e.raw.get(k, "")
        for k in (
            "id",
            "name",
            "cancer",
            "role",
            "accession",
            "citation",
            "licence",
            "access",
            "access_note",
            "format",
            "value_scale",
            "description",
            "mirror",
            "derived_from",
            "upstream",
        )
    }
    out.update(
        {
            "genes": dict(e.genes),
            "clinical": dict(e.clinical),
            "selection": dict(e.selection),
            "parse": dict(e.parse),
            "files": files,
            "available": _availability(e),
        }
    )
    return out


def fetch(
    dataset_id: str, *, download: bool = True, progressbar: bool | None = None, retries: int = 3
) -> dict[str, builtins.list[Path]]:
    """Make sure every file of a cohort is local and verified; return their paths.

    Parameters
    ----------
    dataset_id : str
        A registry id.
    download : bool, default True
        Download missing files into the cache (``DESURV_CACHE_DIR``); False: only look in the
        mirror and the cache.
    progressbar : bool, optional
        Progress bars while downloading (default: when stderr is a terminal).
    retries : int, default 3
        Download attempts per file.

    Returns
    -------
    dict of str to list of Path
        Local paths by file role (mirror or cache; unpacked folders for archives).

    Raises
    ------
    UnknownDatasetError, DatasetNotAvailableError, HashMismatchError
        See :func:`load`.
    """
    e = _entry(dataset_id)
    paths: dict[str, builtins.list[Path]] = {}
    try:
        for f in e.files:
            paths.setdefault(f.role, []).append(
                locate(e, f, download=download, progressbar=progressbar, retries=retries)
            )
    except DatasetNotAvailableError as exc:
        hint = _stand_in_hint(e)
        if hint:
            raise type(exc)(f"{exc} {hint}") from None
        raise
    return paths


def _stand_in_hint(entry: CohortEntry) -> str:
    """'A local stand-in exists: ...' for the mirror's subsets of a cohort, or ''."""
    found = []
    for other in load_registry().values():
        if other.derived_from == entry.id and _availability(other) == "mirror":
            found.append(f"{other.id} ({other.name})")
    if not found:
        return ""
    first = found[0].split(" ", 1)[0]
    return (
        f"A local stand-in exists: {'; '.join(found)}; load it with "
        f"desurv.datasets.load({first!r}) or --cohort {first}."
    )


def load(
    dataset_id: str,
    *,
    download: bool = True,
    apply_selection: bool = True,
    survival_only: bool = False,
    progressbar: bool | None = None,
) -> ad.AnnData:
    """Load a cohort as an AnnData (samples x genes).

    Parameters
    ----------
    dataset_id : str
        A registry id (see :func:`list_datasets`), e.g. ``"tcga_paad"``,
        ``"moffitt_gse71729"``, ``"prince"``.
    download : bool, default True
        Download files that are neither in the mirror nor in the cache.
    apply_selection : bool, default True
        Apply the paper's sample selection recorded in the registry (e.g. TCGA-PAAD's
        150-tumour whitelist, Moffitt's primary tumours).
    survival_only : bool, default False
        Drop samples without survival time or event.
    progressbar : bool, optional
        Progress bars while downloading (default: when stderr is a terminal).

    Returns
    -------
    AnnData
        ``X``: expression, samples x genes (the published matrix transposed; float64, on the
        scale of ``uns["value_scale"]``). ``var_names``: gene symbols (unique). ``obs_names``:
        sample ids. ``obs``: ``time`` (months, float; 1 month = 365.25/12 days), ``event``
        (int 0/1; pandas ``Int64`` when some are missing), ``cohort`` (the id), then the
        clinical fields. ``uns``: ``provenance`` (source, accession, citation, licence,
        ``files``: ``{file name: {role, url, sha256, path}}``), ``units``
        (``time: months``, ``time_original_unit``), ``value_scale``, ``selection`` (what
        was applied, counts), ``gene_mapping``.
        Nothing is written to disk except downloads into the cache.

    Raises
    ------
    UnknownDatasetError
        Unknown id (a ``KeyError``); the message lists the closest ids.
    DatasetNotAvailableError
        A file is missing and cannot be downloaded (the message names the file, the URL and
        the folder to put it in); :class:`~data_registry.errors.AccessRestrictedError` when the
        source needs an access agreement.
    HashMismatchError
        A file's sha256 differs from the registry or lock file (both hashes in the message).
    MalformedFileError
        A file cannot be parsed (the message names the file and the rows).
    """
    e = _entry(dataset_id)
    paths = fetch(dataset_id, download=download, progressbar=progressbar)
    expr, clin, id_map = assemble.read_cohort(e, paths)
    files = []
    for f in e.files:
        sha, _ = expected_sha256(e, f)
        for p in paths.get(f.role, []):
            if p.name == f.name or p.name == f.name.removesuffix(".tar.gz"):
                files.append(
                    {
                        "role": f.role,
                        "name": f.name,
                        "url": f.url or "",
                        "sha256": sha or "unknown",
                        "path": str(p),
                    }
                )
    return assemble.build_anndata(
        e, expr, clin, id_map, files, apply_selection=apply_selection, survival_only=survival_only
    )


def _subtype_dir() -> Path:
    mirror = mirror_dir()
    folder = None if mirror is None else mirror / "subtypes"
    if folder is None or not folder.is_dir():
        raise DatasetNotAvailableError(
            "the published subtype tables live in the data mirror's subtypes/ folder "
            f"(looked in {folder if folder is not None else 'no mirror'}); set "
            "DESURV_DATA_MIRROR to a folder laid out like the project's shared/data"
        )
    return folder


def subtypes(table: str | None = None) -> pd.DataFrame | builtins.list[str]:
    """Published per-sample subtype calls (PurIST, DeCAF, SCISSORS CAF, Maurer, Puleo, ...).

    Parameters
    ----------
    table : str, optional
        The cohort's table, e.g. ``"TCGA_PAAD"``, ``"CPTAC"``, ``"Dijk"``, ``"Moffitt_GEO_array"``
        (the file ``subtypes/<table>_subtype.csv`` of the data mirror). None: list the tables.

    Returns
    -------
    pandas.DataFrame or list of str
        One row per sample (index: the cohort's own sample ids, as in the file's ``ID``
        column), one column per classifier, missing calls as NaN; or the table names.
    """
    folder = _subtype_dir()
    names = sorted(p.name.removesuffix("_subtype.csv") for p in folder.glob("*_subtype.csv"))
    if table is None:
        return names
    if table not in names:
        raise UnknownDatasetError(f"no subtype table {table!r}; available: {names}")
    df = pd.read_csv(folder / f"{table}_subtype.csv")
    first = df.columns[0]
    return df.set_index(first).rename_axis("sample_id")


def add_subtypes(
    adata: ad.AnnData,
    table: str,
    columns: str | builtins.list[str] | None = None,
    *,
    prefix: str = "",
) -> int:
    """Write published subtype calls into ``adata.obs``, matched by sample id.

    Parameters
    ----------
    adata : AnnData
        A cohort (samples x genes) whose ``obs_names`` are the ids the table uses (e.g.
        TCGA barcodes for ``"TCGA_PAAD"``).
    table : str
        The subtype table (see :func:`subtypes`).
    columns : str or list of str, optional
        Classifiers to add (default: all the table's columns).
    prefix : str, default ""
        Prefix of the obs columns written.

    Returns
    -------
    int
        The number of samples of ``adata`` found in the table. Written:
        ``adata.obs[prefix + column]`` (categorical; NaN for samples not in the table). A
        :class:`~desurv.exceptions.DataWarning` counts the samples without a call; a
        ValueError is raised when no sample matches (with examples of both id schemes).
    """
    import warnings  # noqa: PLC0415

    from desurv.exceptions import DataWarning  # noqa: PLC0415

    tab = subtypes(table)
    cols = tab.columns.tolist() if columns is None else (
        [columns] if isinstance(columns, str) else builtins.list(columns))  # fmt: skip
    unknown = [c for c in cols if c not in tab.columns]
    if unknown:
        raise KeyError(f"subtype table {table!r} has no column(s) {unknown}; it has "
                       f"{tab.columns.tolist()}")  # fmt: skip
    ids = pd.Index(adata.obs_names.astype(str))
    hit = ids.isin(tab.index.astype(str))
    if not hit.any():
        raise ValueError(
            f"no sample of the cohort is in subtype table {table!r}: its ids look like "
            f"{tab.index[:3].tolist()}, the cohort's like {ids[:3].tolist()}; rename "
            "adata.obs_names to the table's id scheme first"
        )
    if not hit.all():
        warnings.warn(
            f"{int((~hit).sum())} of {len(ids)} samples are not in subtype table {table!r} "
            f"(e.g. {ids[~hit][:3].tolist()}); their calls are NaN",
            DataWarning,
            stacklevel=2,
        )
    sub = tab.reindex(ids)
    for c in cols:
        adata.obs[prefix + c] = pd.Categorical(sub[c].to_numpy())
    return int(hit.sum())


def _cli(
    action: str,
    ids: builtins.list[str],
    *,
    cancer: str | None = None,
    role: str | None = None,
) -> int:
    """Run ``desurv datasets list|info|fetch [ids...]``; returns the exit status.

    Parameters
    ----------
    action : {"list", "info", "fetch"}
        ``list`` prints the table of cohorts (id, name, cancer, role, accession, format,
        access, available); ``info`` prints each entry as JSON; ``fetch`` downloads (or finds
        in the mirror / cache) and verifies every file of each id, printing the local paths.
    ids : list of str
        Cohort ids (``info``, ``fetch``).
    cancer, role : str, optional
        ``list`` only: the filters of :func:`list_datasets`.

    Returns
    -------
    int
        0 on success, 2 for usage errors (message on stderr).

    Raises
    ------
    UnknownDatasetError, DatasetNotAvailableError, HashMismatchError, MalformedFileError
        See :func:`load`; :func:`desurv.cli.main` reports them as one line (exit status 1).
    """
    where = f"desurv datasets {action}"
    if action == "list":
        if ids:
            print(
                f"{where}: takes no cohort ids (got {ids}); use `desurv datasets info ID`",
                file=sys.stderr,
            )
            return 2
        if cancer is not None:
            known = sorted({e.cancer for e in load_registry().values()})
            if cancer.lower() not in {c.lower() for c in known}:
                print(f"{where}: unknown --cancer {cancer!r}; use one of {known}", file=sys.stderr)
                return 2
        table = list_datasets(cancer=cancer, role=role)
        if table.empty:
            print(f"{where}: no cohort has cancer={cancer!r} and role={role!r}", file=sys.stderr)
            return 0
        cols = ["name", "cancer", "role", "accession", "format", "access", "available"]
        with pd.option_context(
            "display.max_rows", None, "display.width", 200, "display.max_colwidth", 40
        ):
            print(table[cols].to_string())
        return 0
    if cancer is not None or role is not None:
        print(f"{where}: --cancer and --role only apply to `desurv datasets list`", file=sys.stderr)
        return 2
    if not ids:
        print(f"{where}: give at least one cohort id (see `desurv datasets list`)", file=sys.stderr)
        return 2
    if action == "info":
        for i in ids:
            print(json.dumps(info(i), indent=2, default=str))
        return 0
    if action == "fetch":
        for i in ids:
            for file_role, ps in fetch(i).items():
                for p in ps:
                    print(f"{i}\t{file_role}\t{p}")
        return 0
    print(f"desurv datasets: unknown action {action!r} (list, info, fetch)", file=sys.stderr)
    return 2


#: ``desurv.datasets.list()``: the short public name of :func:`list_datasets`.
list = list_datasets
