"""The house rules of the estimator: every documented fitted attribute is set by fit, unfitted
use raises scikit-learn's NotFittedError, the one input checks are the ones used."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from desurv import DeSurv, _validation
from desurv._core import beta as core_beta
from desurv._core import solver
from desurv.exceptions import DeSurvWarning
from desurv.simulate import simulate


@pytest.fixture(scope="module")
def data():
    d = simulate(
        "primary", n_genes=300, n_markers=30, n_background=40, n_samples=60, random_state=1
    )
    return d.X, d.time, d.event


def _documented_attributes() -> list[str]:
    doc = DeSurv.__doc__
    section = doc[doc.index("Attributes\n    ----------") : doc.index("Notes\n    -----")]
    name = r"[A-Za-z_][A-Za-z0-9_]*_"
    names = re.findall(rf"^    ({name}(?:, {name})*) :", section, re.M)
    return [n.strip() for group in names for n in group.split(",")]


@pytest.mark.parametrize(
    ("variant", "only"),
    [("default", set()), ("r-desurv", {"r_loss_history_", "r_final_loss_"})],
)
def test_fit_sets_every_documented_attribute(data, variant, only):
    X, t, e = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        m = DeSurv(3, alpha=0.5, max_iter=30, n_init=2, variant=variant, random_state=0)
        m.fit(X, t, e)
    names = _documented_attributes()
    assert {"W_", "coef_std_", "train_scores_", "init_scores_", "sample_names_"} <= set(names)
    for name in names:
        if name in {"r_loss_history_", "r_final_loss_"} and variant == "default":
            assert not hasattr(m, name)
            continue
        assert hasattr(m, name), name
    np.testing.assert_allclose(m.train_scores_, m.transform(X), rtol=1e-12)
    np.testing.assert_allclose(m.coef_std_, m.coef_ * m.sd_z_, rtol=1e-12)
    if variant != "default":
        return
    # a refit without several starts drops what no longer applies
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        m.set_params(n_init=1).fit(X, t, e)
    assert not hasattr(m, "init_scores_")


def test_unfitted_use_raises_not_fitted_error(data):
    X, _, _ = data
    for method in ("transform", "predict"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(DeSurv(), method)(X)


def test_one_check_each():
    """The R variant, compat and the estimator share the one survival / hyperparameter /
    ties checks (the same function objects), and the beta subproblem has its own module."""
    from desurv import compat
    from desurv._core import cox, rdesurv

    assert rdesurv.check_survival is _validation.check_survival
    assert compat.check_survival is _validation.check_survival
    assert rdesurv.check_model_values is compat.check_model_values
    assert _validation.check_ties is cox.check_ties
    assert solver.solve_beta is core_beta.solve_beta


def test_all_zero_column_of_W0_is_refused(data):
    X, t, e = data
    W0 = np.ones((X.shape[1], 3))
    W0[:, 1] = 0.0
    with pytest.raises(ValueError, match=r"W0 has all-zero column\(s\) \[1\]"):
        DeSurv(3).fit(X, t, e, W0=W0, H0=np.ones((3, X.shape[0])))


def test_tl_fit_with_a_generator_seed_writes_h5ad(tmp_path, data):
    """random_state may be a numpy Generator (documented): the record stays h5ad-writable."""
    import anndata as ad

    from desurv import tl

    X, t, e = data
    adata = ad.AnnData(X.copy())
    adata.obs["time"], adata.obs["event"] = t.to_numpy(), e.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(adata, n_components=2, max_iter=20, random_state=np.random.default_rng(0))
    assert "Generator" in adata.uns["desurv"]["params"]["random_state"]
    adata.write_h5ad(tmp_path / "fit.h5ad")
    back = ad.read_h5ad(tmp_path / "fit.h5ad")
    np.testing.assert_allclose(back.varm["desurv_W"], adata.varm["desurv_W"])
