"""The cohort registry: what cohorts exist, where their files come from and how to read them.

The registry is one TOML file, ``data_registry/registry.toml``, with one ``[[cohort]]`` table per
cohort; sample whitelists (the paper's sample selections) live in
``data_registry/selections.toml``. Both are read with the standard library's :mod:`tomllib`
and validated here: every entry must name its source, format, licence and clinical mapping, and
ids must be unique. :func:`load_registry` returns a :class:`Registry` of :class:`CohortEntry`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from data_registry.errors import RegistryError, UnknownDatasetError

__all__ = [
    "FORMATS",
    "ROLES",
    "ACCESS",
    "TIME_UNITS",
    "CohortEntry",
    "FileSpec",
    "Registry",
    "load_registry",
    "load_selections",
    "registry_path",
    "selections_path",
]

#: Formats the parsers understand (see :mod:`data_registry.parsers`).
FORMATS = (
    "tidy",
    "geo_series_matrix",
    "arrayexpress",
    "xena",
    "cbioportal",
    "icgc",
)
#: Role of a cohort in the DeSurv paper.
ROLES = ("training", "validation", "extra")
#: Access tiers: ``open`` downloads freely; ``controlled`` needs an access agreement.
ACCESS = ("open", "controlled")
#: Time units understood in clinical mappings, with their length in days.
TIME_UNITS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}
_UNIT_ALIASES = {
    "day": "days", "d": "days", "days": "days",
    "week": "weeks", "weeks": "weeks", "wk": "weeks",
    "month": "months", "months": "months", "mo": "months", "mos": "months",
    "year": "years", "years": "years", "y": "years", "yr": "years",
}
#: File roles that parsers look for.
FILE_ROLES = (
    "expression",
    "clinical",
    "survival",
    "series_matrix",
    "supplementary",
    "sdrf",
    "annotation",
    "study",
)
#: File roles each format needs (xena: an expression file and a clinical or survival table).
REQUIRED_ROLES = {
    "tidy": ("expression", "clinical"),
    "geo_series_matrix": ("series_matrix",),
    "arrayexpress": ("expression", "sdrf"),
    "xena": ("expression",),
    "cbioportal": ("study",),
    "icgc": ("expression", "clinical"),
}
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = (
    "id", "name", "cancer", "role", "accession", "citation", "licence", "access", "format",
    "value_scale", "description",
)


def normalise_time_unit(unit: str) -> str:
    """Return the canonical name (``days``, ``weeks``, ``months``, ``years``) of a time unit.

    Parameters
    ----------
    unit : str
        A unit as written in a registry entry or a clinical table (``"month"``, ``"Days"``, ...).

    Returns
    -------
    str
        One of the keys of :data:`TIME_UNITS`.

    Raises
    ------
    ValueError
        If the unit is not recognised.
    """
    key = str(unit).strip().lower()
    if key not in _UNIT_ALIASES:
        raise ValueError(
            f"unknown time unit {unit!r}; use one of {sorted(set(_UNIT_ALIASES.values()))}"
        )
    return _UNIT_ALIASES[key]


@dataclass(frozen=True)
class FileSpec:
    """One source file of a cohort.

    Attributes
    ----------
    role : str
        What the file holds (``expression``, ``clinical``, ``survival``, ``series_matrix``,
        ``supplementary``, ``sdrf``, ``annotation``, ``study``).
    name : str
        File name in the mirror folder and in the cache folder of the cohort.
    url : str or None
        Where the original archive publishes it; None when there is no open download.
    sha256 : str or None
        Expected SHA-256 (lower-case hex); None when unknown (the lock file pins it at the
        first download).
    unpack : str or None
        ``"tar.gz"`` when the file is an archive to unpack (cBioPortal studies).
    note : str
        Free text (e.g. which parts of the URL were not checked).
    """

    role: str
    name: str
    url: str | None
    sha256: str | None
    unpack: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the spec as a plain dict (h5ad-writable: no None values)."""
        return {
            "role": self.role,
            "name": self.name,
            "url": self.url or "",
            "sha256": self.sha256 or "unknown",
            "unpack": self.unpack or "",
            "note": self.note,
        }


