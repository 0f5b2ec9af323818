"""Speed of the r-desurv variant (``desurv._core.rdesurv.fit_rdesurv``) beside the R package.

For p in {1000, 5000}, n in {150, 500}, k in {3, 10}: simulated nonnegative data (seeded), one
start, exactly 200 iterations (tol 0), alpha 0.5, lambda 0.1, nu (l1_ratio) 0.5,
lambdaW = lambdaH = 0; median of 3 runs. Prints our milliseconds per iteration beside the R
package's (its total seconds for 200 iterations from ``shared/reference/r_desurv/README.md``,
OpenBLAS and reference BLAS, divided by 200) and the ratio ours / R (target: <= 0.5). Both
our elapsed (wall) time and our CPU time are shown: on a shared machine the wall time includes
waiting for a CPU.

The R figures were measured on another machine "of this kind (2 cores)"; ours are measured
here, and the machine is printed. Run from the repository root:

    python benchmarks/bench_rdesurv.py [--quick] [--threads N]

``--threads N`` limits the BLAS threads (threadpoolctl) to N; default: leave them as they are.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desurv._core.rdesurv import fit_rdesurv, init_rdesurv  # noqa: E402

N_ITER = 200
#: R package, seconds for 200 iterations: (p, n, k) -> (OpenBLAS 2 threads, reference BLAS).
R_SECONDS = {
    (1000, 150, 3): (0.50, 1.52),
    (1000, 150, 10): (1.06, 2.56),
    (1000, 500, 3): (1.16, 3.52),
    (1000, 500, 10): (3.14, 8.72),
    (5000, 150, 3): (3.10, 5.54),
    (5000, 150, 10): (5.26, 15.19),
    (5000, 500, 3): (13.70, 26.27),
    (5000, 500, 10): (16.25, 59.51),
}


def simulate(p: int, n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonnegative X = W H + noise (genes x samples); hazard driven by factor 1."""
    rng = np.random.default_rng(seed)
    W = rng.gamma(0.5, 1.0, size=(p, k))
    H = rng.gamma(2.0, 1.0, size=(k, n))
    X = W @ H + rng.gamma(1.0, 0.5, size=(p, n))
    score = H[0] - H[0].mean()
    t_event = rng.exponential(1.0 / np.exp(0.8 * score / H[0].std()))
    t_cens = rng.exponential(1.5, size=n)
    time_ = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(float)
    return X, time_, event


def time_cell(p: int, n: int, k: int, repeats: int) -> tuple[float, float, int]:
    """Median wall-clock and median CPU seconds of one fit, and its iteration count."""
    X, t, e = simulate(p, n, k, seed=1000 * k + n + p)
    W0, H0, b0 = init_rdesurv(X, k, np.random.default_rng(7))
    wall = []
    cpu = []
    n_iter = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        c0 = time.process_time()
        res = fit_rdesurv(
            X, t, e, W0, H0, b0,
            alpha=0.5, lambda_=0.1, l1_ratio=0.5, lambda_w=0.0, lambda_h=0.0,
            max_iter=N_ITER, tol=0.0,
        )
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
        n_iter = res.n_iter
    return statistics.median(wall), statistics.median(cpu), n_iter


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "unknown BLAS"
    try:
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            i = infos[0]
            blas = f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads"
    except ImportError:
        pass
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "load average unknown"
    return (
        f"{cpu}; {os.cpu_count()} logical CPUs; {load}; Python {platform.python_version()}; "
        f"numpy {np.__version__}; {blas}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only p=1000 and one run per cell")
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS threads to N")
    args = parser.parse_args()

    limiter = None
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads, user_api="blas")

    repeats = 1 if args.quick else 3
    print(f"machine: {machine()}")
    print(
        f"r-desurv variant, {N_ITER} iterations, tol 0, alpha 0.5, lambda 0.1, nu 0.5, "
        f"lambdaW = lambdaH = 0, median of {repeats}"
    )
    header = (
        f"{'p':>5} {'n':>4} {'k':>3} | {'wall ms/it':>10} {'cpu ms/it':>10} | "
        f"{'R OpenBLAS':>10} {'wall/R':>6} {'cpu/R':>6} | {'R refBLAS':>10} {'wall/R':>6}"
    )
    print(header)
    print("-" * len(header))
    for (p, n, k), (r_open, r_ref) in R_SECONDS.items():
        if args.quick and p != 1000:
            continue
        wall, cpu, n_iter = time_cell(p, n, k, repeats)
        ours = 1000.0 * wall / n_iter
        ours_cpu = 1000.0 * cpu / n_iter
        r_open_ms = 1000.0 * r_open / N_ITER
        r_ref_ms = 1000.0 * r_ref / N_ITER
        print(
            f"{p:>5} {n:>4} {k:>3} | {ours:>10.3f} {ours_cpu:>10.3f} | "
            f"{r_open_ms:>10.3f} {ours / r_open_ms:>6.2f} {ours_cpu / r_open_ms:>6.2f} | "
            f"{r_ref_ms:>10.3f} {ours / r_ref_ms:>6.2f}",
            flush=True,
        )
    print(
        "wall = elapsed time; cpu = CPU time of this process (all its threads). On a shared "
        "machine (see the load average) wall time includes waiting for the CPU; with one BLAS "
        "thread, cpu is what the fit costs on an idle machine."
    )
    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
