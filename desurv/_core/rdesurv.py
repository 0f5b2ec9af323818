"""The algorithm of the authors' R package DeSurv, step by step, on plain arrays.

This module backs ``DeSurv(variant="r-desurv")``. It reproduces the R package (commit 0434090,
"ensure convergence", the version described in ``shared/reference/r_desurv/README.md``)
number for number from the same starting values, except for two bugs of the package that it
deliberately does not copy (see "Differences from the R package" below). The default variant
of desurv is a different, monotone solver; ``docs/r_desurv_variant.md`` lists every way the two
differ and why.

Orientation (the paper's, as everywhere in ``desurv._core``): ``X`` is genes x samples (p x n),
``W`` is genes x factors (p x k), ``H`` is factors x samples (k x n), ``beta`` has length k and
the linear predictor is ``eta = X^T W beta`` (higher = higher risk).

Names. The R package's arguments map onto ours as follows:

==================  ==============  ==============================================
R (``desurv_fit``)  here            paper
==================  ==============  ==============================================
``alpha``           ``alpha``       alpha, weight of the survival term
``lambda``          ``lambda_``     lambda, Cox elastic-net strength
``nu``              ``l1_ratio``    xi, elastic-net mix (1 = lasso, 0 = ridge)
``lambdaW``         ``lambda_w``    gamma, ridge on W
``lambdaH``         ``lambda_h``    nu (the paper's), ridge on H
``maxit``           ``max_iter``
``tol``             ``tol``
``ninit``           ``ninit``       (multi-start only)
``imaxit``          ``imaxit``      (multi-start only)
==================  ==============  ==============================================

The objective the package reports (``n_e`` = number of events, ``sdZ`` the column standard
deviations, denominator n-1, of ``Z = X^T W`` stored at the last beta step)::

    L = (1-alpha) * ( ||X - WH||_F^2 / (2np) + lambda_h ||H||_F^2 / (2nk) )
        - alpha * ( (2/n_e) loglik(X^T W beta)
                    - lambda_ ((1-l1_ratio)/2 ||beta*sdZ||^2 + l1_ratio ||beta*sdZ||_1) )
        + lambda_w ||W||_F^2 / (2pk)

Each iteration: a multiplicative H step (ridge ``lambda_h * p / k``), a damped multiplicative
W step whose Cox part is rescaled to the size of the NMF gradient, with backtracking on the
damping (at most 11 trials, theta = 0.5, 0.25, ...) and unit-norm columns of W, then (if
``alpha > 0``) a coordinate-descent beta step on standardised scores; after the loop beta is
refitted once more (up to 500 sweeps), even when ``alpha == 0``.

Differences from the R package (all deliberate)
------------------------------------------------
- ``H`` is returned with its columns in the *input* sample order (the package returns them in
  time-sorted order; its multi-start then feeds that sorted H back as a start in input order).
- Tied survival times: samples are sorted *stably* by (time, input index) and the risk set of
  the sample at sorted position i is positions {i, ..., n-1}. This is the package's rule (neither
  Breslow nor Efron) made deterministic; the package uses an unstable sort, so its order of
  tied samples, and hence its fit, is arbitrary.
- Non-finite losses stop the fit like the package does, but are reported (``diverged``) instead
  of being a silent flag.
- Random starts (:func:`init_rdesurv`) follow the package's recipe (uniform on [0, max X],
  beta = 0) but use numpy's random generator: R's random stream cannot be reproduced, so the
  same seed gives different starts than in R. Fits from *given* starting values are identical.
- Floating point: the order of operations follows the package, but sums may be accumulated in
  a different order than Armadillo/BLAS do; results agree to about 1e-12 relative, not bit for
  bit. Fits whose beta step oscillates without converging amplify such rounding differences
  (``docs/r_desurv_variant.md``, "Numerical agreement").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from desurv._validation import check_model_values, check_nonnegative, check_survival

__all__ = [
    "RDesurvResult",
    "fit_rdesurv",
    "init_rdesurv",
    "fit_rdesurv_multistart",
    "nnls_h0",
    "cindex_rdesurv",
    "harrell_cindex",
]

#: Floor of the package (``eps`` in its C++ code): H and W entries, column norms, ratios.
EPS = 1e-12
#: First damping of the W step and its backtracking factor (package defaults).
THETA_INIT = 0.5
RHO = 0.5
#: Backtracking halvings after the first trial: at most 11 trials in all.
MAX_BACKTRACKS = 10
#: Cap on the ratio ||grad NMF|| / ||grad Cox|| in the W step.
COX_RATIO_CAP = 1e6
#: Stopping threshold of the coordinate-descent sweeps of the beta step.
EPS_BETA = 1e-6
#: Sweeps of the beta step inside the loop and in the final refit.
MAX_SWEEPS = 100
MAX_SWEEPS_FINAL = 500
#: Starting value of the "previous loss" of the package's stopping rule.
LOSS_START = 1e-6

_LOSS_KEYS = ("loss", "surv_loss", "nmf_loss", "penalty_beta", "penalty_W", "penalty_H")


@dataclass
class RDesurvResult:
    """Result of :func:`fit_rdesurv` / :func:`fit_rdesurv_multistart`.

    Attributes
    ----------
    W : ndarray of shape (p, k)
        Gene loadings, genes x factors, with unit-L2-norm columns as the package leaves them.
    H : ndarray of shape (k, n)
        Factor activities, factors x samples, columns in the *input* sample order.
    beta : ndarray of shape (k,)
        Cox coefficients on the raw scores ``Z = X^T W`` after the final refit.
    mean_z, sd_z : ndarray of shape (k,)
        Column means and standard deviations (denominator n-1) of ``Z`` at the final refit.
    loss_trace : dict of str to ndarray of shape (n_iter,)
        Per iteration, recorded after that iteration's beta step: ``loss`` (the objective
        above), ``surv_loss`` (``2 loglik / n_e``), ``nmf_loss`` (``||X-WH||^2/(2np)``, without
        the H ridge), ``penalty_beta`` (elastic net of ``beta*sdZ`` without ``lambda_``),
        ``penalty_W`` (``||W||^2/(2pk)``), ``penalty_H`` (``||H||^2/(2nk)``).
    final_loss : dict of str to float
        The same six quantities after the final beta refit (with the refit's ``sd_z``).
    linear_predictor : ndarray of shape (n,)
        ``X^T W beta`` per sample, input order (higher = higher risk).
    n_iter : int
        Iterations run (the final refit is not counted).
    converged : bool
        Whether the package's stopping rule ``|L - L_prev| / max(1e-12, |L_prev|) <= tol``
        was met before ``max_iter``.
    diverged : bool
        The loss or beta became non-finite; the loop stopped at the last finite iterate
        (the package's ``nan_flag``).
    init_cindex : float
        For :func:`fit_rdesurv_multistart`: training C-index of the chosen short start;
        NaN otherwise.
    best_start : int
        For :func:`fit_rdesurv_multistart`: index (0-based) of the chosen start; -1 otherwise.
    """

    W: np.ndarray
    H: np.ndarray
    beta: np.ndarray
    mean_z: np.ndarray
    sd_z: np.ndarray
    loss_trace: dict[str, np.ndarray]
    final_loss: dict[str, float]
    linear_predictor: np.ndarray
    n_iter: int
    converged: bool
    diverged: bool = False
    init_cindex: float = float("nan")
    best_start: int = -1
    start_cindices: np.ndarray = field(default_factory=lambda: np.empty(0))


# --------------------------------------------------------------------------------------------
# Cox pieces (samples sorted by increasing time; risk set of position i = positions i..n-1)
# --------------------------------------------------------------------------------------------


def _log_s0(eta: np.ndarray) -> np.ndarray:
    """log of S0_i = sum_{j >= i} exp(eta_j), computed with a max shift."""
    top = float(eta.max())
    if math.isfinite(top):
        # One global shift. The suffix sums s are nonincreasing, s[-1] = exp(eta[-1] - top) is
        # the smallest; while it is far from underflow this equals the package's running-max
        # recursion up to rounding (terms that underflow are negligible against their sums).
        s = np.add.accumulate(np.exp(eta - top)[::-1])[::-1]
        if s[-1] > 1e-290:
            return np.log(s) + top
    # Wide range (or non-finite values): the package's suffix-max recursion.
    n = eta.shape[0]
    m = np.empty(n)
    r = np.empty(n)
    m[n - 1] = eta[n - 1]
    r[n - 1] = np.exp(eta[n - 1] - m[n - 1])
    for i in range(n - 2, -1, -1):
        m[i] = max(m[i + 1], eta[i])
        r[i] = np.exp(eta[i] - m[i]) + r[i + 1] * np.exp(m[i + 1] - m[i])
    return np.log(r) + m


def _cox_loglik(eta: np.ndarray, d: np.ndarray, log_s0: np.ndarray | None = None) -> float:
    """Partial log-likelihood with the package's risk sets (suffixes of the time order).

    ``log_s0``, if given, is ``_log_s0(eta)`` computed before.
    """
    if log_s0 is None:
        log_s0 = _log_s0(eta)
    return float(np.dot(d, eta - log_s0))


def _cox_grad(
    eta: np.ndarray, d: np.ndarray, log_s0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Score ``g = d - exp(eta) * h`` and weight ``w = exp(eta) * h`` w.r.t. eta.

    ``log_s0``, if given, is ``_log_s0(eta)`` computed before.
    """
    if log_s0 is None:
        log_s0 = _log_s0(eta)
    h = np.add.accumulate(d * np.exp(-log_s0))
    w = np.exp(eta) * h
    return d - w, w


# --------------------------------------------------------------------------------------------
# Loss and the three steps
# --------------------------------------------------------------------------------------------


@dataclass
class _Hyper:
    alpha: float
    lambda_: float
    l1_ratio: float
    lambda_w: float
    lambda_h: float
    n_event: int


def _xtw(XT: np.ndarray, W: np.ndarray) -> np.ndarray:
    """X^T W (n x k) from ``XT``, a C-contiguous copy of X^T (n x p).

    For a few columns (k <= 4), k matrix-vector products (each a dot product per row of XT)
    beat one skinny GEMM; the result is then in Fortran order, otherwise in C order.
    """
    k = W.shape[1]
    if k > 4:
        return XT @ W
    out = np.empty((k, XT.shape[0]))
    for j in range(k):
        np.dot(XT, W[:, j], out[j])
    return out.T  # Fortran order, as the W step keeps its p x k arrays


def _total(a: np.ndarray) -> float:
    """``float(np.sum(a))`` (the same reduction) without the wrapper of ``np.sum``."""
    return float(np.add.reduce(a, axis=None))


def _fro(a: np.ndarray) -> float:
    """``float(np.linalg.norm(a))`` for a real array (the same operations, no checks)."""
    v = a.ravel(order="K")
    return math.sqrt(float(v.dot(v)))


def _penalty_beta(beta: np.ndarray, sd_z: np.ndarray, nu: float) -> float:
    bs = beta * sd_z
    return (1.0 - nu) * _total(bs * bs) / 2.0 + nu * _total(np.abs(bs))


@dataclass
class _Surv:
    """The parts of the loss that depend on (lp, beta, sdZ) only, and log S0 of lp."""

    surv_loss: float
    penalty_beta: float
    log_s0: np.ndarray


def _surv(
    lp: np.ndarray, d: np.ndarray, beta: np.ndarray, sd_z: np.ndarray, hp: _Hyper
) -> _Surv:
    """``2 loglik(lp) / n_e``, the elastic net of ``beta * sd_z`` and ``log S0`` of ``lp``."""
    log_s0 = _log_s0(lp)
    return _Surv(
        surv_loss=_cox_loglik(lp, d, log_s0) * 2.0 / hp.n_event,
        penalty_beta=_penalty_beta(beta, sd_z, hp.l1_ratio),
        log_s0=log_s0,
    )


def _combine(
    nmf_loss: float,
    penalty_w: float,
    penalty_h: float,
    lp: np.ndarray,
    d: np.ndarray,
    beta: np.ndarray,
    sd_z: np.ndarray,
    hp: _Hyper,
) -> dict[str, float]:
    """The package's loss from its parts; ``lp`` = X^T W beta (sorted order)."""
    return _assemble(nmf_loss, penalty_w, penalty_h, _surv(lp, d, beta, sd_z, hp), hp)


def _assemble(
    nmf_loss: float, penalty_w: float, penalty_h: float, sv: _Surv, hp: _Hyper
) -> dict[str, float]:
    """The package's loss from its NMF parts and its survival parts ``sv``."""
    surv_loss = sv.surv_loss
    penalty_beta = sv.penalty_beta
    loss = (
        (1.0 - hp.alpha) * (nmf_loss + hp.lambda_h * penalty_h)
        - hp.alpha * (surv_loss - hp.lambda_ * penalty_beta)
        + hp.lambda_w * penalty_w
    )
    return {
        "loss": loss,
        "surv_loss": surv_loss,
        "nmf_loss": nmf_loss,
        "penalty_beta": penalty_beta,
        "penalty_W": penalty_w,
        "penalty_H": penalty_h,
    }


def _nmf_exact(X: np.ndarray, W: np.ndarray, H: np.ndarray) -> float:
    """||X - WH||_F^2 / (2np), from the residual itself."""
    p, n = X.shape
    # X - WH written into WH's buffer: the same numbers, but one p x n array fewer to
    # allocate (a fresh array's first touch costs ~6 ms at 1000 x 500 on a 2-core VM)
    r = W @ H
    np.subtract(X, r, out=r)
    r = r.ravel()
    return float(np.dot(r, r)) / (2.0 * n * p)


#: The Gram form of ||X - WH||^2 is used only while ||X||^2 / ||X - WH||^2 stays below this
#: (its rounding error is about 1e-16 times that ratio); above it the residual is formed.
_GRAM_MAX_RATIO = 1e4


def _nmf_fast(
    X: np.ndarray, xsq: float, W: np.ndarray, WHHt: np.ndarray, XHt: np.ndarray, H: np.ndarray
) -> float:
    """||X - WH||_F^2 / (2np) as ||X||^2 - 2<W, X H^T> + <W, W H H^T>, without forming WH.

    Falls back to the residual when cancellation would cost more than ~1e-12 relative.
    """
    p, n = X.shape
    val = xsq - 2.0 * _total(W * XHt) + _total(W * WHHt)
    if val * _GRAM_MAX_RATIO > xsq:
        return val / (2.0 * n * p)
    return _nmf_exact(X, W, H)


def _loss(
    X: np.ndarray,
    d: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    beta: np.ndarray,
    sd_z: np.ndarray,
    hp: _Hyper,
) -> dict[str, float]:
    """The package's loss and its parts at (W, H, beta, sdZ), computed directly."""
    p, n = X.shape
    k = W.shape[1]
    return _combine(
        _nmf_exact(X, W, H),
        _total(W * W) / (2.0 * p * k),
        _total(H * H) / (2.0 * n * k),
        X.T @ (W @ beta),
        d,
        beta,
        sd_z,
        hp,
    )


def _h_step(xtw: np.ndarray, W: np.ndarray, H: np.ndarray, lambda_h: float) -> np.ndarray:
    """Multiplicative H update with the ridge ``lambda_h * p / k``; entries floored at EPS.

    ``xtw`` is X^T W (n x k) of the current W, as :func:`_xtw` computes it: the W step
    already formed it for its accepted trial, so the H step needs no pass over X.
    """
    p, k = W.shape
    num = xtw.T
    denom = (W.T @ W) @ H
    if lambda_h != 0.0:  # a zero ridge adds exact zeros
        denom = denom + (lambda_h * p / k) * H
    H = H * num / (denom + EPS)
    return np.maximum(H, EPS)


#: Trial losses this close to L0 (relative to the loss scale) are recomputed from the residual
#: before the accept/reject decision, so that the fast form never decides a near tie.
_DECISION_MARGIN = 1e-9


def _w_step(
    X: np.ndarray,
    XT: np.ndarray,
    d: np.ndarray,
    W: np.ndarray,
    H: np.ndarray,
    beta: np.ndarray,
    sd_z: np.ndarray,
    lp: np.ndarray,
    surv0: _Surv,
    pen_w0: float,
    xsq: float,
    hp: _Hyper,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float], np.ndarray, np.ndarray | None]:
    """Damped multiplicative W step with backtracking.

    ``XT`` is a C-contiguous copy of ``X.T``; W is in Fortran order (and so is the returned
    W). ``lp`` is X^T W beta at the incoming point, ``surv0`` the survival parts of the loss
    there (:func:`_surv` of ``lp, beta, sd_z``) and ``pen_w0`` its W penalty
    ``||W||^2 / (2pk)``, both as the caller computed them at that point. Returns the new
    (W, H, beta), the loss parts at the new point (with the incoming sdZ), its linear
    predictor and its scores X^T W (None if no trial was accepted). As in the package, the
    accepted step rescales W, H and beta but not the stored sdZ.
    """
    p, n = X.shape
    k = W.shape[1]
    alpha = hp.alpha
    HHt = H @ H.T
    # The p x k arrays are kept in Fortran order (columns contiguous, like W): numpy's
    # elementwise and per-column operations on p x k arrays with few columns are slow in C
    # order. A matrix product gives C order, so A @ B is written (B^T @ A^T)^T.
    if alpha > 0.0:
        # One pass over X for both X H^T and X g (g at the incoming point).
        g, _ = _cox_grad(lp, d, surv0.log_s0)
        rhs_t = np.empty((k + 1, n))
        rhs_t[:k] = H
        rhs_t[k] = g
        prod_t = rhs_t @ XT  # (X [H^T, g])^T
        XHt = prod_t[:k].T
        Xg = prod_t[k]
    else:
        XHt = (H @ XT).T
    WHHt = (HHt.T @ W.T).T
    pen_h0 = _total(H * H) / (2.0 * n * k)
    parts0 = _assemble(_nmf_fast(X, xsq, W, WHHt, XHt, H), pen_w0, pen_h0, surv0, hp)
    loss0 = parts0["loss"]
    scale = abs(loss0) + (1.0 - alpha) * xsq / (2.0 * n * p)

    c = (1.0 - alpha) / (n * p)
    num = c * XHt
    denom = c * WHHt
    if hp.lambda_w != 0.0:  # a zero ridge adds exact zeros
        denom = denom + (hp.lambda_w / (float(p) * k)) * W
    if alpha > 0.0:
        grad_nmf = c * (WHHt - XHt)
        grad_cox = (2.0 * alpha / hp.n_event) * (beta[:, None] * Xg).T  # outer(Xg, beta)
        gn = _fro(grad_nmf) + 1e-12
        gc = _fro(grad_cox) + 1e-12
        num = num + (alpha * min(gn / gc, COX_RATIO_CAP)) * grad_cox
    ratio = num / (denom + EPS)

    theta = THETA_INIT
    for _ in range(MAX_BACKTRACKS + 1):
        w_trial = np.maximum(W * ((1.0 - theta) + theta * ratio), EPS)
        cn = np.sqrt(np.add.reduce(w_trial * w_trial, axis=0))
        if cn.min() < EPS:  # hardly ever: the entries of w_trial are >= EPS
            cn[cn < EPS] = 1.0
        w_new = w_trial / cn
        h_new = H * cn[:, None]
        beta_new = beta * cn
        sd_new = sd_z / cn
        z_new = _xtw(XT, w_new)
        lp_new = z_new @ beta_new
        # W_new H_new = W_trial H: the NMF term needs no new p x n product.
        nmf_new = _nmf_fast(X, xsq, w_trial, (HHt.T @ w_trial.T).T, XHt, H)
        parts = _combine(
            nmf_new,
            _total(w_new * w_new) / (2.0 * p * k),
            _total(h_new * h_new) / (2.0 * n * k),
            lp_new,
            d,
            beta_new,
            sd_new,
            hp,
        )
        loss_new = parts["loss"]
        if np.isfinite(loss_new) and abs(loss_new - loss0) <= _DECISION_MARGIN * scale:
            # Near tie: decide on losses computed from the residuals themselves.
            loss0 = _loss(X, d, W, H, beta, sd_z, hp)["loss"]
            parts = _loss(X, d, w_new, h_new, beta_new, sd_new, hp)
            loss_new = parts["loss"]
        if np.isfinite(loss_new) and loss_new <= loss0:
            return w_new, h_new, beta_new, parts, lp_new, z_new
        theta *= RHO
    return W, H, beta, parts0, lp, None


def _cd_cox(
    zs: np.ndarray,
    d: np.ndarray,
    b: np.ndarray,
    hp: _Hyper,
    max_sweeps: int,
) -> np.ndarray:
    """Coordinate descent of the package on standardised scores ``zs`` (n x k').

    Each sweep computes g and w once at the current eta and keeps them fixed while every
    coordinate is updated in turn; the update of b_j uses only b_j itself, g and w:
    v = max(sum_i w_i z_ij^2 / n_e, 1e-12), u = sum_i g_i z_ij / n_e + v b_j,
    b_j <- S(u, lambda l1_ratio) / (v + lambda (1 - l1_ratio)). Stops when
    max_j sqrt(v_j) |change of b_j| < EPS_BETA.

    A sweep is a fixed handful of numpy calls on length-n arrays (into preallocated buffers):
    eta - top = [b, -top] . [zs^T; 1] is formed afresh from b in one product, then exp, two
    cumulative sums and one product for the 2k' sums over samples; the k' coordinate updates
    run on Python floats, which for the few factors of DeSurv is cheaper than numpy operations
    on length-k' arrays.
    """
    ne = float(hp.n_event)
    l1 = hp.lambda_ * hp.l1_ratio
    l2 = hp.lambda_ * (1.0 - hp.l1_ratio)
    zsT = np.ascontiguousarray(zs.T)
    kk = zsT.shape[0]
    # Rows: z_j^2 (for sum_i w_i z_ij^2) and z_j (for sum_i w_i z_ij); with g = d - w,
    # sum_i g_i z_ij = sum_i d_i z_ij - sum_i w_i z_ij.
    both = np.concatenate([zsT * zsT, zsT])
    zd = np.dot(zsT, d).tolist()
    bl = b.tolist()
    n = zs.shape[0]
    # eta - top = coef @ zs1T with coef = [b, -top].
    zs1T = np.ones((kk + 1, n))
    zs1T[:kk] = zsT
    coef = np.empty(kk + 1)
    ex = np.empty(n)
    s = np.empty(n)
    w = np.empty(n)
    ex_rev = ex[::-1]
    s_rev = s[::-1]
    # Local names for the numpy functions of the loop (up to MAX_SWEEPS_FINAL sweeps); their
    # outputs are passed positionally, which numpy parses faster than ``out=``. The bound
    # ``ndarray.dot`` methods skip the dispatch layer of ``np.dot``.
    dot = np.dot
    eta_into = coef.dot  # eta_into(zs1T, ex): ex = coef . zs1T
    sums = both.dot  # sums(w): the 2k' sums over samples
    exp = np.exp
    divide = np.divide
    multiply = np.multiply
    cumsum = np.add.accumulate
    sqrt = math.sqrt
    top = float(dot(bl, zsT).max())
    top_finite = math.isfinite(top)
    coef[kk] = -top
    for _ in range(max_sweeps):
        # S0 = s * exp(top) with s the suffix sums of exp(eta - top). Any shift gives the same
        # S0; it is renewed only when the sums would overflow or underflow (s[0] is the
        # largest suffix sum, s[-1] the smallest).
        coef[:kk] = bl
        eta_into(zs1T, ex)
        exp(ex, ex)
        cumsum(ex_rev, 0, None, s_rev)
        in_range = s[0] < 1e300 and s[-1] > 1e-290
        if not in_range:
            top = float(dot(bl, zsT).max())
            top_finite = math.isfinite(top)
            coef[kk] = -top
            eta_into(zs1T, ex)
            exp(ex, ex)
            cumsum(ex_rev, 0, None, s_rev)
            in_range = s[0] < 1e300 and s[-1] > 1e-290
        if in_range and top_finite:
            # w = exp(eta) * cumsum(d / S0) with S0 = s * exp(top): the shifts cancel.
            divide(d, s, w)
            cumsum(w, 0, None, w)
            multiply(ex, w, w)
        else:
            w = _cox_grad(dot(bl, zsT), d)[1]
        prod = sums(w).tolist()
        max_change = 0.0
        b_new: list[float] = []
        for pv, pz, zdj, bj_old in zip(prod, prod[kk:], zd, bl):
            v = pv / ne
            if v < 1e-12:
                v = 1e-12
            u = (zdj - pz) / ne + v * bj_old
            if u > l1:
                bj = (u - l1) / (v + l2)
            elif u < -l1:
                bj = (u + l1) / (v + l2)
            elif u == u:
                bj = 0.0
            else:  # NaN stays NaN, so that a diverging fit is detected
                bj = u
            b_new.append(bj)
            if bj != bj_old:
                change = abs(bj - bj_old) * sqrt(v)
                if change > max_change:
                    max_change = change
        bl = b_new
        if max_change < EPS_BETA:
            break
    return np.asarray(bl)


def _beta_step(
    Z: np.ndarray,
    d: np.ndarray,
    beta: np.ndarray,
    hp: _Hyper,
    max_sweeps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Beta step on standardised scores; returns (beta, meanZ, sdZ, finite).

    Columns of Z with sd <= 1e-12 get beta 0. The coordinate descent starts from the current
    beta as it is (no rescaling) and its result is mapped back by dividing by sdZ. On a
    non-finite result the incoming beta is returned with ``finite=False`` (meanZ and sdZ are
    the new ones, as in the package).
    """
    # Z.mean(axis=0) and Z.std(axis=0, ddof=1), the same operations numpy does, keeping the
    # deviations for the standardised scores.
    n = Z.shape[0]
    mean_z = np.add.reduce(Z, axis=0) / n
    dev = Z - mean_z
    sd_z = np.sqrt(np.add.reduce(np.square(dev), axis=0) / (n - 1))
    keep = sd_z > 1e-12
    if not keep.any():
        return np.zeros(Z.shape[1]), mean_z, sd_z, True
    zs = dev / sd_z if keep.all() else dev[:, keep] / sd_z[keep]
    b = _cd_cox(zs, d, beta[keep], hp, max_sweeps)
    out = np.zeros(Z.shape[1])
    out[keep] = b / sd_z[keep]
    if not np.all(np.isfinite(out)):
        return beta, mean_z, sd_z, False
    return out, mean_z, sd_z, True


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _as_matrix(a: object, name: str) -> np.ndarray:
    """A finite, nonnegative 2-d float array (X genes x samples, W0 or H0)."""
    try:
        arr = np.array(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(a).__name__}.") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array, got {arr.ndim} dimension(s).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; remove or impute them.")
    if name == "X":
        check_nonnegative(arr.T, "X")  # the one message (rows of X.T are samples)
    elif np.any(arr < 0):
        raise ValueError(f"{name} must be nonnegative (found minimum {arr.min():.4g}).")
    return arr


def _check_hyper(
    alpha: float,
    lambda_: float,
    l1_ratio: float,
    lambda_w: float,
    lambda_h: float,
    max_iter: int,
    tol: float,
) -> None:
    """The model's values through the one check, then the loop's own (tol, max_iter >= 0:
    the R package runs exactly max_iter iterations at tol 0)."""
    check_model_values(alpha, lambda_, l1_ratio, lambda_w, lambda_h)
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)):
        raise TypeError(f"tol must be a real number, got {type(tol).__name__}.")
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)):
        raise TypeError(f"max_iter must be an integer, got {type(max_iter).__name__}.")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}.")


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def fit_rdesurv(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    W0: np.ndarray,
    H0: np.ndarray,
    beta0: np.ndarray,
    *,
    alpha: float,
    lambda_: float,
    l1_ratio: float,
    lambda_w: float,
    lambda_h: float,
    max_iter: int,
    tol: float,
) -> RDesurvResult:
    """Fit DeSurv from given starting values exactly as the R package does.

    Parameters
    ----------
    X : array of shape (p, n)
        Nonnegative expression, genes x samples.
    time : array of shape (n,)
        Survival or censoring times, input sample order.
    event : array of shape (n,)
        1 = event, 0 = censored.
    W0 : array of shape (p, k)
        Nonnegative starting loadings, genes x factors (any column scale: the columns are
        normalised to unit norm first and the rows of H0 scaled to match; beta0 is not).
    H0 : array of shape (k, n)
        Nonnegative starting activities, factors x samples, input sample order.
    beta0 : array of shape (k,)
        Starting Cox coefficients on the raw scores ``X^T W``.
    alpha : float
        Survival weight in [0, 1) (R: ``alpha``).
    lambda_ : float
        Elastic-net strength of the Cox penalty, >= 0 (R: ``lambda``).
    l1_ratio : float
        Elastic-net mix in [0, 1], 1 = lasso (R: ``nu``; the paper's xi).
    lambda_w : float
        Ridge on W, >= 0 (R: ``lambdaW``; the paper's gamma).
    lambda_h : float
        Ridge on H, >= 0 (R: ``lambdaH``; the paper's nu).
    max_iter : int
        Maximum iterations, >= 0 (R: ``maxit``). 0 runs only the final beta refit.
    tol : float
        Stop when the relative loss change is <= tol, >= 0 (R: ``tol``; 0 runs exactly
        ``max_iter`` iterations).

    Returns
    -------
    RDesurvResult
        W (p x k, unit columns), H (k x n, input order), beta after the final refit, the
        per-iteration loss trace and the final loss.

    Notes
    -----
    Tied times: samples are sorted stably by (time, input index); the risk set of the sample
    at sorted position i is positions {i, ..., n-1} (the package's rule, made deterministic;
    neither Breslow nor Efron).
    """
    X = _as_matrix(X, "X")
    p, n = X.shape
    W0 = _as_matrix(W0, "W0")
    H0 = _as_matrix(H0, "H0")
    k = W0.shape[1]
    if W0.shape[0] != p:
        raise ValueError(f"W0 must be genes x factors with p={p} rows, got shape {W0.shape}.")
    if H0.shape != (k, n):
        raise ValueError(
            f"H0 must be factors x samples with shape ({k}, {n}), got shape {H0.shape}."
        )
    b0 = np.asarray(beta0, dtype=float).ravel()
    if b0.shape[0] != k:
        raise ValueError(f"beta0 must have one entry per factor (k={k}), got {b0.shape[0]}.")
    if not np.all(np.isfinite(b0)):
        raise ValueError("beta0 contains NaN or infinite values.")
    t, e = check_survival(time, event, n)  # the one check (desurv._validation)
    _check_hyper(alpha, lambda_, l1_ratio, lambda_w, lambda_h, max_iter, tol)
    hp = _Hyper(
        alpha=float(alpha),
        lambda_=float(lambda_),
        l1_ratio=float(l1_ratio),
        lambda_w=float(lambda_w),
        lambda_h=float(lambda_h),
        n_event=int(e.sum()),
    )

    # Overflow and NaN are part of the package's behaviour (a diverging fit stops and is
    # flagged); numpy's floating-point warnings would only repeat that.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _fit(X, t, e, W0, H0, b0, hp, max_iter, tol)


def _fit(
    X: np.ndarray,
    t: np.ndarray,
    e: np.ndarray,
    W0: np.ndarray,
    H0: np.ndarray,
    b0: np.ndarray,
    hp: _Hyper,
    max_iter: int,
    tol: float,
) -> RDesurvResult:
    """The package's fit loop on validated inputs (X genes x samples, input order)."""
    p, n = X.shape
    k = W0.shape[1]
    # Sort once by time (stable: ties keep input order), as the package does (unstably).
    order = np.argsort(t, kind="stable")
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.arange(n)
    Xs = np.ascontiguousarray(X[:, order])
    XsT = np.ascontiguousarray(Xs.T)  # for X^T W, the product taken most often
    d = e[order]
    H = np.ascontiguousarray(H0[:, order])
    beta = b0.copy()

    cn = np.sqrt(np.sum(W0 * W0, axis=0))
    cn[cn < 1e-12] = 1.0
    W = np.asfortranarray(W0 / cn)  # columns contiguous: see _w_step
    H = H * cn[:, None]
    Z = Xs.T @ W
    mean_z = Z.mean(axis=0)
    sd_z = Z.std(axis=0, ddof=1)

    trace: dict[str, list[float]] = {key: [] for key in _LOSS_KEYS}
    xsq = float(np.dot(Xs.ravel(), Xs.ravel()))
    lp = Xs.T @ (W @ beta)  # linear predictor of the current (W, beta), sorted order
    xtw = _xtw(XsT, W)  # scores X^T W of the current W, sorted order
    # Loss parts at the current point that the W step would otherwise recompute.
    surv = _surv(lp, d, beta, sd_z, hp)
    pen_w = _total(W * W) / (2.0 * p * k)
    loss = LOSS_START
    rel_change = 1.0
    it = 0
    diverged = False
    while rel_change > tol and it < max_iter:
        loss_prev = loss
        H = _h_step(xtw, W, H, hp.lambda_h)
        W, H, beta, parts, lp, Z = _w_step(
            Xs, XsT, d, W, H, beta, sd_z, lp, surv, pen_w, xsq, hp
        )
        pen_w = parts["penalty_W"]
        if Z is not None:  # a trial was accepted; otherwise W, and so xtw, are unchanged
            xtw = Z
        if hp.alpha > 0.0:
            beta, mean_z, sd_z, finite = _beta_step(xtw, d, beta, hp, MAX_SWEEPS)
            if not finite:
                diverged = True
                break
            lp = xtw @ beta
        # W and H are those of the W step: only the parts that depend on beta and on the
        # stored sdZ change (the W step evaluated its trials with sdZ / c, but the package
        # does not store that sdZ).
        surv = _surv(lp, d, beta, sd_z, hp)
        parts = _assemble(parts["nmf_loss"], pen_w, parts["penalty_H"], surv, hp)
        if not np.isfinite(parts["loss"]):
            diverged = True
            break
        loss = parts["loss"]
        rel_change = abs(loss - loss_prev) / max(1e-12, abs(loss_prev))
        for key in _LOSS_KEYS:
            trace[key].append(parts[key])
        it += 1

    # Final refit of beta on the final W (also when alpha == 0).
    beta, mean_z, sd_z, finite = _beta_step(Xs.T @ W, d, beta, hp, MAX_SWEEPS_FINAL)
    diverged = diverged or not finite
    final = _loss(Xs, d, W, H, beta, sd_z, hp)

    return RDesurvResult(
        W=np.ascontiguousarray(W),
        H=np.ascontiguousarray(H[:, inverse]),
        beta=beta,
        mean_z=mean_z,
        sd_z=sd_z,
        loss_trace={key: np.asarray(vals, dtype=float) for key, vals in trace.items()},
        final_loss={key: float(val) for key, val in final.items()},
        linear_predictor=(X.T @ W) @ beta,
        n_iter=it,
        converged=bool(rel_change <= tol),
        diverged=diverged,
    )


def init_rdesurv(
    X: np.ndarray, k: int, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one random start as the R package's ``init()`` does.

    ``W0`` (p x k) and ``H0`` (k x n) are uniform on [0, max(X)] (W drawn first), ``beta0``
    is zero. The recipe is the package's; the random stream is numpy's, so a given seed does
    not give the same numbers as ``set.seed()`` in R.

    Parameters
    ----------
    X : array of shape (p, n)
        Nonnegative expression, genes x samples (only its shape and maximum are used).
    k : int
        Number of factors, 1 <= k <= min(p, n).
    rng : numpy Generator, int or None
        Source of randomness (an int or None is passed to ``numpy.random.default_rng``).

    Returns
    -------
    W0 : ndarray of shape (p, k)
        Genes x factors.
    H0 : ndarray of shape (k, n)
        Factors x samples.
    beta0 : ndarray of shape (k,)
        Zeros.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d genes x samples array, got {X.ndim} dimension(s).")
    p, n = X.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= min(p, n):
        raise ValueError(f"k must be an integer in [1, min(p, n)] = [1, {min(p, n)}], got {k}.")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    top = float(np.max(X))
    W0 = gen.uniform(0.0, top, size=(p, k))
    H0 = gen.uniform(0.0, top, size=(k, n))
    return W0, H0, np.zeros(k)


def cindex_rdesurv(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C as the R DeSurv package computes it for its start selection (higher risk
    = shorter survival). desurv's C-index is :func:`desurv.metrics.concordance_index` (R's
    ``survival::concordance``); this variant differs in taking the times as given (no
    ``timefix`` merging of times equal up to rounding) and serves ``variant="r-desurv"`` only.

    A pair is comparable when the shorter time is an event; a censored time equal to an event
    time counts as the longer one; two events at the same time are not comparable. Pairs with
    equal risk count 1/2.

    Parameters
    ----------
    time, event, risk : arrays of shape (n,)

    Returns
    -------
    float
        The concordance, NaN when no pair is comparable.
    """
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event, dtype=float).ravel()
    r = np.asarray(risk, dtype=float).ravel()
    conc = 0.0
    total = 0.0
    for i in np.flatnonzero(e == 1):
        later = (t > t[i]) | ((t == t[i]) & (e == 0))
        if not later.any():
            continue
        rj = r[later]
        conc += float(np.sum(r[i] > rj)) + 0.5 * float(np.sum(r[i] == rj))
        total += float(rj.shape[0])
    return conc / total if total > 0 else float("nan")

harrell_cindex = cindex_rdesurv  # the name the parity tests use


def fit_rdesurv_multistart(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    k: int,
    *,
    alpha: float,
    lambda_: float,
    l1_ratio: float,
    lambda_w: float,
    lambda_h: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    ninit: int = 20,
    imaxit: int = 30,
    tol_init: float = 1e-4,
    rng: np.random.Generator | int | None = None,
) -> RDesurvResult:
    """The R package's multi-start: ``ninit`` short fits, the best by C-index continues.

    Each start is drawn by :func:`init_rdesurv` and fitted by :func:`fit_rdesurv` with at most
    ``imaxit`` iterations and tolerance ``tol_init`` (final beta refit included). The start
    with the highest training C-index of ``X^T W beta`` (the first one on ties) is fitted again
    from its W, H, beta with ``max_iter`` and ``tol``. Starts whose fit diverged are skipped.

    Parameters
    ----------
    X : array of shape (p, n)
        Nonnegative expression, genes x samples.
    time, event : arrays of shape (n,)
        Survival times and event indicators, input sample order.
    k : int
        Number of factors.
    alpha, lambda_, l1_ratio, lambda_w, lambda_h : float
        As in :func:`fit_rdesurv` (R: ``alpha, lambda, nu, lambdaW, lambdaH``).
    max_iter : int, default 1000
        Iterations of the final fit (R: ``maxit``).
    tol : float, default 1e-6
        Tolerance of the final fit (R: ``tol``).
    ninit : int, default 20
        Number of random starts (R: ``ninit``).
    imaxit : int, default 30
        Iterations of each short fit (R: ``imaxit``).
    tol_init : float, default 1e-4
        Tolerance of each short fit (R: ``tol_init``).
    rng : numpy Generator, int or None
        Source of the random starts. R's random stream is not reproduced.

    Returns
    -------
    RDesurvResult
        The final fit, with ``best_start``, ``init_cindex`` and ``start_cindices`` (NaN for
        a start that diverged) filled in.

    Raises
    ------
    FloatingPointError
        If every start diverged.
    """
    if isinstance(ninit, bool) or not isinstance(ninit, (int, np.integer)) or ninit < 1:
        raise ValueError(f"ninit must be an integer >= 1, got {ninit}.")
    if isinstance(imaxit, bool) or not isinstance(imaxit, (int, np.integer)) or imaxit < 1:
        raise ValueError(f"imaxit must be an integer >= 1, got {imaxit}.")
    X = _as_matrix(X, "X")
    t, e = check_survival(time, event, X.shape[1])
    _check_hyper(alpha, lambda_, l1_ratio, lambda_w, lambda_h, max_iter, tol)
    _check_hyper(alpha, lambda_, l1_ratio, lambda_w, lambda_h, imaxit, tol_init)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    hyper = {
        "alpha": alpha,
        "lambda_": lambda_,
        "l1_ratio": l1_ratio,
        "lambda_w": lambda_w,
        "lambda_h": lambda_h,
    }
    cvals = np.full(ninit, np.nan)
    best: RDesurvResult | None = None
    best_idx = -1
    for i in range(ninit):
        W0, H0, b0 = init_rdesurv(X, k, gen)
        short = fit_rdesurv(X, t, e, W0, H0, b0, max_iter=imaxit, tol=tol_init, **hyper)
        if short.diverged or not np.all(np.isfinite(short.linear_predictor)):
            continue
        cvals[i] = cindex_rdesurv(t, e, short.linear_predictor)
        if np.isfinite(cvals[i]) and (best is None or cvals[i] > cvals[best_idx]):
            best, best_idx = short, i
    if best is None:
        raise FloatingPointError(
            f"All {ninit} short starts of the r-desurv multi-start diverged (non-finite loss "
            f"or beta) with alpha={alpha}, lambda_={lambda_}, l1_ratio={l1_ratio}, "
            f"lambda_w={lambda_w}, lambda_h={lambda_h}; try a larger lambda_ or a smaller "
            "alpha, or scale X down."
        )
    result = fit_rdesurv(X, t, e, best.W, best.H, best.beta, max_iter=max_iter, tol=tol, **hyper)
    result.best_start = best_idx
    result.init_cindex = float(cvals[best_idx])
    result.start_cindices = cvals
    return result


def nnls_h0(X: np.ndarray, W0: np.ndarray) -> np.ndarray:
    """Starting H from a starting W by nonnegative least squares, column by column.

    What the R package does when ``W0`` is given without ``H0``:
    ``H0[:, j] = argmin_{h >= 0} ||X[:, j] - W0 h||``.

    Parameters
    ----------
    X : array of shape (p, n)
        Nonnegative expression, genes x samples.
    W0 : array of shape (p, k)
        Nonnegative loadings, genes x factors.

    Returns
    -------
    ndarray of shape (k, n)
        Factors x samples.
    """
    from scipy.optimize import nnls

    X = _as_matrix(X, "X")
    W0 = _as_matrix(W0, "W0")
    if W0.shape[0] != X.shape[0]:
        raise ValueError(f"W0 must have as many rows (genes) as X: {W0.shape[0]} != {X.shape[0]}.")
    H0 = np.empty((W0.shape[1], X.shape[1]))
    for j in range(X.shape[1]):
        H0[:, j] = nnls(W0, X[:, j])[0]
    return H0
