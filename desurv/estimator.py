"""The DeSurv estimator: scikit-learn style, on samples x genes arrays or DataFrames."""

from __future__ import annotations

import functools
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from threadpoolctl import ThreadpoolController

from desurv._core.cox import SurvivalData, cox_loglik
from desurv._core.solver import (
    LOSS_PARTS,
    SOLVERS,
    FitResult,
    Hyper,
    fit_batch,
    solve_beta,
    standardised_scores,
    uniform_start,
)
from desurv._validation import (
    check_dtype,
    check_expression,
    check_hyperparameters,
    check_random_state,
    check_survival,
    split_survival_target,
    warmup_cap,
)
from desurv.exceptions import (
    ConvergenceWarning,
    DataWarning,
    DegenerateFitWarning,
    DivergenceError,
    SeparationWarning,
)
from desurv.metrics import concordance_index

__all__ = ["DeSurv"]

logger = logging.getLogger("desurv")


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded in this process, found once (threadpoolctl scans the
    process's shared libraries, ~6 ms, every time a controller is made)."""
    return ThreadpoolController()


def _one_blas_thread():
    """Context manager: BLAS limited to one thread (see ``n_jobs``)."""
    return _blas_controller().limit(limits=1, user_api="blas")


VARIANTS = ("default", "r-desurv")
# random starts are solved in this many batches (fixed, so that n_jobs changes nothing)
START_BATCHES = 4


def _fit_chunk(run, c):
    with _one_blas_thread():
        return run(c)


@dataclass
class _Fitted:
    """What a solver hands back to :meth:`DeSurv.fit` (which sets every fitted attribute)."""

    W: np.ndarray  # genes used x k
    H: np.ndarray  # k x samples
    coef: np.ndarray
    coef_std: np.ndarray
    mean_z: np.ndarray
    sd_z: np.ndarray
    loss_history: pd.DataFrame
    n_iter: int
    converged: bool
    init_scores: np.ndarray | None = None
    r_loss_history: pd.DataFrame | None = None
    r_final_loss: dict | None = None


# a positive value this many times the median positive value looks like an unlogged count
UNLOGGED_RATIO = 1e3


def _warn_if_unlogged(arr: np.ndarray) -> None:
    """DataWarning when X (samples x genes) looks like unlogged counts: a dynamic range (99.9th
    percentile over median of the positive values) above ``UNLOGGED_RATIO``. Scale-free, so
    a change of unit does not trigger it; log-scale data have ranges of a few units. Read on
    an evenly strided sample of at most 50,000 entries (a full sort costs ~10 ms per fit)."""
    step = max(1, arr.size // 50_000)
    if arr.flags.c_contiguous:
        sample = arr.reshape(-1)[::step]
    else:  # the same entries as ravel()[::step], without ravel's copy of X
        sample = arr[np.unravel_index(np.arange(0, arr.size, step), arr.shape)]
    pos = sample[sample > 0]
    if pos.size < 100:
        return
    med, top = (float(v) for v in np.quantile(pos, [0.5, 0.999]))
    if med > 0 and top / med > UNLOGGED_RATIO:
        warnings.warn(
            f"X looks unlogged: its 99.9th percentile ({top:.3g}) is {top / med:.3g} times its "
            f"median positive value ({med:.3g}; max {float(arr.max()):.3g}). Counts or TPMs "
            "let a few genes dominate the factorisation; log-transform first "
            "(desurv.pp.log1p, or np.log1p).",
            DataWarning,
            stacklevel=3,
        )


# genes per block when X is copied into the core's orientation
_COPY_BLOCK = 1024


def _genes_by_samples(arr: np.ndarray, used: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """X (samples x genes) in the core's orientation: the used genes x samples, C-contiguous,
    in ``dtype``: the one copy of X that the estimator makes. Written block of genes by block
    of genes (a gather of the block's columns, which numpy lays out F-ordered, so that its
    transpose is a contiguous copy), so that converting to float32 makes no float64
    temporary of X's size."""
    cols = np.flatnonzero(used)
    out = np.empty((cols.size, arr.shape[0]), dtype=dtype)
    for g0 in range(0, cols.size, _COPY_BLOCK):
        out[g0 : g0 + _COPY_BLOCK] = arr[:, cols[g0 : g0 + _COPY_BLOCK]].T
    return out


def _times_w(arr: np.ndarray, W: np.ndarray) -> np.ndarray:
    """X W in float64 for samples x genes X: ``arr @ W`` for float64 X (a float32 W is
    promoted, which is small); float32 X is converted in blocks of samples, so that numpy
    does not convert all of it at once."""
    if arr.dtype == np.float64:
        return arr @ W
    W64 = W.astype(np.float64)
    rows = max(1, 2**20 // max(1, arr.shape[1]))
    return np.concatenate(
        [arr[s : s + rows].astype(np.float64) @ W64 for s in range(0, arr.shape[0], rows)]
    )


def _monotone_likelihood(risk: np.ndarray, t: np.ndarray, e: np.ndarray, ties: str) -> bool:
    """True when the Cox log-likelihood keeps rising along the risk direction: at 10 and 100
    standard deviations of log hazard per sd of the risk it is still higher (the sign of
    separation; with overlapping outcomes it falls far from the optimum)."""
    sd = float(np.std(risk))
    if not np.isfinite(sd) or sd == 0:
        return False
    u = (risk - risk.mean()) / sd
    surv = SurvivalData.from_arrays(t, e)
    mask = np.ones((1, u.size))
    ll = [float(cox_loglik((c * u)[surv.order][None], surv, mask, ties)[0]) for c in (1, 10, 100)]
    return ll[2] > ll[1] > ll[0]


_RESULT_FIELDS = ("W", "H", "beta", "n_iter", "converged", "beta_std", "score_mean", "score_sd")


def _result_arrays(res: FitResult) -> dict[str, np.ndarray]:
    """A FitResult as flat arrays (for a checkpoint)."""
    out = {f: np.asarray(getattr(res, f)) for f in _RESULT_FIELDS}
    for m, hist in enumerate(res.history):
        for key, values in hist.items():
            out[f"hist.{m}.{key}"] = np.asarray(values)
    return out


def _result_from_arrays(arrays: dict[str, np.ndarray]) -> FitResult:
    """The FitResult that :func:`_result_arrays` flattened."""
    B = int(np.asarray(arrays["n_iter"]).size)
    history = []
    for m in range(B):
        prefix = f"hist.{m}."
        history.append({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    return FitResult(
        arrays["W"], arrays["H"], arrays["beta"], history, arrays["n_iter"],
        arrays["converged"].astype(bool), beta_std=arrays["beta_std"],
        score_mean=arrays["score_mean"], score_sd=arrays["score_sd"],
    )  # fmt: skip


class DeSurv(BaseEstimator):
    r"""Survival-driven deconvolution: NMF whose factor scores drive an elastic-net Cox model.

    With X the expression matrix in the paper's orientation (genes x samples, p x n; the
    transpose of what :meth:`fit` takes), W (genes x k), H (k x samples), Z = W^T X the factor
    scores, Zs the scores standardised over the samples (each centred and divided by its
    standard deviation s_j, denominator n - 1), b the standardised Cox coefficients and
    l(W, b) the Cox log partial likelihood of the risk Zs^T b, the default variant minimises
    the scale-free objective

    .. math::

        L = (1-\alpha)\,\frac{\|X - WH\|_F^2 + \nu \sum_j \|w_j\|^2 \|h_j\|^2}{S}
            + \alpha\,\frac{-\frac{2}{n_e} l(W, b) + \lambda P(b)}{D_0},
        \qquad P(b) = \xi\|b\|_1 + \frac{1-\xi}{2}\|b\|_2^2

    with S the gene-centred total sum of squares of X, n_e the number of events and
    D_0 = -(2/n_e) l(W, 0) the per-event deviance of the null Cox model (it depends on the
    survival data only). Each part is a fraction of its null model: the NMF part is the share
    of the gene-wise variance that W H leaves unexplained (1 - R^2), the survival part is the
    Cox deviance per event on standardised scores (with its penalty, in the R package's and
    glmnet's units) relative to the null deviance (1 - pseudo-R^2). Nothing changes when a
    column of W is multiplied by c and the row of H divided by c, nor when X is multiplied by a
    constant (H takes it), so W is kept with unit-norm columns and ``alpha`` and ``lambda_``
    mean the same on any data. The raw coefficients of the scores are ``coef_ = b / s``.

    Relation to the paper and the R package: the paper's eq. 5 weighs the mean squared
    residual (1-alpha)/(2np) ||X - WH||^2 against alpha (2/n) l with the penalty on raw beta;
    its two scale symmetries (W c, H / c, beta / c; and the unit of X) leave alpha and lambda
    without a fixed meaning, and the literal form survives only through
    ``variant="r-desurv"``. The R package standardises the scores and counts events as here,
    but keeps the mean squared residual and rescales the Cox gradient in its W step to the
    NMF gradient's norm (not the gradient of its loss), so its alpha is a gradient balance.
    The published PDAC model (alpha = 0.334, lambda = 0.349, xi = 0.056, k = 3) belongs to
    that algorithm: ``variant="r-desurv"`` reproduces it; on the default model choose alpha
    and lambda_ by cross-validation.

    Fitting (the default ``solver="hals"``) first fits the NMF part alone until it has
    converged (the warm-up: ``warmup_tol``, at most ``warmup_iter`` iterations, b = 0), then
    alternates an exact coordinate pass (HALS) over H, a coordinate pass over W with the Cox
    gradient linearised (an adaptive gain on it and backtracking, so that L never increases;
    the columns of W are then rescaled to unit norm, which leaves L unchanged) and a
    proximal-Newton b step solved to convergence. ``solver="mu"`` uses the paper's
    multiplicative H and W steps instead. ``alpha = 0`` is NMF (with the nu ridge); b is then
    fitted once on the final standardised scores so that the model can predict.

    Parameters
    ----------
    n_components : int, default 3
        k, the number of gene programs (factors).
    alpha : float in [0, 1), default 0.5
        alpha, the survival weight: the share of L given to the survival part, both parts
        being fractions of their null models. Measured with ``benchmarks/alpha_path.py``
        (k = 3, default lambda_ and l1_ratio, the default solver): on TCGA-PAAD (paper
        preprocessing, 10 starts) alpha up to 0.6 nudges the programs (training C 0.583 at
        0, 0.594 at 0.5; 5-fold CV C 0.55-0.56) and from 0.7 one factor becomes a separating
        score (training C 1.000, CV C 0.51-0.54, a ``SeparationWarning``); on the paper's
        simulation the CV C-index rises from 0.79 at 0 to 0.82 at 0.5-0.8 and falls from
        0.9, where the training samples separate. Select it by cross-validation.
    lambda_ : float >= 0, default 0.1
        lambda, the strength of the elastic-net penalty on the standardised coefficients b,
        in the units of the R package and glmnet (-(2/n_e) l + lambda P(b)): a coefficient
        moves from 0 when the score's gradient per event exceeds lambda * l1_ratio.
    l1_ratio : float in [0, 1], default 0.5
        xi, the elastic-net mix (1 = lasso). The R package calls it ``nu``.
    lambda_w : float, default 0.0
        gamma, the R package's ridge on W (``lambdaW``), used by ``variant="r-desurv"`` only.
        The default model keeps the columns of W at unit norm, where ||W||^2 = k is a
        constant, so it has no ridge on W: a nonzero value raises ``ValueError`` there.
    lambda_h : float >= 0, default 0.0
        nu, the ridge on the programs' energies: nu sum_j ||w_j h_j^T||_F^2 = nu
        sum_j ||w_j||^2 ||h_j||^2 in the NMF part (relative to S, like the residual), which
        shrinks the activities H of every program (W has unit-norm columns) and can switch
        off programs that explain little. With ``variant="r-desurv"``: the R package's
        ``lambdaH``.
    ties : {"efron", "breslow"}, default "efron"
        Handling of tied event times in the partial likelihood (R's default is Efron).
    tol : float >= 0, default 1e-6
        Stop when the relative change of L between iterations is below ``tol``.
    max_iter : int, default 2000
        Maximum number of iterations of the final fit, the warm-up included.
    n_init : int, default 1
        Number of random starts. Each runs ``init_max_iter`` iterations (all at once, as one
        batch); the best by ``init_criterion`` continues.
    init_max_iter : int, default 20
        Iterations of each start before the best is chosen (only when ``n_init > 1``).
    init_criterion : {"loss", "cindex"}, default "loss"
        How the best start is chosen: lowest training loss or highest training C-index.
    warmup_iter : int >= 0 or None, default None
        The most iterations at the start during which b stays 0, so the Cox term is constant
        and W, H first fit X (plain NMF steps of the same loss, which still never increases).
        From a random start the scores are nearly collinear and a Cox fit on them has extreme
        curvature that stalls the W step; the warm-up avoids that. 0 follows Algorithm 1
        literally. None: half of ``max_iter``, so that the survival part always keeps at
        least half of the iterations.
    warmup_tol : float >= 0 or None, default 1e-6
        End a start's warm-up as soon as its relative loss change falls below ``warmup_tol``
        (the NMF part has converged), within at most ``warmup_iter`` iterations: the
        survival part then shapes a converged NMF. 0 or None: the warm-up is exactly
        ``warmup_iter`` iterations. The paper's Algorithm 1 is ``solver="mu",
        warmup_iter=50, warmup_tol=None, max_iter=1000``.
    variant : {"default", "r-desurv"}, default "default"
        "r-desurv" follows the authors' R package step by step (docs/r_desurv_variant.md):
        n_events scaling of the Cox term, unit-norm W, its beta step on standardised scores,
        its stopping rule. There ``ties`` (fixed deterministic order), ``init_criterion``
        (always the training C-index) and ``warmup_iter`` have no effect; the package's own
        loss trace is kept in ``r_loss_history_``.
    solver : {"hals", "mu"}, default "hals"
        The optimiser of the default variant's loss (both monotone). "hals": exact
        coordinate passes (HALS) for H and W with the Cox gradient linearised in the W step,
        an adaptive gain on it and an extrapolation kept only where L falls. "mu": the
        paper's multiplicative H and W steps (its Algorithm 1, with a damped W step). Why
        "hals" is the default (``docs/model.md``, "The solver"): on the paper's simulation
        design (``benchmarks/solver_science.py``, 6 cohorts, max_iter 1500, tol 1e-6) "mu"
        stops at ``max_iter`` in every fit at alpha 0, 0.5 and 0.8, so its programs depend
        on ``max_iter``; "hals" converges and reaches the lower loss in 89 % of the fits (at
        alpha = 0 it leaves 31 % of the gene-wise variance unexplained, "mu" 86 %). At one
        CV evaluation's scale (``benchmarks/bench_select.py``, alpha 0.5) it reaches the
        loss "mu" stops at in 55 iterations (median; "mu": 326) and goes on to a far lower
        one (0.611 against 0.905). A HALS fit at the rank-one saddle (its NMF part within
        1 % of the best rank-one fit's, where HALS lingers from random starts) is not taken
        for converged. Its converged fits change the paper's comparison:
        alpha = 0 recovers the lethal program as well (precision 0.55 against 0.07 for the
        R package's early-stopped NMF), while DeSurv chosen by CV keeps its lead in held-out
        C-index (``benchmarks/converged_pipeline.py``). A converged survival part can
        separate the training samples at high alpha (half the fits at alpha 0.8 with
        lambda_ 0.1; a ``SeparationWarning``): choose alpha and lambda_ by
        cross-validation. Ignored by ``variant="r-desurv"``.
    random_state : int, SeedSequence, Generator or None
        Seeds the starts; start i uses the i-th child of ``SeedSequence(random_state)``, so
        the result does not depend on ``n_jobs``.
    n_jobs : int or None, default None
        Processes over which the starts are spread (None = 1, -1 = all cores).
    verbose : bool, default False
        Log progress (``logging.getLogger("desurv")`` at INFO).
    dtype : {"float64", "float32"}, default "float64"
        The precision in which the fit holds X. A fit holds one copy of X (genes x samples,
        the core's orientation) besides the solver's time-sorted one; beyond X itself it
        needs about 2.1 x X (``benchmarks/bench_memory.py``: p = 20,000 genes, n = 1,000
        samples, k = 10). "float32" holds both copies in single precision and makes every
        product with X (the only work on arrays of X's size) a single-precision product:
        1.1 x X, in about 0.6 of the time, at a measured cost against float64 (same data
        and seed, 30 to 1,000 iterations, both solvers; ``tests/test_memory_dtype.py``) of
        relative differences of at most 4e-7 in the final loss and 2e-5 in W, the same
        training C-index, and risk differences of at most 1e-4 of its standard deviation;
        longer fits with the default "hals" (200-300 iterations at p = 500, n = 100) keep
        the loss (5e-6) and the C-index but W only to 2e-2 and the risk to 2e-3 sd (its
        extrapolation amplifies the rounding along directions where L is flat). A float32
        X is then used as it is (no float64 copy). The factors, the scores' moments, the
        Cox part and the loss are computed in float64 in either case (arrays of k rows or
        columns); ``W_`` and ``H_`` are returned in ``dtype``, everything else
        in float64. The default variant only (``variant="r-desurv"`` follows the R package
        in double precision).

    Attributes
    ----------
    W_ : ndarray of ``dtype``, shape (n_genes, k)
        Gene loadings (genes x factors; paper orientation), unit-norm columns. Rows of genes
        dropped because they were zero in every training sample are 0.
    H_ : ndarray of ``dtype``, shape (k, n_samples)
        Factor activities of the training samples (factors x samples, input sample order).
    coef_ : ndarray, shape (k,)
        beta, the Cox coefficients of the raw factor scores Z = W^T X (risk = X W beta; for
        prediction).
    coef_std_ : ndarray, shape (k,)
        b, the standardised coefficients (``coef_ * sd_z_``): log hazard ratio per standard
        deviation of each score on the training samples; the penalty acts on these.
    mean_z_, sd_z_ : ndarray, shape (k,)
        Mean and standard deviation (n - 1) of each training score.
    train_scores_ : ndarray of float64, shape (n_samples, k)
        Factor scores X W of the training samples (input order; Z^T in the paper's notation),
        computed in float64 from X and ``W_`` (as :meth:`transform` does).
    loss_history_ : pandas.DataFrame
        One row per iteration: ``loss`` and its parts ``nmf``, ``cox``, ``penalty_beta``,
        ``penalty_w`` (0 in the default model), ``penalty_h`` (each already weighted, so they
        add up to ``loss``).
    n_iter_ : int
        Iterations of the final fit (the initial iterations of the chosen start included).
    converged_ : bool
    train_cindex_ : float
        Harrell's C of the training risk.
    seeds_ : list of int
        Entropy of the SeedSequence used (first element) so that the fit can be repeated.
    genes_used_ : ndarray of bool, shape (n_genes,)
        False for genes that were dropped (zero in every training sample).
    feature_names_in_ : ndarray of str
        Gene names, when X was a DataFrame.
    n_features_in_ : int
    sample_names_ : ndarray of str or None
        Sample names of the training samples, when X was a DataFrame.
    init_scores_ : ndarray, shape (n_init,)
        Only after several random starts: each start's score by ``init_criterion`` (the
        R variant: each start's training C-index).
    r_loss_history_ : pandas.DataFrame
        Only with ``variant="r-desurv"``: the package's own loss trace (columns as in its
        ``loss_trace``: loss, surv_loss, nmf_loss, penalty_beta, penalty_W, penalty_H).
    r_final_loss_ : dict
        Only with ``variant="r-desurv"``: the package's final loss after its beta refit.

    Notes
    -----
    Methods that need a fit raise scikit-learn's ``NotFittedError`` before :meth:`fit`.
    """

    def __init__(
        self,
        n_components: int = 3,
        *,
        alpha: float = 0.5,
        lambda_: float = 0.1,
        l1_ratio: float = 0.5,
        lambda_w: float = 0.0,
        lambda_h: float = 0.0,
        ties: str = "efron",
        tol: float = 1e-6,
        max_iter: int = 2000,
        n_init: int = 1,
        init_max_iter: int = 20,
        init_criterion: str = "loss",
        warmup_iter: int | None = None,
        warmup_tol: float | None = 1e-6,
        variant: str = "default",
        solver: str = "hals",
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: bool = False,
        dtype: str = "float64",
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.lambda_ = lambda_
        self.l1_ratio = l1_ratio
        self.lambda_w = lambda_w
        self.lambda_h = lambda_h
        self.ties = ties
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_max_iter = init_max_iter
        self.init_criterion = init_criterion
        self.warmup_iter = warmup_iter
        self.warmup_tol = warmup_tol
        self.variant = variant
        self.solver = solver
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.dtype = dtype

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        time: Any,
        event: Any = None,
        *,
        W0: np.ndarray | None = None,
        H0: np.ndarray | None = None,
        beta0: np.ndarray | None = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 50,
    ) -> DeSurv:
        """Fit the model.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_genes)
            Nonnegative expression, samples x genes (e.g. ``adata.X``). DataFrame row and
            column names are kept as sample and gene names.
        time : array-like or Series, shape (n_samples,), or a structured array
            Follow-up times (>= 0). A Series is aligned on the sample names of a DataFrame
            X (its index must hold the same samples); with a plain-array X a Series must
            have the default index 0..n-1 (else ValueError: pass ``time.to_numpy()`` or X
            as a DataFrame). Without ``event``: scikit-learn's single ``y``, a structured
            array with an event and a time field (scikit-survival's ``Surv.from_arrays``) or
            a DataFrame with time and event columns (used by position with a plain-array X,
            as scikit-learn slices it), so that ``GridSearchCV`` and ``cross_val_score`` work.
        event : array-like or Series, shape (n_samples,), optional
            1 = event (death), 0 = censored.
        W0 : ndarray, shape (n_genes, k), optional
            Starting W (genes x factors). With W0 and H0 the random starts are skipped.
        H0 : ndarray, shape (k, n_samples), optional
            Starting H (factors x samples, input sample order).
        beta0 : ndarray, shape (k,), optional
            Starting coefficients (default zeros): standardised (b) for the default variant,
            raw for ``variant="r-desurv"`` (as the R package).
        checkpoint : str or path-like, optional
            A ``.npz`` file for long fits: the result of the start selection and then the
            full solver state every ``checkpoint_every`` iterations are written to it
            atomically (temporary file + ``os.replace``). Calling ``fit`` again with the same
            data, parameters and file after an interruption (even a SIGKILL) goes on from the
            last save and gives the bitwise identical model of an uninterrupted fit; with
            ``random_state=None`` the seed drawn by the first call is kept in the file. A file
            from another fit is refused (ValueError naming it). Deleted when the fit ends.
            Default variant only.
        checkpoint_every : int, default 50
            Iterations between two saves (each save writes X-independent arrays of the size
            of W and H).

        Returns
        -------
        self
        """
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {self.variant!r}.")
        separate = event is not None  # fit(X, time, event), not scikit-learn's single y
        time, event = split_survival_target(time, event)
        dt = check_dtype(self.dtype)
        # float32 fits take float32 X as it is (no float64 copy); float64 fits convert
        arr, samples, genes = check_expression(X, dtypes=(np.float64, dt))
        n, p = arr.shape
        check_hyperparameters(self.get_params(), n, p)
        if self.variant == "default" and float(self.lambda_w) != 0.0:
            raise ValueError(
                f"lambda_w={self.lambda_w}: the default model has no ridge on W (its columns "
                "have unit norm, so ||W||^2 = k is a constant). Use lambda_h to shrink the "
                "programs' energies, or variant='r-desurv' for the R package's lambdaW."
            )
        t, e = check_survival(time, event, n, samples, refuse_labelled_series=separate)
        _warn_if_unlogged(arr)
        positive = arr > 0  # once, for both checks
        zero_samples = ~positive.any(axis=1)
        if zero_samples.any():
            names = samples[zero_samples] if samples is not None else np.flatnonzero(zero_samples)
            raise ValueError(
                f"{int(zero_samples.sum())} samples have zero expression in every gene: "
                f"{np.asarray(names[:5]).tolist()}. Drop them: NMF cannot place them and their "
                "score is 0."
            )
        if n > 1 and not np.any(arr.max(axis=0) > arr.min(axis=0)):
            raise ValueError(
                f"every gene of X is constant across the {n} samples: there is no variation "
                "for the programs (or the Cox model) to explain; check that the right matrix "
                "was passed (e.g. not a column of totals) and that samples differ"
            )
        used = positive.any(axis=0)
        del positive
        if not used.all():
            dropped = genes[~used] if genes is not None else np.flatnonzero(~used)
            warnings.warn(
                f"{int((~used).sum())} genes are zero in every sample and were left out of the "
                f"fit (their rows of W_ are 0): {np.asarray(dropped[:5]).tolist()}"
                + (" ..." if (~used).sum() > 5 else ""),
                DataWarning,
                stacklevel=2,
            )
        k = int(self.n_components)
        if k > int(used.sum()):
            raise ValueError(
                f"n_components (k) = {k} exceeds the {int(used.sum())} genes that are not "
                "all-zero; lower k."
            )
        Xc = _genes_by_samples(arr, used, dt)  # genes x samples, the core's orientation
        starts = self._starts(Xc, k, W0, H0, beta0, used, n)
        seq = check_random_state(self.random_state)
        ckpt = None
        if checkpoint is not None:
            ckpt, seq = self._open_checkpoint(checkpoint, checkpoint_every, Xc, t, e, starts, seq)
        surv = SurvivalData.from_arrays(t, e)
        hp = self._hyper()
        if self.variant == "r-desurv":
            with _one_blas_thread():
                res = self._fit_r_variant(Xc, t, e, starts, k, seq, hp)
        else:
            self._ckpt = ckpt
            try:
                res = self._fit_default(Xc, surv, starts, hp, t, e, seq)
            finally:
                self._ckpt = None
                del self._ckpt
        if ckpt is not None:
            ckpt.remove()

        del Xc
        W_full = np.zeros((p, k), dtype=dt)
        W_full[used] = res.W
        scores = _times_w(arr, W_full)  # the training scores (float64), formed once
        risk = scores @ res.coef
        # every fitted attribute, in the order of the docstring's Attributes section
        self.W_ = W_full
        self.H_ = res.H.astype(dt, copy=False)
        self.coef_ = res.coef
        self.coef_std_ = res.coef_std
        self.mean_z_, self.sd_z_ = res.mean_z, res.sd_z
        self.train_scores_ = scores
        self.loss_history_ = res.loss_history
        self.n_iter_ = res.n_iter
        self.converged_ = res.converged
        self.train_cindex_ = float(concordance_index(t, e, risk))
        self.seeds_ = [int(seq.entropy)] if isinstance(seq.entropy, int) else list(seq.entropy)
        self.genes_used_ = used
        self.n_features_in_ = p
        if genes is not None:
            self.feature_names_in_ = genes
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.sample_names_ = samples
        for name, value in (
            ("init_scores_", res.init_scores),
            ("r_loss_history_", res.r_loss_history),
            ("r_final_loss_", res.r_final_loss),
        ):
            if value is not None:
                setattr(self, name, value)
            elif hasattr(self, name):
                delattr(self, name)
        self._diagnose(risk, t, e)
        if not self.converged_:
            last = self.loss_history_["loss"].to_numpy()
            rel = abs(last[-2] - last[-1]) / max(abs(last[-2]), 1e-300) if len(last) > 1 else np.nan
            warnings.warn(
                f"DeSurv did not converge in max_iter={self.max_iter} iterations (last relative "
                f"loss change {rel:.3g} > tol={self.tol}); increase max_iter, or raise tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _cox_never_moved(self) -> bool:
        """Whether the Cox part of L stayed at its value for beta = 0 through the whole fit
        (a warm-up ended by ``warmup_tol`` may not have ended before ``max_iter``)."""
        hist = getattr(self, "loss_history_", None)
        if hist is None or "cox" not in hist or len(hist) == 0:
            return False
        cox = np.asarray(hist["cox"], dtype=float)
        return bool(np.all(cox == cox[0]))

    def _diagnose(self, risk: np.ndarray, t: np.ndarray, e: np.ndarray) -> None:
        """Warn about fits that ran but are degenerate (see the exceptions' docstrings)."""
        a = float(self.alpha)
        if (
            self.variant == "default"
            and a > 0
            and int(self.max_iter) <= warmup_cap(self.warmup_iter, self.max_iter)
            and (not self.warmup_tol or self._cox_never_moved())
        ):
            warnings.warn(
                f"max_iter={self.max_iter} <= warmup_iter={self.warmup_iter}: the Cox "
                "coefficients were never updated during the fit, so the survival term never "
                "shaped W (this is plain NMF with beta = 0). Raise max_iter above warmup_iter "
                "or lower warmup_iter.",
                DegenerateFitWarning,
                stacklevel=3,
            )
            return
        if np.all(self.coef_ == 0):
            warnings.warn(
                f"every Cox coefficient is 0 (lambda_={self.lambda_}, "
                f"l1_ratio={self.l1_ratio}): the lasso penalty exceeds every score's "
                "association with survival, so the model predicts nothing"
                + (" and the survival term never shaped W" if a > 0 else "")
                + ". Lower lambda_ or l1_ratio.",
                DegenerateFitWarning,
                stacklevel=3,
            )
            return
        separated = self.train_cindex_ >= 0.99 or _monotone_likelihood(risk, t, e, self.ties)
        if separated:
            warnings.warn(
                f"the training risk (nearly) separates the samples (training C-index "
                f"{self.train_cindex_:.3f}): the fit has memorised the training outcomes and "
                f"will not generalise. Lower alpha (now {self.alpha}), raise lambda_ (now "
                f"{self.lambda_}), or lower n_components; check with cross-validation.",
                SeparationWarning,
                stacklevel=3,
            )

    def _starts(self, Xc, k, W0, H0, beta0, used, n):
        if W0 is None and H0 is None:
            if beta0 is not None:
                raise ValueError("beta0 was given without W0 and H0; give all three or none.")
            return None
        if W0 is None or H0 is None:
            raise ValueError("give both W0 (genes x k) and H0 (k x samples), or neither.")
        W0 = np.asarray(W0, dtype=float)
        H0 = np.asarray(H0, dtype=float)
        if W0.shape != (used.size, k):
            raise ValueError(f"W0 must have shape (n_genes, k) = {(used.size, k)}; got {W0.shape}.")
        if H0.shape != (k, n):
            raise ValueError(f"H0 must have shape (k, n_samples) = {(k, n)}; got {H0.shape}.")
        b0 = np.zeros(k) if beta0 is None else np.asarray(beta0, dtype=float).ravel()
        if b0.shape != (k,):
            raise ValueError(f"beta0 must have length k = {k}; got shape {b0.shape}.")
        for name, v in (("W0", W0), ("H0", H0), ("beta0", b0)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} has non-finite values.")
        if (W0 < 0).any() or (H0 < 0).any():
            raise ValueError("W0 and H0 must be nonnegative.")
        zero = np.flatnonzero(~(W0[used] > 0).any(axis=0))
        if zero.size:
            raise ValueError(
                f"W0 has all-zero column(s) {zero.tolist()} (on the genes used): such a factor "
                "starts at the floor in every gene, like every other all-zero factor, and the "
                "multiplicative steps cannot tell them apart. Give every column a positive "
                "loading, or let DeSurv draw random starts (no W0/H0)."
            )
        return W0[used][None], H0[None], b0[None]

    def _hyper(self) -> Hyper:
        """The solver's hyperparameters from this estimator's."""
        return Hyper(
            alpha=float(self.alpha),
            lambda_=float(self.lambda_),
            l1_ratio=float(self.l1_ratio),
            lambda_w=float(self.lambda_w),
            lambda_h=float(self.lambda_h),
            ties=self.ties,
        )

    def _random_starts(self, Xc, k, seq: np.random.SeedSequence, count: int):
        children = seq.spawn(count)
        Ws, Hs, bs = [], [], []
        for child in children:
            W, H, b = uniform_start(Xc, k, np.random.default_rng(child))
            Ws.append(W[0])
            Hs.append(H[0])
            bs.append(b[0])
        return np.stack(Ws), np.stack(Hs), np.stack(bs)

    def _open_checkpoint(self, path, every, Xc, t, e, starts, seq):
        """The fit's checkpoint file, and the seed to use (the saved one on a resume of a
        fit whose seed was drawn afresh)."""
        import numbers  # noqa: PLC0415

        from desurv._core.checkpoint import FitCheckpoint, fingerprint  # noqa: PLC0415

        if self.variant != "default":
            raise ValueError("checkpoint= is available for variant='default' only")
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"checkpoint_every must be an integer >= 1, got {every!r}")
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            seed_key = f"int:{int(rs)}"
        elif isinstance(rs, np.random.SeedSequence):
            seed_key = f"seq:{rs.entropy}:{rs.spawn_key}"
        else:  # None or a Generator: a fresh seed, kept in the file
            seed_key = "fresh"
        params = {
            k: v for k, v in sorted(self.get_params().items())
            if k not in ("n_jobs", "verbose", "random_state")
        }  # fmt: skip
        given = [] if starts is None else [np.asarray(a) for a in starts]
        fp = fingerprint(Xc, t, e, repr(params), seed_key, *given)
        ckpt = FitCheckpoint(path, int(every), fp)
        if seed_key == "fresh":
            saved = ckpt.get("seed")
            if saved is not None:
                seq = np.random.SeedSequence(int(str(saved["entropy"])))
            else:
                ckpt.save("seed", {"entropy": np.array(str(seq.entropy))})
        return ckpt, seq

    def _run(self, Xc, surv, W0, H0, b0, hp, max_iter, warmup, phase=None):
        """fit_batch over the batch, split across n_jobs processes when asked (with a
        checkpoint of a single-start ``phase`` when the fit has one)."""
        n_jobs = 1 if self.n_jobs is None else int(self.n_jobs)
        if n_jobs == -1:
            import os

            n_jobs = os.cpu_count() or 1
        B = W0.shape[0]
        callback = None
        if self.verbose:

            def callback(it: int, n_active: int) -> None:
                if it % 50 == 0 or n_active == 0:
                    logger.info("iteration %d: %d of %d fits still running", it, n_active, B)

        ckpt = getattr(self, "_ckpt", None)
        resume: dict[str, Any] = {}
        if ckpt is not None and phase is not None and B == 1:
            resume = {
                "state": ckpt.get(phase),
                "on_state": lambda st: ckpt.save(phase, st),
                "state_every": ckpt.every,
            }

        def run(c: np.ndarray | slice, cb=None) -> FitResult:
            return fit_batch(
                Xc,
                surv,
                W0[c],
                H0[c],
                b0[c],
                hp,
                tol=self.tol,
                max_iter=max_iter,
                warmup=warmup,
                warmup_tol=self.warmup_tol,
                callback=cb,
                **SOLVERS[self.solver],
                **resume,
            )

        try:
            if B == 1:
                # the products here are thin (k columns): one BLAS thread is as fast when the
                # machine is idle and far faster when it is not (threads contend)
                with _one_blas_thread():
                    return run(slice(None), callback)
            # the starts are cut into the same batches whatever n_jobs is (a batch's GEMMs
            # round differently from another's), so the fit is bitwise the same for any n_jobs
            chunks = np.array_split(np.arange(B), min(B, START_BATCHES))
            if n_jobs <= 1:
                with _one_blas_thread():
                    parts = [run(c, callback) for c in chunks]
            else:
                from joblib import Parallel, delayed

                parts = Parallel(n_jobs=min(n_jobs, len(chunks)))(
                    delayed(_fit_chunk)(run, c) for c in chunks
                )
        except FloatingPointError as exc:
            raise DivergenceError(
                f"DeSurv diverged (non-finite loss) with n_components={self.n_components}, "
                f"{hp.describe()}: {exc}"
            ) from None
        return FitResult(
            np.concatenate([r.W for r in parts]),
            np.concatenate([r.H for r in parts]),
            np.concatenate([r.beta for r in parts]),
            [h for r in parts for h in r.history],
            np.concatenate([r.n_iter for r in parts]),
            np.concatenate([r.converged for r in parts]),
            beta_std=np.concatenate([r.beta_std for r in parts]),
            score_mean=np.concatenate([r.score_mean for r in parts]),
            score_sd=np.concatenate([r.score_sd for r in parts]),
        )

    def _fit_default(self, Xc, surv, starts, hp, t, e, seq) -> _Fitted:
        warm = warmup_cap(self.warmup_iter, self.max_iter)
        init_scores = None
        if starts is None:
            count = int(self.n_init)
            starts = self._random_starts(Xc, self.n_components, seq, count)
        else:
            count = 1
        ckpt = getattr(self, "_ckpt", None)
        if count == 1:
            res = self._run(Xc, surv, *starts, hp, self.max_iter, warm, phase="final")
            history = [res.history[0]]
        else:
            pre_iter = min(int(self.init_max_iter), int(self.max_iter))
            saved = None if ckpt is None else ckpt.get("pre")
            if saved is not None:
                pre = _result_from_arrays(saved)
            else:
                pre = self._run(Xc, surv, *starts, hp, pre_iter, warm)
                if ckpt is not None:
                    ckpt.save("pre", _result_arrays(pre))
            if self.init_criterion == "loss":
                scores = np.array([h["loss"][-1] for h in pre.history])
                best = int(np.argmin(scores))
            else:
                # score each start by the C-index of the Cox fit on its scores (beta may still
                # be 0 during the warm-up)
                z, _, sd = standardised_scores(Xc[:, surv.order], pre.W)
                mask = np.ones((count, Xc.shape[1]))
                b_std, _ = solve_beta(z, pre.beta_std, surv, mask, hp)
                beta = b_std / sd
                Wm = pre.W.astype(Xc.dtype, copy=False)  # no float64 copy of a float32 X
                scores = np.array(
                    [concordance_index(t, e, Xc.T @ Wm[m] @ beta[m]) for m in range(count)]
                )
                best = int(np.nanargmax(scores))
            init_scores = scores
            logger.info(
                "start %d of %d chosen (%s %.6g)", best, count, self.init_criterion, scores[best]
            )
            history = [pre.history[best]]
            done_iter = int(pre.n_iter[best])
            remaining = int(self.max_iter) - done_iter
            sl = slice(best, best + 1)
            if pre.converged[best] or remaining <= 0:
                res = FitResult(
                    pre.W[sl],
                    pre.H[sl],
                    pre.beta[sl],
                    history,
                    pre.n_iter[sl],
                    pre.converged[sl],
                    beta_std=pre.beta_std[sl],
                    score_mean=pre.score_mean[sl],
                    score_sd=pre.score_sd[sl],
                )
            else:
                res = self._run(
                    Xc,
                    surv,
                    pre.W[sl],
                    pre.H[sl],
                    pre.beta_std[sl],
                    hp,
                    remaining,
                    max(0, warm - done_iter),
                    phase="final",
                )
                history.append(res.history[0])
        best = 0
        hist = {key: np.concatenate([h[key] for h in history]) for key in LOSS_PARTS}
        return _Fitted(
            W=res.W[best],
            H=res.H[best],
            coef=res.beta[best],
            coef_std=res.beta_std[best],
            mean_z=res.score_mean[best],
            sd_z=res.score_sd[best],
            loss_history=pd.DataFrame(
                hist, index=pd.RangeIndex(1, len(hist["loss"]) + 1, name="iteration")
            ),
            n_iter=int(len(hist["loss"])),
            converged=bool(res.converged[best]),
            init_scores=init_scores,
        )

    def _fit_r_variant(self, Xc, t, e, starts, k, seq, hp) -> _Fitted:
        """variant="r-desurv": the R package's algorithm (desurv._core.rdesurv)."""
        from desurv._core.rdesurv import fit_rdesurv, fit_rdesurv_multistart

        kw = dict(
            alpha=hp.alpha,
            lambda_=hp.lambda_,
            l1_ratio=hp.l1_ratio,
            lambda_w=hp.lambda_w,
            lambda_h=hp.lambda_h,
            max_iter=int(self.max_iter),
            tol=float(self.tol),
        )
        init_scores = None
        try:
            if starts is not None:
                W0, H0, b0 = starts
                res = fit_rdesurv(Xc, t, e, W0[0], H0[0], b0[0], **kw)
            else:
                res = fit_rdesurv_multistart(
                    Xc,
                    t,
                    e,
                    k,
                    ninit=int(self.n_init),
                    imaxit=int(self.init_max_iter),
                    tol_init=1e-4,
                    rng=np.random.default_rng(seq),
                    **kw,
                )
                init_scores = res.start_cindices
        except FloatingPointError as exc:
            if isinstance(exc, DivergenceError):
                raise
            top = float(np.max(Xc))
            raise DivergenceError(
                f"{exc}. The R package's loss is the mean squared residual in the unit of X "
                f"(largest value here {top:.3g}), which overflows for very large values: "
                "bring X to a usual scale (e.g. desurv.pp.log1p) or use the default variant, "
                "whose loss does not depend on the unit of X."
            ) from None
        if res.diverged:
            raise DivergenceError(
                f"DeSurv (variant='r-desurv') diverged (non-finite loss or beta) after "
                f"{res.n_iter} iterations with n_components={self.n_components}, "
                f"alpha={self.alpha}, lambda_={self.lambda_}, l1_ratio={self.l1_ratio}, "
                f"lambda_w={self.lambda_w}, lambda_h={self.lambda_h}."
            )
        a, tr = float(self.alpha), res.loss_trace
        index = pd.RangeIndex(1, res.n_iter + 1, name="iteration")
        # weighted parts that add up to the package's loss (as the default's columns do)
        history = pd.DataFrame(
            {
                "loss": tr["loss"],
                "nmf": (1 - a) * tr["nmf_loss"],
                "cox": -a * tr["surv_loss"],
                "penalty_beta": a * float(self.lambda_) * tr["penalty_beta"],
                "penalty_w": float(self.lambda_w) * tr["penalty_W"],
                "penalty_h": (1 - a) * float(self.lambda_h) * tr["penalty_H"],
            },
            index=index,
        )
        # the package's own trace and final loss, for comparison with R
        return _Fitted(
            W=res.W,
            H=res.H,
            coef=res.beta,
            coef_std=res.beta * res.sd_z,
            mean_z=res.mean_z,
            sd_z=res.sd_z,
            loss_history=history,
            n_iter=int(res.n_iter),
            converged=bool(res.converged),
            init_scores=init_scores,
            r_loss_history=pd.DataFrame(tr, index=index),
            r_final_loss=dict(res.final_loss),
        )

    # ------------------------------------------------------------------ using the fit
    def _check_fitted(self) -> None:
        if not hasattr(self, "W_"):
            raise NotFittedError("this DeSurv is not fitted yet; call fit(X, time, event) first.")

    def _align(self, X: Any) -> np.ndarray:
        self._check_fitted()
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            cols = X.columns.astype(str)
            # one hash lookup per gene (a set rebuilt per gene was quadratic in the genes)
            names = pd.Index(self.feature_names_in_)
            missing = list(names[~names.isin(cols)])
            if missing:
                raise ValueError(
                    f"X lacks {len(missing)} of the model's genes, e.g. {missing[:5]}; "
                    "pass the same genes as in fit (desurv.tl.score zero-fills missing genes)."
                )
            if not cols.equals(names):  # the same genes in the same order need no copy
                X = X.loc[:, list(self.feature_names_in_)]
        arr, _, _ = check_expression(X)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} genes (columns) but the model was fitted on "
                f"{self.n_features_in_}; pass the same genes in the same order."
            )
        return arr

    def _finite(self, values: np.ndarray, what: str, arr: np.ndarray) -> np.ndarray:
        """``values`` when finite; else a ValueError on the units of X (an overflow)."""
        if np.all(np.isfinite(values)):
            return values
        raise ValueError(
            f"the {what} of X overflow (non-finite values): X (max {float(np.max(arr)):.3g}) "
            f"is on a scale far from the training data's (training score sd "
            f"{np.asarray(self.sd_z_).round(6).tolist()}); put X in the units of the "
            "training data (same normalisation and log scale)"
        )

    def transform(self, X: Any) -> np.ndarray:
        """Factor scores Z^T = X W, shape (n_samples, k), for samples x genes X."""
        arr = self._align(X)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = arr @ self.W_
        return self._finite(Z, "factor scores", arr)

    def predict(self, X: Any) -> np.ndarray:
        """Risk score X W beta, shape (n_samples,); higher = worse prognosis."""
        arr = self._align(X)
        with np.errstate(over="ignore", invalid="ignore"):
            risk = (arr @ self.W_) @ self.coef_
        return self._finite(risk, "risk scores", arr)

    def score(self, X: Any, time: Any, event: Any = None) -> float:
        """Harrell's C-index of :meth:`predict` on (X, time, event) (R's conventions).

        ``time`` and ``event`` as in :meth:`fit` (a single structured ``y`` works too, so this
        is the score scikit-learn's model selection uses)."""
        separate = event is not None  # score(X, time, event), not scikit-learn's single y
        time, event = split_survival_target(time, event)
        arr = self._align(X)
        samples = X.index.astype(str).to_numpy() if isinstance(X, pd.DataFrame) else None
        t, e = check_survival(time, event, arr.shape[0], samples, refuse_labelled_series=separate)
        with np.errstate(over="ignore", invalid="ignore"):
            risk = arr @ self.W_ @ self.coef_
        return float(concordance_index(t, e, self._finite(risk, "risk scores", arr)))
