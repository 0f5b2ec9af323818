"""Input checks with messages that say what is wrong, where, and what to do.

The one input boundary of desurv: what valid expression, survival data, ``ties`` and model
hyperparameters are is decided here (``ties`` in ``desurv._core.cox``, re-exported), and every
layer (the estimator, the AnnData functions, the statistics engines, the R variant in
``desurv._core.rdesurv``, ``desurv.compat``) calls these checks. Importable by ``_core``: numpy
only at import time (pandas is imported inside the functions that accept pandas objects).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from desurv._core.cox import TIES, check_ties

__all__ = [
    "TIES",
    "DTYPES",
    "check_dtype",
    "check_expression",
    "check_nonnegative",
    "check_survival",
    "check_ties",
    "check_model_values",
    "check_hyperparameters",
    "check_random_state",
    "split_survival_target",
    "warmup_cap",
]



def warmup_cap(warmup_iter: int | None, max_iter: int) -> int:
    """The most warm-up iterations: ``warmup_iter``, or half of ``max_iter`` when None (the
    default: the survival part always keeps at least half of the iterations)."""
    return int(max_iter) // 2 if warmup_iter is None else int(warmup_iter)

def check_nonnegative(
    arr: np.ndarray,
    name: str = "X",
    samples: Sequence[Any] | None = None,
    genes: Sequence[Any] | None = None,
) -> None:
    """The one check (and message) for negative expression values, which NMF cannot take.

    ``arr`` is samples x genes; ``samples`` and ``genes`` name its rows and columns when known.
    """
    neg = arr < 0
    if neg.any():
        rows, cols = np.nonzero(neg)
        where = _where(rows, cols, samples, genes)
        raise ValueError(
            f"{name} has {int(neg.sum())} negative values (min {np.nanmin(arr):.4g}), e.g. at "
            f"{where}. DeSurv's NMF needs nonnegative expression: if these are log2(x + c) "
            "values, undo the log (2**x - c) and use desurv.pp.log1p; if the data were centred "
            "or z-scored per gene, use the uncentred values; counts or TPM can be log1p'd "
            "(desurv.pp.log1p)."
        )


def _first(names: Sequence[Any], n: int = 5) -> str:
    names = list(names)
    shown = ", ".join(map(str, names[:n]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


def check_expression(
    X: Any, *, name: str = "X", dtypes: tuple[Any, ...] = (np.float64,)
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate a samples x genes expression matrix.

    Parameters
    ----------
    X : array-like, sparse matrix or DataFrame, shape (n_samples, n_genes)
    name : str, default "X"
        How messages call X.
    dtypes : tuple of dtypes, default (float64,)
        Floating types kept as they are; values of any other type are converted to the
        first. An array of a kept type is not copied (nor is a DataFrame's single block), so
        the caller must not modify the returned array.

    Returns
    -------
    arr : ndarray, shape (n_samples, n_genes)
        The values, of one of ``dtypes``.
    samples, genes : ndarray of str or None
        The sample and gene names, or None when X is not a DataFrame.
    """
    import pandas as pd

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
    if isinstance(values, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array: its mask would be ignored. Fill or drop the "
            "masked entries first (e.g. X.filled(...) or select the rows/columns you trust)."
        )
    if np.iscomplexobj(values):
        raise TypeError(f"{name} has complex values; expression must be real and nonnegative.")
    kind = getattr(values, "dtype", None)
    target = next((d for d in dtypes if kind == np.dtype(d)), dtypes[0])
    try:
        arr = np.asarray(values, dtype=target)
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
    finite = np.isfinite(arr)  # one boolean array of X's shape (the negation only on failure)
    if not finite.all():
        bad = ~finite
        rows, cols = np.nonzero(bad)
        where = _where(rows, cols, samples, genes)
        raise ValueError(
            f"{name} has {int(bad.sum())} non-finite values (NaN or inf), e.g. at {where}. "
            "Impute or drop them before fitting."
        )
    del finite
    check_nonnegative(arr, name, samples, genes)
    return arr, samples, genes


#: The precisions a DeSurv fit can hold X in (``DeSurv(dtype=...)``).
DTYPES = ("float64", "float32")


