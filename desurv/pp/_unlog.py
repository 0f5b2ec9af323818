"""``desurv.pp.unlog``: a cohort's log scale (e.g. log2(TPM + 0.001)) back to linear values.

Also two internal helpers for survival times (not exported from :mod:`desurv.pp`):
:func:`time_unit` (the unit of a cohort's times) and :func:`convert_time`.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from anndata import AnnData
from scipy import sparse

from data_registry.registry import TIME_UNITS, normalise_time_unit
from desurv._anndata import (
    PP_STEPS_KEY,
    check_adata,
    check_finite,
    get_matrix,
    layer_name,
    record_pp_step,
    set_matrix,
)
from desurv.exceptions import DataWarning
from desurv.pp._log1p import logged_layers

logger = logging.getLogger("desurv")

#: Results within this fraction of the offset of 0 are rounding of the stored floor
#: log_base(offset) and become 0 (log2(0.001) stored with four decimals, -9.9658, gives
#: 2**x - 0.001 = -1.1e-5 * 0.001; with five, -9.96578, +3.0e-6 * 0.001); further below 0 the
#: offset does not fit the data and unlog refuses.
NEGATIVE_RTOL = 1e-3

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_FN = r"(?P<fn>log_?2|log_?10|log_?e|ln|log1p|log)"
# a log form at the start of the text: log2(X + c), log2(c + X), log2(X), log1p(X)
_FORM_RE = re.compile(rf"^\s*{_FN}\s*\(\s*(?P<inner>[^()]*?)\s*\)", re.I)
# a bare function (only as the ``scale`` argument): "log2" = log2(x), "log1p" = ln(x + 1)
_BARE_RE = re.compile(rf"^\s*{_FN}\s*$", re.I)
_INNER_PLUS_C = re.compile(rf"^(?P<q>.*?\S)\s*\+\s*(?P<c>{_NUM})$")
_INNER_C_PLUS = re.compile(rf"^(?P<c>{_NUM})\s*\+\s*(?P<q>\S.*)$")
_NOT_LOGGED_RE = re.compile(r"\bnot\s+log|\bnon-?log\b|\bunlogged\b|\blinear scale\b", re.I)

ACCEPTED_FORMS = (
    '"log2(x+0.001)"',
    '"log2(TPM + 0.001)"',
    '"log2(x+1)"',
    '"log10(x+1)"',
    '"ln(x+1)"',
    '"log1p"',
    '"log2" (offset 0, i.e. log2(x))',
    '"log10"',
    '"ln"',
)


@dataclass(frozen=True)
class LogScale:
    """A parsed log scale: values are ``log_base(quantity + offset)``."""

    base: float
    base_name: str  # "2", "10" or "e"
    offset: float
    quantity: str  # what is inside the log ("TPM", "x", ...)

    @property
    def form(self) -> str:
        """Canonical text, e.g. ``log2(TPM + 0.001)``."""
        fn = "ln" if self.base_name == "e" else f"log{self.base_name}"
        if self.offset == 0:
            return f"{fn}({self.quantity})"
        return f"{fn}({self.quantity} + {self.offset:g})"


def _base_of(fn: str) -> tuple[float, str] | None:
    key = fn.lower().replace("_", "")
    if key == "log2":
        return 2.0, "2"
    if key == "log10":
        return 10.0, "10"
    if key in ("ln", "loge", "log1p"):
        return math.e, "e"
    return None  # "log" without a base


def _parse_form(text: str, *, bare: bool) -> LogScale | None:
    """Parse a log form at the start of ``text`` (and a bare function when ``bare``).

    Returns None if no recognised form is there. Raises ValueError for ``log(...)``
    without a base, which is ambiguous (natural log in R and numpy, often log2 in papers).
    """
    m = _FORM_RE.match(text)
    if m is None and bare:
        b = _BARE_RE.match(text)
        if b is not None:
            fn = b.group("fn")
            base = _base_of(fn)
            if base is None:
                raise ValueError(
                    f"scale {text!r}: 'log' without a base is ambiguous; pass \"ln\", "
                    "\"log2\" or \"log10\" (with an offset if there is one, e.g. \"log2(x+1)\")"
                )
            offset = 1.0 if fn.lower() == "log1p" else 0.0
            return LogScale(base[0], base[1], offset, "x")
    if m is None:
        return None
    fn, inner = m.group("fn"), m.group("inner").strip()
    if fn.lower() == "log1p":
        if not inner or _INNER_PLUS_C.match(inner) or _INNER_C_PLUS.match(inner):
            return None
        return LogScale(math.e, "e", 1.0, inner)
    plus_c = _INNER_PLUS_C.match(inner) or _INNER_C_PLUS.match(inner)
    if plus_c is not None:
        quantity, offset = plus_c.group("q").strip(), float(plus_c.group("c"))
    elif inner and re.fullmatch(r"[A-Za-z][^+\-*/]*", inner):
        quantity, offset = inner, 0.0
    else:
        return None
    if re.fullmatch(_NUM, quantity):  # log2(1 + 0.5): no quantity at all
        return None
    base = _base_of(fn)
    if base is None:
        raise ValueError(
            f"scale {text.strip()!r}: 'log' without a base is ambiguous (natural log in R and "
            f"numpy, often log2 in papers); pass scale=\"ln({quantity} + {offset:g})\" or "
            f"scale=\"log2({quantity} + {offset:g})\""
        )
    return LogScale(base[0], base[1], offset, quantity)


def parse_scale(scale: str) -> LogScale:
    """Parse a ``scale`` argument of :func:`unlog` (see there for the accepted forms).

    Raises
    ------
    ValueError
        If the text is not one of the accepted forms.
    """
    parsed = None
    if isinstance(scale, str):
        form = _FORM_RE.match(scale)
        trailing = form is not None and scale[form.end():].strip()
        parsed = None if trailing else _parse_form(scale, bare=True)
    if parsed is None:
        raise ValueError(
            f"scale {scale!r} is not a recognised log scale; accepted forms: "
            f"{', '.join(ACCEPTED_FORMS)} (base 2, 10 or e, a nonnegative offset)"
        )
    return parsed


def _recorded_scale(adata: AnnData) -> LogScale | None:
    """The scale recorded in ``uns['value_scale']``; None if it says the values are not logged.

    Raises ValueError if there is no record or it does not state base and offset.
    """
    text = adata.uns.get("value_scale")
    if text is None:
        raise ValueError(
            "adata.uns has no 'value_scale' record (cohorts merged with different scales lose "
            "it), so the log scale to undo is unknown; pass it, e.g. scale=\"log2(x+0.001)\" "
            "for log2(TPM + 0.001), scale=\"log2(x+1)\", or scale=\"log2\" meaning offset 0"
        )
    text = str(text)
    try:
        parsed = _parse_form(text, bare=False)
    except ValueError as err:  # log(...) without a base
        raise ValueError(f"adata.uns['value_scale'] = {text!r}: {err}") from None
    if parsed is not None:
        return parsed
    if _NOT_LOGGED_RE.search(text):
        return None
    raise ValueError(
        f"adata.uns['value_scale'] = {text!r} does not state the log base and offset (a "
        "form such as 'log2(TPM + 0.001)' at its start), so unlog cannot tell what to undo; "
        "if you know the scale, pass it: scale=\"log2(x+1)\" for log2(x + 1), "
        "scale=\"log2(x+0.001)\" for log2(x + 0.001), or scale=\"log2\" meaning offset 0"
    )


def _unlogged_layers(adata: AnnData) -> list[str]:
    rec = adata.uns.get("unlog")
    if rec is None or not hasattr(rec, "get"):
        return []
    layers = rec.get("layers")
    if layers is None:
        layers = [rec.get("layer", "X")]
    return [str(s) for s in np.asarray(layers, dtype=object).ravel()]


def _value_steps(adata: AnnData, name: str) -> list[str]:
    """Value-changing preprocessing steps recorded on layer ``name``."""
    rec = adata.uns.get(PP_STEPS_KEY, {})
    steps = [str(s) for s in np.asarray(rec.get("steps", []), dtype=object).ravel()]
    layers = [str(s) for s in np.asarray(rec.get("layers", []), dtype=object).ravel()]
    done = [s for s, ly in zip(steps, layers) if ly == name and s not in ("filter_genes",)]
    if name in logged_layers(adata) and "log1p" not in done:
        done.insert(0, "log1p")
    return done


def _to_linear(x: np.ndarray, scale: LogScale) -> np.ndarray:
    """``base**x - offset`` in float64 (overflow gives inf, checked by the caller)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        if scale.base_name == "e" and scale.offset == 1.0:
            return np.expm1(x)
        if scale.base_name == "2":
            powered = np.exp2(x)
        elif scale.base_name == "e":
            powered = np.exp(x)
        else:
            powered = np.power(scale.base, x)
    return powered - scale.offset


