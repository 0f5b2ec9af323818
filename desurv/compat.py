"""For users of the authors' R package DeSurv: its ``desurv_fit`` with its argument names.

:func:`desurv_fit` takes the R package's arguments (``X`` genes x samples as in R, ``y``,
``d``, ``k``, ``alpha``, ``lambda``, ``nu``, ``lambdaW``, ``lambdaH``, ``W0``, ``H0``,
``beta0``, ``tol``, ``tol_init``, ``maxit``, ``imaxit``, ``ninit``) and returns a fitted
:class:`desurv.DeSurv` with ``variant="r-desurv"``, which follows the package's algorithm step
by step (see ``docs/r_desurv_variant.md``). From the same ``W0``, ``H0``, ``beta0`` it gives
the same fit as R.

Name mapping (R -> desurv):

==============  ==================  ===========================================
R               desurv              meaning
==============  ==================  ===========================================
``X`` (p x n)   ``X.T`` (n x p)     expression; R and this function: genes x samples
``y``, ``d``    ``time``, ``event`` survival time, event indicator (1 = event)
``k``           ``n_components``    number of factors
``alpha``       ``alpha``           weight of the survival term, [0, 1)
``lambda``      ``lambda_``         elastic-net strength on beta, >= 0
``nu``          ``l1_ratio``        elastic-net mix (the paper's xi), [0, 1]
``lambdaW``     ``lambda_w``        ridge on W (the paper's gamma), >= 0
``lambdaH``     ``lambda_h``        ridge on H (the paper's nu), >= 0
``maxit``       ``max_iter``        iterations of the final fit
``tol``         ``tol``             relative loss change that stops it
``ninit``       ``n_init``          random short starts
``imaxit``      ``init_max_iter``   iterations of each short start
``seed``        ``random_state``    seed of the random starts (not R's stream)
==============  ==================  ===========================================

Unlike the package, bad values raise ``ValueError``/``TypeError`` instead of being clipped
with a warning.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from desurv._validation import check_model_values, check_survival

if TYPE_CHECKING:  # pragma: no cover
    from desurv.estimator import DeSurv

__all__ = ["desurv_fit", "R_TO_DESURV"]

#: The R package's argument names and ours.
R_TO_DESURV: dict[str, str] = {
    "k": "n_components",
    "alpha": "alpha",
    "lambda": "lambda_",
    "nu": "l1_ratio",
    "lambdaW": "lambda_w",
    "lambdaH": "lambda_h",
    "maxit": "max_iter",
    "tol": "tol",
    "ninit": "n_init",
    "imaxit": "init_max_iter",
    "seed": "random_state",
}


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    val = float(value)
    if not np.isfinite(val):
        raise ValueError(f"{name} must be finite, got {val}.")
    return val


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def _check_r_hyper(
    alpha: Any, lambda_: Any, nu: Any, lambdaW: Any, lambdaH: Any  # noqa: N803
) -> dict[str, float]:
    """The R names through the one check (``desurv._validation.check_model_values``)."""
    alpha, lam, nu, lw, lh = check_model_values(
        alpha, lambda_, nu, lambdaW, lambdaH,
        names={"lambda_": "lambda", "l1_ratio": "nu", "lambda_w": "lambdaW", "lambda_h": "lambdaH"},
        advice=" (the R package would silently clip it instead)",
    )  # fmt: skip
    return {"alpha": alpha, "lambda_": lam, "l1_ratio": nu, "lambda_w": lw, "lambda_h": lh}


def _as_genes_by_samples(X: Any) -> Any:
    """Validate R's orientation (genes x samples) and return samples x genes for DeSurv."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(X, pd.DataFrame):
        if X.ndim != 2:
            raise ValueError("X must be a genes x samples matrix.")
        return X.T
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2:
        raise ValueError(
            f"X must be a 2-d genes x samples matrix (as in R), got {arr.ndim} dimension(s)."
        )
    return arr.T


