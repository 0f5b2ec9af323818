"""Survival statistics engines on plain arrays and DataFrames (no AnnData, no R).

The Python twins of what :mod:`r_bridge` calls in R, with R's conventions:

- :func:`cox_ph`: stratified Cox proportional-hazards model, Efron or Breslow ties
  (R's ``survival::coxph``).
- :func:`logrank_test`: log-rank test, stratified or not (R's ``survival::survdiff``).
- :func:`concordance_index`, :func:`concordance_counts`, :func:`timefix`: Harrell's C and
  its pair counts (R's ``survival::concordance``, ``reverse = TRUE``), R's ``aeqSurv``.
- :func:`concordance_var`: the variance of C (R's ``concordance(...)$var``, its jackknife).
- :func:`consensus_cluster_python`, :func:`consensus_figures`, :func:`cohort_weights`:
  consensus clustering (Bioconductor's ConsensusClusterPlus) and the paper's cohort weights.
- :class:`Result`: the dict-with-attributes type of the results built on these engines.

Survival data are checked by :func:`desurv._validation.check_survival` (a time of 0 is
valid, as in R; negative or non-finite times are refused). The scanpy-style call sites on
AnnData are :func:`desurv.tl.survival` and :func:`desurv.tl.consensus_cluster`. Only
numpy, scipy, pandas and scikit-learn are used; importing this package never imports rpy2.
"""

from desurv.stats._concordance import (
    concordance_counts,
    concordance_index,
    concordance_var,
    timefix,
)
from desurv.stats._consensus import cohort_weights, consensus_cluster_python, consensus_figures
from desurv.stats._cox import cox_ph
from desurv.stats._logrank import logrank_test
from desurv.stats._result import Result

__all__ = [
    "Result",
    "cohort_weights",
    "concordance_counts",
    "concordance_index",
    "concordance_var",
    "consensus_cluster_python",
    "consensus_figures",
    "cox_ph",
    "logrank_test",
    "timefix",
]
