"""The beta subproblem of the DeSurv loop: the penalised Cox fit on fixed scores.

``solve_beta`` minimises f(b) = -c l(z b) + lambda [xi |b|_1 + (1-xi)/2 |b|^2] for a batch of
members (z the standardised scores, c = 2 / n_events): proximal Newton with the exact k x k
Cox Hessian, each step's lasso quadratic solved exactly (active-set solve with the warm
start's signs, feature-sign search where they change) and a backtracking line search.
numpy only; ``hp`` is the loop's ``Hyper`` (lambda_, l1_ratio, ties are read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from desurv._core.cox import CoxBeta, SurvivalData

if TYPE_CHECKING:  # the loop's hyperparameters (no import at run time: solver imports us)
    from desurv._core.solver import Hyper

__all__ = ["solve_beta", "per_event_weight", "NEWTON_NEXT_STEP"]

# the beta step's Newton stops after a full step when the next one, predicted from the
# observed quadratic rate, would be below this relative to beta
NEWTON_NEXT_STEP = 1e-7


def _quadratic_lasso(q: np.ndarray, c: np.ndarray, lam1: float, u: np.ndarray) -> np.ndarray:
    """Minimise 1/2 u^T Q u + c^T u + lam1 |u|_1 for each member (Q (B, k, k) PSD).

    The warm start's signs are usually right (beta changes little between iterations): the
    linear system on its active set with its signs is solved first, and kept when its signs
    agree and the KKT conditions hold on the inactive set, which makes the answer exact up
    to rounding even when the scores are strongly collinear (where coordinate descent
    crawls). Members where that fails go to a feature-sign search (exact in finitely many
    steps).
    """
    B, k = u.shape
    if lam1 == 0.0:
        try:
            return np.linalg.solve(q, -c[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            return np.stack([np.linalg.lstsq(q[b], -c[b], rcond=None)[0] for b in range(B)])
    sign = np.sign(u)
    todo = np.ones(B, dtype=bool)
    full = np.all(sign != 0, axis=1)
    if np.any(full):
        idx = np.flatnonzero(full)
        try:
            cand = np.linalg.solve(q[idx], -(c[idx] + lam1 * sign[idx])[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            cand = None
        if cand is not None:
            ok = np.all(np.sign(cand) == sign[idx], axis=1)
            u[idx[ok]] = cand[ok]
            todo[idx[ok]] = False
    for bi in np.flatnonzero(todo):
        act = sign[bi] != 0
        cand = np.zeros(k)
        found = True
        if act.any():
            try:
                cand[act] = np.linalg.solve(
                    q[bi][np.ix_(act, act)], -(c[bi, act] + lam1 * sign[bi, act])
                )
            except np.linalg.LinAlgError:
                found = False
            found = found and bool(np.all(np.sign(cand[act]) == sign[bi, act]))
        if found and not act.all():
            grad = q[bi] @ cand + c[bi]
            scale = 1e-10 * (1.0 + lam1 + np.abs(c[bi]).max())
            found = bool(np.all(np.abs(grad[~act]) <= lam1 + scale))
        u[bi] = cand if found else _feature_sign(q[bi], c[bi], lam1, u[bi])
    return u


def _lasso_one(q: np.ndarray, c: np.ndarray, lam1: float, u: np.ndarray) -> np.ndarray:
    """:func:`_quadratic_lasso` for one member (q (k, k), c and u (k,)), on 2-D arrays."""
    if lam1 == 0.0:
        try:
            return np.linalg.solve(q, -c)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(q, -c, rcond=None)[0]
    sign = np.sign(u)
    act = sign != 0
    try:
        if act.all():
            cand = np.linalg.solve(q, -(c + lam1 * sign))
            if (np.sign(cand) == sign).all():
                return cand
        else:
            idx = np.flatnonzero(act)
            cand = np.zeros_like(u)
            if idx.size:
                cand[idx] = np.linalg.solve(q[idx][:, idx], -(c[idx] + lam1 * sign[idx]))
            if (np.sign(cand[idx]) == sign[idx]).all():
                rest = np.flatnonzero(~act)
                grad = q[rest] @ cand + c[rest]
                if (np.abs(grad) <= lam1 + 1e-10 * (1.0 + lam1 + np.abs(c).max())).all():
                    return cand
    except np.linalg.LinAlgError:
        pass
    return _feature_sign(q, c, lam1, u)


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


def per_event_weight(n_events: np.ndarray) -> np.ndarray:
    """c = 2 / n_events per member (0 for a member without events, whose Cox part is 0)."""
    return np.where(n_events > 0, 2.0 / np.maximum(n_events, 1), 0.0)


def solve_beta(
    z: np.ndarray,
    beta0: np.ndarray,
    surv: SurvivalData,
    mask: np.ndarray,
    hp: Hyper,
    *,
    weight: np.ndarray | None = None,
    max_newton: int = 100,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise f(b) = -c l(z b) + lambda [xi |b|_1 + (1-xi)/2 |b|^2] for each member.

    With z the standardised scores and c = 2 / n_events (the default ``weight``) this is
    exactly the beta part of L divided by alpha / D0 (the solver's survival scale).
    Proximal Newton: the smooth part is replaced by its second-order model (exact Hessian of
    the Cox log-likelihood in beta, which is k x k and cheap), the model plus the L1 term is
    minimised exactly (active-set solve, feature-sign search where the signs change), and a
    backtracking line search on f guarantees descent. Stops when the Newton step is below
    ``tol`` relative to beta, when its predicted decrease is at rounding level, after a full
    step that left the signs of beta unchanged when the next step would be below 1e-7
    relative to beta (Newton converges quadratically, s_{j+1} ~ C s_j^2, with C estimated
    from the last two steps; f is then within ~1e-14 of its minimum), or after
    ``max_newton`` steps.

    Parameters
    ----------
    z : (B, n, k) scores, sorted order.   beta0 : (B, k) start.
    weight : (B,) c per member; default 2 / (events of the member).

    Returns
    -------
    beta : (B, k) and f at beta : (B,).
    """
    B, _, k = z.shape
    if weight is None:
        weight = per_event_weight((mask * surv.event).sum(axis=1))  # both sorted
    weight = np.broadcast_to(np.asarray(weight, dtype=float), (B,))
    if B == 1:
        return _solve_beta_one(
            z, beta0, surv, mask, hp, weight=float(weight[0]), max_newton=max_newton, tol=tol
        )
    lam1 = hp.lambda_ * hp.l1_ratio
    lam2 = hp.lambda_ * (1 - hp.l1_ratio)
    b = beta0.astype(float, copy=True)

    def penalty(bb: np.ndarray) -> np.ndarray:
        return lam1 * np.abs(bb).sum(1) + 0.5 * lam2 * (bb**2).sum(1)

    cox = CoxBeta(z, surv, mask, hp.ties)
    ll, g, hl = cox.derivatives(b)
    f = -weight * ll + penalty(b)
    active = np.arange(B)
    prev_step = np.full(B, np.nan)
    ridge = lam2 * np.eye(k)
    for _ in range(max_newton):
        if active.size == 0:
            break
        wa = weight[active]
        b_act = b[active]
        gs = -wa[:, None] * g + lam2 * b_act  # gradient of the smooth part
        hs = -wa[:, None, None] * hl + ridge
        c = gs - np.matmul(hs, b_act[:, :, None])[:, :, 0]
        u = _quadratic_lasso(hs, c, lam1, b_act.copy())
        d = u - b_act
        delta = (gs * d).sum(1) + lam1 * (np.abs(u).sum(1) - np.abs(b_act).sum(1))
        f_act = f[active]
        step_size = np.abs(d).max(axis=1)
        b_scale = 1 + np.abs(b_act).max(axis=1)
        done = (
            (step_size <= tol * b_scale)
            | (delta >= -1e-15 * (1 + np.abs(f_act)))
            | ~np.isfinite(delta)
        )
        if np.all(done):
            break
        t = np.ones(active.size)
        trial_b = b_act + d
        f_new = -wa * cox.loglik(trial_b) + penalty(trial_b)
        accepted = np.zeros(active.size, dtype=bool)
        for _ls in range(60):
            ok = ~done & ~accepted & np.isfinite(f_new) & (f_new <= f_act + 1e-4 * t * delta)
            accepted |= ok
            # a step shrunk to rounding level cannot help: give up on it
            todo = ~done & ~accepted & (t * step_size > 1e-13 * b_scale)
            if not np.any(todo):
                break
            t = np.where(todo, t * 0.5, t)
            trial_b = np.where(todo[:, None], b_act + t[:, None] * d, trial_b)
            f_new = np.where(todo, -wa * cox.loglik(trial_b) + penalty(trial_b), f_new)
        moved = accepted & (f_new <= f_act)
        idx = active[moved]
        b[idx] = trial_b[moved]
        f[idx] = f_new[moved]
        # Newton converges quadratically once the signs have settled: the next step would be
        # ~ C s^2 with C estimated from the last two full steps; when that is below 1e-7
        # relative to beta, this full step was the last one needed.
        c_est = step_size / np.maximum(prev_step, 1e-300) ** 2
        last = (
            (t == 1.0)
            & np.isfinite(prev_step)
            & (c_est * step_size**2 <= NEWTON_NEXT_STEP * b_scale)
            & np.all(np.sign(u) == np.sign(b_act), axis=1)
        )
        still = moved & ~done & ~last
        active = active[still]
        prev_step = np.where(t == 1.0, step_size, np.nan)[still]
        if active.size:
            cox = cox.take(still)
            ll, g, hl = cox.derivatives(b[active])
    return b, f


