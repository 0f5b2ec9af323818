"""One cross-validation evaluation at the paper's scale, batched against one fit at a time.

The setting: the paper's simulation design (primary scenario) at p = 2000 genes and n = 273
samples (the size of the final paper's TCGA + CPTAC training set), k = 3, alpha 0.5,
lambda_ 0.1, l1_ratio 0.5, 5 folds x 30 starts, tol 1e-5, max_iter 2000, the full risk.

Prints:

1. iterations to tolerance of the paper's recipe (``solver="mu"``: multiplicative steps, a
   warm-up of exactly 50 iterations) against the default one (``solver="hals"``: HALS W and H
   steps, extrapolation, adaptive survival gain, the warm-up until the NMF part has converged
   to ``tol`` (a search's default), at most half of ``max_iter``), on fold 0's starts
   batched (one fit each, as ``DeSurv.fit`` runs it): median and maximum iterations,
   median and best final loss, and the iterations HALS needs to reach the loss mu stopped
   at from the same start (the stopping rule fires on plateaus, so iterations to tolerance
   alone mislead);
2. for each recipe ("hals", the default, and "mu"), one CV evaluation with
   :class:`desurv.selection.DeSurvSearch` (each fold's 30 starts as one batch on its training
   samples, the folds over ``--n-jobs`` processes with one BLAS thread each);
   The search evaluates a setting in two phases: the NMF phase (the warm-up, alone) and
   the survival phase from it;
3. the same fits one at a time (B = 1, one BLAS thread, both phases), timed on the first 3
   starts of every fold and projected (mean time per fit) to 150 fits over the same
   processes;
4. the paper's whole search (150 evaluations) projected from 2 with no sharing, and the R
   package's figures (one fit 0.15-0.18 s at p = 2000, n = 218 with 42-68 iterations,
   measured by the issue; so 150 fits one at a time take about 22-27 s per evaluation on 2
   threads);
5. a grid of 6 settings of one k with the default recipe, where the search computes each
   fold's NMF phase once (it does not depend on alpha, lambda_ or l1_ratio): the cost of
   each further setting, and the paper's search projected from it (each of its 11 values
   of k paying one evaluation as in 2, every other evaluation the further cost);

and checks the targets: batched at least 5x faster than one at a time, the evaluation under
30 s, the 150-evaluation search under 1 hour on 2 cores.

Run: ``python benchmarks/bench_select.py [--n-jobs 2] [--quick]`` (about 8 minutes;
``--quick``: 2 folds x 4 starts, checks nothing).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from desurv._core.cox import SurvivalData
from desurv._core.solver import SOLVERS, Hyper, fit_batch
from desurv.estimator import _one_blas_thread
from desurv.selection import DeSurvSearch
from desurv.selection._evaluate import fold_starts
from desurv.selection._folds import stratified_folds
from desurv.selection._search import FOLD_SEED_KEY
from desurv.simulate import simulate

HP = Hyper(alpha=0.5, lambda_=0.1, l1_ratio=0.5)
TOL, MAX_ITER = 1e-5, 2000
#: the search's warm-up of each recipe (DeSurvSearch's warmup_iter / warmup_tol, and the same
#: for the core's fit_batch: warmup / warmup_tol)
RECIPES = {
    "hals": {"warmup_iter": MAX_ITER // 2, "warmup_tol": TOL},  # the default (a search)
    "mu": {"warmup_iter": 50, "warmup_tol": None},  # the paper's
}


def core_options(solver: str) -> dict:
    w = RECIPES[solver]
    return {**SOLVERS[solver], "warmup": w["warmup_iter"], "warmup_tol": w["warmup_tol"]}
R_FIT_SECONDS = (0.15, 0.18)  # the R package, one fit, p = 2000, n = 218 (issue figures)


N_SAMPLES, N_GENES = 273, 2000


def data():
    extra = {} if N_GENES >= 1950 else {"n_markers": N_GENES // 10, "n_background": N_GENES // 5}
    d = simulate("primary", n_genes=N_GENES, n_samples=N_SAMPLES, random_state=0, **extra)
    return d.X.to_numpy(), d.time.to_numpy(), d.event.to_numpy()


def fold_problem(X, t, e, n_folds, fold=0, seed=0):
    """Fold ``fold`` as the search sees it: X genes x samples (genes varying in its training
    samples), its training mask and the search's root seed."""
    entropy = int(np.random.SeedSequence(seed).entropy)
    folds = stratified_folds(
        e, n_folds, np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=FOLD_SEED_KEY))
    )
    train = folds != fold
    Xc = np.ascontiguousarray(X.T)
    keep = Xc[:, train].max(axis=1) > Xc[:, train].min(axis=1)
    return np.ascontiguousarray(Xc[keep]), train, entropy


