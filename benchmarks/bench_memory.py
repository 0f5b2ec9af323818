"""Peak memory of one DeSurv fit, beyond X itself, and the cost of ``dtype="float32"``.

Fits p = 20,000 genes x n = 1,000 samples (``--fast``: p = 2,000, n = 200), k = 10, exactly
``ITERS`` iterations (tol 0, ``WARMUP`` of them without the Cox step, so both kinds of W step
run), one start, through :meth:`desurv.DeSurv.fit` (on the samples x genes ndarray) and
through :func:`desurv.tl.fit` (on an AnnData holding the same array), each in a fresh
subprocess (the script re-invokes itself with ``--worker``) so that peaks do not mix.

Two figures per fit, both in units of the size of X in float64 (n p 8 bytes) and both beyond
X itself (X, and the AnnData, are built before the measurement starts):

- ``tracemalloc``: the peak of the traced allocations during the fit (numpy's array buffers
  are traced), i.e. what the fit allocates on top of what existed;
- ``maxrss``: the process's ``ru_maxrss`` after the fit minus ``ru_maxrss`` right after X was
  built (X is built in chunks, so that its construction leaves no higher mark than X);
  this includes what tracemalloc does not see (BLAS buffers, the allocator's slack) and the
  cost of tracemalloc's own bookkeeping.

Then the accuracy cost of float32 against float64 on the same data and seed: the relative
difference of the final loss, of W (columns matched by the assignment that maximises the
summed cosine similarity), of the training C-index, and the largest absolute difference of
the training risk X W beta (in units of the float64 risk's standard deviation too).

Run: ``python benchmarks/bench_memory.py [--fast]``. The target (the reliability issue): at
most 3 x X beyond X in float64; float32 about half of the float64 figure.

Measured (2 cores, OpenBLAS, numpy 2.4; tracemalloc / maxrss, in units of X):

============  ============================  =============  =============
path          before (5a207bb), float64     float64        float32
============  ============================  =============  =============
DeSurv.fit    3.01 / 2.96                   2.14 / 2.01    1.14 / 0.99
tl.fit        4.02 / 4.11                   2.14 / 2.13    1.14 / 1.12
============  ============================  =============  =============

Before, a fit held the estimator's genes x samples copy of X, the solver's time-sorted copy
(``X[:, order]`` is F-ordered, so making it C-contiguous copied X twice) and X**2 for the
sums of squares; tl.fit held a fresh copy of adata.X besides. Now a fit holds the two copies
(the estimator's, in input order, and the solver's, time-sorted), plus about 0.14 x X of work
arrays of k columns (k / n of X each); float32 halves both copies. float32 against float64:
final loss 6e-9, W 8e-6 (relative), the same training C-index, risk 1e-5 sd; about 0.6 of the
time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

ITERS = 30
WARMUP = 10
K = 10
SEED = 0
FULL = (20_000, 1_000)
FAST = (2_000, 200)
TARGET = 3.0
# (path, dtype) of every measured fit, each in its own process
CASES = (
    ("DeSurv.fit", "float64"),
    ("tl.fit", "float64"),
    ("DeSurv.fit", "float32"),
    ("tl.fit", "float32"),
)


def make_data(p: int, n: int, k: int = K, seed: int = SEED):
    """Log-scale expression (n x p float64, built gene block by gene block so that no
    temporary outlives a block) from k nonnegative programs, with survival driven by the
    first program's activity."""
    rng = np.random.default_rng(seed)
    W = rng.gamma(0.5, 1.0, size=(p, k))
    H = rng.gamma(2.0, 1.0, size=(k, n))
    X = np.empty((n, p))
    block = 1024
    for g0 in range(0, p, block):
        g1 = min(p, g0 + block)
        mu = H.T @ W[g0:g1].T  # (n, block)
        X[:, g0:g1] = np.log1p(mu * rng.lognormal(0.0, 0.5, size=mu.shape))
    risk = (H[0] - H[0].mean()) / H[0].std()
    time_ = rng.exponential(np.exp(-risk))
    cens = rng.exponential(2.0 * np.median(time_), size=n)
    event = (time_ <= cens).astype(float)
    return X, np.minimum(time_, cens), event


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) * (1 if sys.platform == "darwin" else 1024)


def _params(dtype: str) -> dict:
    params = dict(max_iter=ITERS, tol=0.0, warmup_iter=WARMUP, n_init=1, random_state=SEED)
    if dtype != "float64":  # the default, left out so that older revisions can be measured
        params["dtype"] = dtype
    return params


