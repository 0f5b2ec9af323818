"""show=/save= handling shared by the plot functions."""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import Any

logger = logging.getLogger("desurv")


def new_axes(ax: Any = None, figsize: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, Any]:
    """Return (figure, axes): the given axes and its figure, or a fresh pair."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def finish(fig: Any, name: str, show: bool | None, save: bool | str | PathLike | None) -> None:
    """Save the figure when asked to and show it when asked to (or when interactive)."""
    import matplotlib
    import matplotlib.pyplot as plt

    if save:
        path = Path(f"desurv_{name}.png") if save is True else Path(save)
        if not path.suffix:
            path = path.with_suffix(".png")
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
        logger.info("saved figure %s", path)
    if show is None:
        show = matplotlib.is_interactive()
    if show:
        plt.show()
