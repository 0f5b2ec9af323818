"""The DeSurv fit loop on stacked arrays (a batch of independent problems).

The scale-free model. X genes x samples (p x n), W genes x k, H k x samples, Z = W^T X
(k x n) the factor scores, Zs the scores standardised over the samples (each row centred and
divided by its standard deviation s_j, denominator n - 1), b (k,) the standardised Cox
coefficients and l the Cox log partial likelihood of eta = Zs^T b:

    L = (1-alpha)/S ||X - W H||_F^2                                    (nmf)
        + (1-alpha) nu/S sum_j ||w_j||^2 ||h_j||^2                     (penalty_h)
        - alpha (2/n_e) l(W, b) / D0                                   (cox)
        + alpha lambda [xi ||b||_1 + (1-xi)/2 ||b||_2^2] / D0          (penalty_beta)

with S = sum_g sum_i (x_gi - mean_g)^2 the gene-centred total sum of squares of X, n_e the
number of events and D0 = -(2/n_e) l(0) the per-event deviance of the null Cox model. Every
part is unchanged when a column of W is multiplied by c and the row of H divided by c (Zs and
||w_j h_j^T|| do not change), and when X is multiplied by a constant (H takes the constant), so
W is kept with unit-norm columns (the scale moved into H) and ``alpha`` and ``lambda_`` mean
the same on any data: the NMF part is the share of the gene-wise variance that W H leaves
unexplained, the survival part is the Cox deviance per event on standardised scores (as the R
package's) with its penalty, over the null deviance, and nu (``lambda_h``) penalises the energy
||w_j h_j^T||_F^2 of each program relative to S. The raw coefficients of Z are beta = b / s.
With a sample mask (cross-validation folds) S, n_e, D0, the standard deviations and every sum
run over the masked-in samples only.

One iteration with ``update="mu"`` (the paper's Algorithm 1) updates H (multiplicative,
exact majorise-minimise step), then W (multiplicative step with the Cox gradient split by
sign between numerator and denominator, damped by halving a step fraction until the full
loss does not increase), rescales the columns of W to unit norm (which leaves L unchanged),
then b (proximal Newton with an exact lasso subproblem on the standardised scores, with a
line search), so L never increases.

``update="hals"`` (what ``DeSurv(solver="hals")``, the package's default, runs) optimises the
same loss: H by three passes of exact coordinate minimisation over its rows (HALS), W towards
the minimiser (two HALS passes) of the NMF part plus the survival part linearised at W
(optionally with an adaptive gain on the survival gradient, ``gain0``), and with
``extrapolate=True`` the extrapolated point (W, H) + w ((W, H) - (W, H)_previous) (Ang &
Gillis 2019) kept only where it lowers L. The package runs it with the warm-up ended by
``warmup_tol`` (the NMF part converged first): with a short fixed warm-up the survival part
acts on a half-formed NMF and the fit settles in a poor basin, and from the paper's uniform
starts HALS first reaches a saddle where every factor has the same activities (a rank-one
fit, about 0.81 of the gene-wise variance unexplained on the simulation design), whose slow
escape (relative changes near 2e-5 for tens of iterations) a loose tolerance takes for
convergence. See docs/model.md, "The solver", for the measurements. Entries of W are kept at
or above ``EPS`` and those of H at or above ``EPS`` times the mean of X (H carries the unit of
X), so that no entry is frozen at zero and the fit does not depend on the unit of X.

Layout for BLAS efficiency: W is stored as (p, B, k) so that all members form one p x (B k)
matrix; H as (B, k, n). Samples are in time-sorted order inside the loop.

Memory: the loop holds one copy of X (time-sorted, C-contiguous, made once by ``_Problem``)
and otherwise arrays of k rows or columns (W, H, the scores, the products of X with them).
X may be float32, which halves that copy: the products with X are then single-precision
products (see ``_few_left``), everything else is float64.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from desurv._core.beta import per_event_weight, solve_beta
from desurv._core.cox import SurvivalData, _events, _gradient, _loglik

__all__ = [
    "SOLVERS",
    "Hyper",
    "FitResult",
    "fit_batch",
    "solve_beta",
    "loss_parts",
    "standardised_scores",
    "EPS",
]

EPS = 1e-12
ZT_REFRESH = 50  # iterations between exact recomputations of W^T X
# the damped W step tries up to this multiple of the multiplicative step (over-relaxation):
# on the paper's simulation it halves the iterations the survival part needs to reshape W
W_STEP_MAX = 4.0
# update="hals" only:
# the HALS direction is already a full (Newton-like) step of the NMF part: over-relax less
HALS_STEP_MAX = 2.0
DAMPED = 0.25  # an accepted W step fraction below this does not count towards convergence
# A HALS fit whose NMF part is within this share of the best rank-one fit's has not left the
# saddle where every factor has the same activities (a plateau of tiny relative changes that
# HALS reaches within a few iterations from random starts): it is not taken for converged.
RANK1_MARGIN = 0.01
H_SWEEPS = 3  # HALS passes over the rows of H per iteration (O(k^2 n) each, no pass over X)
W_SWEEPS = 2  # HALS passes over the columns of W per iteration (O(p k^2) each)
# the adaptive gain of the survival gradient in the W surrogate (gain0 not None)
GAIN_UP, GAIN_MIN, GAIN_MAX = 2.0, 1.0, 1e6
# extrapolation of (W, H) along the last step (Ang & Gillis 2019), kept only when it lowers L:
# the weight grows by EXTRA_GROW after a success, shrinks by EXTRA_SHRINK after a failure
EXTRA_START, EXTRA_GROW, EXTRA_SHRINK = 0.5, 1.1, 1.5
# the optimisers of the same loss that users choose between (``DeSurv(solver=...)``): the
# keyword arguments of fit_batch each stands for
SOLVERS: dict[str, dict] = {
    "mu": {},
    "hals": {"update": "hals", "extrapolate": True, "gain0": 1.0},
}
LOSS_PARTS = ("loss", "nmf", "cox", "penalty_beta", "penalty_w", "penalty_h")


@dataclass(frozen=True)
class Hyper:
    """Hyperparameters of one fit (shared by every member of a batch).

    ``lambda_w`` is not part of the scale-free model (its columns of W have unit norm, so a
    ridge on W is a constant); it is kept for the R package's variant, which has one.
    """

    alpha: float = 0.5
    lambda_: float = 0.1
    l1_ratio: float = 0.5
    lambda_w: float = 0.0
    lambda_h: float = 0.0
    ties: str = "efron"
    max_backtrack: int = 30

    def describe(self) -> str:
        return (
            f"alpha={self.alpha}, lambda_={self.lambda_}, l1_ratio={self.l1_ratio}, "
            f"lambda_h={self.lambda_h}, ties={self.ties!r}"
        )


@dataclass
class FitResult:
    """Outcome of :func:`fit_batch` for every member (input sample order).

    ``beta`` are the raw coefficients of the scores Z = W^T X (risk = X^T W beta),
    ``beta_std`` the standardised ones (beta times ``score_sd``), ``score_mean`` and
    ``score_sd`` the mean and standard deviation (n - 1) of each score over the member's
    samples.
    """

    W: np.ndarray  # (B, p, k), unit-norm columns
    H: np.ndarray  # (B, k, n)
    beta: np.ndarray  # (B, k)
    history: list[dict[str, np.ndarray]] = field(default_factory=list)  # per member
    n_iter: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    converged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    beta_std: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    score_mean: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    score_sd: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


class _Problem:
    """Data shared by all members: X in sorted order and cached quantities."""

    def __init__(
        self,
        X: np.ndarray,
        surv: SurvivalData,
        mask: np.ndarray,
        ties: str = "efron",
        shift: int = 0,
    ) -> None:
        # (p, n) sorted, times 2**-shift (exact: see fit_batch's binary unit): the one copy
        # of X made here, scaled in place; float32 X stays float32. np.take writes a
        # C-contiguous array (X[:, order] is F-ordered, so making it C-contiguous copied X
        # a second time)
        self.X = np.take(X, surv.order, axis=1)
        if shift:
            np.ldexp(self.X, -shift, out=self.X)
        self.surv = surv
        self.mask = mask  # (B, n) sorted
        self.full = bool(np.all(mask > 0))
        self.p, self.n = self.X.shape
        self.n_samples = mask.sum(axis=1)  # (B,)
        sq = _column_sq_sums(self.X)  # (n,)
        self.x_norm2 = mask @ sq  # (B,)
        # gene-centred total sum of squares over each member's samples
        gene_sums = _x_times_double(self.X, mask.T)  # (p, B)
        self.ss = np.maximum(self.x_norm2 - (gene_sums**2).sum(axis=0) / self.n_samples, 0.0)
        # the floor of H follows the unit of X (W is dimensionless): the fit stays the same
        # when X is multiplied by any constant, however small
        self.h_floor = EPS * float(self.X.mean(dtype=np.float64))
        self.ev = _events(surv, mask)
        ne = self.ev.n_events
        self.cox_w = per_event_weight(ne)  # 2 / n_events (B,)
        # the null model's per-event deviance D0 = -(2/n_e) l(0); the survival part is
        # measured in its units (1 / D0; 0 for a member without events)
        d0 = -self.cox_w * _loglik(np.zeros_like(mask), surv, mask, ties, self.ev)
        self.surv_scale = np.where(d0 > 0, 1.0 / np.where(d0 > 0, d0, 1.0), 0.0)
        self.cox_scale = self.cox_w * self.surv_scale  # the factor of -l in L / alpha

    def sub(self, idx: np.ndarray) -> _Problem:
        new = object.__new__(_Problem)
        new.__dict__.update(self.__dict__)
        new.mask = self.mask[idx]
        new.n_samples = self.n_samples[idx]
        new.x_norm2 = self.x_norm2[idx]
        new.ss = self.ss[idx]
        new.cox_w = self.cox_w[idx]
        new.surv_scale = self.surv_scale[idx]
        new.cox_scale = self.cox_scale[idx]
        new.ev = self.ev.take(idx)
        return new


# OpenBLAS multiplies a large matrix by 3 or fewer vectors much slower than by 4 (measured
# with 0.3.30 on x86-64: X (1000 x 500) times 3 columns 0.40-0.46 ms, times 4 columns 0.33-0.36
# ms, 3 separate matrix-vector products 0.21 ms). Products of X with so few vectors are done as
# matrix-vector products while X fits in cache, and padded to 4 vectors beyond that.
_GEMV_MAX_BYTES = 8 * 2**20


# Products with X are the only work of a fit on arrays of X's size. With float32 X (``DeSurv(
# dtype="float32")``) they are single-precision products: the other operand is rounded to
# float32 (a float64 operand would make numpy convert all of X to float64 for each product)
# and the result, which has k rows or columns, comes back as float64, in which everything
# else (the factors, the scores' moments, the Cox part, the loss) is computed. For float64 X
# the casts are no-ops.
_BLOCK_BYTES = 8 * 2**20  # gene blocks of this size for the float64 passes over float32 X


def _few_left(M: np.ndarray, X: np.ndarray) -> np.ndarray:
    """M X for M (m, p) with few rows (float64 result)."""
    M = M.astype(X.dtype, copy=False)
    m = M.shape[0]
    if m >= 4:
        out = M @ X
    elif X.nbytes <= _GEMV_MAX_BYTES:
        out = np.stack([M[j] @ X for j in range(m)])
    else:
        pad = np.zeros((4 - m, M.shape[1]), dtype=M.dtype)
        out = (np.concatenate([M, pad]) @ X)[:m]
    return out.astype(np.float64, copy=False)


def _few_right(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """X M for M (n, m) with few columns (float64 result)."""
    M = M.astype(X.dtype, copy=False)
    m = M.shape[1]
    if m >= 4:
        out = X @ M
    elif X.nbytes <= _GEMV_MAX_BYTES:
        out = np.stack([X @ M[:, j] for j in range(m)], axis=1)
    else:
        pad = np.zeros((M.shape[0], 4 - m), dtype=M.dtype)
        out = (X @ np.concatenate([M, pad], axis=1))[:, :m]
    return out.astype(np.float64, copy=False)


def _gene_blocks(X: np.ndarray) -> range:
    """Starts of blocks of rows (genes) of X of about ``_BLOCK_BYTES`` each."""
    rows = max(1, _BLOCK_BYTES // max(1, X.shape[1] * 8))
    return range(0, X.shape[0], rows)


def _x_times_double(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """X M (p, m) in double precision: :func:`_few_right` for float64 X; for float32 X, X is
    converted block by block (the data constants S and ||X||^2 are sums over a whole axis,
    whose single-precision rounding would reach the loss)."""
    if X.dtype == np.float64:
        return _few_right(X, M)
    step = _gene_blocks(X).step
    return np.concatenate(
        [_few_right(X[g : g + step].astype(np.float64), M) for g in _gene_blocks(X)]
    )


def _column_sq_sums(X: np.ndarray) -> np.ndarray:
    """Sum over the genes of X**2 per sample, (n,) in float64, without a temporary of X's
    size: the rows are added in order in blocks, each block's reduction starting from the
    running sum, which is bitwise ``(X**2).sum(axis=0)`` for float64 X (numpy reduces axis
    0 of a C-contiguous array row after row)."""
    p, n = X.shape
    step = _gene_blocks(X).step
    buf = np.empty((min(step, p) + 1, n))
    acc = None
    for g0 in _gene_blocks(X):
        m = min(p, g0 + step) - g0
        if acc is None:  # the first block starts the sum itself, as numpy's reduction does
            np.square(X[g0 : g0 + m], out=buf[:m], dtype=np.float64)
            acc = buf[:m].sum(axis=0)
        else:
            buf[0] = acc
            np.square(X[g0 : g0 + m], out=buf[1 : 1 + m], dtype=np.float64)
            acc = buf[: 1 + m].sum(axis=0)
    return acc


def _wtx(prob: _Problem, W: np.ndarray) -> np.ndarray:
    """Z^T per member: (B, k, n) = W_b^T X, one GEMM for the whole batch."""
    p, B, k = W.shape
    return _few_left(W.reshape(p, B * k).T, prob.X).reshape(B, k, prob.n)


def _masked_h(prob: _Problem, H: np.ndarray) -> np.ndarray:
    return H if prob.full else H * prob.mask[:, None, :]


def _x_times(prob: _Problem, M: np.ndarray) -> np.ndarray:
    """X M for M (n, m): one pass over X."""
    return _few_right(prob.X, M)


def _xht(prob: _Problem, Hm: np.ndarray) -> np.ndarray:
    """X H_b^T (H with masked-out columns zeroed) per member, in the (p, B, k) layout."""
    B, k, n = Hm.shape
    return _few_right(prob.X, Hm.reshape(B * k, n).T).reshape(prob.p, B, k)


def _gram(A: np.ndarray, C: np.ndarray | None = None) -> np.ndarray:
    """A_b^T C_b per member for A, C in the (p, B, k) layout -> (B, k, k) (BLAS per member)."""
    At = A.transpose(1, 2, 0)
    return np.matmul(At, (A if C is None else C).transpose(1, 0, 2))


def _inner(A: np.ndarray, C: np.ndarray) -> np.ndarray:
    """<A_b, C_b> per member for two (p, B, k) arrays -> (B,)."""
    return np.einsum("pbk,pbk->b", A, C)


def _diag(M: np.ndarray) -> np.ndarray:
    """Diagonals of (B, k, k) -> (B, k)."""
    return np.einsum("bkk->bk", M)


def _mean_centred(
    zt: np.ndarray, mask: np.ndarray, n_samples: np.ndarray, full: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Means (B, k) of the scores zt (B, k, n) over each member's samples, and the scores
    centred on them (0 for masked-out samples)."""
    if full:
        mean = zt.mean(axis=2)
        return mean, zt - mean[:, :, None]
    m = mask[:, None, :]
    mean = (zt * m).sum(axis=2) / n_samples[:, None]
    return mean, (zt - mean[:, :, None]) * m


