"""Survival statistics of the paper: stratified Cox model, log-rank test, C-index.

Two implementations with one layout of results:

- ``"python"`` (default, no R needed): a small Newton-Raphson solver for the stratified
  Cox partial likelihood (Efron or Breslow ties, as R's ``coxph``), a stratified log-rank
  test (as R's ``survdiff``) and Harrell's C (:mod:`desurv.metrics`, as R's
  ``concordance``). Times equal up to rounding are merged first, as R's ``timefix`` does.
- ``"r"``: R's survival package through :mod:`r_bridge`.

The user call site is :func:`survival`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, stats

from desurv.exceptions import ConvergenceWarning, DataWarning
from desurv.metrics import _c_from_counts, concordance_counts, timefix

__all__ = ["survival", "cox_ph", "logrank_test", "SurvivalResult"]

_COUNT_KEYS = ("concordant", "discordant", "tied_x", "tied_y", "tied_xy")


# --------------------------------------------------------------------------------------
# Design matrix (shared naming with r_bridge: R's treatment contrasts and term names).
# --------------------------------------------------------------------------------------
def _design_matrix(covariates: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
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
class _CoxData:
    """Subjects sorted by stratum and decreasing time, with the tie structure prepared."""

    def __init__(self, X, time, event, strata_codes, ties):
        order = np.lexsort((-time, strata_codes))
        self.X = X[order]
        self.t = time[order]
        self.e = event[order]
        self.s = strata_codes[order]
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

    def evaluate(self, beta: np.ndarray, need_hess: bool = True):
        # Extreme trial steps may underflow a whole risk set: the log-likelihood is then
        # -inf or nan and the Newton loop halves the step, so silence those warnings here.
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return self._evaluate(beta, need_hess)

    def _evaluate(self, beta: np.ndarray, need_hess: bool):
        X = self.X
        eta = X @ beta
        c = eta.max() if eta.size else 0.0
        w = np.exp(eta - c)
        S0 = self._cumsum_by_stratum(w)[self.block_end]
        wx = w[:, None] * X
        S1 = self._cumsum_by_stratum(wx)[self.block_end]
        ev, evb, frac = self.ev, self.ev_block, self.frac
        D0 = np.bincount(evb, weights=w[ev], minlength=self.nb)
        D1 = np.zeros((self.nb, self.p))
        np.add.at(D1, evb, wx[ev])
        phi0 = S0[evb] - frac * D0[evb]
        phi1 = S1[evb] - frac[:, None] * D1[evb]
        loglik = float(eta[ev].sum() - np.sum(np.log(phi0) + c))
        grad = X[ev].sum(axis=0) - (phi1 / phi0[:, None]).sum(axis=0)
        if not need_hess:
            return loglik, grad, None
        wxx = wx[:, :, None] * X[:, None, :]
        S2 = self._cumsum_by_stratum(wxx)[self.block_end]
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


def _cox_newton(data: _CoxData, terms, max_iter: int, tol: float):
    beta = np.zeros(data.p)
    ll0, g0, i0 = data.evaluate(beta)
    ll, g, info = ll0, g0, i0
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        step = _solve_info(info, g, terms)
        new = beta + step
        ll_new, g_new, info_new = data.evaluate(new)
        halvings = 0
        while (not np.isfinite(ll_new) or ll_new < ll - 1e-12 * abs(ll)) and halvings < 30:
            step = step / 2
            new = beta + step
            ll_new, g_new, info_new = data.evaluate(new)
            halvings += 1
        done = abs(ll_new - ll) <= tol * abs(ll_new) and np.max(np.abs(step)) <= 1e-8 * (
            1 + np.max(np.abs(new))
        )
        beta, ll, g, info = new, ll_new, g_new, info_new
        if done:
            converged = True
            break
    return beta, ll0, g0, i0, ll, info, n_iter, converged


def cox_ph(
    time,
    event,
    covariates,
    strata=None,
    *,
    ties: str = "efron",
    max_iter: int = 50,
    tol: float = 1e-13,
) -> dict:
    """Stratified Cox proportional hazards model (Python twin of R's ``coxph``).

    Parameters
    ----------
    time, event
        Follow-up time and event indicator (1 = event), shape (n,).
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
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event).ravel().astype(float)
    if t.shape != e.shape:
        raise ValueError("time and event must have the same length")
    if not np.all(np.isin(e, (0.0, 1.0))):
        raise ValueError("event must be 0/1 or boolean")
    e = e.astype(bool)
    n = t.size
    cov = _as_frame(covariates, n, "x")
    X, terms = _design_matrix(cov)
    if X.shape[1] == 0:
        raise ValueError("cox_ph needs at least one covariate")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(X))):
        raise ValueError("time and covariates must be finite (drop or impute missing values)")
    codes = _strata_codes(strata, n)
    t = timefix(t)
    nevent = int(e.sum())
    if nevent == 0:
        raise ValueError("no events: a Cox model cannot be fitted")
    data = _CoxData(X, t, e, codes, ties)
    beta, ll0, g0, i0, ll, info, n_iter, converged = _cox_newton(data, terms, max_iter, tol)
    if not converged:
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


