"""Warm starts along the alpha path (``DeSurvSearch(warm_start="alpha")``).

The settings that differ only in alpha are fitted on each fold in increasing alpha, the first
from the fold's random starts, each next one from the previous alpha's fits. These tests
show that the chain is real (a fit started from the previous alpha's solution at almost the
same alpha stops at once, where a cold fit needs many iterations), that the first alpha of a
path is the cold fit itself, and that the search stays deterministic, parallel-safe and
resumable with paths as jobs.
"""

from __future__ import annotations

import json
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import desurv
from desurv.exceptions import DeSurvWarning
from desurv.selection import DeSurvSearch
from desurv.selection import _search as search_mod
from desurv.selection._evaluate import EvalConfig, evaluate_path, evaluate_unit

GRID = dict(
    n_components=[2, 3], alpha=[0.0, 0.5, 0.8], n_folds=3, n_starts=3, max_iter=300,
    score="full", random_state=0, progress=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def data(small_search_data):
    return small_search_data


@pytest.fixture(scope="module")
def cold(data):
    return DeSurvSearch(**GRID, n_jobs=1).fit(*data).result_


@pytest.fixture(scope="module")
def warm(data):
    return DeSurvSearch(**GRID, warm_start="alpha", n_jobs=1).fit(*data).result_


def _params(k: int, alpha: float) -> dict:
    return dict(
        n_components=k, alpha=alpha, lambda_=0.1, l1_ratio=0.5, lambda_w=0.0, lambda_h=0.0,
        n_top=None,
    )  # fmt: skip


def test_next_alpha_starts_from_the_previous_fits(data):
    """Two alphas 1e-9 apart: warm, the second fit starts at the first one's converged
    solution and stops in a fraction of the iterations a cold fit needs (measured: 45 against
    262 with "hals"; not 2, because the solver's step and gain state start afresh)."""
    X, t, e = data
    train = np.arange(len(t)) % 3 != 0
    path = [_params(3, 0.5), _params(3, 0.5 + 1e-9)]
    kw = dict(n_starts=3, max_iter=1000, tol=1e-5, score="full", solver="hals")
    warm = evaluate_path(X, t, e, train, path, 0, 0, EvalConfig(**kw, warm_start="alpha"))
    cold = evaluate_path(X, t, e, train, path, 0, 0, EvalConfig(**kw))
    assert warm[0]["converged"] == 1.0
    assert 3 * warm[1]["n_iter"] < cold[1]["n_iter"]
    # the first setting of a path is the cold fit, and evaluate_unit is a path of one
    assert warm[0]["start_cindex"] == cold[0]["start_cindex"]
    one = evaluate_unit(X, t, e, train, path[0], 0, 0, EvalConfig(**kw, warm_start="alpha"))
    assert one["start_cindex"] == cold[0]["start_cindex"]
    assert one["n_iter"] == cold[0]["n_iter"]


def test_warm_table_has_the_cold_layout_and_first_alphas(cold, warm):
    a, b = cold.table, warm.table
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(
        a[["setting", "n_components", "alpha", "fold"]],
        b[["setting", "n_components", "alpha", "fold"]],
    )
    first = a["alpha"] == 0.0  # the start of each path: fitted from the random starts
    pd.testing.assert_frame_equal(a[first], b[first], check_exact=True)
    later = ~first
    assert not np.array_equal(
        a.loc[later, "cindex"].to_numpy(), b.loc[later, "cindex"].to_numpy()
    )
    assert warm.config["config"]["warm_start"] == "alpha"
    assert "warm_start" not in cold.config["config"]  # stores of cold searches read as before


def test_warm_search_identical_for_n_jobs_1_and_2(data, warm):
    par = DeSurvSearch(**GRID, warm_start="alpha", n_jobs=2).fit(*data).result_
    pd.testing.assert_frame_equal(warm.table, par.table, check_exact=True)
    pd.testing.assert_frame_equal(warm.summary, par.summary, check_exact=True)
    assert warm.best_params_ == par.best_params_ and warm.k_1se_ == par.k_1se_


def test_warm_search_resumes_a_path_from_its_store(data, warm, tmp_path, monkeypatch):
    store = tmp_path / "s"
    DeSurvSearch(**GRID, warm_start="alpha", n_jobs=1, store=store).fit(*data)
    files = sorted((store / "units").glob("*.json"))
    assert len(files) == len(warm.table)
    lost = [p for p in files if json.loads(p.read_text())["params"]["alpha"] == 0.8][0]
    lost_rec = json.loads(lost.read_text())
    lost.unlink()
    calls = []

    def counting(X, t, e, train, path, *args, **kwargs):
        calls.append(([p["alpha"] for p in path], path[0]["n_components"]))
        return evaluate_path(X, t, e, train, path, *args, **kwargs)

    monkeypatch.setattr(search_mod, "evaluate_path", counting)
    again = DeSurvSearch(**GRID, warm_start="alpha", n_jobs=1, store=store).fit(*data).result_
    # only the path holding the lost unit is fitted again, whole (its later alphas need it)
    assert calls == [([0.0, 0.5, 0.8], lost_rec["params"]["n_components"])]
    assert lost.is_file()
    pd.testing.assert_frame_equal(warm.table, again.table, check_exact=True)


def test_tl_select_passes_warm_start(data, warm):
    X, t, e = data
    obs = pd.DataFrame({"time": t, "event": e}, index=[f"s{i}" for i in range(len(t))])
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    adata = ad.AnnData(X=X, obs=obs, var=var)
    kw = {k: v for k, v in GRID.items()}
    res = desurv.tl.select(adata, "time", "event", **kw, warm_start="alpha", n_jobs=1)
    pd.testing.assert_frame_equal(res.table, warm.table, check_exact=True)
    rec = adata.uns["desurv_select"]
    assert rec["warm_start"] == "alpha" and rec["solver"] == "hals"


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(warm_start="lambda"), "warm_start must be one of"),
        (dict(warm_start="alpha", method="bayes", n_trials=2, n_initial=2), "needs method='grid'"),
    ],
)
def test_bad_warm_start_is_refused(data, kw, match):
    grid = {k: v for k, v in GRID.items() if k not in ("n_components", "alpha")}
    if kw.get("method") == "bayes":
        grid.update(n_components=(2, 3), alpha=(0.0, 0.9))
    with pytest.raises(ValueError, match=match):
        DeSurvSearch(**grid, **kw).fit(*data)


