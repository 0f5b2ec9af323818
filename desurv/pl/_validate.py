"""Plots of an external validation (:func:`desurv.tl.validate`).

``validation_km`` (Kaplan-Meier per validation cohort and pooled), ``validation_forest``
(per-factor hazard ratios with their fixed-effect pooled estimate) and
``validation_comparison`` (the DeSurv vs NMF summary table). Each takes the
:class:`desurv.tl._validate.ValidationResult` that ``tl.validate`` returns or the record it
wrote to ``model.uns[key_added]`` (also after an h5ad round trip) and returns the Figure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from desurv._anndata import is_anndata
from desurv.pl._survival import time_label
from desurv.pl._utils import finish

__all__ = ["validation_km", "validation_forest", "validation_comparison"]

METHODS = ("desurv", "nmf")
_CLUSTER_COL = re.compile(r"cluster_k(\d+)")
_MISSING_LABELS = {"", "nan", "None", "NaN", "<NA>"}


# ----------------------------------------------------------------------------- inputs


def _as_result(result: Any) -> Any:
    """The ValidationResult of ``result`` (a ValidationResult or its ``uns`` record)."""
    from desurv.tl._validate import ValidationResult  # noqa: PLC0415 - lazy, as desurv.tl

    if isinstance(result, ValidationResult):
        return result
    if is_anndata(result):
        raise TypeError(
            "result must be the ValidationResult returned by desurv.tl.validate or the record "
            "it wrote, model.uns[key_added] (default key 'validate'); got an AnnData: pass "
            "model.uns['validate']"
        )
    if not isinstance(result, Mapping):
        raise TypeError(
            "result must be the ValidationResult returned by desurv.tl.validate or "
            f"model.uns[key_added]; got {type(result).__name__}"
        )
    if "design" not in result:
        raise KeyError(
            "result has no 'design' entry; it is not a desurv.tl.validate result or record "
            f"(keys: {sorted(map(str, result))})"
        )
    samples = result.get("samples")
    if samples is None or isinstance(samples, pd.DataFrame):  # already tables (a plain dict)
        return ValidationResult(result)
    missing = [k for k in ("implementation", "notes", "params") if k not in result]
    if missing:
        raise KeyError(
            f"the validation record lacks {missing}; pass model.uns[key_added] as "
            "desurv.tl.validate wrote it"
        )
    return ValidationResult.from_uns(result)


def _table(res: Any, name: str, required: Sequence[str]) -> pd.DataFrame:
    tab = res.get(name)
    if tab is None:
        raise ValueError(
            f"the validation result has no {name!r} table (design {res.get('design')!r})"
        )
    if not isinstance(tab, pd.DataFrame):
        raise TypeError(f"result.{name} must be a DataFrame, not {type(tab).__name__}")
    missing = [c for c in required if c not in tab.columns]
    if missing:
        raise KeyError(f"result.{name} lacks column(s) {missing}; it has {list(tab.columns)}")
    return tab


def _methods(method: str, available: Sequence[str], allow_both: bool) -> list[str]:
    choices = list(METHODS) + (["both"] if allow_both else [])
    if method not in choices:
        raise ValueError(f"method must be one of {choices}, got {method!r}")
    wanted = list(METHODS) if method == "both" else [method]
    absent = [m for m in wanted if m not in available]
    if absent:
        hint = " (desurv.tl.validate ran with compare_nmf=False)" if "nmf" in absent else ""
        raise ValueError(
            f"the validation result has no rows for method(s) {absent}{hint}; it has "
            f"{sorted(available)}"
        )
    return wanted


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    try:
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    except (TypeError, ValueError):
        return False


def _fmt_p(p: float) -> str:
    """A p-value as the titles show it (two significant digits, as ``pl.kaplan_meier``)."""
    return "NA" if not np.isfinite(p) else f"{p:.2g}"


def _level_order(labels: Sequence[str]) -> list[str]:
    labels = list(dict.fromkeys(labels))
    fixed = [g for g in ("low", "high") if g in labels]
    rest = [g for g in labels if g not in fixed]

    def key(g: str) -> tuple[int, float, str]:
        try:
            return (0, float(g), g)
        except ValueError:
            return (1, 0.0, g)

    return fixed + sorted(rest, key=key)


_TICK_SETS = (
    (0.25, 0.33, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0),
    (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    (0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0),
)


def _set_log_x(ax: Any, lo: float, hi: float) -> None:
    """A log hazard-ratio axis on [lo, hi] with 3 to 6 round ticks where it can."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    locator: Any = LogLocator(base=10)  # decades when no round set fits
    for cands in _TICK_SETS:
        ticks = [t for t in cands if lo <= t <= hi]
        if 3 <= len(ticks) <= 6 and lo >= cands[0] and hi <= cands[-1]:
            locator = FixedLocator(ticks)
            break
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


