"""The paper's simulation design: gene programs, one of which drives survival.

The design (3000 genes, 200 samples, 3 factors, 150 marker genes per factor, 500 background
genes, Gamma loadings, an exponential hazard driven by factor 1, exponential censoring) leaves
some choices open; ours, fixed here and in :func:`simulate`'s docstring:

- Marker genes: 150 per factor; a marker of factor f loads on f with a Gamma(shape 2) weight
  (scale ``marker_scale[f]``, by default 1 for the lethal factor 1 and 3 for factors 2 and
  3, so the lethal program carries the least variance) and on the other factors with a small
  Gamma(shape 1, scale 0.1) weight.
- Background genes: 500 genes driven by two nuisance programs (Gamma(2, scale
  ``background_scale``) loadings) that are unrelated to survival; they carry most of the
  variance, which is what pulls an unsupervised NMF away from the lethal program.
- The remaining genes load weakly (Gamma(1, 0.1)) on every program.
- Activities H: Gamma(shape 2, scale 1) for every program and sample.
- Expression: X = W H scaled to a median of 1, times multiplicative log-normal noise
  (sd ``noise``); genes x samples, nonnegative.
- Survival: hazard exp(b . z) with z the standardised activities of the programs that drive
  risk: ``"primary"``: factor 1 (b = ``effect``); ``"null"``: none; ``"mixed"``: factors 1 and
  2 (b = effect / sqrt 2 each). Event times are exponential with that hazard (base rate 1), and
  censoring times exponential with a rate chosen so that about ``censor_fraction`` of samples are
  censored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedData", "simulate"]

SCENARIOS = ("primary", "null", "mixed")


@dataclass
class SimulatedData:
    """A simulated cohort.

    Attributes
    ----------
    X : pandas.DataFrame, shape (n_samples, n_genes)
        Expression, samples x genes (the estimator's orientation).
    time, event : pandas.Series, shape (n_samples,)
    W : pandas.DataFrame, shape (n_genes, n_factors)
        True loadings (genes x factors; factors first, then the nuisance programs).
    H : pandas.DataFrame, shape (n_factors, n_samples)
        True activities (programs x samples).
    markers : dict[str, list[str]]
        Marker genes of each factor (``"factor1"`` is the lethal one in "primary").
    scenario : str
    """

    X: pd.DataFrame
    time: pd.Series
    event: pd.Series
    W: pd.DataFrame
    H: pd.DataFrame
    markers: dict[str, list[str]]
    scenario: str


def simulate(
    scenario: str = "primary",
    *,
    n_genes: int = 3000,
    n_samples: int = 200,
    n_factors: int = 3,
    n_markers: int = 150,
    n_background: int = 500,
    marker_scale: tuple[float, ...] | None = None,
    background_scale: float = 4.0,
    effect: float = 1.5,
    censor_fraction: float = 0.3,
    noise: float = 0.3,
    random_state: int | np.random.Generator | None = None,
) -> SimulatedData:
    """Simulate expression with gene programs and survival driven by factor 1.

    Parameters
    ----------
    scenario : {"primary", "null", "mixed"}
        Which programs drive the hazard (see the module docstring).
    n_genes, n_samples, n_factors, n_markers, n_background : int
        Sizes (defaults: the paper's 3000, 200, 3, 150, 500).
    marker_scale : tuple of float, optional
        Gamma scale of the marker loadings per factor (default (1, 3, 3, ...)).
    background_scale : float
        Gamma scale of the background genes' loadings on the two nuisance programs.
    effect : float
        Log hazard ratio per standard deviation of the lethal factor's activity.
    censor_fraction : float
        Target share of censored samples.
    noise : float
        Standard deviation of the multiplicative log-normal noise.
    random_state : int, Generator or None

    Returns
    -------
    SimulatedData
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}; got {scenario!r}.")
    needed = n_factors * n_markers + n_background
    if needed > n_genes:
        raise ValueError(
            f"n_genes={n_genes} is too small for {n_factors} x {n_markers} markers plus "
            f"{n_background} background genes ({needed})."
        )
    rng = np.random.default_rng(random_state)
    if marker_scale is None:
        marker_scale = (1.0,) + (3.0,) * (n_factors - 1)
    n_prog = n_factors + 2
    W = rng.gamma(1.0, 0.1, size=(n_genes, n_prog))
    markers: dict[str, list[int]] = {}
    for f in range(n_factors):
        rows = np.arange(f * n_markers, (f + 1) * n_markers)
        W[rows, f] = rng.gamma(2.0, marker_scale[f], size=rows.size)
        markers[f"factor{f + 1}"] = rows.tolist()
    bg = np.arange(n_factors * n_markers, needed)
    W[bg, n_factors:] = rng.gamma(2.0, background_scale, size=(bg.size, 2))
    H = rng.gamma(2.0, 1.0, size=(n_prog, n_samples))
    X = W @ H
    X = X / np.median(X) * np.exp(rng.normal(0.0, noise, size=X.shape))

    z = (H - H.mean(axis=1, keepdims=True)) / H.std(axis=1, keepdims=True)
    if scenario == "primary":
        lp = effect * z[0]
    elif scenario == "mixed":
        lp = effect / np.sqrt(2) * (z[0] + z[1])
    else:
        lp = np.zeros(n_samples)
    t_event = rng.exponential(1.0 / np.exp(lp))
    # censoring rate solving mean P(C < T) = censor_fraction (P = c / (c + h) for exponentials)
    h = np.exp(lp)
    lo, hi = 1e-6, 1e3
    for _ in range(100):
        c = np.sqrt(lo * hi)
        if np.mean(c / (c + h)) < censor_fraction:
            lo = c
        else:
            hi = c
    t_cens = rng.exponential(1.0 / c, size=n_samples)
    time = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(int)

    genes = [f"g{i:04d}" for i in range(n_genes)]
    samples = [f"s{i:03d}" for i in range(n_samples)]
    programs = [f"factor{f + 1}" for f in range(n_factors)] + ["nuisance1", "nuisance2"]
    return SimulatedData(
        X=pd.DataFrame(X.T, index=samples, columns=genes),
        time=pd.Series(time, index=samples, name="time"),
        event=pd.Series(event, index=samples, name="event"),
        W=pd.DataFrame(W, index=genes, columns=programs),
        H=pd.DataFrame(H, index=programs, columns=samples),
        markers={k: [genes[i] for i in v] for k, v in markers.items()},
        scenario=scenario,
    )
