"""Acceptance of the core issue on data: the main job and the reference data.

These fit real models (seconds to tens of seconds); the claims are comparisons measured in
the run, not frozen numbers.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from desurv import ConvergenceWarning, DeSurv
from desurv.demo import run_demo, specificity_top_genes
from desurv.metrics import concordance_index

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "r_desurv"


def test_main_job_primary_scenario_desurv_beats_nmf(capsys):
    table = run_demo(seed=0, scenarios=["primary"], verbose=True)
    out = capsys.readouterr().out
    assert "primary: DeSurv test C-index" in out
    by = table.set_index("method")
    assert by.loc["DeSurv", "test_cindex"] > by.loc["NMF (alpha=0)", "test_cindex"]
    assert by.loc["DeSurv", "train_cindex"] > by.loc["NMF (alpha=0)", "train_cindex"]
    assert set(table.columns) >= {"precision", "corr_factor1", "n_iter", "seconds"}


def test_specificity_top_genes():
    W = np.array([[1.0, 0.0], [0.9, 0.9], [0.2, 1.0], [0.5, 0.0]])
    # columns scaled by their maxima (1, 1): factor 0 scores 1, 0, -0.8, 0.5
    assert list(specificity_top_genes(W, 0, 2)) == [0, 3]
    assert list(specificity_top_genes(W, 1, 1)) == [2]


@pytest.fixture(scope="module")
def reference():
    X = pd.read_csv(REF / "X.csv", index_col=0).T  # samples x genes
    s = pd.read_csv(REF / "survival.csv")
    W0 = pd.read_csv(REF / "W0.csv", index_col=0).to_numpy()
    H0 = pd.read_csv(REF / "H0.csv", index_col=0).to_numpy()
    truth_w = pd.read_csv(REF / "truth_W.csv", index_col=0).to_numpy()
    truth_h = pd.read_csv(REF / "truth_H.csv", index_col=0).to_numpy()
    return X, s["y"].to_numpy(float), s["d"].to_numpy(float), W0, H0, truth_w, truth_h


def _recovery(W: np.ndarray, truth: np.ndarray) -> float:
    """Best absolute correlation of a fitted W column with the true factor-1 loadings."""
    return float(np.abs(np.corrcoef(np.c_[truth[:, :1], W].T)[0, 1:]).max())


def test_reference_data_desurv_recovers_factor1_and_raises_cindex(reference):
    """The acceptance point in full: on the reference data DeSurv recovers factor 1 at least
    as well as alpha = 0 (best |correlation| of a W column with truth_W[:, 0]) and reaches a
    strictly higher training C-index than alpha = 0 fitted with the same knobs and start.

    Why lambda_ = 3e4: the default variant penalises beta on its raw scale, and the scores
    Z = W^T X here have standard deviations of about 1.2e5-1.4e5, so the usual lambda_ = 0.1
    is no penalty at all (lambda_ ||beta|| ~ 1e-6). lambda_ = 3e4 is about 0.2 on standardised
    scores: a lasso that keeps only the hazard factor. With lambda_ = 0.1 the claim fails at
    every alpha (recovery falls as alpha rises; C rises only where recovery has fallen below
    NMF's). benchmarks/reference_recovery_scan.py shows the neighbourhood: the claim holds
    at lambda_ in {3e4, 1e5} for alpha 0.5-0.93 from W0/H0 and at alpha 0.9 from 6 random
    starts; it fails at alpha 0.97 and, from some random starts, at 0.95.

    NMF runs to a tight tolerance (its recovery then changes in the 4th decimal); the margins
    measured here were 0.9987 vs 0.9969 (recovery) and 0.77444 vs 0.77359 (C, 10 concordant
    pairs of 11731). The same test with lambda_ = 0.1 fails (0.9956 vs 0.9969, equal C).
    Against NMF with lambda_ = 0.1 (the highest C that NMF reaches here) DeSurv's C is
    higher by one pair only, so that comparison is asserted as >= (no tolerance).
    """
    X, y, d, W0, H0, truth_w, truth_h = reference
    kw = dict(lambda_=3e4, tol=1e-9, max_iter=5000, warmup_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # NMF: tol 1e-9 is very tight
        nmf = DeSurv(3, alpha=0.0, **kw).fit(X, y, d, W0=W0, H0=H0)
        nmf_low_penalty = DeSurv(3, alpha=0.0, **{**kw, "lambda_": 0.1}).fit(X, y, d, W0=W0, H0=H0)
    ds = DeSurv(3, alpha=0.9, **kw).fit(X, y, d, W0=W0, H0=H0)
    assert ds.converged_
    rec_ds, rec_nmf = _recovery(ds.W_, truth_w), _recovery(nmf.W_, truth_w)
    assert rec_nmf > 0.99
    assert rec_ds >= rec_nmf
    assert ds.train_cindex_ > nmf.train_cindex_
    assert ds.train_cindex_ >= nmf_low_penalty.train_cindex_
    # there is little room: NMF alone reaches the C of the true factor-1 activities
    assert nmf_low_penalty.train_cindex_ >= concordance_index(y, d, truth_h[0])


def test_factor_scale_drifts_without_both_ridges_and_is_pinned_with_them(reference):
    """The documented scale symmetry (W c, H / c, beta / c fit equally well while the beta
    penalty shrinks): with lambda_w = lambda_h = 0 the column of W that carries beta keeps
    growing; with both ridges at 1e-4 its norm settles (the others settle more slowly:
    111 -> 62 -> 56 after 1000, 4000, 8000 iterations). Measured on the reference data (alpha
    0.9, lambda_ 3e4): 1000 -> 4000 iterations took the hazard column from 2.2e5 to 3.0e5
    without ridges, and left it at 1590 with them. Thresholds: > 10 % growth of the hazard
    column between 600 and 1200 iterations without, < 1 % change with."""
    X, y, d, W0, H0, _, _ = reference

    def norms(ridge: float, iters: int) -> np.ndarray:
        model = DeSurv(
            3,
            alpha=0.9,
            lambda_=3e4,
            lambda_w=ridge,
            lambda_h=ridge,
            tol=0.0,
            max_iter=iters,
            warmup_iter=50,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y, d, W0=W0, H0=H0)
        return np.linalg.norm(model.W_, axis=0)

    free_a, free_b = norms(0.0, 600), norms(0.0, 1200)
    hazard = int(np.argmax(free_b))
    assert free_b[hazard] > 1.1 * free_a[hazard]
    pinned_a, pinned_b = norms(1e-4, 600), norms(1e-4, 1200)
    np.testing.assert_allclose(pinned_b[hazard], pinned_a[hazard], rtol=1e-2)
    assert pinned_b.max() < 0.1 * free_b.max()
