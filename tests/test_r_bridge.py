"""r_bridge mechanics: lazy import, missing-piece messages, conditions, process guard."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

import r_bridge
from r_bridge import _session
from tests._rhelpers import assert_fresh_import_loads_none_of, require_r

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_importing_desurv_and_r_bridge_never_imports_rpy2():
    assert_fresh_import_loads_none_of(
        "desurv, r_bridge, desurv.tl, desurv.metrics, desurv.tl._survival, desurv.tl._consensus",
        ("rpy2",),
    )


# ---- missing pieces (simulated; no R needed) -------------------------------------------
def test_no_r_message(monkeypatch):
    monkeypatch.setattr(_session, "_find_r_home", lambda: None)
    with pytest.raises(r_bridge.RUnavailableError) as err:
        r_bridge.require(["survival"])
    msg = str(err.value)
    assert err.value.missing == "R"
    assert "r-base-core" in msg and "r-cran-survival" in msg
    assert "desurv[r]" in msg and "implementation='python'" in msg
    assert r_bridge.available() is False
    assert "R is not installed" in r_bridge.unavailable_reason()


def test_no_rpy2_message(monkeypatch):
    def _fail():
        raise ImportError("No module named 'rpy2'")

    monkeypatch.setattr(_session, "_find_r_home", lambda: "/usr/lib/R")
    monkeypatch.setattr(_session, "_import_rpy2", _fail)
    with pytest.raises(r_bridge.RUnavailableError) as err:
        r_bridge.require()
    msg = str(err.value)
    assert err.value.missing == "rpy2"
    assert "pip install 'desurv[r]'" in msg and "rpy2<3.6.7" in msg
    assert isinstance(err.value, ImportError)


def test_r_without_consensusclusterplus_message(monkeypatch):
    monkeypatch.setattr(_session, "_session", lambda: (None, None))
    monkeypatch.setattr(_session, "_has_package", lambda pkg: pkg != "ConsensusClusterPlus")
    r_bridge.require(["survival"])  # fine
    with pytest.raises(r_bridge.RUnavailableError) as err:
        r_bridge.require(["survival", "ConsensusClusterPlus"])
    msg = str(err.value)
    assert err.value.missing == "ConsensusClusterPlus"
    assert "apt-get install -y --no-install-recommends r-bioc-consensusclusterplus" in msg
    assert "implementation='python'" in msg
    # and through the user call site
    from desurv.tl import consensus_cluster

    with pytest.raises(r_bridge.RUnavailableError, match="r-bioc-consensusclusterplus"):
        consensus_cluster(np.random.default_rng(0).normal(size=(20, 5)), implementation="r")


def test_r_without_survival_message_through_call_site(monkeypatch):
    monkeypatch.setattr(_session, "_session", lambda: (None, None))
    monkeypatch.setattr(_session, "_has_package", lambda pkg: pkg != "survival")
    from desurv.tl import survival

    df = pd.DataFrame({"time": [1.0, 2, 3], "event": [1, 0, 1], "x": [0.1, 0.2, 0.3]})
    with pytest.raises(r_bridge.RUnavailableError, match="r-cran-survival"):
        survival(df, "x", implementation="r")


def test_worker_process_is_refused(monkeypatch):
    import multiprocessing

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    with pytest.raises(RuntimeError, match="worker process"):
        r_bridge.require()


def test_forked_process_is_refused(monkeypatch):
    monkeypatch.setitem(_session._STATE, "pid", os.getpid() + 1)
    with pytest.raises(RuntimeError, match="forked"):
        r_bridge.require()


# ---- with R --------------------------------------------------------------------------
@pytest.fixture
def r_session():
    return require_r()


@pytest.mark.needs_r
def test_available_and_missing_real_package(r_session):
    assert r_session.available()
    with pytest.raises(r_bridge.RUnavailableError, match="r-cran-nosuchpackage"):
        r_session.require(["NoSuchPackage"])


@pytest.mark.needs_r
def test_r_errors_warnings_and_messages(r_session):
    _session.define(
        "boom <- function() stop('kaboom: bad input')\n"
        "chatty <- function(x) { message('hello from R'); warning('careful'); x + 1 }"
    )
    with pytest.raises(r_bridge.RError, match="kaboom: bad input") as err:
        _session.call("boom")
    assert err.value.r_message == "kaboom: bad input"
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = _session.call("chatty", 1.5)
    assert float(out[0]) == 2.5
    kinds = {type(w.message) for w in rec}
    assert kinds == {r_bridge.RWarning, r_bridge.RMessage}
    assert any("careful" in str(w.message) for w in rec)
    assert any("hello from R" in str(w.message) for w in rec)


@pytest.mark.needs_r
def test_r_error_from_survival_carries_message(r_session):
    # all times missing: survival::coxph stops with "No (non-missing) observations"
    with pytest.raises(r_bridge.RError, match=r"No \(non-missing\) observations") as err:
        r_session.coxph([np.nan, np.nan, np.nan], [1, 1, 0], pd.DataFrame({"x": [1.0, 2, 3]}))
    assert "coxph" in (err.value.r_call or "")


@pytest.mark.needs_r
def test_no_global_conversion_activated(r_session):
    import rpy2.robjects as ro

    r_session.concordance([1.0, 2, 3, 4], [1, 1, 0, 1], [3.0, 2, 1, 0])
    with pytest.raises(NotImplementedError):
        ro.conversion.get_conversion().py2rpy(pd.DataFrame({"a": [1.0]}))


@pytest.mark.needs_r
def test_starting_r_leaves_child_processes_their_environment():
    """Starting R writes LD_LIBRARY_PATH into os.environ; r_bridge restores it, so worker
    processes started afterwards (joblib, Dask) load their own libraries. Checked in a fresh
    interpreter, where R starts inside the test."""
    require_r()
    import subprocess
    import sys

    code = (
        "import os, r_bridge; before = os.environ.get('LD_LIBRARY_PATH');"
        "r_bridge.require(['survival']);"
        "import rpy2.robjects as ro; ro.r('1 + 1');"
        "print(before == os.environ.get('LD_LIBRARY_PATH'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_coxph_refuses_no_events_and_constant_covariates_before_calling_r():
    """R would return its missing integer (-2147483648) as the coefficient with no events,
    and an NA coefficient for a constant covariate (which broke the result's layout): both
    are refused with a message, before R is reached (so no R is needed here)."""
    from r_bridge import _survival

    t = np.arange(1.0, 11.0)
    x = pd.DataFrame({"age": np.linspace(40, 80, 10), "site": np.ones(10)})
    with pytest.raises(ValueError, match="no event"):
        _survival.coxph(t, np.zeros(10), x[["age"]])
    with pytest.raises(ValueError, match=r"\['site'\].*single value"):
        _survival.coxph(t, np.r_[np.ones(5), np.zeros(5)], x)
