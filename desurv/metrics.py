"""Survival metrics with R's conventions: Harrell's C-index (stratified or not).

A thin public module: the engine is :mod:`desurv.stats._concordance` (see there for the
rules, which are those of R's ``survival::concordance(..., reverse = TRUE)``). Higher risk
means shorter survival; a follow-up time of 0 is valid.
"""

from __future__ import annotations

from desurv.stats._concordance import (
    concordance_counts,
    concordance_index,
    concordance_var,
    timefix,
)

__all__ = ["concordance_index", "concordance_counts", "concordance_var", "timefix"]
