"""The survival statistics of one implementation ("python" or "r"), with one layout of results.

``tl.survival`` and ``tl.validate`` take ``implementation="python" | "r"``; both ask an
:class:`Engine` for each statistic, so the choice between our engines (``desurv.stats``) and
R's (``r_bridge``: survival, ConsensusClusterPlus) is made in one place. R is started only
when an R engine is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from desurv.stats._concordance import _c_from_counts, concordance_counts, concordance_var
from desurv.stats._consensus import consensus_cluster_python
from desurv.stats._cox import cox_ph
from desurv.stats._logrank import logrank_test

__all__ = ["Engine", "IMPLEMENTATIONS"]

IMPLEMENTATIONS = ("python", "r")


class Engine:
    """The statistics of ``implementation`` ("python": ``desurv.stats``; "r": R through
    ``r_bridge``, which checks that the R packages in ``packages`` are installed)."""

    def __init__(self, implementation: str, packages: tuple[str, ...] = ("survival",)) -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be 'python' or 'r', got {implementation!r}")
        self.name = implementation
        if implementation == "r":
            import r_bridge  # noqa: PLC0415 - lazy: importing desurv never starts R

            r_bridge.require(packages)
            self.r = r_bridge

    def cox(
        self, time, event, covariates: pd.DataFrame, strata=None, ties: str = "efron"
    ) -> dict[str, Any]:
        """Cox model (``desurv.stats.cox_ph`` / R's ``coxph``), stratified by ``strata``."""
        if self.name == "r":
            return self.r.coxph(time, event, covariates, strata, ties=ties)
        return cox_ph(time, event, covariates, strata, ties=ties)

    def logrank(self, time, event, group, strata=None) -> dict[str, Any]:
        """Log-rank test (``logrank_test`` / R's ``survdiff``)."""
        if self.name == "r":
            return self.r.survdiff(time, event, group, strata)
        return logrank_test(time, event, group, strata)

    def concordance_counts(self, time, event, risk, strata=None) -> tuple[dict, float]:
        """Harrell's C with its pair counts (``strata``: integer codes or None)."""
        if self.name == "r":
            out = self.r.concordance(time, event, risk, strata)
            return out["counts"], float(out["concordance"])
        counts = concordance_counts(time, event, risk, strata)
        return counts, float(_c_from_counts(counts))

    def concordance(self, time, event, risk, strata=None) -> tuple[float, float]:
        """Harrell's C and its infinitesimal-jackknife variance (R's ``concordance()$var``)."""
        if self.name == "r":
            out = self.r.concordance(time, event, risk, strata)
            return float(out["concordance"]), float(out["var"])
        c = _c_from_counts(concordance_counts(time, event, risk, strata))
        return float(c), float(concordance_var(time, event, risk, strata))

    def fisher(self, table: np.ndarray) -> tuple[float, float]:
        """Fisher's exact test of a 2 x 2 table: (conditional MLE odds ratio, p)."""
        if self.name == "r":
            out = self.r.fisher_test(table)
            return out["odds_ratio"], out["p"]
        from scipy.stats.contingency import odds_ratio  # noqa: PLC0415

        p = float(sps.fisher_exact(table).pvalue)
        return float(odds_ratio(table, kind="conditional").statistic), p

    def consensus(self, M, *, max_k, reps, p_item, p_feature, weights, seed) -> pd.DataFrame:
        """Consensus k-means classes (``consensus_cluster_python`` / ConsensusClusterPlus)."""
        if self.name == "r":
            res = self.r.consensus_cluster_plus(
                M, maxK=max_k, reps=reps, pItem=p_item, pFeature=p_feature, clusterAlg="km",
                distance="euclidean", weightsItem=weights, seed=seed,
            )  # fmt: skip
        else:
            res = consensus_cluster_python(
                M, max_k=max_k, reps=reps, p_item=p_item, p_feature=p_feature,
                cluster_alg="km", distance="euclidean", weights_item=weights, seed=seed,
            )  # fmt: skip
        return res["classes"]
