"""Speed of one DeSurv fit and of batched starts, beside the authors' R package.

Times ``DeSurv.fit`` (default variant and variant="r-desurv") from given starting values,
alpha 0.5, lambda 0.1, l1_ratio (nu) 0.5, lambda_w = lambda_h = 0, exactly 200 iterations
(tol 0, no warm-up so that the Cox term is active in every iteration, as in the R runs),
median of 5 runs (after one short warm-up fit), for
p in {1000, 5000}, n in {150, 500}, k in {3, 10}, and prints ms per iteration beside the R
package's figures from ../shared/reference/r_desurv/README.md (same kind of machine, 2 cores,
OpenBLAS). Then times a batch of 30 starts run at once against 30 single fits, and prints
where the time of one fit goes (cProfile, grouped by step).

Run: ``python benchmarks/bench_fit.py [--quick]``. The figures depend on the machine and on
its load: compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from desurv import DeSurv
from desurv._core.cox import SurvivalData
from desurv._core.solver import Hyper, fit_batch, uniform_start
from desurv.exceptions import ConvergenceWarning
from desurv.simulate import simulate

# seconds for 200 iterations, R package DeSurv (OpenBLAS 0.3.21, 2 threads), from the README
R_SECONDS = {
    (1000, 150, 3): 0.50,
    (1000, 150, 10): 1.06,
    (1000, 500, 3): 1.16,
    (1000, 500, 10): 3.14,
    (5000, 150, 3): 3.10,
    (5000, 150, 10): 5.26,
    (5000, 500, 3): 13.70,
    (5000, 500, 10): 16.25,
}
ITERS = 200


def data(p: int, n: int, seed: int = 0):
    d = simulate("primary", n_genes=p, n_samples=n, random_state=seed)
    return np.log1p(d.X.to_numpy()), d.time.to_numpy(), d.event.to_numpy()


def time_fit(X, t, e, k: int, repeats: int = 3, variant: str = "default") -> tuple[float, DeSurv]:
    """Median seconds of ``repeats`` fits of exactly ITERS iterations, and the last model."""
    rng = np.random.default_rng(1)
    W0 = rng.uniform(0, X.max(), (X.shape[1], k))
    H0 = rng.uniform(0, X.max(), (k, X.shape[0]))
    out = []
    for rep in range(repeats + 1):  # the first fit only warms up (first calls, allocations)
        model = DeSurv(
            k,
            alpha=0.5,
            lambda_=0.1,
            l1_ratio=0.5,
            tol=0.0,
            max_iter=ITERS if rep else min(ITERS, 10),
            warmup_iter=0,
            variant=variant,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, t, e, W0=W0, H0=H0)
        if rep:
            out.append(time.perf_counter() - start)
            assert model.n_iter_ == ITERS
    return statistics.median(out), model


def bench_grid(quick: bool) -> None:
    print(
        f"{'p':>5} {'n':>4} {'k':>3} | {'default ms/it':>13} {'ratio':>6} | "
        f"{'r-desurv ms/it':>14} {'ratio':>6} | {'R ms/it':>8}"
    )
    ratios: dict[str, list[float]] = {"default": [], "r-desurv": []}
    for (p, n, k), r_sec in R_SECONDS.items():
        if quick and p == 5000:
            continue
        X, t, e = data(p, n)
        r_ms = r_sec / ITERS * 1000
        cells = []
        for variant in ("default", "r-desurv"):
            sec, _ = time_fit(X, t, e, k, repeats=1 if quick else 5, variant=variant)
            ours = sec / ITERS * 1000
            ratios[variant].append(ours / r_ms)
            cells.append((ours, ours / r_ms))
        print(
            f"{p:>5} {n:>4} {k:>3} | {cells[0][0]:>13.2f} {cells[0][1]:>6.2f} | "
            f"{cells[1][0]:>14.2f} {cells[1][1]:>6.2f} | {r_ms:>8.2f}",
            flush=True,
        )
    for variant, r in ratios.items():
        print(
            f"{variant}: median ratio to R {statistics.median(r):.2f}, worst {max(r):.2f} "
            "(target: every cell <= 0.5)"
        )


def bench_batch(n_starts: int = 30, p: int = 1000, n: int = 150, k: int = 3) -> None:
    X, t, e = data(p, n)
    Xc = np.ascontiguousarray(X.T)
    sv = SurvivalData.from_arrays(t, e)
    W, H, b = uniform_start(Xc, k, np.random.default_rng(0), batch=n_starts)
    hp = Hyper(alpha=0.5, lambda_=0.1, l1_ratio=0.5)
    iters = 50
    with threadpool_limits(1, user_api="blas"):
        start = time.perf_counter()
        fit_batch(Xc, sv, W, H, b, hp, tol=0.0, max_iter=iters)
        batched = time.perf_counter() - start
        start = time.perf_counter()
        for m in range(n_starts):
            fit_batch(Xc, sv, W[m : m + 1], H[m : m + 1], b[m : m + 1], hp, tol=0.0, max_iter=iters)
        single = time.perf_counter() - start
    print(
        f"\n{n_starts} starts x {iters} iterations (p={p}, n={n}, k={k}): batched "
        f"{batched:.2f} s, one at a time {single:.2f} s, speed-up {single / batched:.1f}x"
    )


def profile_one(p: int = 5000, n: int = 500, k: int = 10) -> None:
    """cProfile of one fit, grouped by step (cumulative times; profiling adds overhead)."""
    X, t, e = data(p, n)
    Xc = np.ascontiguousarray(X.T)
    sv = SurvivalData.from_arrays(t, e)
    W, H, b = uniform_start(Xc, k, np.random.default_rng(0))
    prof = cProfile.Profile()
    with threadpool_limits(1, user_api="blas"):
        prof.enable()
        fit_batch(Xc, sv, W, H, b, Hyper(alpha=0.5, lambda_=0.1), tol=0.0, max_iter=50)
        prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    cum: dict[str, float] = {}
    for (_, _, name), (_, _, _, ct, _) in stats.stats.items():
        cum[name] = max(cum.get(name, 0.0), ct)
    print(f"\nwhere one fit's time goes (p={p}, n={n}, k={k}, 50 iterations, {total:.2f} s):")
    rows = [
        ("H step", cum.get("h_step", 0.0)),
        ("W step, all of it (incl. X [H; r]^T, D^T X)", cum.get("w_step", 0.0)),
        (
            "  of which backtracking (screen + exact check)",
            cum.get("_backtrack_one", 0.0) + cum.get("_backtrack_batch", 0.0),
        ),
        (
            "  products with X (X [H; r]^T, D^T X, W^T X)",
            cum.get("_wtx", 0.0) + cum.get("_x_times", 0.0),
        ),
        ("beta step (proximal Newton)", cum.get("solve_beta", 0.0)),
        ("  of which Cox derivatives", cum.get("derivatives", 0.0)),
        (
            "  of which the lasso subproblem",
            cum.get("_lasso_one", 0.0) + cum.get("_quadratic_lasso", 0.0),
        ),
        ("Cox log-likelihood evaluations (all)", cum.get("_loglik", 0.0)),
    ]
    for label, sec in rows:
        print(f"  {label:<50} {sec:6.2f} s  ({100 * sec / total:4.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="p = 1000 only, one repeat")
    args = parser.parse_args()
    blas = [
        (i.get("internal_api"), i.get("version"), i.get("num_threads")) for i in threadpool_info()
    ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, BLAS {blas}"
    )
    print("fits run with one BLAS thread (DeSurv's default: parallelism comes from n_jobs)\n")
    bench_grid(args.quick)
    bench_batch()
    profile_one(1000, 150, 3)
    if not args.quick:
        profile_one(5000, 500, 10)


if __name__ == "__main__":
    main()
