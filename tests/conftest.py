"""Fixtures shared by the test files.

- ``r_reference``: the outputs of the authors' R package DeSurv (inputs and fits), read from
  the full set ``../shared/reference/r_desurv`` next to the checkout when it is there, else
  from the slice committed in ``tests/data/r_desurv`` (see ``tests/data/README_r_desurv.md``).
  Tests that need a file only the full set has skip with :data:`R_DESURV_MISSING` (through
  ``r_reference.run(...)`` or ``r_reference.require_full()``);
  ``r_reference_slice`` is always the committed slice.
- Toy AnnData builders (factories, so that each test gets a fresh object):
  ``make_toy_adata`` (planted programs, survival in ``obs``; for ``tl.fit`` and plots),
  ``make_survival_adata`` (a survival cohort frame as ``obs``; for ``tl.survival``),
  ``make_clustered_adata`` (clustered samples from two cohorts; for ``tl.consensus_cluster``).

AnnData objects are samples x genes; the R reference keeps R's genes x samples.
"""

from __future__ import annotations

import functools
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

TESTS = Path(__file__).resolve().parent
R_DESURV_SHARED = TESTS.parents[1] / "shared" / "reference" / "r_desurv"
R_DESURV_SLICE = TESTS / "data" / "r_desurv"
R_DESURV_MISSING = (
    f"needs the full R reference outputs ../shared/reference/r_desurv next to the checkout "
    f"(not found at {R_DESURV_SHARED}); the committed slice tests/data/r_desurv has only "
    "configs A_alpha0.5_pen and D_alpha0_nopen after 1, 5 and 20 iterations"
)


def _csv(folder: Path, name: str) -> Path:
    """``folder/name``, or its gzipped copy ``folder/name.gz`` (the committed slice)."""
    path = folder / name
    return path if path.is_file() else folder / f"{name}.gz"