def starts(Xc, train, entropy, n, fold=0):
    """The search's starts of a fold, on its training part (as ``evaluate_unit`` draws them)."""
    return fold_starts(Xc, train, entropy, fold, n, 3)


def iterations(Xc, t, e, train, entropy, n, tol, max_iter):
    Xtr = np.ascontiguousarray(Xc[:, train])
    sv = SurvivalData.from_arrays(t[train], e[train])
    W, H, b = starts(Xc, train, entropy, n)
    rows = {}
    for name in ("mu", "hals"):
        t0 = time.perf_counter()
        with _one_blas_thread():
            r = fit_batch(Xtr, sv, W, H, b, HP, tol=tol, max_iter=max_iter, **core_options(name))
        dt = time.perf_counter() - t0
        loss = np.array([h["loss"][-1] for h in r.history])
        rows[name] = (r.n_iter, r.converged, loss, dt, [h["loss"] for h in r.history])
        print(
            f"  {name:5s} iterations median {int(np.median(r.n_iter)):5d} max "
            f"{int(r.n_iter.max()):5d}, converged {int(r.converged.sum())}/{n}, final loss "
            f"median {np.median(loss):.4f} best {loss.min():.4f}, {dt:.1f} s batched",
            flush=True,
        )
    # the stopping rule fires on plateaus (mu's slow progress, HALS's saddle of a start whose
    # factors are all one), so compare iterations to the same loss: for every start, the
    # first iteration at which HALS reaches the loss mu stopped at from that start
    reach = []
    for mu_end, trace in zip(rows["mu"][2], rows["hals"][4]):
        hit = np.flatnonzero(np.asarray(trace) <= mu_end)
        reach.append(int(hit[0]) + 1 if hit.size else -1)
    got = [r for r in reach if r > 0]
    print(
        f"  hals reaches mu's final loss (same start) in {len(got)}/{n} starts, after "
        f"{int(np.median(got)) if got else -1} iterations (median; mu: "
        f"{int(np.median(rows['mu'][0]))})",
        flush=True,
    )
    rows["reach"] = reach
    return rows


def shared_search(X, t, e, n_folds, n_starts, tol, max_iter, n_jobs) -> tuple[float, int]:
    """Seconds of a grid of 6 settings of one k (alpha {0.25, 0.5, 0.75} x l1_ratio {0.2,
    0.5} at lambda_ 0.1, so that every setting keeps coefficients and runs a real survival
    phase) with the default recipe: the search computes each fold's NMF phase once and runs
    only the survival phase for each setting."""
    grid = dict(n_components=3, alpha=[0.25, 0.5, 0.75], lambda_=0.1, l1_ratio=[0.2, 0.5])
    t0 = time.perf_counter()
    s = DeSurvSearch(**grid, n_folds=n_folds, n_starts=n_starts, tol=tol, max_iter=max_iter,
                     score="full", **RECIPES["hals"], random_state=0, n_jobs=n_jobs,
                     progress=False).fit(X, t, e)  # fmt: skip
    return time.perf_counter() - t0, len(s.summary_)


