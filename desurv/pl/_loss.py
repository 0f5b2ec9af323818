"""``desurv.pl.loss_trace``: the loss per iteration of a fit."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
from anndata import AnnData

from desurv._anndata import check_adata
from desurv.pl._utils import finish, new_axes


def loss_trace(
    adata: AnnData,
    *,
    key: str = "desurv",
    terms: Sequence[str] = ("loss",),
    logy: bool | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Plot the loss history of a DeSurv fit against the iteration.

    Parameters
    ----------
    adata : AnnData
        Fitted by :func:`desurv.tl.fit` (reads ``adata.uns[key]['loss_history']``).
    key : str, default "desurv"
        ``key_added`` of the fit.
    terms : sequence of str, default ("loss",)
        Columns of the loss history to draw: ``loss`` (the total objective), ``nmf``,
        ``cox``, ``penalty_beta``, ``penalty_w``, ``penalty_h``.
    logy : bool, optional
        Logarithmic y axis; default: when every value drawn is positive.
    ax : matplotlib Axes, optional
        Draw into this axes.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_adata(adata)
    rec = adata.uns.get(key, {})
    if "loss_history" not in rec:
        raise KeyError(
            f"adata.uns[{key!r}]['loss_history'] not found; run desurv.tl.fit(adata, ..., "
            f"key_added={key!r}) first"
        )
    hist = {str(c): np.asarray(v, dtype=float) for c, v in rec["loss_history"].items()}
    missing = [t for t in terms if t not in hist]
    if missing:
        raise KeyError(f"loss history has no column(s) {missing}; it has {sorted(hist)}")
    fig, ax = new_axes(ax)
    values = [hist[t] for t in terms]
    for t, v in zip(terms, values):
        ax.plot(np.arange(1, v.size + 1), v, label=t, lw=1.5)
    if logy is None:
        logy = all(np.all(v > 0) for v in values)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    n_iter, conv = rec.get("n_iter"), rec.get("converged")
    title = "DeSurv loss"
    if n_iter is not None:
        title += f" ({int(n_iter)} iterations, {'converged' if conv else 'not converged'})"
    ax.set_title(title, fontsize=10)
    if len(terms) > 1:
        ax.legend(frameon=False)
    finish(fig, "loss", show, save)
    return ax