class RDesurvRun:
    """One run ``fits/<config>_itNNN/`` of the R package (W, H_original_order, beta, ...)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = root.name

    def read(self, name: str, **read_csv: object) -> pd.DataFrame:
        return pd.read_csv(_csv(self.root, name), **read_csv)


class RDesurvReference:
    """The R package's reference outputs in one folder (README of ``../shared``'s copy).

    Arrays keep R's orientation: ``X`` genes x samples (500 x 200), ``W0`` / ``truth_W``
    genes x factors, ``H0`` / ``truth_H`` factors x samples. ``full`` is False for the
    committed slice.
    """

    def __init__(self, root: Path, *, full: bool) -> None:
        self.root = root
        self.full = full

    def read(self, name: str, **read_csv: object) -> pd.DataFrame:
        return pd.read_csv(_csv(self.root, name), **read_csv)

    def _matrix(self, name: str) -> np.ndarray:
        return self.read(name, index_col=0).to_numpy()

    @functools.cached_property
    def X_frame(self) -> pd.DataFrame:
        """X as R has it: genes x samples, gene ids as index, sample ids as columns."""
        return self.read("X.csv", index_col=0)

    @functools.cached_property
    def X(self) -> np.ndarray:
        return self.X_frame.to_numpy()

    @functools.cached_property
    def survival(self) -> pd.DataFrame:
        """``sample, y, d`` (time, event 0/1) in input order."""
        return self.read("survival.csv")

    @functools.cached_property
    def time(self) -> np.ndarray:
        return self.survival["y"].to_numpy(dtype=float)

    @functools.cached_property
    def event(self) -> np.ndarray:
        return self.survival["d"].to_numpy(dtype=float)

    @functools.cached_property
    def W0(self) -> np.ndarray:
        return self._matrix("W0.csv")

    @functools.cached_property
    def H0(self) -> np.ndarray:
        return self._matrix("H0.csv")

    @functools.cached_property
    def beta0(self) -> np.ndarray:
        return self._matrix("beta0.csv").ravel()

    @functools.cached_property
    def truth_W(self) -> np.ndarray:
        return self._matrix("truth_W.csv")

    @functools.cached_property
    def truth_H(self) -> np.ndarray:
        return self._matrix("truth_H.csv")

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """``fits_summary.csv`` (all 20 runs, in the slice too), indexed by run name."""
        return self.read("fits_summary.csv").set_index("run")

    @property
    def runs(self) -> list[str]:
        """Names of the runs present, ``<config>_itNNN``."""
        return sorted(p.name for p in (self.root / "fits").iterdir() if p.is_dir())

    def require_full(self) -> None:
        """Skip the calling test (with :data:`R_DESURV_MISSING`) unless this is the full set."""
        if not self.full:
            pytest.skip(R_DESURV_MISSING)

    def has_run(self, config: str, n_iter: int) -> bool:
        return (self.root / "fits" / f"{config}_it{n_iter:03d}").is_dir()

    def run(self, config: str, n_iter: int) -> RDesurvRun:
        """The run of ``config`` after ``n_iter`` iterations; skips when this folder lacks it."""
        if not self.has_run(config, n_iter):
            pytest.skip(R_DESURV_MISSING)
        return RDesurvRun(self.root / "fits" / f"{config}_it{n_iter:03d}")


@pytest.fixture(scope="module")
def r_reference() -> RDesurvReference:
    """The full R reference when ``../shared`` has it, else the committed slice."""
    if (R_DESURV_SHARED / "X.csv").is_file():
        return RDesurvReference(R_DESURV_SHARED, full=True)
    return RDesurvReference(R_DESURV_SLICE, full=False)


@pytest.fixture(scope="module")
def r_reference_slice() -> RDesurvReference:
    """The slice of the R reference committed in ``tests/data/r_desurv``."""
    return RDesurvReference(R_DESURV_SLICE, full=False)


# --------------------------------------------------------------------- toy AnnData builders
def toy_adata(n: int = 60, p: int = 40, k: int = 3, seed: int = 0) -> ad.AnnData:
    """Nonnegative samples x genes with ``k`` planted programs; program 1 drives the hazard.

    Program j loads on genes ``j*b .. (j+1)*b - 1`` with ``b = p // (k + 1)`` (the last block
    is background); ``obs`` has ``time`` and ``event``; names ``s0..``, ``g0..``.
    """
    rng = np.random.default_rng(seed)
    H = rng.gamma(2.0, 1.0, (n, k))
    W = np.zeros((p, k))
    b = p // (k + 1)
    for j in range(k):
        W[j * b : (j + 1) * b, j] = rng.uniform(1, 2, b)
    X = H @ W.T + rng.uniform(0, 0.3, (n, p))
    time = rng.exponential(10 * np.exp(-0.8 * (H[:, 0] - H[:, 0].mean())))
    event = (rng.uniform(size=n) < 0.75).astype(int)
    obs = pd.DataFrame({"time": time, "event": event}, index=[f"s{i}" for i in range(n)])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(p)]))


def survival_adata(cohort: pd.DataFrame) -> ad.AnnData:
    """A survival cohort frame (``tests._rhelpers.simulate_survival``) as ``obs`` of an
    AnnData with one all-zero gene; samples named ``p0, p1, ...``."""
    obs = cohort.set_index(pd.Index([f"p{i}" for i in range(len(cohort))]))
    return ad.AnnData(X=np.zeros((len(cohort), 1), dtype=np.float32), obs=obs)


def clustered_adata(X: np.ndarray) -> ad.AnnData:
    """Clustered samples x features (``tests._rhelpers.clustered_data``, 60 samples) as
    AnnData: ``obs["cohort"]`` c1 (first 40) / c2, ``X`` in float32, the float64 values in
    ``layers["raw"]``, the first 5 features in ``obsm["X_scores"]``."""
    obs = pd.DataFrame(
        {"cohort": ["c1"] * 40 + ["c2"] * (len(X) - 40)}, index=[f"pt{i}" for i in range(len(X))]
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    a = ad.AnnData(X=X.astype(np.float32), obs=obs, var=var)
    a.layers["raw"] = X.copy()
    a.obsm["X_scores"] = X[:, :5].copy()
    return a


@pytest.fixture(scope="session")
def make_toy_adata():
    """Factory :func:`toy_adata` ``(n=60, p=40, k=3, seed=0)``."""
    return toy_adata


@pytest.fixture(scope="session")
def make_survival_adata():
    """Factory :func:`survival_adata` ``(cohort)``."""
    return survival_adata


@pytest.fixture(scope="session")
def make_clustered_adata():
    """Factory :func:`clustered_adata` ``(X)``."""
    return clustered_adata


@pytest.fixture(scope="session")
def small_search_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training samples of a small primary simulation (300 genes, seed 0) as arrays:
    X samples x genes, time, event (the selection tests' data)."""
    from desurv.simulate import simulate

    d = simulate("primary", random_state=0, n_genes=300, n_markers=30, n_background=60)
    tr = d.train
    return d.X.loc[tr].to_numpy(), d.time[tr].to_numpy(), d.event[tr].to_numpy()
