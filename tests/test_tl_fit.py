"""Tests of desurv.tl.fit: keys written, bad input, h5ad round trip, TCGA-PAAD programs."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import tl

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TCGA = SHARED / "pdac" / "tcga_paad_3k"
PROGRAMS = SHARED / "gene_programs" / "reference_programs.csv"

FAST = {"max_iter": 60, "tol": 1e-5, "random_state": 0}


def _toy(n: int = 60, p: int = 40, seed: int = 0) -> ad.AnnData:
    """Nonnegative samples x genes with 3 planted programs; program 1 drives hazard."""
    rng = np.random.default_rng(seed)
    H = rng.gamma(2.0, 1.0, (n, 3))
    W = np.zeros((p, 3))
    for j in range(3):
        W[j * 10 : (j + 1) * 10, j] = rng.uniform(1, 2, 10)
    X = H @ W.T + rng.uniform(0, 0.3, (n, p))
    time = rng.exponential(10 * np.exp(-0.8 * (H[:, 0] - H[:, 0].mean())))
    event = (rng.uniform(size=n) < 0.75).astype(int)
    obs = pd.DataFrame({"time": time, "event": event}, index=[f"s{i}" for i in range(n)])
    return ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(p)]))


# ------------------------------------------------------------------ bad input (no fit)
def test_fit_missing_survival_columns_lists_columns():
    a = _toy()
    with pytest.raises(KeyError, match=r"'os'.*columns that exist are \['time', 'event'\]"):
        tl.fit(a, time_key="os", event_key="event")


def test_fit_non_numeric_and_missing_survival_name_samples():
    a = _toy()
    a.obs["time"] = a.obs["time"].astype(object)
    a.obs.loc["s3", "time"] = "unknown"
    with pytest.raises(ValueError, match=r"non-numeric values in samples \['s3'\]"):
        tl.fit(a)
    b = _toy()
    b.obs.loc[["s1", "s7"], "event"] = np.nan
    with pytest.raises(ValueError, match=r"missing values in samples \['s1', 's7'\]"):
        tl.fit(b)
    c = _toy()
    c.obs.loc["s2", "event"] = 2
    with pytest.raises(ValueError, match=r"0 \(censored\) or 1.*\['s2'\]"):
        tl.fit(c)
    d = _toy()
    d.obs.loc["s4", "time"] = -1.0
    with pytest.raises(ValueError, match=r"negative times.*\['s4'\]"):
        tl.fit(d)


def test_fit_bad_layer_negative_values_and_genes():
    a = _toy()
    with pytest.raises(KeyError, match="layer 'counts' does not exist"):
        tl.fit(a, layer="counts")
    a.layers["centred"] = a.X - a.X.mean(axis=0)
    with pytest.raises(ValueError, match="negative values.*nonnegative.*log1p"):
        tl.fit(a, layer="centred")
    with pytest.raises(KeyError, match="not a column of adata.var"):
        tl.fit(a, genes="highly_variable")
    with pytest.raises(TypeError, match="AnnData"):
        tl.fit(a.to_df())
