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


def test_reference_data_desurv_keeps_factor1_and_its_cindex(reference):
    """On the reference data NMF alone already reaches the training C-index of the true
    factor-1 activities, so there is little room to gain; DeSurv must keep factor 1
    (correlation > 0.99 with truth_W) and reach at least NMF's training C-index."""
    X, y, d, W0, H0, truth_w, truth_h = reference
    kw = dict(lambda_=0.1, tol=1e-7, max_iter=1500, warmup_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf = DeSurv(3, alpha=0.0, **kw).fit(X, y, d, W0=W0, H0=H0)
        ds = DeSurv(3, alpha=0.9, **kw).fit(X, y, d, W0=W0, H0=H0)
    assert _recovery(nmf.W_, truth_w) > 0.99
    assert _recovery(ds.W_, truth_w) > 0.99
    assert ds.train_cindex_ >= nmf.train_cindex_
    assert nmf.train_cindex_ >= concordance_index(y, d, truth_h[0])
