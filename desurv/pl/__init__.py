"""Plots of a DeSurv analysis on AnnData (matplotlib only).

Each function returns the matplotlib object it drew (an Axes or, for multi-panel plots, the
Figure), and takes ``show=`` and ``save=`` like scanpy: ``save`` is a file path (``.png`` is
added when it has no suffix) or ``True`` for ``desurv_<plot>.png`` in the working directory;
``show=None`` shows only under an interactive matplotlib session.
"""

from desurv.pl._cindex import cindex_by_k
from desurv.pl._heatmap import heatmap
from desurv.pl._loss import loss_trace
from desurv.pl._select import alpha_path, search_history, select_k
from desurv.pl._survival import forest, kaplan_meier
from desurv.pl._validate import validation_comparison, validation_forest, validation_km

__all__ = [
    "cindex_by_k",
    "forest",
    "heatmap",
    "kaplan_meier",
    "loss_trace",
    "select_k",
    "search_history",
    "alpha_path",
    "validation_km",
    "validation_forest",
    "validation_comparison",
]
