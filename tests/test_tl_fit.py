"""Tests of desurv.tl.fit: keys written, bad input, h5ad round trip, TCGA-PAAD programs."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import pp, tl
from desurv.exceptions import DataWarning, DeSurvWarning

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TCGA = SHARED / "pdac" / "tcga_paad_3k"
PROGRAMS = SHARED / "gene_programs" / "reference_programs.csv"

FAST = {"max_iter": 150, "tol": 1e-5, "random_state": 0}
# TCGA-PAAD fits: modest iterations on the 1000 filtered genes (runs in seconds)
TCGA_FIT = {"alpha": 0.3, "max_iter": 200, "tol": 1e-5, "random_state": 0}


# ------------------------------------------------------------------ bad input (no fit)
def test_fit_missing_survival_columns_lists_columns(make_toy_adata):
    a = make_toy_adata()
    with pytest.raises(KeyError, match=r"'os'.*columns that exist are \['time', 'event'\]"):
        tl.fit(a, time_key="os", event_key="event")


def test_fit_non_numeric_and_missing_survival_name_samples(make_toy_adata):
    a = make_toy_adata()
    a.obs["time"] = a.obs["time"].astype(object)
    a.obs.loc["s3", "time"] = "unknown"
    with pytest.raises(ValueError, match=r"non-numeric values in samples \['s3'\]"):
        tl.fit(a)
    b = make_toy_adata()
    b.obs.loc[["s1", "s7"], "event"] = np.nan
    with pytest.raises(ValueError, match=r"missing values in samples \['s1', 's7'\]"):
        tl.fit(b)
    c = make_toy_adata()
    c.obs.loc["s2", "event"] = 2
    with pytest.raises(ValueError, match=r"0 \(censored\) or 1.*s2"):
        tl.fit(c)
    d = make_toy_adata()
    d.obs.loc["s4", "time"] = -1.0
    with pytest.raises(ValueError, match=r"time must be finite and >= 0.*s4"):
        tl.fit(d)


def test_fit_bad_layer_negative_values_and_genes(make_toy_adata):
    a = make_toy_adata()
    with pytest.raises(KeyError, match="layer 'counts' does not exist"):
        tl.fit(a, layer="counts")
    a.layers["centred"] = a.X - a.X.mean(axis=0)
    with pytest.raises(ValueError, match="negative values.*nonnegative.*log1p"):
        tl.fit(a, layer="centred")
    with pytest.raises(KeyError, match="not a column of adata.var"):
        tl.fit(a, genes="highly_variable")
    with pytest.raises(TypeError, match="AnnData"):
        tl.fit(a.to_df())


# ------------------------------------------------------------------ fits
@pytest.fixture(scope="module")
def toy_fit(make_toy_adata) -> ad.AnnData:
    a = make_toy_adata()
    a.var["keep"] = np.arange(a.n_vars) < 35  # fit on a subset of the genes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(a, n_components=3, genes="keep", **FAST)
    return a


def test_fit_writes_every_documented_key(toy_fit):
    a = toy_fit
    k, used = 3, a.var["keep"].to_numpy()
    W = a.varm["desurv_W"]
    assert W.shape == (a.n_vars, k) and (W >= 0).all()
    assert (W[~used] == 0).all() and W[used].any()
    np.testing.assert_array_equal(a.var["desurv_used"].to_numpy(), used)
    assert a.obsm["desurv_H"].shape == (a.n_obs, k)
    Z = a.obsm["X_desurv"]
    np.testing.assert_allclose(Z, a.X[:, used] @ W[used], rtol=1e-10)
    rec = a.uns["desurv"]
    assert rec["beta"].shape == (k,) and np.any(rec["beta"] != 0)
    np.testing.assert_allclose(a.obs["desurv_risk"], Z @ rec["beta"], rtol=1e-10)
    assert list(rec["genes"]) == list(a.var_names[used])
    assert set(rec["loss_history"]) >= {"loss", "nmf", "cox"}
    assert len(rec["loss_history"]["loss"]) >= 1
    assert 0 <= rec["train_cindex"] <= 1
    assert rec["params"]["n_components"] == 3 and rec["params"]["max_iter"] == FAST["max_iter"]
    for name in ("n_iter", "converged", "seeds", "variant", "time_key", "event_key", "layer",
                 "preprocessing", "version", "n_components"):
        assert name in rec, name


def test_fit_copy_leaves_input_alone(make_toy_adata):
    a = make_toy_adata(n=40, p=20, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        out = tl.fit(a, n_components=2, copy=True, key_added="m2", **FAST)
    assert "m2_W" in out.varm and "m2_W" not in a.varm and "m2" not in a.uns
    assert out.obs["m2_risk"].notna().all()


def test_score_on_training_cohort_reproduces_fit_risk(toy_fit):
    new = toy_fit.copy()
    del new.obsm["X_desurv"]
    tl.score(new, toy_fit)
    np.testing.assert_allclose(new.obs["desurv_risk"], toy_fit.obs["desurv_risk"], rtol=1e-10)


def test_h5ad_round_trip_then_scoring_gives_identical_risks(toy_fit, make_toy_adata, tmp_path):
    toy_fit.write_h5ad(tmp_path / "fit.h5ad")
    back = ad.read_h5ad(tmp_path / "fit.h5ad")
    for name in ("desurv_W",):
        np.testing.assert_array_equal(back.varm[name], toy_fit.varm[name])
    np.testing.assert_array_equal(back.obs["desurv_risk"], toy_fit.obs["desurv_risk"])
    new = make_toy_adata(n=25, seed=11)
    new = new[:, [g for g in new.var_names if g != "g3"]].copy()  # one model gene missing
    with pytest.warns(DataWarning, match="1 of the model's 35 genes"):
        r1 = tl.score(new, toy_fit, copy=True)
    with pytest.warns(DataWarning, match="1 of the model's 35 genes"):
        r2 = tl.score(new, back, copy=True)
    np.testing.assert_array_equal(r1.obs["desurv_risk"], r2.obs["desurv_risk"])
    np.testing.assert_array_equal(r1.obsm["X_desurv"], r2.obsm["X_desurv"])


# ------------------------------------------------------------------ TCGA-PAAD
_TUMOUR = re.compile(r"classical|basal", re.IGNORECASE)


@pytest.fixture(scope="module")
def tcga() -> ad.AnnData:
    if not (TCGA / "expression.csv.gz").exists():
        pytest.skip(f"TCGA-PAAD not found at {TCGA} (the shared data folder next to the checkout)")
    expr = pd.read_csv(TCGA / "expression.csv.gz", index_col=0)
    clin = pd.read_csv(TCGA / "clinical.csv", index_col=0)
    a = ad.AnnData(expr.T.astype(float), obs=clin.loc[expr.columns])
    pp.log1p(a)
    pp.filter_genes(a, n_top=1000)
    return a


@pytest.mark.slow
@pytest.mark.parametrize("k", [3, 4, 5, 6])
def test_tcga_paad_factors_match_published_tumour_programs(tcga, k):
    a = tcga.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(a, "time", "event", n_components=k, **TCGA_FIT)
    assert a.varm["desurv_W"].shape == (1000, k)
    tl.top_genes(a, n_top=50)
    res = tl.annotate_programs(a, PROGRAMS)
    best = res[res["rank"] == 1]
    assert best["factor"].tolist() == list(range(1, k + 1))  # a best match for every factor
    tumour = res[
        res["program"].str.contains(_TUMOUR) & ~res["program"].str.contains("Immune")
        & (res["qval"] < 0.05)
    ]
    assert len(tumour) > 0, best.to_string()
