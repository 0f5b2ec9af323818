"""Stratified Cox proportional-hazards model: the Python twin of R's ``survival::coxph``.

A small Newton-Raphson solver for the stratified Cox partial likelihood with Efron's or
Breslow's handling of tied event times (as ``coxph``), on plain arrays and DataFrames. Times
equal up to rounding are merged first, as R's ``timefix`` does; a follow-up time of 0 is
valid (as in R). Categorical covariates enter as treatment-coded dummies named as R names
them, so that results line up term by term with :func:`r_bridge.coxph`.

The AnnData call site is :func:`desurv.tl.survival`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from desurv._validation import check_ties
from desurv.exceptions import ConvergenceWarning, SeparationWarning
from desurv.stats._checks import check_time_event, strata_codes
from desurv.stats._concordance import _c_from_counts, concordance_counts, timefix

__all__ = ["cox_ph"]


# --------------------------------------------------------------------------------------
# Design matrix (shared naming with r_bridge: R's treatment contrasts and term names).
# --------------------------------------------------------------------------------------
def _design_matrix(covariates: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Numeric design matrix and R's term names (treatment contrasts against level 1)."""
    cols: list[np.ndarray] = []
    terms: list[str] = []
    for col in covariates.columns:
        v = covariates[col]
        if isinstance(v.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(v.dtype) or v.dtype == bool
        ):
            cat = v if isinstance(v.dtype, pd.CategoricalDtype) else pd.Categorical(v.astype(str))
            cat = pd.Categorical(cat).remove_unused_categories()
            for lvl in cat.categories[1:]:
                cols.append((cat == lvl).astype(float))
                terms.append(f"{col}{lvl}")
        else:
            cols.append(v.to_numpy(dtype=float))
            terms.append(str(col))
    X = np.column_stack(cols) if cols else np.empty((len(covariates), 0))
    return X, terms


# --------------------------------------------------------------------------------------
# Stratified Cox partial likelihood (Efron / Breslow), value, gradient and information.
# --------------------------------------------------------------------------------------
# Largest spread of the linear predictor handled with a single shift exp(eta - max(eta));
# beyond it (exp(-745) underflows to 0) risk sets are shifted chunk by chunk.
_SHIFT_SPAN = 500.0


