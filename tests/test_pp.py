"""Tests of desurv.pp: log1p, quantile_normalize, rank_transform, filter_genes, merge_cohorts."""

from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from desurv import pp
from desurv.exceptions import DataWarning

DATA = Path(__file__).resolve().parent / "data"


def _adata_from_r(name: str) -> ad.AnnData:
    """Read an R matrix (genes x samples CSV) as AnnData (samples x genes)."""
    df = pd.read_csv(DATA / name, index_col=0)
    return ad.AnnData(df.T.astype(float))


def _r(name: str) -> np.ndarray:
    return pd.read_csv(DATA / name, index_col=0).to_numpy(dtype=float).T


# ---------------------------------------------------------------- quantile_normalize
def test_quantile_normalize_equals_preprocesscore():
    a = _adata_from_r("qn_input.csv")
    pp.quantile_normalize(a)
    np.testing.assert_allclose(a.X, _r("qn_preprocesscore.csv"), rtol=0, atol=1e-12)
    target = pd.read_csv(DATA / "qn_target_preprocesscore.csv")["target"].to_numpy()
    np.testing.assert_allclose(a.uns["quantile_normalize"]["target"], target, atol=1e-12)
    assert list(a.uns["desurv_pp"]["steps"]) == ["quantile_normalize"]


def test_quantile_normalize_new_samples_to_training_target_equals_use_target():
    train = _adata_from_r("qn_input.csv")
    pp.quantile_normalize(train)
    new = _adata_from_r("qn_new_input.csv")
    pp.quantile_normalize(new, target=train)
    np.testing.assert_allclose(new.X, _r("qn_new_preprocesscore.csv"), atol=1e-12)
    assert new.uns["quantile_normalize"]["target_source"] == "given"
    # fewer genes than the target: preprocessCore interpolates the target quantiles
    short = _adata_from_r("qn_short_input.csv")
    out = pp.quantile_normalize(short, target=train.uns["quantile_normalize"]["target"], copy=True)
    np.testing.assert_allclose(out.X, _r("qn_short_preprocesscore.csv"), atol=1e-12)
    assert "quantile_normalize" not in short.uns  # copy=True left the input alone


def test_quantile_normalize_layer_and_errors():
    a = _adata_from_r("qn_input.csv")
    a.layers["raw"] = a.X.copy()
    a.X = np.zeros_like(a.X)
    pp.quantile_normalize(a, layer="raw")
    np.testing.assert_allclose(a.layers["raw"], _r("qn_preprocesscore.csv"), atol=1e-12)
    assert (a.X == 0).all()
    with pytest.raises(KeyError, match="layer 'nope' does not exist"):
        pp.quantile_normalize(a, layer="nope")
    with pytest.raises(KeyError, match="quantile_normalize"):
        pp.quantile_normalize(a, target=ad.AnnData(np.ones((2, 2))))
    b = _adata_from_r("qn_input.csv")
    b.X[1, 2] = np.nan
    with pytest.raises(ValueError, match="missing or infinite"):
        pp.quantile_normalize(b)


# ---------------------------------------------------------------- rank_transform
def test_rank_transform_equals_scipy_rankdata_per_sample():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(6, 30)).astype(float)  # many ties
    a = ad.AnnData(X.copy())
    pp.rank_transform(a)
    expected = np.vstack([rankdata(row, method="average") for row in X])
    np.testing.assert_array_equal(a.X, expected)
    assert a.uns["rank_transform"]["n_genes"] == 30
    assert a.uns["desurv_pp"]["steps"][-1] == "rank_transform"


