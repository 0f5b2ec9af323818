"""Warm starts along the alpha path against cold starts, at the paper's scale.

The setting: the paper's simulation design (primary scenario) at p = 2000 genes and n = 273
samples, k = 3, alpha in {0, 0.25, 0.5, 0.75, 0.9}, lambda_ 0.1, l1_ratio 0.5, 5 folds x
``--n-starts`` starts, tol 1e-5, max_iter 2000, the full risk, ``--n-jobs`` processes.

For each recipe ("hals", the default: the warm-up until the NMF part has converged; "mu",
the paper's: multiplicative steps, a 50-iteration warm-up) it runs the same grid twice with
:class:`desurv.selection.DeSurvSearch`: ``warm_start=None`` (every alpha from the fold's
random starts, the paper) and ``warm_start="alpha"`` (each alpha from the previous alpha's
fits on the same fold and start). Prints the wall time of each, the median iterations and
the CV C-index (mean and SE over folds) per alpha, and the best alpha > 0 against alpha = 0.

Run: ``python benchmarks/bench_warm_start.py [--n-starts 10] [--n-jobs 2] [--quick]``
(about 4 minutes with 10 starts; ``--quick``: 2 folds x 2 starts, p 400).
"""

from __future__ import annotations

import argparse
import time
import warnings

from desurv.selection import DeSurvSearch
from desurv.simulate import simulate

ALPHAS = (0.0, 0.25, 0.5, 0.75, 0.9)
RECIPES = {
    "hals": {"solver": "hals"},  # the default
    "mu": {"solver": "mu", "warmup_iter": 50, "warmup_tol": None},  # the paper's
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-starts", type=int, default=10)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_genes, n_folds, n_starts = (400, 2, 2) if args.quick else (2000, 5, args.n_starts)
    extra = {} if n_genes >= 1950 else {"n_markers": n_genes // 10, "n_background": n_genes // 5}
    d = simulate("primary", n_genes=n_genes, n_samples=273, random_state=0, **extra)
    X, t, e = d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()
    print(
        f"data: {X.shape[1]} genes x {X.shape[0]} samples, {int(e.sum())} events; k=3, alpha "
        f"{ALPHAS}, {n_folds} folds x {n_starts} starts, tol 1e-5, n_jobs {args.n_jobs}"
    )
    rows = {}
    for solver in ("hals", "mu"):
        for warm in (None, "alpha"):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = DeSurvSearch(
                    n_components=3, alpha=ALPHAS, n_folds=n_folds, n_starts=n_starts,
                    tol=1e-5, max_iter=2000, score="full", **RECIPES[solver], warm_start=warm,
                    random_state=0, n_jobs=args.n_jobs, progress=False,
                ).fit(X, t, e)  # fmt: skip
            secs = time.perf_counter() - t0
            sm = s.summary_.set_index("alpha")
            iters = s.table_.groupby("alpha")["n_iter"].median()
            rows[(solver, warm)] = (secs, sm, iters)
            label = "warm (alpha path)" if warm else "cold (paper)"
            print(f"[{solver}] {label}: {secs:.1f} s")
            for a in ALPHAS:
                print(
                    f"    alpha {a:4.2f}: CV C {sm.loc[a, 'mean_cindex']:.3f} +- "
                    f"{sm.loc[a, 'se_cindex']:.3f}, median iterations {iters.loc[a]:6.0f}"
                )
            pos = sm[sm.index > 0]
            best = float(pos["mean_cindex"].idxmax())
            print(
                f"    best alpha > 0: {best} ({pos.loc[best, 'mean_cindex']:.3f}) against "
                f"alpha 0 ({sm.loc[0.0, 'mean_cindex']:.3f})",
                flush=True,
            )
    print("summary (warm against cold):")
    for solver in ("mu", "hals"):
        (c_s, c_sm, c_it), (w_s, w_sm, w_it) = rows[(solver, None)], rows[(solver, "alpha")]
        later = [a for a in ALPHAS if a > 0]
        print(
            f"  [{solver}] wall {c_s:.1f} -> {w_s:.1f} s ({c_s / w_s:.2f}x); iterations "
            f"summed over the medians of alpha > 0 {c_it.loc[later].sum():.0f} -> "
            f"{w_it.loc[later].sum():.0f}; best CV C over alpha > 0 "
            f"{c_sm.loc[later, 'mean_cindex'].max():.3f} -> "
            f"{w_sm.loc[later, 'mean_cindex'].max():.3f}"
        )


if __name__ == "__main__":
    main()
