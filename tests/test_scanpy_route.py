"""The scanpy route into desurv: a sparse float32 AnnData through scanpy's preprocessing,
``desurv.tl.fit`` and ``desurv.tl.top_genes``, then scanpy's embedding plot of the factor
scores and ``rank_genes_groups`` on DeSurv risk groups (a small part of TCGA-PAAD 3k)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sparse

import desurv

sc = pytest.importorskip("scanpy", reason="scanpy is not installed (pip install desurv[scanpy])")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TCGA = SHARED / "pdac" / "tcga_paad_3k"


@pytest.fixture
def small_tcga():
    if not TCGA.is_dir():
        pytest.skip(f"needs the data mirror's TCGA-PAAD 3k at {TCGA}")
    raw = desurv.datasets.load("tcga_paad_3k")
    rng = np.random.default_rng(0)
    samples = np.sort(rng.choice(raw.n_obs, size=80, replace=False))
    genes = np.arange(0, raw.n_vars, 3)  # every third gene: 1006 genes
    sub = raw[samples, genes]
    return sc.AnnData(sparse.csr_matrix(np.asarray(sub.X), dtype=np.float32),
                      obs=sub.obs[["time", "event"]].copy(), var=sub.var.copy())


def test_scanpy_route(small_tcga):
    import matplotlib

    matplotlib.use("Agg")
    ad = small_tcga
    assert sparse.issparse(ad.X) and ad.X.dtype == np.float32
    sc.pp.normalize_total(ad)
    sc.pp.log1p(ad)
    sc.pp.highly_variable_genes(ad, n_top_genes=300, subset=True)
    assert ad.n_vars == 300 and sparse.issparse(ad.X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", desurv.ConvergenceWarning)
        desurv.tl.fit(ad, "time", "event", n_components=2, alpha=0.5, max_iter=80, tol=1e-5,
                      random_state=0)
    assert ad.obsm["X_desurv"].shape == (ad.n_obs, 2)
    assert ad.varm["desurv_W"].shape == (ad.n_vars, 2)
    assert np.all(np.isfinite(ad.obs["desurv_risk"]))
    top = desurv.tl.top_genes(ad, n_top=20)
    assert set(top["factor"]) == {1, 2} and set(top["gene"]) <= set(ad.var_names)
    ax = sc.pl.embedding(ad, basis="desurv", color="desurv_risk", show=False)
    assert ax is not None
    import matplotlib.pyplot as plt

    plt.close("all")
    med = float(np.median(ad.obs["desurv_risk"]))
    ad.obs["risk_group"] = pd.Categorical(np.where(ad.obs["desurv_risk"] > med, "high", "low"),
                                          categories=["low", "high"])
    sc.tl.rank_genes_groups(ad, "risk_group", groups=["high"], reference="low",
                            method="wilcoxon")
    de = sc.get.rank_genes_groups_df(ad, "high")
    assert len(de) == ad.n_vars and np.all(np.isfinite(de["scores"]))