# ---------------------------------------------------------------- log1p
def test_log1p_records_and_refuses_twice():
    X = np.array([[0.0, 1.0, 9.0], [3.0, 0.0, 99.0]])
    a = ad.AnnData(X.copy())
    pp.log1p(a)
    np.testing.assert_allclose(a.X, np.log1p(X))
    assert "log1p" in a.uns and "base" not in a.uns["log1p"]
    with pytest.raises(ValueError, match="already log-transformed"):
        pp.log1p(a)
    pp.log1p(a, force=True)
    np.testing.assert_allclose(a.X, np.log1p(np.log1p(X)))
    b = pp.log1p(ad.AnnData(X.copy()), base=2, copy=True)
    np.testing.assert_allclose(b.X, np.log2(1 + X))
    assert b.uns["log1p"]["base"] == 2.0


def test_log1p_scanpy_record_counts_as_logged_and_layers_are_separate():
    a = ad.AnnData(np.ones((2, 2)))
    a.uns["log1p"] = {"base": None}  # as scanpy writes it
    with pytest.raises(ValueError, match="already"):
        pp.log1p(a)
    a.layers["counts"] = np.full((2, 2), 3.0)
    pp.log1p(a, layer="counts")
    np.testing.assert_allclose(a.layers["counts"], np.log1p(3.0))
    np.testing.assert_allclose(a.X, 1.0)


