"""Plots of a model-selection search: ``select_k``, ``search_history`` and ``alpha_path``.

Each takes a search result (an object with a ``summary`` DataFrame attribute, such as
``desurv.selection.SearchResult``) or its summary DataFrame directly; the summary has one row
per evaluated setting with at least the columns each function names.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from desurv.pl._utils import finish, new_axes

_PHASE_COLOURS = {"grid": "tab:green", "lhs": "tab:blue", "ei": "tab:orange"}
_PHASE_ORDER = ("grid", "lhs", "ei")


def _summary(result: Any, required: Sequence[str], what: str = "result") -> pd.DataFrame:
    """The summary table of ``result`` (a DataFrame or an object with ``.summary``), checked."""
    if isinstance(result, pd.DataFrame):
        tab = result
    elif hasattr(result, "summary") and isinstance(result.summary, pd.DataFrame):
        tab = result.summary
    else:
        got = type(result).__name__
        if hasattr(result, "summary"):
            got += f" whose .summary is a {type(result.summary).__name__}"
        raise TypeError(
            f"{what} must be a search result with a .summary DataFrame or that DataFrame; "
            f"got {got}"
        )
    missing = [c for c in required if c not in tab.columns]
    if missing:
        raise KeyError(
            f"{what} summary lacks column(s) {missing}; it has {list(tab.columns)}"
        )
    if len(tab) == 0:
        raise ValueError(f"{what} summary is empty (no evaluated settings)")
    return tab


def _finite(tab: pd.DataFrame, what: str) -> pd.DataFrame:
    """Rows with a finite ``mean_cindex`` (failed settings dropped); ValueError if none."""
    mean = pd.to_numeric(tab["mean_cindex"], errors="coerce").astype(float)
    out = tab.loc[np.isfinite(mean.to_numpy())].copy()
    if len(out) == 0:
        raise ValueError(f"{what} summary has no setting with a finite mean_cindex")
    out["mean_cindex"] = mean[out.index].to_numpy()
    out["se_cindex"] = (
        pd.to_numeric(out["se_cindex"], errors="coerce").astype(float).fillna(0.0).to_numpy()
    )
    return out.reset_index(drop=True)


def _best_per(tab: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """For each value of ``keys``, the row of largest ``mean_cindex`` (first on ties)."""
    idx = tab.groupby(keys, sort=True)["mean_cindex"].idxmax()
    return tab.loc[idx.to_numpy()].sort_values(keys).reset_index(drop=True)


def _label_value(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _one_se(tab: pd.DataFrame) -> tuple[float, int]:
    """The one-standard-error rule on a finite summary: (threshold, k), by
    :func:`desurv.selection.one_se_rule` (the rule the search applies)."""
    from desurv.selection import one_se_rule

    rule = one_se_rule(tab)
    return rule["threshold"], rule["k"]


def _attr(result: Any, name: str) -> Any:
    """``result.name`` when present and not None/NaN (never for a bare DataFrame)."""
    if isinstance(result, pd.DataFrame):
        return None
    v = getattr(result, name, None)
    if v is None:
        return None
    try:
        if not np.isfinite(float(v)):
            return None
    except (TypeError, ValueError):
        return None
    return v


def select_k(
    result: Any,
    *,
    compare: Any = None,
    labels: Sequence[str] = ("DeSurv", "alpha = 0"),
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Plot the cross-validated C-index against k, with the one-standard-error choice of k.

    For each k the best setting (largest ``mean_cindex`` over the other parameters) is drawn
    with its standard error as an error bar. The one-SE threshold is a horizontal dashed line
    and the chosen k is ringed. Both come from ``result.one_se_threshold_`` and
    ``result.k_1se_`` when present; otherwise they are computed from the summary: the best
    setting overall gives ``threshold = mean_cindex - se_cindex``, and the chosen k is the
    smallest k whose best ``mean_cindex`` is ``>= threshold``.

    Parameters
    ----------
    result : SearchResult or DataFrame
        An object with a ``summary`` DataFrame attribute (and optionally ``k_1se_`` and
        ``one_se_threshold_``), or the summary itself. Needs the columns ``n_components``,
        ``mean_cindex`` and ``se_cindex``; rows with a non-finite ``mean_cindex`` are dropped.
    compare : SearchResult or DataFrame, optional
        A second search (e.g. with ``alpha = 0``, the NMF-then-Cox baseline) drawn as a
        second line.
    labels : pair of str, default ("DeSurv", "alpha = 0")
        Legend labels of ``result`` and ``compare``.
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TypeError
        ``result`` or ``compare`` is not a search result or DataFrame, or ``labels`` is not
        a pair of strings.
    KeyError
        A needed column is missing.
    ValueError
        An empty summary, or one with no finite ``mean_cindex``.
    """
    if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) != 2:
        raise TypeError(f"labels must be a pair of str; got {labels!r}")
    required = ["n_components", "mean_cindex", "se_cindex"]
    tab = _finite(_summary(result, required, "result"), "result")
    tab = tab.loc[tab["n_components"].notna()].reset_index(drop=True)
    if len(tab) == 0:
        raise ValueError("result summary has no setting with n_components set")
    per_k = _best_per(tab, ["n_components"])
    other = None
    if compare is not None:
        other = _best_per(
            _finite(_summary(compare, required, "compare"), "compare"), ["n_components"]
        )

    threshold, k_rule = _one_se(tab)
    given_threshold = _attr(result, "one_se_threshold_")
    given_k = _attr(result, "k_1se_")
    threshold = threshold if given_threshold is None else float(given_threshold)
    k_1se = k_rule if given_k is None else int(given_k)

    fig, ax = new_axes(ax)
    ks = per_k["n_components"].to_numpy(dtype=float)
    cont = ax.errorbar(
        ks, per_k["mean_cindex"].to_numpy(), yerr=per_k["se_cindex"].to_numpy(), marker="o",
        capsize=3, color="tab:blue", label=str(labels[0]),
    )
    cont.lines[0].set_gid("select_k:result")
    xticks = set(ks.tolist())
    if other is not None:
        oks = other["n_components"].to_numpy(dtype=float)
        cont2 = ax.errorbar(
            oks, other["mean_cindex"].to_numpy(), yerr=other["se_cindex"].to_numpy(),
            marker="s", capsize=3, color="tab:orange", label=str(labels[1]),
        )
        cont2.lines[0].set_gid("select_k:compare")
        xticks |= set(oks.tolist())
    ax.axhline(
        threshold, color="tab:blue", lw=1.0, ls="--", alpha=0.7, gid="select_k:threshold",
        label=f"one-SE threshold ({threshold:.3f})",
    )
    hit = per_k.loc[per_k["n_components"].to_numpy(dtype=float) == k_1se, "mean_cindex"]
    y_mark = float(hit.iloc[0]) if len(hit) else threshold
    ax.plot(
        [float(k_1se)], [y_mark], ls="none", marker="o", ms=14, mfc="none", mec="tab:red",
        mew=2.0, gid="select_k:k_1se", label=f"k = {k_1se} (one-SE rule)",
    )
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("number of factors k")
    ax.set_ylabel("CV C-index (best setting per k)")
    ax.set_xticks(sorted(xticks))
    ax.set_xticklabels([_label_value(x) for x in sorted(xticks)])
    handles, names = ax.get_legend_handles_labels()
    first = [i for i, h in enumerate(handles) if h in ax.containers]  # the data lines
    order = first + [i for i in range(len(handles)) if i not in first]
    ax.legend([handles[i] for i in order], [names[i] for i in order], frameon=False)
    finish(fig, "select_k", show, save)
    return ax


