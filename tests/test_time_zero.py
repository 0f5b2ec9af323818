"""A follow-up time of 0 is valid survival data everywhere; negative times are refused with the
one message of ``desurv._validation.check_survival`` wherever they enter.

R's ``coxph`` and ``concordance`` accept a time of 0 (only the order of the times enters);
the Python twins must give the same numbers on such data (tolerances as in
tests/test_survival_r.py: Cox coefficients 1e-6 relative, C-index exact up to rounding).
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from desurv import DeSurv, tl
from desurv.exceptions import DeSurvWarning
from desurv.metrics import concordance_index
from tests._rhelpers import require_r

NEGATIVE = r"time must be finite and >= 0 \(0 is a valid follow-up time\)"


def _cohort(seed: int = 0, n: int = 60, p: int = 25, n_zero: int = 4):
    rng = np.random.default_rng(seed)
    Z = rng.gamma(2.0, 1.0, (n, 3))
    X = Z @ rng.gamma(1.0, 1.0, (3, p)) + rng.gamma(1.0, 0.1, (n, p))
    lp = 0.8 * (Z[:, 0] - Z[:, 0].mean())
    time = np.ceil(rng.exponential(np.exp(-lp)) * 12)  # months >= 1, with ties
    time[:n_zero] = 0.0  # died or censored on the day of diagnosis
    event = (rng.random(n) < 0.75).astype(int)
    event[:2] = 1
    samples = [f"s{i:02d}" for i in range(n)]
    genes = [f"g{j:02d}" for j in range(p)]
    obs = pd.DataFrame({"time": time, "event": event, "x": lp + rng.normal(0, 0.5, n)})
    obs.index = samples
    return pd.DataFrame(X, index=samples, columns=genes), obs


def _fit_kw():
    return dict(alpha=0.5, max_iter=120, random_state=0)


def test_desurv_fit_accepts_time_zero():
    X, obs = _cohort()
    assert (obs.time == 0).sum() == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        model = DeSurv(2, **_fit_kw()).fit(X, obs.time, obs.event)
        # a time of 0 orders like the smallest positive time: the same fit
        shifted = obs.time.where(obs.time > 0, obs.time[obs.time > 0].min() / 2)
        ref = DeSurv(2, **_fit_kw()).fit(X, shifted, obs.event)
    np.testing.assert_allclose(model.coef_std_, ref.coef_std_, rtol=1e-10, atol=1e-12)
    assert model.train_cindex_ == ref.train_cindex_


def test_tl_fit_accepts_time_zero():
    X, obs = _cohort(1)
    adata = ad.AnnData(X, obs=obs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(adata, "time", "event", n_components=2, **_fit_kw())
    assert np.isfinite(adata.obs["desurv_risk"]).all()
    assert 0 < adata.uns["desurv"]["train_cindex"] < 1


def test_metrics_and_tl_survival_accept_time_zero():
    _, obs = _cohort(2)
    c = concordance_index(obs.time, obs.event, obs.x)
    assert 0.5 < c < 1
    res = tl.survival(obs, "x", time_key="time", event_key="event", score_key="x")
    assert np.isfinite(res.cox["coefficients"]["coef"].to_numpy()).all()
    assert res.concordance["concordance"] == pytest.approx(c, abs=1e-15)


@pytest.mark.needs_r
def test_time_zero_gives_r_numbers():
    rb = require_r()
    _, obs = _cohort(3, n=120, n_zero=8)
    r_cox = rb.coxph(obs.time, obs.event, obs[["x"]])
    py = tl.survival(obs, "x", time_key="time", event_key="event", score_key="x")
    coef_py = float(py.cox["coefficients"]["coef"].iloc[0])
    coef_r = float(r_cox["coefficients"]["coef"].iloc[0])
    assert coef_py == pytest.approx(coef_r, rel=1e-6)
    r_c = rb.concordance(obs.time, obs.event, obs.x)["concordance"]
    assert concordance_index(obs.time, obs.event, obs.x) == pytest.approx(r_c, abs=1e-12)


def test_negative_times_are_refused_with_one_message_everywhere():
    X, obs = _cohort(4)
    bad = obs.copy()
    bad.loc["s05", "time"] = -1.0
    with pytest.raises(ValueError, match=NEGATIVE + r".*s05"):
        DeSurv(2, **_fit_kw()).fit(X, bad.time, bad.event)
    with pytest.raises(ValueError, match=NEGATIVE + r".*s05"):
        tl.fit(ad.AnnData(X, obs=bad), "time", "event", n_components=2, **_fit_kw())
    with pytest.raises(ValueError, match=NEGATIVE):
        concordance_index(bad.time, bad.event, bad.x)
    with pytest.raises(ValueError, match=NEGATIVE):
        tl.survival(bad, "x", time_key="time", event_key="event")
    with pytest.raises(ValueError, match=NEGATIVE):
        DeSurv(2, variant="r-desurv", max_iter=5).fit(X, bad.time, bad.event)
