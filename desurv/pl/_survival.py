"""Survival plots: ``desurv.pl.kaplan_meier`` and ``desurv.pl.forest``."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from desurv._anndata import check_adata, get_survival, is_anndata
from desurv.pl._utils import finish, new_axes
from desurv.stats._logrank import logrank_test


def time_label(adata: AnnData | None, time_key: str = "time", unit: str | None = None) -> str:
    """Axis label of follow-up time with its unit: ``"time (months)"`` when the cohort
    records it (``uns['units']['time']``, as the data registry writes, or an
    ``obs['time_unit']`` column), else ``"time (<column>; unit not recorded)"``."""
    if unit is None and adata is not None:
        from desurv.pp._unlog import time_unit  # noqa: PLC0415

        unit = time_unit(adata, time_key=time_key)
    if unit:
        return f"time ({unit})"
    return f"time ({time_key}; unit not recorded)"


def _groups(adata: AnnData, groupby: str, cut: str | int | Sequence[float] | None) -> pd.Series:
    if groupby not in adata.obs.columns:
        raise KeyError(
            f"groupby {groupby!r} is not a column of adata.obs; columns: {list(adata.obs.columns)}"
        )
    col = adata.obs[groupby]
    if cut is None:
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) \
                and col.nunique() > 10:
            raise ValueError(
                f"adata.obs[{groupby!r}] is numeric with {col.nunique()} distinct values; pass "
                "cut='median' (two groups), cut=3 (tertiles) or cut=[thresholds] to group it"
            )
        return col.astype("category") if not isinstance(col.dtype, pd.CategoricalDtype) else col
    values = pd.to_numeric(col, errors="coerce")
    if cut == "median":
        med = values.median()
        out = pd.Series(np.where(values > med, "high", "low"), index=col.index)
        out[values.isna()] = np.nan
        return out.astype(pd.CategoricalDtype(["low", "high"], ordered=True))
    if isinstance(cut, int | np.integer) and not isinstance(cut, bool):
        if cut < 2:
            raise ValueError(f"cut must be >= 2 groups, got {cut}")
        labels = [f"Q{i + 1}" for i in range(int(cut))]
        return pd.qcut(values, int(cut), labels=labels)
    thresholds = np.sort(np.asarray(cut, dtype=float))
    edges = np.concatenate([[-np.inf], thresholds, [np.inf]])
    labels = [f"<= {thresholds[0]:.3g}"] + [
        f"({lo:.3g}, {hi:.3g}]" for lo, hi in zip(thresholds[:-1], thresholds[1:])
    ] + [f"> {thresholds[-1]:.3g}"]
    return pd.cut(values, edges, labels=labels)


def kaplan_meier(
    adata: AnnData,
    groupby: str,
    *,
    time_key: str | None = None,
    event_key: str | None = None,
    cut: str | int | Sequence[float] | None = None,
    key: str = "desurv",
    ci: bool = False,
    at_risk: bool = True,
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Kaplan-Meier curves by group with numbers at risk and the log-rank p-value.

    The curves and numbers at risk are drawn by lifelines (``KaplanMeierFitter``,
    ``add_at_risk_counts``); the (multi-group) log-rank test is desurv's own,
    :func:`desurv.stats.logrank_test` (R's ``survdiff``).

    Parameters
    ----------
    adata : AnnData
        Samples x genes with survival in ``obs``.
    groupby : str
        Column of ``adata.obs`` with the groups (e.g. a subtype or a consensus cluster), or a
        numeric column such as ``f"{key}_risk"`` together with ``cut``. Samples without a
        group are left out.
    time_key, event_key : str, optional
        Survival columns of ``obs``; default: those recorded by the fit under ``key``, else
        ``"time"`` and ``"event"``.
    cut : "median", int or sequence of float, optional
        Group a numeric column: at its median (``low``/``high``), into that many quantile
        groups, or at the given thresholds.
    key : str, default "desurv"
        Fit whose record supplies the default survival columns.
    ci : bool, default False
        Draw the confidence bands.
    at_risk : bool, default True
        Add the numbers at risk below the axes.
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes
        The log-rank p-value is in the title and in ``ax.desurv_logrank_p``.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    check_adata(adata)
    rec = adata.uns.get(key, {})
    time_key = time_key or str(rec.get("time_key", "time"))
    event_key = event_key or str(rec.get("event_key", "event"))
    time, event = get_survival(adata, time_key, event_key)
    groups = _groups(adata, groupby, cut)
    keep = np.asarray(groups.notna())
    groups = groups[keep]
    levels = [g for g in groups.cat.categories if (groups == g).any()]
    if len(levels) < 2:
        raise ValueError(
            f"adata.obs[{groupby!r}] has {len(levels)} group(s) with samples; Kaplan-Meier "
            "comparison needs at least two"
        )
    t, e = time[keep], event[keep]
    fig, ax = new_axes(ax, figsize=(6.0, 4.5))
    fitters = []
    for g in levels:
        m = np.asarray(groups == g)
        kmf = KaplanMeierFitter(label=f"{g} (n={int(m.sum())})")
        kmf.fit(t[m], e[m])
        kmf.plot_survival_function(ax=ax, ci_show=ci, show_censors=True,
                                   censor_styles={"ms": 4, "marker": "|"})
        fitters.append(kmf)
    p = float(logrank_test(t, e, groups)["p"])
    ax.desurv_logrank_p = p
    ax.set_title(f"{groupby}: log-rank p = {p:.2g}", fontsize=10)
    ax.set_xlabel(time_label(adata, time_key))
    ax.set_ylabel("survival probability")
    ax.set_ylim(0, 1.05)
    ax.legend(frameon=False, fontsize=8)
    if at_risk:
        add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"])
    finish(fig, "kaplan_meier", show, save)
    return ax


_LIFELINES = ("exp(coef)", "exp(coef) lower 95%", "exp(coef) upper 95%")


def _hr_table(data: Any, key: str = "survival") -> pd.DataFrame:
    if is_anndata(data):
        if key not in data.uns or "cox" not in data.uns[key]:
            raise KeyError(
                f"adata.uns[{key!r}] has no 'cox' result; run desurv.tl.survival(adata, "
                f"covariates, key_added={key!r}) first or pass a hazard-ratio table"
            )
        data = data.uns[key]
    if isinstance(data, dict) and "cox" in data:  # tl.survival's result or its uns record
        cox = data["cox"]
        if cox is None:
            raise ValueError("the survival result has no Cox model (it was run without covariates)")
        if "coefficients" in cox:
            data = cox["coefficients"]
        else:
            data = pd.DataFrame(
                {c: np.asarray(cox[c]) for c in ("hr", "hr_lower_95", "hr_upper_95", "p")},
                index=[str(t) for t in np.asarray(cox["terms"])],
            )
    if hasattr(data, "summary") and isinstance(getattr(data, "summary", None), pd.DataFrame):
        data = data.summary
    if isinstance(data, pd.DataFrame) and {"hr_lower_95", "hr_upper_95"} <= set(data.columns):
        data = data.rename(columns={"hr_lower_95": "lower", "hr_upper_95": "upper"})
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            "data must be a DataFrame of hazard ratios (columns hr, lower, upper, optional p) or "
            f"a fitted lifelines CoxPHFitter; got {type(data).__name__}"
        )
    if all(c in data.columns for c in _LIFELINES):
        out = data.loc[:, list(_LIFELINES)].set_axis(["hr", "lower", "upper"], axis=1)
        if "p" in data.columns:
            out["p"] = data["p"]
        out.index = [str(i) for i in data.index]
        return out
    missing = [c for c in ("hr", "lower", "upper") if c not in data.columns]
    if missing:
        raise KeyError(
            f"hazard-ratio table lacks column(s) {missing}; it has {list(data.columns)}. Use "
            "hr, lower, upper (and p), or lifelines' summary columns"
        )
    out = data.copy()
    if "label" in out.columns:
        out = out.set_index("label")
    out.index = [str(i) for i in out.index]
    return out


def forest(
    data: pd.DataFrame | AnnData | Any,
    *,
    key: str = "survival",
    logx: bool = True,
    title: str | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Forest plot of hazard ratios with their confidence intervals.

    Parameters
    ----------
    data : DataFrame, AnnData, survival result or lifelines CoxPHFitter
        One row per covariate (the index, or a ``label`` column, names it) with columns
        ``hr``, ``lower``, ``upper`` (or ``hr_lower_95``, ``hr_upper_95``) and optionally
        ``p``; or lifelines' summary columns (``exp(coef)``, ``exp(coef) lower 95%``,
        ``exp(coef) upper 95%``, ``p``); or a fitted ``CoxPHFitter``; or the result of
        :func:`desurv.tl.survival` (returned, or an AnnData with it in ``uns[key]``).
    key : str, default "survival"
        With an AnnData: the ``uns`` key that :func:`desurv.tl.survival` wrote.
    logx : bool, default True
        Log-scaled hazard-ratio axis.
    title : str, optional
        Axes title.
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    tab = _hr_table(data, key)
    if len(tab) == 0:
        raise ValueError("the hazard-ratio table is empty")
    vals = tab[["hr", "lower", "upper"]].to_numpy(dtype=float)
    if logx and (vals <= 0).any():
        raise ValueError("hazard ratios and their bounds must be > 0 on a log axis")
    fig, ax = new_axes(ax, figsize=(6.0, 0.45 * len(tab) + 1.2))
    y = np.arange(len(tab))[::-1]
    ax.errorbar(
        vals[:, 0], y, xerr=[vals[:, 0] - vals[:, 1], vals[:, 2] - vals[:, 0]], fmt="s",
        color="black", ecolor="black", capsize=3, ms=5,
    )
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    if logx:
        from matplotlib.ticker import FuncFormatter, LogLocator

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.1, 0.2, 0.25, 0.5, 1.0)))
        ax.xaxis.set_minor_locator(LogLocator(base=10, subs=()))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yticks(y)
    ax.set_yticklabels(tab.index)
    if "p" in tab.columns:
        for yi, (hr, lo, hi), p in zip(y, vals, tab["p"].to_numpy(dtype=float)):
            ax.annotate(
                f"{hr:.2f} ({lo:.2f}-{hi:.2f}) p={p:.2g}", xy=(1.02, yi),
                xycoords=("axes fraction", "data"), va="center", fontsize=8,
            )
    ax.set_xlabel("hazard ratio (95% CI)")
    ax.set_ylim(-0.7, len(tab) - 0.3)
    if title:
        ax.set_title(title, fontsize=10)
    finish(fig, "forest", show, save)
    return ax