def search_history(
    result: Any,
    *,
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Plot the C-index of each evaluated setting in evaluation order, with the running best.

    Points are coloured by search phase (``grid``, ``lhs``, ``ei``) with faint standard-error
    bars; a step line is the best ``mean_cindex`` so far; a vertical line marks where the
    search goes from the Latin hypercube (``lhs``) to expected improvement (``ei``) when both
    phases are present.

    Parameters
    ----------
    result : SearchResult or DataFrame
        An object with a ``summary`` DataFrame attribute, or the summary itself. Needs the
        columns ``setting``, ``phase``, ``mean_cindex`` and ``se_cindex``; settings with a
        non-finite ``mean_cindex`` are not drawn.
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TypeError
        ``result`` is not a search result or DataFrame.
    KeyError
        A needed column is missing.
    ValueError
        An empty summary, or one with no finite ``mean_cindex``.
    """
    raw = _summary(result, ["setting", "phase", "mean_cindex", "se_cindex"], "result")
    tab = _finite(raw, "result").sort_values("setting", kind="stable").reset_index(drop=True)
    order = raw.sort_values("setting", kind="stable")
    fig, ax = new_axes(ax, figsize=(6.0, 4.0))
    x = tab["setting"].to_numpy(dtype=float)
    y = tab["mean_cindex"].to_numpy()
    phases = [str(p) for p in tab["phase"]]
    present = list(dict.fromkeys(phases))
    ordered = [p for p in _PHASE_ORDER if p in present] + [
        p for p in present if p not in _PHASE_ORDER
    ]
    extra = iter(["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:grey"])
    phase_arr = np.asarray(phases, dtype=object)
    for ph in ordered:
        colour = _PHASE_COLOURS.get(ph) or next(extra, "black")
        m = phase_arr == ph
        ax.errorbar(
            x[m], y[m], yerr=tab["se_cindex"].to_numpy()[m], fmt="none", ecolor=colour,
            alpha=0.25, lw=1.0,
        )
        ax.scatter(x[m], y[m], s=18, color=colour, label=ph, zorder=3, gid=f"history:{ph}")
    ax.step(
        x, np.maximum.accumulate(y), where="post", color="black", lw=1.2,
        label="running best", gid="history:running_best",
    )
    all_phases = [str(p) for p in order["phase"]]
    all_x = order["setting"].to_numpy(dtype=float)
    first_lhs = all_phases.index("lhs") if "lhs" in all_phases else None
    if first_lhs is not None and "ei" in all_phases[first_lhs:]:
        i = all_phases.index("ei", first_lhs)
        x_switch = (all_x[i - 1] + all_x[i]) / 2.0 if i > 0 else all_x[i] - 0.5
        ax.axvline(x_switch, color="grey", lw=0.8, ls="--", gid="history:lhs_to_ei")
    ax.set_xlabel("setting (evaluation order)")
    ax.set_ylabel("CV C-index")
    ax.legend(frameon=False, title="phase")
    finish(fig, "search_history", show, save)
    return ax


def alpha_path(
    result: Any,
    *,
    by: str = "n_components",
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Plot the C-index against the supervision weight alpha, one line per value of ``by``.

    For each (``by``, ``alpha``) pair the best setting over the other parameters (largest
    ``mean_cindex``) is drawn with its standard error as an error bar.

    Parameters
    ----------
    result : SearchResult or DataFrame
        An object with a ``summary`` DataFrame attribute, or the summary itself. Needs the
        columns ``alpha``, ``by``, ``mean_cindex`` and ``se_cindex``; rows with a non-finite
        ``mean_cindex`` are dropped.
    by : str, default "n_components"
        Column whose values split the settings into lines (e.g. ``"n_components"`` for one
        line per k, or ``"lambda_"``).
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    TypeError
        ``result`` is not a search result or DataFrame, or ``by`` is not a str.
    KeyError
        A needed column (including ``by``) is missing.
    ValueError
        An empty summary, one with no finite ``mean_cindex``, or ``by="alpha"``.
    """
    if not isinstance(by, str):
        raise TypeError(f"by must be a column name (str); got {type(by).__name__}")
    if by == "alpha":
        raise ValueError('by must be a column other than "alpha" (alpha is the x axis)')
    tab = _finite(_summary(result, ["alpha", by, "mean_cindex", "se_cindex"], "result"), "result")
    tab = tab.loc[tab[by].notna() & tab["alpha"].notna()]
    if len(tab) == 0:
        raise ValueError(f"result summary has no setting with both alpha and {by} set")
    best = _best_per(tab, [by, "alpha"])
    fig, ax = new_axes(ax)
    name = "k" if by == "n_components" else by
    for value, sub in best.groupby(by, sort=True):
        cont = ax.errorbar(
            sub["alpha"].to_numpy(dtype=float), sub["mean_cindex"].to_numpy(),
            yerr=sub["se_cindex"].to_numpy(), marker="o", capsize=3,
            label=f"{name} = {_label_value(value)}",
        )
        cont.lines[0].set_gid(f"alpha_path:{_label_value(value)}")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("alpha (supervision weight)")
    ax.set_ylabel("CV C-index (best setting)")
    ax.legend(frameon=False)
    finish(fig, "alpha_path", show, save)
    return ax
