"""The main job: DeSurv against plain NMF on the paper's simulation design.

For each scenario and replicate: simulate the paper's design (``desurv.simulate``: 3000 genes x
200 samples, 3 factors, factor 1's markers drive the hazard in "primary", nothing in "null"),
split 140 / 60 into train and test, choose DeSurv's ``alpha`` by a small cross-validation on
the training samples (stratified folds, held-out Harrell's C of X^T W beta, one start per fold,
all folds of an alpha fitted as one batch), fit DeSurv at that alpha and NMF (alpha = 0, then
the same penalised Cox fit on its scores) with k = 3 and ``n_init`` starts on the training
samples, and report

- the test and training C-index (Harrell's, higher risk = shorter survival);
- the precision of the lethal program: for every learned factor, the share of its top
  ``n_top`` genes by the authors' specificity score that are true survival genes, the maximum
  over factors (``desurv.simulate.lethal_precision``);

then the median over replicates beside the paper's figures (primary: test C 0.837 for DeSurv
against 0.724 for NMF, precision 0.50 against 0.07; null: about 0.5 for both). Those figures
come from the paper's full Bayesian search (k, alpha, lambda, xi, n_top; 5 folds x 30 starts);
this job fixes k = 3, lambda_ = 0.1 and xi = 0.5 and searches alpha only.

By default the job runs the paper's algorithm (``solver="mu"``, a warm-up of exactly 50
iterations, ``max_iter`` 1500), whose NMF figure it reproduces; that NMF is stopped by the
iteration cap, not by convergence (``docs/model.md``, "The solver"). ``solver="hals"`` runs the
package's default recipe instead (HALS, the warm-up until the NMF part has converged, at most
half of ``max_iter``).
"""

from __future__ import annotations

import logging
import time as _time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from desurv._core.cox import SurvivalData
from desurv._core.solver import SOLVERS, Hyper, fit_batch, uniform_start
from desurv.estimator import DeSurv
from desurv.exceptions import DeSurvWarning
from desurv.metrics import concordance_index
from desurv.simulate import lethal_precision, simulate, specificity_top_genes

__all__ = ["run_demo", "cv_alpha", "specificity_top_genes", "PAPER"]

logger = logging.getLogger("desurv")

# the paper's medians (simulation study), to print beside ours: never computed here
PAPER = {
    ("primary", "DeSurv"): {"test_cindex": 0.837, "precision": 0.50},
    ("primary", "NMF (alpha=0)"): {"test_cindex": 0.724, "precision": 0.07},
    ("null", "DeSurv"): {"test_cindex": 0.5, "precision": np.nan},
    ("null", "NMF (alpha=0)"): {"test_cindex": 0.5, "precision": np.nan},
}


