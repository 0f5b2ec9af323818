"""Preprocessing of AnnData cohorts (samples x genes) for DeSurv.

Every function acts on ``adata.X`` or ``adata.layers[layer]``, records itself in
``adata.uns`` (the step list ``uns['desurv_pp']['steps']`` keeps the order) so that
:func:`desurv.tl.score` can apply the same preprocessing to a new cohort, and follows
scanpy's ``copy=`` convention.
"""

from desurv.pp._filter import filter_genes
from desurv.pp._log1p import log1p
from desurv.pp._merge import merge_cohorts
from desurv.pp._quantile import quantile_normalize
from desurv.pp._rank import rank_transform
from desurv.pp._unlog import unlog

__all__ = [
    "filter_genes", "log1p", "merge_cohorts", "quantile_normalize", "rank_transform", "unlog"
]