def test_log1p_negative_values_hint():
    a = ad.AnnData(np.array([[-1.0, 2.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="negative values.*undo"):
        pp.log1p(a)


# ---------------------------------------------------------------- filter_genes
def _two_cohort_toy() -> ad.AnnData:
    # cohort A: genes g0..g5; mean rank and variance rank designed by hand
    # A: g0 high mean/high var, g1 high mean/low var, g2 low mean/high var, g3 mid/mid,
    #    g4 lowest/lowest, g5 high/high.
    a = np.array(
        [
            [10, 8.0, 1, 5, 0.0, 12],
            [20, 8.2, 9, 6, 0.1, 22],
            [30, 8.1, 1, 7, 0.0, 32],
        ]
    )
    # cohort B: g0 drops out (constant, low), the others like A
    b = np.array(
        [
            [1, 8.0, 1, 5, 0.0, 12],
            [1, 8.3, 9, 7, 0.1, 22],
            [1, 8.1, 1, 9, 0.0, 32],
            [1, 8.2, 5, 6, 0.0, 2],
        ]
    )
    X = np.vstack([a, b])
    obs = pd.DataFrame({"cohort": ["A"] * 3 + ["B"] * 4}, index=[f"s{i}" for i in range(7)])
    var = pd.DataFrame(index=[f"g{i}" for i in range(6)])
    return ad.AnnData(X, obs=obs, var=var)


def test_filter_genes_two_cohort_toy_keeps_expected_genes():
    adata = _two_cohort_toy()
    # Expected by hand (rank 1 = highest; rank sum = mean rank + variance rank):
    # A means g5 22 > g0 20 > g1 8.1 > g3 6 > g2 3.67 > g4 .03; vars g0 100 = g5 100 > g2 21.3
    #   > g3 1 > g1 .01 > g4 .0033 -> sums g0 3.5, g5 2.5, g1 8, g3 8, g2 9, g4 12
    #   -> top 3 in A: g5, g0, then g1 (tie with g3 broken by var order).
    # B means g5 17 > g1 8.15 > g3 6.75 > g2 4 > g0 1 > g4; vars g5 > g2 > g3 > g1 > g4 > g0
    #   -> sums g5 2, g1 6, g3 6, g2 6, g0 11, g4 11 -> top 3: g5, g1, g2.
    # Intersection: g5 and g1.
    out = pp.filter_genes(adata, n_top=3, cohort_key="cohort", copy=True)
    assert list(out.var_names) == ["g1", "g5"]
    assert adata.n_vars == 6  # copy
    pp.filter_genes(adata, n_top=3, cohort_key="cohort", subset=False)
    assert adata.var["desurv_filter"].tolist() == [False, True, False, False, False, True]
    assert adata.var["desurv_filter_n_cohorts"].tolist() == [1, 2, 1, 0, 0, 2]
    assert adata.uns["desurv_filter"]["n_kept"] == 2
    # one cohort only
    single = adata[adata.obs["cohort"] == "A"].copy()
    pp.filter_genes(single, n_top=3)
    assert list(single.var_names) == ["g0", "g1", "g5"]


def test_filter_genes_bad_input():
    adata = _two_cohort_toy()
    with pytest.raises(KeyError, match="columns"):
        pp.filter_genes(adata, cohort_key="batch")
    single = adata[adata.obs["cohort"] == "A"].copy()
    with pytest.raises(ValueError, match="single cohort"):
        pp.filter_genes(single, cohort_key="cohort")
    with pytest.raises(ValueError, match="positive integer"):
        pp.filter_genes(adata, n_top=0)


# ---------------------------------------------------------------- merge_cohorts
def test_merge_cohorts_inner_and_outer():
    a = ad.AnnData(np.ones((2, 3)), obs=pd.DataFrame({"time": [1.0, 2.0]}, index=["a1", "a2"]),
                   var=pd.DataFrame(index=["x", "y", "z"]))
    b = ad.AnnData(np.full((3, 2), 2.0), obs=pd.DataFrame(index=["b1", "b2", "b3"]),
                   var=pd.DataFrame(index=["y", "w"]))
    a.uns["log1p"] = {"layers": np.array(["X"], dtype=object)}
    b.uns["log1p"] = {"layers": np.array(["X"], dtype=object)}
    inner = pp.merge_cohorts({"A": a, "B": b})
    assert list(inner.var_names) == ["y"]
    assert inner.obs["cohort"].tolist() == ["A", "A", "B", "B", "B"]
    assert "log1p" in inner.uns
    assert inner.obs["time"].tolist()[:2] == [1.0, 2.0] and inner.obs["time"].isna().sum() == 3
    with pytest.warns(DataWarning, match="A: 1.*B: 2"):
        outer = pp.merge_cohorts([a, b], keys=["A", "B"], join="outer")
    assert sorted(outer.var_names) == ["w", "x", "y", "z"]
    X = pd.DataFrame(np.asarray(outer.X), index=outer.obs_names, columns=outer.var_names)
    assert X.loc["a1", "w"] == 0 and X.loc["b1", "x"] == 0 and X.loc["b1", "y"] == 2
    assert outer.uns["merge_cohorts"]["n_filled"].tolist() == [1, 2]


def test_merge_cohorts_bad_input():
    a = ad.AnnData(np.ones((2, 2)), obs=pd.DataFrame(index=["s1", "s2"]))
    b = ad.AnnData(np.ones((2, 2)), obs=pd.DataFrame(index=["s1", "s3"]))
    with pytest.raises(ValueError, match="at least two"):
        pp.merge_cohorts({"A": a})
    with pytest.raises(ValueError, match="index_unique"):
        pp.merge_cohorts({"A": a, "B": b})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = pp.merge_cohorts({"A": a, "B": b}, index_unique="-")
    assert m.n_obs == 4
    c = ad.AnnData(np.ones((2, 2)), obs=pd.DataFrame(index=["c1", "c2"]),
                   var=pd.DataFrame(index=["p", "q"]))
    with pytest.raises(ValueError, match="share no gene"):
        pp.merge_cohorts({"A": a, "C": c})


def test_pp_records_survive_h5ad(tmp_path):
    adata = _two_cohort_toy()
    pp.log1p(adata)
    pp.filter_genes(adata, n_top=4, cohort_key="cohort", subset=False)
    pp.quantile_normalize(adata)
    pp.rank_transform(adata)
    adata.write_h5ad(tmp_path / "pp.h5ad")
    back = ad.read_h5ad(tmp_path / "pp.h5ad")
    assert list(back.uns["desurv_pp"]["steps"]) == [
        "log1p", "filter_genes", "quantile_normalize", "rank_transform"
    ]
    with pytest.raises(ValueError, match="already log-transformed"):
        pp.log1p(back)
    np.testing.assert_array_equal(
        back.uns["quantile_normalize"]["target"], adata.uns["quantile_normalize"]["target"]
    )
