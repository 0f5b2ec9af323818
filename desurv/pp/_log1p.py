"""``desurv.pp.log1p``: log(1 + x) that records itself the way scanpy does."""

from __future__ import annotations

import logging

import numpy as np
from anndata import AnnData
from scipy import sparse

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
    """log(1 + X), divided by log(base) when a base is given (in X's float dtype)."""
    out = np.log1p(X)
    if base is not None:
        out /= np.log(base)
    return out


def _float_dtype(mat) -> type:
    """float32 stays float32 (as in scanpy); every other dtype is computed in float64."""
    return np.float32 if getattr(mat, "dtype", None) == np.float32 else np.float64


def _stored(adata: AnnData, layer: str | None):
    """The matrix object as stored, without densifying it (None when absent)."""
    if layer is None:
        return adata.X
    return adata.layers[layer] if layer in adata.layers else None


def _check_sparse(mat: sparse.spmatrix, adata: AnnData, what: str) -> None:
    """The dense checks (finite, nonnegative) run on the rows that hold a bad stored value
    only, so that the messages (counts, samples, genes, minimum) are those of dense input;
    an implicit zero is always valid."""
    coo = mat.tocoo()
    bad = ~np.isfinite(coo.data) | (coo.data < 0)
    if not bad.any():
        return
    rows = np.unique(coo.row[bad])
    sub = adata[rows]
    dense = sparse.csr_matrix(mat)[rows].toarray()
    check_finite(dense, sub, what)
    check_nonnegative(dense, what, sub)


def log1p(
    adata: AnnData,
    *,
    base: float | None = None,
    layer: str | None = None,
    force: bool = False,
    copy: bool = False,
) -> AnnData | None:
    """Logarithmise the expression matrix: ``x <- log(1 + x)`` (natural log unless ``base``).

    As in scanpy, a scipy.sparse matrix stays sparse (only its stored values are logged:
    ``log1p(0) = 0``, so zeros stay implicit) and a float32 matrix stays float32; other
    dtypes (integers, float64) give float64.

    Parameters
    ----------
    adata : AnnData
        Samples x genes, dense or scipy.sparse. Values must be nonnegative (counts, TPM,
        RSEM, ...).
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
    mat = _stored(adata, layer)
    what = f"{name} (log1p input)"
    if sparse.issparse(mat):
        X = mat.astype(_float_dtype(mat), copy=True)
        if X.format not in ("csr", "csc"):
            X = X.tocsr()
        X.sum_duplicates()  # log1p(a) + log1p(b) != log1p(a + b)
        _check_sparse(X, adata, what)
        X.data = log1p_values(X.data, base)
    else:
        X = get_matrix(adata, layer, dtype=_float_dtype(mat))  # missing layer: its KeyError
        check_finite(X, adata, what)
        check_nonnegative(X, what, adata)  # the one message
        X = log1p_values(X, base)
    set_matrix(adata, X, layer)
    rec: dict = {}
    if base is not None:
        rec["base"] = float(base)
    rec["layers"] = np.array(sorted(set(done) | {name}), dtype=object)
    adata.uns["log1p"] = rec
    record_pp_step(adata, "log1p", layer)
    logger.info("log1p applied to %s (base %s)", name, "e" if base is None else base)
    return adata if copy else None