def desurv_fit(
    X: Any,
    y: Any,
    d: Any,
    k: int,
    *,
    alpha: float,
    nu: float,
    lambdaW: float,  # noqa: N803
    lambdaH: float,  # noqa: N803
    lambda_: float | None = None,
    W0: Any = None,  # noqa: N803
    H0: Any = None,  # noqa: N803
    beta0: Any = None,
    random_state: int | np.random.Generator | None = None,
    seed: int | None = None,
    tol: float = 1e-6,
    tol_init: float = 1e-4,
    maxit: int = 1000,
    imaxit: int = 30,
    ninit: int = 20,
    verbose: bool = False,
    **r_names: Any,
) -> DeSurv:
    """Fit DeSurv as the R package's ``desurv_fit`` does, with its argument names.

    Returns a fitted :class:`desurv.DeSurv` with ``variant="r-desurv"``: the R package's
    algorithm, step by step (``docs/r_desurv_variant.md``). With ``W0`` (and optionally
    ``H0``, ``beta0``) the fit starts there and matches R number for number; without, it runs
    the package's multi-start (``ninit`` random starts of ``imaxit`` iterations, the best by
    training C-index continues), whose random numbers are numpy's, not R's.

    Parameters
    ----------
    X : array-like or pandas.DataFrame of shape (p, n)
        Nonnegative expression, **genes x samples as in R** (transposed for
        :meth:`desurv.DeSurv.fit`, which takes samples x genes; DataFrame labels are kept).
    y : array-like of shape (n,)
        Survival times (R: ``y``), in the column order of ``X``; must be > 0.
    d : array-like of shape (n,)
        Event indicators, 1 = event, 0 = censored (R: ``d``).
    k : int
        Number of factors (desurv: ``n_components``), 1 <= k <= min(p, n).
    alpha : float
        Weight of the survival term, in [0, 1).
    nu : float
        Elastic-net mix of the Cox penalty in [0, 1], 1 = lasso (desurv: ``l1_ratio``; the
        paper's xi -- *not* the paper's nu).
    lambdaW : float
        Ridge on W, >= 0 (desurv: ``lambda_w``; the paper's gamma).
    lambdaH : float
        Ridge on H, >= 0 (desurv: ``lambda_h``; the paper's nu).
    lambda_ : float
        Strength of the Cox elastic-net penalty, >= 0 (R: ``lambda``). ``lambda`` is a Python
        keyword, so pass either ``lambda_=0.1`` or ``**{"lambda": 0.1}`` (which is what
        ``reticulate`` does with ``lambda = 0.1`` in R). Required.
    W0 : array-like of shape (p, k), optional
        Starting loadings, genes x factors. Skips the multi-start.
    H0 : array-like of shape (k, n), optional
        Starting activities, factors x samples in the column order of ``X``. Requires ``W0``;
        when ``W0`` is given without it, it is computed by nonnegative least squares of ``X``
        on ``W0`` (as in R).
    beta0 : array-like of shape (k,), optional
        Starting Cox coefficients. Requires ``W0``; default zeros.
    random_state : int, numpy Generator or None, default None
        Seed of the multi-start's random starts. ``seed`` is accepted as R's spelling (R's
        default is 123); the same seed does not give R's starts.
    seed : int, optional
        R's name for ``random_state``; give one of the two.
    tol : float, default 1e-6
        Stop when the relative change of the loss is <= tol (0: run ``maxit`` iterations).
    tol_init : float, default 1e-4
        Tolerance of the short starts. Only the package's default 1e-4 is supported (the
        estimator has no setting for it); another value raises ``ValueError``.
    maxit : int, default 1000
        Iterations of the final fit (desurv: ``max_iter``).
    imaxit : int, default 30
        Iterations of each short start (desurv: ``init_max_iter``).
    ninit : int, default 20
        Number of random starts (desurv: ``n_init``).
    verbose : bool, default False
        Progress messages.
    **r_names
        Only ``lambda`` (R's spelling of ``lambda_``).

    Returns
    -------
    desurv.DeSurv
        Fitted, ``variant="r-desurv"``: ``W_`` (genes x k, unit-norm columns), ``H_``
        (k x samples, input order), ``coef_`` (beta), ``loss_history_``, ...

    Raises
    ------
    ValueError, TypeError
        For a bad value, with the argument's R name (where the package would clip it with a
        warning).

    Examples
    --------
    >>> fit = desurv_fit(X, y, d, 3, alpha=0.5, lambda_=0.1, nu=0.5,  # doctest: +SKIP
    ...                  lambdaW=0.0, lambdaH=0.0, W0=W0, H0=H0, beta0=beta0)
    >>> fit.coef_  # doctest: +SKIP
    """
    unknown = set(r_names) - {"lambda"}
    if unknown:
        raise TypeError(
            f"desurv_fit() got unexpected argument(s) {sorted(unknown)}; the R package's "
            f"names accepted here are {sorted(R_TO_DESURV)} plus W0, H0, beta0, tol_init."
        )
    if "lambda" in r_names:
        if lambda_ is not None:
            raise TypeError("Give the Cox penalty once: either lambda_ or lambda, not both.")
        lambda_ = r_names["lambda"]
    if lambda_ is None:
        raise TypeError("desurv_fit() needs the Cox penalty lambda_ (R: lambda).")
    if seed is not None:
        if random_state is not None:
            raise TypeError("Give the seed once: either random_state or seed, not both.")
        random_state = seed
    hyper = _check_r_hyper(alpha, lambda_, nu, lambdaW, lambdaH)
    tol = _real(tol, "tol")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}; the R package would reset it to 1e-6.")
    if _real(tol_init, "tol_init") != 1e-4:
        raise ValueError(
            f"tol_init={tol_init} is not supported: the short starts use the R package's "
            "default 1e-4."
        )
    maxit = _count(maxit, "maxit", 1)
    imaxit = _count(imaxit, "imaxit", 1)
    ninit = _count(ninit, "ninit", 1)

    Xs = _as_genes_by_samples(X)
    p = Xs.shape[1]
    n = Xs.shape[0]
    k = _count(k, "k", 1)
    if k > min(p, n):
        raise ValueError(f"k must be <= min(genes, samples) = {min(p, n)}, got {k}.")
    time, _ = check_survival(y, d, n, where="y, d: ")  # the one check: negatives refused
    if np.any(time == 0):
        raise ValueError(
            "the R package's desurv_fit requires survival times y > 0; "
            f"{int((time == 0).sum())} are 0 (desurv.DeSurv accepts a time of 0)."
        )

    if W0 is None and (H0 is not None or beta0 is not None):
        raise ValueError(
            "W0 must be supplied when H0 or beta0 is given (a custom start needs W0)."
        )
    fit_kw: dict[str, Any] = {}
    if W0 is not None:
        W0a = np.asarray(W0, dtype=float)
        if H0 is None:
            from desurv._core.rdesurv import nnls_h0

            H0 = nnls_h0(np.asarray(Xs, dtype=float).T, W0a)
        fit_kw = {"W0": W0a, "H0": np.asarray(H0, dtype=float)}
        fit_kw["beta0"] = np.zeros(k) if beta0 is None else np.asarray(beta0, dtype=float)

    from desurv.estimator import DeSurv

    model = DeSurv(
        n_components=k,
        alpha=hyper["alpha"],
        lambda_=hyper["lambda_"],
        l1_ratio=hyper["l1_ratio"],
        lambda_w=hyper["lambda_w"],
        lambda_h=hyper["lambda_h"],
        tol=tol,
        max_iter=maxit,
        n_init=ninit,
        init_max_iter=imaxit,
        variant="r-desurv",
        random_state=random_state,
        verbose=verbose,
    )
    return model.fit(Xs, time, np.asarray(d, dtype=float).ravel(), **fit_kw)
