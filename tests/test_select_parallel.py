"""DeSurvSearch run in parallel, on a Dask cluster, from a checkpoint store, after a SIGKILL.

Every test compares tables bitwise (``check_exact=True``): a search's table must not depend
on ``n_jobs``, on the backend, or on whether its units came from a store.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import desurv.selection._search as search_mod
from desurv.selection import DeSurvSearch
from desurv.selection._evaluate import evaluate_path
from desurv.selection._store import unit_key
from desurv.simulate import simulate

REPO = Path(__file__).resolve().parents[1]

# the simulated data, rebuilt identically by the SIGKILL test's subprocess
DATA_CODE = """
from desurv.simulate import simulate
d = simulate("primary", random_state=0, n_genes=400, n_markers=40, n_background=100)
X = d.X.loc[d.train].to_numpy()
t = d.time[d.train].to_numpy()
e = d.event[d.train].to_numpy()
"""

# a tiny grid: 4 settings x 3 folds
GRID = dict(
    n_components=[2, 3], alpha=[0.0, 0.8], n_top=[50], n_folds=3, n_starts=2, max_iter=100,
    random_state=0, progress=False,
)  # fmt: skip
# a tiny Bayesian search: 4 Latin-hypercube points, then 2 expected-improvement steps
BAYES = dict(
    method="bayes", n_components=(2, 3), alpha=(0.0, 0.9), lambda_=0.1, l1_ratio=0.5,
    n_top=50, n_trials=6, n_initial=4, n_folds=3, n_starts=2, max_iter=100, random_state=0,
    progress=False,
)  # fmt: skip
# the SIGKILL test's search: 6 settings x 3 folds, a few seconds with n_jobs=1
KILL = dict(
    n_components=[2, 3], alpha=[0.0, 0.5, 0.8], n_top=[50], n_folds=3, n_starts=3,
    max_iter=200, random_state=1, n_jobs=1, progress=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    d = simulate("primary", random_state=0, n_genes=400, n_markers=40, n_background=100)
    X = d.X.loc[d.train].to_numpy()
    t = d.time[d.train].to_numpy()
    e = d.event[d.train].to_numpy()
    assert X.shape == (140, 400)
    return X, t, e


@pytest.fixture(scope="module")
def grid_ref(data):
    """The tiny grid, serially and without a store: the reference every variant must equal."""
    return DeSurvSearch(**GRID, n_jobs=1).fit(*data).result_


@pytest.fixture(scope="module")
def bayes_ref(data):
    return DeSurvSearch(**BAYES, n_jobs=1).fit(*data).result_


def assert_same_result(a, b) -> None:
    """Two SearchResults agree bitwise in everything but the timing."""
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(a.summary, b.summary, check_exact=True)
    assert a.best_params_ == b.best_params_
    assert a.k_1se_ == b.k_1se_
    assert a.params_1se_ == b.params_1se_
    assert a.one_se_threshold_ == b.one_se_threshold_
    np.testing.assert_array_equal(a.folds_, b.folds_)
    assert a.seed_entropy == b.seed_entropy


def unit_files(store: Path) -> list[Path]:
    """The finished units of a store (not the temporary files of unfinished writes)."""
    units = store / "units"
    if not units.is_dir():
        return []
    return sorted(p for p in units.glob("*.json") if not p.name.startswith(".tmp-"))


def expected_keys(result) -> set[str]:
    keys = set()
    for params, f in _settings_folds(result):
        keys.add(unit_key(params, f))
    return keys


def _settings_folds(result):
    for row in result.table.to_dict("records"):
        yield search_mod._params_of(row), int(row["fold"])


class _Counter:
    """Stands in for ``evaluate_path`` in ``desurv.selection._search``: counts the (setting,
    fold) units it is asked for and passes them on (or refuses every call when ``refuse``)."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[dict, int]] = []
        self.refuse = refuse

    def __call__(self, X, t, e, train, path, entropy, fold, *args, **kwargs):
        self.calls.extend((dict(params), int(fold)) for params in path)
        if self.refuse:
            raise AssertionError(f"a resumed search evaluated {path} fold {fold} again")
        return evaluate_path(X, t, e, train, path, entropy, fold, *args, **kwargs)


# ------------------------------------------------------------------- n_jobs and backends