def _sd(zc: np.ndarray, n_samples: np.ndarray) -> np.ndarray:
    """Standard deviations (n - 1) of centred scores (B, k, n) -> (B, k), kept away from 0
    (a constant score gets a tiny sd, so its standardised coefficient has no effect)."""
    var = np.einsum("bkn,bkn->bk", zc, zc) / np.maximum(n_samples - 1, 1)[:, None]
    sd = np.sqrt(var)
    return np.maximum(sd, 1e-12 * (1e-300 + sd.max(axis=1, keepdims=True)))


def _centred(prob: _Problem, zt: np.ndarray) -> np.ndarray:
    """Scores (B, k, n) centred over each member's samples (0 for masked-out samples)."""
    return _mean_centred(zt, prob.mask, prob.n_samples, prob.full)[1]


def _score_sd(prob: _Problem, zc: np.ndarray) -> np.ndarray:
    """:func:`_sd` of a problem's centred scores."""
    return _sd(zc, prob.n_samples)


def _eta(zt: np.ndarray, b: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """eta = Z^T (b / sd) (B, n); centring does not change the Cox likelihood."""
    return np.einsum("bkn,bk->bn", zt, b / sd)


def standardised_scores(
    X: np.ndarray, W: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores Z = W^T X standardised over the (masked-in) samples.

    Parameters
    ----------
    X : (p, n) expression, genes x samples.  W : (B, p, k).  mask : (B, n) of {0, 1}.

    Returns
    -------
    zs : (B, n, k) standardised scores (0 for masked-out samples), mean : (B, k), sd : (B, k)
    """
    B = W.shape[0]
    mask = np.ones((B, X.shape[1])) if mask is None else np.asarray(mask, dtype=float)
    n = mask.sum(axis=1)
    # float32 X: a single-precision product (as in the fit), its k x n result in float64
    zt = np.einsum("pn,bpk->bkn", X, W.astype(X.dtype, copy=False)).astype(np.float64, copy=False)
    mean, zc = _mean_centred(zt, mask, n, bool(np.all(mask > 0)))
    sd = _sd(zc, n)
    return (zc / sd[:, :, None]).transpose(0, 2, 1), mean, sd


def _penalty_beta(beta: np.ndarray, hp: Hyper) -> np.ndarray:
    return hp.lambda_ * (
        hp.l1_ratio * np.abs(beta).sum(axis=1) + 0.5 * (1 - hp.l1_ratio) * (beta**2).sum(axis=1)
    )


def _nmf_part(
    prob: _Problem, W: np.ndarray, xht: np.ndarray, wtw: np.ndarray, hht: np.ndarray, hp: Hyper
) -> np.ndarray:
    """(1-alpha)/S ||X - W H||^2 from Gram products: ||X||^2 - 2 <W, X H^T> + <W^T W, H H^T>."""
    resid2 = prob.x_norm2 - 2 * _inner(W, xht) + np.einsum("bkj,bkj->b", wtw, hht)
    return (1 - hp.alpha) / prob.ss * np.maximum(resid2, 0.0)


def _ridge_factor(prob: _Problem, hp: Hyper) -> np.ndarray:
    """g with penalty_h = g sum_j ||w_j||^2 ||h_j||^2, (B,)."""
    return (1 - hp.alpha) * hp.lambda_h / prob.ss


def _penalty_h(prob: _Problem, wtw: np.ndarray, hht: np.ndarray, hp: Hyper) -> np.ndarray:
    """(1-alpha) nu/S sum_j ||w_j||^2 ||h_j||^2 (B,), from W^T W and (masked) H H^T."""
    if hp.lambda_h == 0:
        return np.zeros(wtw.shape[0])
    return _ridge_factor(prob, hp) * np.einsum("bk,bk->b", _diag(wtw), _diag(hht))


def loss_parts(
    prob: _Problem,
    W: np.ndarray,
    H: np.ndarray,
    beta_std: np.ndarray,
    hp: Hyper,
) -> dict[str, np.ndarray]:
    """Every part of L for each member (B,), computed from scratch (W (p, B, k), H (B, k, n),
    standardised coefficients beta_std (B, k), sorted sample order)."""
    Hm = _masked_h(prob, H)
    xht, hht, wtw = _xht(prob, Hm), np.matmul(Hm, H.transpose(0, 2, 1)), _gram(W)
    out = {
        "nmf": _nmf_part(prob, W, xht, wtw, hht, hp),
        "penalty_w": np.zeros(W.shape[1]),
        "penalty_h": _penalty_h(prob, wtw, hht, hp),
    }
    a = hp.alpha
    if a > 0:
        zt = _wtx(prob, W)
        sd = _score_sd(prob, _centred(prob, zt))
        eta = _eta(zt, beta_std, sd)
        ll = _loglik(eta, prob.surv, prob.mask, hp.ties, prob.ev)
        out["cox"] = -a * prob.cox_scale * ll
        out["penalty_beta"] = a * prob.surv_scale * _penalty_beta(beta_std, hp)
    else:
        out["cox"] = np.zeros(W.shape[1])
        out["penalty_beta"] = np.zeros(W.shape[1])
    out["loss"] = (
        out["nmf"] + out["cox"] + out["penalty_beta"] + out["penalty_w"] + out["penalty_h"]
    )
    return out


# --------------------------------------------------------------------------------------------
# The three steps
# --------------------------------------------------------------------------------------------


def h_step(
    prob: _Problem,
    wtw: np.ndarray,
    H: np.ndarray,
    zt: np.ndarray,
    hp: Hyper,
    update: str = "mu",
    sweeps: int = 1,
) -> np.ndarray:
    """H step: the NMF part and the program-energy ridge are quadratic in H (H does not enter
    the survival part), with Hessian W^T W (+ nu diag(||w_j||^2)) per sample.

    ``update="hals"``: ``sweeps`` cyclic passes of exact coordinate minimisation over
    the rows h_j (hierarchical alternating least squares), each
    h_j = max(floor, ((W^T X)_j - sum_{l != j} (W^T W)_{jl} h_l) / ((1 + nu) ||w_j||^2)),
    so the loss never increases and each pass costs O(k^2 n) (no pass over X).
    ``update="mu"`` (default): the multiplicative step H * W^T X / (W^T W H + nu diag(||w_j||^2) H)
    (Lee-Seung, also a majorise-minimise step). ``wtw`` is W^T W (B, k, k) and ``zt`` is
    W^T X (B, k, n) of the current W.
    """
    if update == "mu":
        den = np.matmul(wtw, H)
        if hp.lambda_h > 0:
            den += hp.lambda_h * _diag(wtw)[:, :, None] * H
        return np.maximum(H * zt / np.maximum(den, prob.h_floor), prob.h_floor)
    H = H.copy()
    k = H.shape[1]
    d = _diag(wtw)  # (B, k)
    inv = 1.0 / np.maximum((1.0 + hp.lambda_h) * d, 1e-300)
    for _ in range(sweeps):
        for j in range(k):
            # (W^T X)_j - (W^T W H)_j + (W^T W)_jj h_j: the row's target without itself
            r = zt[:, j] - np.einsum("bl,bln->bn", wtw[:, j], H) + d[:, j, None] * H[:, j]
            H[:, j] = np.maximum(r * inv[:, j, None], prob.h_floor)
    return H


def _hals_w(
    W: np.ndarray,
    xht: np.ndarray,
    hht: np.ndarray,
    c_nmf: np.ndarray,
    lin: np.ndarray | None,
    lambda_h: float,
    sweeps: int,
) -> np.ndarray:
    """Cyclic exact coordinate minimisation over the columns w_j >= EPS of
    q(W) = c/2 (<W^T W, H H^T> - 2 <W, X H^T> + nu sum_j ||w_j||^2 ||h_j||^2) + <lin, W>
    (c = ``c_nmf`` per member, ``lin`` the linear term, e.g. the survival part's gradient),
    starting from W (p, B, k); ``sweeps`` passes, each O(p k^2) per member (no pass over X)."""
    W = W.copy()
    k = W.shape[2]
    hh = _diag(hht)  # (B, k)
    cb = c_nmf[:, None]  # (B, 1)
    den = np.maximum(cb * (1.0 + lambda_h) * hh, 1e-300)  # (B, k)
    for _ in range(sweeps):
        for j in range(k):
            # X H^T_j - W (H H^T)_j + w_j ||h_j||^2: the column's target without itself
            g = xht[:, :, j] - np.einsum("pbl,bl->pb", W, hht[:, :, j]) + W[:, :, j] * hh[:, j]
            num = cb[:, 0] * g if lin is None else cb[:, 0] * g - lin[:, :, j]
            W[:, :, j] = np.maximum(num / den[:, j], EPS)
    return W


@dataclass
class _WStep:
    """What the W step hands on: the new W with its products, and the loss parts it fixes."""

    W: np.ndarray  # (p, B, k)
    theta: np.ndarray  # (B,) accepted step fraction, 0 when W was kept
    zt: np.ndarray  # W^T X (B, k, n)
    wtw: np.ndarray  # W^T W (B, k, k)
    nmf: np.ndarray  # (B,) NMF part of L at (W, H)
    penalty_h: np.ndarray  # (B,) program-energy ridge at (W, H)


def _cox_direction(
    prob: _Problem, zc: np.ndarray, sd: np.ndarray, b: np.ndarray, r: np.ndarray
) -> np.ndarray:
    """M (B, k, n) with d l / d w_j = X M_j, for eta = sum_j b_j z_j / s_j.

    With zc the centred scores, sd their standard deviations and r = d l / d eta:
    M_j = (b_j / s_j) (r - a_j zc_j), a_j = (r . zc_j) / ((n - 1) s_j^2): the gradient through
    the scores' standard deviations removes the part of r along zc_j, so that scaling w_j
    changes nothing.
    """
    nm1 = np.maximum(prob.n_samples - 1, 1)[:, None]
    a = np.einsum("bkn,bn->bk", zc, r) / (nm1 * sd**2)
    return (b / sd)[:, :, None] * (r[:, None, :] - a[:, :, None] * zc)


def w_step(
    prob: _Problem,
    W: np.ndarray,
    H: np.ndarray,
    beta: np.ndarray,
    zt: np.ndarray,
    wtw: np.ndarray,
    hp: Hyper,
    theta0: np.ndarray | None = None,
    update: str = "mu",
    sweeps: int = 1,
    gain: np.ndarray | None = None,
) -> _WStep:
    """Damped W update with backtracking on the full loss.

    ``update="hals"``: the direction is D = W* - W with W* the minimiser, by
    ``sweeps`` passes of exact column-wise coordinate minimisation from W (HALS), of the NMF
    part and ridge (exact, quadratic in W) plus the survival part linearised at W, over
    W >= EPS. D is a descent direction of L (the surrogate has L's gradient at W and W* lowers
    it), W + theta D stays feasible for theta <= 1, and with alpha = 0 (or b = 0) W* itself is
    taken, each column update minimising L exactly. ``update="mu"`` (default): the
    multiplicative direction below.

    The full step is W * R with R = num / den, C = alpha (2/n_e) X M / D0 (so -C is the Cox part
    of dL/dW, M from :func:`_cox_direction`), num = 2(1-alpha)/S X H^T + max(C, 0), den =
    2(1-alpha)/S (W H H^T + nu W diag(||h_j||^2)) + max(-C, 0). Splitting C by sign keeps
    R >= 0; the fixed points are the same and -W/den * dL/dW stays a descent direction. A step
    fraction theta gives W(theta) = max(W + theta D, EPS) with D = W (R - 1); theta starts at
    ``theta0`` (per member; default 1, the full step; the loop passes twice the last accepted
    fraction, at most ``W_STEP_MAX``, an over-relaxed step) and halves until
    L(W(theta)) <= L(W) (at most ``max_backtrack`` times; if none is accepted W is kept).
    With alpha = 0 (or beta = 0) the full step is the Lee-Seung majorise-minimise step, which
    never raises L, and is taken as it is.

    Trial fractions are screened without touching X again: before clipping, the NMF and ridge
    parts are quadratic in theta (from the Gram products of W and D), the scores are linear
    (Z + theta D^T X) and so are their variances quadratic, so a trial costs O(n k + k^2). The
    fraction the screen accepts is then checked on the exact loss at the clipped W, whose
    W^T X (which the beta step needs) is W^T X + theta D^T X plus the clipping's correction on
    the clipped genes; should the check fail (clipping or rounding), halving goes on with exact
    checks. So one iteration reads X twice: X [H; M]^T and D^T X.

    ``zt`` and ``wtw`` are W^T X and W^T W of the current W; ``beta`` the standardised
    coefficients.
    """
    p = prob.p
    k = W.shape[2]
    B = W.shape[1]
    a = hp.alpha
    with_b = np.any(beta != 0, axis=1) if a > 0 else np.zeros(B, dtype=bool)
    if with_b.any() and not with_b.all():
        # members without coefficients (in their warm-up) take the plain multiplicative step,
        # the others the damped one, each as it would alone
        return _w_step_split(prob, W, H, beta, zt, wtw, hp, theta0, update, sweeps, gain, with_b)
    Hm = _masked_h(prob, H)
    use_cox = bool(with_b.any())
    if use_cox:
        zc = _centred(prob, zt)
        sd = _score_sd(prob, zc)
        eta = _eta(zt, beta, sd)
        ll0, r = _gradient(eta, prob.surv, prob.mask, hp.ties, prob.ev)
        M = _cox_direction(prob, zc, sd, beta, r)
        # X H^T and X M in one pass over X
        both = _x_times(
            prob, np.concatenate([Hm.reshape(B * k, prob.n), M.reshape(B * k, prob.n)]).T
        )
        xht = both[:, : B * k].reshape(p, B, k)
        xm = both[:, B * k :].reshape(p, B, k)
    else:
        xht = _xht(prob, Hm)
    hht = np.matmul(Hm, H.transpose(0, 2, 1))
    hh = _diag(hht)  # ||h_j||^2 (B, k)
    c_nmf = 2 * (1 - a) / prob.ss
    cox = (a * prob.cox_scale)[None, :, None] * xm if use_cox else None
    if update == "hals":
        target = _hals_w(
            W,
            xht,
            hht,
            c_nmf,
            None if cox is None else (-cox if gain is None else -cox * gain[None, :, None]),
            hp.lambda_h,
            sweeps,
        )
    else:
        num = c_nmf[None, :, None] * xht
        WH2 = np.matmul(W.transpose(1, 0, 2), hht).transpose(1, 0, 2)
        if hp.lambda_h > 0:
            WH2 += hp.lambda_h * W * hh[None]
        den = c_nmf[None, :, None] * WH2
        if cox is not None:
            num += np.maximum(cox, 0.0)
            den += np.maximum(-cox, 0.0)
        target = W * (num / np.maximum(den, EPS))
    if not use_cox:
        Wn = np.maximum(target, EPS)
        wtw_n = _gram(Wn)
        return _WStep(
            Wn,
            np.ones(B),
            _wtx(prob, Wn),
            wtw_n,
            _nmf_part(prob, Wn, xht, wtw_n, hht, hp),
            _penalty_h(prob, wtw_n, hht, hp),
        )

    fixed = a * prob.surv_scale * _penalty_beta(beta, hp)
    nmf0 = _nmf_part(prob, W, xht, wtw, hht, hp)
    g = _ridge_factor(prob, hp)
    ridge0 = g * np.einsum("bk,bk->b", _diag(wtw), hh)
    loss0 = nmf0 + ridge0 - a * prob.cox_scale * ll0 + fixed
    D = target - W
    wtd, dtd = _gram(W, D), _gram(D)
    dtx = _wtx(prob, D)  # D^T X: the Cox part of every trial, and W(theta)^T X
    dc = _centred(prob, dtx)
    nm1 = np.maximum(prob.n_samples - 1, 1)[:, None]
    # L(theta) before clipping:
    # nmf0 + theta (q1 + theta q2) + ridge0 + theta (w1 + theta w2) - a c l(eta(theta)) + fixed
    model = _WModel(
        nmf0=nmf0,
        q1=(-2 * _inner(D, xht) + 2 * np.einsum("bkj,bkj->b", wtd, hht)) * (0.5 * c_nmf),
        q2=np.einsum("bkj,bkj->b", dtd, hht) * (0.5 * c_nmf),
        w0=ridge0,
        w1=2 * g * np.einsum("bk,bk->b", _diag(wtd), hh),
        w2=g * np.einsum("bk,bk->b", _diag(dtd), hh),
        zt=zt,
        dtx=dtx,
        b=beta,
        var0=sd**2,
        cov=np.einsum("bkn,bkn->bk", zc, dc) / nm1,
        var2=np.einsum("bkn,bkn->bk", dc, dc) / nm1,
        cox_scale=a * prob.cox_scale,
        fixed=fixed,
        hh=hh,
    )
    out = _WStep(W, np.zeros(B), zt, wtw, nmf0, ridge0)
    theta = np.ones(B) if theta0 is None else np.asarray(theta0, dtype=float).copy()
    if B == 1:
        _backtrack_one(prob, W, D, xht, hht, hp, model, float(loss0[0]), theta[0], out)
    else:
        _backtrack_batch(prob, W, D, xht, hht, hp, model, loss0, theta, out)
    return out


def _w_step_split(prob, W, H, beta, zt, wtw, hp, theta0, update, sweeps, gain, with_b) -> _WStep:
    """:func:`w_step` on the members with coefficients and on those without, merged."""
    B = W.shape[1]
    theta0 = np.ones(B) if theta0 is None else np.asarray(theta0, dtype=float)
    out = _WStep(W.copy(), np.zeros(B), zt.copy(), wtw.copy(), np.zeros(B), np.zeros(B))
    for idx in (np.flatnonzero(with_b), np.flatnonzero(~with_b)):
        part = w_step(
            prob.sub(idx), W[:, idx], H[idx], beta[idx], zt[idx], wtw[idx], hp, theta0[idx],
            update, sweeps, None if gain is None else gain[idx],
        )  # fmt: skip
        out.W[:, idx], out.theta[idx], out.zt[idx] = part.W, part.theta, part.zt
        out.wtw[idx], out.nmf[idx], out.penalty_h[idx] = part.wtw, part.nmf, part.penalty_h
    return out


@dataclass
class _WModel:
    """L(W + theta D) in theta before clipping: the quadratic NMF (q) and ridge (w)
    coefficients (B,) and what the scores' path needs (zt, dtx (B, k, n); b, var0, cov, var2
    (B, k): sd_j(theta)^2 = var0 + 2 theta cov + theta^2 var2)."""

    nmf0: np.ndarray
    q1: np.ndarray
    q2: np.ndarray
    w0: np.ndarray
    w1: np.ndarray
    w2: np.ndarray
    zt: np.ndarray
    dtx: np.ndarray
    b: np.ndarray
    var0: np.ndarray
    cov: np.ndarray
    var2: np.ndarray
    cox_scale: np.ndarray
    fixed: np.ndarray
    hh: np.ndarray

    def coefficients(self, sel: slice | np.ndarray) -> tuple:
        """The coefficients of :meth:`value` for the members ``sel``."""
        return (
            self.nmf0[sel],
            self.q1[sel],
            self.q2[sel],
            self.w0[sel],
            self.w1[sel],
            self.w2[sel],
            self.fixed[sel],
            self.cox_scale[sel],
        )

    def eta(self, sel: slice | np.ndarray, theta: np.ndarray) -> np.ndarray:
        """eta at W + theta D before clipping (B_sel, n) for theta (B_sel,)."""
        th = theta[:, None]
        var = self.var0[sel] + th * (2 * self.cov[sel] + th * self.var2[sel])
        coef = self.b[sel] / np.sqrt(np.maximum(var, 1e-300))
        return np.einsum("bkn,bk->bn", self.zt[sel], coef) + th * np.einsum(
            "bkn,bk->bn", self.dtx[sel], coef
        )

    @staticmethod
    def value(coef: tuple, theta, ll):
        """L(W + theta D) before clipping, given the log-likelihood ``ll`` at its eta;
        ``coef`` from :meth:`coefficients` (arrays) or the same as Python floats."""
        nmf0, q1, q2, w0, w1, w2, fixed, cox_scale = coef
        return (
            nmf0
            + theta * (q1 + theta * q2)
            + w0
            + theta * (w1 + theta * w2)
            + fixed
            - (cox_scale * ll)
        )


def _exact_trial(
    prob: _Problem,
    W: np.ndarray,
    D: np.ndarray,
    zt0: np.ndarray,
    dtx: np.ndarray,
    beta: np.ndarray,
    xht: np.ndarray,
    hht: np.ndarray,
    hh: np.ndarray,
    hp: Hyper,
    theta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """W(theta) = max(W + theta D, EPS) with W^T X, W^T W, its NMF and ridge parts and L
    less the fixed beta penalty.

    W(theta)^T X = W^T X + theta D^T X + (the clipping's correction)^T X, the last over the
    few genes where W + theta D fell below EPS; directly when they are many.
    """
    lin = W + theta[None, :, None] * D
    Wt = np.maximum(lin, EPS)
    clipped = lin.min() < EPS  # a cheap test first: usually nothing is clipped
    rows = np.flatnonzero((lin < EPS).any(axis=(1, 2))) if clipped else np.zeros(0, dtype=int)
    if rows.size > prob.p // 4:
        zt = _wtx(prob, Wt)
    else:
        zt = zt0 + theta[:, None, None] * dtx
        if rows.size:
            B, k, n = zt.shape
            corr = (Wt[rows] - lin[rows]).reshape(rows.size, B * k)
            zt += (corr.T.astype(prob.X.dtype, copy=False) @ prob.X[rows]).reshape(B, k, n)
    wtw = _gram(Wt)
    nmf = _nmf_part(prob, Wt, xht, wtw, hht, hp)
    ridge = _ridge_factor(prob, hp) * np.einsum("bk,bk->b", _diag(wtw), hh)
    eta = _eta(zt, beta, _score_sd(prob, _centred(prob, zt)))
    ll = _loglik(eta, prob.surv, prob.mask, hp.ties, prob.ev)
    return Wt, zt, wtw, nmf, ridge, nmf + ridge - hp.alpha * prob.cox_scale * ll


def _backtrack_one(
    prob: _Problem,
    W: np.ndarray,
    D: np.ndarray,
    xht: np.ndarray,
    hht: np.ndarray,
    hp: Hyper,
    m: _WModel,
    loss0: float,
    theta: float,
    out: _WStep,
) -> None:
    """The backtracking of :func:`w_step` for a batch of one, with scalar bookkeeping."""
    coef = tuple(float(c[0]) for c in m.coefficients(slice(None)))
    fixed = float(m.fixed[0])
    exact = False  # the screen misjudged once: check every trial exactly
    every = slice(None)
    for _ in range(hp.max_backtrack + 1):
        if not exact:
            ll = _loglik(m.eta(every, np.array([theta])), prob.surv, prob.mask, hp.ties, prob.ev)
            val = m.value(coef, theta, ll[0])
        if exact or val <= loss0:
            Wt, zt, wtw, nmf, ridge, trial = _exact_trial(
                prob, W, D, m.zt, m.dtx, m.b, xht, hht, m.hh, hp, np.array([theta])
            )
            if np.isfinite(trial[0]) and trial[0] + fixed <= loss0:
                out.W, out.zt, out.wtw, out.nmf, out.penalty_h = Wt, zt, wtw, nmf, ridge
                out.theta = np.array([theta])
                return
            exact = True
        theta *= 0.5


def _backtrack_batch(
    prob: _Problem,
    W: np.ndarray,
    D: np.ndarray,
    xht: np.ndarray,
    hht: np.ndarray,
    hp: Hyper,
    m: _WModel,
    loss0: np.ndarray,
    theta: np.ndarray,
    out: _WStep,
) -> None:
    """The backtracking of :func:`w_step` for a batch: members that accept leave it.

    While every member is still in (the first trial, usually the last), whole arrays are
    passed on as views; fancy indexing (which copies) only starts once some have left.
    """
    B = W.shape[1]
    pending = np.arange(B)
    exact = np.zeros(B, dtype=bool)
    copied = False
    for _ in range(hp.max_backtrack + 1):
        every = pending.size == B
        sel = slice(None) if every else pending
        th = theta[sel]
        sub = prob if every else prob.sub(pending)
        ll = _loglik(m.eta(sel, th), prob.surv, sub.mask, hp.ties, sub.ev)
        val = m.value(m.coefficients(sel), th, ll)
        screen = exact[sel] | (np.isfinite(val) & (val <= loss0[sel]))
        ok = np.zeros(pending.size, dtype=bool)
        if np.any(screen):
            cand = pending[screen]
            whole = cand.size == B
            cs = slice(None) if whole else cand
            Wt, zt, wtw, nmf, ridge, trial = _exact_trial(
                prob if whole else prob.sub(cand),
                W[:, cs],
                D[:, cs],
                m.zt[cs],
                m.dtx[cs],
                m.b[cs],
                xht[:, cs],
                hht[cs],
                m.hh[cs],
                hp,
                theta[cs],
            )
            trial = trial + m.fixed[cs]
            good = np.isfinite(trial) & (trial <= loss0[cs])
            if whole and good.all():  # every member accepts its first trial
                out.W, out.zt, out.wtw, out.nmf, out.penalty_h = Wt, zt, wtw, nmf, ridge
                out.theta = theta.copy()
                return
            if not copied:
                out.W, out.zt, out.wtw = out.W.copy(), out.zt.copy(), out.wtw.copy()
                out.nmf, out.penalty_h = out.nmf.copy(), out.penalty_h.copy()
                copied = True
            acc = cand[good]
            out.W[:, acc] = Wt[:, good]
            out.zt[acc] = zt[good]
            out.wtw[acc] = wtw[good]
            out.nmf[acc] = nmf[good]
            out.penalty_h[acc] = ridge[good]
            out.theta[acc] = theta[acc]
            exact[cand[~good]] = True
            ok[screen] = good
        pending = pending[~ok]
        if pending.size == 0:
            break
        theta[pending] *= 0.5


def _batch_beta_step(
    prob: _Problem, zt: np.ndarray, beta: np.ndarray, hp: Hyper
) -> tuple[np.ndarray, np.ndarray]:
    """The b step on the standardised scores of ``zt``: (b, f at b)."""
    zc = _centred(prob, zt)
    z = np.ascontiguousarray((zc / _score_sd(prob, zc)[:, :, None]).transpose(0, 2, 1))
    return solve_beta(z, beta, prob.surv, prob.mask, hp, weight=prob.cox_w)


def _normalise(
    W: np.ndarray, H: np.ndarray, zt: np.ndarray, wtw: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns of W (p, B, k) to unit norm, the scale moved into H: L does not change."""
    c = np.sqrt(np.maximum(_diag(wtw), 1e-300))  # (B, k)
    return (
        W / c[None],
        H * c[:, :, None],
        zt / c[:, :, None],
        wtw / (c[:, :, None] * c[:, None, :]),
    )


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def fit_batch(
    X: np.ndarray,
    surv: SurvivalData,
    W0: np.ndarray,
    H0: np.ndarray,
    beta0: np.ndarray,
    hp: Hyper,
    *,
    mask: np.ndarray | None = None,
    tol: float = 1e-6,
    max_iter: int = 1000,
    refit_beta: bool = True,
    warmup: int = 0,
    warmup_tol: float | None = None,
    callback=None,
    update: str = "mu",
    sweeps: tuple[int, int] = (H_SWEEPS, W_SWEEPS),
    extrapolate: bool = False,
    gain0: float | None = None,
    state: dict[str, np.ndarray] | None = None,
    on_state=None,
    state_every: int = 0,
) -> FitResult:
    """Fit a batch of B independent DeSurv problems that share X and the survival data.

    Parameters
    ----------
    X : ndarray, shape (p, n), float64 or float32
        Nonnegative expression, genes x samples, input sample order. Its gene-centred sum of
        squares over each member's samples must be positive. Copied once (time-sorted,
        C-contiguous, in X's dtype). float32 X makes every product with X a
        single-precision product (the only work on arrays of X's size, so a fit then holds
        half the memory); the factors, the scores' moments, the Cox part and the loss stay
        in float64, and so are the results.
    surv : SurvivalData
        Built from the (n,) times and events in input order.
    W0 : ndarray, shape (B, p, k)
        Starting W; its columns are scaled to unit norm (and H0's rows by the same factors)
        before the first iteration, which leaves the start's loss unchanged.
    H0 : ndarray, shape (B, k, n), input sample order.
    beta0 : ndarray, shape (B, k)
        Starting standardised coefficients b.
    hp : Hyper
    mask : ndarray of {0, 1}, shape (B, n), input order, optional
        Which samples belong to each member (cross-validation folds). Default: all.
    tol : float
        A member stops when |L_prev - L| / max(|L_prev|, 1e-300) < tol.
    max_iter : int
        Iterations per member.
    warmup : int
        Iterations at the start during which b stays at beta0 (no beta step). With
        beta0 = 0 the Cox term is then constant, so these are plain NMF iterations of the same
        loss (L still never increases); they let W fit X before the survival term, whose
        curvature is extreme while the scores of a random start are nearly collinear, shapes it.
    warmup_tol : float or None, default None
        With a value, a member's warm-up also ends as soon as the relative change of its NMF
        part (with the ridges; the Cox part is constant in the warm-up) falls below
        ``warmup_tol``, at most ``warmup`` iterations; members
        leave the warm-up at their own iteration. None: every member's warm-up is exactly
        ``warmup`` iterations.
    refit_beta : bool
        With alpha = 0 the loss does not involve beta; fit the penalised Cox model of b on
        the final standardised scores so that the model can predict (default True).
    callback : callable(iteration, n_active) or None
        Called after each iteration (progress reporting).
    update : {"mu", "hals"}, default "mu"
        The H and W steps: multiplicative (default) or exact coordinate minimisation (HALS,
        see the module docstring).
    sweeps : (int, int), default (H_SWEEPS, W_SWEEPS)
        HALS passes over H's rows and over W's columns per iteration.
    extrapolate : bool, default False
        Try the extrapolated (W, H) after each iteration (kept only where L decreases).
    gain0 : float or None, default None
        Starting gain of the survival gradient in the HALS W surrogate, doubled after a full
        step and cut to the accepted fraction after a damped one (within [GAIN_MIN,
        GAIN_MAX]); None: a fixed gain of 1.

    state : dict of arrays, optional
        The loop state an ``on_state`` call handed out (all of it: iterates, the incremental
        products W^T X and W^T W, step sizes, extrapolation and gain state, loss records,
        the iteration reached): the fit goes on from there and ends exactly as the
        uninterrupted fit (same X, survival data, starts and arguments).
    on_state : callable(dict of arrays) or None
        Called with a copy of the loop state every ``state_every`` iterations (checkpoints).
    state_every : int, default 0
        Iterations between two ``on_state`` calls (0: never).

    Returns
    -------
    FitResult
        W (B, p, k) with unit-norm columns, H (B, k, n) in input order, raw beta (B, k) (the
        coefficients of Z = W^T X), beta_std, score_mean and score_sd (B, k), per-member loss
        history (dict of arrays over iterations, keys loss, nmf, cox, penalty_beta,
        penalty_w (always 0 here), penalty_h), n_iter, converged. A non-finite loss raises
        FloatingPointError naming the member and the hyperparameters.

    Notes
    -----
    The loss recorded at each iteration is assembled from the products the steps compute
    anyway: the NMF and ridge parts from the Gram products of the accepted W and the new H,
    the Cox part and the beta penalty from the beta step's objective at the new b (or from
    the log-likelihood at the new eta when b is not updated).
    """
    if update not in ("hals", "mu"):
        raise ValueError(f"update must be 'hals' or 'mu', got {update!r}")
    smax = W_STEP_MAX if update == "mu" else HALS_STEP_MAX  # largest W step fraction tried
    B, p, k = W0.shape
    n = X.shape[1]
    if mask is None:
        mask_sorted = np.ones((B, n))
    else:
        mask_sorted = np.asarray(mask, dtype=float)[:, surv.order]
    # the model is scale-free: work on X times the power of two that brings its maximum into
    # [0.5, 1) (exact in floating point, so nothing changes but the range), so that sums of
    # squares neither overflow nor underflow whatever the unit of X; H, the raw coefficients
    # and the score moments are given back in X's unit
    top = float(np.max(X))
    shift = int(np.frexp(top)[1]) if top > 0 else 0
    prob = _Problem(X, surv, mask_sorted, hp.ties, shift)
    if not np.all(prob.ss > 0):
        raise FloatingPointError(
            "X has no variance across the samples of start(s) "
            f"{np.flatnonzero(~(prob.ss > 0)).tolist()}: every gene is constant there"
        )
    # unit-norm columns first (L does not change), then the floors: EPS for the
    # dimensionless W, EPS times the mean of X for H
    c0 = np.maximum(np.linalg.norm(W0, axis=1), 1e-300)  # (B, k)
    W = np.ascontiguousarray(np.maximum(W0 / c0[:, None, :], EPS).transpose(1, 0, 2))
    H = np.ldexp(np.asarray(H0, dtype=float)[:, :, surv.order], -shift) * c0[:, :, None]
    H = np.maximum(H, prob.h_floor)
    beta = np.asarray(beta0, dtype=float).copy()
    a = hp.alpha

    records: list[tuple[np.ndarray, np.ndarray]] = []
    n_iter = np.zeros(B, dtype=int)
    converged = np.zeros(B, dtype=bool)
    active = np.arange(B)
    prev = np.full(B, np.nan)
    prev_fit = np.full(B, np.nan)  # the NMF part (with its ridges) at the last iteration
    step = np.ones(B)
    xw = np.full(B, EXTRA_START)  # extrapolation weights
    damped = np.zeros(B, dtype=bool)  # accepted W fraction below DAMPED (update="hals")
    in_warmup = np.ones(B, dtype=bool)  # cleared early by warmup_tol (else only it > warmup)
    gain_adapt = update == "hals" and gain0 is not None
    gain = np.full(B, 1.0 if gain0 is None else float(gain0))
    zt = _wtx(prob, W)
    wtw = _gram(W)
    W, H, zt, wtw = _normalise(W, H, zt, wtw)
    k = W.shape[2]
    # the rank-one saddle guard (HALS with k > 1 only; "mu" keeps the paper's rule)
    rank1 = _rank_one_share(prob) if update == "hals" and k > 1 else None
    if extrapolate:
        W_last, H_last = W.copy(), H.copy()  # the last iterate before extrapolation
    first = 1
    keep = functools.partial(np.array, copy=True, order="K")  # copies in the same layout
    if state is not None:
        if state["W"].shape != W.shape or state["H"].shape != H.shape:
            raise ValueError(
                f"the saved solver state has W {state['W'].shape} and H {state['H'].shape}, "
                f"this fit {W.shape} and {H.shape}: it belongs to another fit"
            )
        W, H, beta = keep(state["W"]), keep(state["H"]), keep(state["beta"])
        zt, wtw = keep(state["zt"]), keep(state["wtw"])
        n_iter, converged = state["n_iter"].astype(int), state["converged"].astype(bool)
        active, prev = state["active"].astype(int), keep(state["prev"])
        step, xw, damped = keep(state["step"]), keep(state["xw"]), state["damped"].astype(bool)
        gain = keep(state["gain"])
        if "in_warmup" in state:  # saved by this version (older states had no early end)
            in_warmup = state["in_warmup"].astype(bool)
        rec_mask, rec_table = state["rec_mask"].astype(bool), state["rec_table"]
        records = [(np.flatnonzero(m), t[m].copy()) for m, t in zip(rec_mask, rec_table)]
        if extrapolate:
            W_last, H_last = keep(state["W_last"]), keep(state["H_last"])
        if records:  # the active members took part in the last recorded iteration
            members, parts = records[-1]
            prev_fit[members] = _fit_part(parts)
        first = int(state["it"]) + 1

    def _state(it: int) -> dict[str, np.ndarray]:
        table = np.zeros((len(records), B, len(LOSS_PARTS)))
        mask_r = np.zeros((len(records), B), dtype=bool)
        for i, (members, parts) in enumerate(records):
            table[i, members] = parts
            mask_r[i, members] = True
        live = {"W": W, "H": H, "beta": beta, "zt": zt, "wtw": wtw, "n_iter": n_iter,
                "converged": converged, "active": active, "prev": prev, "step": step, "xw": xw,
                "damped": damped, "gain": gain, "in_warmup": in_warmup}  # fmt: skip
        if extrapolate:
            live.update(W_last=W_last, H_last=H_last)
        out = {name: keep(value) for name, value in live.items()}
        out.update(it=np.array(it), rec_mask=mask_r, rec_table=table)
        return out

    for it in range(first, max_iter + 1):
        if active.size == 0:
            break
        every = active.size == B
        sub = prob if every else prob.sub(active)
        sel = slice(None) if every else active  # fancy indexing copies: avoid it when it can
        if it % ZT_REFRESH == 0:
            # the W step updates W^T X incrementally (W^T X + theta D^T X): recompute it now
            # and then so that rounding cannot accumulate
            zt[sel] = _wtx(sub, W[:, sel])
            wtw[sel] = _gram(W[:, sel])
        Ha = h_step(sub, wtw[sel], H[sel], zt[sel], hp, update, sweeps[0])
        ws = w_step(
            sub,
            W[:, sel],
            Ha,
            beta[sel],
            zt[sel],
            wtw[sel],
            hp,
            step[sel],
            update,
            sweeps[1],
            gain[sel] if gain_adapt else None,
        )
        th = ws.theta
        if gain_adapt:
            # the weight of the survival gradient in the W surrogate: up after a full step,
            # down (to the accepted fraction) after a shorter one
            gain[sel] = np.clip(
                np.where(th >= 1.0, gain[sel] * GAIN_UP, gain[sel] * np.maximum(th, 1e-3)),
                GAIN_MIN,
                GAIN_MAX,
            )
        # next W step starts from twice the accepted fraction (at most smax)
        step[sel] = np.where(th > 0, np.minimum(smax, 2.0 * th), step[sel] * 0.5**4)
        damped[sel] = (th > 0) & (th < DAMPED)
        Wn, Ha, ztn, wtwn = _normalise(ws.W, Ha, ws.zt, ws.wtw)
        ba = beta[sel]
        warming = in_warmup[active] & (it <= warmup)  # no beta step for these members
        if a > 0 and not warming.any():
            ba, cox, pen_b = _beta_cox(sub, ztn, ba, hp)
        elif a > 0 and warming.all():
            cox, pen_b = _warmup_cox(prob, sub, ztn, ba, hp)
        elif a > 0:  # some members have left their warm-up (warmup_tol), others not
            go, wait = np.flatnonzero(~warming), np.flatnonzero(warming)
            ba, cox, pen_b = ba.copy(), np.empty(active.size), np.empty(active.size)
            ba[go], cox[go], pen_b[go] = _beta_cox(sub.sub(go), ztn[go], ba[go], hp)
            cox[wait], pen_b[wait] = _warmup_cox(prob, sub.sub(wait), ztn[wait], ba[wait], hp)
        else:
            cox = pen_b = np.zeros(active.size)
        parts = np.stack(
            [
                ws.nmf + cox + pen_b + ws.penalty_h,
                ws.nmf,
                cox,
                pen_b,
                np.zeros(active.size),
                ws.penalty_h,
            ],
            axis=1,
        )
        if extrapolate:
            plain = Wn, Ha  # the next extrapolation starts from this iterate
            if it > 1:
                Wn, Ha, ztn, wtwn, parts, ok = _extrapolate(
                    sub, Wn, Ha, ztn, wtwn, ba, parts, W_last[:, sel], H_last[sel], xw[sel], hp
                )
                xw[sel] = np.where(
                    ok, np.minimum(1.0, xw[sel] * EXTRA_GROW), xw[sel] / EXTRA_SHRINK
                )
            W_last[:, sel], H_last[sel] = plain
        if every:
            W, H, beta, zt, wtw = Wn, Ha, ba, ztn, wtwn
        else:
            W[:, active], H[active], beta[active] = Wn, Ha, ba
            zt[active], wtw[active] = ztn, wtwn
        loss_now = _check_loss(parts[:, 0], it, active, hp)
        records.append((active, parts))
        n_iter[active] = it
        prev_a = prev[active]
        rel = np.abs(prev_a - loss_now) / np.maximum(np.abs(prev_a), 1e-300)
        # a small change under a heavily damped W step is a stalled line search, not a
        # stationary point: keep going
        done = np.isfinite(rel) & (rel < tol) & ~warming
        if update == "hals":
            done &= ~damped[active]
        fit_now = _fit_part(parts)
        if rank1 is not None:  # still at the rank-one saddle: not converged
            at_saddle = fit_now / (1 - a) >= (1 - RANK1_MARGIN) * rank1[active]  # alpha < 1
            done &= ~at_saddle
        if warmup_tol is not None:  # a converged NMF part ends the member's warm-up
            # measured on the NMF part itself: the constant Cox part of the warm-up would
            # dilute the loss's relative change by up to alpha
            prev_f = prev_fit[active]
            rel_f = np.abs(prev_f - fit_now) / np.maximum(np.abs(prev_f), 1e-300)
            ended = warming & np.isfinite(rel_f) & (rel_f < warmup_tol)
            if rank1 is not None:
                ended &= ~at_saddle
            in_warmup[active[ended]] = False
        converged[active[done]] = True
        prev[active] = loss_now
        prev_fit[active] = fit_now
        active = active[~done]
        if callback is not None:
            callback(it, int(active.size))
        if on_state is not None and state_every > 0 and it % state_every == 0 and active.size:
            on_state(_state(it))

    zt = _wtx(prob, W)
    if a == 0 and refit_beta:
        beta = _batch_beta_step(prob, zt, beta, hp)[0]
    mean, zc = _mean_centred(zt, prob.mask, prob.n_samples, prob.full)
    sd = _score_sd(prob, zc)

    W_out = np.ascontiguousarray(W.transpose(1, 0, 2))
    H_out = np.ldexp(H[:, :, surv.inverse], shift)
    sd, mean = np.ldexp(sd, shift), np.ldexp(mean, shift)
    table = np.full((len(records), B, len(LOSS_PARTS)), np.nan)
    for i, (members, parts) in enumerate(records):
        table[i, members] = parts
    histories = [
        {key: table[: n_iter[m], m, j].copy() for j, key in enumerate(LOSS_PARTS)} for m in range(B)
    ]
    return FitResult(
        W_out,
        H_out,
        beta / sd,
        histories,
        n_iter,
        converged,
        beta_std=beta,
        score_mean=mean,
        score_sd=sd,
    )


def _beta_cox(
    sub: _Problem, zt: np.ndarray, b: np.ndarray, hp: Hyper
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The b step, then the Cox part and beta penalty (B,) at the new b."""
    b, f = _batch_beta_step(sub, zt, b, hp)
    pen_b = hp.alpha * sub.surv_scale * _penalty_beta(b, hp)
    return b, hp.alpha * sub.surv_scale * f - pen_b, pen_b


def _warmup_cox(
    prob: _Problem, sub: _Problem, zt: np.ndarray, b: np.ndarray, hp: Hyper
) -> tuple[np.ndarray, np.ndarray]:
    """The Cox part and beta penalty (B,) at fixed coefficients b (a warm-up iteration)."""
    a = hp.alpha
    eta = _eta(zt, b, _score_sd(sub, _centred(sub, zt)))
    cox = -a * sub.cox_scale * _loglik(eta, prob.surv, sub.mask, hp.ties, sub.ev)
    return cox, a * sub.surv_scale * _penalty_beta(b, hp)


def _extrapolate(
    prob: _Problem,
    W: np.ndarray,
    H: np.ndarray,
    zt: np.ndarray,
    wtw: np.ndarray,
    b: np.ndarray,
    parts: np.ndarray,
    W_last: np.ndarray,
    H_last: np.ndarray,
    weight: np.ndarray,
    hp: Hyper,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(W, H) + weight ((W, H) - (W_last, H_last)), kept for the members where it lowers L.

    The extrapolated point (floors applied, columns of W rescaled to unit norm) is evaluated
    exactly with one pass over X (its W^T X gives the scores and, with H, the residual:
    ||X - WH||^2 = ||X||^2 - 2 <W^T X, H> + <W^T W, H H^T>); b is kept. Returns W, H, W^T X,
    W^T W and the loss parts (B, 6) of the chosen points, and which members took it.
    """
    We = np.maximum(W + weight[None, :, None] * (W - W_last), EPS)
    He = np.maximum(H + weight[:, None, None] * (H - H_last), prob.h_floor)
    zte, wtwe = _wtx(prob, We), _gram(We)
    We, He, zte, wtwe = _normalise(We, He, zte, wtwe)
    Hm = _masked_h(prob, He)
    hht = np.matmul(Hm, He.transpose(0, 2, 1))
    resid2 = (
        prob.x_norm2 - 2 * np.einsum("bkn,bkn->b", zte, Hm) + np.einsum("bkj,bkj->b", wtwe, hht)
    )
    nmf = (1 - hp.alpha) / prob.ss * np.maximum(resid2, 0.0)
    ridge = _penalty_h(prob, wtwe, hht, hp)
    if hp.alpha > 0:
        eta = _eta(zte, b, _score_sd(prob, _centred(prob, zte)))
        cox = -hp.alpha * prob.cox_scale * _loglik(eta, prob.surv, prob.mask, hp.ties, prob.ev)
    else:
        cox = np.zeros(W.shape[1])
    pen_b = parts[:, 3]
    loss = nmf + cox + pen_b + ridge
    ok = np.isfinite(loss) & (loss < parts[:, 0])
    if not np.any(ok):
        return W, H, zt, wtw, parts, ok
    new = np.stack([loss, nmf, cox, pen_b, np.zeros_like(loss), ridge], axis=1)
    return (
        np.where(ok[None, :, None], We, W),
        np.where(ok[:, None, None], He, H),
        np.where(ok[:, None, None], zte, zt),
        np.where(ok[:, None, None], wtwe, wtw),
        np.where(ok[:, None], new, parts),
        ok,
    )


def _fit_part(parts: np.ndarray) -> np.ndarray:
    """The NMF part of L with its ridges, (m,), from rows of ``LOSS_PARTS`` values."""
    return parts[:, 1] + parts[:, 4] + parts[:, 5]


def _rank_one_share(prob: _Problem, iters: int = 200) -> np.ndarray:
    """(||X||^2 - sigma_1^2) / S per member (B,): the share of the gene-wise variance that
    the best rank-one fit sigma_1 u v^T of X (over the member's samples) leaves unexplained,
    by power iteration from the all-ones vector (X >= 0, so the leading pair is nonnegative
    and the dominant component of expression data converges in a few steps)."""
    v = prob.mask.T.copy()  # (n, B)
    lam = np.zeros(prob.mask.shape[0])
    for _ in range(iters):
        u = _few_right(prob.X, v)  # (p, B)
        v_new = _few_right(prob.X.T, u) * prob.mask.T  # X^T X v per member
        lam_new = np.einsum("nb,nb->b", v, v_new) / np.maximum(np.einsum("nb,nb->b", v, v), 1e-300)
        v = v_new / np.maximum(np.linalg.norm(v_new, axis=0), 1e-300)
        if np.all(np.abs(lam_new - lam) <= 1e-12 * np.abs(lam_new)):
            lam = lam_new
            break
        lam = lam_new
    return np.maximum(prob.x_norm2 - lam, 0.0) / prob.ss


def _check_loss(loss: np.ndarray, it: int, active: np.ndarray, hp: Hyper) -> np.ndarray:
    bad = ~np.isfinite(loss)
    if np.any(bad):
        raise FloatingPointError(
            f"the DeSurv loss became non-finite at iteration {it} for start(s) "
            f"{active[bad].tolist()} with {hp.describe()}; try a smaller alpha or a larger "
            "lambda_"
        )
    return loss


def uniform_start(
    X: np.ndarray, k: int, rng: np.random.Generator, batch: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random start: W (B, p, k) uniform on [0, 1] with unit-norm columns, H (B, k, n)
    uniform on [0, c] with c such that W H has the mean of X, beta = 0.

    The draws are those of the paper's start (uniform on [0, max X]) divided by max X; the
    scale follows X's, so that a start on c X is the start on X with H times c.
    """
    p, n = X.shape
    W = rng.uniform(0.0, 1.0, size=(batch, p, k))
    H = rng.uniform(0.0, 1.0, size=(batch, k, n))
    W /= np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-300)
    fit_mean = np.einsum("bpk,bkn->b", W, H) / (p * n)
    H *= (float(np.mean(X, dtype=np.float64)) / np.maximum(fit_mean, 1e-300))[:, None, None]
    return W, H, np.zeros((batch, k))
