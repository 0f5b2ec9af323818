"""The alpha path of the scale-free model on TCGA-PAAD and on the paper's simulation.

For alpha in {0, 0.05, 0.1, 0.2, ..., 0.9} (and 0.95, 0.99 on the simulation, to show where
the cross-validated C-index turns), prints the training C-index, the 5-fold cross-validated
C-index (mean over folds of the held-out Harrell's C of X^T W beta, one start per fold, folds
stratified by event: ``desurv.demo.cv_alpha``), the relative reconstruction error
||X - WH||_F / ||X||_F, the share of the gene-wise variance left unexplained (the NMF part of
the loss over 1 - alpha) and the standardised coefficients, then checks the claims of the
design:

- TCGA-PAAD (``../shared/data/pdac/tcga_paad_3k``; the paper's preprocessing: log1p, top 2000
  genes by rank(mean) + rank(variance), ranks within each sample scaled to (0, 1]), k = 3,
  10 starts, the default lambda_ = 0.1 and l1_ratio = 0.5: no alpha <= 0.5 gives a training C
  >= 0.95, and alpha = 0.9 gives a training C above alpha = 0's;
- the simulation's primary scenario (seed 0, the 140 training samples): the cross-validated
  C-index peaks at an alpha strictly inside (0, 1).

Every fit uses ``--solver`` (default "hals", the package's default recipe: the warm-up until
the NMF part has converged; "mu": the paper's recipe, a 50-iteration warm-up).

Run: ``python benchmarks/alpha_path.py [--quick] [--n-jobs N] [--solver mu]`` (about 4 minutes with
``--n-jobs 2`` on the 2-core machine; ``--quick`` runs three alphas with short fits and checks
nothing).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import desurv
from desurv import DeSurv
from desurv.demo import cv_alpha, recipe
from desurv.exceptions import DeSurvWarning
from desurv.simulate import simulate

ALPHAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def tcga_paad() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TCGA-PAAD with the paper's preprocessing, samples x genes."""
    ad = desurv.datasets.load("tcga_paad_3k")
    desurv.pp.log1p(ad)
    desurv.pp.filter_genes(ad, n_top=2000)
    desurv.pp.rank_transform(ad)
    X = np.asarray(ad.X, dtype=float) / ad.n_vars  # ranks scaled to (0, 1]
    return X, ad.obs["time"].to_numpy(float), ad.obs["event"].to_numpy(float)


def simulation() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = simulate("primary", random_state=0)
    tr = d.train
    return d.X.loc[tr].to_numpy(), d.time[tr].to_numpy(), d.event[tr].to_numpy()


def path(
    X: np.ndarray,
    t: np.ndarray,
    e: np.ndarray,
    alphas: tuple[float, ...],
    *,
    n_init: int,
    max_iter: int,
    n_jobs: int,
    solver: str = "hals",
) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        cv = cv_alpha(X, t, e, alphas, n_folds=5, max_iter=max_iter, random_state=0,
                      n_jobs=n_jobs, solver=solver)  # fmt: skip
        rows = []
        for a in alphas:
            m = DeSurv(3, alpha=a, n_init=n_init, max_iter=max_iter, random_state=0,
                       solver=solver, **recipe(solver, max_iter))  # fmt: skip
            m.fit(X, t, e)
            resid = X.T - m.W_ @ m.H_
            rows.append(
                {
                    "alpha": a,
                    "train_C": m.train_cindex_,
                    "rel_error": float(np.linalg.norm(resid) / np.linalg.norm(X)),
                    "unexplained": float(m.loss_history_["nmf"].iloc[-1] / (1 - a)),
                    "beta_std": np.round(m.coef_std_, 2).tolist(),
                    "n_iter": m.n_iter_,
                }
            )
    out = pd.DataFrame(rows)
    out.insert(2, "cv_C", cv["cv_cindex"].to_numpy())
    out.insert(3, "cv_se", cv["se"].to_numpy())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 alphas, short fits, no checks")
    parser.add_argument("--n-jobs", type=int, default=1, help="processes for the CV (default 1)")
    parser.add_argument("--solver", choices=["hals", "mu"], default="hals")
    args = parser.parse_args()
    alphas = (0.0, 0.5, 0.9) if args.quick else ALPHAS
    pd.set_option("display.width", 140)
    pd.set_option("display.precision", 3)

    start = time.perf_counter()
    X, t, e = tcga_paad()
    tc = path(X, t, e, alphas, n_init=10, max_iter=100 if args.quick else 1000, n_jobs=args.n_jobs,
              solver=args.solver)  # fmt: skip
    print(f"solver {args.solver!r}")
    print(f"TCGA-PAAD, {X.shape[0]} samples x {X.shape[1]} genes, k = 3, lambda_ 0.1, xi 0.5")
    print(tc.to_string(index=False), flush=True)

    sim_alphas = alphas if args.quick else alphas + (0.95, 0.99)
    X, t, e = simulation()
    sm = path(
        X, t, e, sim_alphas, n_init=5, max_iter=100 if args.quick else 1500, n_jobs=args.n_jobs,
        solver=args.solver,
    )
    print(f"\nSimulation (primary, seed 0), {X.shape[0]} training samples x {X.shape[1]} genes")
    print(sm.to_string(index=False))
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.quick:
        return

    low = tc[tc.alpha <= 0.5]
    a0 = float(tc.loc[tc.alpha == 0, "train_C"].iloc[0])
    a9 = float(tc.loc[tc.alpha == 0.9, "train_C"].iloc[0])
    best = float(sm.loc[sm.cv_C.idxmax(), "alpha"])
    checks = [
        (
            f"TCGA-PAAD: largest training C at alpha <= 0.5 is {low.train_C.max():.3f} (< 0.95)",
            bool(low.train_C.max() < 0.95),
        ),
        (f"TCGA-PAAD: training C at alpha 0.9 {a9:.3f} > alpha 0 {a0:.3f}", a9 > a0),
        (
            f"simulation: CV C-index peaks at alpha {best} ({sm.cv_C.max():.3f}), inside (0, 1)",
            0 < best < 1 and best != max(sim_alphas),
        ),
    ]
    for text, ok in checks:
        print(("holds: " if ok else "FAILS: ") + text)


if __name__ == "__main__":
    main()
