"""Model selection on the paper's simulation and on TCGA-PAAD, beside the paper's figures.

1. Simulation (primary scenario, seed 0, the 140 training samples): a grid over k {2, 3, 4}
   and alpha {0, 0.5, 0.8, 0.9} by 5-fold CV; checks that the best alpha > 0 beats alpha = 0
   in CV C-index and that the chosen k (one-standard-error rule) is the planted k = 3 or
   that k = 3 is within one SE of the best.
2. TCGA-PAAD (``../shared/data/pdac/tcga_paad_3k``, 130 samples): log1p, then inside each
   training fold the paper's gene filter (top 2000 by mean rank + variance rank) and the
   rank transform; a grid over k 2..6 and alpha {0, 0.1, ..., 0.9}; prints the CV C-index
   per k for the best alpha > 0 (DeSurv) and for alpha = 0 (NMF), beside the paper's
   k = 3 figures (0.663 +- 0.008 against 0.574 +- 0.011, on 273 TCGA + CPTAC samples, 30
   starts per fold).

Both use fewer starts per fold than the paper (``--n-starts``, default 5) and a bounded
``max_iter`` so that the whole script runs in minutes on 2 cores.

``--solver`` picks the recipe: "hals" (the default: HALS, the warm-up until the NMF part has
converged) or "mu" (the paper's: multiplicative steps, a 50-iteration warm-up);
``--warm-start alpha`` adds warm starts along the alpha path (``DeSurvSearch``'s
``warm_start``).

Run: ``python benchmarks/select_paper.py [--n-jobs 2] [--n-starts 5] [--only sim|tcga]
[--solver hals|mu] [--warm-start alpha]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import desurv
from desurv.exceptions import DeSurvWarning
from desurv.selection import DeSurvSearch, FoldPreprocess
from desurv.simulate import simulate

PAPER_K3 = {"DeSurv": (0.663, 0.008), "NMF (alpha=0)": (0.574, 0.011)}


def per_k(summary, positive: bool):
    sub = summary[(summary["alpha"] > 0) if positive else (summary["alpha"] == 0)]
    best = sub.loc[sub.groupby("n_components")["mean_cindex"].idxmax()].sort_values("n_components")
    return best[["n_components", "alpha", "mean_cindex", "se_cindex"]]


def simulation(n_jobs: int, n_starts: int, **opts) -> None:
    d = simulate("primary", random_state=0)
    tr = d.train
    X, t, e = d.X.loc[tr].to_numpy(), d.time[tr].to_numpy(), d.event[tr].to_numpy()
    t0 = time.perf_counter()
    s = DeSurvSearch(
        n_components=[2, 3, 4],
        alpha=[0.0, 0.5, 0.8, 0.9],
        n_top=[100],
        n_folds=5,
        n_starts=n_starts,
        max_iter=1000,
        random_state=0,
        n_jobs=n_jobs,
        progress=False,
        **opts,
    ).fit(X, t, e)
    secs = time.perf_counter() - t0
    summ = s.summary_
    print(f"simulation (primary, seed 0, {X.shape[1]} genes x {X.shape[0]} samples), {secs:.0f} s:")
    print(
        summ[["n_components", "alpha", "mean_cindex", "se_cindex"]].round(3).to_string(index=False)
    )
    best0 = summ[summ["alpha"] == 0]["mean_cindex"].max()
    bestp = summ[summ["alpha"] > 0]["mean_cindex"].max()
    k3 = summ[summ["n_components"] == 3]["mean_cindex"].max()
    print(
        f"  best alpha > 0: {bestp:.3f}; best alpha = 0: {best0:.3f}; k by the 1-SE rule: "
        f"{s.k_1se_} (threshold {s.result_.one_se_threshold_:.3f}); best at k = 3: {k3:.3f}"
    )
    checks = {
        "an alpha > 0 beats alpha = 0 in CV C-index": bestp > best0,
        "chosen k is 3 or k = 3 is within one SE of the best": s.k_1se_ == 3
        or k3 >= s.result_.one_se_threshold_,
    }
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")


def tcga(n_jobs: int, n_starts: int, **opts) -> None:
    ad = desurv.datasets.load("tcga_paad_3k")
    desurv.pp.log1p(ad)
    X = np.asarray(ad.X, dtype=float)
    t, e = ad.obs["time"].to_numpy(float), ad.obs["event"].to_numpy(float)
    t0 = time.perf_counter()
    s = DeSurvSearch(
        n_components=[2, 3, 4, 5, 6],
        alpha=[round(0.1 * i, 1) for i in range(10)],
        n_folds=5,
        n_starts=n_starts,
        max_iter=500,
        score="full",
        preprocess=FoldPreprocess(n_top_genes=2000, transform="rank"),
        random_state=0,
        n_jobs=n_jobs,
        progress=False,
        **opts,
    ).fit(X, t, e)
    secs = time.perf_counter() - t0
    summ = s.summary_
    print(f"TCGA-PAAD ({X.shape[0]} samples; filter 2000 genes + rank inside folds), {secs:.0f} s:")
    des, nmf = per_k(summ, True), per_k(summ, False)
    print("  CV C-index per k (mean +- SE over 5 folds):")
    print("   k  DeSurv (best alpha > 0)     NMF (alpha = 0)")
    for (_, a), (_, b) in zip(des.iterrows(), nmf.iterrows()):
        print(
            f"  {int(a['n_components']):2d}  {a['mean_cindex']:.3f} +- {a['se_cindex']:.3f} "
            f"(alpha {a['alpha']:.1f})   {b['mean_cindex']:.3f} +- {b['se_cindex']:.3f}"
        )
    print(
        "  paper, k = 3 (273 TCGA + CPTAC samples): DeSurv "
        f"{PAPER_K3['DeSurv'][0]} +- {PAPER_K3['DeSurv'][1]}, NMF "
        f"{PAPER_K3['NMF (alpha=0)'][0]} +- {PAPER_K3['NMF (alpha=0)'][1]}"
    )
    print(f"  best setting {s.best_params_}; k by the 1-SE rule {s.k_1se_}")
    d3 = float(des[des["n_components"] == 3]["mean_cindex"].iloc[0])
    n3 = float(nmf[nmf["n_components"] == 3]["mean_cindex"].iloc[0])
    print(f"  at k = 3: DeSurv - NMF = {d3 - n3:+.3f} (paper: +0.089)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--n-starts", type=int, default=5)
    ap.add_argument("--only", choices=("sim", "tcga"))
    ap.add_argument("--solver", choices=("hals", "mu"), default="hals")
    ap.add_argument("--warm-start", choices=("alpha",), default=None)
    args = ap.parse_args()
    opts = {"solver": args.solver, "warm_start": args.warm_start}
    if args.solver == "mu":  # the paper's recipe
        opts.update(warmup_iter=50, warmup_tol=None)
    print(f"solver {args.solver!r}, warm_start {args.warm_start!r}, {args.n_starts} starts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        if args.only in (None, "sim"):
            simulation(args.n_jobs, args.n_starts, **opts)
        if args.only in (None, "tcga"):
            tcga(args.n_jobs, args.n_starts, **opts)


if __name__ == "__main__":
    main()