class _CoxData:
    """Subjects sorted by stratum and decreasing time, with the tie structure prepared."""

    def __init__(self, X, time, event, codes, ties):
        order = np.lexsort((-time, codes))
        self.X = X[order]
        self.t = time[order]
        self.e = event[order]
        self.s = codes[order]
        self.n, self.p = self.X.shape
        # blocks: runs of equal (stratum, time) in the sorted order
        new_block = np.ones(self.n, dtype=bool)
        new_block[1:] = (self.s[1:] != self.s[:-1]) | (self.t[1:] != self.t[:-1])
        self.block = np.cumsum(new_block) - 1
        nb = self.block[-1] + 1
        self.block_end = np.r_[np.flatnonzero(new_block)[1:] - 1, self.n - 1]
        new_stratum = np.ones(self.n, dtype=bool)
        new_stratum[1:] = self.s[1:] != self.s[:-1]
        self.stratum_starts = np.flatnonzero(new_stratum)
        self.stratum_id = np.cumsum(new_stratum) - 1
        ev = np.flatnonzero(self.e)
        self.ev = ev
        self.ev_block = self.block[ev]
        d = np.bincount(self.ev_block, minlength=nb).astype(float)
        # rank of each event within its tied block: 0..d-1
        first_in_block = np.r_[0, np.flatnonzero(np.diff(self.ev_block)) + 1]
        starts = np.repeat(first_in_block, np.diff(np.r_[first_in_block, ev.size]))
        rank = np.arange(ev.size) - starts
        self.frac = rank / d[self.ev_block] if ties == "efron" else np.zeros(ev.size)
        self.nb = nb

    def _cumsum_by_stratum(self, a: np.ndarray) -> np.ndarray:
        out = np.empty_like(a)
        bounds = np.r_[self.stratum_starts, self.n]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            out[lo:hi] = np.cumsum(a[lo:hi], axis=0)
        return out

    def _chunks(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Runs of whole tied blocks within a stratum over which the running maximum of
        ``eta`` (over the risk set so far) rises by at most ``_SHIFT_SPAN``.

        Returns the chunk starts, whether each chunk continues the previous one's stratum,
        and each chunk's shift (the running maximum at its end): ``exp(eta - shift)`` is
        then <= 1 and no risk set's sum underflows to 0.
        """
        starts, cont, shifts = [], [], []
        bounds = np.r_[self.stratum_starts, self.n]
        block_start = np.r_[0, self.block_end[:-1] + 1]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            cm = np.maximum.accumulate(eta[lo:hi])
            start = lo
            while start < hi:
                j = lo + int(np.searchsorted(cm, cm[start - lo] + _SHIFT_SPAN, side="right")) - 1
                if self.block_end[self.block[j]] != j:  # never split a block of tied times
                    j = block_start[self.block[j]] - 1
                    if j < start:
                        j = self.block_end[self.block[start]]
                starts.append(start)
                cont.append(start > lo)
                shifts.append(cm[j - lo])
                start = j + 1
        return np.array(starts), np.array(cont), np.array(shifts)

    def _cumsum_shifted(self, a: np.ndarray, chunks) -> np.ndarray:
        """Cumulative sums within strata of ``a`` (already scaled per chunk), carried from
        one chunk to the next on the next chunk's scale."""
        starts, cont, shifts = chunks
        out = np.empty_like(a)
        ends = np.r_[starts[1:], self.n]
        for k, (lo, hi) in enumerate(zip(starts, ends)):
            out[lo:hi] = np.cumsum(a[lo:hi], axis=0)
            if cont[k]:
                out[lo:hi] += out[lo - 1] * np.exp(shifts[k - 1] - shifts[k])
        return out

    def evaluate(self, beta: np.ndarray, need_hess: bool = True):
        # Extreme trial steps may underflow a whole risk set: the log-likelihood is then
        # -inf or nan and the Newton loop halves the step, so silence those warnings here.
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return self._evaluate(beta, need_hess)

    def _evaluate(self, beta: np.ndarray, need_hess: bool):
        X = self.X
        eta = X @ beta
        if eta.size == 0 or np.ptp(eta) <= _SHIFT_SPAN:
            # one shift for everyone: exp(eta - max) cannot underflow a whole risk set
            c = eta.max() if eta.size else 0.0
            shift = np.full(self.n, c)
            cumsum = self._cumsum_by_stratum
        else:
            # a linear predictor spread over hundreds of units (a coefficient running away
            # under monotone likelihood): shift each run of risk sets by its own maximum
            chunks = self._chunks(eta)
            shift = np.repeat(chunks[2], np.diff(np.r_[chunks[0], self.n]))

            def cumsum(a):
                return self._cumsum_shifted(a, chunks)

        w = np.exp(eta - shift)
        S0 = cumsum(w)[self.block_end]
        wx = w[:, None] * X
        S1 = cumsum(wx)[self.block_end]
        ev, evb, frac = self.ev, self.ev_block, self.frac
        D0 = np.bincount(evb, weights=w[ev], minlength=self.nb)
        D1 = np.zeros((self.nb, self.p))
        np.add.at(D1, evb, wx[ev])
        phi0 = S0[evb] - frac * D0[evb]
        phi1 = S1[evb] - frac[:, None] * D1[evb]
        loglik = float(eta[ev].sum() - np.sum(np.log(phi0) + shift[ev]))
        grad = X[ev].sum(axis=0) - (phi1 / phi0[:, None]).sum(axis=0)
        if not need_hess:
            return loglik, grad, None
        wxx = wx[:, :, None] * X[:, None, :]
        S2 = cumsum(wxx)[self.block_end]
        D2 = np.zeros((self.nb, self.p, self.p))
        np.add.at(D2, evb, wxx[ev])
        phi2 = S2[evb] - frac[:, None, None] * D2[evb]
        a = phi1 / phi0[:, None]
        info = (phi2 / phi0[:, None, None]).sum(axis=0) - a.T @ a
        return loglik, grad, info


def _solve_info(info: np.ndarray, vec: np.ndarray, terms: Sequence[str]) -> np.ndarray:
    """Solve ``info @ x = vec`` for the (positive definite) Cox information matrix.

    Singularity is judged on the correlation-scaled matrix, as R's ``toler.chol``
    (machine eps ^ 0.75) judges its Cholesky pivots.
    """
    d = np.diag(info)
    ok = bool(np.all(np.isfinite(info))) and bool(np.all(d > 0))
    if ok:
        sc = 1.0 / np.sqrt(d)
        scaled = info * sc[:, None] * sc[None, :]
        try:
            c, low = linalg.cho_factor(scaled)
            ok = bool(np.min(np.abs(np.diag(c))) ** 2 > np.finfo(float).eps ** 0.75)
        except linalg.LinAlgError:
            ok = False
    if not ok:
        raise ValueError(
            "The Cox information matrix is singular: some covariates are collinear or "
            f"constant within strata (terms: {list(terms)}). Drop or merge them."
        )
    scv = sc.reshape((-1,) + (1,) * (np.ndim(vec) - 1))
    return scv * linalg.cho_solve((c, low), scv * vec)


# A coefficient is "running away" when, after the log-likelihood has stopped changing, the
# next Newton step along it is still this large in units of the covariate's null standard
# deviation (1 / sqrt of the information at beta = 0). A regular fit converges
# quadratically: its next step is then ~1e-8 or less in those units; under monotone
# likelihood the step stays of order 1 while the information decays exponentially.
_RUNAWAY_STEP = 1e-3


def _loglik_settled(ll_new: float, ll: float, tol: float) -> bool:
    """Relative change of the log partial likelihood below ``tol`` (absolute near 0)."""
    return abs(ll_new - ll) <= tol * max(abs(ll_new), 1.0)


def _cox_newton(data: _CoxData, terms, max_iter: int, tol: float):
    """Newton-Raphson with step halving from beta = 0; returns the fit and null quantities.

    Besides converging, the loop stops on monotone likelihood (a covariate, or a
    combination, separates the events so that the log-likelihood rises towards a finite
    supremum as a coefficient goes to infinity): when the log-likelihood has settled while
    the next Newton step is still large (see ``_RUNAWAY_STEP``), or when the information
    vanishes along the path (it was invertible at beta = 0, so genuine collinearity is
    excluded). The last point whose information is invertible is returned, with
    ``runaway``, a boolean mask of the coefficients that keep growing (None otherwise).
    """
    beta = np.zeros(data.p)
    ll0, g0, i0 = data.evaluate(beta)
    ll, info = ll0, i0
    # collinear or constant covariates: singular at beta = 0 already -> the clear error
    step = _solve_info(i0, g0, terms)
    null_sd = 1.0 / np.sqrt(np.diag(i0))
    converged = False
    runaway = None
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        full = step  # the Newton step, before any halving
        new = beta + step
        ll_new, g_new, info_new = data.evaluate(new)
        halvings = 0
        while (not np.isfinite(ll_new) or ll_new < ll - 1e-12 * abs(ll)) and halvings < 30:
            step = step / 2
            new = beta + step
            ll_new, g_new, info_new = data.evaluate(new)
            halvings += 1
        settled = _loglik_settled(ll_new, ll, tol)
        small = np.max(np.abs(step)) <= 1e-8 * (1 + np.max(np.abs(new)))
        try:
            next_step = _solve_info(info_new, g_new, terms)
        except ValueError:
            # the information vanished along the path: stay at the last invertible point,
            # whose Newton step says which coefficients run away
            moving = np.abs(full) / null_sd > _RUNAWAY_STEP
            if moving.any():
                runaway = moving
            else:  # a negligible step: converged there; else the caller warns
                converged = bool(np.max(np.abs(full)) <= 1e-8 * (1 + np.max(np.abs(beta))))
            break
        beta, ll, info, step = new, ll_new, info_new, next_step
        if settled and small:
            converged = True
            break
        if settled:
            moving = np.abs(next_step) / null_sd > _RUNAWAY_STEP
            if moving.any():
                runaway = moving
                break
    return beta, ll0, g0, i0, ll, info, n_iter, converged, runaway


def cox_ph(
    time: ArrayLike,
    event: ArrayLike,
    covariates: pd.DataFrame | ArrayLike,
    strata: ArrayLike | pd.Series | pd.DataFrame | None = None,
    *,
    ties: str = "efron",
    max_iter: int = 50,
    tol: float = 1e-13,
) -> dict[str, Any]:
    """Stratified Cox proportional hazards model (Python twin of R's ``coxph``).

    Parameters
    ----------
    time, event
        Follow-up time (finite, >= 0; 0 is valid) and event indicator (1/True = event),
        shape (n,); checked by :func:`desurv._validation.check_survival`.
    covariates
        DataFrame (numeric columns as they are; categorical, string or object columns as
        treatment-coded dummies against the first category, named ``column + level`` as R
        names them) or a 2-D array (columns ``x1``, ``x2``, ...).
    strata
        Optional stratum labels (array, Series, or DataFrame of several columns): a
        separate baseline hazard per stratum, as ``strata()`` in R.
    ties
        ``"efron"`` (R's default) or ``"breslow"``.
    max_iter, tol
        Newton-Raphson limits; iterations stop when the relative change of the log partial
        likelihood is below ``tol`` and the step is negligible (tighter than R's ``eps =
        1e-9`` so that the twin sits on the optimum R approaches).

    Returns
    -------
    dict
        ``coefficients`` (DataFrame indexed by term: ``coef``, ``hr`` = exp(coef), ``se``,
        ``z``, ``p`` (Wald), ``hr_lower_95``, ``hr_upper_95``), ``var`` (covariance of the
        coefficients), ``loglik_null``, ``loglik``, ``lrt`` / ``wald`` / ``score`` (each a
        dict ``statistic, df, p``), ``concordance`` (of the linear predictor, within strata)
        and ``concordance_counts``, ``n``, ``nevent``, ``aic`` (-2 loglik + 2 df), ``bic``
        (-2 loglik + log(nevent) df, as R's ``BIC`` on a coxph, which uses the number of
        events), ``ties``, ``n_iter``, ``implementation`` = ``"python"``.

    Warns
    -----
    SeparationWarning
        Monotone likelihood (as R's "Loglik converged before variable ...; coefficient may
        be infinite"): a term separates the events, so the log-likelihood rises towards a
        finite supremum while its coefficient grows without bound. The fit stops once the
        log-likelihood has settled and returns the finite coefficients reached, with their
        (huge) se; the warning names the terms. The log-likelihood is then that supremum,
        the coefficient only gives the direction.
    ConvergenceWarning
        ``max_iter`` Newton iterations ran out first.

    Raises
    ------
    ValueError
        Collinear covariates, or covariates constant within strata (the information matrix
        is singular at the start), and invalid survival data or covariates.
    """
    from r_bridge._frames import as_frame  # noqa: PLC0415 - lazy: desurv imports r_bridge lazily

    ties = check_ties(ties)
    t, e = check_time_event(time, event, require_event=True, where="cox_ph: ")
    n = t.size
    cov = as_frame(covariates, n, "x", what="covariates")
    X, terms = _design_matrix(cov)
    if X.shape[1] == 0:
        raise ValueError("cox_ph needs at least one covariate")
    if not np.all(np.isfinite(X)):
        raise ValueError("covariates must be finite (drop or impute missing values)")
    codes = strata_codes(strata, n)
    t = timefix(t)
    nevent = int(e.sum())
    data = _CoxData(X, t, e, codes, ties)
    beta, ll0, g0, i0, ll, info, n_iter, converged, runaway = _cox_newton(
        data, terms, max_iter, tol
    )
    if runaway is not None:
        named = [terms[j] for j in np.flatnonzero(runaway)]
        warnings.warn(
            f"cox_ph: the log partial likelihood converged while the coefficient(s) of "
            f"{named} kept growing (monotone likelihood: the covariate separates the "
            "events, e.g. every event in one group happens before any in the other); the "
            "coefficient may be infinite, so its finite value, se, z and p only show the "
            "direction (R's coxph warns 'Loglik converged before variable ...; coefficient "
            "may be infinite'). Drop or merge that term, or use a penalised model.",
            SeparationWarning,
            stacklevel=2,
        )
    elif not converged:
        warnings.warn(
            f"cox_ph did not converge in {max_iter} Newton iterations; a coefficient may be "
            "infinite (monotone likelihood: a covariate separates events from non-events). "
            "Increase max_iter or drop that covariate.",
            ConvergenceWarning,
            stacklevel=2,
        )
    var = _solve_info(info, np.eye(len(beta)), terms)
    var = (var + var.T) / 2
    se = np.sqrt(np.diag(var))
    z = beta / se
    pval = 2 * stats.norm.sf(np.abs(z))
    q = stats.norm.ppf(0.975)
    with np.errstate(over="ignore"):  # an infinite coefficient (warned above) gives inf HR
        table = pd.DataFrame(
            {
                "coef": beta,
                "hr": np.exp(beta),
                "se": se,
                "z": z,
                "p": pval,
                "hr_lower_95": np.exp(beta - q * se),
                "hr_upper_95": np.exp(beta + q * se),
            },
            index=pd.Index(terms, name="term"),
        )
    k = len(beta)
    lrt = 2 * (ll - ll0)
    wald = float(beta @ info @ beta)
    score = float(g0 @ _solve_info(i0, g0, terms))
    lp = X @ beta
    counts = concordance_counts(t, e, lp, None if strata is None else codes)
    cindex = _c_from_counts(counts)

    def _test(stat):
        return {"statistic": float(stat), "df": float(k), "p": float(stats.chi2.sf(stat, k))}

    return {
        "coefficients": table,
        "var": var,
        "loglik_null": float(ll0),
        "loglik": float(ll),
        "lrt": _test(lrt),
        "wald": _test(wald),
        "score": _test(score),
        "concordance": float(cindex),
        "concordance_counts": counts,
        "n": int(n),
        "nevent": nevent,
        "aic": float(-2 * ll + 2 * k),
        "bic": float(-2 * ll + np.log(nevent) * k),
        "ties": ties,
        "n_iter": int(n_iter),
        "implementation": "python",
    }
