"""The paper's simulation design: gene programs, one of which drives survival.

The design follows the authors' simulation code (rashidlab/DeSurv-paper):

- 3000 genes, 200 samples, 3 factors. Each factor has 150 marker genes, drawn at random and
  disjoint; 500 background genes are drawn from the rest; the remaining 2050 are noise genes.
- W (genes x factors): a marker gets a Gamma(shape 3, rate 0.8) loading on its own factor and
  Gamma(shape 1, rate 20) on the others; background genes Gamma(shape 2, rate 1) on every
  factor; noise genes Gamma(shape 1, rate 20) on every factor. Each column of W is then
  scaled to unit L2 norm. H (samples x factors): Gamma(shape 2, rate 2).
- Survival is driven by the noise-free X_true = W H^T (genes x samples): with W~ the rows of W
  restricted to the survival genes (other rows zeroed), the scores X_true^T W~ are z-scored
  column by column and lp = z beta with beta = (2, 0, 0). Event times are exponential with
  rate 0.05 exp(lp), censoring times exponential with rate 0.02 (about 40 % censored).
- Observed X = W H^T + a per-gene baseline N(3, 1) + N(0, 0.01^2) noise, clipped at 0, used
  without any transform.
- Scenarios: ``"primary"`` (survival genes = factor 1's 150 markers, beta = (2, 0, 0));
  ``"null"`` (beta = 0: survival independent of X); ``"mixed"`` (beta = (2, 0, 0) with factor
  1's survival set = its 150 markers plus 150 random background genes).
- A random 140 / 60 train / test split; the precision of a learned program is the share of
  its top genes by the authors' specificity score that are true survival genes
  (:func:`lethal_precision`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SimulatedData", "simulate", "specificity_top_genes", "lethal_precision"]

SCENARIOS = ("primary", "null", "mixed")


@dataclass
class SimulatedData:
    """A simulated cohort.

    Attributes
    ----------
    X : pandas.DataFrame, shape (n_samples, n_genes)
        Observed expression, samples x genes (the estimator's orientation), nonnegative.
    time, event : pandas.Series, shape (n_samples,)
        Follow-up time and event indicator (1 = event).
    W : pandas.DataFrame, shape (n_genes, n_factors)
        True loadings (genes x factors), unit-norm columns.
    H : pandas.DataFrame, shape (n_factors, n_samples)
        True activities (factors x samples).
    markers : dict[str, list[str]]
        Marker genes of each factor (``"factor1"``, ...).
    background : list[str]
        Background genes.
    survival_genes : list[str]
        Factor 1's survival set, whose scores drive the hazard (in ``"null"`` the set the
        hazard would use, beta being 0 there).
    beta : ndarray, shape (n_factors,)
        True coefficients of the z-scored survival scores.
    linear_predictor : pandas.Series, shape (n_samples,)
    train, test : ndarray of str
        Sample names of the random train / test split.
    scenario : str
    """

    X: pd.DataFrame
    time: pd.Series
    event: pd.Series
    W: pd.DataFrame
    H: pd.DataFrame
    markers: dict[str, list[str]]
    background: list[str]
    survival_genes: list[str]
    beta: np.ndarray
    linear_predictor: pd.Series
    train: np.ndarray
    test: np.ndarray
    scenario: str


def _check_int(name: str, v, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {v!r}.")
    return int(v)


def simulate(
    scenario: str = "primary",
    *,
    n_genes: int = 3000,
    n_samples: int = 200,
    n_factors: int = 3,
    n_markers: int = 150,
    n_background: int = 500,
    effect: float = 2.0,
    n_train: int | None = None,
    random_state: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> SimulatedData:
    """Simulate expression with gene programs and survival, as in the DeSurv paper.

    Parameters
    ----------
    scenario : {"primary", "null", "mixed"}, default "primary"
        Which genes drive the hazard (see the module docstring).
    n_genes, n_samples, n_factors, n_markers, n_background : int
        Sizes (defaults: the paper's 3000, 200, 3, 150, 500). Markers and background genes
        must fit: ``n_factors * n_markers + n_background <= n_genes``.
    effect : float, default 2.0
        The first coefficient of beta (log hazard ratio per sd of factor 1's survival score);
        0 in the ``"null"`` scenario whatever is given.
    n_train : int, optional
        Size of the training part of the random split (the rest is the test part); default
        70 % of the samples (the paper's 140 of 200).
    random_state : int, SeedSequence, Generator or None
        Seeds every draw: the same seed gives the same cohort.

    Returns
    -------
    SimulatedData
        X is samples x genes; W genes x factors; H factors x samples.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}; got {scenario!r}.")
    n_genes = _check_int("n_genes", n_genes, 1)
    n_samples = _check_int("n_samples", n_samples, 4)
    n_factors = _check_int("n_factors", n_factors, 1)
    n_markers = _check_int("n_markers", n_markers, 1)
    n_background = _check_int("n_background", n_background, 0)
    n_train = round(0.7 * n_samples) if n_train is None else _check_int("n_train", n_train, 2)
    needed = n_factors * n_markers + n_background
    if needed > n_genes:
        raise ValueError(
            f"n_genes={n_genes} is too small for {n_factors} x {n_markers} markers plus "
            f"{n_background} background genes ({needed}); raise n_genes or lower the others."
        )
    if n_train >= n_samples:
        raise ValueError(f"n_train={n_train} must be below n_samples={n_samples}.")
    if scenario == "mixed" and n_background < n_markers:
        raise ValueError(
            f"the mixed scenario adds {n_markers} background genes to factor 1's survival "
            f"set; n_background={n_background} is too small."
        )
    rng = np.random.default_rng(random_state)

    perm = rng.permutation(n_genes)
    marker_rows = [perm[f * n_markers : (f + 1) * n_markers] for f in range(n_factors)]
    bg_rows = perm[n_factors * n_markers : needed]
    # numpy's gamma takes a scale: rate r means scale 1 / r
    W = rng.gamma(1.0, 1.0 / 20.0, size=(n_genes, n_factors))  # noise genes (and off-factor)
    for f, rows in enumerate(marker_rows):
        W[rows, f] = rng.gamma(3.0, 1.0 / 0.8, size=rows.size)
    W[bg_rows] = rng.gamma(2.0, 1.0, size=(bg_rows.size, n_factors))
    W /= np.linalg.norm(W, axis=0, keepdims=True)
    H = rng.gamma(2.0, 1.0 / 2.0, size=(n_samples, n_factors))  # samples x factors
    X_true = W @ H.T  # genes x samples

    surv_rows = marker_rows[0]
    if scenario == "mixed":
        surv_rows = np.concatenate([surv_rows, rng.choice(bg_rows, n_markers, replace=False)])
    W_surv = np.zeros_like(W)
    W_surv[surv_rows] = W[surv_rows]
    scores = X_true.T @ W_surv  # samples x factors
    sd = scores.std(axis=0, ddof=1)
    z = (scores - scores.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    beta = np.zeros(n_factors)
    if scenario != "null":
        beta[0] = float(effect)
    lp = z @ beta
    t_event = rng.exponential(1.0 / (0.05 * np.exp(lp)))
    t_cens = rng.exponential(1.0 / 0.02, size=n_samples)
    time = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(int)

    baseline = rng.normal(3.0, 1.0, size=(n_genes, 1))
    X = np.maximum(X_true + baseline + rng.normal(0.0, 0.01, size=X_true.shape), 0.0)

    genes = np.array([f"g{i:04d}" for i in range(n_genes)])
    samples = np.array([f"s{i:03d}" for i in range(n_samples)])
    factors = [f"factor{f + 1}" for f in range(n_factors)]
    split = rng.permutation(n_samples)
    return SimulatedData(
        X=pd.DataFrame(X.T, index=samples, columns=genes),
        time=pd.Series(time, index=samples, name="time"),
        event=pd.Series(event, index=samples, name="event"),
        W=pd.DataFrame(W, index=genes, columns=factors),
        H=pd.DataFrame(H.T, index=factors, columns=samples),
        markers={factors[f]: genes[np.sort(r)].tolist() for f, r in enumerate(marker_rows)},
        background=genes[np.sort(bg_rows)].tolist(),
        survival_genes=genes[np.sort(surv_rows)].tolist(),
        beta=beta,
        linear_predictor=pd.Series(lp, index=samples, name="linear_predictor"),
        train=samples[np.sort(split[:n_train])],
        test=samples[np.sort(split[n_train:])],
        scenario=scenario,
    )


def specificity_top_genes(W: np.ndarray, factor: int, n_top: int) -> np.ndarray:
    """Indices of the ``n_top`` genes with the highest specificity for ``factor``.

    ``W`` is genes x k; the score is the authors' specificity score of
    :func:`desurv.tl._top_genes.specificity_scores` (each column scaled by its maximum, minus
    the gene's largest scaled value in any other factor). Ties keep the gene order.
    """
    from desurv.tl._top_genes import specificity_scores

    score = specificity_scores(np.asarray(W, dtype=float))[:, factor]
    return np.argsort(-score, kind="stable")[:n_top]


def lethal_precision(W: np.ndarray, genes, survival_genes, n_top: int = 150) -> tuple[float, int]:
    """Precision of the lethal program, as in the paper.

    For every learned factor (column of the genes x k ``W``), the share of its top ``n_top``
    genes by :func:`specificity_top_genes` that are in ``survival_genes``; the maximum over
    factors.

    Returns
    -------
    precision : float
    factor : int
        The column that attains it.
    """
    genes = np.asarray(genes)
    truth = np.isin(genes, np.asarray(survival_genes))
    prec = [float(truth[specificity_top_genes(W, j, n_top)].mean()) for j in range(W.shape[1])]
    best = int(np.argmax(prec))
    return prec[best], best
