"""Speed of one DeSurv fit and of batched starts, beside the authors' R package.

Times ``DeSurv.fit`` (default variant and variant="r-desurv") from given starting values,
alpha 0.5, lambda 0.1, l1_ratio (nu) 0.5, lambda_w = lambda_h = 0, exactly 200 iterations
(tol 0, no warm-up so that the Cox term is active in every iteration, as in the R runs),
median of 5 runs (after one short warm-up fit), for
p in {1000, 5000}, n in {150, 500}, k in {3, 10}, and prints ms per iteration beside the R
package's figures from ../shared/reference/r_desurv/README.md (same kind of machine, 2 cores,
OpenBLAS). Then times the default variant beside the code of an earlier git revision
(``--baseline``, by default the last one before the scale-free model) in the same run, in
alternated rounds of separate processes, with both expressed as multiples of the floor of
each version's two big products over X; then a batch of 30 starts run at once against 30
single fits, and where the time of one fit goes (cProfile, grouped by step).

Run: ``python benchmarks/bench_fit.py [--quick]``. The figures depend on the machine and on
its load: compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from desurv import DeSurv
from desurv._core.cox import SurvivalData
from desurv._core.solver import Hyper, fit_batch, uniform_start
from desurv.exceptions import ConvergenceWarning, DeSurvWarning
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
    warnings.simplefilter("ignore", DeSurvWarning)  # zero genes of the small cells
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


# the code before the scale-free model, to time beside the current one in the same run
BASELINE_REV = "71a0d93"
ROOT = Path(__file__).resolve().parents[1]

# one process times the default variant of whichever desurv it imports, on data made with
# numpy alone (the same arrays for both versions); prints {cell: seconds per iteration}
_WORKER = r"""
import json, statistics, sys, time, warnings
import numpy as np
from threadpoolctl import threadpool_limits
from desurv import DeSurv
cells, iters, repeats = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
for p, n, k in cells:
    rng = np.random.default_rng(p + n + k)
    X = np.log1p(rng.gamma(2.0, 1.0, (n, 5)) @ rng.gamma(1.0, 1.0, (5, p)) * 20)
    t = rng.exponential(1.0, n)
    e = (rng.random(n) < 0.6).astype(float)
    W0 = rng.uniform(0, X.max(), (p, k))
    H0 = rng.uniform(0, X.max(), (k, n))
    secs = []
    for rep in range(repeats + 1):
        m = DeSurv(k, alpha=0.5, lambda_=0.1, l1_ratio=0.5, tol=0.0, warmup_iter=0,
                   max_iter=iters if rep else 5)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, t, e, W0=W0, H0=H0)
        if rep:
            secs.append((time.perf_counter() - t0) / m.n_iter_)
    out[f"{p},{n},{k}"] = statistics.median(secs)
print(json.dumps(out))
"""


def _floor(p: int, n: int, k: int, repeats: int = 20, cols: int | None = None) -> float:
    """Seconds of the two big products of an iteration: X times ``cols`` columns (default k)
    and k rows times X (the solver's own product helpers, one BLAS thread). The W step of the
    code before the scale-free model multiplied X by [H; r]^T (k + 1 columns), the current one
    by [H; M]^T (2k columns: the Cox gradient through the standardised scores has one column
    per factor); both then form D^T X (k rows)."""
    from desurv._core.solver import _few_left, _few_right

    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(rng.random((p, n)))
    A, B = rng.random((n, k if cols is None else cols)), rng.random((k, p))
    out = []
    with threadpool_limits(1, user_api="blas"):
        for _ in range(repeats):
            t0 = time.perf_counter()
            _few_right(X, A)
            _few_left(B, X)
            out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _run_worker(pythonpath: str, cells, iters: int, repeats: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    res = subprocess.run(
        [sys.executable, "-c", _WORKER, json.dumps(cells), str(iters), str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_baseline(rev: str, quick: bool, rounds: int = 3) -> list[tuple]:
    """The default variant now against ``rev`` in the same run: ms per iteration of each,
    alternated ``rounds`` times (medians), and their ratios to the floor of the two passes
    over X. Returns (cell, old ms, new ms, old floor ms, new floor ms) rows."""
    cells = [c for c in R_SECONDS if not (quick and c[0] == 5000)]
    iters = 20 if quick else ITERS
    repeats = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "desurv", "data_registry", "r_bridge"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        old: dict[str, list[float]] = {}
        new: dict[str, list[float]] = {}
        for _ in range(1 if quick else rounds):
            for store, path in ((old, tmp), (new, str(ROOT))):
                for cell, sec in _run_worker(path, cells, iters, repeats).items():
                    store.setdefault(cell, []).append(sec)
    print(
        f"\ndefault variant now vs {rev} (before the scale-free model), same run, ms/iteration "
        f"(medians of {1 if quick else rounds} alternated rounds x {repeats} fits of {iters} "
        "iterations); floor = each version's two big products (before: X times k + 1 columns "
        "+ k rows times X; now: X times 2k columns + k rows times X)"
    )
    print(
        f"{'p':>5} {'n':>4} {'k':>3} | {'before':>7} {'floor':>6} {'ratio':>6} | "
        f"{'now':>7} {'floor':>6} {'ratio':>6} | {'now/before':>10} {'ratio/ratio':>11}"
    )
    rows = []
    for p, n, k in cells:
        key = f"{p},{n},{k}"
        b, c = statistics.median(old[key]) * 1e3, statistics.median(new[key]) * 1e3
        fb, fc = _floor(p, n, k, cols=k + 1) * 1e3, _floor(p, n, k, cols=2 * k) * 1e3
        rows.append(((p, n, k), b, c, fb, fc))
        print(
            f"{p:>5} {n:>4} {k:>3} | {b:>7.2f} {fb:>6.3f} {b / fb:>6.2f} | {c:>7.2f} {fc:>6.3f} "
            f"{c / fc:>6.2f} | {c / b:>10.2f} {(c / fc) / (b / fb):>11.2f}",
            flush=True,
        )
    raw = [c / b for _, b, c, _, _ in rows]
    rel = [(c / fc) / (b / fb) for _, b, c, fb, fc in rows]
    print(
        f"now/before: median {statistics.median(raw):.2f}, worst {max(raw):.2f}; ratio to the "
        f"floor, now over before: median {statistics.median(rel):.2f}, worst {max(rel):.2f} "
        "(target: every cell <= 1.10)"
    )
    return rows


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
        ("W step, all of it (incl. X [H; M]^T, D^T X)", cum.get("w_step", 0.0)),
        (
            "  of which backtracking (screen + exact check)",
            cum.get("_backtrack_one", 0.0) + cum.get("_backtrack_batch", 0.0),
        ),
        (
            "  products with X (X [H; M]^T, D^T X, W^T X)",
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
    parser.add_argument(
        "--baseline",
        default=BASELINE_REV,
        help=f"git revision to time beside the current code (default {BASELINE_REV}; "
        "'none' to skip)",
    )
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
    if args.baseline != "none":
        bench_baseline(args.baseline, args.quick)
    bench_batch()
    profile_one(1000, 150, 3)
    if not args.quick:
        profile_one(5000, 500, 10)


if __name__ == "__main__":
    main()
