"""Cross-validation folds stratified by event (and cohort), and preprocessing fitted in folds."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from desurv.exceptions import DataWarning

__all__ = ["stratified_folds", "FoldPreprocess", "MIN_EVENTS_PER_FOLD"]

# a held-out fold needs events to rank; fewer than this per fold and the fold count drops
MIN_EVENTS_PER_FOLD = 2


def stratified_folds(
    event: np.ndarray,
    n_folds: int,
    rng: np.random.Generator,
    cohort: np.ndarray | None = None,
    *,
    min_events: int = MIN_EVENTS_PER_FOLD,
) -> np.ndarray:
    """Fold label of every sample, stratified by event status x cohort.

    Within each stratum (event or censored, per cohort when ``cohort`` is given) the samples
    are shuffled and dealt to the folds in turn, starting at a random fold, so every fold gets
    its share of events and of each cohort (to within one sample per stratum).

    Parameters
    ----------
    event : ndarray of {0, 1}, shape (n_samples,)
    n_folds : int >= 2
    rng : numpy Generator
        The only source of randomness: one fold seed for the whole search.
    cohort : ndarray, shape (n_samples,), optional
        Cohort label of each sample (any hashable values).
    min_events : int, default 2
        Fewest events a held-out fold may have. With fewer, the number of folds is lowered
        (a :class:`~desurv.exceptions.DataWarning` says so) down to 2; below that a
        ``ValueError``.

    Returns
    -------
    ndarray of int, shape (n_samples,)
        Fold of each sample, 0 .. n_folds' - 1 (n_folds' <= n_folds after lowering).
    """
    event = np.asarray(event)
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds!r}")
    n_events = int(np.sum(event > 0))
    usable = n_events // max(min_events, 1)
    if usable < 2:
        raise ValueError(
            f"cross-validation needs at least {2 * min_events} events ({min_events} per "
            f"held-out fold, 2 folds); the data have {n_events}"
        )
    if usable < n_folds:
        warnings.warn(
            f"{n_events} events cannot give {n_folds} folds with {min_events} events each; "
            f"using {usable} folds",
            DataWarning,
            stacklevel=2,
        )
        n_folds = usable
    if n_folds > event.size:
        raise ValueError(f"n_folds={n_folds} exceeds the number of samples ({event.size})")
    groups = np.zeros(event.size, dtype=np.int64)
    if cohort is not None:
        _, groups = np.unique(np.asarray(cohort).astype(str), return_inverse=True)
    strata = groups * 2 + (event > 0)
    fold = np.empty(event.size, dtype=np.int64)
    offset = int(rng.integers(n_folds))
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        fold[members] = (np.arange(members.size) + offset) % n_folds
        # the next stratum continues where this one stopped, so fold sizes stay balanced
        offset = (offset + members.size) % n_folds
    return fold


@dataclass(frozen=True)
class FoldPreprocess:
    """Preprocessing that learns from data, fitted on a training fold and applied to all.

    Applied to samples x genes expression (already log-transformed if wanted: a per-value
    transform cannot leak). In order:

    1. ``n_top_genes``: keep the genes with the smallest sum of mean rank and variance rank
       over the training samples (``desurv.pp.filter_genes``; per cohort and intersected
       when cohorts are given);
    2. ``transform``: ``"rank"`` ranks genes within each sample (no learning, scaled to
       (0, 1] by the number of genes, as the paper's rank transform), ``"quantile"``
       normalises each sample to the training samples' mean sorted profile
       (``desurv.pp.quantile_normalize``'s target, learnt on the training fold only).

    Parameters
    ----------
    n_top_genes : int or None, default None
        Genes kept by the filter (None: all).
    transform : {None, "rank", "quantile"}, default None
    """

    n_top_genes: int | None = None
    transform: str | None = None

    def __post_init__(self) -> None:
        if self.transform not in (None, "rank", "quantile"):
            raise ValueError(
                f"transform must be None, 'rank' or 'quantile', got {self.transform!r}"
            )
        if self.n_top_genes is not None and (
            not isinstance(self.n_top_genes, (int, np.integer)) or self.n_top_genes < 2
        ):
            raise ValueError(f"n_top_genes must be an integer >= 2, got {self.n_top_genes!r}")

    @property
    def learns(self) -> bool:
        """Whether anything is learnt from the training samples (a per-fold transform)."""
        return self.n_top_genes is not None or self.transform == "quantile"

    def spec(self) -> dict:
        return {"n_top_genes": self.n_top_genes, "transform": self.transform}

    def fit_apply(
        self, X: np.ndarray, train: np.ndarray, cohort: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit on the samples ``train`` and transform every sample.

        Parameters
        ----------
        X : ndarray, shape (n_samples, n_genes)
        train : ndarray of bool, shape (n_samples,)
        cohort : ndarray, shape (n_samples,), optional

        Returns
        -------
        X_out : ndarray, shape (n_samples, n_kept)
        kept : ndarray of bool, shape (n_genes,)
        """
        from desurv.pp._filter import _top_by_rank_sum
        from desurv.pp._quantile import quantile_target, quantile_to_target

        kept = np.ones(X.shape[1], dtype=bool)
        if self.n_top_genes is not None:
            Xt = X[train]
            if cohort is None:
                kept = _top_by_rank_sum(Xt, self.n_top_genes)[1]
            else:
                ct = np.asarray(cohort)[train].astype(str)
                for c in np.unique(ct):
                    kept &= _top_by_rank_sum(Xt[ct == c], self.n_top_genes)[1]
            if kept.sum() < 2:
                raise ValueError(
                    f"the gene filter kept {int(kept.sum())} genes in a training fold; raise "
                    "n_top_genes"
                )
        out = X[:, kept]
        if self.transform == "rank":
            out = rankdata(out, method="average", axis=1) / out.shape[1]
        elif self.transform == "quantile":
            out = quantile_to_target(out, quantile_target(out[train]))
        return np.ascontiguousarray(out, dtype=float), kept
