"""Model selection: folds, search, rules, checkpoint store, consensus seed."""

from desurv.selection._consensus_seed import ConsensusSeed, consensus_seed, consensus_start
from desurv.selection._evaluate import EvalConfig, top_gene_risk
from desurv.selection._final import consensus_fit
from desurv.selection._folds import FoldPreprocess, stratified_folds
from desurv.selection._search import DeSurvSearch, SearchResult, one_se_rule, summarise
from desurv.selection._space import (
    KNOWN_PARAMS,
    BayesProposer,
    Param,
    SearchSpace,
    expected_improvement,
    gp_lcb_k,
    latin_hypercube,
)

__all__ = [
    "consensus_fit",
    "DeSurvSearch",
    "SearchResult",
    "one_se_rule",
    "summarise",
    "EvalConfig",
    "top_gene_risk",
    "FoldPreprocess",
    "stratified_folds",
    "ConsensusSeed",
    "consensus_seed",
    "consensus_start",
    "KNOWN_PARAMS",
    "Param",
    "SearchSpace",
    "latin_hypercube",
    "BayesProposer",
    "expected_improvement",
    "gp_lcb_k",
]
