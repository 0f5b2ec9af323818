"""Shared helpers of the AnnData layer (``desurv.pp``, ``desurv.tl``, ``desurv.pl``).

Nothing here does model arithmetic: these functions fetch matrices and survival columns
from an :class:`anndata.AnnData` with diagnosing errors, and turn records into types that
``write_h5ad`` can store.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

logger = logging.getLogger("desurv")

#: Name of the ``uns`` entry that lists the preprocessing steps, in the order applied.
PP_STEPS_KEY = "desurv_pp"


def is_anndata(obj: Any) -> bool:
    """Whether ``obj`` is an :class:`anndata.AnnData` (the boolean form of :func:`check_adata`)."""
    return isinstance(obj, AnnData)


def check_adata(adata: Any, name: str = "adata") -> AnnData:
    """Raise TypeError unless ``adata`` is an AnnData."""
    if not is_anndata(adata):
        raise TypeError(
            f"{name} must be an anndata.AnnData (samples x genes), got {type(adata).__name__}; "
            "wrap a samples x genes table with anndata.AnnData(df)"
        )
    return adata


def get_matrix(
    adata: AnnData, layer: str | None = None, *, dtype: Any = np.float64, copy: bool = True
) -> np.ndarray:
    """Return ``adata.X`` or ``adata.layers[layer]`` as a dense (samples x genes) array.

    Parameters
    ----------
    adata : AnnData
    layer : str or None
        A layer, or None for ``adata.X``.
    dtype : dtype or tuple of dtypes, default float64
        The dtype of the result; with a tuple, a matrix of one of them keeps its dtype and
        any other is converted to the first.
    copy : bool, default True
        True: the array is always a fresh copy, so callers may modify it. False: a dense
        matrix already of the wanted dtype is returned itself (no copy of the matrix, for
        callers that only read it; a sparse or backed one is still converted).
    """
    accepted = tuple(dtype) if isinstance(dtype, tuple) else (dtype,)
    if layer is None:
        mat = adata.X
        where = "adata.X"
    else:
        if layer not in adata.layers:
            raise KeyError(
                f"layer {layer!r} does not exist; available layers: "
                f"{sorted(adata.layers.keys()) or 'none'} (use layer=None for adata.X)"
            )
        mat = adata.layers[layer]
        where = f"adata.layers[{layer!r}]"
    if mat is None:
        raise ValueError(f"{where} is empty (None); put the samples x genes matrix there first")
    if sparse.issparse(mat):
        arr = mat.toarray()
    elif hasattr(mat, "to_memory"):  # backed arrays
        arr = np.asarray(mat.to_memory())
    else:
        arr = np.array(mat, copy=True) if copy else np.asarray(mat)
    target = next((d for d in accepted if arr.dtype == np.dtype(d)), accepted[0])
    try:
        return arr.astype(target, copy=False)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where} must be numeric, got dtype {arr.dtype}") from err


def set_matrix(adata: AnnData, values: np.ndarray, layer: str | None = None) -> None:
    """Store a samples x genes array in ``adata.X`` or ``adata.layers[layer]``."""
    if layer is None:
        adata.X = values
    else:
        adata.layers[layer] = values


def layer_name(layer: str | None) -> str:
    """Name of a layer in records: ``"X"`` for ``adata.X``."""
    return "X" if layer is None else str(layer)


def check_finite(X: np.ndarray, adata: AnnData, what: str) -> None:
    """Raise ValueError naming the samples with NaN or infinite values."""
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        names = list(adata.obs_names[rows[:10]])
        raise ValueError(
            f"{what} has {int(bad.sum())} missing or infinite values in {rows.size} samples "
            f"(first: {names}); impute or drop them first"
        )


def check_unique_genes(adata: AnnData, what: str) -> None:
    """Raise ValueError when ``adata.var_names`` has duplicates (a lookup by gene name, as in
    the records that :func:`desurv.tl.score` reads, would then pick either copy)."""
    names = pd.Index(adata.var_names.astype(str))
    if names.is_unique:
        return
    dup = names[names.duplicated()].unique()
    shown = ", ".join(repr(g) for g in dup[:5])
    if len(dup) > 5:
        shown += f", ... ({len(dup)} in all)"
    raise ValueError(
        f"{what} has duplicated gene names ({shown}): genes are looked up by name, so a "
        "duplicated name is ambiguous. Aggregate the duplicates or make the names unique "
        "first (adata.var_names_make_unique())."
    )


def check_nonnegative(X: np.ndarray, what: str, adata: AnnData | None = None) -> None:
    """Raise ValueError if X (samples x genes) has negative values: the one check and message
    of ``desurv._validation.check_nonnegative``, naming samples and genes of ``adata``."""
    from desurv._validation import check_nonnegative as _check

    names = (None, None) if adata is None else (adata.obs_names, adata.var_names)
    _check(X, what, *names)


def get_survival(
    adata: AnnData, time_key: str, event_key: str, *, require_event: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return (time, event) from ``adata.obs`` as float and 0/1 int arrays, with clear errors.

    The columns must exist and be numeric (said here, with the AnnData's names); what valid
    survival data are (time finite and >= 0, event 0/1, with ``require_event`` at least one
    event) is decided by ``desurv._validation.check_survival``.
    """
    cols = list(adata.obs.columns)
    missing = [k for k in (time_key, event_key) if k not in adata.obs.columns]
    if missing:
        raise KeyError(
            f"survival column(s) {missing} not in adata.obs; the columns that exist are {cols}. "
            "Pass time_key= and event_key= naming the follow-up time and the event indicator."
        )
    time = _numeric_obs(adata, time_key, "time")
    event = _numeric_obs(adata, event_key, "event")
    from desurv._validation import check_survival

    time, event = check_survival(
        time,
        event,
        adata.n_obs,
        np.asarray(adata.obs_names.astype(str)),
        require_event=require_event,
        where=f"adata.obs[{time_key!r}], adata.obs[{event_key!r}]: ",
    )
    return time, event.astype(np.int64)


