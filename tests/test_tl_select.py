"""desurv.tl.select on AnnData: the search, what it writes, the refit, the leak warning."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import tl
from desurv.exceptions import DataWarning, DeSurvWarning
from desurv.selection import DeSurvSearch, FoldPreprocess
from desurv.simulate import simulate


@pytest.fixture(scope="module")
def cohort():
    d = simulate("primary", random_state=0, n_genes=300, n_markers=30, n_background=60)
    tr = d.train
    obs = pd.DataFrame(
        {"time": d.time[tr].to_numpy(), "event": d.event[tr].to_numpy().astype(int)},
        index=d.X.loc[tr].index.astype(str),
    )
    obs["batch"] = np.where(np.arange(obs.shape[0]) % 3 == 0, "a", "b")
    return ad.AnnData(d.X.loc[tr].to_numpy(), obs=obs, var=pd.DataFrame(index=d.X.columns))


KW = dict(n_components=[2, 3], alpha=[0.0, 0.8], n_folds=3, n_starts=2, max_iter=100,
          random_state=0, progress=False)  # fmt: skip


def test_select_equals_the_search_on_arrays_and_writes_its_record(cohort):
    a = cohort.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        res = tl.select(a, "time", "event", filter_genes=150, transform="rank", **KW)
        arr = DeSurvSearch(
            n_components=[2, 3], alpha=[0.0, 0.8], n_folds=3, n_starts=2, max_iter=100,
            random_state=0, progress=False,
            preprocess=FoldPreprocess(n_top_genes=150, transform="rank"),
        ).fit(a.X, a.obs["time"].to_numpy(), a.obs["event"].to_numpy())  # fmt: skip
    pd.testing.assert_frame_equal(res.table, arr.result_.table, check_exact=True)
    rec = a.uns["desurv_select"]
    assert rec["k_1se"] == res.k_1se_
    assert rec["best_params"]["alpha"] == res.best_params_["alpha"]
    np.testing.assert_array_equal(rec["folds"], res.folds_)
    assert len(res.table) == 4 * 3 and set(res.table["fold"]) == {0, 1, 2}
    import tempfile  # the record holds only h5ad types: writing must work
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        a.write_h5ad(Path(tmp) / "a.h5ad")


def test_select_refit_writes_the_final_model_at_the_chosen_setting(cohort):
    a = cohort.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        res, out = tl.select(a, filter_genes=150, transform="rank", refit="1se", copy=True, **KW)
    assert "desurv" not in a.uns and "desurv" in out.uns
    assert out.uns["desurv"]["n_components"] == res.k_1se_
    assert out.uns["desurv"]["params"]["alpha"] == res.params_1se_["alpha"]
    used = out.var["desurv_used"].to_numpy()
    assert used.sum() == 150  # the filter refitted on all samples
    # the final model was fitted on the ranks of the kept genes, stored as a layer
    lay = out.layers["desurv_input"]
    assert np.all(lay[:, ~used] == 0) and lay[:, used].max() == pytest.approx(1.0)


def test_select_warns_when_the_genes_were_filtered_on_all_samples(cohort):
    import desurv

    a = cohort.copy()
    desurv.pp.filter_genes(a, n_top=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        warnings.simplefilter("error", DataWarning)
        with pytest.raises(DataWarning, match="inside each fold"):
            tl.select(a, **KW)


def test_select_stratifies_by_cohort_and_names_a_missing_column(cohort):
    a = cohort.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        res = tl.select(a, cohort_key="batch", **KW)
    folds = res.folds_
    for b in ("a", "b"):
        sizes = np.bincount(folds[a.obs["batch"].to_numpy() == b], minlength=3)
        assert sizes.max() - sizes.min() <= 2
    with pytest.raises(KeyError, match="cohort_key='nope'"):
        tl.select(a, cohort_key="nope", **KW)
    with pytest.raises(ValueError, match="refit"):
        tl.select(a, refit="sometimes", **KW)


@pytest.mark.parametrize("transform", ["rank", "quantile"])
def test_refit_records_the_in_fold_transform_so_scoring_reproduces_it(cohort, transform):
    """The refit of a search with transform= was fitted on transformed values (layer
    desurv_input) but its record listed only the earlier steps: tl.score then projected new
    cohorts untransformed onto a W trained on ranks, silently. Scoring the training cohort
    itself must reproduce its stored scores."""
    a = cohort.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.select(a, n_components=[2], alpha=[0.5], n_folds=2, n_starts=1, max_iter=40,
                  filter_genes=60, transform=transform, random_state=0, refit=True,
                  progress=False)  # fmt: skip
    steps = list(a.uns["desurv"]["preprocessing"]["steps"])
    assert steps[-1] == {"rank": "rank_transform", "quantile": "quantile_normalize"}[transform]
    new = ad.AnnData(a.X.copy(), obs=a.obs.copy(), var=a.var[[]].copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tl.score(new, a)
    np.testing.assert_allclose(new.obsm["X_desurv"], a.obsm["X_desurv"], rtol=1e-10)
    np.testing.assert_allclose(new.obs["desurv_risk"], a.obs["desurv_risk"], rtol=1e-10)


def test_select_refit_from_the_consensus_seed(cohort):
    """refit_init="consensus": the refit is tl.fit(init="consensus") at the chosen setting
    (the paper's final model), with the chosen n_top as the seed's top genes."""
    a = cohort.copy()
    kw = {**KW, "n_top": [40]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        res = tl.select(a, refit="best", refit_init="consensus", refit_n_fits=4, **kw)
        b = cohort.copy()
        params = dict(res.best_params_)
        params.pop("lambda_w")
        params.pop("n_top")
        k = params.pop("n_components")
        tl.fit(b, "time", "event", k, init="consensus", consensus_n_fits=4, consensus_n_top=40,
               max_iter=100, tol=1e-5, warmup_tol=1e-5, random_state=res.seed_entropy,
               **params)  # fmt: skip
    rec = a.uns["desurv"]
    assert rec["init"] == "consensus" and rec["consensus"]["n_top"] == 40
    assert rec["consensus"]["n_fits"] == 4
    np.testing.assert_array_equal(a.varm["desurv_W"], b.varm["desurv_W"])
    with pytest.raises(ValueError, match="refit_init"):
        tl.select(a, refit=True, refit_init="nndsvd", **KW)