def worker(path: str, dtype: str, p: int, n: int, out: str | None) -> dict:
    """One fit in this process: its peaks beyond X (in units of n p 8 bytes) and, when
    ``out`` is given, its results saved there (npz) for the accuracy comparison."""
    from desurv import DeSurv
    from desurv.exceptions import DeSurvWarning

    X, t, e = make_data(p, n)
    adata = None
    if path == "tl.fit":
        import anndata

        import desurv.tl as tl

        adata = anndata.AnnData(X)
        adata.obs["time"] = t
        adata.obs["event"] = e
    unit = X.nbytes
    gc.collect()
    rss0 = _maxrss_bytes()
    tracemalloc.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)  # the fixed iterations do not converge
        if adata is None:
            model = DeSurv(K, **_params(dtype)).fit(X, t, e)
            W, loss, cindex = model.W_, model.loss_history_["loss"].to_numpy(), model.train_cindex_
            risk = model.train_scores_ @ model.coef_
            w_dtype = str(model.W_.dtype)
        else:
            tl.fit(adata, n_components=K, **_params(dtype))
            rec = adata.uns["desurv"]
            W, loss = adata.varm["desurv_W"], rec["loss_history"]["loss"]
            cindex = rec["train_cindex"]
            risk = adata.obs["desurv_risk"].to_numpy()
            w_dtype = f"{W.dtype} (as stored in varm)"
    seconds = time.perf_counter() - t0
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = _maxrss_bytes() - rss0
    if out:
        np.savez(out, W=np.asarray(W, dtype=np.float64), loss=np.asarray(loss), cindex=cindex,
                 risk=np.asarray(risk, dtype=np.float64))  # fmt: skip
    return {
        "path": path,
        "dtype": dtype,
        "p": p,
        "n": n,
        "traced": traced / unit,
        "maxrss": rss / unit,
        "seconds": seconds,
        "n_iter": int(len(loss)),
        "W_dtype": w_dtype,
    }


def _spawn(path: str, dtype: str, p: int, n: int, out: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", path, dtype,
           "--p", str(p), "--n", str(n), "--out", out]  # fmt: skip
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return {"path": path, "dtype": dtype, "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _matched_w_difference(W32: np.ndarray, W64: np.ndarray) -> float:
    """||W32 P - W64||_F / ||W64||_F with P the column matching of highest summed cosine."""
    from scipy.optimize import linear_sum_assignment

    def unit(A):
        return A / np.maximum(np.linalg.norm(A, axis=0), 1e-300)

    rows, cols = linear_sum_assignment(-(unit(W64).T @ unit(W32)))
    return float(np.linalg.norm(W32[:, cols] - W64[:, rows]) / np.linalg.norm(W64))


def accuracy(f64: dict, f32: dict) -> dict:
    """float32 against float64 (results as saved by :func:`worker`)."""
    l64, l32 = float(f64["loss"][-1]), float(f32["loss"][-1])
    c64, c32 = float(f64["cindex"]), float(f32["cindex"])
    r64, r32 = f64["risk"], f32["risk"]
    return {
        "loss": abs(l32 - l64) / abs(l64),
        "W": _matched_w_difference(f32["W"], f64["W"]),
        "cindex": abs(c32 - c64) / abs(c64),
        "risk": float(np.max(np.abs(r32 - r64))),
        "risk_sd": float(np.max(np.abs(r32 - r64)) / np.std(r64)),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="p = 2000, n = 200 (for the tests)")
    ap.add_argument("--worker", nargs=2, metavar=("PATH", "DTYPE"), help=argparse.SUPPRESS)
    ap.add_argument("--p", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.p, args.n, args.out)))
        return {}
    p, n = FAST if args.fast else FULL
    print(f"DeSurv peak memory beyond X: p = {p} genes, n = {n} samples, k = {K}, {ITERS} "
          f"iterations ({WARMUP} warm-up), n_init = 1; X = {n * p * 8 / 2**20:.1f} MiB "
          "in float64; figures in units of that size")  # fmt: skip
    rows, saved = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for path, dtype in CASES:
            out = os.path.join(tmp, f"{path}-{dtype}.npz")
            row = _spawn(path, dtype, p, n, out)
            rows.append(row)
            if "error" in row:
                print(f"  {path:<11} {dtype:<8} failed: {row['error']}")
                continue
            with np.load(out) as z:
                saved[path, dtype] = {key: z[key] for key in z.files}
            # the target is set at the full size (at --fast size the work arrays of k
            # columns, k / n of X each, weigh 5 times more)
            within = max(row["traced"], row["maxrss"]) <= TARGET
            flag = "within the target" if within else f"ABOVE the target {TARGET:g} x X"
            if args.fast or dtype != "float64":
                flag = ""
            print(f"  {path:<11} {dtype:<8} tracemalloc peak {row['traced']:5.2f} x X   "
                  f"maxrss {row['maxrss']:5.2f} x X   ({row['seconds']:.2f} s, "
                  f"{row['n_iter']} iterations, W {row['W_dtype']})  {flag}".rstrip())  # fmt: skip
    acc = {}
    for path in ("DeSurv.fit", "tl.fit"):
        if (path, "float64") in saved and (path, "float32") in saved:
            acc[path] = accuracy(saved[path, "float64"], saved[path, "float32"])
    half = {}
    for path in ("DeSurv.fit", "tl.fit"):
        r64 = next((r for r in rows if r["path"] == path and r["dtype"] == "float64"), {})
        r32 = next((r for r in rows if r["path"] == path and r["dtype"] == "float32"), {})
        if "traced" in r64 and "traced" in r32:
            half[path] = r32["traced"] / r64["traced"]
            print(f"  {path}: float32 peak / float64 peak = {half[path]:.2f} (tracemalloc), "
                  f"{r32['maxrss'] / max(r64['maxrss'], 1e-12):.2f} (maxrss)")  # fmt: skip
    for path, a in acc.items():
        print(f"  {path} float32 against float64 (same data, seed): final loss rel. diff "
              f"{a['loss']:.2e}, W rel. diff (matched columns) {a['W']:.2e}, training "
              f"C-index rel. diff {a['cindex']:.2e}, risk max abs diff {a['risk']:.2e} "
              f"({a['risk_sd']:.2e} sd)")  # fmt: skip
    return {"rows": rows, "accuracy": acc, "ratio": half}


if __name__ == "__main__":
    main()
