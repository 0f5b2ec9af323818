"""Tests of desurv.tl.score on a model written by hand (see test_tl_fit.py for real fits)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import pp, tl
from desurv.exceptions import DataWarning

GENES = [f"g{i}" for i in range(6)]
W = np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 1.0], [0.3, 0.0], [0.0, 0.4], [0.2, 0.2]])
BETA = np.array([0.7, -0.3])


def _model(pp_record: dict | None = None) -> ad.AnnData:
    rng = np.random.default_rng(1)
    m = ad.AnnData(rng.uniform(0, 5, (4, 6)), var=pd.DataFrame(index=GENES))
    m.varm["desurv_W"] = W
    m.var["desurv_used"] = True
    m.uns["desurv"] = {
        "genes": np.array(GENES, dtype=object),
        "beta": BETA,
        "preprocessing": pp_record or {"steps": np.array([], dtype=object)},
        "version": "0.1.0",
    }
    return m


def _new(n: int = 5, genes: list[str] = GENES, seed: int = 2) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    return ad.AnnData(
        rng.uniform(0, 5, (n, len(genes))),
        obs=pd.DataFrame(index=[f"n{i}" for i in range(n)]),
        var=pd.DataFrame(index=genes),
    )


def test_score_projects_with_W_and_beta():
    m, new = _model(), _new()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tl.score(new, m)
    np.testing.assert_allclose(new.obsm["X_desurv"], new.X @ W)
    np.testing.assert_allclose(new.obs["desurv_risk"], new.X @ W @ BETA)
    assert new.uns["desurv_score"]["coverage"] == 1.0


def test_score_matches_genes_by_name_and_zero_fills_missing():
    m = _model()
    order = ["g5", "g3", "g1", "g0", "extra", "g4"]  # g2 missing, shuffled, one extra gene
    new = _new(genes=order)
    with pytest.warns(DataWarning, match="1 of the model's 6 genes are missing"):
        out = tl.score(new, m, copy=True, key_added="val")
    X = pd.DataFrame(new.X, columns=order).reindex(columns=GENES, fill_value=0.0).to_numpy()
    np.testing.assert_allclose(out.obsm["X_val"], X @ W)
    np.testing.assert_allclose(out.obs["val_risk"], X @ W @ BETA)
    assert out.uns["val_score"]["n_missing"] == 1
    assert list(out.uns["val_score"]["missing_genes"]) == ["g2"]
    assert "X_val" not in new.obsm


def test_score_coverage_error():
    m = _model()
    new = _new(genes=["g0", "g1", "a", "b", "c", "d"])
    with pytest.raises(ValueError, match="2 of the model's 6 genes.*min_coverage"):
        tl.score(new, m)
    none = _new(genes=["a", "b"])
    with pytest.raises(ValueError, match="0 of the model's 6"):
        tl.score(none, m)
    with pytest.warns(DataWarning):
        tl.score(new, m, min_coverage=0.3)


def test_score_top_genes_only():
    m = _model()
    tab = tl.top_genes(m, n_top=2, method="weight")
    new = _new()
    tl.score(new, m, genes="top")
    mask = np.zeros_like(W, dtype=bool)
    for f, g in zip(tab["factor"], tab["gene"]):
        mask[GENES.index(g), f - 1] = True
    Wt = np.where(mask, W, 0)
    np.testing.assert_allclose(new.obsm["X_desurv"], new.X @ Wt)
    assert new.uns["desurv_score"]["genes"] == "top"


def test_score_applies_the_training_log1p_unless_the_new_cohort_is_logged():
    rec = {"steps": np.array(["log1p"], dtype=object), "log1p": {"layers": np.array(["X"])}}
    m = _model(rec)
    raw = _new()
    tl.score(raw, m)
    np.testing.assert_allclose(raw.obsm["X_desurv"], np.log1p(raw.X) @ W)
    assert list(raw.uns["desurv_score"]["preprocessing"]) == ["log1p"]
    logged = _new()
    X0 = logged.X.copy()
    pp.log1p(logged)
    tl.score(logged, m)
    np.testing.assert_allclose(logged.obsm["X_desurv"], np.log1p(X0) @ W)
    assert list(logged.uns["desurv_score"]["preprocessing"]) == []
    # base 2 recorded in the model
    m2 = _model({"steps": np.array(["log1p"], dtype=object), "log1p": {"base": 2.0}})
    raw2 = _new()
    tl.score(raw2, m2)
    np.testing.assert_allclose(raw2.obsm["X_desurv"], np.log2(1 + raw2.X) @ W)


def test_score_quantile_and_rank_to_training_scale():
    train = _new(n=7, seed=5)
    pp.quantile_normalize(train)
    m = _model({"steps": np.array(["quantile_normalize"], dtype=object),
                "quantile_normalize": dict(train.uns["quantile_normalize"])})
    new = _new()
    tl.score(new, m)
    expected = pp.quantile_normalize(new, target=train, copy=True).X
    np.testing.assert_allclose(new.obsm["X_desurv"], expected @ W)

    rtrain = _new(n=3, seed=6)
    pp.rank_transform(rtrain)
    m = _model({"steps": np.array(["rank_transform"], dtype=object),
                "rank_transform": dict(rtrain.uns["rank_transform"])})
    new = _new(genes=["g0", "g1", "g2", "g3", "g4"])  # one gene fewer: ranks 1..5 -> 1..6
    with pytest.warns(DataWarning):
        tl.score(new, m, min_coverage=0.5)
    ranks = pp.rank_transform(new, copy=True).X
    scaled = 1 + (6 - 1) * (ranks - 1) / (5 - 1)
    X = np.hstack([scaled, np.zeros((new.n_obs, 1))])
    np.testing.assert_allclose(new.obsm["X_desurv"], X @ W)


def test_score_no_shared_gene_after_preprocessing_is_a_coverage_error():
    train = _new(n=4, seed=3)
    pp.rank_transform(train)
    m = _model({"steps": np.array(["rank_transform"], dtype=object),
                "rank_transform": dict(train.uns["rank_transform"])})
    with pytest.raises(ValueError, match="0 of the model's 6 genes"):
        tl.score(_new(genes=["x", "y"]), m)


def test_score_bad_input():
    m = _model()
    with pytest.raises(KeyError, match="fit record"):
        tl.score(_new(), ad.AnnData(np.ones((2, 6))))
    with pytest.raises(KeyError, match="layer 'counts' does not exist"):
        tl.score(_new(), m, layer="counts")
    with pytest.raises(ValueError, match="'all' or 'top'"):
        tl.score(_new(), m, genes="some")
    with pytest.raises(KeyError, match="top_genes"):
        tl.score(_new(), m, genes="top")
    with pytest.raises(TypeError, match="AnnData"):
        tl.score(pd.DataFrame(np.ones((2, 6))), m)


def test_h5ad_round_trip_of_a_preprocessed_model_scores_identically(tmp_path):
    train = _new(n=8, seed=7)
    pp.log1p(train)
    pp.quantile_normalize(train)
    from desurv.tl._fit import preprocessing_record

    m = _model(preprocessing_record(train))
    tl.top_genes(m, n_top=3)
    m.write_h5ad(tmp_path / "model.h5ad")
    back = ad.read_h5ad(tmp_path / "model.h5ad")
    assert list(back.uns["desurv"]["preprocessing"]["steps"]) == ["log1p", "quantile_normalize"]
    for genes in ("all", "top"):
        a = tl.score(_new(), m, genes=genes, copy=True)
        b = tl.score(_new(), back, genes=genes, copy=True)
        np.testing.assert_array_equal(a.obs["desurv_risk"], b.obs["desurv_risk"])
        np.testing.assert_array_equal(a.obsm["X_desurv"], b.obsm["X_desurv"])
        assert list(b.uns["desurv_score"]["preprocessing"]) == ["log1p", "quantile_normalize"]
        b.write_h5ad(tmp_path / f"scored_{genes}.h5ad")  # what score writes is h5ad-safe too
