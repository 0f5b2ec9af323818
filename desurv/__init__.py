"""desurv: survival-driven deconvolution (DeSurv) of bulk tumour expression.

DeSurv fits a nonnegative matrix factorisation X ~ W H of the expression matrix (genes x
samples, as in the paper) whose factor scores Z = W^T X also drive an elastic-net Cox model,
so that the gene programs it finds are shaped by survival.

Entry points
------------
- :class:`desurv.DeSurv`: the scikit-learn style estimator on plain arrays (samples x genes).
- ``desurv.pp`` / ``desurv.tl`` / ``desurv.pl``: the scanpy-style analysis on AnnData.
- ``desurv.stats``: the survival statistics engines on plain arrays (Cox, log-rank,
  concordance, consensus clustering), the Python twins of what ``r_bridge`` runs in R.
- ``desurv.datasets``: the paper's cohorts as AnnData.
- ``desurv.simulate``: the paper's simulation design.

Submodules are imported lazily: ``import desurv`` is cheap and never starts R.
"""

from __future__ import annotations

import importlib
from typing import Any

from desurv.exceptions import (
    ConvergenceWarning,
    DataWarning,
    DegenerateFitWarning,
    DeSurvWarning,
    DivergenceError,
    SeparationWarning,
)

__version__ = "0.1.0"

__all__ = [
    "DeSurv",
    "ConvergenceWarning",
    "DataWarning",
    "DeSurvWarning",
    "DegenerateFitWarning",
    "DivergenceError",
    "SeparationWarning",
    "__version__",
]

_LAZY_SUBMODULES = {"pp", "tl", "pl", "datasets", "simulate", "compat", "metrics", "stats"}


_LAZY_ATTRS = {"DeSurv": "desurv.estimator"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRS:
        value = getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"desurv.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'desurv' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBMODULES | set(_LAZY_ATTRS))
