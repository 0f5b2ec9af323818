"""Find, download, verify and cache the files of a cohort.

Where a file is looked for, in order:

1. the **mirror**: ``$DESURV_DATA_MIRROR/<entry.mirror>/<file name>``. The mirror is a folder
   laid out like the project's ``shared/data``. When ``DESURV_DATA_MIRROR`` is not set, a
   ``shared/data`` folder next to the project checkout (``<repo>/../shared/data``) is used if
   it exists, so that tests, vignettes and CI run offline. ``DESURV_DATA_MIRROR=""`` (empty) or
   ``off`` disables the mirror.
2. the **cache**: ``$DESURV_CACHE_DIR/<cohort id>/<file name>`` (default cache:
   ``pooch.os_cache("desurv")``).
3. a **download** from the URL of the registry into the cache, with pooch's HTTP downloader
   (progress bar, timeout) and retries. The transfer goes to a ``.part`` file that is renamed
   into place only once complete and verified, so a half file is never used.

Hashes: a file is verified against the registry's sha256, or, where the registry has none,
against the **lock file** (``$DESURV_LOCK_FILE``, default ``<cache>/registry-lock.json``).
Trust on first use: the first time a file without a registry hash is used from the cache or
downloaded, its sha256 is written into the lock file (atomically) and an INFO message names
the file and the hash; every later use is verified against that pin. Mirror files without a
registry hash are not pinned (the mirror is a maintained copy, read only). A file whose hash
differs is set aside (cache and downloads: moved to ``<cache>/_rejected/``; mirror files are
left in place, never modified) and not used; the
:class:`~data_registry.errors.HashMismatchError` gives both hashes.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import shutil
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pooch

from data_registry.errors import (
    AccessRestrictedError,
    DatasetNotAvailableError,
    DownloadError,
    HashMismatchError,
)
from data_registry.registry import CohortEntry, FileSpec

__all__ = [
    "cache_dir",
    "default_mirror",
    "file_sha256",
    "locate",
    "lock_path",
    "mirror_dir",
    "read_lock",
]

log = logging.getLogger("desurv")

MIRROR_ENV = "DESURV_DATA_MIRROR"
CACHE_ENV = "DESURV_CACHE_DIR"
LOCK_ENV = "DESURV_LOCK_FILE"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def default_mirror() -> Path:
    """The mirror used when ``DESURV_DATA_MIRROR`` is unset: ``<repo>/../shared/data``."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def mirror_dir() -> Path | None:
    """Return the mirror folder, or None when there is none.

    Returns
    -------
    Path or None
        ``$DESURV_DATA_MIRROR`` when set (None when set to ``""`` or ``off``), else
        :func:`default_mirror` when that folder exists, else None.

    Raises
    ------
    NotADirectoryError
        If ``DESURV_DATA_MIRROR`` names something that is not a folder.
    """
    env = os.environ.get(MIRROR_ENV)
    if env is not None:
        if env.strip() == "" or env.strip().lower() == "off":
            return None
        p = Path(env).expanduser()
        if not p.is_dir():
            raise NotADirectoryError(
                f"{MIRROR_ENV}={env!r} is not a folder; point it at a folder laid out like "
                "shared/data (or set it to 'off')"
            )
        return p
    p = default_mirror()
    return p if p.is_dir() else None


def cache_dir() -> Path:
    """Return the cache folder: ``$DESURV_CACHE_DIR`` or ``pooch.os_cache("desurv")``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path(pooch.os_cache("desurv"))


def lock_path() -> Path:
    """Return the lock file: ``$DESURV_LOCK_FILE`` or ``<cache>/registry-lock.json``."""
    env = os.environ.get(LOCK_ENV)
    return Path(env).expanduser() if env else cache_dir() / "registry-lock.json"


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 (lower-case hex) of a file."""
    return pooch.file_hash(str(path), alg="sha256")


def read_lock(path: Path | None = None) -> dict[str, Any]:
    """Read the lock file (``{"version": 1, "files": {"<id>/<name>": {"sha256": ...}}}``).

    Parameters
    ----------
    path : Path, optional
        The lock file (default :func:`lock_path`).

    Returns
    -------
    dict
        Its content; ``{"version": 1, "files": {}}`` when the file does not exist.

    Raises
    ------
    ValueError
        The file is not valid JSON or not laid out as above; the message says to delete it
        (its hashes are pinned again at the next use of each file).
    """
    p = path or lock_path()
    if not p.exists():
        return {"version": 1, "files": {}}
    fix = "delete it to re-pin hashes at the next use of each file"
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"lock file {p} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise ValueError(f"lock file {p} holds a JSON {type(data).__name__}, not an object "
                         f"with a 'files' table; {fix}")
    files = data.setdefault("files", {})
    if not isinstance(files, dict):
        raise ValueError(f"lock file {p}: 'files' is a JSON {type(files).__name__}, not an "
                         f"object; {fix}")
    for key, pin in files.items():
        if not (isinstance(pin, dict) and isinstance(pin.get("sha256"), str)
                and _SHA256.fullmatch(pin["sha256"])):
            raise ValueError(f"lock file {p}: entry {key!r} has no valid sha256 (64 lower-case "
                             f"hex digits); delete that entry or the file to re-pin it")
    return data


