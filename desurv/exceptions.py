"""Warning and error classes of desurv.

Every warning desurv emits is a subclass of :class:`DeSurvWarning`, so users can filter them
all at once (``warnings.simplefilter("ignore", desurv.exceptions.DeSurvWarning)``) or one kind
at a time.
"""

from __future__ import annotations

__all__ = [
    "DeSurvWarning",
    "ConvergenceWarning",
    "DataWarning",
    "SeparationWarning",
    "DegenerateFitWarning",
    "DivergenceError",
]


class DeSurvWarning(UserWarning):
    """Base class of every warning emitted by desurv."""


class ConvergenceWarning(DeSurvWarning):
    """A fit stopped at ``max_iter`` before its relative loss change fell below ``tol``."""


class DataWarning(DeSurvWarning):
    """Input data were modified or look suspicious (dropped genes, zero-filled genes, ...)."""


class SeparationWarning(ConvergenceWarning):
    """The risk score (nearly) separates the samples: training C-index >= 0.99 or a Cox
    likelihood that keeps rising along the coefficients (monotone likelihood), so the fit
    has memorised the training outcomes (as lifelines' ``ConvergenceWarning`` on separation)."""


class DegenerateFitWarning(DeSurvWarning):
    """A fit that ran but cannot mean what was asked: every Cox coefficient is zero, or the
    survival term was never switched on (``max_iter <= warmup_iter``)."""


class DivergenceError(FloatingPointError):
    """The loss became non-finite during a fit; the message names the hyperparameters."""
