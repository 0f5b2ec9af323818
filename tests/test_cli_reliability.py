"""The command line under bad settings, closed pipes and tampered files; trust on first use.

Commands run as ``python -m desurv ...`` in a subprocess, with a temporary cache and lock file
and the mirror off (``DESURV_DATA_MIRROR=off``), so that nothing here reads the user's cache or
reaches the network. Trust on first use (the lock file pins the sha256 of a file the registry
has no hash for) is checked both in-process on a fake registry entry (as in
``tests/test_fetch.py``; downloads faked by monkeypatching ``fetch._download``) and end to end
through ``desurv datasets fetch`` on a file dropped into the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import desurv
from data_registry import fetch
from data_registry.errors import HashMismatchError
from data_registry.registry import CohortEntry, FileSpec, load_registry

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = b"gene,S1,S2\nTP53,1.0,2.0\nKRAS,3.0,4.0\n"
SHA = hashlib.sha256(PAYLOAD).hexdigest()
TAMPERED = PAYLOAD + b"tampered"
BAD = hashlib.sha256(TAMPERED).hexdigest()
# a real cohort whose only file has no registry hash ("unknown") and an open download
MOFFITT = "moffitt_gse71729"
MOFFITT_FILE = "GSE71729_series_matrix.txt.gz"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """Environment of a subprocess: temporary cache and lock file, no mirror, no proxies."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("DESURV_")}
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        e.pop(var, None)
    e.update(
        DESURV_CACHE_DIR=str(tmp_path / "cache"),
        DESURV_LOCK_FILE=str(tmp_path / "lock.json"),
        DESURV_DATA_MIRROR="off",
        PYTHONPATH=os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        NO_PROXY="*",
    )
    return e


def _desurv(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desurv", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ----------------------------------------------------------------------------- one-line errors


@pytest.mark.parametrize(
    "args",
    [["datasets", "list"], ["datasets", "info", "prince"], ["datasets", "fetch", "prince"]],
    ids=["list", "info", "fetch"],
)
def test_mirror_that_is_not_a_folder_is_one_line(
    env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    not_a_folder = tmp_path / "mirror.txt"
    not_a_folder.write_text("not a folder")
    env["DESURV_DATA_MIRROR"] = str(not_a_folder)
    line = _assert_one_line_error(
        _desurv(env, *args), "DESURV_DATA_MIRROR", str(not_a_folder), "set it to 'off'"
    )
    assert line.startswith(f"desurv {' '.join(args[:2])}: error: ")


def test_corrupt_lock_file_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text('{"version": 1, "files": {')  # cut short
    _assert_one_line_error(
        _desurv(env, "datasets", "info", MOFFITT), str(lock), "not valid JSON", "delete it"
    )
    # fetch of a cached file reads the lock file to verify it
    cached = tmp_path / "cache" / MOFFITT / MOFFITT_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    _assert_one_line_error(_desurv(env, "datasets", "fetch", MOFFITT), str(lock), "delete it")
    assert cached.read_bytes() == PAYLOAD  # nothing was set aside or pinned
    assert lock.read_text() == '{"version": 1, "files": {'


@pytest.mark.parametrize("content", ["[]", '{"files": []}', '{"files": {"a/b": {"sha": 1}}}'])
def test_lock_file_with_wrong_layout_says_delete_it(tmp_path: Path, content: str) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text(content)
    with pytest.raises(ValueError, match="delete"):
        fetch.read_lock(lock)


def test_unexpected_error_names_its_type_and_asks_for_verbose(
    env: dict[str, str], tmp_path: Path
) -> None:
    # the CLI's own code path for an exception that is not a user error: make the registry
    # loader fail with one through sitecustomize, without touching the code under test
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import data_registry.registry as r\n"
        "def boom(*a, **k):\n"
        "    raise ZeroDivisionError('boom')\n"
        "r.load_registry = boom\n"
        "import desurv.datasets as d\n"
        "d.load_registry = boom\n"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(hook), env["PYTHONPATH"]])
    _assert_one_line_error(_desurv(env, "datasets", "list"), "ZeroDivisionError: boom", "--verbose")


def test_demo_error_is_one_line(env: dict[str, str]) -> None:
    _assert_one_line_error(
        _desurv(env, "demo", "--scenarios", "bogus"), "desurv demo: error:", "'bogus'"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--verbose", "datasets", "list"],
        ["datasets", "--verbose", "list"],
        ["datasets", "list", "-v"],
    ],
    ids=["global", "subcommand", "after"],
)
def test_verbose_shows_the_traceback(env: dict[str, str], tmp_path: Path, args: list[str]) -> None:
    env["DESURV_DATA_MIRROR"] = str(tmp_path / "nowhere")
    res = _desurv(env, *args)
    assert res.returncode == 1
    assert "Traceback (most recent call last)" in res.stderr
    assert "NotADirectoryError" in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("desurv datasets list: error: DESURV_DATA_MIRROR=")


