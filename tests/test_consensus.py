"""Python twin of consensus clustering (no R needed) and the AnnData call site."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from desurv.exceptions import DataWarning
from desurv.stats._consensus import (
    _pam,
    cohort_weights,
    consensus_cluster_python,
    consensus_figures,
)
from desurv.tl import consensus_cluster
from tests._rhelpers import clustered_data


@pytest.fixture(scope="module")
def data():
    return clustered_data()


@pytest.mark.parametrize(
    "alg, distance, p_feature",
    [
        ("hc", "pearson", 1.0),
        ("km", "euclidean", 0.8),
        ("pam", "pearson", 1.0),
        ("hc", "euclidean", 0.7),
    ],
)
def test_recovers_clear_clusters(data, alg, distance, p_feature):
    X, truth = data
    res = consensus_cluster_python(
        X, max_k=4, reps=30, cluster_alg=alg, distance=distance, p_feature=p_feature, seed=1
    )
    assert adjusted_rand_score(truth, res["classes"][3]) >= 0.95
    assert res["classes"][3].iloc[0] == 1  # numbered by first appearance, as cutree
    M = res["consensus"][3].to_numpy()
    np.testing.assert_allclose(M, M.T)
    assert np.all((M >= 0) & (M <= 1))
    np.testing.assert_allclose(np.diag(M), 1.0)
    # the right k has the smallest PAC (k = 2 may tie: two clusters always merged)
    assert res["pac"][3] == res["pac"].min()
    assert list(res["cdf"].columns) == [2, 3, 4] and res["cdf"].shape == (100, 3)


def test_same_seed_same_result_and_seed_changes_it(data):
    X, _ = data
    a = consensus_cluster_python(X, max_k=3, reps=10, seed=5)
    b = consensus_cluster_python(X, max_k=3, reps=10, seed=5)
    c = consensus_cluster_python(X, max_k=3, reps=10, seed=6)
    np.testing.assert_array_equal(a["consensus"][2], b["consensus"][2])
    assert not np.array_equal(a["consensus"][2], c["consensus"][2])


def test_figures_by_hand():
    # one off-diagonal value per matrix: 0.3 (a bin edge, right-closed) and 1.0
    M1 = np.array([[1.0, 0.3], [0.3, 1.0]])
    M2 = np.array([[1.0, 1.0], [1.0, 1.0]])
    f = consensus_figures({2: M1, 3: M2})
    cdf = f["cdf"]
    assert cdf.loc[:, 2].iloc[28] == 0.0 and cdf.loc[:, 2].iloc[29] == 1.0  # bin (0.29, 0.30]
    assert f["area"][2] == pytest.approx(0.71)
    assert f["area"][3] == pytest.approx(0.01)
    assert f["delta_area"][2] == f["area"][2]
    assert f["delta_area"][3] == pytest.approx((0.01 - 0.71) / 0.71)
    assert f["pac"][2] == 1.0 and f["pac"][3] == 0.0


def test_cohort_weights_are_one_over_D_nd():
    w = cohort_weights(["a"] * 3 + ["b"] * 1)
    np.testing.assert_allclose(w, [1 / 6, 1 / 6, 1 / 6, 1 / 2])
    assert w.sum() == pytest.approx(1.0)


def test_zero_weight_subject_keeps_empty_consensus_row(data):
    X, _ = data
    w = np.ones(len(X))
    w[0] = 0.0
    with pytest.warns(DataWarning, match="rarely drawn"):
        res = consensus_cluster(X, max_k=3, reps=10, weights_item=w, seed=0)
    M = res["consensus"][2].to_numpy()
    assert np.all(M[0] == 0) and np.all(M[:, 0] == 0)


def test_pam_build_swap_finds_obvious_medoids():
    pts = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    D = np.abs(pts - pts.T)
    lab = _pam(D, 2)
    assert len(set(lab[:3])) == 1 and len(set(lab[3:])) == 1 and lab[0] != lab[3]


def test_anndata_keys_written_and_h5ad_roundtrip(data, make_clustered_adata, tmp_path):
    X, truth = data
    adata = make_clustered_adata(X)
    out = consensus_cluster(adata, max_k=4, reps=10, k=3, seed=2, layer="raw", cohort_key="cohort")
    assert out is None
    for k in (2, 3, 4):
        assert adata.obs[f"consensus_k{k}"].dtype == "category"
        assert adata.obsp[f"consensus_k{k}"].shape == (60, 60)
    assert adjusted_rand_score(truth, adata.obs["consensus"]) >= 0.95
    uns = adata.uns["consensus"]
    assert uns["implementation"] == "python"
    assert uns["params"]["cohort_key"] == "cohort" and uns["params"]["weighted_items"]
    assert uns["cdf"].shape == (3, 100) and list(uns["ks"]) == [2, 3, 4]
    adata.write_h5ad(tmp_path / "c.h5ad")
    back = ad.read_h5ad(tmp_path / "c.h5ad")
    np.testing.assert_allclose(back.uns["consensus"]["pac"], uns["pac"])
    assert back.uns["consensus"]["seed"] == 2


def test_anndata_use_rep_var_names_copy(data, make_clustered_adata):
    X, _ = data
    adata = make_clustered_adata(X)
    out = consensus_cluster(adata, max_k=3, reps=5, use_rep="X_scores", copy=True, key_added="cc")
    assert "cc_k2" in out.obs and "cc_k2" not in adata.obs
    assert out.uns["cc"]["params"]["n_features"] == 5
    consensus_cluster(adata, max_k=3, reps=5, var_names=["g1", "g2", "g3"], key_added="top")
    assert adata.uns["top"]["params"]["n_features"] == 3


def test_dataframe_input_keeps_sample_names(data):
    X, _ = data
    df = pd.DataFrame(X, index=[f"s_{i}" for i in range(len(X))])
    res = consensus_cluster(df, max_k=3, reps=5, cluster_alg="km")
    assert res.implementation == "python" and res.params["distance"] == "euclidean"
    assert list(res.classes.index[:2]) == ["s_0", "s_1"]


def test_argument_errors(data):
    X, _ = data
    with pytest.raises(ValueError, match="implementation"):
        consensus_cluster(X, implementation="matlab")
    with pytest.raises(ValueError, match="euclidean"):
        consensus_cluster(X, cluster_alg="km", distance="pearson")
    with pytest.raises(ValueError, match="cluster_alg"):
        consensus_cluster(X, cluster_alg="dbscan")
    with pytest.raises(ValueError, match="outside"):
        consensus_cluster(X, max_k=3, reps=2, k=5)
    with pytest.raises(ValueError, match="not both"):
        consensus_cluster(X, cohort_key=np.zeros(len(X)), weights_item=np.ones(len(X)))


def test_extreme_magnitudes_cluster_like_unit_scale():
    """Values near 1e300 (or 1e-300) overflow squared distances and correlations; the
    clustering is scale-equivariant, so it is computed on X / max|X|: same classes."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (10, 6)), rng.normal(5, 1, (10, 6))])
    ref = consensus_cluster_python(X, max_k=3, reps=10, seed=1)
    for scale in (1e300, 1e-300):
        out = consensus_cluster_python(X * scale, max_k=3, reps=10, seed=1)
        pd.testing.assert_frame_equal(out["classes"], ref["classes"])
    with pytest.raises(ValueError, match="1 NaN or infinite values"):
        consensus_cluster_python(_one_nan(X), max_k=3, reps=5)


def _one_nan(X):
    Y = X.copy()
    Y[0, 0] = np.nan
    return Y


def test_constant_sample_with_correlation_distance_is_named():
    """Found by the property tests: a sample constant over the features gave scipy's bare
    "The condensed distance matrix must contain only finite values"."""
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (12, 5))
    X[3] = 2.0
    with pytest.raises(ValueError, match=r"1 sample\(s\) have the same value in every feature"):
        consensus_cluster_python(X, max_k=3, reps=5, seed=0)
    out = consensus_cluster_python(X, max_k=3, reps=5, seed=0, distance="euclidean")
    assert out["classes"].notna().all().all()