def _stratified_folds(event: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold label (n,) per sample: events and censored samples dealt out separately."""
    fold = np.empty(event.size, dtype=int)
    for group in (np.flatnonzero(event > 0), np.flatnonzero(event <= 0)):
        order = rng.permutation(group)
        fold[order] = (np.arange(order.size) + rng.integers(n_folds)) % n_folds
    return fold


def recipe(solver: str, max_iter: int) -> dict:
    """The warm-up of the demo's fits: the paper's 50 iterations for "mu", the package's
    default (until the NMF part has converged, at most half of ``max_iter``) for "hals"."""
    if solver == "mu":
        return {"warmup_iter": 50, "warmup_tol": None}
    return {"warmup_iter": max_iter // 2, "warmup_tol": 1e-6}


def _cv_one_alpha(
    X, time, event, folds, alpha, k, lambda_, l1_ratio, max_iter, seed, solver="mu"
):
    n_folds = int(folds.max()) + 1
    mask = np.stack([(folds != f).astype(float) for f in range(n_folds)])
    W0, H0, b0 = uniform_start(X, k, np.random.default_rng(seed), batch=n_folds)
    hp = Hyper(alpha=alpha, lambda_=lambda_, l1_ratio=l1_ratio)
    warm = recipe(solver, max_iter)
    res = fit_batch(
        X, SurvivalData.from_arrays(time, event), W0, H0, b0, hp, mask=mask, tol=1e-6,
        max_iter=max_iter, warmup=warm["warmup_iter"], warmup_tol=warm["warmup_tol"],
        **SOLVERS[solver],
    )  # fmt: skip
    scores = []
    for f in range(n_folds):
        held = folds == f
        risk = X[:, held].T @ res.W[f] @ res.beta[f]
        scores.append(concordance_index(time[held], event[held], risk))
    return scores


def cv_alpha(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    alphas: tuple[float, ...],
    *,
    n_components: int = 3,
    lambda_: float = 0.1,
    l1_ratio: float = 0.5,
    n_folds: int = 3,
    max_iter: int = 1500,
    random_state: int | np.random.SeedSequence = 0,
    n_jobs: int = 1,
    solver: str = "mu",
) -> pd.DataFrame:
    """Held-out C-index of DeSurv for each alpha, by stratified K-fold cross-validation.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_genes)
        Nonnegative expression, samples x genes.
    time, event : ndarray, shape (n_samples,)
    alphas : tuple of float
        Survival weights to compare.
    n_components, lambda_, l1_ratio, max_iter :
        As in :class:`desurv.DeSurv` (one start per fold, the warm-up of :func:`recipe`).
    n_folds : int, default 3
        Folds, stratified by event.
    random_state : int or SeedSequence
        Seeds the folds and the starts (the same for every alpha).
    n_jobs : int, default 1
        Processes over the alphas.
    solver : {"mu", "hals"}, default "mu"
        The optimiser (:class:`desurv.DeSurv`'s ``solver``).

    Returns
    -------
    pandas.DataFrame
        One row per alpha: ``alpha``, ``cv_cindex`` (mean over folds), ``se`` (sd over folds /
        sqrt(n_folds)) and ``fold_cindex`` (list).
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {tuple(SOLVERS)}, got {solver!r}")
    seq = np.random.SeedSequence(random_state) if isinstance(random_state, int) else random_state
    fold_seq, start_seq = seq.spawn(2)
    Xc = np.ascontiguousarray(np.asarray(X, dtype=float).T)  # genes x samples
    keep = Xc.max(axis=1) > 0
    Xc = Xc[keep]
    folds = _stratified_folds(np.asarray(event), n_folds, np.random.default_rng(fold_seq))
    args = [
        (Xc, np.asarray(time, float), np.asarray(event, float), folds, float(a), n_components,
         lambda_, l1_ratio, max_iter, start_seq, solver)
        for a in alphas
    ]  # fmt: skip
    if n_jobs == 1:
        results = [_cv_one_alpha(*a) for a in args]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs)(delayed(_cv_one_alpha)(*a) for a in args)
    rows = [
        {
            "alpha": float(a),
            "cv_cindex": float(np.mean(s)),
            "se": float(np.std(s, ddof=1) / np.sqrt(len(s))),
            "fold_cindex": [round(float(v), 4) for v in s],
        }
        for a, s in zip(alphas, results)
    ]
    return pd.DataFrame(rows)


def _evaluate(model: DeSurv, data, n_top: int) -> dict:
    test = data.test
    prec, _ = lethal_precision(model.W_, data.X.columns, data.survival_genes, n_top)
    return {
        "test_cindex": model.score(data.X.loc[test], data.time[test], data.event[test]),
        "train_cindex": model.train_cindex_,
        "precision": prec,
        "n_iter": model.n_iter_,
    }


