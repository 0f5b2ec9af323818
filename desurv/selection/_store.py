"""A checkpoint store for a search: one file per finished evaluation, written atomically.

Layout of the store directory::

    manifest.json          what the search is (data fingerprint, space, settings, seed)
    units/<key>.json       one finished (setting, fold) evaluation each

Each unit is written to a temporary file in the same directory and moved into place with
``os.replace`` (atomic on POSIX and Windows), so a search killed at any moment leaves only
complete units; re-running with the same store skips them. A store whose manifest differs
from the search's is refused with the differing fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SearchStore", "fingerprint", "setting_key", "unit_key"]

STORE_VERSION = 1


def fingerprint(*arrays: np.ndarray | None) -> str:
    """SHA-256 over the shapes, dtypes and bytes of the arrays (None counted as absent)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(np.asarray(a))
        if arr.dtype == object:
            arr = arr.astype(str)
        h.update(str((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"cannot store a {type(v).__name__} in a search store")


def setting_key(params: dict) -> str:
    """A hash of the setting's canonical JSON."""
    return hashlib.sha256(_canonical(params).encode()).hexdigest()[:20]


def unit_key(params: dict, fold: int) -> str:
    """File name of a (setting, fold) unit: the setting's key and the fold."""
    return f"{setting_key(params)}_f{int(fold)}"


class SearchStore:
    """A directory that holds a search's finished evaluations.

    Parameters
    ----------
    path : str or PathLike
        The directory (created when missing).
    manifest : dict
        What the search is (JSON-serialisable). On first use it is written; on later use
        it must equal the stored one, else ``ValueError`` names the fields that differ.
    """

    def __init__(self, path: str | os.PathLike, manifest: dict) -> None:
        self.path = Path(path)
        self.units = self.path / "units"
        manifest = {"store_version": STORE_VERSION, **manifest}
        mpath = self.path / "manifest.json"
        if mpath.exists():
            try:
                stored = json.loads(mpath.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise ValueError(
                    f"{mpath} is not a readable search manifest ({err}); use another store "
                    "directory"
                ) from err
            wanted = json.loads(_canonical(manifest))
            if stored != wanted:
                diff = sorted(
                    k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k)
                )
                raise ValueError(
                    f"the store {self.path} holds another search (different {', '.join(diff)}"
                    "): it was made for other data, search space or settings; pass a new "
                    "store directory or delete this one"
                )
        else:
            if self.path.exists() and not self.path.is_dir():
                raise ValueError(f"store {self.path} exists and is not a directory")
            self.units.mkdir(parents=True, exist_ok=True)
            self._atomic_write(mpath, _canonical(manifest))
        self.units.mkdir(parents=True, exist_ok=True)

    def _atomic_write(self, target: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self) -> dict[str, dict]:
        """Every finished unit, by key (unreadable leftovers are ignored)."""
        out = {}
        for f in sorted(self.units.glob("*.json")):
            if f.name.startswith(".tmp-"):
                continue
            try:
                out[f.stem] = json.loads(f.read_text())
            except (OSError, json.JSONDecodeError):
                continue
        return out

    def write(self, key: str, record: dict) -> None:
        """Store one finished unit atomically."""
        self._atomic_write(self.units / f"{key}.json", _canonical(record))
