"""``desurv.pp.log1p``: log(1 + x) that records itself the way scanpy does."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData

from desurv._anndata import (
    check_adata,
    check_finite,
    check_nonnegative,
    get_matrix,
    layer_name,
    record_pp_step,
    set_matrix,
)

logger = logging.getLogger("desurv")


def logged_layers(adata: AnnData) -> list[str]:
    """Layers recorded as log-transformed in ``adata.uns['log1p']`` (``"X"`` for adata.X).

    A scanpy record (``uns['log1p']`` without a ``layers`` entry) counts as ``["X"]``.
    """
    rec = adata.uns.get("log1p")
    if rec is None:
        return []
    layers = rec.get("layers") if hasattr(rec, "get") else None
    if layers is None:
        return ["X"]
    return [str(s) for s in np.asarray(layers, dtype=object).ravel()]


def log1p_values(X: np.ndarray, base: float | None) -> np.ndarray:
    """log(1 + X), divided by log(base) when a base is given."""
    out = np.log1p(X)
    if base is not None:
        out /= np.log(base)
    return out


def log1p(
    adata: AnnData,
    *,
    base: float | None = None,
    layer: str | None = None,
    force: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Logarithmise the expression matrix: ``x <- log(1 + x)`` (natural log unless ``base``).

    Parameters
    ----------
    adata : AnnData
        Samples x genes. Values must be nonnegative (counts, TPM, RSEM, ...).
    base : float, optional
        Base of the logarithm; ``None`` (default) is the natural log, as in scanpy.
    layer : str, optional
        Transform ``adata.layers[layer]`` instead of ``adata.X`` (default).
    force : bool, default False
        Log again even though ``adata.uns['log1p']`` says this layer was already logged.
    copy : bool, default False
        Return a transformed copy instead of modifying ``adata``.

    Returns
    -------
    AnnData or None
        The copy when ``copy=True``, else ``None``. Writes (samples x genes):

        - ``adata.X`` or ``adata.layers[layer]``: the logged values;
        - ``adata.uns['log1p']``: ``{'base': base}`` (``base`` omitted for the natural log,
          as scanpy leaves it ``None``) and ``'layers'``: the layers logged (``'X'`` for X);
        - ``adata.uns['desurv_pp']``: ``'steps'`` and ``'layers'`` arrays with ``'log1p'``
          appended.

    Raises
    ------
    ValueError
        If the layer was already logged (and ``force`` is False), has negative or missing
        values, or ``base`` is not a positive number other than 1.
    """
    check_adata(adata)
    if base is not None and (not np.isfinite(base) or base <= 0 or base == 1):
        raise ValueError(f"base must be a positive number other than 1 or None, got {base!r}")
    name = layer_name(layer)
    done = logged_layers(adata)
    if name in done and not force:
        raise ValueError(
            f"{name} was already log-transformed (adata.uns['log1p'] = "
            f"{dict(adata.uns['log1p'])}); "
            "logging twice is almost always a mistake. Pass force=True to log again."
        )
    if copy:
        adata = adata.copy()
    X = get_matrix(adata, layer)
    check_finite(X, adata, f"{name} (log1p input)")
    check_nonnegative(X, f"{name} (log1p input)", adata)  # the one message
    set_matrix(adata, log1p_values(X, base), layer)
    rec: dict = {}
    if base is not None:
        rec["base"] = float(base)
    rec["layers"] = np.array(sorted(set(done) | {name}), dtype=object)
    adata.uns["log1p"] = rec
    record_pp_step(adata, "log1p", layer)
    logger.info("log1p applied to %s (base %s)", name, "e" if base is None else base)
    return adata if copy else None
