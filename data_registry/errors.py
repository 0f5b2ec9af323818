"""Errors and warnings of the data registry.

Every error says what is wrong, with which cohort or file, and what to do about it.
"""

from __future__ import annotations

from desurv.exceptions import DeSurvWarning

__all__ = [
    "AccessRestrictedError",
    "DataRegistryWarning",
    "DatasetNotAvailableError",
    "DownloadError",
    "HashMismatchError",
    "MalformedFileError",
    "RegistryError",
    "UnknownDatasetError",
]


class RegistryError(ValueError):
    """The registry file (or an entry of it) is invalid; the message names the entry and field."""


class UnknownDatasetError(KeyError):
    """No registry entry has this id; the message lists the closest ids."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class DatasetNotAvailableError(RuntimeError):
    """A file is neither in the mirror nor in the cache, and could not be downloaded.

    The message names the cohort, the file, the URL to get it from and the folder to put it in.
    """


class AccessRestrictedError(DatasetNotAvailableError):
    """The source needs an access agreement (e.g. ICGC DACO, dbGaP); no open download exists."""


class DownloadError(DatasetNotAvailableError):
    """A download failed after all retries (network error, HTTP error, interrupted transfer)."""


class HashMismatchError(ValueError):
    """A file's SHA-256 differs from the registry or lock file; the file was set aside."""


class MalformedFileError(ValueError):
    """A source file cannot be parsed; the message says which file and which rows."""


class DataRegistryWarning(DeSurvWarning):
    """Something in a cohort's files was dropped or repaired while loading (see the message)."""