def check_dtype(dtype: Any) -> np.dtype:
    """The numpy dtype of ``DeSurv(dtype=...)``: ``"float64"`` or ``"float32"`` (spelled as
    these strings, so that ``get_params`` and the h5ad records keep them as text)."""
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(
            f"dtype must be 'float64' (the default) or 'float32' (X held in single precision: "
            f"about half the memory of a fit); got {dtype!r}. Pass the name as a string."
        )
    return np.dtype(dtype)


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
    n_samples: int | None = None,
    sample_names: np.ndarray | None = None,
    *,
    require_event: bool = True,
    where: str = "",
    refuse_labelled_series: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The one check of survival data: times finite and >= 0, events 0/1 (booleans allowed).

    A follow-up time of 0 is valid (R's ``coxph`` and lifelines accept it: only the order of
    the times enters a Cox model or a concordance); negative or non-finite times are refused.
    With ``require_event`` at least one event is required (a Cox fit needs one).

    Parameters
    ----------
    time, event : array-like or Series, shape (n_samples,)
    n_samples : int, optional
        Expected length (the rows of X); default: the length of ``time``.
    sample_names : ndarray of str, optional
        When ``time``/``event`` are pandas Series, their index must hold the same samples;
        they are reordered to match. Also used to name bad samples in messages.
    require_event : bool, default True
    where : str
        Prefix naming where the data come from (e.g. ``"adata.obs['time']: "``).
    refuse_labelled_series : bool, default False
        Without ``sample_names`` (X is a plain array, so it has no sample names), refuse a
        ``time``/``event`` Series whose index is not the default ``RangeIndex`` 0..n-1:
        its labels name an order of the samples that X cannot confirm, and using it by
        position would silently pair samples with other samples' survival. The estimator
        sets it for ``fit(X, time, event)`` and ``score(X, time, event)``.

    Returns
    -------
    time : ndarray of float, event : ndarray of float (0.0 / 1.0)
    """
    import pandas as pd

    if n_samples is None:
        n_samples = int(np.asarray(time).reshape(-1).shape[0])
    if refuse_labelled_series and sample_names is None:
        _refuse_labelled_series(time, event, where)
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
            raise TypeError(
                f"{where}{label} must be numeric; got values that are not numbers."
            ) from None
        if arr.shape[0] != n_samples:
            raise ValueError(
                f"{label} has {arr.shape[0]} values but X has {n_samples} samples (rows); "
                "pass one value per sample, in the order of the rows of X."
            )
        out.append(arr)
    t, e = out
    names = sample_names if sample_names is not None else np.array([f"#{i}" for i in range(len(t))])
    bad_t = ~np.isfinite(t) | (t < 0)
    if bad_t.any():
        raise ValueError(
            f"{where}time must be finite and >= 0 (0 is a valid follow-up time); "
            f"{int(bad_t.sum())} samples are not: {_first(names[bad_t])} (values "
            f"{_first(np.unique(t[bad_t]))}). Drop those samples or fix their follow-up time."
        )
    bad_e = ~np.isin(e, (0.0, 1.0))
    if bad_e.any():
        raise ValueError(
            f"{where}event must be 0 (censored) or 1 (event); {int(bad_e.sum())} samples are "
            f"not: {_first(names[bad_e])} (values {_first(np.unique(e[bad_e]))}). "
            "Recode event as 0/1 (and drop missing values)."
        )
    if require_event and e.sum() == 0:
        raise ValueError(
            f"{where}event has no events (all samples censored); a Cox model needs at least "
            "one event."
        )
    return t, e


def _refuse_labelled_series(time: Any, event: Any, where: str) -> None:
    """Raise ValueError when ``time`` or ``event`` is a Series with a non-default index
    while X has no sample names to align it to (see ``check_survival``)."""
    import pandas as pd

    for label, v in (("time", time), ("event", event)):
        if not isinstance(v, pd.Series):
            continue
        if v.index.equals(pd.RangeIndex(len(v))):
            continue
        raise ValueError(
            f"{where}{label} is a pandas Series indexed by {_first(v.index)}, but X is a plain "
            "array with no sample names to align it to, so its values would be used by "
            "position, whatever their labels say. Pass X as a DataFrame indexed by sample "
            f"(then {label} is aligned on its index), or pass {label}.to_numpy() if the "
            "values are already in the order of the rows of X."
        )


def split_survival_target(y: Any, event: Any = None) -> tuple[Any, Any]:
    """(time, event) from scikit-learn style arguments.

    With ``event`` given, ``y`` is the time and both are returned as they are. Otherwise ``y``
    must hold both: a numpy structured array with one boolean (or 0/1 integer) field for the
    event and one float field for the time, as scikit-survival's ``Surv.from_arrays`` makes
    (fields ``event`` and ``time``; other names are matched by their dtypes), or a DataFrame
    with ``time`` and ``event`` columns. This is what lets ``GridSearchCV`` and
    ``cross_val_score`` pass a single ``y``.
    """
    if event is not None:
        return y, event
    import pandas as pd

    if isinstance(y, pd.DataFrame):
        if {"time", "event"} <= set(y.columns):
            return y["time"], y["event"]
        raise ValueError(
            f"y is a DataFrame without 'time' and 'event' columns (columns: {list(y.columns)}); "
            "pass fit(X, time, event) or name the columns time and event."
        )
    arr = np.asarray(y)
    names = arr.dtype.names
    if names is None or len(names) != 2:
        raise TypeError(
            "event is missing: pass fit(X, time, event), or a single y holding both as a "
            "structured array with an event and a time field (scikit-survival's "
            "Surv.from_arrays(event, time)) or a DataFrame with time and event columns."
        )
    if set(names) == {"time", "event"}:
        return arr["time"], arr["event"]
    kinds = [arr.dtype[name].kind for name in names]
    if kinds[0] in "bi" and kinds[1] == "f":
        return arr[names[1]], arr[names[0]]
    if kinds[1] in "bi" and kinds[0] == "f":
        return arr[names[0]], arr[names[1]]
    raise TypeError(
        f"cannot tell the event field from the time field of y (fields {names}, kinds "
        f"{kinds}); use fields named event (bool) and time (float)."
    )


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
    check_model_values(
        params["alpha"], params["lambda_"], params["l1_ratio"], params["lambda_w"],
        params["lambda_h"],
    )  # fmt: skip
    check_ties(params["ties"])
    t = params["tol"]
    if not _is_real(t) or not np.isfinite(t) or t < 0:
        raise ValueError(f"tol must be a finite number >= 0; got {t!r}.")
    if n_samples < 3:
        raise ValueError(
            f"X has {n_samples} sample(s); a DeSurv fit needs at least 3 (the scores' standard "
            "deviations and a Cox model need several samples)."
        )
    for key in ("max_iter", "n_init", "init_max_iter"):
        v = params[key]
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{key} must be an integer >= 1; got {v!r}.")
    w = params.get("warmup_iter", 0)
    if w is not None and (not isinstance(w, numbers.Integral) or isinstance(w, bool) or w < 0):
        raise ValueError(
            f"warmup_iter must be None (half of max_iter) or an integer >= 0; got {w!r}."
        )
    wt = params.get("warmup_tol")
    if wt is not None and not (
        isinstance(wt, numbers.Real) and not isinstance(wt, bool) and np.isfinite(wt) and wt >= 0
    ):
        raise ValueError(
            f"warmup_tol must be None or a finite number >= 0 (0 or None: a warm-up of exactly "
            f"warmup_iter iterations); got {wt!r}."
        )
    if params.get("solver", "mu") not in ("mu", "hals"):
        raise ValueError(f"solver must be 'mu' or 'hals'; got {params.get('solver')!r}.")
    if params["init_criterion"] not in ("loss", "cindex"):
        raise ValueError(
            f"init_criterion must be 'loss' or 'cindex'; got {params['init_criterion']!r}."
        )
    if check_dtype(params.get("dtype", "float64")) != np.float64 and (
        params.get("variant", "default") != "default"
    ):
        raise ValueError(
            f"dtype={params['dtype']!r} is available for the default variant only; "
            f"variant={params['variant']!r} follows the R package in double precision. Use "
            "dtype='float64' with it."
        )
    nj = params["n_jobs"]
    if nj is not None and (not isinstance(nj, numbers.Integral) or nj == 0):
        raise ValueError(f"n_jobs must be None, a positive int, or -1 (all cores); got {nj!r}.")


def check_model_values(
    alpha: Any,
    lambda_: Any,
    l1_ratio: Any,
    lambda_w: Any = 0.0,
    lambda_h: Any = 0.0,
    *,
    names: dict[str, str] | None = None,
    advice: str = "",
) -> tuple[float, float, float, float, float]:
    """The one check of the model's hyperparameters (the estimator, the R variant and
    ``desurv.compat`` call it): alpha in [0, 1), penalties finite and >= 0, l1_ratio in [0, 1].

    ``names`` maps our names to the caller's spellings in messages (e.g. the R package's
    ``{"lambda_": "lambda", "l1_ratio": "nu"}``); ``advice`` is appended to them. Returns the
    values as floats.
    """
    names = names or {}
    out = []
    for key, v in (
        ("alpha", alpha),
        ("lambda_", lambda_),
        ("l1_ratio", l1_ratio),
        ("lambda_w", lambda_w),
        ("lambda_h", lambda_h),
    ):
        label = names.get(key, key)
        if not _is_real(v):
            raise TypeError(f"{label} must be a real number; got {v!r}.")
        if not np.isfinite(v):
            raise ValueError(f"{label} must be finite; got {v!r}.{advice}")
        out.append(float(v))
    a, lam, xi, lw, lh = out
    if not 0 <= a < 1:
        raise ValueError(
            f"{names.get('alpha', 'alpha')} (survival weight) must be in [0, 1): 0 is plain NMF, "
            f"values near 1 weigh survival almost only; got {alpha!r}.{advice}"
        )
    for key, v in (("lambda_", lam), ("lambda_w", lw), ("lambda_h", lh)):
        if v < 0:
            raise ValueError(
                f"{names.get(key, key)} is a penalty and must be a finite number >= 0; "
                f"got {v!r}.{advice}"
            )
    if not 0 <= xi <= 1:
        raise ValueError(
            f"{names.get('l1_ratio', 'l1_ratio')} (xi, the elastic-net mix) must be in [0, 1] "
            f"(1 = lasso, 0 = ridge); got {l1_ratio!r}.{advice}"
        )
    return a, lam, xi, lw, lh


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)
