"""Search space and Bayesian-optimisation engine of the model selection.

Pure, deterministic building blocks (numpy, scipy and scikit-learn only; pandas is imported
inside :func:`gp_lcb_k`, the one function that returns a frame):

- :class:`Param` and :class:`SearchSpace`: the hyperparameters searched, their bounds and
  scales, and the map between parameter dicts and the unit cube ``[0, 1]^d`` the optimiser
  works in (log scale for ``log`` parameters; every integer of an ``integer`` parameter gets
  an equal share of ``[0, 1]``).
- :func:`latin_hypercube`: a Latin-hypercube design of parameter dicts.
- :class:`BayesProposer`: the next point to evaluate, given the history of evaluated points
  and their values (to MAXIMISE, e.g. the cross-validated C-index): Latin-hypercube points
  first, then expected improvement under a Gaussian process (scikit-learn's
  ``GaussianProcessRegressor``). Proposal ``i`` depends only on the seed and the first ``i``
  history points, so a search can be resumed from a checkpoint and proposes the same points.
- :func:`expected_improvement`: the acquisition function.
- :func:`gp_lcb_k`: the paper's choice of k in the simulations: the smallest k whose best
  point's GP mean is within ``z`` GP standard deviations of the best point's.

The Gaussian process used throughout has kernel
``ConstantKernel * Matern(nu=2.5, one length scale per dimension) + WhiteKernel`` on the unit
cube (length scales in [1e-2, 1e2]), ``normalize_y=True``. The white-noise term (the
nugget, between 1e-4 and 10 times the variance of the values) absorbs the noise of
cross-validated estimates; the standard deviations used by the acquisition and by
:func:`gp_lcb_k` are those of the latent function (the nugget excluded). Only scikit-learn's
ConvergenceWarning that a kernel hyperparameter ended at a bound is silenced during fits;
fits and predictions run with one BLAS thread (threadpoolctl, a scikit-learn dependency):
the matrices are small, so threads only cost time, and results do not depend on the
machine's thread count.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import norm, qmc
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "KNOWN_PARAMS",
    "Param",
    "SearchSpace",
    "latin_hypercube",
    "BayesProposer",
    "expected_improvement",
    "gp_lcb_k",
]

#: Hyperparameter names :meth:`SearchSpace.from_bounds` knows (the estimator's names).
KNOWN_PARAMS: tuple[str, ...] = (
    "n_components",
    "alpha",
    "lambda_",
    "l1_ratio",
    "lambda_w",
    "lambda_h",
    "n_top",
)
_INTEGER_PARAMS = frozenset({"n_components", "n_top"})
_LOG_NAMES = frozenset({"lambda_", "lambda_w", "lambda_h"})
# (lowest allowed low, highest allowed high) of each known parameter, for from_bounds.
_DOMAINS: dict[str, tuple[float, float]] = {
    "n_components": (1, math.inf),
    "alpha": (0.0, 1.0),
    "lambda_": (0.0, math.inf),
    "l1_ratio": (0.0, 1.0),
    "lambda_w": (0.0, math.inf),
    "lambda_h": (0.0, math.inf),
    "n_top": (1, math.inf),
}

# Stream tags of the seed sequences, so the design, the candidates and the GP fits of one
# proposer draw independent random numbers.
_TAG_LHS = 0x4C4853  # "LHS"
_TAG_CANDIDATES = 0x43414E  # "CAN"
_TAG_GP = 0x4750  # "GP"
_N_BEST = 5  # perturbations are drawn around this many best points
_PERTURB_SCALES = (0.01, 0.03, 0.1)  # standard deviations in unit space
_N_RESTARTS = 2  # restarts of the GP marginal-likelihood optimiser
_KEY_DECIMALS = 9  # unit coordinates are compared after rounding to this many decimals
_MAX_ENUMERATE = 200_000  # all-integer spaces up to this size are enumerated as a fallback


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter.

    Parameters
    ----------
    name : str
        The hyperparameter's name (the estimator's keyword, e.g. ``"lambda_"``).
    low, high : float
        Bounds, finite, ``low < high``. Both are included unless ``high_open``.
    log : bool, default False
        Search on the log scale (needs ``low > 0``).
    integer : bool, default False
        The parameter takes the integers ``low, low + 1, ..., high`` (integer-valued bounds),
        each with an equal share of the unit interval. Not combinable with ``log`` or
        ``high_open``.
    high_open : bool, default False
        The interval is ``[low, high)``: ``high`` itself is never returned (e.g. ``alpha`` in
        ``[0, 1)``).

    Raises
    ------
    TypeError
        A bound is not a real number, or ``name`` is not a non-empty string.
    ValueError
        A bound is not finite, the bounds are empty or inverted (``low >= high``), ``log``
        with ``low <= 0``, non-integer bounds of an integer parameter, or an integer
        parameter that is also ``log`` or ``high_open``.
    """

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False
    high_open: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Param name must be a non-empty string; got {self.name!r}.")
        for which in ("low", "high"):
            v = getattr(self, which)
            if not _is_real(v):
                raise TypeError(
                    f"parameter {self.name!r}: {which} bound must be a real number; got {v!r}."
                )
            if not math.isfinite(v):
                raise ValueError(
                    f"parameter {self.name!r}: {which} bound must be finite; got {v!r}."
                )
        for flag in ("log", "integer", "high_open"):
            if not isinstance(getattr(self, flag), bool | np.bool_):
                raise TypeError(
                    f"parameter {self.name!r}: {flag} must be a bool; got {getattr(self, flag)!r}."
                )
            object.__setattr__(self, flag, bool(getattr(self, flag)))
        low, high = float(self.low), float(self.high)
        if not low < high:
            kind = "empty" if low == high else "inverted"
            raise ValueError(
                f"parameter {self.name!r} has {kind} bounds [{self.low!r}, {self.high!r}]: "
                "low must be < high (to hold a parameter constant, put it in the search "
                "space's `fixed` instead)."
            )
        if self.log and low <= 0:
            raise ValueError(
                f"parameter {self.name!r} is searched on the log scale, so its low bound must "
                f"be > 0; got bounds [{self.low!r}, {self.high!r}] (e.g. use 1e-3 instead of 0)."
            )
        if self.integer:
            if low != round(low) or high != round(high):
                raise ValueError(
                    f"integer parameter {self.name!r} needs integer bounds; got "
                    f"[{self.low!r}, {self.high!r}]."
                )
            if self.log:
                raise ValueError(
                    f"integer parameter {self.name!r} cannot be log-scaled: each of its "
                    "integers gets an equal share of the unit interval."
                )
            if self.high_open:
                raise ValueError(
                    f"integer parameter {self.name!r} cannot be high_open; use "
                    f"high={int(high) - 1} instead."
                )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def n_levels(self) -> int | None:
        """Number of integers of an integer parameter (``high - low + 1``); None otherwise."""
        return int(self.high - self.low) + 1 if self.integer else None

    @property
    def upper(self) -> float:
        """The largest value :meth:`SearchSpace.from_unit` returns:
        ``nextafter(high, low)`` when ``high_open``, else ``high``."""
        return float(np.nextafter(self.high, self.low)) if self.high_open else self.high

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable description of the parameter."""
        bound = int if self.integer else float
        return {
            "name": self.name,
            "low": bound(self.low),
            "high": bound(self.high),
            "log": self.log,
            "integer": self.integer,
            "high_open": self.high_open,
        }


def _jsonable(value: Any, where: str) -> Any:
    """``value`` with numpy scalars and arrays made plain Python; TypeError if not JSON."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise TypeError(
            f"{where} must be JSON-serialisable (numbers, strings, booleans, None, lists or "
            f"dicts of them; finite numbers), as it goes into the search space's spec(); got "
            f"{value!r} of type {type(value).__name__}."
        ) from None
    return value


