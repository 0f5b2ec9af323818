"""ConsensusClusterPlus through R, and its parity with the Python twin."""

from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from desurv.stats import consensus_cluster_python, consensus_figures
from desurv.tl import consensus_cluster
from tests._rhelpers import clustered_data, require_r

pytestmark = pytest.mark.needs_r


@pytest.fixture(scope="module")
def rb():
    return require_r()


@pytest.fixture(scope="module")
def data():
    return clustered_data()


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    """Run in an empty folder so that any stray plot file would be seen."""
    monkeypatch.chdir(tmp_path)
    yield
    assert os.listdir(tmp_path) == [], "R left files in the working directory"


@pytest.mark.parametrize(
    "alg, distance, p_feature",
    [("hc", "pearson", 1.0), ("km", "euclidean", 0.8), ("pam", "pearson", 1.0)],
)
def test_r_and_python_agree_on_clear_clusters(rb, data, alg, distance, p_feature):
    X, truth = data
    r = rb.consensus_cluster_plus(
        X, maxK=4, reps=30, clusterAlg=alg, distance=distance, pFeature=p_feature, seed=3
    )
    py = consensus_cluster_python(
        X, max_k=4, reps=30, cluster_alg=alg, distance=distance, p_feature=p_feature, seed=3
    )
    assert adjusted_rand_score(r["classes"][3], py["classes"][3]) >= 0.95
    assert adjusted_rand_score(truth, r["classes"][3]) >= 0.95
    assert list(r["classes"].index) == list(py["classes"].index)
    assert r["cdf"].shape == py["cdf"].shape == (100, 3)


def test_same_seed_identical_classes(rb, data):
    X, _ = data
    a = rb.consensus_cluster_plus(X, maxK=4, reps=20, seed=42)
    b = rb.consensus_cluster_plus(X, maxK=4, reps=20, seed=42)
    assert a["classes"].equals(b["classes"])
    for k in (2, 3, 4):
        np.testing.assert_array_equal(a["consensus"][k], b["consensus"][k])


def test_km_pfeature_fix_does_not_change_the_random_stream(rb, data):
    X, _ = data
    # Unpatched 1.62 fails on km with pFeature < 1 ...
    res = rb.consensus_cluster_plus(
        X, maxK=3, reps=10, clusterAlg="km", distance="euclidean", pFeature=0.8, seed=1
    )
    assert res["classes"].shape == (60, 2)
    if res["version"] == "1.62.0":
        assert res["patched"]
        with pytest.raises(rb.RError, match="the condition has length > 1"):
            rb.consensus_cluster_plus(
                X,
                maxK=3,
                reps=2,
                clusterAlg="km",
                distance="euclidean",
                pFeature=0.8,
                seed=1,
                patch=False,
            )
    # ... and where the original works, patched and original give identical results.
    for alg, dist in (("km", "euclidean"), ("hc", "pearson")):
        a = rb.consensus_cluster_plus(X, maxK=3, reps=10, clusterAlg=alg, distance=dist, seed=9)
        b = rb.consensus_cluster_plus(
            X, maxK=3, reps=10, clusterAlg=alg, distance=dist, seed=9, patch=False
        )
        for k in (2, 3):
            np.testing.assert_array_equal(a["consensus"][k], b["consensus"][k])


def test_python_figures_equal_r_figures(rb, data):
    X, _ = data
    r = rb.consensus_cluster_plus(X, maxK=4, reps=15, pItem=0.7, seed=5)
    mats = {k: m.to_numpy() for k, m in r["consensus"].items()}
    py = consensus_figures(mats)
    np.testing.assert_allclose(py["cdf"].to_numpy(), r["cdf"].to_numpy(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(py["area"], r["area"], rtol=1e-14)
    np.testing.assert_allclose(py["delta_area"], r["delta_area"], rtol=1e-12)
    np.testing.assert_array_equal(py["pac"], r["pac"])
    rr = rb.consensus_figures(mats)
    np.testing.assert_array_equal(rr["pac"], r["pac"])


def test_tiny_item_weights_leave_empty_rows_and_rng_state_restored(rb, data):
    import rpy2.robjects as ro

    X, _ = data
    ro.r("set.seed(123)")
    before = np.array(ro.r("runif(3)"), copy=True)
    ro.r("set.seed(123)")
    w = np.ones(len(X))
    w[:2] = 0.0
    res = rb.consensus_cluster_plus(X, maxK=3, reps=10, weightsItem=w, seed=4)
    after = np.array(ro.r("runif(3)"), copy=True)
    np.testing.assert_array_equal(before, after)  # caller's R random state untouched
    M = res["consensus"][2].to_numpy()
    assert np.all(M[:2] == 0)


def test_call_site_r_with_cohort_weights(rb, data, make_clustered_adata):
    X, truth = data
    adata = make_clustered_adata(X)
    consensus_cluster(adata, max_k=3, reps=15, k=3, cohort_key="cohort", seed=8, implementation="r")
    uns = adata.uns["consensus"]
    assert uns["implementation"] == "r" and uns["seed"] == 8 and "r_version" in uns
    assert adjusted_rand_score(truth, adata.obs["consensus"]) >= 0.95
    assert adata.obsp["consensus_k3"].shape == (60, 60)
