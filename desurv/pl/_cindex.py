"""``desurv.pl.cindex_by_k``: C-index against the number of factors k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from desurv.pl._utils import finish, new_axes


def _as_table(data: pd.DataFrame | Mapping[Any, Any], k_col: str, c_col: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        missing = [c for c in (k_col, c_col) if c not in data.columns]
        if missing:
            raise KeyError(f"data lacks column(s) {missing}; it has {list(data.columns)}")
        return data
    if isinstance(data, Mapping):
        rows = []
        for k, v in data.items():
            vals = np.atleast_1d(np.asarray(v, dtype=float))
            rows += [(k, float(x)) for x in vals]
        return pd.DataFrame(rows, columns=[k_col, c_col])
    raise TypeError(
        "data must be a DataFrame with columns k and cindex or a dict k -> C-index (or list of "
        f"C-indices, e.g. one per CV fold); got {type(data).__name__}"
    )


def cindex_by_k(
    data: pd.DataFrame | Mapping[int, float | Sequence[float]],
    *,
    k: str = "k",
    cindex: str = "cindex",
    hue: str | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Plot the C-index against the number of factors k (mean +/- SD over repeats).

    Parameters
    ----------
    data : DataFrame or dict
        A table with one row per (k, repeat), e.g. cross-validation folds or cohorts, or a
        dict ``k -> C-index`` (or list of C-indices).
    k, cindex : str
        Column names of k and of the C-index in ``data``.
    hue : str, optional
        Column that splits the rows into lines (e.g. ``"model"``: DeSurv vs NMF, or
        ``"split"``: train vs test).
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    tab = _as_table(data, k, cindex)
    if hue is not None and hue not in tab.columns:
        raise KeyError(f"hue column {hue!r} not in data; columns: {list(tab.columns)}")
    fig, ax = new_axes(ax)
    groups = [(None, tab)] if hue is None else list(tab.groupby(hue, sort=False))
    for name, sub in groups:
        stats = sub.groupby(k)[cindex].agg(["mean", "std", "count"]).sort_index()
        ks = stats.index.to_numpy(dtype=float)
        ax.errorbar(
            ks, stats["mean"], yerr=stats["std"].fillna(0.0), marker="o", capsize=3,
            label=None if name is None else str(name),
        )
        if (stats["count"] > 1).any():
            ax.scatter(sub[k].astype(float), sub[cindex], s=8, alpha=0.35, color="grey")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("number of factors k")
    ax.set_ylabel("C-index")
    ax.set_xticks(sorted(pd.unique(tab[k].astype(float))))
    if hue is not None:
        ax.legend(frameon=False, title=hue)
    finish(fig, "cindex_by_k", show, save)
    return ax
