"""Shared helpers of the R tests: skip with a reason when R / rpy2 / R packages are missing.

Every test marked ``@pytest.mark.needs_r`` takes a fixture of its module that calls
:func:`require_r`, which skips with the reason (what to install) when R is not usable.
Starting R is deferred to the first test that needs it.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

R_PACKAGES = ("survival", "ConsensusClusterPlus")


@functools.lru_cache(maxsize=1)
def r_unavailable_reason() -> str | None:
    import r_bridge

    return r_bridge.unavailable_reason(R_PACKAGES)


def require_r():
    """Return ``r_bridge``, or skip the test with the reason when R is not usable."""
    reason = r_unavailable_reason()
    if reason is not None:
        pytest.skip(f"R side unavailable: {reason}")
    import r_bridge

    return r_bridge


def assert_fresh_import_loads_none_of(modules: str, forbidden: tuple[str, ...]) -> None:
    """Import ``modules`` (comma-separated) in a fresh interpreter at the repository root and
    assert that no module whose name starts with one of ``forbidden`` got loaded."""
    code = (
        f"import sys, {modules}; "
        f"bad = [m for m in sys.modules if m.startswith({tuple(forbidden)!r})]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def simulate_survival(n=240, seed=0, n_strata=3):
    """Simulated cohort with strata, tied times (integer days) and tied scores."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 4, n).astype(float)  # few values -> tied scores
    grp = pd.Categorical(rng.choice(["A", "B", "C"], n), categories=["A", "B", "C"])
    stratum = rng.choice([f"site{i}" for i in range(n_strata)], n)
    base = {f"site{i}": 1.0 + 0.5 * i for i in range(n_strata)}
    lp = 0.6 * x1 - 0.35 * x2 + 0.5 * (np.asarray(grp) == "B")
    scale = np.array([base[s] for s in stratum]) * np.exp(-lp)
    t = np.ceil(rng.exponential(scale) * 12)  # months: many ties
    c = np.ceil(rng.exponential(2.0, n) * 12)
    time = np.minimum(t, c)
    event = (t <= c).astype(int)
    # a few events and censorings at the same time
    return pd.DataFrame(
        {
            "time": time,
            "event": event,
            "x1": x1,
            "x2": x2,
            "grp": grp,
            "stratum": stratum,
            "score": np.round(lp, 1),  # tied risk scores
        }
    )


def clustered_data(n_per=(25, 20, 15), p=60, seed=0, sep=3.0):
    """Samples x features with clearly separated clusters; returns (X, truth)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, sep, (len(n_per), p))
    X = np.vstack([centers[i] + rng.normal(0, 1, (m, p)) for i, m in enumerate(n_per)])
    truth = np.repeat(np.arange(1, len(n_per) + 1), n_per)
    return X, truth
