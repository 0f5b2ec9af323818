"""desurv.compat.desurv_fit: the R package's argument names onto DeSurv(variant="r-desurv")."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from desurv import compat
from desurv._core.rdesurv import fit_rdesurv, nnls_h0
from desurv.exceptions import ConvergenceWarning


def fit_quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return compat.desurv_fit(*args, **kwargs)


def small(seed: int = 0, p: int = 40, n: int = 30, k: int = 2):
    rng = np.random.default_rng(seed)
    X = rng.gamma(1.0, 1.0, size=(p, k)) @ rng.gamma(2.0, 1.0, size=(k, n))
    X += rng.gamma(1.0, 0.2, size=(p, n))
    y = rng.exponential(1.0, size=n) + 0.01
    d = (rng.random(n) < 0.7).astype(float)
    d[0] = 1.0
    return X, y, d


R_ARGS = dict(alpha=0.5, nu=0.5, lambdaW=0.1, lambdaH=0.1)


def _dispatch_wired() -> bool:
    """Whether DeSurv(variant="r-desurv").fit reaches desurv._core.rdesurv yet."""
    from desurv.estimator import DeSurv

    X, y, d = small(99, p=8, n=10, k=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DeSurv(1, variant="r-desurv", max_iter=1).fit(
                X.T, y, d, W0=np.ones((8, 1)), H0=np.ones((1, 10))
            )
    except NotImplementedError:
        return False
    return True


needs_dispatch = pytest.mark.skipif(
    not _dispatch_wired(),
    reason="DeSurv._fit_r_variant (desurv/estimator.py) does not call desurv._core.rdesurv yet",
)


@needs_dispatch
@pytest.mark.parametrize("n_iter", [5, 20])
def test_same_fit_as_r_from_given_start(r_reference, n_iter: int) -> None:
    """From the reference start, config A, an R user's call gives the package's numbers."""
    X = r_reference.X_frame  # genes x samples, as in R
    surv = r_reference.survival
    W0, H0, beta0 = r_reference.W0, r_reference.H0, r_reference.beta0
    fit = fit_quiet(
        X, surv["y"].to_numpy(), surv["d"].to_numpy(), 3,
        W0=W0, H0=H0, beta0=beta0, maxit=n_iter, tol=0.0, **R_ARGS, **{"lambda": 0.1},
    )
    run = r_reference.run("A_alpha0.5_pen", n_iter)
    assert fit.variant == "r-desurv"
    np.testing.assert_allclose(
        fit.W_, run.read("W.csv", index_col=0).to_numpy(), rtol=1e-8, atol=1e-12
    )
    np.testing.assert_allclose(
        fit.H_, run.read("H_original_order.csv", index_col=0).to_numpy(), rtol=1e-8
    )
    beta_ref = run.read("beta.csv", index_col=0)["beta"].to_numpy()
    np.testing.assert_allclose(fit.coef_, beta_ref, rtol=1e-8, atol=1e-12)
    trace = run.read("loss_trace.csv")
    np.testing.assert_allclose(fit.loss_history_["loss"].to_numpy(), trace["loss"], rtol=1e-8)
    assert fit.n_iter_ == n_iter
    assert list(fit.feature_names_in_) == list(X.index)  # genes kept from the R-style frame
    lp = run.read("linear_predictor.csv", index_col=0)["lp"].to_numpy()
    np.testing.assert_allclose(fit.predict(X.T), lp, rtol=1e-8)


@needs_dispatch
def test_argument_names_map_onto_the_estimator() -> None:
    X, y, d = small(1)
    fit = fit_quiet(
        X, y, d, 2, alpha=0.3, lambda_=0.2, nu=0.7, lambdaW=0.05, lambdaH=0.02,
        maxit=7, imaxit=3, ninit=2, tol=1e-5, seed=4,
    )
    params = fit.get_params()
    assert params["n_components"] == 2
    assert params["alpha"] == 0.3
    assert params["lambda_"] == 0.2
    assert params["l1_ratio"] == 0.7  # R's nu
    assert params["lambda_w"] == 0.05  # R's lambdaW
    assert params["lambda_h"] == 0.02  # R's lambdaH
    assert params["max_iter"] == 7
    assert params["init_max_iter"] == 3
    assert params["n_init"] == 2
    assert params["tol"] == 1e-5
    assert params["random_state"] == 4
    assert params["variant"] == "r-desurv"
    assert compat.R_TO_DESURV["nu"] == "l1_ratio"
    # X is genes x samples, as in R: W is genes x k, H is k x samples.
    assert fit.W_.shape == (X.shape[0], 2) and fit.H_.shape == (2, X.shape[1])


@needs_dispatch
def test_lambda_spellings() -> None:
    X, y, d = small(2)
    start = dict(W0=np.ones((X.shape[0], 2)), maxit=4, tol=0.0, **R_ARGS)
    a = fit_quiet(X, y, d, 2, lambda_=0.1, **start)
    b = fit_quiet(X, y, d, 2, **start, **{"lambda": 0.1})
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(TypeError, match="either lambda_ or lambda"):
        compat.desurv_fit(X, y, d, 2, lambda_=0.1, **start, **{"lambda": 0.1})
    with pytest.raises(TypeError, match="needs the Cox penalty"):
        compat.desurv_fit(X, y, d, 2, **start)
    with pytest.raises(TypeError, match="unexpected argument"):
        compat.desurv_fit(X, y, d, 2, lambda_=0.1, eta=0.5, **start)


@needs_dispatch
def test_w0_without_h0_uses_nnls_as_r_does() -> None:
    X, y, d = small(3)
    W0 = np.random.default_rng(0).random((X.shape[0], 2))
    fit = fit_quiet(X, y, d, 2, lambda_=0.1, W0=W0, maxit=6, tol=0.0, **R_ARGS)
    ref = fit_rdesurv(
        X, y, d, W0, nnls_h0(X, W0), np.zeros(2), alpha=0.5, lambda_=0.1, l1_ratio=0.5,
        lambda_w=0.1, lambda_h=0.1, max_iter=6, tol=0.0,
    )
    np.testing.assert_allclose(fit.W_, ref.W, rtol=1e-12)
    np.testing.assert_allclose(fit.H_, ref.H, rtol=1e-12)
    np.testing.assert_allclose(fit.coef_, ref.beta, rtol=1e-12, atol=1e-15)


@needs_dispatch
def test_multistart_is_reproducible_with_a_seed() -> None:
    X, y, d = small(4)
    kw = dict(lambda_=0.1, ninit=3, imaxit=3, maxit=6, tol=0.0, **R_ARGS)
    a = fit_quiet(X, y, d, 2, seed=11, **kw)
    b = fit_quiet(X, y, d, 2, random_state=11, **kw)
    np.testing.assert_array_equal(a.W_, b.W_)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(TypeError, match="either random_state or seed"):
        compat.desurv_fit(X, y, d, 2, seed=1, random_state=1, **kw)


BAD = [
    (dict(alpha=1.0), ValueError, r"alpha .*must be in \[0, 1\)"),
    (dict(alpha=-0.2), ValueError, r"alpha .*must be in \[0, 1\)"),
    (dict(alpha="0.5"), TypeError, "alpha must be a real number"),
    (dict(nu=1.5), ValueError, r"nu .* must be in \[0, 1\]"),
    (dict(lambdaW=-1.0), ValueError, "lambdaW is a penalty and must be a finite number >= 0"),
    (dict(lambdaH=-0.1), ValueError, "lambdaH is a penalty and must be a finite number >= 0"),
    (dict(lambda_=-0.1), ValueError, "lambda is a penalty and must be a finite number >= 0"),
    (dict(lambda_=float("inf")), ValueError, "lambda must be finite"),
    (dict(maxit=0), ValueError, "maxit must be an integer >= 1"),
    (dict(maxit=2.5), TypeError, "maxit must be an integer"),
    (dict(imaxit=0), ValueError, "imaxit must be an integer >= 1"),
    (dict(ninit=0), ValueError, "ninit must be an integer >= 1"),
    (dict(tol=-1e-6), ValueError, "tol must be >= 0"),
    (dict(tol_init=1e-3), ValueError, "tol_init"),
]


@pytest.mark.parametrize(("change", "error", "match"), BAD)
def test_bad_values_raise_instead_of_clipping(change, error, match) -> None:
    X, y, d = small(5)
    kw = dict(lambda_=0.1, maxit=3, imaxit=2, ninit=1, **R_ARGS)
    kw.update(change)
    with pytest.raises(error, match=match):
        compat.desurv_fit(X, y, d, 2, **kw)


def test_bad_data_raise() -> None:
    X, y, d = small(6)
    kw = dict(lambda_=0.1, maxit=3, imaxit=2, ninit=1, **R_ARGS)
    with pytest.raises(ValueError, match="k must be <= min"):
        compat.desurv_fit(X, y, d, 31, **kw)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        compat.desurv_fit(X, y, d, 0, **kw)
    with pytest.raises(ValueError, match="time must be finite and >= 0"):
        compat.desurv_fit(X, y - y.max(), d, 2, **kw)
    with pytest.raises(ValueError, match="requires survival times y > 0"):
        compat.desurv_fit(X, np.where(np.arange(y.size) == 0, 0.0, y), d, 2, **kw)
    with pytest.raises(ValueError, match="W0 must be supplied"):
        compat.desurv_fit(X, y, d, 2, H0=np.ones((2, X.shape[1])), **kw)
    with pytest.raises(ValueError, match="genes x samples"):
        compat.desurv_fit(X[0], y, d, 2, **kw)
    with pytest.raises(ValueError):
        compat.desurv_fit(-X, y, d, 2, **kw)
