"""The DeSurv fit loop on stacked arrays (a batch of independent problems).

The model (paper eq. 5), X genes x samples (p x n), W genes x k, H k x samples, beta (k,),
Z = W^T X (k x n) and l the Cox log partial likelihood of eta = Z^T beta:

    L = (1-alpha)/(2 n p) ||X - W H||_F^2                      (nmf)
        - alpha (2/n) l(W, beta)                                 (cox)
        + alpha lambda [xi ||beta||_1 + (1-xi)/2 ||beta||_2^2]   (penalty_beta)
        + gamma/(2 p k) ||W||_F^2                                (penalty_w)
        + nu/(2 n) ||H||_F^2                                     (penalty_h)

``alpha`` is the survival weight, ``lambda_`` the Cox penalty, ``l1_ratio`` xi, ``lambda_w``
gamma and ``lambda_h`` nu. With a sample mask (cross-validation folds), n counts the masked-in
samples and every sum runs over them only.

One iteration updates H (multiplicative, exact majorise-minimise step, eq. 11), then W
(multiplicative step of eq. 10 with the Cox gradient split by sign between numerator and
denominator, damped by halving a step fraction until the full loss does not increase), then
beta (proximal Newton with cyclic coordinate descent on the exact beta part of L, with a
line search), so L never increases.
Entries of W and H are kept at or above ``EPS`` so that no entry is frozen at zero.

Layout for BLAS efficiency: W is stored as (p, B, k) so that all members form one p x (B k)
matrix; H as (B, k, n). Samples are in time-sorted order inside the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from desurv._core.cox import SurvivalData, cox_beta_derivatives, cox_gradient, cox_loglik

__all__ = ["Hyper", "FitResult", "fit_batch", "solve_beta", "loss_parts", "EPS"]

EPS = 1e-12
LOSS_PARTS = ("loss", "nmf", "cox", "penalty_beta", "penalty_w", "penalty_h")


@dataclass(frozen=True)
class Hyper:
    """Hyperparameters of one fit (shared by every member of a batch)."""

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
            f"lambda_w={self.lambda_w}, lambda_h={self.lambda_h}, ties={self.ties!r}"
        )


@dataclass
class FitResult:
    """Outcome of :func:`fit_batch` for every member (input sample order)."""

    W: np.ndarray  # (B, p, k)
    H: np.ndarray  # (B, k, n)
    beta: np.ndarray  # (B, k)
    history: list[dict[str, np.ndarray]] = field(default_factory=list)  # per member
    n_iter: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    converged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


class _Problem:
    """Data shared by all members: X in sorted order and cached quantities."""

    def __init__(self, X: np.ndarray, surv: SurvivalData, mask: np.ndarray) -> None:
        self.X = np.ascontiguousarray(X[:, surv.order])  # (p, n) sorted
        self.XT = np.ascontiguousarray(self.X.T)
        self.surv = surv
        self.mask = mask  # (B, n) sorted
        self.p, self.n = self.X.shape
        self.n_samples = mask.sum(axis=1)  # (B,)
        sq = (self.X**2).sum(axis=0)  # (n,)
        self.x_norm2 = mask @ sq  # (B,)

    def sub(self, idx: np.ndarray) -> _Problem:
        new = object.__new__(_Problem)
        new.__dict__.update(self.__dict__)
        new.mask = self.mask[idx]
        new.n_samples = self.n_samples[idx]
        new.x_norm2 = self.x_norm2[idx]
        return new


def _wtx(prob: _Problem, W: np.ndarray) -> np.ndarray:
    """Z^T per member: (B, k, n) = W_b^T X, one GEMM for the whole batch."""
    p, B, k = W.shape
    return (W.reshape(p, B * k).T @ prob.X).reshape(B, k, prob.n)


def _xht(prob: _Problem, H: np.ndarray) -> np.ndarray:
    """X H_b^T (masked columns) per member, in the (p, B, k) layout."""
    B, k, n = H.shape
    Hm = H * prob.mask[:, None, :]
    return (prob.X @ Hm.reshape(B * k, n).T).reshape(prob.p, B, k)


def _penalty_beta(beta: np.ndarray, hp: Hyper) -> np.ndarray:
    return hp.lambda_ * (
        hp.l1_ratio * np.abs(beta).sum(axis=1) + 0.5 * (1 - hp.l1_ratio) * (beta**2).sum(axis=1)
    )


def loss_parts(
    prob: _Problem,
    W: np.ndarray,
    H: np.ndarray,
    beta: np.ndarray,
    hp: Hyper,
    xht: np.ndarray | None = None,
    hht: np.ndarray | None = None,
    eta: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every part of L for each member (B,). Cached products may be passed in."""
    p, n = prob.p, prob.n_samples
    k = W.shape[2]
    if xht is None:
        xht = _xht(prob, H)
    if hht is None:
        Hm = H * prob.mask[:, None, :]
        hht = np.einsum("bkn,bjn->bkj", Hm, H)
    wtw = np.einsum("pbk,pbj->bkj", W, W)
    resid2 = prob.x_norm2 - 2 * np.einsum("pbk,pbk->b", W, xht) + np.einsum("bkj,bkj->b", wtw, hht)
    resid2 = np.maximum(resid2, 0.0)
    a = hp.alpha
    out = {
        "nmf": (1 - a) / (2 * n * p) * resid2,
        "penalty_w": hp.lambda_w / (2 * p * k) * np.einsum("pbk,pbk->b", W, W),
        "penalty_h": hp.lambda_h / (2 * n) * np.einsum("bkn,bkn,bn->b", H, H, prob.mask),
    }
    if a > 0:
        if eta is None:
            eta = _eta(prob, W, beta)
        out["cox"] = -a * (2 / n) * cox_loglik(eta, prob.surv, prob.mask, hp.ties)
        out["penalty_beta"] = a * _penalty_beta(beta, hp)
    else:
        out["cox"] = np.zeros_like(n)
        out["penalty_beta"] = np.zeros_like(n)
    out["loss"] = (
        out["nmf"] + out["cox"] + out["penalty_beta"] + out["penalty_w"] + out["penalty_h"]
    )
    return out