def run_demo(
    seed: int = 0,
    scenarios: list[str] | tuple[str, ...] = ("primary", "null"),
    *,
    n_replicates: int = 3,
    alphas: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95),
    n_components: int = 3,
    n_init: int = 5,
    max_iter: int = 1500,
    n_top: int = 150,
    n_jobs: int = 1,
    out: str | Path | None = None,
    verbose: bool = True,
    solver: str = "mu",
) -> pd.DataFrame:
    """Run the comparison and print a table; returns it as a DataFrame.

    Parameters
    ----------
    seed : int
        Seeds the simulations, the folds and the fits: the same seed gives the same table.
    scenarios : sequence of {"primary", "null", "mixed"}
    n_replicates : int, default 3
        Simulated cohorts per scenario (medians are taken over them).
    alphas : tuple of float
        DeSurv's candidate survival weights (chosen by 3-fold cross-validation).
    n_components, n_init, max_iter : int
        k, the starts and the iteration cap of the final fits.
    n_top : int
        Top genes compared with the true survival genes.
    n_jobs : int, default 1
        Processes for the cross-validation (over alphas).
    out : path, optional
        Folder to write ``demo_results.csv`` (one row per scenario, replicate and method)
        into.
    verbose : bool
        Print the tables.
    solver : {"mu", "hals"}, default "mu"
        The optimiser of every fit (:class:`desurv.DeSurv`'s ``solver``).

    Returns
    -------
    pandas.DataFrame
        One row per (scenario, replicate, method) with alpha, test_cindex, train_cindex,
        precision, n_iter and seconds.
    """
    rows = []
    for i, scenario in enumerate(scenarios):
        for rep in range(n_replicates):
            seq = np.random.SeedSequence([seed, i, rep])
            sim_seq, cv_seq, fit_seq = seq.spawn(3)
            data = simulate(scenario, random_state=sim_seq)
            train = data.train
            X, t, e = data.X.loc[train], data.time[train], data.event[train]
            start = _time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeSurvWarning)
                cv = cv_alpha(
                    X.to_numpy(), t.to_numpy(), e.to_numpy(), alphas, n_components=n_components,
                    random_state=cv_seq, n_jobs=n_jobs, solver=solver,
                )  # fmt: skip
            best = float(cv.loc[cv["cv_cindex"].idxmax(), "alpha"])
            cv_seconds = _time.perf_counter() - start
            logger.info("%s replicate %d: CV chose alpha %.2f", scenario, rep, best)
            for method, a in (("DeSurv", best), ("NMF (alpha=0)", 0.0)):
                start = _time.perf_counter()
                model = DeSurv(
                    n_components, alpha=a, max_iter=max_iter, tol=1e-6, n_init=n_init,
                    solver=solver, **recipe(solver, max_iter),
                    random_state=np.random.SeedSequence(fit_seq.entropy),
                )  # fmt: skip
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeSurvWarning)
                    model.fit(X, t, e)
                row = {"scenario": scenario, "replicate": rep, "method": method, "alpha": a}
                row.update(_evaluate(model, data, n_top))
                row["seconds"] = _time.perf_counter() - start + (cv_seconds if a else 0.0)
                rows.append(row)
    table = pd.DataFrame(rows)
    if verbose:
        _print(table, seed, n_components, n_top, alphas, solver)
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        table.to_csv(path / "demo_results.csv", index=False)
    return table


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Medians over replicates per (scenario, method), with the paper's figures beside."""
    med = (
        table.groupby(["scenario", "method"], sort=False)[["test_cindex", "precision"]]
        .median()
        .reset_index()
    )
    med["paper_test_cindex"] = [
        PAPER.get((s, m), {}).get("test_cindex", np.nan) for s, m in zip(med.scenario, med.method)
    ]
    med["paper_precision"] = [
        PAPER.get((s, m), {}).get("precision", np.nan) for s, m in zip(med.scenario, med.method)
    ]
    return med


def _print(table: pd.DataFrame, seed: int, k: int, n_top: int, alphas, solver: str) -> None:
    recipe = (
        "the paper's algorithm: solver 'mu', a 50-iteration warm-up, stopped by max_iter on "
        "this design (docs/model.md)" if solver == "mu"
        else f"solver {solver!r}, the package's default recipe (the NMF part converged first)"
    )
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(
            f"DeSurv vs NMF on the paper's simulation design (seed {seed}; 3000 genes, "
            f"200 samples, 140/60 split, k={k}, top {n_top} genes, alpha by 3-fold CV over "
            f"{list(alphas)}; {recipe})"
        )
        print(table.to_string(index=False))
        print("\nMedians over replicates (paper's figures beside, from its full search):")
        print(summarise(table).to_string(index=False))
    med = summarise(table).set_index(["scenario", "method"])
    for scenario in table.scenario.unique():
        ds = med.loc[(scenario, "DeSurv")]
        nmf = med.loc[(scenario, "NMF (alpha=0)")]
        gain = ds["test_cindex"] - nmf["test_cindex"]
        print(
            f"{scenario}: median test C-index DeSurv {ds['test_cindex']:.3f} vs NMF "
            f"{nmf['test_cindex']:.3f} (difference {gain:+.3f}); median precision of the "
            f"lethal program {ds['precision']:.2f} vs {nmf['precision']:.2f}"
        )
