"""Log-rank test, stratified or not: the Python twin of R's ``survival::survdiff`` (rho = 0).

Times equal up to rounding are merged first, as R's ``timefix`` does; a follow-up time of 0
is valid (as in R). The AnnData call sites are :func:`desurv.tl.survival` and the p-value of
:func:`desurv.pl.kaplan_meier`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from desurv.stats._checks import check_time_event, strata_codes
from desurv.stats._concordance import timefix

__all__ = ["logrank_test"]


def logrank_test(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike | pd.Series | pd.Categorical,
    strata: ArrayLike | pd.Series | pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Log-rank test of ``group`` (Python twin of R's ``survdiff``, rho = 0).

    With ``strata``, observed - expected and its variance are summed over strata
    (the stratified log-rank test). The statistic is ``(O - E)' V^{-1} (O - E)`` over the
    groups with expected > 0, dropping the first (R's rule); df = that number - 1.

    Parameters
    ----------
    time, event
        Follow-up time (finite, >= 0; 0 is valid) and event indicator (1/True = event),
        shape (n,); checked by :func:`desurv._validation.check_survival`.
    group
        Group label per subject, shape (n,), no missing values.
    strata
        Optional stratum labels (array, Series, or DataFrame of several columns).

    Returns
    -------
    dict
        ``chisq``, ``df``, ``p``, ``table`` (DataFrame indexed by group level: ``n``,
        ``observed``, ``expected``), ``var`` (groups x groups), ``implementation``.
        Levels are the categories of a categorical ``group``, else its sorted values.
    """
    t, e = check_time_event(time, event, require_event=False, where="logrank_test: ")
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
    codes = strata_codes(strata, n)
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
