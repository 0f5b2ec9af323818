"""``desurv.tl.survival``: the paper's survival statistics on AnnData or a DataFrame.

A scanpy-style wrapper (check the input, call an engine, write the keys) around two
implementations with one layout of results:

- ``"python"`` (default, no R needed): the engines of :mod:`desurv.stats`: the stratified
  Cox model (:func:`desurv.stats.cox_ph`, as R's ``coxph``), the stratified log-rank test
  (:func:`desurv.stats.logrank_test`, as R's ``survdiff``) and Harrell's C
  (:func:`desurv.metrics.concordance_index`, as R's ``concordance``).
- ``"r"``: R's survival package through :mod:`r_bridge`.

``cox_ph`` and ``logrank_test`` are re-exported here for existing imports.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import h5ad_safe, is_anndata, numeric_values
from desurv._validation import check_survival, check_ties
from desurv.exceptions import DataWarning
from desurv.stats._checks import strata_codes
from desurv.stats._cox import cox_ph
from desurv.stats._logrank import logrank_test
from desurv.stats._result import Result
from desurv.tl._engine import Engine

__all__ = ["survival", "cox_ph", "logrank_test", "SurvivalResult"]


class SurvivalResult(Result):
    """Results of :func:`survival` (a :class:`desurv.stats.Result`: a dict with attribute
    access).

    Keys: ``cox`` (see :func:`cox_ph`; None without covariates), ``logrank`` (see
    :func:`logrank_test`; None without ``groupby``), ``concordance`` (``concordance``,
    ``counts``, ``score``; None without ``score_key``), ``implementation``, ``params``.
    """

    def to_uns(self) -> dict[str, Any]:
        """The h5ad-writable form written to ``adata.uns[key_added]``."""
        out: dict[str, Any] = {
            "implementation": self["implementation"],
            "params": h5ad_safe(self["params"]),
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
    data: Any = None,
    covariates: str | Sequence[str] | np.ndarray | pd.DataFrame | None = None,
    *,
    time_key: str | np.ndarray | pd.Series = "time",
    event_key: str | np.ndarray | pd.Series = "event",
    strata: str | Sequence[str] | np.ndarray | pd.Series | None = None,
    groupby: str | np.ndarray | pd.Series | None = None,
    score_key: str | np.ndarray | pd.Series | None = None,
    ties: str = "efron",
    implementation: str = "python",
    key_added: str = "survival",
    copy: bool = False,
) -> SurvivalResult | AnnData | None:
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
    SurvivalResult or AnnData or None
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
    ties = check_ties(ties)
    adata = None
    frame: pd.DataFrame | None
    if is_anndata(data):
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
    # numbers (missing rows are dropped below); text values are refused naming the column
    ids = frame.index if frame is not None and len(frame) == n else np.arange(n)
    time_v, event_v = (
        numeric_values(
            col, f"{what}: " + (f"column {key!r}" if isinstance(key, str) else "the values"),
            ids, allow_missing=True,
        )
        for col, key, what in ((time, time_key, "time_key"), (event, event_key, "event_key"))
    )  # fmt: skip

    cov_df: pd.DataFrame | None
    if covariates is None:
        cov_df = None
    elif isinstance(covariates, str):
        cov_df = _column(frame, covariates, n, "covariates").to_frame(covariates)
    elif isinstance(covariates, pd.DataFrame):
        cov_df = covariates.reset_index(drop=True)
    elif isinstance(covariates, np.ndarray):
        from r_bridge._frames import as_frame  # noqa: PLC0415 - lazy: desurv imports r_bridge lazily

        cov_df = as_frame(covariates, n, "x", what="covariates")
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
    # The one check of survival data, naming the samples (a Cox model needs an event).
    names = None
    if frame is not None and len(frame) == n:
        names = np.asarray(frame.index.astype(str))[ok]
    time_v, event_v = check_survival(
        time_v, event_v, sample_names=names, require_event=cov_df is not None, where="survival: "
    )

    engine = Engine(implementation)
    cox = engine.cox(time_v, event_v, cov_df, strata_df, ties=ties) if cov_df is not None else None
    logrank = engine.logrank(time_v, event_v, group, strata_df) if group is not None else None
    concordance = None
    if score is not None:
        codes = None if strata_df is None else strata_codes(strata_df, len(time_v))
        counts, cval = engine.concordance_counts(time_v, event_v, score, codes)
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