def numeric_values(
    col: pd.Series,
    label: str,
    names: Sequence[Any],
    *,
    allow_missing: bool = False,
    advice: str = "drop those samples or fix the values",
) -> np.ndarray:
    """A survival column as floats, or a ValueError naming ``label`` and the samples
    (``names``, in the column's order) with text values and, unless ``allow_missing``,
    missing ones. Booleans count as 0/1; categories by their labels."""
    if col.dtype == bool:
        col = col.astype(np.int64)
    values = pd.to_numeric(
        col.astype(object) if isinstance(col.dtype, pd.CategoricalDtype) else col,
        errors="coerce",
    )
    values = np.asarray(values, dtype=np.float64)
    orig_missing = np.asarray(col.isna())
    text = (values != values) & ~orig_missing  # NaN after coercion, not missing before
    missing = orig_missing if not allow_missing else np.zeros_like(orig_missing)
    if text.any() or missing.any():
        names = np.asarray(names, dtype=object)
        parts = []
        if text.any():
            parts.append(
                f"non-numeric values in samples {list(names[text][:10])} "
                f"(e.g. {list(col[text].astype(str).unique()[:3])})"
            )
        if missing.any():
            parts.append(f"missing values in samples {list(names[missing][:10])}")
        raise ValueError(
            f"{label} has " + " and ".join(parts) + f"; {advice} (code time as numbers and "
            "event as 0 = censored, 1 = event)"
        )
    return values


def _numeric_obs(adata: AnnData, key: str, what: str) -> np.ndarray:
    values = numeric_values(
        adata.obs[key],
        f"survival {what} column adata.obs[{key!r}]",
        adata.obs_names,
        advice="drop those samples (adata = adata[mask].copy()) or fix the values",
    )
    if not np.isfinite(values).all():
        inf = ~np.isfinite(values)
        raise ValueError(
            f"adata.obs[{key!r}] has infinite values for samples {list(adata.obs_names[inf][:10])}"
        )
    return values


def h5ad_safe(obj: Any) -> Any:
    """Convert a record into types that ``anndata.write_h5ad`` stores.

    DataFrames become dicts of column arrays, lists and tuples become arrays, numpy scalars
    become Python scalars, and ``None`` values of dicts are dropped (their keys are listed
    under ``"_none"``).
    """
    if isinstance(obj, pd.DataFrame):
        return {str(c): h5ad_safe(np.asarray(obj[c])) for c in obj.columns}
    if isinstance(obj, pd.Series):
        return np.asarray(obj)
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        none_keys = []
        for k, v in obj.items():
            if v is None:
                none_keys.append(str(k))
                continue
            out[str(k)] = h5ad_safe(v)
        if none_keys:
            out["_none"] = np.array(none_keys, dtype=object)
        return out
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "US":
            return obj.astype(object)
        return obj
    if isinstance(obj, (pd.Index,)):
        return h5ad_safe(np.asarray(obj))
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        arr = np.asarray(obj)
        if arr.dtype.kind in "US":
            arr = arr.astype(object)
        return arr
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, str | bytes | bool | int | float):
        return obj
    # anything else h5ad cannot store (a numpy Generator passed as random_state, a
    # callable, ...) is kept as its text; the seeds that repeat a fit are recorded apart
    return repr(obj)


def pp_steps(adata: AnnData) -> list[str]:
    """Preprocessing steps recorded on ``adata`` in order (``uns['desurv_pp']['steps']``).

    A scanpy-style ``uns['log1p']`` record without a desurv step list counts as a first
    ``log1p`` step.
    """
    rec = adata.uns.get(PP_STEPS_KEY, {})
    steps = [str(s) for s in np.asarray(rec.get("steps", []), dtype=object).ravel()]
    if "log1p" in adata.uns and "log1p" not in steps:
        steps.insert(0, "log1p")
    return steps


def record_pp_step(adata: AnnData, step: str, layer: str | None) -> None:
    """Append a preprocessing step (and the layer it acted on) to ``uns['desurv_pp']``."""
    rec = dict(adata.uns.get(PP_STEPS_KEY, {}))
    steps = [str(s) for s in np.asarray(rec.get("steps", []), dtype=object).ravel()]
    layers = [str(s) for s in np.asarray(rec.get("layers", []), dtype=object).ravel()]
    steps.append(step)
    layers.append(layer_name(layer))
    rec["steps"] = np.array(steps, dtype=object)
    rec["layers"] = np.array(layers, dtype=object)
    adata.uns[PP_STEPS_KEY] = rec


def package_version() -> str:
    """Version string of desurv."""
    import desurv

    return str(desurv.__version__)
