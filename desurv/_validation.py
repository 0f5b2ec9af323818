"""Input checks with messages that say what is wrong, where, and what to do."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["check_expression", "check_survival", "check_hyperparameters", "check_random_state"]


def _first(names: Sequence[Any], n: int = 5) -> str:
    names = list(names)
    shown = ", ".join(map(str, names[:n]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def check_expression(
    X: Any, *, name: str = "X"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate a samples x genes expression matrix.

    Returns the float array (n_samples, n_genes) and the sample and gene names (or None when
    X is not a DataFrame).
    """
    samples = genes = None
    if isinstance(X, pd.DataFrame):
        samples = np.asarray(X.index.astype(str))
        genes = np.asarray(X.columns.astype(str))
        for label, names in (("gene (column)", genes), ("sample (row)", samples)):
            dup = pd.Index(names)[pd.Index(names).duplicated()].unique()
            if len(dup):
                raise ValueError(
                    f"{name} has duplicated {label} names: {_first(dup)}. Make the names unique "
                    "(e.g. aggregate duplicated genes or rename duplicated samples) before fitting."
                )
        values = X.to_numpy()
    elif hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        values = X.toarray()
    else:
        values = X
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a numeric samples x genes array or DataFrame; could not convert "
            f"it to floats ({exc})."
        ) from None
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-dimensional (samples x genes); got an array of shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs samples and genes.")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows, cols = np.nonzero(bad)
        where = _where(rows, cols, samples, genes)
        raise ValueError(
            f"{name} has {int(bad.sum())} non-finite values (NaN or inf), e.g. at {where}. "
            "Impute or drop them before fitting."
        )
    neg = arr < 0
    if neg.any():
        rows, cols = np.nonzero(neg)
        where = _where(rows, cols, samples, genes)
        raise ValueError(
            f"{name} has {int(neg.sum())} negative values (min {arr.min():.4g}), e.g. at {where}. "
            "NMF needs nonnegative expression: the data may be centred or z-scored; use "
            "nonnegative values such as log1p of counts/TPM, or undo the centring."
        )
    return arr, samples, genes


def _where(rows, cols, samples, genes) -> str:
    out = []
    for r, c in list(zip(rows, cols))[:3]:
        s = samples[r] if samples is not None else f"row {r}"
        g = genes[c] if genes is not None else f"column {c}"
        out.append(f"(sample {s}, gene {g})")
    return ", ".join(out)


def check_survival(
    time: Any,
    event: Any,
    n_samples: int,
    sample_names: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate survival times (> 0, finite) and events (0/1, at least one event).

    When ``time``/``event`` are pandas Series and ``sample_names`` is known, their index must
    hold the same samples; they are reordered to match.
    """
    out = []
    for label, v in (("time", time), ("event", event)):
        if isinstance(v, pd.Series) and sample_names is not None:
            idx = v.index.astype(str)
            if not (len(idx) == len(sample_names) and set(idx) == set(sample_names)):
                missing = [s for s in sample_names if s not in set(idx)]
                raise ValueError(
                    f"the index of {label} does not match the sample names of X "
                    f"(samples of X missing from {label}: {_first(missing) or 'none'}). "
                    f"Pass {label} indexed by the same sample ids as the rows of X."
                )
            v = v.copy()
            v.index = idx
            v = v.loc[sample_names]
        try:
            arr = np.asarray(v, dtype=float).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"{label} must be numeric; got values that are not numbers.") from None
        if arr.shape[0] != n_samples:
            raise ValueError(
                f"{label} has {arr.shape[0]} values but X has {n_samples} samples (rows); "
                "pass one value per sample, in the order of the rows of X."
            )
        out.append(arr)
    t, e = out
    names = sample_names if sample_names is not None else np.array([f"#{i}" for i in range(len(t))])
    bad_t = ~np.isfinite(t) | (t <= 0)
    if bad_t.any():
        raise ValueError(
            f"time must be positive and finite; {int(bad_t.sum())} samples are not: "
            f"{_first(names[bad_t])}. Drop those samples or fix their follow-up time "
            "(a time of 0 can be replaced by a small positive value such as half a day)."
        )
    bad_e = ~np.isin(e, (0.0, 1.0))
    if bad_e.any():
        raise ValueError(
            f"event must be 0 (censored) or 1 (event); {int(bad_e.sum())} samples are not: "
            f"{_first(names[bad_e])} (values {_first(np.unique(e[bad_e]))}). "
            "Recode event as 0/1 (and drop missing values)."
        )
    if e.sum() == 0:
        raise ValueError(
            "event has no events (all samples censored); a Cox model needs at least one event."
        )
    return t, e


def check_random_state(random_state: Any) -> np.random.SeedSequence:
    """A SeedSequence from None, an int, a SeedSequence or a Generator."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63 - 1)))
    if random_state is None or isinstance(random_state, numbers.Integral):
        if random_state is not None and int(random_state) < 0:
            raise ValueError(f"random_state must be a nonnegative int; got {random_state}.")
        return np.random.SeedSequence(None if random_state is None else int(random_state))
    raise TypeError(
        "random_state must be None, an int, a numpy SeedSequence or a numpy Generator; "
        f"got {type(random_state).__name__}."
    )


def check_hyperparameters(params: dict[str, Any], n_samples: int, n_genes: int) -> None:
    """Check the estimator's hyperparameters against each other and the data shape."""
    k = params["n_components"]
    if not isinstance(k, numbers.Integral) or isinstance(k, bool):
        raise TypeError(f"n_components (k) must be an integer; got {k!r}.")
    if k < 1 or k > min(n_samples, n_genes):
        raise ValueError(
            f"n_components (k) must be between 1 and min(n_samples, n_genes) = "
            f"{min(n_samples, n_genes)} for this X ({n_samples} samples x {n_genes} genes); "
            f"got {k}."
        )
    a = params["alpha"]
    if not _is_real(a) or not 0 <= a < 1:
        raise ValueError(
            f"alpha (survival weight) must be in [0, 1): 0 is plain NMF, values near 1 weigh "
            f"survival almost only; got {a!r}."
        )
    for key in ("lambda_", "lambda_w", "lambda_h"):
        v = params[key]
        if not _is_real(v) or v < 0 or not np.isfinite(v):
            raise ValueError(f"{key} is a penalty and must be a finite number >= 0; got {v!r}.")
    r = params["l1_ratio"]
    if not _is_real(r) or not 0 <= r <= 1:
        raise ValueError(f"l1_ratio (xi) must be in [0, 1] (1 = lasso, 0 = ridge); got {r!r}.")
    if params["ties"] not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow'; got {params['ties']!r}.")
    t = params["tol"]
    if not _is_real(t) or t < 0:
        raise ValueError(f"tol must be a number >= 0; got {t!r}.")
    for key in ("max_iter", "n_init", "init_max_iter"):
        v = params[key]
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{key} must be an integer >= 1; got {v!r}.")
    w = params.get("warmup_iter", 0)
    if not isinstance(w, numbers.Integral) or isinstance(w, bool) or w < 0:
        raise ValueError(f"warmup_iter must be an integer >= 0; got {w!r}.")
    if params["init_criterion"] not in ("loss", "cindex"):
        raise ValueError(
            f"init_criterion must be 'loss' or 'cindex'; got {params['init_criterion']!r}."
        )
    nj = params["n_jobs"]
    if nj is not None and (not isinstance(nj, numbers.Integral) or nj == 0):
        raise ValueError(f"n_jobs must be None, a positive int, or -1 (all cores); got {nj!r}.")


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)
