"""Tables of per-subject values (covariates, strata) as DataFrames: the one ``as_frame``.

It lives here, in a module that imports only numpy and pandas, because both sides of the
survival statistics need it under the house rules (DESIGN.md): :mod:`r_bridge` may import
only rpy2 (lazily), numpy and pandas, so it uses this module directly; :mod:`desurv` may
import ``r_bridge`` only lazily, so the Python engines (:mod:`desurv.stats`) import it
inside their functions. Importing it never imports rpy2 or starts R.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["as_frame"]


def as_frame(values: Any, n: int, prefix: str = "x", *, what: str = "values") -> pd.DataFrame:
    """One row per subject, as a DataFrame with a fresh ``0..n-1`` index.

    Parameters
    ----------
    values : None, Series, DataFrame or array-like (1-D or 2-D)
        ``None`` gives an empty frame of ``n`` rows (no columns); a Series one column (its
        name kept); a DataFrame its columns (names kept); an array its columns, named
        ``prefix + "1"``, ``prefix + "2"``, ... (as the Python Cox engine names them, so
        that R's and Python's term names agree).
    n : int
        Number of subjects: the rows expected.
    prefix : str, default "x"
        Column-name prefix for array input.
    what : str, default "values"
        Name of the argument in the error message.

    Returns
    -------
    DataFrame
        ``n`` rows, index ``RangeIndex(n)``.

    Raises
    ------
    ValueError
        When the number of rows is not ``n``.
    """
    if values is None:
        return pd.DataFrame(index=pd.RangeIndex(n))
    if isinstance(values, pd.Series):
        values = values.to_frame()
    if isinstance(values, pd.DataFrame):
        df = values.reset_index(drop=True)
    else:
        arr = np.asarray(values)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"{what} must be 1-D or 2-D (one row per subject), got {arr.ndim}-D")
        df = pd.DataFrame(arr, columns=[f"{prefix}{j + 1}" for j in range(arr.shape[1])])
    if len(df) != n:
        raise ValueError(f"{what}: expected {n} rows (one per subject), got {len(df)}")
    return df