def _solve_beta_one(
    z: np.ndarray,
    beta0: np.ndarray,
    surv: SurvivalData,
    mask: np.ndarray,
    hp: Hyper,
    *,
    weight: float,
    max_newton: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_beta` for a batch of one: the same iterations and stopping rules, with the
    bookkeeping in Python scalars, and the line search's first trial evaluated together with
    the derivatives the next Newton step needs (when one is expected)."""
    k = z.shape[2]
    cw = weight
    lam1 = hp.lambda_ * hp.l1_ratio
    lam2 = hp.lambda_ * (1 - hp.l1_ratio)
    b = beta0.astype(float, copy=True)  # (1, k)

    def penalty(bb: np.ndarray) -> float:
        return float(lam1 * np.abs(bb).sum() + 0.5 * lam2 * (bb * bb).sum())

    cox = CoxBeta(z, surv, mask, hp.ties)
    ll, g, hl = cox.derivatives(b)
    f = float(-cw * ll[0]) + penalty(b)
    ridge = lam2 * np.eye(k)
    prev_step = np.nan
    for _ in range(max_newton):
        gs = (-cw) * g + lam2 * b
        hs = (-cw) * hl + ridge
        c = gs - np.matmul(hs, b[:, :, None])[:, :, 0]
        u = _lasso_one(hs[0], c[0], lam1, b[0])[None]
        d = u - b
        delta = float((gs * d).sum() + lam1 * (np.abs(u).sum() - np.abs(b).sum()))
        step_size = float(np.abs(d).max())
        b_scale = 1.0 + float(np.abs(b).max())
        if step_size <= tol * b_scale or delta >= -1e-15 * (1 + abs(f)) or delta != delta:
            break
        # expected size of the next Newton step: C s^2, C estimated from the last two steps
        last = (
            prev_step == prev_step
            and step_size / max(prev_step, 1e-300) ** 2 * step_size**2 <= NEWTON_NEXT_STEP * b_scale
            and bool(np.all(np.sign(u) == np.sign(b)))
        )
        trial = b + d
        if last:
            derivs = None
            f_new = float(-cw * cox.loglik(trial)[0]) + penalty(trial)
        else:
            derivs = cox.derivatives(trial)
            f_new = float(-cw * derivs[0][0]) + penalty(trial)
        t = 1.0
        accepted = False
        for _ls in range(60):
            if f_new == f_new and f_new <= f + 1e-4 * t * delta:
                accepted = True
                break
            if t * step_size <= 1e-13 * b_scale:  # shrunk to rounding level: give up
                break
            t *= 0.5
            derivs = None
            trial = b + t * d
            f_new = float(-cw * cox.loglik(trial)[0]) + penalty(trial)
        if not (accepted and f_new <= f):
            break
        b, f = trial, f_new
        if last and t == 1.0:
            break
        prev_step = step_size if t == 1.0 else np.nan
        ll, g, hl = derivs if derivs is not None else cox.derivatives(b)
    return b, np.array([f])
