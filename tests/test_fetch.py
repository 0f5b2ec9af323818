"""Downloads, hashes, lock file, cache and mirror, against a local HTTP server on 127.0.0.1.

No test here reaches the internet: the server below runs in a thread on an ephemeral port and
serves bytes from memory. Its handler can serve a file, serve a truncated body (a
Content-Length larger than what it sends, then close) and fail the first N requests with
HTTP 500, to exercise hash checks, interrupted transfers and retries.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from data_registry import fetch
from data_registry.errors import (
    AccessRestrictedError,
    DatasetNotAvailableError,
    DownloadError,
    HashMismatchError,
)
from data_registry.registry import CohortEntry, FileSpec, load_registry

PAYLOAD = b"gene,S1,S2\nTP53,1.0,2.0\nKRAS,3.0,4.0\n" * 50
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """Behaviour of the test server, per path: what to serve and how often to fail first."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail_first: dict[str, int] = {}
        self.truncate_first: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()


def _handler(state: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            with state.lock:
                state.requests.append(self.path)
                fail = state.fail_first.get(self.path, 0)
                if fail:
                    state.fail_first[self.path] = fail - 1
                trunc = state.truncate_first.get(self.path, 0)
                if trunc and not fail:
                    state.truncate_first[self.path] = trunc - 1
            if self.path in state.status:
                self.send_error(state.status[self.path])
                return
            if fail:
                self.send_error(500, "test failure")
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if trunc:
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture()
def server() -> Iterator[tuple[_Server, str]]:
    state = _Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESURV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DESURV_LOCK_FILE", str(tmp_path / "lock.json"))
    monkeypatch.setenv("DESURV_DATA_MIRROR", "off")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _entry(url: str | None, sha: str | None = None, name: str = "expression.csv",
           unpack: str | None = None, **kw: object) -> tuple[CohortEntry, FileSpec]:
    spec = FileSpec(role="expression", name=name, url=url, sha256=sha, unpack=unpack)
    base = load_registry()["gse17536"]
    entry = replace(base, id="test_cohort", files=(spec,), mirror="test/cohort", **kw)
    return entry, spec


def test_download_verifies_and_moves_into_cache(server: tuple[_Server, str]) -> None:
    state, base = server
    state.files["/f.csv"] = PAYLOAD
    entry, spec = _entry(base + "/f.csv", SHA)
    path = fetch.locate(entry, spec, progressbar=False)
    assert path == fetch.cache_dir() / "test_cohort" / "expression.csv"
    assert path.read_bytes() == PAYLOAD
    assert not list(path.parent.glob("*.part"))
    # second call: served from the cache, no new request
    n = len(state.requests)
    assert fetch.locate(entry, spec) == path
    assert len(state.requests) == n


def test_first_download_pins_hash_in_lock_file(server: tuple[_Server, str]) -> None:
    state, base = server
    state.files["/f.csv"] = PAYLOAD
    entry, spec = _entry(base + "/f.csv", None)
    fetch.locate(entry, spec, progressbar=False)
    lock = json.loads(fetch.lock_path().read_text())
    pinned = lock["files"]["test_cohort/expression.csv"]
    assert pinned["sha256"] == SHA and pinned["url"] == base + "/f.csv"
    # the cached copy is now verified against the pin: corrupt it and it is set aside
    cached = fetch.cache_dir() / "test_cohort" / "expression.csv"
    cached.write_bytes(PAYLOAD + b"tampered")
    bad = hashlib.sha256(PAYLOAD + b"tampered").hexdigest()
    with pytest.raises(HashMismatchError) as err:
        fetch.locate(entry, spec)
    assert SHA in str(err.value) and bad in str(err.value) and "lock file" in str(err.value)
    assert not cached.exists()
    assert (fetch.cache_dir() / "_rejected" / f"expression.csv.{bad[:12]}").exists()


def test_hash_mismatch_on_download_sets_file_aside(server: tuple[_Server, str]) -> None:
    state, base = server
    state.files["/f.csv"] = PAYLOAD
    wrong = "0" * 64
    entry, spec = _entry(base + "/f.csv", wrong)
    with pytest.raises(HashMismatchError) as err:
        fetch.locate(entry, spec, progressbar=False)
    msg = str(err.value)
    assert wrong in msg and SHA in msg and "set aside" in msg
    assert not (fetch.cache_dir() / "test_cohort" / "expression.csv").exists()
    assert (fetch.cache_dir() / "_rejected" / f"expression.csv.{SHA[:12]}").read_bytes() \
        == PAYLOAD


def test_retry_after_server_errors(server: tuple[_Server, str]) -> None:
    state, base = server
    state.files["/f.csv"] = PAYLOAD
    state.fail_first["/f.csv"] = 2
    entry, spec = _entry(base + "/f.csv", SHA)
    path = fetch.locate(entry, spec, retries=3, backoff=0.01, progressbar=False)
    assert path.read_bytes() == PAYLOAD
    assert state.requests.count("/f.csv") == 3


def test_interrupted_transfer_is_retried_and_never_used(server: tuple[_Server, str]) -> None:
    state, base = server
    state.files["/f.csv"] = PAYLOAD
    state.truncate_first["/f.csv"] = 1
    entry, spec = _entry(base + "/f.csv", None)  # no hash: only the transfer check protects
    path = fetch.locate(entry, spec, retries=2, backoff=0.01, progressbar=False)
    assert path.read_bytes() == PAYLOAD
    assert state.requests.count("/f.csv") == 2


def test_interrupted_transfers_exhaust_retries_without_half_file(
        server: tuple[_Server, str]) -> None:
    state, base = server
    state.files["/f.csv"] = PAYLOAD
    state.truncate_first["/f.csv"] = 5
    entry, spec = _entry(base + "/f.csv", None)
    with pytest.raises(DownloadError) as err:
        fetch.locate(entry, spec, retries=2, backoff=0.01, progressbar=False)
    folder = fetch.cache_dir() / "test_cohort"
    assert list(folder.iterdir()) == []  # neither the file nor a .part is left
    assert "test_cohort" in str(err.value) and base + "/f.csv" in str(err.value)
    assert not fetch.lock_path().exists()  # nothing pinned from a broken transfer


def test_client_error_is_not_retried(server: tuple[_Server, str]) -> None:
    state, base = server
    entry, spec = _entry(base + "/missing.csv", None)
    with pytest.raises(DownloadError, match="404"):
        fetch.locate(entry, spec, retries=3, backoff=0.01, progressbar=False)
    assert state.requests.count("/missing.csv") == 1


def test_no_network_error_names_cohort_file_url_and_folder(tmp_path: Path,
                                                           server: tuple[_Server, str]) -> None:
    state, base = server
    entry, spec = _entry(base + "/f.csv", None)
    with pytest.raises(DatasetNotAvailableError) as err:
        fetch.locate(entry, spec, download=False)
    msg = str(err.value)
    assert "'test_cohort'" in msg and "'expression.csv'" in msg
    assert base + "/f.csv" in msg and str(tmp_path / "cache" / "test_cohort") in msg
    assert state.requests == []


def test_unreachable_host_gives_download_error(tmp_path: Path) -> None:
    # port 9 on 127.0.0.1 (discard) is closed in the test environment: connection refused
    entry, spec = _entry("http://127.0.0.1:9/f.csv", None)
    with pytest.raises(DownloadError) as err:
        fetch.locate(entry, spec, retries=1, progressbar=False)
    assert "http://127.0.0.1:9/f.csv" in str(err.value)
    assert str(tmp_path / "cache" / "test_cohort") in str(err.value)


def test_controlled_access_error_says_how_to_apply() -> None:
    entry = load_registry()["linehan"]
    with pytest.raises(AccessRestrictedError, match="request them from the study authors"):
        fetch.locate(entry, entry.files[0])


def test_mirror_is_used_before_download_and_verified(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     server: tuple[_Server, str]) -> None:
    state, base = server
    mirror = tmp_path / "mirror"
    (mirror / "test" / "cohort").mkdir(parents=True)
    (mirror / "test" / "cohort" / "expression.csv").write_bytes(PAYLOAD)
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(mirror))
    entry, spec = _entry(base + "/f.csv", SHA)
    assert fetch.locate(entry, spec) == mirror / "test" / "cohort" / "expression.csv"
    assert state.requests == []
    # a mirror copy with the wrong hash is refused, left in place, and not replaced
    entry2, spec2 = _entry(base + "/f.csv", "1" * 64)
    with pytest.raises(HashMismatchError, match="left in place"):
        fetch.locate(entry2, spec2)
    assert (mirror / "test" / "cohort" / "expression.csv").exists()
    assert state.requests == []


