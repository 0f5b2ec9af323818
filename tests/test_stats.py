"""The statistics engines in ``desurv.stats``: one home per engine, the public names that
re-export them, the shared helpers (result type, ``as_frame``, input checks), time 0, and the
log-rank test behind ``pl.kaplan_meier``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import desurv
from desurv import stats
from desurv.stats import Result, concordance_counts, cox_ph, logrank_test
from tests._rhelpers import (
    assert_fresh_import_loads_none_of,
    clustered_data,
    require_r,
    simulate_survival,
)

ROOT = Path(__file__).resolve().parents[1]
NEGATIVE = r"time must be finite and >= 0 \(0 is a valid follow-up time\)"
TIES = r"ties must be 'efron' \(R's coxph default\) or 'breslow'"


@pytest.fixture(scope="module")
def cohort():
    return simulate_survival(n=120, seed=4)


def test_stats_imports_neither_anndata_nor_rpy2():
    assert_fresh_import_loads_none_of("desurv.stats, desurv.metrics", ("anndata", "rpy2"))


def test_public_names_reach_the_one_engine():
    from desurv import metrics, tl
    from desurv.tl import _consensus, _survival

    assert desurv.stats is stats and set(stats.__all__) <= set(dir(stats))
    assert metrics.concordance_index is stats.concordance_index
    assert metrics.concordance_counts is stats.concordance_counts
    assert metrics.timefix is stats.timefix
    assert _survival.cox_ph is stats.cox_ph and _survival.logrank_test is stats.logrank_test
    assert _consensus.consensus_cluster_python is stats.consensus_cluster_python
    assert _consensus.consensus_figures is stats.consensus_figures
    assert _consensus.cohort_weights is stats.cohort_weights
    assert callable(tl.survival) and callable(tl.consensus_cluster)
    # no private copies left in the wrappers
    for mod in (_survival, _consensus):
        for name in ("_h5ad_safe", "_is_anndata", "_as_frame", "_kmeans", "_CoxData"):
            assert not hasattr(mod, name), (mod.__name__, name)


def test_one_result_base_class(cohort):
    from desurv.tl._consensus import ConsensusResult
    from desurv.tl._survival import SurvivalResult

    assert issubclass(SurvivalResult, Result) and issubclass(ConsensusResult, Result)
    res = desurv.tl.survival(cohort, "x1")
    assert isinstance(res, SurvivalResult) and res.cox is res["cox"]
    assert "cox" in dir(res)
    with pytest.raises(AttributeError):
        res.nope  # noqa: B018
    assert getattr(res, "nope", 7) == 7
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is SurvivalResult and back.params == res.params


def test_one_as_frame_shared_with_r_bridge():
    from r_bridge import _survival as rsurv
    from r_bridge._frames import as_frame

    assert rsurv.as_frame is as_frame and not hasattr(rsurv, "_as_frame")
    df = as_frame(np.arange(6.0).reshape(3, 2), 3, "x", what="covariates")
    assert list(df.columns) == ["x1", "x2"] and list(df.index) == [0, 1, 2]
    assert as_frame(None, 4).shape == (4, 0)
    s = pd.Series([1, 2, 3], index=[7, 8, 9], name="age")
    assert list(as_frame(s, 3).columns) == ["age"] and list(as_frame(s, 3).index) == [0, 1, 2]
    with pytest.raises(ValueError, match="strata: expected 3 rows"):
        as_frame([1, 2], 3, what="strata")
    # the R side names array covariates as the Python twin does
    _, terms = rsurv._design(np.ones((3, 2)), 3)
    assert terms == ["x1", "x2"]


def test_time_zero_is_accepted_by_every_engine(cohort):
    t = cohort["time"].to_numpy(float).copy()
    e = cohort["event"].to_numpy()
    t[:5] = 0.0
    shifted = np.where(t == 0, t[t > 0].min() / 2, t)  # same order, positive
    a = cox_ph(t, e, cohort[["x1", "x2"]], cohort["stratum"])
    b = cox_ph(shifted, e, cohort[["x1", "x2"]], cohort["stratum"])
    np.testing.assert_allclose(a["coefficients"]["coef"], b["coefficients"]["coef"], rtol=1e-10)
    la, lb = logrank_test(t, e, cohort["grp"]), logrank_test(shifted, e, cohort["grp"])
    assert la["chisq"] == pytest.approx(lb["chisq"], rel=1e-12)
    assert concordance_counts(t, e, cohort["x1"]) == concordance_counts(shifted, e, cohort["x1"])


def test_negative_times_and_bad_ties_are_refused_with_one_message(cohort):
    import r_bridge

    t = cohort["time"].to_numpy(float).copy()
    e = cohort["event"].to_numpy()
    t[3] = -1.0
    x = cohort[["x1"]]
    with pytest.raises(ValueError, match="cox_ph: " + NEGATIVE):
        cox_ph(t, e, x)
    with pytest.raises(ValueError, match="logrank_test: " + NEGATIVE):
        logrank_test(t, e, cohort["grp"])
    with pytest.raises(ValueError, match="concordance: " + NEGATIVE):
        concordance_counts(t, e, cohort["x1"])
    bad = cohort.assign(time=t).set_axis([f"p{i}" for i in range(len(t))])
    with pytest.raises(ValueError, match="survival: " + NEGATIVE + ".*p3"):
        desurv.tl.survival(bad, "x1")
    # r_bridge refuses them before R is involved (no R needed for these)
    for call in (
        lambda: r_bridge.coxph(t, e, x),
        lambda: r_bridge.survdiff(t, e, cohort["grp"]),
        lambda: r_bridge.concordance(t, e, cohort["x1"]),
    ):
        with pytest.raises(ValueError, match=NEGATIVE):
            call()
    good = cohort["time"].to_numpy(float)
    for call in (
        lambda: cox_ph(good, e, x, ties="exact"),
        lambda: desurv.tl.survival(cohort, "x1", ties="exact"),
        lambda: r_bridge.coxph(good, e, x, ties="exact"),
    ):
        with pytest.raises(ValueError, match=TIES):
            call()


def test_kmeans_is_scikit_learns_and_reproducible():
    from sklearn.cluster import KMeans

    from desurv.stats import _consensus

    assert _consensus.KMeans is KMeans
    X, _ = clustered_data()
    kw = dict(max_k=3, reps=8, cluster_alg="km", distance="euclidean", p_feature=0.8)
    a = stats.consensus_cluster_python(X, seed=3, **kw)
    b = stats.consensus_cluster_python(X, seed=3, **kw)
    for k in (2, 3):
        np.testing.assert_array_equal(a["consensus"][k], b["consensus"][k])


def test_kaplan_meier_p_is_our_logrank():
    import matplotlib

    matplotlib.use("Agg")
    import anndata as ad
    import matplotlib.pyplot as plt
    from lifelines.statistics import multivariate_logrank_test

    df = simulate_survival(n=90, seed=2)
    df.index = [f"s{i}" for i in range(len(df))]
    adata = ad.AnnData(np.zeros((len(df), 1)), obs=df)
    try:
        ax = desurv.pl.kaplan_meier(adata, "grp", at_risk=False)
    finally:
        plt.close("all")
    ours = logrank_test(df["time"], df["event"], df["grp"])["p"]
    assert ax.desurv_logrank_p == ours
    ref = multivariate_logrank_test(df["time"], df["grp"], df["event"]).p_value
    assert ours == pytest.approx(ref, rel=1e-8)


@pytest.mark.needs_r
def test_survdiff_with_time_zero_matches_r(cohort):
    rb = require_r()
    t = cohort["time"].to_numpy(float).copy()
    t[:6] = 0.0
    e = cohort["event"].to_numpy()
    for strata in (None, cohort["stratum"]):
        py = logrank_test(t, e, cohort["grp"], strata)
        r = rb.survdiff(t, e, cohort["grp"], strata)
        assert abs(py["chisq"] - r["chisq"]) < 1e-8
        pd.testing.assert_frame_equal(py["table"], r["table"], rtol=1e-12)