@dataclass(frozen=True)
class CohortEntry:
    """One registry entry (a cohort), as validated from ``registry.toml``.

    Attributes mirror the TOML keys; ``genes``, ``clinical``, ``selection`` and ``parse`` are
    the sub-tables (plain dicts) documented at the top of ``registry.toml``.
    """

    id: str
    name: str
    cancer: str
    role: str
    accession: str
    citation: str
    licence: str
    access: str
    format: str
    value_scale: str
    description: str
    files: tuple[FileSpec, ...]
    genes: Mapping[str, Any]
    clinical: Mapping[str, Any]
    selection: Mapping[str, Any] = field(default_factory=dict)
    parse: Mapping[str, Any] = field(default_factory=dict)
    mirror: str | None = None
    access_note: str = ""
    derived_from: str = ""
    upstream: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def files_with_role(self, role: str) -> list[FileSpec]:
        """Return the entry's files of one role, in registry order."""
        return [f for f in self.files if f.role == role]

    def file(self, role: str) -> FileSpec | None:
        """Return the single file of a role, or None; more than one is a registry error."""
        found = self.files_with_role(role)
        if len(found) > 1:
            raise RegistryError(
                f"cohort {self.id!r} has {len(found)} files with role {role!r}; this format "
                "expects one"
            )
        return found[0] if found else None