# ----------------------------------------------------------------------------- Kaplan-Meier


def _logrank_lookup(
    lr: pd.DataFrame | None, cohort: str, method: str, n_clusters: int | None
) -> tuple[float, bool] | None:
    """(p, stratified) of the log-rank row for this panel, or None when there is none."""
    if lr is None or not {"cohort", "method", "p"} <= set(lr.columns):
        return None
    sub = lr[(lr["cohort"].astype(str) == cohort) & (lr["method"].astype(str) == method)]
    if n_clusters is not None and "n_clusters" in sub.columns:
        k = pd.to_numeric(sub["n_clusters"], errors="coerce").to_numpy(dtype=float)
        sub = sub[np.isclose(k, n_clusters)]
    if len(sub) == 0:
        return None
    row = sub.iloc[0]
    strat = _is_true(row["stratified"]) if "stratified" in sub.columns else False
    return float(row["p"]), strat


def validation_km(
    result: Any,
    *,
    method: str = "desurv",
    groupby: str | None = None,
    cohorts: Sequence[str] | None = None,
    ci: bool = False,
    at_risk: bool = False,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Kaplan-Meier curves of the validation groups, one panel per cohort plus the pool.

    The curves (and numbers at risk) are drawn by lifelines' ``KaplanMeierFitter`` from
    ``result.samples``; each panel's title gives the cohort, its number of samples and the
    log-rank p-value that :func:`desurv.tl.validate` computed (``result.logrank``: the row
    of that cohort and method and, for the clustering design, that number of clusters; the
    ``"pooled"`` test is stratified by cohort when there are several cohorts, which the
    title says). The p-value has two significant digits (``f"{p:.2g}"``); a panel whose test
    is not in the table (the clustering design tests only the pooled samples) says so. The
    legend gives the size of every group.

    Parameters
    ----------
    result : ValidationResult or dict
        What :func:`desurv.tl.validate` returned, or the record it wrote to
        ``model.uns[key_added]`` (rebuilt with ``ValidationResult.from_uns``).
    method : {"desurv", "nmf", "both"}, default "desurv"
        The model whose groups to draw; ``"both"``: the DeSurv panels above the NMF ones
        (needs ``compare_nmf=True``).
    groupby : str, optional
        Column of ``result.samples`` with the groups: ``"group"`` (the risk groups of the
        projection design, its default) or ``"cluster_k{k}"`` (the consensus clusters of the
        clustering design; default the smallest k).
    cohorts : sequence of str, optional
        The panels to draw, in order: validation cohort names and/or ``"pooled"``. Default:
        every cohort, then ``"pooled"``.
    ci : bool, default False
        Draw the confidence bands.
    at_risk : bool, default False
        Add the numbers at risk below each panel (lifelines' ``add_at_risk_counts``; each
        adds a twin axes to the figure).
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.desurv_panels`` maps ``(method, cohort)`` to its Axes; each Axes has the
        log-rank p-value of its title in ``ax.desurv_logrank_p`` (NaN when not tested).

    Raises
    ------
    ValueError
        Unknown ``method`` (or one the result lacks), a ``groupby`` that is not a grouping
        the validation tested, an empty ``cohorts``.
    KeyError
        A cohort or ``groupby`` column that the result does not have.
    """
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    res = _as_result(result)
    design = str(res["design"])
    samples = _table(res, "samples", ("cohort", "sample", "method", "time", "event"))
    time_unit = (res.get("params") or {}).get("time_unit")
    time_unit = str(time_unit) if time_unit not in (None, "", "None") else None
    methods = _methods(method, pd.unique(samples["method"].astype(str)), allow_both=True)
    cluster_cols = sorted(
        (c for c in samples.columns if _CLUSTER_COL.fullmatch(str(c))),
        key=lambda c: int(_CLUSTER_COL.fullmatch(str(c)).group(1)),
    )
    allowed = ["group"] if design == "projection" else cluster_cols
    if groupby is None:
        if not allowed:
            raise KeyError(
                f"result.samples has no grouping column for the {design} design ('group' or "
                f"'cluster_k{{k}}'); its columns: {list(samples.columns)}"
            )
        groupby = allowed[0]
    if groupby not in samples.columns:
        raise KeyError(
            f"groupby {groupby!r} is not a column of result.samples; the groupings of this "
            f"{design}-design result: {allowed}"
        )
    if groupby not in allowed:
        raise ValueError(
            f"groupby {groupby!r} is not a grouping that desurv.tl.validate tested for the "
            f"{design} design; use one of {allowed}"
        )
    m_k = _CLUSTER_COL.fullmatch(groupby)
    n_clusters = int(m_k.group(1)) if m_k else None
    what = f"{n_clusters} clusters" if n_clusters else "risk groups"

    names = [str(c) for c in pd.unique(samples["cohort"].astype(str))]
    if cohorts is None:
        panels = [*names, "pooled"]
    else:
        if isinstance(cohorts, str):
            cohorts = [cohorts]
        panels = [str(c) for c in cohorts]
        if not panels:
            raise ValueError("cohorts is empty; name at least one cohort or 'pooled'")
        unknown = [c for c in panels if c not in names and c != "pooled"]
        if unknown:
            raise KeyError(
                f"unknown cohort(s) {unknown}; the validation cohorts are {names} (and 'pooled')"
            )
    lr = res.get("logrank")
    labels = samples[groupby].astype(str).where(samples[groupby].notna(), "")
    levels = _level_order([g for g in labels if g not in _MISSING_LABELS])
    colours = {g: f"C{i % 10}" for i, g in enumerate(levels)}

    n_pan = len(panels)
    ncols = min(n_pan, 4)
    rows_per = math.ceil(n_pan / ncols)
    nrows = rows_per * len(methods)
    height = 3.6 + (0.8 + 0.17 * len(levels) if at_risk else 0.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, height * nrows), squeeze=False)
    panel_axes: dict[tuple[str, str], Any] = {}
    fitted: list[tuple[Any, list[Any], list[str]]] = []
    for mi, m in enumerate(methods):
        is_m = (samples["method"].astype(str) == m).to_numpy()
        for pi, cohort in enumerate(panels):
            ax = axes[mi * rows_per + pi // ncols, pi % ncols]
            keep = is_m & ~labels.isin(_MISSING_LABELS).to_numpy()
            if cohort != "pooled":
                keep &= (samples["cohort"].astype(str) == cohort).to_numpy()
            t = samples["time"].to_numpy(dtype=float)[keep]
            e = samples["event"].to_numpy(dtype=float)[keep].astype(bool)
            g = labels.to_numpy()[keep]
            fitters, drawn = [], []
            for lev in levels:
                sel = g == lev
                if not sel.any():
                    continue
                kmf = KaplanMeierFitter(label=f"{lev} (n={int(sel.sum())})")
                kmf.fit(t[sel], e[sel])
                kmf.plot_survival_function(
                    ax=ax, ci_show=ci, show_censors=True, color=colours[lev],
                    censor_styles={"ms": 4, "marker": "|"},
                )  # fmt: skip
                fitters.append(kmf)
                drawn.append(lev)
            found = _logrank_lookup(lr, cohort, m, n_clusters)
            p = found[0] if found else float("nan")
            if cohort == "pooled":
                head = "pooled, stratified by cohort" if found and found[1] else "pooled"
            else:
                head = cohort
            if len(methods) > 1:
                head = f"{m}: {head}"
            line2 = (f"{what}: log-rank p = {_fmt_p(p)}" if found
                     else f"{what}: no log-rank test in the result")  # fmt: skip
            ax.set_title(f"{head} (n={int(keep.sum())})\n{line2}", fontsize=9)
            ax.desurv_logrank_p = p
            ax.set_ylim(0, 1.05)
            ax.set_xlabel(time_label(None, unit=time_unit) if time_unit
                          else "time (unit not recorded)")  # fmt: skip
            ax.set_ylabel("survival probability" if pi % ncols == 0 else "")
            if fitters:
                ax.legend(frameon=False, fontsize=7, title=groupby, title_fontsize=7)
            panel_axes[(m, cohort)] = ax
            fitted.append((ax, fitters, drawn))
        for pi in range(n_pan, rows_per * ncols):  # unused grid cells
            fig.delaxes(axes[mi * rows_per + pi // ncols, pi % ncols])
    if not at_risk:
        fig.tight_layout()
    else:  # room below each panel for lifelines' table (0.6 in down, a line a group)
        extra = 0.75 + 0.17 * (len(levels) + 1)
        fig.tight_layout(h_pad=extra * 72 / 10, rect=(0, extra / fig.get_figheight(), 1, 1))
        for ax, fitters, drawn in fitted:
            if fitters:
                add_at_risk_counts(*fitters, ax=ax, fig=fig, rows_to_show=["At risk"], labels=drawn)
    fig.desurv_panels = panel_axes
    finish(fig, "validation_km", show, save)
    return fig


# ----------------------------------------------------------------------------- forest


def validation_forest(
    result: Any,
    *,
    method: str = "desurv",
    factor: int | None = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Forest plot of the per-factor hazard ratios in each cohort and pooled.

    One panel per factor of the model (``result.forest``, projection design): a row per
    validation cohort with its hazard ratio per SD of the factor score and 95 % CI (marker
    area proportional to the cohort's inverse-variance weight), the fixed-effect
    inverse-variance pooled estimate as a diamond spanning its CI, a dashed line at HR = 1
    on a log axis, and ``HR [CI]``, ``p``, the weight (cohorts) or I^2 (pooled) as text.

    Parameters
    ----------
    result : ValidationResult or dict
        What :func:`desurv.tl.validate` returned, or the record it wrote to
        ``model.uns[key_added]``.
    method : {"desurv", "nmf"}, default "desurv"
        The model whose factors to draw.
    factor : int, optional
        Draw only this factor (1-based, as ``result.forest["factor"]``).
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.desurv_panels`` maps each factor to its Axes; each Axes has the pooled hazard
        ratio in ``ax.desurv_pooled_hr``.

    Raises
    ------
    ValueError
        ``result.forest`` is None (the clustering design has no per-factor hazard ratios),
        unknown ``method`` or one the result lacks.
    KeyError
        A ``factor`` the result does not have, a missing column.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    res = _as_result(result)
    design = str(res["design"])
    if res.get("forest") is None:
        raise ValueError(
            f"this validation result has no per-factor forest table (result.forest is None): "
            f"the forest plot exists for the projection design only, and this result is the "
            f"{design} design; run desurv.tl.validate(..., design='projection')"
        )
    tab = _table(res, "forest", ("method", "factor", "cohort", "hr", "hr_lower_95",
                                 "hr_upper_95", "p"))  # fmt: skip
    (m,) = _methods(method, pd.unique(tab["method"].astype(str)), allow_both=False)
    tab = tab[tab["method"].astype(str) == m].copy()
    tab["factor"] = pd.to_numeric(tab["factor"], errors="coerce")
    tab["cohort"] = tab["cohort"].astype(str)
    factors = sorted(int(f) for f in tab["factor"].dropna().unique())
    if factor is not None:
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | np.integer)
            or int(factor) not in factors
        ):
            raise KeyError(
                f"factor {factor!r} is not in result.forest for {m}; its factors (1-based) "
                f"are {factors}"
            )
        factors = [int(factor)]
    nf = len(factors)
    cohort_names = [c for c in pd.unique(tab["cohort"]) if c != "pooled"]
    n_rows = len(cohort_names) + 1
    fig, axes = plt.subplots(nf, 1, figsize=(7.5, (0.42 * n_rows + 1.3) * nf), squeeze=False)
    panel_axes: dict[int, Any] = {}
    for i, f in enumerate(factors):
        ax = axes[i, 0]
        sub = tab[tab["factor"] == f].set_index("cohort")
        y = {c: float(n_rows - 1 - j) for j, c in enumerate(cohort_names)}
        y["pooled"] = 0.0
        bounds = [1.0]
        for c in cohort_names:
            if c not in sub.index:
                continue
            r = sub.loc[c]
            hr, lo, hi = (float(r[k]) for k in ("hr", "hr_lower_95", "hr_upper_95"))
            w = float(r["weight"]) if "weight" in sub.columns else float("nan")
            if np.all(np.isfinite([hr, lo, hi])) and min(hr, lo, hi) > 0:
                ms = 4.0 + 8.0 * math.sqrt(w) if np.isfinite(w) else 6.0
                ax.errorbar([hr], [y[c]], xerr=[[hr - lo], [hi - hr]], fmt="s", color="black",
                            ecolor="black", capsize=3, ms=ms)  # fmt: skip
                bounds += [lo, hi]
                text = f"{hr:.2f} [{lo:.2f}, {hi:.2f}]  p={_fmt_p(float(r['p']))}"
                if np.isfinite(w):
                    text += f"  w={100 * w:.0f}%"
            else:
                text = "not estimable"
            ax.annotate(text, xy=(1.03, y[c]), xycoords=("axes fraction", "data"),
                        va="center", fontsize=8)  # fmt: skip
        pooled_hr = float("nan")
        if "pooled" in sub.index:
            r = sub.loc["pooled"]
            hr, lo, hi = (float(r[k]) for k in ("hr", "hr_lower_95", "hr_upper_95"))
            if np.all(np.isfinite([hr, lo, hi])) and min(hr, lo, hi) > 0:
                pooled_hr = hr
                diamond = Polygon(
                    [(lo, 0.0), (hr, 0.28), (hi, 0.0), (hr, -0.28)],
                    closed=True,
                    facecolor="black",
                    edgecolor="black",
                    label="pooled",
                )
                ax.add_patch(diamond)
                bounds += [lo, hi]
                text = f"{hr:.2f} [{lo:.2f}, {hi:.2f}]  p={_fmt_p(float(r['p']))}"
                i2 = float(r["i2"]) if "i2" in sub.columns else float("nan")
                if np.isfinite(i2):
                    text += f"  I²={100 * i2:.0f}%"
            else:
                text = "not estimable"
            ax.annotate(text, xy=(1.03, 0.0), xycoords=("axes fraction", "data"),
                        va="center", fontsize=8, fontweight="bold")  # fmt: skip
        ax.desurv_pooled_hr = pooled_hr
        ax.axvline(1.0, color="grey", ls="--", lw=0.8)
        ax.axhline(0.5, color="lightgrey", lw=0.6)
        _set_log_x(ax, min(bounds) / 1.15, max(bounds) * 1.15)
        ax.set_ylim(-0.7, n_rows - 0.3)
        ax.set_yticks([y[c] for c in [*cohort_names, "pooled"]])
        ax.set_yticklabels([*cohort_names, "pooled (fixed effect)"])
        ax.set_xlabel("hazard ratio per SD (95% CI)")
        ax.annotate("HR [95% CI], p, weight (pooled: I²)", xy=(1.03, n_rows - 0.3),
                    xycoords=("axes fraction", "data"), va="bottom", fontsize=8,
                    color="dimgrey")  # fmt: skip
        ax.set_title(f"{m}: factor {f}", fontsize=10)
        panel_axes[f] = ax
    fig.tight_layout()
    fig.desurv_panels = panel_axes
    finish(fig, "validation_forest", show, save)
    return fig


# ----------------------------------------------------------------------------- comparison


def _is_p_row(statistic: str) -> bool:
    return re.search(r"(^|[\s:])p($|[\s(])", statistic) is not None


def _fmt_stat(value: Any, is_p: bool) -> str:
    """3 significant digits; p-values (and their differences) below 1e-3 in scientific."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not np.isfinite(v):
        return "NA"
    if v == 0:
        return "0"
    if is_p and abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.3g}"


