"""Tests of desurv.tl.top_genes on a W written by hand."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import tl


def _adata_with_W() -> ad.AnnData:
    W = np.array(
        [
            [4.0, 0.0, 1.0],
            [2.0, 2.0, 0.0],
            [1.0, 4.0, 4.0],
            [0.0, 1.0, 2.0],
            [3.0, 3.0, 0.0],
        ]
    )
    a = ad.AnnData(np.ones((2, 5)), var=pd.DataFrame(index=[f"g{i}" for i in range(5)]))
    a.varm["desurv_W"] = W
    return a


def test_top_genes_specificity_by_hand():
    a = _adata_with_W()
    tab = tl.top_genes(a, n_top=2)
    assert list(tab.columns) == ["factor", "rank", "gene", "weight", "score"]
    # every column max is 4; scaled W = W / 4. Factor 1 scores: g0 1 - .25 = .75,
    # g1 .5 - .5 = 0, g2 .25 - 1 = -.75, g4 .75 - .75 = 0 (g3 has weight 0: not eligible).
    f1 = tab[tab["factor"] == 1]
    assert f1["gene"].tolist() == ["g0", "g1"]  # g1 and g4 tie at 0: var order
    np.testing.assert_allclose(f1["score"], [0.75, 0.0])
    np.testing.assert_allclose(f1["weight"], [4.0, 2.0])
    # factor 3: g3 .5 - .25 = .25, g2 1 - 1 = 0, g0 .25 - 1 = -.75
    f3 = tab[tab["factor"] == 3]
    assert f3["gene"].tolist() == ["g3", "g2"]
    np.testing.assert_allclose(f3["score"], [0.25, 0.0])
    assert f3["rank"].tolist() == [1, 2]
    stored = a.uns["desurv_top_genes"]
    assert stored["method"] == "specificity" and stored["n_top"] == 2
    pd.testing.assert_frame_equal(tl._top_genes.top_genes_table(a), tab)


def test_top_genes_by_weight_and_positive_only():
    a = _adata_with_W()
    tab = tl.top_genes(a, n_top=10, method="weight", key_added="w_top")
    f1 = tab[tab["factor"] == 1]
    assert f1["gene"].tolist() == ["g0", "g4", "g1", "g2"]  # g3 has weight 0
    np.testing.assert_allclose(f1["weight"], [4, 3, 2, 1])
    assert "w_top" in a.uns


def test_top_genes_errors():
    a = ad.AnnData(np.ones((2, 3)))
    with pytest.raises(KeyError, match="run desurv.tl.fit"):
        tl.top_genes(a)
    b = _adata_with_W()
    with pytest.raises(ValueError, match="method"):
        tl.top_genes(b, method="max")
    with pytest.raises(ValueError, match="n_top"):
        tl.top_genes(b, n_top=0)