class Registry(Mapping[str, CohortEntry]):
    """The cohorts of the registry, by id (a read-only mapping in registry order)."""

    def __init__(self, entries: list[CohortEntry], path: Path | None = None) -> None:
        self._entries = {e.id: e for e in entries}
        self.path = path

    def __getitem__(self, key: str) -> CohortEntry:
        if not isinstance(key, str):
            raise TypeError(f"cohort id must be a str, got {type(key).__name__}")
        try:
            return self._entries[key]
        except KeyError:
            raise UnknownDatasetError(self._unknown_message(key)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def closest(self, key: str, n: int = 3) -> list[str]:
        """Return up to ``n`` registry ids closest to ``key`` (by spelling, then by substring)."""
        ids = list(self._entries)
        low = key.lower().replace("-", "_")
        close = difflib.get_close_matches(low, ids, n=n, cutoff=0.5)
        for i in ids:
            if len(close) >= n:
                break
            if (low in i or i in low) and i not in close:
                close.append(i)
        return close

    def _unknown_message(self, key: str) -> str:
        close = self.closest(str(key))
        hint = f"closest ids: {', '.join(close)}" if close else "no id is close"
        return (
            f"unknown cohort id {key!r}; {hint}. "
            "See desurv.datasets.list() or `desurv datasets list` for all ids."
        )


def registry_path() -> Path:
    """Path of the registry file shipped with the package (``data_registry/registry.toml``)."""
    return Path(__file__).with_name("registry.toml")


def selections_path() -> Path:
    """Path of the sample whitelists shipped with the package (``selections.toml``)."""
    return Path(__file__).with_name("selections.toml")


def _err(where: str, msg: str) -> RegistryError:
    return RegistryError(f"registry entry {where}: {msg}")


def _parse_file(where: str, i: int, raw: Mapping[str, Any]) -> FileSpec:
    w = f"{where} files[{i}]"
    for key in ("role", "name"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise _err(w, f"needs a non-empty string {key!r}")
    if raw["role"] not in FILE_ROLES:
        raise _err(w, f"role {raw['role']!r} is not one of {FILE_ROLES}")
    if "/" in raw["name"] or raw["name"].startswith("."):
        raise _err(w, f"name {raw['name']!r} must be a plain file name")
    if "url" not in raw:
        raise _err(w, "needs 'url' (the archive's URL, or \"\" when there is no open download)")
    url = raw["url"] or None
    if url is not None and not re.match(r"^(https?|ftp)://", url):
        raise _err(w, f"url {url!r} must start with https://, http:// or ftp://")
    sha = raw.get("sha256", "unknown")
    if sha == "unknown":
        sha = None
    elif not isinstance(sha, str) or not _SHA_RE.match(sha):
        raise _err(w, f"sha256 {sha!r} must be 64 lower-case hex digits or \"unknown\"")
    unpack = raw.get("unpack") or None
    if unpack not in (None, "tar.gz"):
        raise _err(w, f"unpack {unpack!r} must be \"tar.gz\" or absent")
    return FileSpec(raw["role"], raw["name"], url, sha, unpack, str(raw.get("note", "")))


def _validate_clinical(where: str, clin: Mapping[str, Any]) -> None:
    for key in ("time", "event", "time_unit"):
        if key not in clin:
            raise _err(where, f"clinical mapping needs {key!r}")
    time = clin["time"]
    if isinstance(time, str):
        time = [time]
    if not isinstance(time, list) or not time or not all(isinstance(t, str) for t in time):
        raise _err(where, "clinical.time must be a column name or a list of them")
    if not isinstance(clin["event"], str):
        raise _err(where, "clinical.event must be a column name")
    unit = clin["time_unit"]
    if not isinstance(unit, str):
        raise _err(where, "clinical.time_unit must be a string")
    if not unit.startswith("column:"):
        try:
            normalise_time_unit(unit)
        except ValueError as exc:
            raise _err(where, str(exc)) from None
    emap = clin.get("event_map", {})
    if not isinstance(emap, dict) or not all(v in (0, 1) for v in emap.values()):
        raise _err(where, "clinical.event_map must map raw values to 0 or 1")


def _parse_entry(raw: Mapping[str, Any], index: int) -> CohortEntry:
    where = f"#{index} ({raw.get('id', '?')!r})"
    for key in _REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _err(where, f"needs a non-empty string {key!r}")
    if not _ID_RE.match(raw["id"]):
        raise _err(where, "id must be lower-case letters, digits and underscores")
    if raw["role"] not in ROLES:
        raise _err(where, f"role {raw['role']!r} is not one of {ROLES}")
    if raw["access"] not in ACCESS:
        raise _err(where, f"access {raw['access']!r} is not one of {ACCESS}")
    if raw["format"] not in FORMATS:
        raise _err(where, f"format {raw['format']!r} is not one of {FORMATS}")
    if raw["access"] == "controlled" and not raw.get("access_note"):
        raise _err(where, "a controlled-access entry needs 'access_note' saying how to apply")
    files_raw = raw.get("files")
    if not isinstance(files_raw, list) or not files_raw:
        raise _err(where, "needs at least one [[cohort.files]] table")
    files = tuple(_parse_file(where, i, f) for i, f in enumerate(files_raw))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise _err(where, f"file names must be unique, got {names}")
    mirror = raw.get("mirror")
    if mirror is not None and (not isinstance(mirror, str) or mirror.startswith("/")):
        raise _err(where, "mirror must be a folder relative to the mirror root")
    if raw["format"] == "tidy":
        if mirror is None:
            raise _err(where, "a tidy entry needs 'mirror' (its folder in the mirror)")
        if {f.role for f in files} != {"expression", "clinical"}:
            raise _err(where, "a tidy entry has exactly an expression and a clinical file")
    if mirror is None and all(f.url is None for f in files):
        raise _err(where, "has neither a mirror folder nor any URL: nowhere to get it from")
    roles = {f.role for f in files}
    missing = [r for r in REQUIRED_ROLES[raw["format"]] if r not in roles]
    if raw["format"] == "xena" and not roles & {"clinical", "survival"}:
        missing.append("clinical or survival")
    if missing:
        raise _err(where, f"format {raw['format']!r} needs files with role(s) {missing}")
    genes = raw.get("genes")
    if not isinstance(genes, dict) or genes.get("id_type") not in (
        "symbol", "ensembl", "probe", "entrez"
    ):
        raise _err(where, "needs [cohort.genes] with id_type symbol|ensembl|probe|entrez")
    if genes["id_type"] != "symbol" and not genes.get("map"):
        raise _err(where, f"id_type {genes['id_type']!r} needs genes.map (the file role of "
                   "the id -> symbol table)")
    if genes.get("map") and genes["map"] not in roles:
        raise _err(where, f"genes.map {genes['map']!r} names no file role of the entry")
    if genes.get("collapse", "mean") not in ("mean", "max_mean"):
        raise _err(where, "genes.collapse must be 'mean' or 'max_mean'")
    clin = raw.get("clinical")
    if not isinstance(clin, dict):
        raise _err(where, "needs a [cohort.clinical] mapping")
    _validate_clinical(where, clin)
    selection = raw.get("selection", {})
    if not isinstance(selection, dict) or (selection and not selection.get("description")):
        raise _err(where, "[cohort.selection] needs a 'description'")
    for clause in selection.get("where", []):
        ops = [k for k in ("equals", "in", "matches") if k in clause]
        if not isinstance(clause.get("field"), str) or len(ops) != 1:
            raise _err(where, f"selection clause {clause} needs a field and one of equals, "
                       "in, matches")
    parse = raw.get("parse", {})
    if not isinstance(parse, dict):
        raise _err(where, "[cohort.parse] must be a table")
    return CohortEntry(
        id=raw["id"], name=raw["name"], cancer=raw["cancer"], role=raw["role"],
        accession=raw["accession"], citation=raw["citation"], licence=raw["licence"],
        access=raw["access"], format=raw["format"], value_scale=raw["value_scale"],
        description=raw["description"], files=files, genes=genes, clinical=clin,
        selection=selection, parse=parse, mirror=mirror,
        access_note=str(raw.get("access_note", "")), derived_from=str(raw.get("derived_from", "")),
        upstream=str(raw.get("upstream", "")), raw=dict(raw),
    )


def parse_registry(data: Mapping[str, Any], selections: Mapping[str, Any] | None = None,
                   path: Path | None = None) -> Registry:
    """Validate parsed registry TOML and return a :class:`Registry`.

    Parameters
    ----------
    data : mapping
        The parsed TOML document (``{"schema_version": 1, "cohort": [...]}``).
    selections : mapping, optional
        The parsed whitelists document; when given, every ``selection.whitelist`` named by an
        entry must exist in it.
    path : Path, optional
        Where the registry came from (kept on the result for messages).

    Returns
    -------
    Registry

    Raises
    ------
    RegistryError
        On any invalid entry, duplicated id, or unknown ``derived_from`` / whitelist.
    """
    if data.get("schema_version") != 1:
        raise RegistryError(f"registry {path}: schema_version must be 1")
    cohorts = data.get("cohort")
    if not isinstance(cohorts, list) or not cohorts:
        raise RegistryError(f"registry {path}: no [[cohort]] entries")
    entries = [_parse_entry(c, i) for i, c in enumerate(cohorts)]
    ids = [e.id for e in entries]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise RegistryError(f"registry {path}: duplicated cohort ids {dup}")
    for e in entries:
        if e.derived_from and e.derived_from not in ids:
            raise _err(repr(e.id), f"derived_from {e.derived_from!r} is not a registry id")
        wl = e.selection.get("whitelist")
        if wl is not None and selections is not None and wl not in selections:
            raise _err(repr(e.id), f"selection.whitelist {wl!r} is not in selections.toml")
    return Registry(entries, path)


@lru_cache(maxsize=4)
def _load_cached(path: str, sel_path: str, mtime: float, sel_mtime: float) -> Registry:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return parse_registry(data, _load_selections_cached(sel_path, sel_mtime), Path(path))


@lru_cache(maxsize=4)
def _load_selections_cached(path: str, mtime: float) -> dict[str, Any]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    out = {}
    for key, table in data.get("whitelist", {}).items():
        ids = table.get("samples")
        if not isinstance(ids, list) or not ids or not table.get("source"):
            raise RegistryError(f"selections {path}: whitelist {key!r} needs source and samples")
        if len(set(ids)) != len(ids):
            raise RegistryError(f"selections {path}: whitelist {key!r} has duplicated samples")
        out[key] = table
    return out


def load_selections(path: str | Path | None = None) -> dict[str, Any]:
    """Read the sample whitelists (``selections.toml``).

    Parameters
    ----------
    path : str or Path, optional
        Defaults to the file shipped with the package (:func:`selections_path`).

    Returns
    -------
    dict
        ``{name: {"source": str, "description": str, "samples": list[str]}}``.
    """
    p = Path(path) if path is not None else selections_path()
    return _load_selections_cached(str(p), p.stat().st_mtime)


def load_registry(path: str | Path | None = None) -> Registry:
    """Read and validate the registry (cached while the file is unchanged).

    Parameters
    ----------
    path : str or Path, optional
        A registry TOML file; defaults to the one shipped with the package
        (:func:`registry_path`).

    Returns
    -------
    Registry
        The validated entries, by id.

    Raises
    ------
    RegistryError
        If the file is not a valid registry (the message names the entry and the field).
    """
    p = Path(path) if path is not None else registry_path()
    s = selections_path()
    return _load_cached(str(p), str(s), p.stat().st_mtime, s.stat().st_mtime)
