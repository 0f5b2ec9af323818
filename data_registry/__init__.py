"""data_registry: what cohorts exist, where they come from, how to fetch, verify and read them.

- :mod:`data_registry.registry`: the registry file (``registry.toml``) and its validation.
- :mod:`data_registry.fetch`: mirror, cache, downloads with pooch, hashes and the lock file.
- :mod:`data_registry.parsers`: readers of GEO, ArrayExpress, Xena/GDC, cBioPortal, ICGC and
  the tidy layout.
- :mod:`data_registry.assemble`: from parsed files to an AnnData (samples x genes).

Users call :mod:`desurv.datasets` (``list()``, ``info(id)``, ``load(id)``); this package is
the machinery behind it. Importing it does no I/O.
"""

from __future__ import annotations

from data_registry.errors import (
    AccessRestrictedError,
    DataRegistryWarning,
    DatasetNotAvailableError,
    DownloadError,
    HashMismatchError,
    MalformedFileError,
    RegistryError,
    UnknownDatasetError,
)
from data_registry.registry import CohortEntry, FileSpec, Registry, load_registry

__all__ = [
    "AccessRestrictedError",
    "CohortEntry",
    "DataRegistryWarning",
    "DatasetNotAvailableError",
    "DownloadError",
    "FileSpec",
    "HashMismatchError",
    "MalformedFileError",
    "Registry",
    "RegistryError",
    "UnknownDatasetError",
    "load_registry",
]
