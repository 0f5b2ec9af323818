"""DeSurv inside scikit-learn's model selection: a single structured ``y`` (scikit-survival's
``Surv.from_arrays`` convention: fields event and time) for fit and score, so that
``cross_val_score`` and ``GridSearchCV`` run."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from desurv import DeSurv
from desurv.exceptions import DeSurvWarning
from desurv.simulate import simulate


@pytest.fixture(scope="module")
def data():
    d = simulate(
        "primary", n_genes=300, n_markers=30, n_background=40, n_samples=90, random_state=2
    )
    y = np.empty(90, dtype=[("event", bool), ("time", float)])
    y["event"] = d.event.to_numpy() == 1
    y["time"] = d.time.to_numpy()
    return d.X.to_numpy(), y, d


def _model(**kw):
    params = dict(alpha=0.5, max_iter=80, random_state=0)
    params.update(kw)
    return DeSurv(2, **params)


def test_structured_y_equals_time_and_event(data):
    X, y, d = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        a = _model().fit(X, y)
        b = _model().fit(X, d.time.to_numpy(), d.event.to_numpy())
    np.testing.assert_array_equal(a.W_, b.W_)
    assert a.score(X, y) == b.score(X, d.time.to_numpy(), d.event.to_numpy())
    # other field names are told apart by their dtypes; a DataFrame with time/event works
    y2 = np.empty(90, dtype=[("status", bool), ("days", float)])
    y2["status"], y2["days"] = y["event"], y["time"]
    assert a.score(X, y2) == a.score(X, y)
    frame = pd.DataFrame({"time": y["time"], "event": y["event"].astype(int)})
    assert a.score(X, frame) == a.score(X, y)


def test_cross_val_score_and_grid_search_run(data):
    X, y, _ = data
    cv = KFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        scores = cross_val_score(_model(), X, y, cv=cv)
        grid = GridSearchCV(_model(), {"alpha": [0.0, 0.8]}, cv=cv).fit(X, y)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert np.all((scores > 0) & (scores < 1))
    assert grid.best_params_["alpha"] in (0.0, 0.8)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_a_single_y_without_event_is_explained(data):
    X, y, d = data
    with pytest.raises(TypeError, match="event is missing"):
        _model().fit(X, d.time.to_numpy())
    with pytest.raises(ValueError, match="without 'time' and 'event' columns"):
        _model().fit(X, pd.DataFrame({"os": y["time"]}))
