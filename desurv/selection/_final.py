"""The final paper's final fit: many fits, their consensus seed, one fit from it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from desurv._core.cox import SurvivalData
from desurv._validation import (
    check_expression,
    check_hyperparameters,
    check_random_state,
    check_survival,
    split_survival_target,
    warmup_cap,
)
from desurv.selection._consensus_seed import ConsensusSeed, consensus_seed, consensus_start

__all__ = ["consensus_fit"]


def consensus_fit(
    X: Any,
    time: Any,
    event: Any = None,
    *,
    n_components: int = 3,
    n_top: int = 100,
    n_fits: int = 100,
    min_fits: int | None = None,
    random_state: Any = None,
    **estimator_params: Any,
) -> tuple[Any, ConsensusSeed]:
    """Fit DeSurv from the consensus seed of many fits (the final paper's final model).

    ``n_fits`` fits from the estimator's random starts (the i-th child of
    ``SeedSequence(random_state)``; the paper: 100 fits, seeds 1-100) are solved in batches as
    :class:`desurv.DeSurv` solves its starts (``n_jobs`` spreads them); every
    fit x factor gives its ``n_top`` top genes; :func:`desurv.selection.consensus_seed` builds
    W0 from the genes seen in at least ``min_fits`` gene sets (default ceil(0.3 n_fits), the
    paper's ``min_frequency``), :func:`desurv.selection.consensus_start` gives H0 by NNLS and
    beta0 = 0, and one :class:`desurv.DeSurv` fit continues from there.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_genes)
        Nonnegative expression, samples x genes (DataFrame names are kept).
    time, event : array-like, shape (n_samples,)
        Or ``time`` alone as a structured array / DataFrame with event and time.
    n_components : int, default 3
    n_top : int, default 100
        Top genes per factor of each fit (the selected ``n_top``).
    n_fits : int, default 100
    min_fits : int, optional
    random_state : int, SeedSequence, Generator or None
        Seeds the ``n_fits`` starts and the final fit.
    **estimator_params
        Hyperparameters of :class:`desurv.DeSurv` (``alpha``, ``lambda_``, ``l1_ratio``,
        ``lambda_h``, ``tol``, ``max_iter``, ``warmup_iter``, ``solver``, ...), used by the
        many fits and the final one alike.

    Returns
    -------
    model : DeSurv
        Fitted from the consensus start (``n_init`` is ignored).
    seed : ConsensusSeed
        The seed (kept genes, groups, similarity, W0).
    """
    from desurv.estimator import DeSurv

    separate = event is not None  # (X, time, event), not scikit-learn's single y
    time, event = split_survival_target(time, event)
    arr, samples, _ = check_expression(X)
    t, e = check_survival(
        time, event, arr.shape[0], samples, refuse_labelled_series=separate
    )
    if not isinstance(n_fits, (int, np.integer)) or n_fits < 2:
        raise ValueError(f"n_fits must be an integer >= 2, got {n_fits!r}")
    params = {k: v for k, v in estimator_params.items() if k != "n_init"}
    model = DeSurv(n_components, random_state=random_state, **params)
    check_hyperparameters(model.get_params(), *arr.shape)
    Xc = np.ascontiguousarray(arr.T)  # genes x samples
    # the estimator's own random starts and batched runs (its solver, BLAS and n_jobs rules)
    W0, H0, b0 = model._random_starts(
        Xc, n_components, check_random_state(random_state), int(n_fits)
    )
    res = model._run(
        Xc,
        SurvivalData.from_arrays(t, e),
        W0,
        H0,
        b0,
        model._hyper(),
        int(model.max_iter),
        warmup_cap(model.warmup_iter, model.max_iter),
    )
    need = math.ceil(0.3 * n_fits) if min_fits is None else int(min_fits)
    seed = consensus_seed(res.W, n_components, n_top=n_top, min_fits=need)
    Ws, Hs, bs = consensus_start(Xc, seed)
    model.fit(X, t, e, W0=Ws, H0=Hs, beta0=bs)
    return model, seed
