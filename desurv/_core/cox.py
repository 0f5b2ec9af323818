"""Cox partial likelihood pieces in O(n log n), batched over independent problems.

Conventions
-----------
- ``SurvivalData`` sorts samples once by increasing time (stable). Every array that the
  functions below take or return is in that *sorted* order, with a leading batch axis:
  ``eta`` is (B, n), ``mask`` is (B, n) with 1 for samples that belong to a member's problem
  (a cross-validation training fold, say) and 0 for samples that do not.
- Tied times form groups. The risk set of a group is every sample with time >= the group's
  time (censored samples at that time included, as in R's survival).
- ``ties="breslow"`` or ``"efron"`` (R's default).

The log partial likelihood of a linear predictor eta is, with D_g the events of tie group g,
d_g = |D_g|, R_g its risk set, S0_g = sum_{R_g} exp(eta), S0D_g = sum_{D_g} exp(eta):

    Breslow:  l = sum_g [ sum_{D_g} eta - d_g log S0_g ]
    Efron:    l = sum_g [ sum_{D_g} eta - sum_{m=0}^{d_g-1} log(S0_g - m/d_g S0D_g) ]

No n x n matrix is ever formed: risk-set sums are reverse cumulative sums over sorted samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SurvivalData",
    "cox_loglik",
    "cox_gradient",
    "cox_beta_derivatives",
    "CoxBeta",
]

TIES = ("efron", "breslow")


@dataclass(frozen=True)
class SurvivalData:
    """Survival times sorted once, with their tie groups.

    Attributes
    ----------
    order : ndarray of int, shape (n,)
        ``time[order]`` is sorted increasingly (stable sort: ties keep input order).
    inverse : ndarray of int, shape (n,)
        ``sorted_array[..., inverse]`` is back in input order.
    time, event : ndarray, shape (n,)
        Sorted times and event indicators (float 0/1).
    group : ndarray of int, shape (n,)
        Tie-group index of each sorted sample (groups numbered by increasing time).
    group_start : ndarray of int, shape (G,)
        First sorted index of each group; the group's risk set is ``[group_start[g], n)``.
    max_tied_events : int
        Largest number of events sharing one time (Efron's inner loop length).
    """

    order: np.ndarray
    inverse: np.ndarray
    time: np.ndarray
    event: np.ndarray
    group: np.ndarray
    group_start: np.ndarray
    max_tied_events: int

    @property
    def n(self) -> int:
        return int(self.time.shape[0])

    @classmethod
    def from_arrays(cls, time: np.ndarray, event: np.ndarray) -> SurvivalData:
        """Sort ``time`` (n,) and ``event`` (n,) and find the tie groups."""
        time = np.asarray(time, dtype=float)
        event = np.asarray(event, dtype=float)
        order = np.argsort(time, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        t = time[order]
        e = event[order]
        new_group = np.empty(t.size, dtype=bool)
        new_group[:1] = True
        new_group[1:] = t[1:] != t[:-1]
        group = np.cumsum(new_group) - 1
        group_start = np.flatnonzero(new_group)
        events_per_group = np.add.reduceat(e, group_start) if t.size else np.zeros(0)
        max_tied = int(events_per_group.max()) if events_per_group.size else 0
        return cls(order, inverse, t, e, group, group_start, max_tied)


def _group_sums(values: np.ndarray, surv: SurvivalData) -> np.ndarray:
    """Sum ``values`` (B, n[, ...]) over each tie group -> (B, G[, ...])."""
    return np.add.reduceat(values, surv.group_start, axis=1)


def _risk_sums(values: np.ndarray, surv: SurvivalData) -> np.ndarray:
    """Risk-set sums per group: sum over sorted samples i >= group_start[g] -> (B, G[, ...])."""
    rev = np.cumsum(values[:, ::-1], axis=1)[:, ::-1]
    return rev[:, surv.group_start]


def _shifted_exp(eta: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """exp(eta - c) * mask with c the per-member max of eta over masked samples."""
    masked = np.where(mask > 0, eta, -np.inf)
    shift = masked.max(axis=1)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    # masked-out samples may lie above the shift: never exponentiate them
    return np.exp(np.where(mask > 0, eta - shift[:, None], -np.inf)) * mask, shift


def _masked_eta(eta: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask > 0, eta, -np.inf)


def _log_risk_sums(x: np.ndarray, surv: SurvivalData) -> np.ndarray:
    """log S0_g = log sum_{i >= group_start[g]} exp(x_i), stable for any range of x. (B, G)"""
    rev = np.logaddexp.accumulate(x[:, ::-1], axis=1)[:, ::-1]
    return rev[:, surv.group_start]


def _log_group_sums(x: np.ndarray, surv: SurvivalData) -> np.ndarray:
    """log sum_{i in group g} exp(x_i) (B, G); -inf for an empty (all -inf) group."""
    gmax = np.maximum.reduceat(x, surv.group_start, axis=1)
    safe = np.where(np.isfinite(gmax), gmax, 0.0)
    sums = np.add.reduceat(np.exp(x - safe[:, surv.group]), surv.group_start, axis=1)
    with np.errstate(divide="ignore"):
        return np.where(sums > 0, np.log(np.where(sums > 0, sums, 1.0)) + safe, -np.inf)


def _efron_terms(
    log_s0: np.ndarray, log_s0d: np.ndarray, d: np.ndarray, surv: SurvivalData, ties: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tie terms relative to S0 (all (B, G); zero for groups without events).

    logsum_g = sum_m log(S0_g - m/d_g S0D_g) - d_g log S0_g = sum_m log(1 - m/d_g rho_g),
    a_g = sum_m 1/(1 - m/d_g rho_g) and b_g = sum_m (m/d_g)/(1 - m/d_g rho_g), with
    rho_g = S0D_g / S0_g in [0, 1]. Breslow: logsum = 0, a = d, b = 0.
    """
    if ties == "breslow" or surv.max_tied_events <= 1:
        return np.zeros_like(d), d.copy(), np.zeros_like(d)
    has = d > 0
    rho = np.where(has, np.exp(np.minimum(log_s0d - np.where(has, log_s0, 0.0), 0.0)), 0.0)
    dsafe = np.where(has, d, 1.0)
    logsum = np.zeros_like(d)
    a = np.zeros_like(d)
    b = np.zeros_like(d)
    for m in range(surv.max_tied_events):
        active = d > m
        frac = m / dsafe
        q = np.where(active, 1.0 - frac * rho, 1.0)
        logsum += np.where(active, np.log(q), 0.0)
        a += np.where(active, 1.0 / q, 0.0)
        b += np.where(active, frac / q, 0.0)
    return logsum, a, b


def _loglik_and_parts(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str
) -> tuple[np.ndarray, ...]:
    check_ties(ties)
    x = _masked_eta(eta, mask)
    dm = mask * surv.event
    d = _group_sums(dm, surv)
    log_s0 = _log_risk_sums(x, surv)
    has = d > 0
    log_s0 = np.where(has, log_s0, 0.0)  # only groups with events are ever used
    if ties == "efron" and surv.max_tied_events > 1:
        log_s0d = _log_group_sums(np.where(dm > 0, x, -np.inf), surv)
    else:
        log_s0d = log_s0
    logsum, a, b = _efron_terms(log_s0, log_s0d, d, surv, ties)
    loglik = (dm * np.where(mask > 0, eta, 0.0)).sum(axis=1) - (d * log_s0 + logsum).sum(axis=1)
    return loglik, x, dm, d, log_s0, a, b


def _robust_loglik(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str = "efron"
) -> np.ndarray:
    """:func:`cox_loglik` with every risk-set sum accumulated in log space (``logaddexp``):
    slower, safe for any range of eta (the fallback of the fast path)."""
    return _loglik_and_parts(eta, surv, mask, ties)[0]


def _robust_gradient(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str = "efron"
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cox_gradient` in log space (the fallback of the fast path): the cumulative sum of
    A_g runs in log space, and each exponent is masked before ``exp``."""
    loglik, x, dm, d, log_s0, a, b = _loglik_and_parts(eta, surv, mask, ties)
    has = d > 0
    with np.errstate(divide="ignore"):
        log_a = np.where(has, np.log(np.where(has, a, 1.0)) - log_s0, -np.inf)
    log_cum_a = np.logaddexp.accumulate(log_a, axis=1)[:, surv.group]
    with np.errstate(invalid="ignore"):
        risk_term = np.where(np.isfinite(x) & np.isfinite(log_cum_a), np.exp(x + log_cum_a), 0.0)
        # exponent masked before exp: censored samples may sit far below their group's S0
        expo = np.where(dm > 0, x - log_s0[:, surv.group], 0.0)
        tie_term = np.where(dm > 0, np.exp(expo) * b[:, surv.group], 0.0)
    return loglik, dm - risk_term + tie_term


def _robust_beta_derivatives(
    z: np.ndarray,
    beta: np.ndarray,
    surv: SurvivalData,
    mask: np.ndarray,
    ties: str = "efron",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`cox_beta_derivatives` from the log-space log-likelihood and gradient (the fallback
    of the fast path); risk-set moments use one shift per member, and a group whose risk set
    underflows under that shift is recomputed with its own shift."""
    eta = np.einsum("bnk,bk->bn", z, beta)
    loglik, grad_eta = _robust_gradient(eta, surv, mask, ties)
    grad = np.einsum("bnk,bn->bk", z, grad_eta)
    ew, _ = _shifted_exp(eta, mask)
    dm = mask * surv.event
    d = _group_sums(dm, surv)
    has = d > 0
    ez = ew[:, :, None] * z
    ezz = ez[:, :, :, None] * z[:, :, None, :]
    s0 = _risk_sums(ew, surv)
    s1 = _risk_sums(ez, surv)
    s2 = _risk_sums(ezz, surv)
    efron = ties == "efron" and surv.max_tied_events > 1
    if efron:
        de = ew * surv.event
        s0d = _group_sums(de, surv)
        s1d = _group_sums(de[:, :, None] * z, surv)
        s2d = _group_sums(de[:, :, None, None] * z[:, :, :, None] * z[:, :, None, :], surv)
    underflow = has & (s0 < 1e-250)
    for bi, g in zip(*np.nonzero(underflow)):
        sl = slice(surv.group_start[g], None)
        e_loc = mask[bi, sl] * np.exp(
            eta[bi, sl] - np.max(np.where(mask[bi, sl] > 0, eta[bi, sl], -np.inf))
        )
        z_loc = z[bi, sl]
        s0[bi, g] = e_loc.sum()
        s1[bi, g] = e_loc @ z_loc
        s2[bi, g] = (e_loc[:, None] * z_loc).T @ z_loc
        if efron:
            stop = (
                surv.group_start[g + 1] - surv.group_start[g]
                if g + 1 < surv.group_start.size
                else None
            )
            de_loc = (e_loc * surv.event[sl])[:stop]
            s0d[bi, g] = de_loc.sum()
            s1d[bi, g] = de_loc @ z_loc[:stop]
            s2d[bi, g] = (de_loc[:, None] * z_loc[:stop]).T @ z_loc[:stop]
    hess = np.zeros(beta.shape + beta.shape[-1:])
    if not efron:
        safe = np.where(has, s0, 1.0)
        w = np.where(has, d / safe, 0.0)
        mean1 = s1 / safe[:, :, None]
        hess -= np.einsum("bg,bgij->bij", w, s2)
        hess += np.einsum("bg,bgi,bgj->bij", np.where(has, d, 0.0), mean1, mean1)
        return loglik, grad, hess
    dsafe = np.where(has, d, 1.0)
    for m in range(surv.max_tied_events):
        active = d > m
        frac = m / dsafe
        den = np.where(active, s0 - frac * s0d, 1.0)
        w = np.where(active, 1.0 / den, 0.0)
        s1m = (s1 - frac[:, :, None] * s1d) / den[:, :, None]
        s2m = s2 - frac[:, :, None, None] * s2d
        hess -= np.einsum("bg,bgij->bij", w, s2m)
        hess += np.einsum("bg,bgi,bgj->bij", active.astype(float), s1m, s1m)
    return loglik, grad, hess


# --------------------------------------------------------------------------------------------
# Fast paths. Risk-set sums of exp(eta - shift) with one shift per member (the largest eta of
# the member) are plain reverse cumulative sums: a handful of numpy calls instead of the
# log-space accumulation above. They are exact unless a risk set that holds an event
# underflows under that shift (its eta all ~575 units below the member's largest), or eta is
# not finite; then the log-space versions above are used instead.
# --------------------------------------------------------------------------------------------

_UNDERFLOW = 1e-250


def check_ties(ties: object) -> str:
    """The one check of a ``ties`` argument, used by every layer (``desurv._validation``
    re-exports it): one of :data:`TIES`."""
    if ties not in TIES:
        raise ValueError(f"ties must be 'efron' (R's coxph default) or 'breslow'; got {ties!r}.")
    return str(ties)


_check_ties = check_ties


@dataclass(frozen=True)
class _Events:
    """What the fast paths need of a member's samples, fixed for a fit: event indicators
    ``dm`` (B, n), events per tie group ``d`` (B, G) and ``has = d > 0``, the number of
    events (B,), whether two samples share a time and whether every sample is masked in."""

    dm: np.ndarray
    d: np.ndarray
    has: np.ndarray
    n_events: np.ndarray
    tied: bool
    full: bool

    def take(self, idx) -> _Events:
        return _Events(
            self.dm[idx], self.d[idx], self.has[idx], self.n_events[idx], self.tied, self.full
        )


def _events(surv: SurvivalData, mask: np.ndarray) -> _Events:
    dm = mask * surv.event
    tied = surv.group_start.size < surv.n
    d = _group_sums(dm, surv) if tied else dm
    return _Events(dm, d, d > 0, d.sum(axis=1), tied, bool(np.all(mask > 0)))


def _shifted(
    eta: np.ndarray, mask: np.ndarray, ev: _Events
) -> tuple[np.ndarray, np.ndarray] | None:
    """exp(eta - shift) (0 for masked-out samples) and the shift per member; None when a
    member has no sample or a non-finite eta."""
    x = eta if ev.full else np.where(mask > 0, eta, -np.inf)
    shift = x.max(axis=1)
    if not np.isfinite(shift).all():  # no sample, +inf or nan
        return None
    return np.exp(x - shift[:, None]), shift


def _event_eta_sum(eta: np.ndarray, mask: np.ndarray, ev: _Events) -> np.ndarray:
    """sum of eta over each member's events (B,)."""
    return (ev.dm * (eta if ev.full else np.where(mask > 0, eta, 0.0))).sum(axis=1)


def _reverse_cumsum(values: np.ndarray, surv: SurvivalData, tied: bool) -> np.ndarray:
    out = np.cumsum(values[:, ::-1], axis=1)[:, ::-1]
    return out[:, surv.group_start] if tied else out


def _shifted_risk_sums(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ev: _Events
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """What both fast paths start from: e = exp(eta - shift), the risk-set sums S0 of e per
    group and the log-likelihood's event part sum_events (eta - shift); None where the log-space
    versions must be used instead (no sample, non-finite eta, a risk set that underflows)."""
    sh = _shifted(eta, mask, ev)
    if sh is None:
        return None
    e, shift = sh
    s0 = _reverse_cumsum(e, surv, ev.tied)
    if np.any(ev.has & (s0 < _UNDERFLOW)):
        return None
    return e, s0, _event_eta_sum(eta, mask, ev) - shift * ev.n_events


def _fast_loglik(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str, ev: _Events
) -> np.ndarray | None:
    sums = _shifted_risk_sums(eta, surv, mask, ev)
    if sums is None:
        return None
    e, s0, base = sums
    d, has = ev.d, ev.has
    if ties == "breslow" or surv.max_tied_events <= 1:
        return base - (d * np.log(np.where(has, s0, 1.0))).sum(axis=1)
    s0d = _group_sums(e * ev.dm, surv)
    dsafe = np.where(has, d, 1.0)
    for m in range(surv.max_tied_events):
        act = d > m
        base -= np.where(act, np.log(np.where(act, s0 - (m / dsafe) * s0d, 1.0)), 0.0).sum(1)
    return base


def _loglik(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str, ev: _Events
) -> np.ndarray:
    """cox_loglik with the events of the mask precomputed (no argument checks)."""
    out = _fast_loglik(eta, surv, mask, ties, ev)
    return _robust_loglik(eta, surv, mask, ties) if out is None else out


def cox_loglik(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str = "efron"
) -> np.ndarray:
    """Log partial likelihood of each batch member.

    Parameters
    ----------
    eta : ndarray, shape (B, n)
        Linear predictors, sorted order.
    surv : SurvivalData
    mask : ndarray, shape (B, n)
        1 for samples in the member's problem, 0 otherwise.
    ties : {"efron", "breslow"}

    Returns
    -------
    ndarray, shape (B,)

    Notes
    -----
    Risk-set sums are reverse cumulative sums of exp(eta - max eta); where one of them would
    underflow (eta spanning more than ~575 units) they are accumulated in log space
    (``logaddexp``) instead, so any range of eta is safe.
    """
    _check_ties(ties)
    return _loglik(eta, surv, mask, ties, _events(surv, mask))


def cox_gradient(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str = "efron"
) -> tuple[np.ndarray, np.ndarray]:
    """Log partial likelihood and its gradient with respect to eta, in O(n log n).

    d l / d eta_i = delta_i - exp(eta_i) sum_{g: t_g <= t_i} A_g + delta_i exp(eta_i) B_{g(i)},
    with A_g = sum_m 1/(S0_g - m/d_g S0D_g) and B_g = sum_m (m/d_g)/(S0_g - m/d_g S0D_g)
    (Breslow: A_g = d_g / S0_g, B_g = 0). Extreme ranges of eta fall back to log space, as in
    :func:`cox_loglik`.

    Returns
    -------
    loglik : ndarray, shape (B,)
    grad : ndarray, shape (B, n)
        d loglik / d eta, sorted order; zero for masked-out samples.
    """
    _check_ties(ties)
    return _gradient(eta, surv, mask, ties, _events(surv, mask))


def _gradient(
    eta: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str, ev: _Events
) -> tuple[np.ndarray, np.ndarray]:
    """cox_gradient with the events of the mask precomputed (no argument checks)."""
    sums = _shifted_risk_sums(eta, surv, mask, ev)
    if sums is None:
        return _robust_gradient(eta, surv, mask, ties)
    e, s0, base = sums
    dm, d, has = ev.dm, ev.d, ev.has
    s0s = np.where(has, s0, 1.0)
    if ties == "breslow" or surv.max_tied_events <= 1:
        a = d / s0s
        loglik = base - (d * np.log(s0s)).sum(axis=1)
        tie = 0.0
    else:
        s0d = _group_sums(e * dm, surv)
        dsafe = np.where(has, d, 1.0)
        a = np.zeros_like(d)
        b = np.zeros_like(d)
        for m in range(surv.max_tied_events):
            act = d > m
            frac = m / dsafe
            den = np.where(act, s0 - frac * s0d, 1.0)
            base -= np.where(act, np.log(den), 0.0).sum(axis=1)
            a += np.where(act, 1.0 / den, 0.0)
            b += np.where(act, frac / den, 0.0)
        loglik = base
        tie = dm * e * b[:, surv.group]
    cum_a = np.cumsum(a, axis=1)
    if ev.tied:
        cum_a = cum_a[:, surv.group]
    return loglik, dm - e * cum_a + tie


class CoxBeta:
    """The Cox log partial likelihood of eta = z beta as a function of beta, z fixed.

    Built once per beta step: the products [1, z_i, upper triangle of z_i z_i^T] of every
    sample are stacked so that the risk-set moments S0, S1, S2 of any beta take one reverse
    cumulative sum.

    Parameters
    ----------
    z : ndarray, shape (B, n, k)
        Scores per member, sorted order.
    surv : SurvivalData
    mask : ndarray, shape (B, n)
    ties : {"efron", "breslow"}
    """

    def __init__(self, z: np.ndarray, surv: SurvivalData, mask: np.ndarray, ties: str) -> None:
        _check_ties(ties)
        B, n, k = z.shape
        self.z, self.surv, self.mask, self.ties = z, surv, mask, ties
        self.k = k
        self.ev = _events(surv, mask)
        self.dm, self.d, self.tied, self.has = self.ev.dm, self.ev.d, self.ev.tied, self.ev.has
        self.efron = ties == "efron" and surv.max_tied_events > 1
        # z_i z_j for i <= j only (the Hessian is symmetric): k (k + 1) / 2 columns
        iu, ju = np.triu_indices(k)
        tri = np.zeros((k, k), dtype=int)
        tri[iu, ju] = np.arange(iu.size)
        tri[ju, iu] = np.arange(iu.size)
        self.tri = tri.ravel()  # position of (i, j) among the stored products
        zz = z[:, :, iu] * z[:, :, ju]
        self.Y = np.concatenate([np.ones((B, n, 1)), z, zz], axis=2)
        self.dz = np.matmul(self.dm[:, None, :], z)[:, 0]  # sum of event scores (B, k)
        self.n_events = self.ev.n_events

    def take(self, idx: np.ndarray) -> CoxBeta:
        """The members ``idx`` only."""
        new = object.__new__(CoxBeta)
        new.__dict__.update(self.__dict__)
        for name in ("z", "mask", "dm", "d", "has", "Y", "dz", "n_events"):
            setattr(new, name, getattr(self, name)[idx])
        new.ev = self.ev.take(idx)
        return new

    def eta(self, beta: np.ndarray) -> np.ndarray:
        return np.matmul(self.z, beta[:, :, None])[:, :, 0]

    def loglik(self, beta: np.ndarray) -> np.ndarray:
        """Log partial likelihood at beta (B, k) -> (B,)."""
        return _loglik(self.eta(beta), self.surv, self.mask, self.ties, self.ev)

    def derivatives(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log-likelihood (B,), gradient (B, k) and Hessian (B, k, k) in beta."""
        eta = self.eta(beta)
        sh = _shifted(eta, self.mask, self.ev)
        if sh is None:
            return _robust_beta_derivatives(self.z, beta, self.surv, self.mask, self.ties)
        e, shift = sh
        k, d, has = self.k, self.d, self.has
        C = _reverse_cumsum(e[:, :, None] * self.Y, self.surv, self.tied)
        s0 = C[:, :, 0]
        if np.any(has & (s0 < _UNDERFLOW)):
            return _robust_beta_derivatives(self.z, beta, self.surv, self.mask, self.ties)
        s1, s2 = C[:, :, 1 : 1 + k], C[:, :, 1 + k :]
        B, G = d.shape
        ll = (self.dm * eta).sum(axis=1) - shift * self.n_events
        if not self.efron:
            s0s = np.where(has, s0, 1.0)
            w = d / s0s
            ll -= (d * np.log(s0s)).sum(axis=1)
            mean = s1 / s0s[:, :, None]
            grad = self.dz - np.matmul(w[:, None, :], s1)[:, 0]
            hess = np.matmul((d[:, :, None] * mean).transpose(0, 2, 1), mean)
            hess -= np.matmul(w[:, None, :], s2)[:, 0][:, self.tri].reshape(B, k, k)
            return ll, grad, hess
        gd = _group_sums((e * self.dm)[:, :, None] * self.Y, self.surv)
        s0d, s1d, s2d = gd[:, :, 0], gd[:, :, 1 : 1 + k], gd[:, :, 1 + k :]
        dsafe = np.where(has, d, 1.0)
        grad = self.dz.copy()
        hess = np.zeros((B, k, k))
        for m in range(self.surv.max_tied_events):
            act = d > m
            frac = m / dsafe
            den = np.where(act, s0 - frac * s0d, 1.0)
            w = np.where(act, 1.0 / den, 0.0)
            ll -= np.where(act, np.log(den), 0.0).sum(axis=1)
            s1m = (s1 - frac[:, :, None] * s1d) * w[:, :, None]
            grad -= s1m.sum(axis=1)
            s2m = np.matmul(w[:, None, :], s2 - frac[:, :, None] * s2d)[:, 0]
            hess += np.matmul(s1m.transpose(0, 2, 1), s1m) - s2m[:, self.tri].reshape(B, k, k)
        return ll, grad, hess


def cox_beta_derivatives(
    z: np.ndarray,
    beta: np.ndarray,
    surv: SurvivalData,
    mask: np.ndarray,
    ties: str = "efron",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log partial likelihood of eta = z beta with its gradient and Hessian in beta.

    Parameters
    ----------
    z : ndarray, shape (B, n, k)
        Covariates (factor scores) per member, sorted order.
    beta : ndarray, shape (B, k)
    surv, mask, ties : as in :func:`cox_loglik`.

    Returns
    -------
    loglik : (B,)
    grad : (B, k)
        d l / d beta = z^T (d l / d eta).
    hess : (B, k, k)
        d^2 l / d beta^2 (negative semi-definite). Extreme ranges of eta fall back to risk-set
        moments recomputed per group with their own shift.

    See Also
    --------
    CoxBeta : the same for many beta on the same z (what the beta step uses).
    """
    return CoxBeta(z, surv, mask, ties).derivatives(beta)