def _power(scale: LogScale) -> str:
    """``'2**x - 0.001'``: the inverse as text."""
    base = "e" if scale.base_name == "e" else scale.base_name
    return f"{base}**x - {scale.offset:g}" if scale.offset else f"{base}**x"


def _checked(lin: np.ndarray, x: np.ndarray, scale: LogScale, where: str) -> np.ndarray:
    """Refuse overflow and clearly negative results, clip rounding below 0 to 0."""
    inf = ~np.isfinite(lin)
    if inf.any():
        raise ValueError(
            f"{where}: {int(inf.sum())} values overflow {_power(scale)} (largest x "
            f"{float(np.max(x)):.4g}); these values do not look log-scaled "
            "(already linear?); check adata.uns['value_scale'] and the scale argument"
        )
    tol = NEGATIVE_RTOL * scale.offset
    neg = lin < -tol
    if neg.any():
        floor = math.log(scale.offset) / math.log(scale.base) if scale.offset > 0 else -math.inf
        raise ValueError(
            f"{where}: {int(neg.sum())} values would be clearly negative after unlogging "
            f"{scale.form} (lowest {float(lin.min()):.4g}; values below "
            f"log_{scale.base_name}({scale.offset:g}) = {floor:.4f}, lowest "
            f"{float(np.min(x)):.4f}); the offset {scale.offset:g} is larger than the data "
            "allow, so the scale is probably a different one (a smaller offset, or log with "
            "offset 0: scale=\"log2\")"
        )
    lin[lin <= tol] = 0.0  # rounding on either side of 0 (the stored floor, e.g. -9.96578)
    return lin