def test_mirror_env_pointing_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(tmp_path / "nope"))
    with pytest.raises(NotADirectoryError, match="DESURV_DATA_MIRROR"):
        fetch.mirror_dir()
    monkeypatch.delenv("DESURV_DATA_MIRROR")
    expected = fetch.default_mirror()
    assert fetch.mirror_dir() == (expected if expected.is_dir() else None)


def test_tar_gz_study_is_downloaded_and_unpacked_once(server: tuple[_Server, str]) -> None:
    state, base = server
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("study/data_mrna_seq_v2_rsem.txt")
        info.size = len(PAYLOAD)
        tf.addfile(info, io.BytesIO(PAYLOAD))
    state.files["/study.tar.gz"] = buf.getvalue()
    entry, spec = _entry(base + "/study.tar.gz", None, name="study.tar.gz", unpack="tar.gz")
    folder = fetch.locate(entry, spec, progressbar=False)
    assert folder == fetch.cache_dir() / "test_cohort" / "study"
    assert (folder / "study" / "data_mrna_seq_v2_rsem.txt").read_bytes() == PAYLOAD
    assert fetch.locate(entry, spec) == folder
    assert state.requests.count("/study.tar.gz") == 1


def test_load_downloads_parses_then_uses_the_cache(server: tuple[_Server, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """desurv.datasets.load end to end over HTTP: download, pin, parse; then cache only."""
    import gzip

    import desurv.datasets as ds
    from data_registry.registry import Registry

    state, base = server
    fix = Path(__file__).resolve().parent / "data" / "registry" / "geo"
    state.files["/GSE71729_series_matrix.txt.gz"] = gzip.compress(
        (fix / "GSE71729_mini_series_matrix.txt").read_bytes())
    real = load_registry()
    moffitt = real["moffitt_gse71729"]
    spec = replace(moffitt.files[0], url=base + "/GSE71729_series_matrix.txt.gz")
    reg = Registry([replace(moffitt, files=(spec,))])
    monkeypatch.setattr(ds, "load_registry", lambda: reg)
    a = ds.load("moffitt_gse71729", progressbar=False)
    assert a.n_obs == 3 and a.obs["event"].tolist() == [1, 0, 1]
    sha = a.uns["provenance"]["files"]["GSE71729_series_matrix.txt.gz"]["sha256"]
    assert sha == json.loads(fetch.lock_path().read_text())["files"][
        "moffitt_gse71729/GSE71729_series_matrix.txt.gz"]["sha256"]
    n = len(state.requests)
    b = ds.load("moffitt_gse71729", download=False)
    assert len(state.requests) == n and b.shape == a.shape
    assert ds.list_datasets().loc["moffitt_gse71729", "available"] == "cache"