def _pin(entry: CohortEntry, spec: FileSpec, sha: str, source: str) -> None:
    """Trust on first use: record ``sha`` for the file in the lock file, atomically."""
    p = lock_path()
    data = read_lock(p)
    data["files"][f"{entry.id}/{spec.name}"] = {
        "sha256": sha,
        "url": spec.url or "",
        "source": source,
        "pinned_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    # a temp file of this process and thread, renamed over the lock file: readers never see
    # a half-written lock file
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("trusted on first use (%s): %s/%s has sha256 %s, pinned in %s; later uses are "
             "verified against it", source, entry.id, spec.name, sha, p)


def expected_sha256(entry: CohortEntry, spec: FileSpec) -> tuple[str | None, str]:
    """Return the expected hash of a file and where it comes from (``registry`` / ``lock``)."""
    if spec.sha256:
        return spec.sha256, "registry"
    pinned = read_lock()["files"].get(f"{entry.id}/{spec.name}")
    if pinned:
        return pinned["sha256"], f"lock file {lock_path()}"
    return None, ""


def _set_aside(path: Path, actual: str, name: str) -> Path:
    """Move a rejected file to ``<cache>/_rejected/<name>.<first 12 hex of its sha256>``."""
    rejected = cache_dir() / "_rejected"
    rejected.mkdir(parents=True, exist_ok=True)
    target = rejected / f"{name}.{actual[:12]}"
    os.replace(path, target)
    return target


def _verify(entry: CohortEntry, spec: FileSpec, path: Path, *, in_mirror: bool) -> None:
    expected, origin = expected_sha256(entry, spec)
    if expected is None:
        if not in_mirror:  # trust on first use; mirror files are not pinned
            _pin(entry, spec, file_sha256(path), "first use of the cached file")
        return
    actual = file_sha256(path)
    if actual == expected:
        return
    if in_mirror:
        where = f"the mirror copy {path} was left in place and not used"
    else:
        where = f"the file was set aside as {_set_aside(path, actual, spec.name)} and not used"
    raise HashMismatchError(
        f"cohort {entry.id!r}, file {spec.name!r}: sha256 mismatch: expected {expected} (from "
        f"the {origin}), got {actual}; {where}. Fetch it again "
        f"(`desurv datasets fetch {entry.id}`); if the archive changed the file on purpose, "
        "update the registry or delete its line in the lock file."
    )


def _not_available(entry: CohortEntry, spec: FileSpec, reason: str,
                   cls: type[DatasetNotAvailableError] = DatasetNotAvailableError
                   ) -> DatasetNotAvailableError:
    mirror = mirror_dir()
    folders = [str(cache_dir() / entry.id)]
    if entry.mirror:
        root = mirror if mirror is not None else Path(f"${MIRROR_ENV}")
        folders.insert(0, str(root / entry.mirror))
    url = spec.url or "(no open download)"
    access = f" Access: {entry.access_note}" if entry.access_note else ""
    if entry.access == "controlled" or (spec.url is None and entry.access_note):
        cls = AccessRestrictedError
    return cls(
        f"cohort {entry.id!r}: file {spec.name!r} is not available: {reason}. Get it from "
        f"{url} and put it in {' or '.join(folders)} (file name {spec.name!r}).{access}"
    )


def _download(url: str, part: Path, *, retries: int, progressbar: bool, timeout: float,
              backoff: float) -> None:
    import requests

    last: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            if url.startswith(("http://", "https://")):
                downloader = pooch.HTTPDownloader(progressbar=progressbar, timeout=timeout)
            else:
                downloader = pooch.choose_downloader(url, progressbar=progressbar)
            downloader(url, str(part), None)
            return
        except requests.HTTPError as exc:
            part.unlink(missing_ok=True)
            last = exc
            status = exc.response.status_code if exc.response is not None else 0
            if 400 <= status < 500 and status not in (408, 429):
                break  # a client error does not get better by retrying
        except (requests.RequestException, OSError, EOFError) as exc:
            part.unlink(missing_ok=True)
            last = exc
        log.warning("download of %s failed (attempt %d/%d): %s", url, attempt, retries, last)
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise DownloadError(f"{type(last).__name__}: {last}")


def locate(entry: CohortEntry, spec: FileSpec, *, download: bool = True,
           progressbar: bool | None = None, retries: int = 3, timeout: float = 60.0,
           backoff: float = 1.0) -> Path:
    """Return a verified local path of one file of a cohort, downloading it if needed.

    Parameters
    ----------
    entry : CohortEntry
        The cohort.
    spec : FileSpec
        One of ``entry.files``.
    download : bool, default True
        Download into the cache when the file is in neither the mirror nor the cache.
    progressbar : bool, optional
        Show a tqdm progress bar while downloading; default: when stderr is a terminal.
    retries : int, default 3
        Download attempts (network errors, HTTP 5xx, interrupted transfers are retried).
    timeout : float, default 60
        Seconds to wait for the server between bytes.
    backoff : float, default 1
        Seconds before the second attempt, doubled after each further failure.

    Returns
    -------
    Path
        The file in the mirror or in ``<cache>/<entry.id>/``. For ``unpack = "tar.gz"`` files,
        the folder it was unpacked into (``<cache>/<entry.id>/<name without .tar.gz>/``).

    Raises
    ------
    DatasetNotAvailableError
        Not in the mirror or cache and not downloadable (no URL, ``download=False``, or the
        download failed after all retries: :class:`DownloadError`; a source that needs an
        access agreement: :class:`AccessRestrictedError`). The message names the cohort, the
        file, the URL and the folder to put it in.
    HashMismatchError
        The file's SHA-256 differs from the registry or the lock file.

    Notes
    -----
    Trust on first use: a cached or downloaded file whose registry sha256 is ``"unknown"``
    and that the lock file does not pin yet gets its sha256 pinned there (logged at INFO);
    later calls verify it against that pin.
    """
    if retries < 1:
        raise ValueError(f"retries must be >= 1, got {retries}")
    mirror = mirror_dir()
    if mirror is not None and entry.mirror:
        m = mirror / entry.mirror / spec.name
        if spec.unpack == "tar.gz":
            unpacked = m.parent / spec.name.removesuffix(".tar.gz")
            if unpacked.is_dir():
                log.info("%s: using unpacked mirror folder %s", entry.id, unpacked)
                return unpacked
        if m.is_file():
            _verify(entry, spec, m, in_mirror=True)
            log.info("%s: using mirror copy %s", entry.id, m)
            return _unpacked(entry, spec, m) if spec.unpack else m
    target = cache_dir() / entry.id / spec.name
    if target.is_file():
        _verify(entry, spec, target, in_mirror=False)
        log.info("%s: using cached %s", entry.id, target)
        return _unpacked(entry, spec, target) if spec.unpack else target
    if spec.url is None:
        raise _not_available(entry, spec, "it has no open download and is in no mirror or cache")
    if not download:
        raise _not_available(entry, spec, "it is in no mirror or cache and download=False")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.{os.getpid()}.part")
    if progressbar is None:
        progressbar = sys.stderr.isatty()
    log.info("%s: downloading %s", entry.id, spec.url)
    try:
        _download(spec.url, part, retries=retries, progressbar=progressbar, timeout=timeout,
                  backoff=backoff)
    except DownloadError as exc:
        raise _not_available(entry, spec, f"the download failed after {retries} attempt(s) "
                             f"({exc})", DownloadError) from exc
    expected, origin = expected_sha256(entry, spec)
    actual = file_sha256(part)
    if expected is not None and actual != expected:
        aside = _set_aside(part, actual, spec.name)
        raise HashMismatchError(
            f"cohort {entry.id!r}, file {spec.name!r} downloaded from {spec.url}: sha256 "
            f"mismatch: expected {expected} (from the {origin}), got {actual}; the download "
            f"was set aside as {aside} and not used. Try again later; if the archive changed "
            "the file on purpose, update the registry or delete its line in the lock file."
        )
    os.replace(part, target)
    if expected is None:
        _pin(entry, spec, actual, "first download")
    return _unpacked(entry, spec, target) if spec.unpack else target


def _unpacked(entry: CohortEntry, spec: FileSpec, archive: Path) -> Path:
    """Unpack a tar.gz once into ``<cache>/<id>/<name without .tar.gz>/`` and return it."""
    dest = cache_dir() / entry.id / spec.name.removesuffix(".tar.gz")
    marker = dest / ".desurv-unpacked"
    if marker.is_file() and marker.read_text().strip() == file_sha256(archive):
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tf:
            tf.extractall(tmp, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetNotAvailableError(
            f"cohort {entry.id!r}: cannot unpack {archive} ({exc}); delete it and fetch again"
        ) from exc
    (tmp / ".desurv-unpacked").write_text(file_sha256(archive) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest
