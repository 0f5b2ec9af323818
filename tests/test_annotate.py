"""Tests of desurv.tl.annotate_programs on a hand-made case."""

from __future__ import annotations

from math import comb

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import tl


def _fitted_by_hand() -> ad.AnnData:
    genes = [f"g{i}" for i in range(20)]
    W = np.zeros((20, 2))
    W[0:5, 0] = [5, 4, 3, 2, 1]  # factor 1 top genes g0..g4
    W[10:15, 1] = [5, 4, 3, 2, 1]  # factor 2 top genes g10..g14
    a = ad.AnnData(np.ones((3, 20)), var=pd.DataFrame(index=genes))
    a.varm["desurv_W"] = W
    a.uns["desurv"] = {"genes": np.array(genes, dtype=object), "beta": np.array([1.0, -1.0])}
    tl.top_genes(a, n_top=5, method="weight")
    return a


def _hyper_sf(k: int, M: int, n: int, N: int) -> float:
    return sum(comb(n, x) * comb(M - n, N - x) for x in range(k, min(n, N) + 1)) / comb(M, N)


def test_annotate_programs_overlap_jaccard_hypergeom_bh():
    a = _fitted_by_hand()
    programs = pd.DataFrame(
        {
            "schema": ["S"] * 11 + ["T"] * 5,
            "program": ["P1"] * 5 + ["P2"] * 6 + ["Q"] * 5,
            # P1: 4 of factor 1's top genes + g10; P2: g15..g19 + OUTSIDE (not in universe)
            "gene": ["g0", "g1", "g2", "g3", "g10", "g15", "g16", "g17", "g18", "g19",
                     "OUTSIDE", "g11", "g12", "g5", "g6", "g7"],
        }
    )
    res = tl.annotate_programs(a, programs, min_size=5)
    assert set(res.columns) >= {"factor", "schema", "program", "overlap", "jaccard", "pval",
                                "qval", "rank", "genes", "n_program", "n_top"}
    r = res.set_index(["factor", "program"])
    assert r.loc[(1, "P1"), "overlap"] == 4
    assert r.loc[(1, "P1"), "n_program"] == 5
    assert r.loc[(2, "P2"), "n_program"] == 5  # OUTSIDE is not in the universe
    assert r.loc[(1, "P1"), "jaccard"] == pytest.approx(4 / 6)
    assert r.loc[(1, "P1"), "genes"] == "g0,g1,g2,g3"
    p_expected = {
        (1, "P1"): _hyper_sf(4, 20, 5, 5),
        (1, "P2"): 1.0,
        (1, "Q"): 1.0,
        (2, "P1"): _hyper_sf(1, 20, 5, 5),
        (2, "P2"): 1.0,
        (2, "Q"): _hyper_sf(2, 20, 5, 5),
    }
    for idx, p in p_expected.items():
        assert r.loc[idx, "pval"] == pytest.approx(p, rel=1e-10)
    # Benjamini-Hochberg by hand over the 6 tests
    ps = np.array(list(p_expected.values()))
    order = np.argsort(ps)
    q = ps[order] * len(ps) / np.arange(1, len(ps) + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    q_expected = np.empty_like(q)
    q_expected[order] = np.minimum(q, 1)
    for idx, qe in zip(p_expected, q_expected):
        assert r.loc[idx, "qval"] == pytest.approx(qe, rel=1e-10)
    assert r.loc[(1, "P1"), "rank"] == 1 and r.loc[(2, "Q"), "rank"] == 1
    assert "desurv_programs" in a.uns and a.uns["desurv_programs"]["n_universe"] == 20


def test_annotate_programs_result_survives_h5ad(tmp_path):
    a = _fitted_by_hand()
    res = tl.annotate_programs(a, {"P": ["g0", "g1", "g2", "g3", "g10"]})
    a.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    stored = pd.DataFrame(dict(back.uns["desurv_programs"]["table"]))[res.columns]
    pd.testing.assert_frame_equal(stored, res, check_dtype=False)


def test_annotate_programs_inputs_and_errors(tmp_path):
    a = _fitted_by_hand()
    res = tl.annotate_programs(a, {"P": ["g0", "g1", "g2", "g3", "g4"]})
    assert res.loc[(res["factor"] == 1) & (res["program"] == "P"), "overlap"].item() == 5
    path = tmp_path / "p.csv"
    pd.DataFrame({"schema": "S", "program": "P", "gene": ["g0", "g1", "g2", "g3", "g4"]}).to_csv(
        path, index=False
    )
    assert len(tl.annotate_programs(a, path)) == 2
    with pytest.raises(KeyError, match="lacks columns"):
        tl.annotate_programs(a, pd.DataFrame({"name": ["x"]}))
    with pytest.raises(ValueError, match="min_size"):
        tl.annotate_programs(a, {"P": ["g0", "XX"]})
    with pytest.raises(KeyError, match="top_genes"):
        b = ad.AnnData(np.ones((2, 2)))
        b.uns["desurv"] = {"genes": np.array(["a", "b"], dtype=object)}
        tl.annotate_programs(b, {"P": ["a"]})