def unlog(
    adata: AnnData,
    *,
    scale: str | None = None,
    layer: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Undo a cohort's log scale: ``x <- base**x - offset`` (e.g. log2(TPM + 0.001) -> TPM).

    NMF needs nonnegative, linear-scale input; cohorts such as PRINCE and IMvigor210 are
    stored as log2(TPM + 0.001) (``adata.uns['value_scale']``, written by the registry loader).
    Run this first, before :func:`desurv.pp.log1p` or any other step.

    Parameters
    ----------
    adata : AnnData
        Samples x genes, on the log scale to undo; no missing values.
    scale : str, optional
        The log scale of the values. ``None`` (default): read ``adata.uns['value_scale']``,
        which must *start* with a form stating base and offset, such as
        ``"log2(TPM + 0.001) ..."`` or ``"log2(RSEM normalized count + 1) ..."``. A record
        that says the values are not logged (``"not logged"``, ``"non-log"``) leaves
        ``adata`` unchanged (logged at INFO level on the ``"desurv"`` logger) and records
        nothing. Any other record (e.g. ``"log2 RMA"``, whose offset is not stated) or no
        record is an error. A string gives the scale explicitly: ``"log2(x+0.001)"``,
        ``"log2(x+1)"``, ``"log10(x+1)"``, ``"ln(x+1)"``, ``"log1p"`` (= ln(x+1)), or a bare
        base ``"log2"``, ``"log10"``, ``"ln"`` meaning offset 0. ``log(...)`` without a
        base is refused as ambiguous.
    layer : str, optional
        Transform ``adata.layers[layer]`` instead of ``adata.X`` (default). The recorded
        ``value_scale`` is taken to describe the layer as well.
    copy : bool, default False
        Return a transformed copy instead of modifying ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes (samples x genes):

        - ``adata.X`` or ``adata.layers[layer]``: ``base**x - offset``, float64 (float32
          input stays float32). 2**log2(0.001) - 0.001 is 0 only up to rounding of the
          stored log value: results within ``NEGATIVE_RTOL * offset`` (1e-3 times the offset)
          of 0, below or above, become exactly 0; results further below 0 are an error.
          A sparse matrix stays sparse when its zeros map to 0 (offset 1);
          otherwise it is made dense, with a :class:`~desurv.exceptions.DataWarning`;
        - ``adata.uns['unlog']``: ``'scale'`` (the text parsed: the ``value_scale`` record or
          the ``scale`` argument), ``'form'`` (canonical, e.g. ``'log2(TPM + 0.001)'``),
          ``'base'``, ``'offset'``, ``'layer'`` (``'X'`` for X), ``'source'``
          (``'value_scale'`` or ``'argument'``) and ``'layers'`` (every layer unlogged);
        - ``adata.uns['value_scale']`` (when ``layer`` is None): e.g.
          ``'TPM (linear scale, from log2(TPM + 0.001) by desurv.pp.unlog)'``;
        - ``adata.uns['desurv_pp']``: ``'steps'`` and ``'layers'`` arrays with ``'unlog'``
          appended. :func:`desurv.tl.score` does not repeat this step on a new cohort (each
          cohort has its own stored scale): unlog each cohort yourself.

    Raises
    ------
    ValueError
        The scale is unknown or unparseable (the message quotes the record and says what to
        pass); the layer was already unlogged (``uns['unlog']``) or already transformed by
        another step (log1p, quantile_normalize, rank_transform); values are missing,
        overflow (not log-scaled) or would be clearly negative (the offset does not fit).
    KeyError
        ``layer`` does not exist.
    """
    check_adata(adata)
    name = layer_name(layer)
    if layer is not None and layer not in adata.layers:
        get_matrix(adata, layer)  # raises the house KeyError naming the layers
    if name in _unlogged_layers(adata):
        rec = adata.uns["unlog"]
        raise ValueError(
            f"{name} was already unlogged (adata.uns['unlog']: {rec.get('form', '')!r}, "
            f"base {rec.get('base')}, offset {rec.get('offset')}); unlogging twice would "
            "exponentiate linear values. Start again from the loaded cohort if needed."
        )
    done = _value_steps(adata, name)
    if done:
        raise ValueError(
            f"{name} was already transformed by {done} (adata.uns['desurv_pp']); unlog undoes "
            "the cohort's stored scale and must come first: unlog the loaded cohort, then "
            "run the other steps"
        )
    recorded = adata.uns.get("value_scale")
    if scale is None:
        parsed = _recorded_scale(adata)
        source = "value_scale"
        text = str(recorded)
        if parsed is None and layer is not None and "by desurv.pp.unlog" in text:
            raise ValueError(
                f"adata.uns['value_scale'] = {text!r} describes adata.X, which desurv.pp.unlog "
                f"already converted; it says nothing about layer {layer!r}: pass its scale, "
                f"e.g. scale=\"{adata.uns.get('unlog', {}).get('form', 'log2(x+1)')}\""
            )
        if parsed is None:
            logger.info(
                "unlog: adata.uns['value_scale'] = %r says the values are not logged; %s left "
                "unchanged, nothing recorded", text, name,
            )
            return adata.copy() if copy else None
    else:
        parsed = parse_scale(scale)
        source = "argument"
        text = str(scale)
        said = "" if recorded is None else str(recorded)
        try:
            stated = _parse_form(said, bare=False)
        except ValueError:
            stated = None
        if stated is not None and (stated.base, stated.offset) != (parsed.base, parsed.offset):
            warnings.warn(
                f"scale={scale!r} differs from adata.uns['value_scale'] = {said!r}; "
                f"unlogging {name} as {parsed.form} because scale= was given",
                DataWarning,
                stacklevel=2,
            )
        elif (stated is None and _NOT_LOGGED_RE.search(said)
                and "by desurv.pp.unlog" not in said):  # not X unlogged before a layer
            warnings.warn(
                f"adata.uns['value_scale'] = {str(recorded)!r} says the values are not "
                f"logged; unlogging {name} as {parsed.form} anyway because scale= was given",
                DataWarning,
                stacklevel=2,
            )

    if copy:
        adata = adata.copy()
    mat = adata.X if layer is None else adata.layers[layer]
    if mat is None:
        get_matrix(adata, layer)  # raises the house "is empty" error
    keep32 = getattr(mat, "dtype", None) == np.float32
    out_dtype = np.float32 if keep32 else np.float64
    where = f"{name} (unlog input)"
    if sparse.issparse(mat) and parsed.offset == 1.0:
        out = mat.tocsr() if mat.format not in ("csr", "csc") else mat.copy()
        data = np.asarray(out.data, dtype=np.float64)
        if not np.isfinite(data).all():
            check_finite(out.toarray(), adata, where)
        out = out.astype(out_dtype)
        out.data = _checked(_to_linear(data, parsed), data, parsed, where).astype(out_dtype)
        values: Any = out
    else:
        if sparse.issparse(mat):
            warnings.warn(
                f"{name} is sparse, but its zeros are log-scale values that {_power(parsed)} "
                f"maps to {1.0 - parsed.offset:g}, not 0 (offset {parsed.offset:g}), so the "
                f"result ({adata.n_obs} x {adata.n_vars}) is stored dense",
                DataWarning,
                stacklevel=2,
            )
        X = get_matrix(adata, layer)
        check_finite(X, adata, where)
        values = _checked(_to_linear(X, parsed), X, parsed, where).astype(out_dtype, copy=False)
    set_matrix(adata, values, layer)

    layers = sorted(set(_unlogged_layers(adata)) | {name})
    adata.uns["unlog"] = {
        "scale": text,
        "form": parsed.form,
        "base": float(parsed.base),
        "offset": float(parsed.offset),
        "layer": name,
        "source": source,
        "layers": np.array(layers, dtype=object),
    }
    if layer is None:
        quantity = "linear values" if parsed.quantity.lower() == "x" else parsed.quantity
        adata.uns["value_scale"] = (
            f"{quantity} (linear scale, from {parsed.form} by desurv.pp.unlog)"
        )
    record_pp_step(adata, "unlog", layer)
    logger.info("unlog: %s from %s to linear (%s)", name, parsed.form, source)
    return adata if copy else None


# ---------------------------------------------------------------- survival time units
def time_unit(adata: AnnData, *, time_key: str = "time") -> str | None:
    """The canonical unit (``"days"``, ``"weeks"``, ``"months"``, ``"years"``) of the
    survival times in ``adata.obs[time_key]``, or None when it is not recorded.

    Looked up, in order: ``adata.uns['units'][time_key]`` (the registry loader writes
    ``{'time': 'months', 'time_original_unit': ...}``: it converts every cohort to months);
    then a single-valued ``obs`` column ``f"{time_key}_unit"`` (when ``time_key`` is not
    ``"time"``) or ``"time_unit"``. A recorded unit that is not recognised, or a unit column
    with several units, gives None.

    Parameters
    ----------
    adata : AnnData
        Samples x genes with survival times in ``obs``.
    time_key : str, default "time"
        Column of ``adata.obs`` with the times.

    Returns
    -------
    str or None
        One of the keys of ``data_registry.registry.TIME_UNITS``, or None.
    """
    check_adata(adata)
    units = adata.uns.get("units")
    if isinstance(units, Mapping) and time_key in units:
        return _canonical(units[time_key])
    cols = ["time_unit"] if time_key == "time" else [f"{time_key}_unit", "time_unit"]
    for col in cols:
        if col in adata.obs.columns:
            vals = {str(v).strip().lower() for v in adata.obs[col].dropna()}
            canon = {_canonical(v) for v in vals}
            return canon.pop() if len(canon) == 1 else None
    return None


def _canonical(unit: Any) -> str | None:
    try:
        return normalise_time_unit(str(unit))
    except ValueError:
        return None


def convert_time(values: Any, from_unit: str, to_unit: str) -> np.ndarray:
    """Convert survival times between units (``days``, ``weeks``, ``months``, ``years`` and
    the aliases of ``data_registry.registry.normalise_time_unit``).

    Uses the registry's lengths (``TIME_UNITS``): a week is 7 days, a year 365.25 days and
    a month 365.25 / 12 = 30.4375 days, as the loader does.

    Parameters
    ----------
    values : array-like of float
        Times in ``from_unit``; missing values stay NaN.
    from_unit, to_unit : str
        Units.

    Returns
    -------
    ndarray of float64
        The times in ``to_unit`` (a new array).

    Raises
    ------
    ValueError
        If a unit is not recognised.
    """
    src, dst = normalise_time_unit(from_unit), normalise_time_unit(to_unit)
    out = np.array(values, dtype=np.float64, copy=True)
    if src != dst:
        out *= TIME_UNITS[src] / TIME_UNITS[dst]
    return out