def one_setting(X, t, e, n_folds, n_starts, tol, max_iter, n_jobs, solver="hals"):
    """Seconds and the search of one CV evaluation (k 3, alpha 0.5, lambda_ 0.1)."""
    t0 = time.perf_counter()
    s = DeSurvSearch(n_components=3, alpha=HP.alpha, lambda_=HP.lambda_, l1_ratio=HP.l1_ratio,
                     n_folds=n_folds, n_starts=n_starts, tol=tol, max_iter=max_iter,
                     score="full", **RECIPES[solver], random_state=0, n_jobs=n_jobs,
                     progress=False).fit(X, t, e)  # fmt: skip
    return time.perf_counter() - t0, s


def two_phase(Xtr, sv, W, H, b, solver: str, tol: float, max_iter: int) -> None:
    """A start's fit as the search evaluates it: the NMF phase (alpha = 0 to the recipe's
    warmup_tol within its warm-up cap), then the survival phase from its W and H."""
    w = RECIPES[solver]
    nmf_hp = Hyper(alpha=0.0, lambda_=HP.lambda_, l1_ratio=HP.l1_ratio)
    nmf = fit_batch(Xtr, sv, W, H, b, nmf_hp, tol=w["warmup_tol"] or 0.0, warmup=0,
                    max_iter=w["warmup_iter"], refit_beta=False, **SOLVERS[solver])  # fmt: skip
    fit_batch(Xtr, sv, nmf.W, nmf.H, np.zeros_like(b), HP, tol=tol,
              max_iter=max_iter - w["warmup_iter"], warmup=0, **SOLVERS[solver])  # fmt: skip


def shared_report(X, t, e, n_folds, n_starts, tol, max_iter, n_jobs, one: float) -> float:
    """Section 5: the 6-setting grid against one evaluation (``one`` seconds); returns the
    paper's search projected in hours."""
    print("5. [hals] settings of one k share each fold's NMF phase (a grid of 6 settings):")
    t6, n6 = shared_search(X, t, e, n_folds, n_starts, tol, max_iter, n_jobs)
    extra = (t6 - one) / (n6 - 1)  # each further setting of the same k
    n_k = 11  # the paper's Bayesian space: k in [2, 12]
    search_h = (n_k * one + (150 - n_k) * extra) / 3600
    print(
        f"  {n6} settings {t6:.1f} s: the first {one:.1f} s (one evaluation), each further "
        f"one {extra:.1f} s; the paper's search (150 evaluations over {n_k} values of k, each "
        f"k's first evaluation as the first) {search_h:.2f} h projected"
    )
    return search_h


