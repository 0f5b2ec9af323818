"""Hostile inputs that used to be accepted silently or end in bare tracebacks (issue 14's list):
each now raises our error with a message that names the input and what to do."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import DeSurv, tl
from desurv.stats import consensus_cluster_python


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (30, 12))
    t = rng.exponential(1.0, 30)
    e = (rng.random(30) < 0.7).astype(float)
    e[0] = 1
    return X, t, e


def test_tol_nan_is_refused(small):
    X, t, e = small
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        DeSurv(2, tol=float("nan")).fit(X, t, e)


def test_complex_and_masked_expression_are_refused(small):
    X, t, e = small
    with pytest.raises(TypeError, match="complex values"):
        DeSurv(2).fit(X + 0j, t, e)
    masked = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    masked.mask[0, 0] = True
    with pytest.raises(TypeError, match="masked array: its mask would be ignored"):
        DeSurv(2).fit(masked, t, e)


def test_too_few_samples_are_refused(small):
    X, t, e = small
    with pytest.raises(ValueError, match="needs at least 3"):
        DeSurv(1).fit(X[:1], t[:1], np.ones(1))


def test_tl_survival_names_the_column_with_text_events():
    df = pd.DataFrame(
        {"time": [1.0, 2.0, 3.0, 4.0], "status": ["dead", "alive", "dead", "alive"],
         "x": [0.1, 0.5, 0.2, 0.9]}
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"event_key: column 'status' has non-numeric.*dead"):
        tl.survival(df, "x", time_key="time", event_key="status")


def test_consensus_needs_resamples_and_an_existing_rep():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 5))
    with pytest.raises(ValueError, match="reps .* must be an integer >= 1"):
        consensus_cluster_python(X, max_k=3, reps=0)
    adata = ad.AnnData(np.abs(X))
    with pytest.raises(ValueError, match="reps .* must be an integer >= 1"):
        tl.consensus_cluster(adata, max_k=3, reps=0)
    with pytest.raises(KeyError, match="use_rep='X_pca' is not in adata.obsm"):
        tl.consensus_cluster(adata, max_k=3, reps=5, use_rep="X_pca")


def test_r_variant_overflow_is_a_divergence_error_that_says_what_to_do():
    """X times 1e150 overflows the R package's (unit-dependent) loss: our DivergenceError
    (a FloatingPointError) naming the unit and the remedy, not a bare FloatingPointError."""
    import warnings as _w

    from desurv import DeSurv
    from desurv.exceptions import DeSurvWarning, DivergenceError

    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (60, 40))
    t = rng.exponential(1.0, 60)
    e = (rng.random(60) < 0.7).astype(float)
    with _w.catch_warnings():
        _w.simplefilter("ignore", DeSurvWarning)
        with pytest.raises(DivergenceError, match="unit of X"):
            DeSurv(3, variant="r-desurv", max_iter=20, random_state=0).fit(X * 1e150, t, e)
