"""Input checks shared by the survival engines (Cox, log-rank, concordance).

Survival data go through the one check of the package, :func:`desurv._validation.check_survival`
(times finite and >= 0, a time of 0 included, as R's ``coxph`` and ``survdiff`` accept;
events 0/1 or boolean); ``ties`` through :func:`desurv._validation.check_ties`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from desurv._validation import check_survival

__all__ = ["check_time_event", "strata_codes"]


def check_time_event(
    time: Any, event: Any, *, require_event: bool, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up times (float) and events (bool) of one engine call, checked.

    Parameters
    ----------
    time, event : array-like of shape (n,)
    require_event : bool
        Refuse data without any event (a Cox model needs one).
    where : str
        Prefix of the error messages, e.g. ``"cox_ph: "``.

    Returns
    -------
    time : ndarray of float, event : ndarray of bool
    """
    n_t = np.asarray(time).reshape(-1).shape[0]
    n_e = np.asarray(event).reshape(-1).shape[0]
    if n_t != n_e:
        raise ValueError(f"{where}time and event must have the same length, got {n_t} and {n_e}")
    t, e = check_survival(time, event, n_t, require_event=require_event, where=where)
    return t, e.astype(bool)


def strata_codes(strata: Any, n: int) -> np.ndarray:
    """Integer codes 0..S-1 of the strata (one column or several, combined), zeros if None."""
    if strata is None:
        return np.zeros(n, dtype=np.int64)
    from r_bridge._frames import as_frame  # noqa: PLC0415 - lazy: desurv imports r_bridge lazily

    df = as_frame(strata, n, "s", what="strata").astype(str)
    key = df.agg("\x1f".join, axis=1) if df.shape[1] > 1 else df.iloc[:, 0]
    _, codes = np.unique(key.to_numpy(), return_inverse=True)
    return codes.astype(np.int64)