def one_at_a_time(X, t, e, n_folds, per_fold, tol, max_iter, solver):
    """Seconds of single fits (B = 1, one thread, both phases as the search runs them): the
    first ``per_fold`` starts of every fold, each on its fold's training samples (folds
    converge at different speeds)."""
    secs = []
    with _one_blas_thread():
        for f in range(n_folds):
            Xc, train, entropy = fold_problem(X, t, e, n_folds, f)
            Xtr = np.ascontiguousarray(Xc[:, train])
            sv = SurvivalData.from_arrays(t[train], e[train])
            W, H, b = starts(Xc, train, entropy, per_fold, f)
            for i in range(per_fold):
                sl = slice(i, i + 1)
                t0 = time.perf_counter()
                two_phase(Xtr, sv, W[sl], H[sl], b[sl], solver, tol, max_iter)
                secs.append(time.perf_counter() - t0)
    return np.array(secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--shared-only", action="store_true",
                    help="only 5: one evaluation and the 6-setting grid (about 2 minutes)")
    args = ap.parse_args()
    n_folds, n_starts, sample, per_fold = (2, 4, 2, 1) if args.quick else (5, 30, 10, 3)
    tol, max_iter = TOL, MAX_ITER
    X, t, e = data()
    print(
        f"data: {X.shape[1]} genes x {X.shape[0]} samples, {int(e.sum())} events; k=3, "
        f"alpha {HP.alpha}, lambda_ {HP.lambda_}, {n_folds} folds x {n_starts} starts, "
        f"tol {tol}, n_jobs {args.n_jobs}"
    )
    Xc, train, entropy = fold_problem(X, t, e, n_folds)
    if args.shared_only:
        one, _ = one_setting(X, t, e, n_folds, n_starts, tol, max_iter, args.n_jobs)
        shared_report(X, t, e, n_folds, n_starts, tol, max_iter, args.n_jobs, one)
        return

    print(f"1. iterations to tol {tol} on fold 0 ({sample} starts, batched, one thread):")
    it = iterations(Xc, t, e, train, entropy, sample, tol, max_iter)

    n_fits = n_folds * n_starts
    rows = {}
    for solver in ("hals", "mu"):
        print(f"2. [{solver}] one CV evaluation, batched (DeSurvSearch, solver={solver!r}):")
        t0 = time.perf_counter()
        s = DeSurvSearch(
            n_components=3,
            alpha=HP.alpha,
            lambda_=HP.lambda_,
            l1_ratio=HP.l1_ratio,
            n_folds=n_folds,
            n_starts=n_starts,
            tol=tol,
            max_iter=max_iter,
            score="full",
            solver=solver,
            **RECIPES[solver],
            random_state=0,
            n_jobs=args.n_jobs,
            progress=False,
        ).fit(X, t, e)
        batched = time.perf_counter() - t0
        tab = s.result_.table
        print(
            f"  {batched:.1f} s wall; CV C-index {s.summary_['mean_cindex'].iloc[0]:.3f} "
            f"(SE {s.summary_['se_cindex'].iloc[0]:.3f}); median iterations per fold "
            f"{tab['n_iter'].tolist()}"
        )
        print(f"3. [{solver}] one fit at a time (B = 1, one thread), {per_fold} starts per fold:")
        secs = one_at_a_time(X, t, e, n_folds, per_fold, tol, max_iter, solver)
        single = float(np.mean(secs)) * n_fits / max(args.n_jobs, 1)
        print(
            f"  mean {np.mean(secs):.3f} s per fit (median {np.median(secs):.3f}) -> {n_fits} "
            f"fits over {args.n_jobs} processes: {single:.1f} s projected"
        )
        rows[solver] = (batched, single)

    r_lo, r_hi = (x * n_fits for x in R_FIT_SECONDS)
    print("4. summary:")
    for solver, (batched, single) in rows.items():
        print(f"  [{solver}] batched evaluation       {batched:8.1f} s")
        print(
            f"  [{solver}] one at a time (proj.)   {single:8.1f} s  (ratio "
            f"{single / batched:.1f}x)"
        )
        print(f"  [{solver}] 150 evaluations          {150 * batched / 3600:8.2f} h projected")
    print(f"  R package (150 fits, issue)   {r_lo:5.0f}-{r_hi:.0f} s one at a time")
    before, now = it["mu"], it["hals"]
    print(
        f"  iterations median mu/HALS  {np.median(before[0]):.0f} / {np.median(now[0]):.0f}"
        f"; median final loss mu/HALS {np.median(before[2]):.4f} / "
        f"{np.median(now[2]):.4f}"
    )
    search_h = shared_report(X, t, e, n_folds, n_starts, tol, max_iter, args.n_jobs,
                             rows["hals"][0])  # fmt: skip
    if args.quick:
        return
    checks = {}
    for solver, (batched, single) in rows.items():
        checks[f"[{solver}] batched >= 5x faster than one at a time"] = single / batched >= 5
        checks[f"[{solver}] evaluation under 30 s"] = batched < 30
        checks[f"[{solver}] 150 evaluations, none sharing, under 1 hour"] = (
            150 * batched / 3600 < 1
        )
    checks["[hals] the paper's search, NMF phases shared per k, under 1 hour"] = search_h < 1
    it_mu, it_hals = np.median(before[0]), np.median(now[0])
    checks["default (HALS): median iterations to tol fewer than mu"] = it_hals < it_mu
    got = [r for r in it["reach"] if r > 0]
    checks["default (HALS): reaches mu's final loss in every start, in fewer iterations"] = (
        len(got) == len(it["reach"]) and np.median(got) < it_mu
    )
    checks["default (HALS): median final loss no worse than mu"] = (
        np.median(now[2]) <= np.median(before[2])
    )
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")


if __name__ == "__main__":
    main()
