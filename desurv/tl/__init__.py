"""Tools on AnnData (samples x genes): fit DeSurv, take top genes, score new cohorts, annotate."""

from desurv.tl._annotate import annotate_programs
from desurv.tl._consensus import consensus_cluster
from desurv.tl._fit import fit
from desurv.tl._score import score
from desurv.tl._select import select
from desurv.tl._survival import survival
from desurv.tl._top_genes import top_genes
from desurv.tl._validate import validate

__all__ = [
    "annotate_programs",
    "consensus_cluster",
    "fit",
    "score",
    "select",
    "survival",
    "top_genes",
    "validate",
]