# --------------------------------------------------------------------------------------
# Log-rank test (stratified or not), as R's survdiff with rho = 0.
# --------------------------------------------------------------------------------------
def logrank_test(time, event, group, strata=None) -> dict:
    """Log-rank test of ``group`` (Python twin of R's ``survdiff``, rho = 0).

    With ``strata``, observed - expected and its variance are summed over strata
    (the stratified log-rank test). The statistic is ``(O - E)' V^{-1} (O - E)`` over the
    groups with expected > 0, dropping the first (R's rule); df = that number - 1.

    Returns
    -------
    dict
        ``chisq``, ``df``, ``p``, ``table`` (DataFrame indexed by group level: ``n``,
        ``observed``, ``expected``), ``var`` (groups x groups), ``implementation``.
        Levels are the categories of a categorical ``group``, else its sorted values.
    """
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event).ravel().astype(float).astype(bool)
    n = t.size
    g = group.to_numpy() if isinstance(group, pd.Series) else np.asarray(group)
    if isinstance(getattr(group, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(group).remove_unused_categories()
    else:
        cat = pd.Categorical(g.astype(str) if g.dtype == object else g)
        cat = cat.remove_unused_categories()
    if len(cat) != n:
        raise ValueError("group must have one value per subject")
    if pd.isna(np.asarray(cat, dtype=object)).any():
        raise ValueError("group contains missing values")
    levels = [str(c) for c in cat.categories]
    gi = np.asarray(cat.codes)
    k = len(levels)
    codes = _strata_codes(strata, n)
    t = timefix(t)
    O = np.zeros(k)
    E = np.zeros(k)
    V = np.zeros((k, k))
    for s in np.unique(codes):
        m = codes == s
        ts, es, gs = t[m], e[m], gi[m]
        ut = np.unique(ts[es])
        if ut.size == 0:
            continue
        # at risk per (event time, group): subjects with time >= u
        order = np.argsort(ts)
        tsorted = ts[order]
        first = np.searchsorted(tsorted, ut, side="left")
        onehot = np.zeros((ts.size, k))
        onehot[np.arange(ts.size), gs[order]] = 1.0
        rev = np.cumsum(onehot[::-1], axis=0)[::-1]
        nrisk = rev[first]  # (T, k)
        pos = np.searchsorted(ut, ts[es])
        dg = np.zeros((ut.size, k))
        np.add.at(dg, (pos, gs[es]), 1.0)
        d = dg.sum(axis=1)
        N = nrisk.sum(axis=1)
        O += dg.sum(axis=0)
        E += (d[:, None] * nrisk / N[:, None]).sum(axis=0)
        f = np.where(N > 1, d * (N - d) / np.maximum(N - 1, 1) / N**2, 0.0)
        V += np.diag((f[:, None] * nrisk * N[:, None]).sum(axis=0)) - (nrisk.T * f) @ nrisk
    keep = E > 0
    if keep.sum() < 2:
        chisq = 0.0
    else:
        idx = np.flatnonzero(keep)[1:]
        diff = (O - E)[idx]
        chisq = float(np.sum(linalg.solve(V[np.ix_(idx, idx)], diff) * diff))
    df = int(keep.sum() - 1)
    table = pd.DataFrame(
        {"n": np.bincount(gi, minlength=k).astype(int), "observed": O, "expected": E},
        index=pd.Index(levels, name="group"),
    )
    return {
        "chisq": chisq,
        "df": df,
        "p": float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan"),
        "table": table,
        "var": V,
        "implementation": "python",
    }


# --------------------------------------------------------------------------------------
# Helpers for inputs.
# --------------------------------------------------------------------------------------
def _as_frame(values, n: int, prefix: str) -> pd.DataFrame:
    if isinstance(values, pd.Series):
        values = values.to_frame()
    if isinstance(values, pd.DataFrame):
        df = values.reset_index(drop=True)
    else:
        arr = np.asarray(values)
        if arr.ndim == 1:
            arr = arr[:, None]
        df = pd.DataFrame(arr, columns=[f"{prefix}{j + 1}" for j in range(arr.shape[1])])
    if len(df) != n:
        raise ValueError(f"expected {n} rows of covariates/strata, got {len(df)}")
    return df


def _strata_codes(strata, n: int) -> np.ndarray:
    if strata is None:
        return np.zeros(n, dtype=np.int64)
    df = _as_frame(strata, n, "s").astype(str)
    key = df.agg("\x1f".join, axis=1) if df.shape[1] > 1 else df.iloc[:, 0]
    _, codes = np.unique(key.to_numpy(), return_inverse=True)
    return codes.astype(np.int64)


# --------------------------------------------------------------------------------------
# The user call site.
# --------------------------------------------------------------------------------------
class SurvivalResult(dict):
    """Results of :func:`survival` (a dict with attribute access).

    Keys: ``cox`` (see :func:`cox_ph`; None without covariates), ``logrank`` (see
    :func:`logrank_test`; None without ``groupby``), ``concordance`` (``concordance``,
    ``counts``, ``score``; None without ``score_key``), ``implementation``, ``params``.
    """

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_uns(self) -> dict:
        """The h5ad-writable form written to ``adata.uns[key_added]``."""
        out: dict[str, Any] = {
            "implementation": self["implementation"],
            "params": _h5ad_safe(self["params"]),
        }
        cox = self.get("cox")
        if cox is not None:
            tab = cox["coefficients"]
            c: dict[str, Any] = {"terms": np.asarray(tab.index, dtype=str)}
            for col in tab.columns:
                c[col] = tab[col].to_numpy(dtype=float)
            c["var"] = np.asarray(cox["var"], dtype=float)
            for key in ("loglik_null", "loglik", "concordance", "aic", "bic"):
                c[key] = float(cox[key])
            for key in ("n", "nevent", "n_iter"):
                c[key] = int(cox[key])
            c["ties"] = str(cox["ties"])
            for key in ("lrt", "wald", "score", "concordance_counts"):
                c[key] = {k: float(v) for k, v in cox[key].items()}
            out["cox"] = c
        cc = self.get("concordance")
        if cc is not None:
            out["concordance"] = {
                "concordance": float(cc["concordance"]),
                "score": str(cc["score"]),
                "counts": {k: float(v) for k, v in cc["counts"].items()},
            }
        lr = self.get("logrank")
        if lr is not None:
            tab = lr["table"]
            out["logrank"] = {
                "chisq": float(lr["chisq"]),
                "df": int(lr["df"]),
                "p": float(lr["p"]),
                "groups": np.asarray(tab.index, dtype=str),
                "n": tab["n"].to_numpy(dtype=np.int64),
                "observed": tab["observed"].to_numpy(dtype=float),
                "expected": tab["expected"].to_numpy(dtype=float),
            }
        return out


def _h5ad_safe(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict):
            out[k] = _h5ad_safe(v)
        elif isinstance(v, (list, tuple)):
            out[k] = np.asarray([str(x) for x in v]) if v else np.asarray([], dtype=str)
        elif isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, float, str, np.integer, np.floating)):
            out[k] = v
        else:
            out[k] = str(v)
    return out