def _eta(prob: _Problem, W: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """eta = X^T W beta per member: (B, n), one GEMM with the (p, B) matrix W beta."""
    wb = np.einsum("pbk,bk->pb", W, beta)
    return (prob.XT @ wb).T


# --------------------------------------------------------------------------------------------
# The three steps
# --------------------------------------------------------------------------------------------


def h_step(prob: _Problem, W: np.ndarray, H: np.ndarray, zt: np.ndarray, hp: Hyper) -> np.ndarray:
    """Multiplicative H update (eq. 11): H * W^T X / (W^T W H + nu p / (1-alpha) H)."""
    wtw = np.einsum("pbk,pbj->bkj", W, W)
    den = np.einsum("bkj,bjn->bkn", wtw, H)
    if hp.lambda_h > 0:
        den += (hp.lambda_h * prob.p / (1 - hp.alpha)) * H
    return np.maximum(H * zt / np.maximum(den, EPS), EPS)


def w_step(
    prob: _Problem,
    W: np.ndarray,
    H: np.ndarray,
    beta: np.ndarray,
    zt: np.ndarray,
    hp: Hyper,
    theta0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Damped multiplicative W update (eq. 10) with backtracking on the full loss.

    The full step is W * R with R = num / den, C = a (2/n) X r beta^T (r = dl/deta, so -C is
    the Cox part of dL/dW), num = (1-a)/(np) X H^T + max(C, 0), den = (1-a)/(np) W H H^T
    + gamma/(pk) W + max(-C, 0). Splitting C by sign keeps R >= 0 (adding all of C to the
    numerator, as eq. 10 is written, gives negative ratios that clipping turns into zeros);
    the fixed points are the same and -W/den * dL/dW stays a descent direction. A step
    fraction theta gives W(theta) = max(W * ((1-theta) + theta R), EPS);
    theta starts at ``theta0`` (per member; default 1, the full step of eq. 10) and halves until
    L(W(theta)) <= L(W) (at most ``max_backtrack`` times; if none is accepted W is kept).
    With alpha = 0 (or beta = 0) the full step is the Lee-Seung
    majorise-minimise step, which never raises L, and is taken as it is.

    Returns the new W, the accepted theta per member (0 when W was kept), and the
    products X H^T (p, B, k) and H H^T (B, k, k) of the (unchanged) H for reuse.
    """
    p = prob.p
    n = prob.n_samples  # (B,)
    k = W.shape[2]
    B = W.shape[1]
    a = hp.alpha
    Hm = H * prob.mask[:, None, :]
    xht = _xht(prob, H)
    hht = np.einsum("bkn,bjn->bkj", Hm, H)
    c_nmf = ((1 - a) / (n * p))[None, :, None]
    num = c_nmf * xht
    den = c_nmf * np.einsum("pbk,bkj->pbj", W, hht)
    if hp.lambda_w > 0:
        den += (hp.lambda_w / (p * k)) * W
    use_cox = a > 0 and np.any(beta != 0)
    if use_cox:
        eta = np.einsum("bkn,bk->bn", zt, beta)
        _, r = cox_gradient(eta, prob.surv, prob.mask, hp.ties)
        xr = prob.X @ r.T  # (p, B)
        cox = (a * 2 / n)[None, :, None] * xr[:, :, None] * beta[None, :, :]
        num = num + np.maximum(cox, 0.0)
        den = den + np.maximum(-cox, 0.0)
    R = num / np.maximum(den, EPS)
    if not use_cox:
        return np.maximum(W * R, EPS), np.ones(B), xht, hht

    loss0 = loss_parts(prob, W, H, beta, hp, xht=xht, hht=hht, eta=eta)["loss"]
    new_W = W.copy()
    accepted = np.zeros(B)
    pending = np.arange(B)
    theta = np.ones(B) if theta0 is None else np.asarray(theta0, dtype=float).copy()
    for _ in range(hp.max_backtrack + 1):
        th = theta[pending][None, :, None]
        Wt = np.maximum(W[:, pending] * ((1 - th) + th * R[:, pending]), EPS)
        sub = prob.sub(pending)
        trial = loss_parts(
            sub, Wt, H[pending], beta[pending], hp, xht=xht[:, pending], hht=hht[pending]
        )["loss"]
        ok = np.isfinite(trial) & (trial <= loss0[pending])
        if np.any(ok):
            acc = pending[ok]
            new_W[:, acc] = Wt[:, ok]
            accepted[acc] = theta[acc]
        pending = pending[~ok]
        if pending.size == 0:
            break
        theta[pending] *= 0.5
    return new_W, accepted, xht, hht


def _soft(x: np.ndarray, t: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


def _quadratic_lasso(
    q: np.ndarray, c: np.ndarray, diag: np.ndarray, lam1: float, u: np.ndarray
) -> np.ndarray:
    """Minimise 1/2 u^T Q u + c^T u + lam1 |u|_1 for each member (Q (B, k, k) PSD).

    Cyclic coordinate descent (glmnet's update), polished every few sweeps by solving the
    linear system on the current active set with the current signs; the polished point is
    kept when its signs agree and the KKT conditions hold on the inactive set, which makes
    the answer exact up to rounding even when the scores are strongly collinear (where plain
    coordinate descent crawls).
    """
    B, k = u.shape
    todo = np.ones(B, dtype=bool)

    def polish() -> None:
        for bi in np.flatnonzero(todo):
            act = u[bi] != 0
            sign = np.sign(u[bi])
            cand = np.zeros(k)
            if act.any():
                qa = q[bi][np.ix_(act, act)]
                try:
                    cand[act] = np.linalg.solve(qa, -(c[bi, act] + lam1 * sign[act]))
                except np.linalg.LinAlgError:
                    continue
                if np.any(np.sign(cand[act]) != sign[act]):
                    continue
            grad = q[bi] @ cand + c[bi]
            scale = 1e-10 * (1.0 + lam1 + np.abs(c[bi]).max())
            if np.all(np.abs(grad[~act]) <= lam1 + scale):
                u[bi] = cand
                todo[bi] = False

    # the warm start's active set is usually right (beta changes little between iterations)
    polish()
    for bi in np.flatnonzero(todo):
        u[bi] = _feature_sign(q[bi], c[bi], lam1, u[bi])
    return u


def _lasso_objective(q: np.ndarray, c: np.ndarray, lam: float, x: np.ndarray) -> float:
    return float(0.5 * x @ q @ x + c @ x + lam * np.abs(x).sum())


def _feature_sign(q: np.ndarray, c: np.ndarray, lam: float, x0: np.ndarray) -> np.ndarray:
    """Feature-sign search (Lee, Battle, Raina and Ng, 2007) for one small lasso QP.

    min 1/2 x^T Q x + c^T x + lam |x|_1 with Q (k x k) positive semi-definite. Exact in a
    finite number of steps (each step solves the system on the active set, then a line
    search over the sign changes never increases the objective); robust to the strongly
    collinear scores of early iterations, where coordinate descent crawls.
    """
    k = x0.size
    x = x0.copy()
    best = _lasso_objective(q, c, lam, x)
    zero = np.zeros(k)
    if _lasso_objective(q, c, lam, zero) < best:
        x, best = zero, _lasso_objective(q, c, lam, zero)
    tol = 1e-12 * (1.0 + lam + np.abs(c).max() + np.abs(q).max() * (1 + np.abs(x).max()))
    theta = np.sign(x)
    for _ in range(10 * k + 20):
        g = q @ x + c
        active = x != 0
        # optimality of the nonzero coefficients
        cond_a = np.all(np.abs(g[active] + lam * theta[active]) <= tol) if active.any() else True
        if cond_a:
            inactive = np.flatnonzero(~active)
            if inactive.size == 0:
                return x
            i = inactive[np.argmax(np.abs(g[inactive]))]
            if np.abs(g[i]) <= lam + tol:
                return x  # optimal
            theta[i] = -np.sign(g[i])
            active[i] = True
        idx = np.flatnonzero(active)
        qa = q[np.ix_(idx, idx)]
        rhs = -(c[idx] + lam * theta[idx])
        x_new_a = np.linalg.lstsq(qa, rhs, rcond=None)[0]
        # line search from x to x_new over the points where a coefficient changes sign
        x_new = np.zeros(k)
        x_new[idx] = x_new_a
        cands = [x_new]
        cur = x[idx]
        diff = x_new_a - cur
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = -cur / diff
        for t in ts[(ts > 0) & (ts < 1)]:
            pt = x.copy()
            pt[idx] = cur + t * diff
            pt[np.abs(pt) < 1e-15 * (1 + np.abs(pt).max())] = 0.0
            cands.append(pt)
        vals = [_lasso_objective(q, c, lam, pt) for pt in cands]
        j = int(np.argmin(vals))
        if vals[j] > best + tol:
            return x  # no progress possible (rounding level)
        x, best = cands[j], vals[j]
        theta = np.sign(x)
    return x


def solve_beta(
    z: np.ndarray,
    beta0: np.ndarray,
    surv: SurvivalData,
    mask: np.ndarray,
    hp: Hyper,
    *,
    max_newton: int = 100,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise f(b) = -(2/n) l(z b) + lambda [xi |b|_1 + (1-xi)/2 |b|^2] for each member.

    This is exactly the beta part of L divided by alpha. Proximal Newton: the smooth part is
    replaced by its second-order model (exact Hessian of the Cox log-likelihood in beta, which
    is k x k and cheap), the model plus the L1 term is minimised by cyclic coordinate descent
    (glmnet style), and a backtracking line search on f guarantees descent. Stops when the
    Newton step is below ``tol`` relative to beta (or its predicted decrease is at rounding
    level), or after ``max_newton`` steps.

    Parameters
    ----------
    z : (B, n, k) scores, sorted order.   beta0 : (B, k) start.

    Returns
    -------
    beta : (B, k) and f at beta : (B,).
    """
    B, _, k = z.shape
    n = mask.sum(axis=1)
    lam1 = hp.lambda_ * hp.l1_ratio
    lam2 = hp.lambda_ * (1 - hp.l1_ratio)
    b = beta0.astype(float, copy=True)

    def objective(bb: np.ndarray, zz: np.ndarray, sv_mask: np.ndarray, nn: np.ndarray):
        ll = cox_loglik(np.einsum("bnk,bk->bn", zz, bb), surv, sv_mask, hp.ties)
        return -(2 / nn) * ll + lam1 * np.abs(bb).sum(1) + 0.5 * lam2 * (bb**2).sum(1)

    ll, g, hl = cox_beta_derivatives(z, b, surv, mask, hp.ties)
    f = -(2 / n) * ll + lam1 * np.abs(b).sum(1) + 0.5 * lam2 * (b**2).sum(1)
    active = np.arange(B)
    for _ in range(max_newton):
        if active.size == 0:
            break
        na = n[active][:, None]
        gs = -(2 / na) * g + lam2 * b[active]  # gradient of the smooth part
        hs = -(2 / na[:, :, None]) * hl + lam2 * np.eye(k)[None]
        diag = np.maximum(np.einsum("bjj->bj", hs), 1e-300)
        c = gs - np.einsum("bij,bj->bi", hs, b[active])
        u = _quadratic_lasso(hs, c, diag, lam1, b[active].copy())
        d = u - b[active]
        b_act = b[active]
        delta = np.einsum("bi,bi->b", gs, d) + lam1 * (np.abs(u).sum(1) - np.abs(b_act).sum(1))
        f_act = f[active]
        step_size = np.abs(d).max(axis=1)
        done = (
            (step_size <= tol * (1 + np.abs(b_act).max(axis=1)))
            | (delta >= -1e-15 * (1 + np.abs(f_act)))
            | ~np.isfinite(delta)
        )
        t = np.ones(active.size)
        trial_b = b_act + d
        z_act, m_act, n_act = z[active], mask[active], n[active]
        f_new = objective(trial_b, z_act, m_act, n_act)
        accepted = np.zeros(active.size, dtype=bool)
        b_scale = 1 + np.abs(b_act).max(axis=1)
        for _ls in range(60):
            ok = ~done & ~accepted & np.isfinite(f_new) & (f_new <= f_act + 1e-4 * t * delta)
            accepted |= ok
            # a step shrunk to rounding level cannot help: give up on it
            todo = ~done & ~accepted & (t * step_size > 1e-13 * b_scale)
            if not np.any(todo):
                break
            t = np.where(todo, t * 0.5, t)
            trial_b = np.where(todo[:, None], b_act + t[:, None] * d, trial_b)
            f_new = np.where(todo, objective(trial_b, z_act, m_act, n_act), f_new)
        moved = accepted & (f_new <= f_act)
        idx = active[moved]
        b[idx] = trial_b[moved]
        f[idx] = f_new[moved]
        # a full Newton step this small is the last one needed: Newton converges
        # quadratically, so the next step would be far below tol
        last = (t == 1.0) & (step_size <= 1e-7 * (1 + np.abs(b_act).max(axis=1)))
        still = moved & ~done & ~last
        active = active[still]
        if active.size:
            _, g, hl = cox_beta_derivatives(z[active], b[active], surv, mask[active], hp.ties)
    return b, f


def _batch_beta_step(prob: _Problem, zt: np.ndarray, beta: np.ndarray, hp: Hyper) -> np.ndarray:
    z = np.ascontiguousarray(zt.transpose(0, 2, 1))  # (B, n, k)
    new_beta, _ = solve_beta(z, beta, prob.surv, prob.mask, hp)
    return new_beta


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
    callback=None,
) -> FitResult:
    """Fit a batch of B independent DeSurv problems that share X and the survival data.

    Parameters
    ----------
    X : ndarray, shape (p, n)
        Nonnegative expression, genes x samples, input sample order.
    surv : SurvivalData
        Built from the (n,) times and events in input order.
    W0 : ndarray, shape (B, p, k)
    H0 : ndarray, shape (B, k, n), input sample order.
    beta0 : ndarray, shape (B, k)
    hp : Hyper
    mask : ndarray of {0, 1}, shape (B, n), input order, optional
        Which samples belong to each member (cross-validation folds). Default: all.
    tol : float
        A member stops when |L_prev - L| / max(|L_prev|, 1e-300) < tol.
    max_iter : int
        Iterations per member.
    warmup : int
        Iterations at the start during which beta stays at beta0 (no beta step). With
        beta0 = 0 the Cox term is then constant, so these are plain NMF iterations of the same
        loss (L still never increases); they let W fit X before the survival term, whose
        curvature is extreme while the scores of a random start are nearly collinear, shapes it.
    refit_beta : bool
        With alpha = 0 the loss does not involve beta; fit the penalised Cox model of beta on
        the final scores so that the model can predict (default True).
    callback : callable(iteration, n_active) or None
        Called after each iteration (progress reporting).

    Returns
    -------
    FitResult
        W (B, p, k), H (B, k, n) in input order, beta (B, k), per-member loss history
        (dict of arrays over iterations, keys loss, nmf, cox, penalty_beta, penalty_w,
        penalty_h), n_iter, converged. A non-finite loss raises FloatingPointError naming
        the member and the hyperparameters.
    """
    B, p, k = W0.shape
    n = X.shape[1]
    if mask is None:
        mask_sorted = np.ones((B, n))
    else:
        mask_sorted = np.asarray(mask, dtype=float)[:, surv.order]
    prob = _Problem(X, surv, mask_sorted)
    W = np.ascontiguousarray(np.maximum(W0, EPS).transpose(1, 0, 2))  # (p, B, k)
    H = np.maximum(np.asarray(H0, dtype=float)[:, :, surv.order], EPS)
    beta = np.asarray(beta0, dtype=float).copy()

    hist: list[list[np.ndarray]] = [[] for _ in range(B)]
    n_iter = np.zeros(B, dtype=int)
    converged = np.zeros(B, dtype=bool)
    active = np.arange(B)
    prev = np.full(B, np.nan)
    step = np.ones(B)
    zt = _wtx(prob, W)
    loss_now = None
    for it in range(1, max_iter + 1):
        if active.size == 0:
            break
        sub = prob.sub(active) if active.size < B else prob
        Wa, Ha, ba, zta = W[:, active], H[active], beta[active], zt[active]
        Ha = h_step(sub, Wa, Ha, zta, hp)
        Wa, th, xht, hht = w_step(sub, Wa, Ha, ba, zta, hp, step[active])
        # next W step starts from twice the accepted fraction (at most the full step)
        step[active] = np.where(th > 0, np.minimum(1.0, 2.0 * th), step[active] * 0.5**4)
        zta = _wtx(sub, Wa)
        if hp.alpha > 0 and it > warmup:
            ba = _batch_beta_step(sub, zta, ba, hp)
        eta = np.einsum("bkn,bk->bn", zta, ba)
        parts = loss_parts(sub, Wa, Ha, ba, hp, xht=xht, hht=hht, eta=eta)
        W[:, active], H[active], beta[active], zt[active] = Wa, Ha, ba, zta
        loss_now = parts["loss"]
        bad = ~np.isfinite(loss_now)
        if np.any(bad):
            raise FloatingPointError(
                f"the DeSurv loss became non-finite at iteration {it} for start(s) "
                f"{active[bad].tolist()} with {hp.describe()}; try a smaller alpha or lambda_, "
                "larger lambda_w/lambda_h, or rescale X (e.g. log1p)"
            )
        for j, m in enumerate(active):
            hist[m].append(np.array([parts[key][j] for key in LOSS_PARTS]))
        n_iter[active] = it
        prev_a = prev[active]
        rel = np.abs(prev_a - loss_now) / np.maximum(np.abs(prev_a), 1e-300)
        done = np.isfinite(rel) & (rel < tol) & (it > warmup)
        converged[active[done]] = True
        prev[active] = loss_now
        active = active[~done]
        if callback is not None:
            callback(it, int(active.size))

    if hp.alpha == 0 and refit_beta:
        beta = _batch_beta_step(prob, zt, beta, hp)

    W_out = np.ascontiguousarray(W.transpose(1, 0, 2))
    H_out = H[:, :, surv.inverse]
    histories = []
    for m in range(B):
        arr = np.array(hist[m]) if hist[m] else np.zeros((0, len(LOSS_PARTS)))
        histories.append({key: arr[:, i] for i, key in enumerate(LOSS_PARTS)})
    return FitResult(W_out, H_out, beta, histories, n_iter, converged)


def uniform_start(
    X: np.ndarray, k: int, rng: np.random.Generator, batch: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's start: W (B, p, k) and H (B, k, n) uniform on [0, max X], beta = 0."""
    p, n = X.shape
    top = float(np.max(X))
    W = rng.uniform(0.0, top, size=(batch, p, k))
    H = rng.uniform(0.0, top, size=(batch, k, n))
    return W, H, np.zeros((batch, k))