def test_tl_fit_warm_continues_the_stored_fit(data):
    """tl.fit(init="warm") starts from the fit under key_added: at the same alpha it stops at
    once; another k or gene set is refused."""
    X, t, e = data
    obs = pd.DataFrame({"time": t, "event": e}, index=[f"s{i}" for i in range(len(t))])
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))
    kw = dict(alpha=0.5, max_iter=3000, tol=1e-5, solver="hals", random_state=0)
    desurv.tl.fit(adata, n_components=3, n_init=2, **kw)
    first = adata.uns["desurv"]
    assert first["converged"]
    W_first = adata.varm["desurv_W"].copy()
    desurv.tl.fit(adata, n_components=3, init="warm", warmup_iter=0, **kw)
    rec = adata.uns["desurv"]
    assert rec["init"] == "warm"
    assert 3 * rec["n_iter"] < first["n_iter"]
    np.testing.assert_allclose(adata.varm["desurv_W"], W_first, atol=0.05)
    with pytest.raises(ValueError, match="k=3"):
        desurv.tl.fit(adata, n_components=2, init="warm", **kw)
    with pytest.raises(ValueError, match="same genes"):
        desurv.tl.fit(adata, n_components=3, init="warm", genes=adata.var_names[:100], **kw)
    with pytest.raises(KeyError, match="fit it first"):
        desurv.tl.fit(adata, n_components=3, init="warm", key_added="other", **kw)


def test_tl_select_refit_follows_the_alpha_path(data):
    """With warm_start="alpha" the refit fits the searched alphas up to the chosen one, each
    from the previous fit, and records the path; it equals that chain of tl.fit calls."""
    X, t, e = data
    obs = pd.DataFrame({"time": t, "event": e}, index=[f"s{i}" for i in range(len(t))])
    var = pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])])
    a = ad.AnnData(X=X, obs=obs, var=var)
    kw = {k: v for k, v in GRID.items() if k != "n_components"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        res = desurv.tl.select(
            a, n_components=3, **kw, warm_start="alpha", refit="best", n_jobs=1
        )
    chosen = res.best_params_["alpha"]
    path = [x for x in (0.0, 0.5, 0.8) if x <= chosen]
    assert len(path) > 1  # this data and seed choose an alpha > 0
    rec = a.uns["desurv"]
    np.testing.assert_array_equal(rec["alpha_path"], path)
    assert rec["init"] == "warm"
    b = ad.AnnData(X=X, obs=obs.copy(), var=var.copy())
    common = dict(max_iter=GRID["max_iter"], tol=1e-5, random_state=res.seed_entropy,
                  lambda_=0.1, l1_ratio=0.5, lambda_h=0.0)  # fmt: skip
    for i, alpha in enumerate(path):
        step = dict(n_init=GRID["n_starts"], warmup_iter=50) if i == 0 else dict(
            init="warm", warmup_iter=0)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeSurvWarning)
            desurv.tl.fit(b, "time", "event", 3, alpha=alpha, **common, **step)
    np.testing.assert_array_equal(a.varm["desurv_W"], b.varm["desurv_W"])