def test_verbose_before_cohort_ids_still_reads_them(env: dict[str, str]) -> None:
    res = _desurv(env, "datasets", "info", "-v", "prinse")
    assert res.returncode == 1 and "Traceback" in res.stderr
    assert "closest ids: prince" in res.stderr.strip().splitlines()[-1]


def test_usage_errors_exit_2(env: dict[str, str]) -> None:
    assert _desurv(env, "datasets", "bogus").returncode == 2
    res = _desurv(env, "datasets", "fetch")
    assert res.returncode == 2 and "give at least one cohort id" in res.stderr
    assert _desurv(env, "datasets", "list", "--role", "nope").returncode == 2
    res = _desurv(env, "datasets", "list", "--cancer", "lung")
    assert res.returncode == 2 and "PDAC" in res.stderr and "Traceback" not in res.stderr
    res = _desurv(env, "datasets", "info", "prince", "--cancer", "PDAC")
    assert res.returncode == 2 and "only apply to" in res.stderr


def test_unknown_cohort_is_one_line(env: dict[str, str]) -> None:
    _assert_one_line_error(_desurv(env, "datasets", "info", "prinse"), "closest ids: prince")


# ----------------------------------------------------------------------------- broken pipes


def test_list_into_head_ends_quietly(env: dict[str, str]) -> None:
    producer = subprocess.Popen(
        [sys.executable, "-m", "desurv", "datasets", "list"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()  # head is the only reader: once it exits, the pipe is closed
    first, _ = head.communicate(timeout=120)
    err = producer.stderr.read().decode()
    producer.stderr.close()
    rc = producer.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert rc == 0, err
    assert first.decode().split()[:2] == ["name", "cancer"]


def test_list_into_shell_pipe_head(env: dict[str, str]) -> None:
    res = subprocess.run(
        f'"{sys.executable}" -m desurv datasets list | head -1',
        shell=True,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
    assert res.stdout.split()[:2] == ["name", "cancer"]


def test_output_into_a_closed_pipe_exits_0_quietly(env: dict[str, str]) -> None:
    """The reader is gone before the first byte (deterministic: no race with head)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        res = subprocess.run(
            [sys.executable, "-m", "desurv", "datasets", "list"],
            env=env,
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr
    assert res.stderr == "" and res.returncode == 0


# ----------------------------------------------------------------------------- list, version


def _ids(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines()[2:] if line.strip()]


def test_list_has_the_name_column(env: dict[str, str]) -> None:
    res = _desurv(env, "datasets", "list")
    assert res.returncode == 0, res.stderr
    header = res.stdout.splitlines()[0].split()
    assert header == ["name", "cancer", "role", "accession", "format", "access", "available"]
    row = next(line for line in res.stdout.splitlines() if line.startswith("tcga_paad_3k "))
    assert load_registry()["tcga_paad_3k"].name in row
    assert set(_ids(res.stdout)) == set(load_registry())


def test_list_filters_by_cancer_and_role(env: dict[str, str]) -> None:
    from desurv.datasets import list_datasets

    res = _desurv(env, "datasets", "list", "--cancer", "bladder")
    assert res.returncode == 0, res.stderr
    assert _ids(res.stdout) == list(list_datasets(cancer="bladder").index)
    res = _desurv(env, "datasets", "list", "--role", "training")
    assert _ids(res.stdout) == list(list_datasets(role="training").index)
    assert set(_ids(res.stdout)) == {"tcga_paad", "tcga_paad_3k"}
    res = _desurv(env, "datasets", "list", "--cancer", "pdac", "--role", "validation")
    assert _ids(res.stdout) == list(list_datasets(cancer="PDAC", role="validation").index)
    res = _desurv(env, "datasets", "list", "--cancer", "bladder", "--role", "training")
    assert res.returncode == 0 and "no cohort" in res.stderr and res.stdout == ""


def test_version(env: dict[str, str]) -> None:
    res = _desurv(env, "--version")
    assert res.returncode == 0 and res.stdout == f"desurv {desurv.__version__}\n"


# ----------------------------------------------------------------------------- trust on first use


@pytest.fixture()
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESURV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DESURV_LOCK_FILE", str(tmp_path / "lock.json"))
    monkeypatch.setenv("DESURV_DATA_MIRROR", "off")
    return tmp_path


def _entry() -> tuple[CohortEntry, FileSpec]:
    spec = FileSpec(
        role="expression",
        name="expression.csv",
        url="https://example.invalid/expression.csv",
        sha256=None,
        unpack=None,
    )
    base = load_registry()["gse17536"]
    return replace(base, id="tofu_cohort", files=(spec,), mirror="test/tofu"), spec


def _pins(tmp_path: Path) -> dict[str, dict[str, str]]:
    return json.loads((tmp_path / "lock.json").read_text())["files"]


def _no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("no download expected")


def test_cached_file_is_trusted_on_first_use_then_verified(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fetch, "_download", _no_download)
    entry, spec = _entry()
    cached = isolated / "cache" / "tofu_cohort" / "expression.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)  # dropped into the cache before any download
    with caplog.at_level(logging.INFO, logger="desurv"):
        assert fetch.locate(entry, spec) == cached
    pin = _pins(isolated)["tofu_cohort/expression.csv"]
    assert pin["sha256"] == SHA
    tofu = [r for r in caplog.records if "trusted on first use" in r.getMessage()]
    assert len(tofu) == 1 and tofu[0].levelno == logging.INFO
    assert "tofu_cohort/expression.csv" in tofu[0].getMessage() and SHA in tofu[0].getMessage()
    assert fetch.expected_sha256(entry, spec)[0] == SHA
    assert not [p for p in isolated.iterdir() if p.name.endswith(".tmp")]
    # second use: verified against the pin, not pinned again
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="desurv"):
        assert fetch.locate(entry, spec) == cached
    assert not [r for r in caplog.records if "trusted on first use" in r.getMessage()]
    assert _pins(isolated)["tofu_cohort/expression.csv"] == pin
    # a tampered copy is refused with both hashes and set aside
    cached.write_bytes(TAMPERED)
    with pytest.raises(HashMismatchError) as err:
        fetch.locate(entry, spec)
    assert SHA in str(err.value) and BAD in str(err.value) and "lock file" in str(err.value)
    assert not cached.exists()
    assert (isolated / "cache" / "_rejected" / f"expression.csv.{BAD[:12]}").exists()
    assert _pins(isolated)["tofu_cohort/expression.csv"]["sha256"] == SHA  # pin unchanged


def test_downloaded_file_is_trusted_on_first_use_then_verified(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def fake_download(url: str, part: Path, **kwargs: object) -> None:
        calls.append(url)
        part.write_bytes(PAYLOAD)

    monkeypatch.setattr(fetch, "_download", fake_download)
    entry, spec = _entry()
    with caplog.at_level(logging.INFO, logger="desurv"):
        path = fetch.locate(entry, spec, progressbar=False)
    assert calls == [spec.url] and path.read_bytes() == PAYLOAD
    assert _pins(isolated)["tofu_cohort/expression.csv"]["sha256"] == SHA
    assert any(
        "trusted on first use" in r.getMessage() and SHA in r.getMessage() for r in caplog.records
    )
    assert fetch.locate(entry, spec) == path and calls == [spec.url]  # from the cache, verified
    path.write_bytes(TAMPERED)
    with pytest.raises(HashMismatchError, match=BAD):
        fetch.locate(entry, spec)
    # a later download that differs from the pin is refused too
    monkeypatch.setattr(fetch, "_download", lambda url, part, **kw: part.write_bytes(TAMPERED))
    with pytest.raises(HashMismatchError) as err:
        fetch.locate(entry, spec, progressbar=False)
    assert SHA in str(err.value) and BAD in str(err.value)
    assert not path.exists()


def test_mirror_file_without_hash_is_not_pinned(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, spec = _entry()
    m = isolated / "mirror" / "test" / "tofu" / "expression.csv"
    m.parent.mkdir(parents=True)
    m.write_bytes(PAYLOAD)
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(isolated / "mirror"))
    assert fetch.locate(entry, spec) == m
    assert not (isolated / "lock.json").exists()


def test_pin_is_written_atomically(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "_download", _no_download)
    entry, spec = _entry()
    first = isolated / "cache" / "tofu_cohort" / "expression.csv"
    first.parent.mkdir(parents=True)
    first.write_bytes(PAYLOAD)
    fetch.locate(entry, spec)
    before = (isolated / "lock.json").read_text()
    other = replace(entry, id="tofu_other")
    (isolated / "cache" / "tofu_other").mkdir()
    (isolated / "cache" / "tofu_other" / "expression.csv").write_bytes(TAMPERED)

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fetch.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        fetch.locate(other, spec)
    assert (isolated / "lock.json").read_text() == before  # the old lock file is intact
    assert sorted(p.name for p in isolated.iterdir()) == ["cache", "lock.json"]  # no temp file


def test_cli_fetch_trusts_on_first_use_and_refuses_a_tampered_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    cached = tmp_path / "cache" / MOFFITT / MOFFITT_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD)
    res = _desurv(env, "datasets", "fetch", "-v", MOFFITT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().split("\t") == [MOFFITT, "series_matrix", str(cached)]
    assert "trusted on first use" in res.stderr and SHA in res.stderr
    assert _pins(tmp_path)[f"{MOFFITT}/{MOFFITT_FILE}"]["sha256"] == SHA
    res = _desurv(env, "datasets", "info", MOFFITT)
    assert json.loads(res.stdout)["files"][0]["sha256"] == SHA
    assert _desurv(env, "datasets", "fetch", MOFFITT).returncode == 0  # verified again
    cached.write_bytes(TAMPERED)
    _assert_one_line_error(_desurv(env, "datasets", "fetch", MOFFITT), "sha256 mismatch", SHA, BAD)
    assert not cached.exists()