def test_grid_n_jobs_1_and_2_identical(data, grid_ref):
    assert len(grid_ref.table) == 4 * 3
    assert list(grid_ref.table["setting"]) == [s for s in range(4) for _ in range(3)]
    assert list(grid_ref.table["fold"]) == [0, 1, 2] * 4
    par = DeSurvSearch(**GRID, n_jobs=2).fit(*data).result_
    assert_same_result(grid_ref, par)
    # and n_jobs=None (serial) is the same search too
    assert_same_result(grid_ref, DeSurvSearch(**GRID, n_jobs=None).fit(*data).result_)


@pytest.fixture(scope="module")
def dask_client():
    """A local Dask cluster of 2 worker processes (1 thread each) and its client."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask")
    cluster = client = None
    try:
        try:
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.ERROR,
            )  # fmt: skip
        except (RuntimeError, OSError) as err:  # worker processes cannot start here
            # (seen in a clean-clone run: the spawned interpreter failed to import _ssl);
            # in-process workers would share one BLAS thread limit and break bitwise equality
            pytest.skip(f"a Dask LocalCluster with worker processes does not start: {err}")
        client = distributed.Client(cluster)
        yield client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _on_dask(client, search, data):
    """Fit ``search`` inside ``parallel_config(backend="dask")``; the result and the Dask
    tasks that ran (joblib may batch several units into one task)."""
    import distributed

    with distributed.get_task_stream(client) as ts:
        with joblib.parallel_config(backend="dask"):
            res = search.fit(*data).result_
    workers = set(client.scheduler_info()["workers"])
    assert {rec["worker"] for rec in ts.data} <= workers
    return res, ts.data


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_grid_on_dask_cluster_identical(data, grid_ref, dask_client, n_jobs):
    res, tasks = _on_dask(dask_client, DeSurvSearch(**GRID, n_jobs=n_jobs), data)
    assert len(tasks) >= 1, "no unit ran on the Dask cluster"
    assert_same_result(grid_ref, res)


def test_dask_backend_used_with_default_n_jobs(data, dask_client):
    """n_jobs=None defers to joblib: inside parallel_config(backend="dask") the units go to
    the cluster (they once ran serially in-process, n_jobs=None being taken as 1)."""
    one = dict(GRID, n_components=2, alpha=0.0, n_starts=1, max_iter=20)
    res, tasks = _on_dask(dask_client, DeSurvSearch(**one), data)
    assert len(res.table) == 3
    assert len(tasks) >= 1, "the units ran in-process, not on the Dask cluster"


# ------------------------------------------------------------------- checkpoint store


def test_store_written_and_resumed(data, grid_ref, tmp_path, monkeypatch):
    store = tmp_path / "s"
    first = DeSurvSearch(**GRID, n_jobs=1, store=store).fit(*data).result_
    assert_same_result(grid_ref, first)
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["method"] == "grid"
    assert len(manifest["space"]["grid"]) == 4
    files = unit_files(store)
    assert len(files) == 4 * 3
    assert {p.stem for p in files} == expected_keys(grid_ref)
    assert not [p for p in (store / "units").iterdir() if p.name.startswith(".tmp-")]
    for p in files:
        rec = json.loads(p.read_text())
        assert {"params", "fold", "cindex", "seconds", "start_cindex"} <= set(rec)
        assert p.stem == unit_key(rec["params"], rec["fold"])
        assert len(rec["start_cindex"]) == GRID["n_starts"]

    # a full rerun on the same store evaluates nothing and gives the same result
    refuse = _Counter(refuse=True)
    monkeypatch.setattr(search_mod, "evaluate_path", refuse)
    again = DeSurvSearch(**GRID, n_jobs=1, store=store).fit(*data).result_
    assert refuse.calls == []
    assert_same_result(grid_ref, again)
    pd.testing.assert_frame_equal(first.timing, again.timing, check_exact=True)

    # with one unit lost, the rerun evaluates exactly that unit
    lost = files[5]
    lost_rec = json.loads(lost.read_text())
    lost.unlink()
    count = _Counter()
    monkeypatch.setattr(search_mod, "evaluate_path", count)
    third = DeSurvSearch(**GRID, n_jobs=1, store=store).fit(*data).result_
    assert count.calls == [(lost_rec["params"], lost_rec["fold"])]
    assert lost.is_file()
    assert_same_result(grid_ref, third)


def test_store_resumed_in_parallel(data, grid_ref, tmp_path):
    """Half the units from a serial run, the rest with n_jobs=2: the same table."""
    store = tmp_path / "s"
    DeSurvSearch(**GRID, n_jobs=1, store=store).fit(*data)
    for p in unit_files(store)[::2]:
        p.unlink()
    assert len(unit_files(store)) == 6
    res = DeSurvSearch(**GRID, n_jobs=2, store=store).fit(*data).result_
    assert len(unit_files(store)) == 12
    assert_same_result(grid_ref, res)


def test_store_of_another_search_refused(data, tmp_path):
    X, t, e = data
    store = tmp_path / "s"
    base = dict(
        n_components=2, alpha=[0.0], n_top=50, n_folds=3, n_starts=1, max_iter=20,
        random_state=0, n_jobs=1, progress=False,
    )  # fmt: skip
    DeSurvSearch(**base, store=store).fit(X, t, e)
    manifest = (store / "manifest.json").read_text()
    n_units = len(unit_files(store))
    assert n_units == 3

    def refused(match, X=X, t=t, e=e, **change):
        with pytest.raises(ValueError, match=match):
            DeSurvSearch(**{**base, **change}, store=store).fit(X, t, e)

    refused(r"different space\b", alpha=[0.0, 0.5])
    refused(r"different data\b", X=X * 1.001)
    refused(r"different data\b", e=np.where(np.arange(len(e)) == 0, 1 - e, e))
    refused(r"different .*\bseed\b", random_state=1)
    refused(r"different config\b", n_starts=2)
    refused(r"different config\b", max_iter=30)
    refused(r"different .*\bmethod\b", method="bayes", n_components=(2, 3), alpha=(0.0, 0.9),
            n_trials=2, n_initial=2)  # fmt: skip
    # a refused search leaves the store as it was
    assert (store / "manifest.json").read_text() == manifest
    assert len(unit_files(store)) == n_units


def test_store_unreadable_manifest_refused(data, tmp_path):
    store = tmp_path / "s"
    store.mkdir()
    (store / "manifest.json").write_text('{"store_version": 1, "da')
    with pytest.raises(ValueError, match="not a readable search manifest"):
        DeSurvSearch(**GRID, n_jobs=1, store=store).fit(*data)


@pytest.mark.parametrize("seed", [None, np.random.SeedSequence(0), 0.0, "0"])
def test_store_needs_integer_random_state(data, tmp_path, seed):
    store = tmp_path / "s"
    with pytest.raises(ValueError, match="integer random_state"):
        DeSurvSearch(**{**GRID, "random_state": seed}, n_jobs=1, store=store).fit(*data)
    assert not (store / "manifest.json").exists()


def test_store_accepts_numpy_integer_seed(data, grid_ref, tmp_path):
    res = DeSurvSearch(**{**GRID, "random_state": np.int64(0)}, store=tmp_path / "s").fit(*data)
    assert_same_result(grid_ref, res.result_)


def test_spawned_seed_sequences_give_different_searches(data):
    """The children of one SeedSequence are different searches (the spawn_key was once
    dropped, only the entropy kept), and seed_entropy reruns each."""
    one = dict(GRID, n_components=2, alpha=0.0, n_starts=1, max_iter=20, n_jobs=1)
    kids = np.random.SeedSequence(0).spawn(2)
    a = DeSurvSearch(**{**one, "random_state": kids[0]}).fit(*data).result_
    b = DeSurvSearch(**{**one, "random_state": kids[1]}).fit(*data).result_
    assert a.seed_entropy != b.seed_entropy
    assert not a.table.equals(b.table)
    # and seed_entropy reruns the same search
    c = DeSurvSearch(**{**one, "random_state": a.seed_entropy}).fit(*data).result_
    assert_same_result(a, c)
    # a SeedSequence without a spawn_key is the same search as its entropy
    d = DeSurvSearch(**{**one, "random_state": np.random.SeedSequence(0)}).fit(*data).result_
    assert_same_result(DeSurvSearch(**{**one, "random_state": 0}).fit(*data).result_, d)


# ------------------------------------------------------------------- killed and resumed


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume(data, tmp_path, monkeypatch):
    store = tmp_path / "killed"
    n_units = 6 * 3
    code = DATA_CODE + textwrap.dedent(f"""
        from desurv.selection import DeSurvSearch
        DeSurvSearch(**{KILL!r}, store={str(store)!r}).fit(X, t, e)
        """)
    log = tmp_path / "child.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=fh, stderr=fh)
    try:
        deadline = time.monotonic() + 60
        while len(unit_files(store)) < 3:
            if proc.poll() is not None:
                pytest.fail(
                    f"the search exited (rc {proc.returncode}) before 3 units were stored:\n"
                    + log.read_text()
                )
            if time.monotonic() > deadline:
                pytest.fail("no 3 units stored within 60 s:\n" + log.read_text())
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    done = unit_files(store)
    assert 3 <= len(done) < n_units, "the search finished before the kill: make it longer"
    for p in done:  # every stored unit is complete
        rec = json.loads(p.read_text())
        assert p.stem == unit_key(rec["params"], rec["fold"])
        assert np.isfinite(rec["cindex"])
    # a write cut short leaves only a temporary file, which a resumed search ignores
    leftover = [p.name for p in (store / "units").iterdir() if p.name.startswith(".tmp-")]
    assert all(n.startswith(".tmp-") for n in leftover)
    (store / "units" / ".tmp-cutshort.json").write_text('{"params": {"n_compo')
    (store / "units" / ".tmp-whole.json").write_text(done[0].read_text())

    count = _Counter()
    monkeypatch.setattr(search_mod, "evaluate_path", count)
    resumed = DeSurvSearch(**KILL, store=store).fit(*data).result_
    assert len(count.calls) == n_units - len(done)
    done_keys = {p.stem for p in done}
    assert not {unit_key(p, f) for p, f in count.calls} & done_keys
    assert len(unit_files(store)) == n_units
    monkeypatch.undo()

    fresh = DeSurvSearch(**KILL, store=tmp_path / "fresh").fit(*data).result_
    assert len(fresh.table) == n_units
    assert_same_result(fresh, resumed)


# ------------------------------------------------------------------- Bayesian search


def test_bayes_phases_and_k_lcb(bayes_ref):
    tab = bayes_ref.table
    assert len(tab) == 6 * 3
    phases = bayes_ref.summary["phase"].tolist()
    assert phases == ["lhs"] * 4 + ["ei"] * 2
    assert bayes_ref.method == "bayes"
    assert set(tab["n_components"]) <= {2, 3}
    assert tab["alpha"].between(0.0, 0.9).all()
    assert (tab["lambda_"] == 0.1).all() and (tab["l1_ratio"] == 0.5).all()
    assert (tab["n_top"] == 50).all()
    assert bayes_ref.k_lcb_ is not None
    assert bayes_ref.k_lcb_["k"] in {2, 3}
    assert bayes_ref.k_1se_ in {2, 3}


def test_bayes_deterministic_and_n_jobs(data, bayes_ref):
    again = DeSurvSearch(**BAYES, n_jobs=1).fit(*data).result_
    assert_same_result(bayes_ref, again)
    assert again.k_lcb_["k"] == bayes_ref.k_lcb_["k"]
    par = DeSurvSearch(**BAYES, n_jobs=2).fit(*data).result_
    assert_same_result(bayes_ref, par)
    assert par.k_lcb_["k"] == bayes_ref.k_lcb_["k"]
    pd.testing.assert_frame_equal(
        bayes_ref.k_lcb_["per_k"].drop(columns="params"),
        par.k_lcb_["per_k"].drop(columns="params"),
        check_exact=True,
    )


def test_bayes_resumed_from_store(data, bayes_ref, tmp_path, monkeypatch):
    store = tmp_path / "b"
    first = DeSurvSearch(**BAYES, n_jobs=1, store=store).fit(*data).result_
    assert_same_result(bayes_ref, first)
    assert len(unit_files(store)) == 6 * 3

    refuse = _Counter(refuse=True)
    monkeypatch.setattr(search_mod, "evaluate_path", refuse)
    again = DeSurvSearch(**BAYES, n_jobs=1, store=store).fit(*data).result_
    assert refuse.calls == []
    assert_same_result(bayes_ref, again)
    assert again.k_lcb_["k"] == bayes_ref.k_lcb_["k"]

    # lose one Latin-hypercube unit and every unit of the last EI step: the resumed search
    # recomputes exactly those, and proposes the same EI steps from the stored values
    rows = list(_settings_folds(bayes_ref))
    settings = bayes_ref.table["setting"].to_numpy()
    lost = [rows[1]] + [r for r, s in zip(rows, settings) if s == 5]
    for params, f in lost:
        (store / "units" / f"{unit_key(params, f)}.json").unlink()
    count = _Counter()
    monkeypatch.setattr(search_mod, "evaluate_path", count)
    third = DeSurvSearch(**BAYES, n_jobs=1, store=store).fit(*data).result_
    assert sorted((unit_key(p, f) for p, f in count.calls)) == sorted(
        unit_key(p, f) for p, f in lost
    )
    assert_same_result(bayes_ref, third)