def _is_anndata(obj) -> bool:
    return type(obj).__name__ == "AnnData" and hasattr(obj, "obs")


def _column(frame: pd.DataFrame | None, key, n: int | None, what: str) -> pd.Series:
    """A column by name from ``frame``, or the given values."""
    if isinstance(key, str):
        if frame is None:
            raise ValueError(f"{what}={key!r} names a column but no data frame was given")
        if key not in frame.columns:
            raise KeyError(
                f"{what}={key!r} is not a column of the data (available: {list(frame.columns)})"
            )
        return frame[key].reset_index(drop=True)
    vals = key.reset_index(drop=True) if isinstance(key, pd.Series) else pd.Series(np.asarray(key))
    if n is not None and len(vals) != n:
        raise ValueError(f"{what} has {len(vals)} values for {n} subjects")
    return vals


def survival(
    data=None,
    covariates: str | Sequence[str] | np.ndarray | pd.DataFrame | None = None,
    *,
    time_key="time",
    event_key="event",
    strata: str | Sequence[str] | np.ndarray | pd.Series | None = None,
    groupby: str | np.ndarray | pd.Series | None = None,
    score_key: str | np.ndarray | pd.Series | None = None,
    ties: str = "efron",
    implementation: str = "python",
    key_added: str = "survival",
    copy: bool = False,
):
    """Stratified Cox model and log-rank test, in Python or through R.

    The survival statistics of the paper's validation: a Cox model of ``covariates`` (with a
    separate baseline hazard per stratum), the log-rank test of ``groupby`` (stratified when
    ``strata`` is given), and Harrell's C of the Cox linear predictor, with R's conventions.

    Parameters
    ----------
    data
        AnnData (samples x genes; columns are taken from ``adata.obs``), a pandas DataFrame
        (one row per subject), or None when every argument below is given as values.
    covariates
        Column name(s) of the covariates, or a DataFrame / 2-D array of them. Numeric
        columns enter as they are; categorical/string columns as treatment-coded dummies
        against their first category (terms named ``column + level`` as in R). When None
        and ``groupby`` is given, the Cox model is fitted on ``groupby`` (hazard ratios of
        each group against the first).
    time_key, event_key
        Column names (or values) of follow-up time and event indicator (1 = event).
    strata
        Column name(s) (or values) of the strata: a baseline hazard per stratum for the Cox
        model, a stratified log-rank test, and a C-index computed within strata.
    groupby
        Column name (or values) of groups (e.g. consensus clusters) for the log-rank test.
    score_key
        Column name (or values) of a risk score (higher = worse, e.g. ``"desurv_risk"``)
        whose Harrell's C is reported (within strata when ``strata`` is given), with R's
        conventions (:func:`desurv.metrics.concordance_index`; R's ``concordance``).
    ties
        ``"efron"`` (default, as R) or ``"breslow"``.
    implementation
        ``"python"`` (default; no R needed) or ``"r"`` (R's survival package via
        :mod:`r_bridge`; needs R, see ``r_bridge``). Recorded with the result.
    key_added
        Key of ``adata.uns`` written when ``data`` is an AnnData.
    copy
        With AnnData: work on (and return) a copy.

    Returns
    -------
    With AnnData: None (or the copy when ``copy=True``), after writing
        ``adata.uns[key_added]``: ``implementation``, ``params`` (the arguments),
        ``cox`` (``terms``, ``coef``, ``hr``, ``se``, ``z``, ``p``, ``hr_lower_95``,
        ``hr_upper_95`` as arrays over terms; ``var``; ``loglik_null``, ``loglik``,
        ``concordance``, ``aic``, ``bic``, ``n``, ``nevent``, ``n_iter``, ``ties``; ``lrt``,
        ``wald``, ``score`` each ``{statistic, df, p}``; ``concordance_counts``) and
        ``logrank`` (``chisq``, ``df``, ``p``, ``groups``, ``n``, ``observed``,
        ``expected``) and ``concordance`` (``concordance``, ``score``, ``counts``). Only
        types that h5ad writes.
    Otherwise: a :class:`SurvivalResult` with ``cox`` and ``logrank`` as returned by
        :func:`cox_ph` and :func:`logrank_test` (pandas tables), ``concordance``,
        ``implementation`` and ``params``.

    Examples
    --------
    >>> res = survival(df, "risk", time_key="os_time", event_key="os_event",
    ...                strata="cohort", groupby="cluster")          # doctest: +SKIP
    >>> res.cox["coefficients"], res.logrank["p"]                  # doctest: +SKIP
    """
    if implementation not in ("python", "r"):
        raise ValueError(f"implementation must be 'python' or 'r', got {implementation!r}")
    adata = None
    frame: pd.DataFrame | None
    if _is_anndata(data):
        adata = data.copy() if copy else data
        frame = adata.obs
    elif isinstance(data, pd.DataFrame):
        frame = data
    elif data is None:
        frame = None
    else:
        raise TypeError(f"data must be an AnnData, a DataFrame or None, not {type(data)!r}")

    time = _column(frame, time_key, None, "time_key")
    n = len(time)
    event = _column(frame, event_key, n, "event_key")
    time_v = pd.to_numeric(time, errors="raise").to_numpy(dtype=float)
    event_v = np.asarray(event)
    if event_v.dtype == bool:
        event_v = event_v.astype(float)
    event_v = pd.to_numeric(pd.Series(event_v), errors="raise").to_numpy(dtype=float)

    cov_df: pd.DataFrame | None
    if covariates is None:
        cov_df = None
    elif isinstance(covariates, str):
        cov_df = _column(frame, covariates, n, "covariates").to_frame(covariates)
    elif isinstance(covariates, pd.DataFrame):
        cov_df = covariates.reset_index(drop=True)
    elif isinstance(covariates, np.ndarray):
        cov_df = _as_frame(covariates, n, "x")
    else:
        cov_df = pd.DataFrame({str(c): _column(frame, c, n, "covariates") for c in covariates})
    group = None
    group_name = None
    if groupby is not None:
        group = _column(frame, groupby, n, "groupby")
        group_name = groupby if isinstance(groupby, str) else "group"
        if cov_df is None:
            cov_df = group.to_frame(group_name)
            if not isinstance(group.dtype, pd.CategoricalDtype):
                cov_df[group_name] = pd.Categorical(
                    group.astype(str) if group.dtype == object else group
                )
    score = None
    score_name = None
    if score_key is not None:
        score = pd.to_numeric(_column(frame, score_key, n, "score_key"), errors="raise")
        score_name = score_key if isinstance(score_key, str) else "score"
    strata_df: pd.DataFrame | None
    if strata is None:
        strata_df = None
    elif isinstance(strata, str):
        strata_df = _column(frame, strata, n, "strata").to_frame(strata)
    elif isinstance(strata, (pd.Series, np.ndarray)):
        strata_df = _column(frame, strata, n, "strata").to_frame("strata")
    else:
        strata_df = pd.DataFrame({str(c): _column(frame, c, n, "strata") for c in strata})

    # Drop subjects with missing values in any column used, with a warning.
    parts = [pd.Series(time_v), pd.Series(event_v)]
    if cov_df is not None:
        parts.append(cov_df.isna().any(axis=1).map({True: np.nan, False: 0.0}))
    if strata_df is not None:
        parts.append(strata_df.isna().any(axis=1).map({True: np.nan, False: 0.0}))
    if group is not None:
        parts.append(group.isna().map({True: np.nan, False: 0.0}))
    if score is not None:
        parts.append(score.astype(float))
    ok = ~pd.concat(parts, axis=1).isna().any(axis=1).to_numpy()
    if not ok.all():
        warnings.warn(
            f"survival: dropped {int((~ok).sum())} of {n} subjects with missing values in "
            "time, event, covariates, strata or groupby.",
            DataWarning,
            stacklevel=2,
        )
    time_v, event_v = time_v[ok], event_v[ok]
    if cov_df is not None:
        cov_df = cov_df.loc[ok].reset_index(drop=True)
    if strata_df is not None:
        strata_df = strata_df.loc[ok].reset_index(drop=True)
    if group is not None:
        group = group.loc[ok].reset_index(drop=True)
    if score is not None:
        score = score.loc[ok].to_numpy(dtype=float)

    if cov_df is None and group is None and score is None:
        raise ValueError(
            "survival needs covariates (Cox model), groupby (log-rank test) and/or score_key "
            "(C-index)"
        )

    if implementation == "r":
        import r_bridge  # noqa: PLC0415 - lazy: importing desurv never starts R

        cox_fn, lr_fn = r_bridge.coxph, r_bridge.survdiff
    else:
        cox_fn, lr_fn = cox_ph, logrank_test
    cox = cox_fn(time_v, event_v, cov_df, strata_df, ties=ties) if cov_df is not None else None
    logrank = lr_fn(time_v, event_v, group, strata_df) if group is not None else None
    concordance = None
    if score is not None:
        codes = None if strata_df is None else _strata_codes(strata_df, len(time_v))
        if implementation == "r":
            rc = r_bridge.concordance(time_v, event_v, score, codes)
            counts, cval = rc["counts"], rc["concordance"]
        else:
            counts = concordance_counts(time_v, event_v, score, codes)
            cval = _c_from_counts(counts)
        concordance = {"concordance": float(cval), "counts": counts, "score": score_name}

    params = {
        "time_key": time_key if isinstance(time_key, str) else None,
        "event_key": event_key if isinstance(event_key, str) else None,
        "covariates": list(cov_df.columns) if cov_df is not None else None,
        "strata": list(strata_df.columns) if strata_df is not None else None,
        "groupby": group_name,
        "score_key": score_name,
        "ties": ties,
        "implementation": implementation,
        "n_used": int(ok.sum()),
    }
    result = SurvivalResult(
        cox=cox,
        logrank=logrank,
        concordance=concordance,
        implementation=implementation,
        params=params,
    )
    if adata is not None:
        adata.uns[key_added] = result.to_uns()
        return adata if copy else None
    return result