def validation_comparison(
    result: Any,
    *,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """The DeSurv vs NMF summary of a validation, drawn as a table.

    Rows are the statistics of ``result.comparison`` (pooled hazard ratio, C-index, log-rank
    and likelihood-ratio p, BIC, cutpoint, ... depending on the design), columns ``desurv``,
    ``nmf`` and ``difference`` (desurv - nmf; the last two only when the comparison was
    run). Numbers have 3 significant digits; p-values below 1e-3 are in scientific notation.

    Parameters
    ----------
    result : ValidationResult or dict
        What :func:`desurv.tl.validate` returned, or the record it wrote to
        ``model.uns[key_added]``.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.figure.Figure
        Its one Axes holds the matplotlib table (``fig.axes[0].tables[0]``).

    Raises
    ------
    ValueError
        The result has no comparison table.
    KeyError
        The table has no ``desurv`` column.
    """
    import matplotlib.pyplot as plt
    from matplotlib.table import Table

    res = _as_result(result)
    design = str(res["design"])
    comp = res.get("comparison")
    if comp is None:
        raise ValueError(f"the validation result has no comparison table (design {design!r})")
    if not isinstance(comp, pd.DataFrame):
        raise TypeError(f"result.comparison must be a DataFrame, not {type(comp).__name__}")
    if "statistic" in comp.columns:
        comp = comp.set_index("statistic")
    if "desurv" not in comp.columns:
        raise KeyError(f"result.comparison lacks column 'desurv'; it has {list(comp.columns)}")
    cols = [c for c in ("desurv", "nmf", "difference") if c in comp.columns]
    stats = [str(s) for s in comp.index]
    cells = [[_fmt_stat(comp.iloc[i][c], _is_p_row(s)) for c in cols]
             for i, s in enumerate(stats)]  # fmt: skip
    if not stats:
        raise ValueError("result.comparison is empty")
    label_in = 0.3 + 0.08 * max(len(s) for s in stats)
    col_in = [0.3 + 0.08 * max([len(c), *(len(r[j]) for r in cells)]) for j, c in enumerate(cols)]
    width = label_in + sum(col_in)
    fig, ax = plt.subplots(figsize=(width + 0.4, 0.27 * (len(stats) + 1) + 0.6))
    ax.axis("off")
    table = Table(ax, bbox=(0.0, 0.0, 1.0, 1.0))
    widths = [w / width for w in (label_in, *col_in)]
    h = 1.0 / (len(stats) + 1)
    for j, head in enumerate(["statistic", *cols]):
        cell = table.add_cell(0, j, widths[j], h, text=head, loc="left" if j == 0 else "right")
        cell.set_text_props(fontweight="bold")
        if j == 0:
            cell.PAD = 0.03
    for i, (s, row) in enumerate(zip(stats, cells), start=1):
        table.add_cell(i, 0, widths[0], h, text=s, loc="left")
        table[i, 0].PAD = 0.03  # padding is a share of the cell width: less for the wide one
        for j, txt in enumerate(row, start=1):
            table.add_cell(i, j, widths[j], h, text=txt, loc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    ax.add_table(table)
    impl = res.get("implementation")
    title = f"DeSurv validation: {design} design"
    if impl:
        title += f" ({impl})"
    ax.set_title(title, fontsize=10)
    finish(fig, "validation_comparison", show, save)
    return fig