@dataclass(frozen=True)
class SearchSpace:
    """The hyperparameters searched, and the ones held constant.

    Parameters
    ----------
    params : tuple of Param
        The searched parameters, in the order of the unit-cube coordinates (a list is
        accepted and converted). Names must be unique.
    fixed : dict, default {}
        Parameters held constant: added to every dict :meth:`from_unit` returns, ignored by
        :meth:`to_unit`. Values must be JSON-serialisable; names must not be searched too.

    Notes
    -----
    The unit coordinate of a continuous parameter is linear in the value (in its logarithm
    for ``log`` parameters). An integer parameter with ``m`` integers maps the ``j``-th
    integer to the centre of ``[j / m, (j + 1) / m)``, so each integer gets an equal share of
    the interval. :meth:`from_unit` clips to the bounds and, for ``high_open`` parameters,
    returns at most ``numpy.nextafter(high, low)`` (the largest float below ``high``; no
    fixed margin): e.g. ``alpha`` is at most ``0.9999999999999999``, never ``1.0``.
    """

    params: tuple[Param, ...]
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        params = self.params
        if isinstance(params, Param):
            params = (params,)
        if not isinstance(params, Sequence) or not all(isinstance(p, Param) for p in params):
            raise TypeError(
                f"SearchSpace params must be a sequence of Param objects; got {self.params!r}."
            )
        params = tuple(params)
        if not params:
            raise ValueError(
                "SearchSpace needs at least one searched Param; a space with only fixed "
                "parameters has nothing to search."
            )
        names = [p.name for p in params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"SearchSpace has duplicated parameter names: {dup}.")
        fixed = {} if self.fixed is None else self.fixed
        if not isinstance(fixed, Mapping):
            raise TypeError(f"SearchSpace fixed must be a dict; got {type(fixed).__name__}.")
        fixed = {str(k): _jsonable(v, f"fixed parameter {k!r}") for k, v in fixed.items()}
        both = sorted(set(fixed) & set(names))
        if both:
            raise ValueError(
                f"parameters {both} are both searched and fixed; keep each in one place."
            )
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "fixed", fixed)

    # -- description ------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Names of the searched parameters, in coordinate order."""
        return tuple(p.name for p in self.params)

    @property
    def dim(self) -> int:
        """Number of searched parameters (the dimension of the unit cube)."""
        return len(self.params)

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable description (e.g. to fingerprint a checkpoint store).

        Returns
        -------
        dict
            ``{"kind": "desurv.selection.SearchSpace", "version": 1, "params": [...],
            "fixed": {...}}``, each param as :meth:`Param.spec`; ``fixed`` sorted by name.
        """
        return {
            "kind": "desurv.selection.SearchSpace",
            "version": 1,
            "params": [p.spec() for p in self.params],
            "fixed": {k: self.fixed[k] for k in sorted(self.fixed)},
        }

    # -- maps between parameter dicts and the unit cube ------------------------------------
    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """Unit-cube coordinates of a parameter dict.

        Parameters
        ----------
        params : dict
            Must hold every searched name; other keys (e.g. the fixed ones) are ignored.
            Values within ``1e-9`` of the bound width outside the bounds are clipped.

        Returns
        -------
        numpy.ndarray of shape (dim,)
            Coordinates in ``[0, 1]``.

        Raises
        ------
        TypeError
            ``params`` is not a dict, or a value is not a real number.
        ValueError
            A searched name is missing, or a value is non-finite, outside its bounds
            (``>= high`` for a high-open parameter), or not an integer for an integer
            parameter.
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict; got {type(params).__name__}.")
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(
                f"params {dict(params)!r} lack the searched parameters {missing} (the space "
                f"searches {list(self.names)})."
            )
        values = np.empty(self.dim)
        for i, p in enumerate(self.params):
            v = params[p.name]
            if isinstance(v, np.ndarray) and v.ndim == 0:
                v = v.item()
            if not _is_real(v):
                raise TypeError(f"parameter {p.name!r} must be a real number; got {v!r}.")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"parameter {p.name!r} must be finite; got {v!r}.")
            tol = 1e-9 * (p.high - p.low)
            if p.high_open and v >= p.high:
                raise ValueError(
                    f"parameter {p.name!r} must be in [{p.low:g}, {p.high:g}) (high-open); "
                    f"got {v!r}."
                )
            if not p.low - tol <= v <= p.high + tol:
                raise ValueError(
                    f"parameter {p.name!r} = {v!r} is outside its bounds [{p.low:g}, {p.high:g}]."
                )
            if p.integer and abs(v - round(v)) > 1e-9:
                raise ValueError(f"integer parameter {p.name!r} got the non-integer {v!r}.")
            values[i] = min(max(v, p.low), p.high)
        return self._values_to_unit(values[None, :])[0]

    def from_unit(self, u: Any) -> dict[str, Any]:
        """Parameter dict of a unit-cube point (the inverse of :meth:`to_unit`).

        Parameters
        ----------
        u : array-like of shape (dim,)
            Coordinates; values outside ``[0, 1]`` are clipped.

        Returns
        -------
        dict
            The searched parameters (``int`` for integer parameters, rounded; ``float``
            otherwise, clipped to the bounds, at most ``nextafter(high, low)`` for high-open
            ones) followed by the fixed parameters.

        Raises
        ------
        ValueError
            ``u`` has the wrong shape or non-finite entries.
        """
        arr = np.asarray(u, dtype=float)
        if arr.shape != (self.dim,):
            raise ValueError(
                f"u must have shape ({self.dim},) for the parameters {list(self.names)}; got "
                f"shape {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"u must be finite; got {arr.tolist()}.")
        values = self._unit_to_values(arr[None, :])[0]
        out: dict[str, Any] = {}
        for p, v in zip(self.params, values):
            out[p.name] = int(round(v)) if p.integer else float(v)
        out.update(self.fixed)
        return out

    def _unit_to_values(self, U: np.ndarray) -> np.ndarray:
        """Values (n, dim) of unit points (n, dim); integers as rounded floats."""
        U = np.clip(U, 0.0, 1.0)
        V = np.empty_like(U)
        for j, p in enumerate(self.params):
            u = U[:, j]
            if p.integer:
                m = p.n_levels
                V[:, j] = p.low + np.clip(np.floor(u * m), 0, m - 1)
            else:
                if p.log:
                    lo, hi = math.log(p.low), math.log(p.high)
                    v = np.exp(lo + u * (hi - lo))
                else:
                    v = p.low + u * (p.high - p.low)
                V[:, j] = np.clip(v, p.low, p.upper)
        return V

    def _values_to_unit(self, V: np.ndarray) -> np.ndarray:
        """Unit points (n, dim) of values (n, dim) inside the bounds."""
        U = np.empty_like(V, dtype=float)
        for j, p in enumerate(self.params):
            v = V[:, j]
            if p.integer:
                U[:, j] = (np.round(v) - p.low + 0.5) / p.n_levels
            elif p.log:
                lo, hi = math.log(p.low), math.log(p.high)
                U[:, j] = (np.log(v) - lo) / (hi - lo)
            else:
                U[:, j] = (v - p.low) / (p.high - p.low)
        return np.clip(U, 0.0, 1.0)

    def _canonical(self, U: np.ndarray) -> np.ndarray:
        """Unit points of the parameter values unit points map to (integer dims centred)."""
        return self._values_to_unit(self._unit_to_values(U))

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def paper_final(cls, fixed: Mapping[str, Any] | None = None) -> SearchSpace:
        """The search space of the final DeSurv fits in the paper.

        ``n_components`` integer in [2, 12], ``alpha`` in [0, 1) (high-open), ``lambda_`` in
        [1e-3, 1e3] (log scale), ``l1_ratio`` in [0, 1], ``n_top`` integer in [50, 300].

        Parameters
        ----------
        fixed : dict, optional
            Parameters held constant (see :class:`SearchSpace`).
        """
        return cls.from_bounds(
            {
                "n_components": (2, 12),
                "alpha": (0.0, 1.0),
                "lambda_": (1e-3, 1e3, "log"),
                "l1_ratio": (0.0, 1.0),
                "n_top": (50, 300),
            },
            fixed=fixed,
        )

    @classmethod
    def paper_simulation(cls, fixed: Mapping[str, Any] | None = None) -> SearchSpace:
        """The search space of the paper's simulation study.

        ``n_components`` (the paper's k) integer in [2, 6], ``alpha`` in [0, 0.95],
        ``lambda_`` in [1e-2, 1e2] (log scale), ``l1_ratio`` in [0, 1], ``n_top`` integer in
        [50, 250].

        Parameters
        ----------
        fixed : dict, optional
            Parameters held constant (see :class:`SearchSpace`).
        """
        return cls.from_bounds(
            {
                "n_components": (2, 6),
                "alpha": (0.0, 0.95),
                "lambda_": (1e-2, 1e2, "log"),
                "l1_ratio": (0.0, 1.0),
                "n_top": (50, 250),
            },
            fixed=fixed,
        )

    @classmethod
    def from_bounds(
        cls,
        bounds: Mapping[str, tuple | list],
        fixed: Mapping[str, Any] | None = None,
    ) -> SearchSpace:
        """A search space from ``{name: (low, high)}`` or ``{name: (low, high, "log")}``.

        ``n_components`` and ``n_top`` are integer parameters; ``alpha`` is high-open when its
        high bound is 1 (the estimator needs ``alpha < 1``). Parameters are ordered as in
        :data:`KNOWN_PARAMS` (whatever the order of ``bounds``), so equal bounds give equal
        spaces and specs.

        Parameters
        ----------
        bounds : dict of str to tuple or list
            Bounds of the searched parameters, names among :data:`KNOWN_PARAMS`.
        fixed : dict, optional
            Parameters held constant (any names; see :class:`SearchSpace`).

        Raises
        ------
        TypeError
            ``bounds`` is not a dict, or a bound is not a tuple or list.
        ValueError
            An unknown name, a malformed bound, bounds outside the parameter's domain
            (``alpha`` and ``l1_ratio`` in [0, 1], penalties >= 0, ``n_components`` and
            ``n_top`` >= 1), or the errors of :class:`Param`.
        """
        if not isinstance(bounds, Mapping):
            raise TypeError(
                f"bounds must be a dict {{name: (low, high)}}; got {type(bounds).__name__}."
            )
        unknown = [n for n in bounds if n not in KNOWN_PARAMS]
        if unknown:
            raise ValueError(
                f"unknown parameter names {unknown}; the known ones are: {', '.join(KNOWN_PARAMS)}."
            )
        params = []
        for name in KNOWN_PARAMS:
            if name not in bounds:
                continue
            b = bounds[name]
            if isinstance(b, np.ndarray):
                b = b.tolist()
            if not isinstance(b, tuple | list):
                raise TypeError(
                    f"bound of {name!r} must be a tuple (low, high) or (low, high, 'log'); "
                    f"got {b!r}."
                )
            if len(b) not in (2, 3) or (len(b) == 3 and b[2] != "log"):
                raise ValueError(
                    f"bound of {name!r} must be (low, high) or (low, high, 'log'); got {b!r}."
                )
            low, high = b[0], b[1]
            if isinstance(low, np.generic):
                low = low.item()
            if isinstance(high, np.generic):
                high = high.item()
            integer = name in _INTEGER_PARAMS
            param = Param(
                name,
                low,
                high,
                log=len(b) == 3,
                integer=integer,
                high_open=name == "alpha" and _is_real(high) and float(high) == 1.0,
            )
            dlo, dhi = _DOMAINS[name]
            if param.low < dlo or param.high > dhi:
                domain = f"[{dlo:g}, {dhi:g}]" if math.isfinite(dhi) else f">= {dlo:g}"
                raise ValueError(
                    f"bounds [{low!r}, {high!r}] of {name!r} leave its domain {domain}."
                )
            params.append(param)
        if not params:
            raise ValueError(f"bounds is empty; give at least one of {', '.join(KNOWN_PARAMS)}.")
        return cls(tuple(params), fixed={} if fixed is None else dict(fixed))


# ------------------------------------------------------------------------------------------
def _check_space(space: Any) -> SearchSpace:
    if not isinstance(space, SearchSpace):
        raise TypeError(f"space must be a SearchSpace; got {type(space).__name__}.")
    return space


def _lhs_unit(d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Latin-hypercube points in ``[0, 1)^d``."""
    try:  # scipy >= 1.15 names it rng; older versions only know seed (same meaning)
        engine = qmc.LatinHypercube(d, rng=rng)
    except TypeError:  # pragma: no cover - old scipy
        engine = qmc.LatinHypercube(d, seed=rng)
    return engine.random(n)


def latin_hypercube(space: SearchSpace, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """A Latin-hypercube design of ``n`` parameter dicts.

    In the unit cube, each of the ``n`` equal bins of every coordinate holds exactly one point
    (``scipy.stats.qmc.LatinHypercube(d, rng=rng)``, scrambled); the points are then mapped by
    :meth:`SearchSpace.from_unit` (so integer parameters are rounded).

    Parameters
    ----------
    space : SearchSpace
    n : int
        Number of points, >= 1.
    rng : numpy.random.Generator
        Source of randomness (consumed).

    Returns
    -------
    list of dict
    """
    space = _check_space(space)
    if not _is_int(n) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)); got "
            f"{type(rng).__name__}."
        )
    U = _lhs_unit(space.dim, int(n), rng)
    return [space.from_unit(u) for u in U]


def expected_improvement(mu: Any, sd: Any, best: float, xi: float = 0.01) -> np.ndarray:
    """Expected improvement over ``best + xi`` of a value to MAXIMISE.

    ``EI = (mu - best - xi) * Phi(z) + sd * phi(z)`` with ``z = (mu - best - xi) / sd``;
    where ``sd == 0`` it is ``max(mu - best - xi, 0)``.

    Parameters
    ----------
    mu, sd : array-like
        Predicted means and standard deviations (broadcast together; ``sd >= 0``).
    best : float
        The incumbent value.
    xi : float, default 0.01
        Exploration margin, in the units of the value (>= 0).

    Returns
    -------
    numpy.ndarray
        Nonnegative expected improvements, of the broadcast shape of ``mu`` and ``sd``.

    Raises
    ------
    ValueError
        ``sd`` has negative entries, or ``best`` or ``xi`` is not finite.
    """
    mu_a, sd_a = np.broadcast_arrays(np.asarray(mu, dtype=float), np.asarray(sd, dtype=float))
    if np.any(sd_a < 0):
        raise ValueError("sd must be >= 0.")
    if not _is_real(best) or not math.isfinite(best):
        raise ValueError(f"best must be a finite number; got {best!r}.")
    if not _is_real(xi) or not math.isfinite(xi):
        raise ValueError(f"xi must be a finite number; got {xi!r}.")
    shape = mu_a.shape
    imp = np.ravel(mu_a) - float(best) - float(xi)
    sd_f = np.ravel(sd_a)
    ei = np.maximum(imp, 0.0)
    pos = sd_f > 0
    if np.any(pos):
        z = imp[pos] / sd_f[pos]
        ei[pos] = imp[pos] * norm.cdf(z) + sd_f[pos] * norm.pdf(z)
    return np.maximum(ei, 0.0).reshape(shape)


def _make_gp(d: int, random_state: int) -> GaussianProcessRegressor:
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
        length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
    ) + WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-4, 1e1))
    return GaussianProcessRegressor(
        kernel=kernel,
        normalize_y=True,
        n_restarts_optimizer=_N_RESTARTS,
        random_state=random_state,
    )


def _one_blas_thread() -> Any:
    """Context limiting BLAS to one thread: the GP's matrices are small, so threads only
    cost time (several-fold here), and one thread keeps the fits reproducible whatever the
    machine's thread count. threadpoolctl is a dependency of scikit-learn."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _fit_gp(X: np.ndarray, y: np.ndarray, random_state: int) -> GaussianProcessRegressor:
    gp = _make_gp(X.shape[1], random_state)
    with _one_blas_thread(), warnings.catch_warnings():
        # only the note that a hyperparameter ended at its bound (e.g. a tiny nugget on
        # noise-free data); every other warning goes through
        warnings.filterwarnings(
            "ignore", message="The optimal value found for dimension", category=ConvergenceWarning
        )
        gp.fit(X, y)
    # the scale normalize_y divided y by (sklearn's private _y_train_std; the same rule here
    # should it ever move: the standard deviation, 1 where it is ~0)
    y_std = getattr(gp, "_y_train_std", None)
    if y_std is None:  # pragma: no cover - sklearn internals changed
        y_std = float(np.std(y))
        y_std = 1.0 if y_std < 10 * np.finfo(float).eps else y_std
    gp.desurv_y_scale_ = float(np.ravel(y_std)[0])
    return gp


def _predict_latent(gp: GaussianProcessRegressor, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GP mean and standard deviation of the latent function (the nugget excluded)."""
    with _one_blas_thread():
        mu, sd_full = gp.predict(X, return_std=True)
    noise = float(gp.kernel_.k2.noise_level)
    var = sd_full**2 - noise * gp.desurv_y_scale_**2
    return mu, np.sqrt(np.clip(var, 0.0, None))


def _derived_int(*entropy: int) -> int:
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def _check_history(
    space: SearchSpace, history_params: Any, history_values: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Unit points (n, dim) and float values (n,) of a history; None values become NaN."""
    if isinstance(history_params, Mapping) or not isinstance(history_params, Sequence):
        raise TypeError(
            "history_params must be a list of parameter dicts; got "
            f"{type(history_params).__name__}."
        )
    if isinstance(history_values, str | bytes) or not hasattr(history_values, "__len__"):
        raise TypeError(
            f"history_values must be a list of floats; got {type(history_values).__name__}."
        )
    if len(history_params) != len(history_values):
        raise ValueError(
            f"history_params ({len(history_params)} points) and history_values "
            f"({len(history_values)} values) must have the same length."
        )
    values = np.empty(len(history_values))
    for i, v in enumerate(history_values):
        if v is None:
            values[i] = np.nan
            continue
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        if not _is_real(v):
            raise TypeError(
                f"history_values[{i}] must be a real number (NaN or None for a failed "
                f"evaluation); got {v!r}."
            )
        values[i] = float(v)
    U = np.empty((len(history_params), space.dim))
    for i, p in enumerate(history_params):
        try:
            U[i] = space.to_unit(p)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"history_params[{i}]: {exc}") from None
    return U, values


def _keys(U: np.ndarray) -> list[tuple[float, ...]]:
    return [tuple(row) for row in np.round(U, _KEY_DECIMALS).tolist()]


class BayesProposer:
    """Proposes the next hyperparameters to evaluate: Latin hypercube, then GP expected
    improvement, for a value to MAXIMISE (e.g. the cross-validated C-index).

    Parameters
    ----------
    space : SearchSpace
    n_initial : int, default 50
        Size of the Latin-hypercube design proposed first (drawn once from the seed).
    n_candidates : int, default 2000
        Random unit points on which expected improvement is maximised (plus
        ``n_candidates // 2`` Gaussian perturbations around the best few evaluated points).
    xi : float, default 0.01
        Exploration margin of :func:`expected_improvement`, in the units of the value.
    random_state : int
        Seed (a nonnegative int; a Generator is refused, as its state would make proposals
        depend on earlier calls).

    Notes
    -----
    :meth:`propose` is a pure function of the seed and the history passed, so a search can
    stop and resume: a fresh proposer with the same arguments given the first ``i`` evaluated
    points proposes the same point ``i``. With ``i < n_initial`` points it returns
    ``design[i]`` (unless that point was already evaluated, see below). From ``n_initial``
    points on, a GP is fitted to the points with finite values (NaN or None values, failed
    evaluations, are left out of the fit, but their points are not proposed again), with a
    ``random_state`` derived from the seed and ``i``; the candidates are drawn from a
    Generator seeded by ``(seed, i)`` and mapped to the parameter values they stand for
    (integers rounded), and the candidate of largest expected improvement over the largest GP
    mean at the evaluated points is returned. A point already evaluated (compared after
    integer rounding) is never proposed: the next best candidate is taken; an all-integer
    space is enumerated when every candidate was evaluated. (Bit-for-bit identical GP fits
    across machines are not guaranteed: the linear algebra of the fit depends on the BLAS.)
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_initial: int = 50,
        n_candidates: int = 2000,
        xi: float = 0.01,
        random_state: int,
    ) -> None:
        self.space = _check_space(space)
        for name, v in (("n_initial", n_initial), ("n_candidates", n_candidates)):
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        if not _is_real(xi) or not math.isfinite(xi) or xi < 0:
            raise ValueError(f"xi must be a finite number >= 0; got {xi!r}.")
        if not _is_int(random_state):
            raise TypeError(
                "random_state must be a nonnegative int (a Generator would make the proposals "
                f"depend on earlier calls and break resuming); got {type(random_state).__name__}."
            )
        if random_state < 0:
            raise ValueError(f"random_state must be a nonnegative int; got {random_state}.")
        self.n_initial = int(n_initial)
        self.n_candidates = int(n_candidates)
        self.xi = float(xi)
        self.random_state = int(random_state)
        gen = np.random.default_rng([self.random_state, _TAG_LHS])
        self._design_unit = space._canonical(_lhs_unit(space.dim, self.n_initial, gen))

    def __repr__(self) -> str:
        return (
            f"BayesProposer(space={list(self.space.names)}, n_initial={self.n_initial}, "
            f"n_candidates={self.n_candidates}, xi={self.xi}, random_state={self.random_state})"
        )

    @property
    def design(self) -> list[dict[str, Any]]:
        """The Latin-hypercube design, as parameter dicts (the first proposals)."""
        return [self.space.from_unit(u) for u in self._design_unit]

    def propose(
        self, history_params: Sequence[Mapping[str, Any]], history_values: Sequence[float]
    ) -> dict[str, Any]:
        """The next parameters to evaluate.

        Parameters
        ----------
        history_params : list of dict
            Parameters evaluated so far, in the order they were proposed.
        history_values : list of float
            Their values (to maximise); NaN or None for failed evaluations.

        Returns
        -------
        dict
            Searched parameters (see :meth:`SearchSpace.from_unit`) and the fixed ones.

        Raises
        ------
        TypeError, ValueError
            Malformed history (lengths differ, points outside the space, non-numbers).
        RuntimeError
            Every point of a finite (all-integer) space has been evaluated.
        """
        space = self.space
        U_hist, values = _check_history(space, history_params, history_values)
        n = len(values)
        evaluated = set(_keys(U_hist))

        if n < self.n_initial:
            order = itertools.chain(range(n, self.n_initial), range(min(n, self.n_initial)))
            keys = _keys(self._design_unit)
            for j in order:
                if keys[j] not in evaluated:
                    return space.from_unit(self._design_unit[j])

        gen = np.random.default_rng([self.random_state, _TAG_CANDIDATES, n])
        finite = np.isfinite(values)
        gp = None
        if finite.sum() >= 2:
            gp = _fit_gp(
                U_hist[finite], values[finite], _derived_int(self.random_state, _TAG_GP, n)
            )
        cands = [gen.random((self.n_candidates, space.dim))]
        if gp is not None:
            mu_hist, _ = _predict_latent(gp, U_hist[finite])
            best = float(np.max(mu_hist))
            top = U_hist[finite][np.argsort(-mu_hist, kind="stable")[:_N_BEST]]
            n_local = max(1, self.n_candidates // 2)
            centres = top[np.arange(n_local) % len(top)]
            scales = np.asarray(_PERTURB_SCALES)[gen.integers(len(_PERTURB_SCALES), size=n_local)]
            cands.append(centres + gen.normal(size=centres.shape) * scales[:, None])
        C = space._canonical(np.vstack(cands))

        def score(points: np.ndarray) -> np.ndarray:
            if gp is None:
                return np.zeros(len(points))
            mu, sd = _predict_latent(gp, points)
            return expected_improvement(mu, sd, best, self.xi)

        found = _best_new(C, score(C), evaluated)
        if found is not None:
            return space.from_unit(found)
        # every candidate was evaluated: a small, all-integer space, or a near-exhausted one
        if all(p.integer for p in space.params):
            total = math.prod(p.n_levels for p in space.params)
            if total <= _MAX_ENUMERATE:
                grids = [(np.arange(p.n_levels) + 0.5) / p.n_levels for p in space.params]
                C = np.array(list(itertools.product(*grids)), dtype=float).reshape(-1, space.dim)
                found = _best_new(C, score(C), evaluated)
                if found is None:
                    raise RuntimeError(
                        f"every one of the {total} points of the all-integer search space "
                        f"{list(space.names)} has been evaluated; there is nothing new to "
                        "propose."
                    )
                return space.from_unit(found)
        for _ in range(20):
            C = space._canonical(gen.random((self.n_candidates, space.dim)))
            found = _best_new(C, score(C), evaluated)
            if found is not None:
                return space.from_unit(found)
        raise RuntimeError(  # pragma: no cover - practically unreachable
            "could not find a point that has not been evaluated yet; the search space "
            f"{list(space.names)} looks exhausted."
        )


def _best_new(C: np.ndarray, scores: np.ndarray, evaluated: set) -> np.ndarray | None:
    """The candidate of highest score (first on ties) not in ``evaluated``, or None."""
    keys = _keys(C)
    for j in np.argsort(-scores, kind="stable"):
        if keys[j] not in evaluated:
            return C[j]
    return None


# ------------------------------------------------------------------------------------------
def _infer_unit(points: list[Mapping[str, Any]]) -> np.ndarray:
    """Unit-scaled features of parameter dicts when no space is given.

    Numeric parameters that vary are min-max scaled to [0, 1] over the points (on the log
    scale for lambda_, lambda_w and lambda_h when all values are > 0); constant parameters
    are dropped; varying non-numeric ones are an error.
    """
    names = list(points[0])
    for i, p in enumerate(points):
        if set(p) != set(names):
            raise ValueError(
                f"params[{i}] has the keys {sorted(p)}, params[0] has {sorted(names)}; every "
                "point must give the same parameters."
            )
    cols = []
    for name in names:
        raw = [p[name] for p in points]
        if all(_is_real(v) for v in raw):
            col = np.asarray(raw, dtype=float)
            if not np.all(np.isfinite(col)):
                raise ValueError(f"parameter {name!r} has non-finite values.")
            if name in _LOG_NAMES and np.all(col > 0):
                col = np.log(col)
            lo, hi = col.min(), col.max()
            if hi > lo:
                cols.append((col - lo) / (hi - lo))
        elif len({json.dumps(_jsonable(v, name), sort_keys=True) for v in raw}) > 1:
            raise ValueError(
                f"parameter {name!r} varies but is not numeric; pass space= to map it."
            )
    if not cols:
        return np.zeros((len(points), 1))
    return np.column_stack(cols)


def gp_lcb_k(
    params: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    *,
    z: float = 1.645,
    random_state: int = 0,
    k_name: str = "n_components",
    space: SearchSpace | None = None,
) -> dict[str, Any]:
    """The paper's choice of k in the simulations: the smallest k statistically tied with the
    best point under a GP fitted to the search history.

    A GP (the kernel of :class:`BayesProposer`) is fitted to all evaluated points with
    finite values. The best point is the evaluated point of largest GP mean; for each k, that
    k's best point is its evaluated point of largest GP mean. The chosen k is the smallest
    whose best point's GP mean is ``>= threshold = mean_best - z * sd_best``, with
    ``sd_best`` the GP standard deviation (of the latent function, nugget excluded) at the
    best point.

    Parameters
    ----------
    params : list of dict
        Evaluated parameters; each holds ``k_name`` (an integer).
    values : list of float
        Their values (to maximise); NaN or None for failed evaluations, which are dropped.
    z : float, default 1.645
        Width of the lower confidence bound, in GP standard deviations (>= 0; 1.645 is a
        one-sided 95% bound).
    random_state : int, default 0
        Seed of the GP fit's optimiser restarts.
    k_name : str, default "n_components"
        The parameter holding k.
    space : SearchSpace, optional
        Maps the points to the unit cube. Without it, every numeric parameter that varies is
        min-max scaled over the points (log scale for ``lambda_``, ``lambda_w``, ``lambda_h``).

    Returns
    -------
    dict
        ``k`` (int, the choice), ``threshold`` (float), ``best_params`` (dict, the best
        point), ``best_k`` (int, its k) and ``per_k`` (pandas DataFrame sorted by k, one row
        per k with columns ``k``, ``gp_mean``, ``gp_sd``, ``value`` (observed), ``n_points``
        and ``params`` (dict) of that k's best point).

    Raises
    ------
    TypeError, ValueError
        Malformed input, fewer than 2 finite values, a non-integer k, negative ``z``.
    """
    import pandas as pd

    if isinstance(params, Mapping) or not isinstance(params, Sequence):
        raise TypeError(f"params must be a list of dicts; got {type(params).__name__}.")
    if not all(isinstance(p, Mapping) for p in params):
        raise TypeError("params must be a list of dicts.")
    if not hasattr(values, "__len__") or len(params) != len(values):
        raise ValueError(
            f"params ({len(params)} points) and values must have the same length; got "
            f"{len(values) if hasattr(values, '__len__') else values!r}."
        )
    if not _is_real(z) or not math.isfinite(z) or z < 0:
        raise ValueError(f"z must be a finite number >= 0; got {z!r}.")
    if not _is_int(random_state) or random_state < 0:
        raise ValueError(f"random_state must be a nonnegative int; got {random_state!r}.")
    vals = np.array([np.nan if v is None else v for v in values], dtype=float)
    keep = np.flatnonzero(np.isfinite(vals))
    if len(keep) < 2:
        raise ValueError(
            f"gp_lcb_k needs at least 2 evaluated points with finite values; got {len(keep)} "
            f"of {len(vals)}."
        )
    points = [params[i] for i in keep]
    y = vals[keep]
    ks = []
    for i, p in zip(keep, points):
        if k_name not in p:
            raise ValueError(f"params[{i}] has no {k_name!r} (k_name); keys: {sorted(p)}.")
        k = p[k_name]
        if isinstance(k, np.generic):
            k = k.item()
        if not _is_real(k) or not float(k).is_integer():
            raise ValueError(f"params[{i}][{k_name!r}] must be an integer; got {k!r}.")
        ks.append(int(k))
    ks_arr = np.asarray(ks)
    if space is not None:
        X = np.vstack([_check_space(space).to_unit(p) for p in points])
    else:
        X = _infer_unit(points)
    gp = _fit_gp(X, y, int(random_state))
    mu, sd = _predict_latent(gp, X)
    ib = int(np.argmax(mu))
    threshold = float(mu[ib] - z * sd[ib])
    rows = []
    for k in np.unique(ks_arr):
        idx = np.flatnonzero(ks_arr == k)
        j = int(idx[np.argmax(mu[idx])])
        rows.append(
            {
                "k": int(k),
                "gp_mean": float(mu[j]),
                "gp_sd": float(sd[j]),
                "value": float(y[j]),
                "n_points": len(idx),
                "params": dict(points[j]),
            }
        )
    per_k: pd.DataFrame = pd.DataFrame(
        rows, columns=["k", "gp_mean", "gp_sd", "value", "n_points", "params"]
    )
    ok = per_k["gp_mean"].to_numpy() >= threshold
    chosen = int(per_k["k"].to_numpy()[ok][0])  # the best point's own k always qualifies
    return {
        "k": chosen,
        "threshold": threshold,
        "best_params": dict(points[ib]),
        "best_k": int(ks_arr[ib]),
        "per_k": per_k,
    }
