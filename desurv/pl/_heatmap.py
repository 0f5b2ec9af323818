"""``desurv.pl.heatmap``: top genes x samples ordered by a factor's score."""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
from anndata import AnnData

from desurv._anndata import check_adata, get_matrix, get_survival
from desurv.pl._utils import finish
from desurv.tl._top_genes import get_W


def _genes_for_factor(adata: AnnData, key: str, factor: int, n_top: int) -> list[str]:
    name = f"{key}_top_genes"
    if name in adata.uns:
        tab = adata.uns[name]["table"]
        f = np.asarray(tab["factor"])
        genes = np.asarray(tab["gene"], dtype=object)[f == factor]
        rank = np.asarray(tab["rank"])[f == factor]
        return [str(g) for g in genes[np.argsort(rank, kind="stable")][:n_top]]
    W = get_W(adata, key)
    order = np.argsort(-W[:, factor - 1], kind="stable")
    order = [i for i in order if W[i, factor - 1] > 0][:n_top]
    return [str(adata.var_names[i]) for i in order]


def heatmap(
    adata: AnnData,
    factor: int = 1,
    *,
    key: str = "desurv",
    n_top: int = 20,
    layer: str | None = None,
    time_key: str | None = None,
    event_key: str | None = None,
    standard_scale: bool = True,
    cmap: str = "RdBu_r",
    figsize: tuple[float, float] = (8.0, 6.0),
    show: bool | None = None,
    save: bool | str | PathLike | None = None,
) -> Any:
    """Heatmap of a factor's top genes x samples, samples ordered by the factor's score.

    Above the heatmap, annotation bars show the factor score, the follow-up time and the
    event status of each sample.

    Parameters
    ----------
    adata : AnnData
        Fitted by :func:`desurv.tl.fit` (samples x genes).
    factor : int, default 1
        Factor number, 1-based (column ``factor - 1`` of ``obsm[f"X_{key}"]`` and of W).
    key : str, default "desurv"
        ``key_added`` of the fit.
    n_top : int, default 20
        Genes shown: the first ``n_top`` of the factor in ``uns[f"{key}_top_genes"]``
        (from :func:`desurv.tl.top_genes`), else the largest weights of W (genes x k).
    layer : str, optional
        Expression from ``adata.layers[layer]`` instead of ``adata.X``.
    time_key, event_key : str, optional
        Survival columns of ``obs``; default: those recorded by the fit.
    standard_scale : bool, default True
        Show each gene z-scored across samples, colours clipped at +/-3 (display only;
        nothing is written).
    cmap : str, default "RdBu_r"
        Colormap of the heatmap.
    figsize : tuple, default (8, 6)
        Figure size in inches.
    show, save
        See :mod:`desurv.pl`.

    Returns
    -------
    matplotlib.figure.Figure
        With axes for the score, time and event bars, the heatmap and its colorbar.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    check_adata(adata)
    scores_key = f"X_{key}"
    if scores_key not in adata.obsm:
        raise KeyError(
            f"adata.obsm[{scores_key!r}] not found; run desurv.tl.fit or desurv.tl.score with "
            f"key_added={key!r} first"
        )
    scores = np.asarray(adata.obsm[scores_key], dtype=float)
    k = scores.shape[1]
    if not 1 <= int(factor) <= k:
        raise ValueError(f"factor must be between 1 and {k} (1-based), got {factor!r}")
    rec = adata.uns.get(key, {})
    time_key = time_key or str(rec.get("time_key", "time"))
    event_key = event_key or str(rec.get("event_key", "event"))
    time, event = get_survival(adata, time_key, event_key)
    genes = _genes_for_factor(adata, key, int(factor), n_top)
    if not genes:
        raise ValueError(f"factor {factor} has no gene with a positive weight")
    X = get_matrix(adata, layer)[:, adata.var_names.get_indexer(genes)]
    order = np.argsort(scores[:, factor - 1], kind="stable")
    M = X[order].T  # genes x samples
    if standard_scale:
        sd = M.std(axis=1, keepdims=True)
        M = np.divide(M - M.mean(axis=1, keepdims=True), sd, out=np.zeros_like(M), where=sd > 0)

    fig = plt.figure(figsize=figsize)
    gs = fig.add_gridspec(
        4, 2, height_ratios=[0.5, 0.5, 0.5, max(3.0, 0.25 * len(genes))],
        width_ratios=[40, 1], hspace=0.08, wspace=0.03,
    )
    bars = [
        ("score", scores[order, factor - 1][None, :], "viridis"),
        (f"{time_key}", time[order][None, :], "magma_r"),
        (f"{event_key}", event[order][None, :], ListedColormap(["#d9d9d9", "#b2182b"])),
    ]
    ax_heat = fig.add_subplot(gs[3, 0])
    import matplotlib.ticker  # noqa: PLC0415

    from desurv.pl._survival import time_label  # noqa: PLC0415

    # the time bar's row label carries the unit
    bars[1] = (time_label(adata, time_key).replace("time", time_key, 1), *bars[1][1:])
    for i, (label, values, bar_cmap) in enumerate(bars):
        axb = fig.add_subplot(gs[i, 0], sharex=ax_heat)
        imb = axb.imshow(values, aspect="auto", cmap=bar_cmap, interpolation="nearest",
                         vmin=0 if i == 2 else None, vmax=1 if i == 2 else None)  # fmt: skip
        axb.set_yticks([0])
        axb.set_yticklabels([label], fontsize=8)
        axb.tick_params(axis="x", bottom=False, labelbottom=False)
        # every colour bar gets its legend: a small colorbar at its right
        cb = fig.colorbar(imb, cax=fig.add_subplot(gs[i, 1]), orientation="vertical")
        cb.ax.tick_params(labelsize=6)
        if i == 2:
            cb.set_ticks([0.25, 0.75])
            cb.set_ticklabels(["censored", "event"])
        else:
            cb.locator = matplotlib.ticker.MaxNLocator(3)
            cb.update_ticks()
    fig.axes[1].set_title(f"Factor {factor}: top {len(genes)} genes", fontsize=10)
    lim = min(3.0, float(np.nanmax(np.abs(M)))) if standard_scale and M.size else None
    im = ax_heat.imshow(
        M, aspect="auto", cmap=cmap, interpolation="nearest",
        vmin=-lim if lim else None, vmax=lim if lim else None,
    )
    ax_heat.set_yticks(np.arange(len(genes)))
    ax_heat.set_yticklabels(genes, fontsize=max(4, min(8, 200 // max(len(genes), 1))))
    ax_heat.set_xticks([])
    ax_heat.set_xlabel(f"{adata.n_obs} samples, ordered by factor {factor} score")
    cax = fig.add_subplot(gs[3, 1])
    fig.colorbar(im, cax=cax, label="z-score" if standard_scale else "expression")
    finish(fig, "heatmap", show, save)
    return fig
