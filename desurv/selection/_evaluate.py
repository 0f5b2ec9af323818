"""One cross-validation unit: a setting's starts on one fold, solved as one batch."""

from __future__ import annotations

import time as _time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from desurv._core.cox import SurvivalData
from desurv._core.solver import SOLVERS, Hyper, fit_batch, uniform_start
from desurv._validation import warmup_cap
from desurv.metrics import concordance_index
from desurv.selection._folds import FoldPreprocess

__all__ = [
    "EvalConfig",
    "PARAM_DEFAULTS",
    "evaluate_path",
    "evaluate_unit",
    "fold_starts",
    "top_gene_risk",
]

# every parameter a setting has, with its default when the search does not vary it
PARAM_DEFAULTS: dict[str, Any] = {
    "n_components": 3,
    "alpha": 0.5,
    "lambda_": 0.1,
    "l1_ratio": 0.5,
    "lambda_w": 0.0,
    "lambda_h": 0.0,
    "n_top": None,
}

SCORES = ("top", "full")
START_RULES = ("mean", "best_train")
WARM_STARTS = (None, "alpha")


@dataclass(frozen=True)
class EvalConfig:
    """How every setting is evaluated (the same for the whole search).

    ``score``: the held-out risk, ``"top"`` (the paper: X_top^T theta_top / ||theta_top|| with
    theta = W beta restricted to the union of each factor's top ``n_top`` genes by the
    authors' specificity score; the full risk when a setting has no ``n_top``) or ``"full"``
    (X^T W beta). ``start_rule``: a fold's score is the mean over its starts (``"mean"``, the
    paper) or the held-out C of the start with the highest training C (``"best_train"``).
    ``solver``: the optimiser (``desurv.DeSurv``'s ``solver``); ``warmup`` and ``warmup_tol``:
    ``desurv.DeSurv``'s ``warmup_iter`` (None: half of ``max_iter``) and ``warmup_tol``.
    ``warm_start``: ``None`` (every setting from the fold's random starts) or ``"alpha"``
    (settings that differ only in alpha form a path, fitted in increasing alpha: the first
    from the random starts, each next one from the previous alpha's fits, start by start,
    with no warm-up; see
    :func:`evaluate_path`).
    """

    n_starts: int = 30
    max_iter: int = 2000
    tol: float = 1e-5
    warmup: int | None = None  # None: half of max_iter (set in __post_init__)
    warmup_tol: float | None = 1e-5
    ties: str = "efron"
    score: str = "top"
    start_rule: str = "mean"
    solver: str = "hals"
    warm_start: str | None = None

    def __post_init__(self) -> None:
        if self.warm_start not in WARM_STARTS:
            raise ValueError(f"warm_start must be one of {WARM_STARTS}, got {self.warm_start!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {tuple(SOLVERS)}, got {self.solver!r}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.start_rule not in START_RULES:
            raise ValueError(f"start_rule must be one of {START_RULES}, got {self.start_rule!r}")
        if not isinstance(self.n_starts, (int, np.integer)) or self.n_starts < 1:
            raise ValueError(f"n_starts must be an integer >= 1, got {self.n_starts!r}")
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not (isinstance(self.tol, (int, float)) and np.isfinite(self.tol) and self.tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        if self.warmup is None:
            object.__setattr__(self, "warmup", warmup_cap(None, self.max_iter))

    def spec(self) -> dict:
        out = asdict(self)
        for key in ("warm_start", "warmup_tol"):  # stores written before these options
            if out[key] is None:
                del out[key]
        return out


def top_gene_risk(W: np.ndarray, beta: np.ndarray, X: np.ndarray, n_top: int) -> np.ndarray:
    """The paper's top-gene risk X_top^T theta_top / ||theta_top|| (the authors'
    ``compute_lp``).

    W (p, k) genes x factors, beta (k,) raw coefficients, X (p, m) genes x samples; the top
    genes are the union over factors of the ``n_top`` genes with the highest specificity score
    among all genes (the R package's ``desurv_get_top_genes``;
    :func:`desurv.tl._top_genes.top_union` with ``positive_only=False``); a non-finite
    ||theta_top|| gives 0 for every sample, as in R.
    """
    from desurv.tl._top_genes import top_gene_score, top_union

    top = top_union(W, n_top, "specificity", positive_only=False)
    return top_gene_score(X.T, W, beta, top)


def fold_starts(
    Xc: np.ndarray, train: np.ndarray, entropy: int, fold: int, n_starts: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The random starts of one fold: start s from ``SeedSequence(entropy, spawn_key=(fold,
    s))`` (:func:`desurv._core.solver.uniform_start` on Xc, genes x all samples), H kept on
    the training columns and rescaled to the training samples' mean (``uniform_start``
    takes the mean of all of X). Returns W0 (B, p, k), H0 (B, k, n_train), beta0 (B, k)."""
    starts = [
        uniform_start(
            Xc, k, np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(fold, s)))
        )
        for s in range(n_starts)
    ]
    W0 = np.concatenate([s[0] for s in starts])
    scale = float(np.ascontiguousarray(Xc[:, train]).mean()) / float(Xc.mean())
    H0 = np.concatenate([s[1] for s in starts])[:, :, train] * scale
    return W0, H0, np.concatenate([s[2] for s in starts])


def _hyper(params: dict, ties: str) -> Hyper:
    return Hyper(
        alpha=float(params["alpha"]),
        lambda_=float(params["lambda_"]),
        l1_ratio=float(params["l1_ratio"]),
        lambda_w=float(params["lambda_w"]),
        lambda_h=float(params["lambda_h"]),
        ties=ties,
    )


def nmf_key(params: dict) -> str:
    """What the NMF phase of a setting depends on (besides the fold): k and the ridges; not
    alpha, lambda_, l1_ratio or n_top. Settings with the same key share their NMF phase."""
    keep = ("n_components", "lambda_w", "lambda_h")
    return "|".join(f"{p}={float(params[p])!r}" for p in keep)


@dataclass(frozen=True)
class NMFPhase:
    """The NMF phase of a fold's starts: W (B, p, k), H (B, k, n_train), its iterations."""

    W: np.ndarray
    H: np.ndarray
    n_iter: np.ndarray


def nmf_phase(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    train: np.ndarray,
    params: dict,
    entropy: int,
    fold: int,
    cfg: EvalConfig,
    preprocess: FoldPreprocess | None = None,
    cohort: np.ndarray | None = None,
) -> NMFPhase | None:
    """The warm-up of every setting with ``params``' :func:`nmf_key` on one fold: the fold's
    random starts fitted by NMF alone (alpha = 0, b = 0), to ``cfg.warmup_tol`` within
    ``cfg.warmup`` iterations (exactly ``cfg.warmup`` without ``warmup_tol``). With b = 0 the
    Cox part of L is constant, so this is the warm-up of any alpha (its steps do not depend
    on alpha, lambda_ or l1_ratio) and the search computes it once per key and fold. None
    when ``cfg.warmup`` is 0."""
    if cfg.warmup <= 0:
        return None
    Xc, Xtr, _ = _fold_data(X, train, int(params["n_components"]), preprocess, cohort)
    surv = SurvivalData.from_arrays(time[train], event[train])
    return _nmf_fit(Xc, Xtr, train, surv, params, entropy, fold, cfg)


def _nmf_fit(
    Xc: np.ndarray,
    Xtr: np.ndarray,
    train: np.ndarray,
    surv: SurvivalData,
    params: dict,
    entropy: int,
    fold: int,
    cfg: EvalConfig,
) -> NMFPhase | None:
    """:func:`nmf_phase` on a fold's data already prepared (:func:`_fold_data`)."""
    if cfg.warmup <= 0:
        return None
    W0, H0, b0 = fold_starts(Xc, train, entropy, fold, cfg.n_starts, int(params["n_components"]))
    hp = _hyper({**params, "alpha": 0.0}, cfg.ties)
    res = fit_batch(
        Xtr, surv, W0, H0, b0, hp, tol=cfg.warmup_tol or 0.0, max_iter=cfg.warmup, warmup=0,
        refit_beta=False, **SOLVERS[cfg.solver],
    )  # fmt: skip
    return NMFPhase(res.W, res.H, res.n_iter)


def _fold_data(
    X: np.ndarray,
    train: np.ndarray,
    k: int,
    preprocess: FoldPreprocess | None,
    cohort: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One fold's expression after the preprocessing that learns (fitted on its training
    samples): Xc genes x all samples, its training and held-out columns (genes without
    variance over the training samples dropped)."""
    if preprocess is not None and (preprocess.learns or preprocess.transform is not None):
        Xf, _ = preprocess.fit_apply(X, train, cohort)
    else:
        Xf = np.asarray(X, dtype=float)
    Xc = np.ascontiguousarray(Xf.T)  # genes x samples
    # genes without variance over the training samples carry nothing; drop them here
    Xtr = Xc[:, train]
    keep = Xtr.max(axis=1) > Xtr.min(axis=1)
    Xc = np.ascontiguousarray(Xc[keep])
    n_train = int(train.sum())
    if k >= n_train or k > Xc.shape[0]:
        raise ValueError(
            f"n_components={k} is too large for a training fold of {n_train} samples and "
            f"{Xc.shape[0]} genes; use a smaller k or fewer folds"
        )
    # the fit sees the training samples only (no mask: nothing of the held-out samples enters
    # it, not even the floor of H or the unit of X)
    return Xc, np.ascontiguousarray(Xc[:, train]), Xc[:, ~train]


def evaluate_unit(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    train: np.ndarray,
    params: dict,
    entropy: int,
    fold: int,
    cfg: EvalConfig,
    preprocess: FoldPreprocess | None = None,
    cohort: np.ndarray | None = None,
) -> dict:
    """Fit a setting's ``cfg.n_starts`` starts on the training samples of one fold (one
    batch) and score the held-out samples.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_genes)
        Nonnegative expression, samples x genes, before the preprocessing that learns.
    time, event : ndarray, shape (n_samples,)
    train : ndarray of bool, shape (n_samples,)
        The fold's training samples (the others are held out).
    params : dict
        A complete setting (the keys of ``PARAM_DEFAULTS``).
    entropy : int
        The search's root seed; start s of fold f is drawn from
        ``SeedSequence(entropy, spawn_key=(f, s))``, the same for every setting and any
        ``n_jobs``.
    fold : int
    cfg : EvalConfig
    preprocess : FoldPreprocess, optional
        Fitted on the training samples, applied to all.
    cohort : ndarray, shape (n_samples,), optional
        Cohort labels (for a per-cohort gene filter).

    Returns
    -------
    dict
        ``cindex`` (the fold's score by ``cfg.start_rule``), ``cindex_mean``,
        ``cindex_best_train``, ``train_cindex`` (mean over starts), ``rel_error`` (mean over
        starts of ||X - WH||_F / ||X||_F on the training samples), ``n_iter`` (median),
        ``converged`` (share of starts), ``n_train``, ``n_test``, ``n_events_test``,
        ``n_genes``, ``seconds``, and ``start_cindex`` (list, held-out C per start).
    """
    return evaluate_path(X, time, event, train, [params], entropy, fold, cfg, preprocess, cohort)[0]


def evaluate_path(
    X: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    train: np.ndarray,
    path: list[dict],
    entropy: int,
    fold: int,
    cfg: EvalConfig,
    preprocess: FoldPreprocess | None = None,
    cohort: np.ndarray | None = None,
    nmf: NMFPhase | None | str = "compute",
) -> list[dict]:
    """:func:`evaluate_unit` for settings that share their :func:`nmf_key` (and with
    ``cfg.warm_start == "alpha"`` differ only in alpha), on one fold.

    The preprocessing is fitted once, and so is the NMF phase (:func:`nmf_phase`; ``nmf``
    passes one computed already, as the search does, or None when ``cfg.warmup`` is 0). A
    setting's fit is that phase, then its survival phase from the phase's W and H with b = 0
    (at most ``cfg.max_iter - cfg.warmup`` iterations, to ``cfg.tol``); ``n_iter`` counts
    both phases. With ``cfg.warm_start == "alpha"`` the settings are fitted in the order
    given (increasing alpha, as the search passes them): the first as above, each next one
    from the previous setting's final W, H and standardised coefficients, start by start
    (the survival part is already shaping W), ``n_iter`` counting that setting's own
    iterations. Returns one record per setting, in ``path``'s order.
    """
    t0 = _time.perf_counter()
    k = int(path[0]["n_components"])
    Xc, Xtr, Xte = _fold_data(X, train, k, preprocess, cohort)
    surv = SurvivalData.from_arrays(time[train], event[train])
    if isinstance(nmf, str):
        nmf = _nmf_fit(Xc, Xtr, train, surv, path[0], entropy, fold, cfg)
    if nmf is None:  # no warm-up: the survival phase from the fold's random starts
        W0, H0, b0 = fold_starts(Xc, train, entropy, fold, cfg.n_starts, k)
        first_iter = np.zeros(cfg.n_starts, dtype=int)
    else:
        W0, H0, first_iter = nmf.W, nmf.H, nmf.n_iter
        b0 = np.zeros((cfg.n_starts, k))
    out, prev = [], None
    for params in path:
        warm = cfg.warm_start == "alpha" and prev is not None
        if warm:
            W0, H0, b0 = prev.W, prev.H, prev.beta_std
        res = fit_batch(
            Xtr,
            surv,
            W0,
            H0,
            b0,
            _hyper(params, cfg.ties),
            tol=cfg.tol,
            max_iter=cfg.max_iter if warm else max(cfg.max_iter - cfg.warmup, 1),
            warmup=0,
            **SOLVERS[cfg.solver],
        )
        if not warm:
            res.n_iter = res.n_iter + first_iter
        out.append(_score(res, Xtr, Xte, time, event, train, params, cfg))
        out[-1]["seconds"] = _time.perf_counter() - t0
        t0 = _time.perf_counter()
        prev = res
    return out


def _score(res, Xtr, Xte, time, event, train, params, cfg) -> dict:
    """The record of one setting's fits on one fold (see :func:`evaluate_unit`)."""
    test = ~train
    n_top = params.get("n_top")
    use_top = cfg.score == "top" and n_top is not None and not _is_nan(n_top)
    held, trained, rel = [], [], []
    norm_tr = float(np.linalg.norm(Xtr))
    for s in range(cfg.n_starts):
        W, beta = res.W[s], res.beta[s]
        if use_top:
            risk_te = top_gene_risk(W, beta, Xte, int(n_top))
            risk_tr = top_gene_risk(W, beta, Xtr, int(n_top))
        else:
            risk_te, risk_tr = Xte.T @ (W @ beta), Xtr.T @ (W @ beta)
        held.append(_cindex(time[test], event[test], risk_te))
        trained.append(_cindex(time[train], event[train], risk_tr))
        rel.append(float(np.linalg.norm(Xtr - W @ res.H[s]) / norm_tr))
    held_a, trained_a = np.asarray(held), np.asarray(trained)
    best = int(np.argmax(np.where(np.isfinite(trained_a), trained_a, -np.inf)))
    c_mean = float(np.mean(held_a))
    c_best = float(held_a[best])
    return {
        "cindex": c_mean if cfg.start_rule == "mean" else c_best,
        "cindex_mean": c_mean,
        "cindex_best_train": c_best,
        "train_cindex": float(np.mean(trained_a)),
        "rel_error": float(np.mean(rel)),
        "n_iter": float(np.median(res.n_iter)),
        "converged": float(np.mean(res.converged)),
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "n_events_test": int(np.sum(event[test] > 0)),
        "n_genes": int(Xtr.shape[0]),
        "start_cindex": [float(v) for v in held_a],
    }


def _cindex(t: np.ndarray, e: np.ndarray, risk: np.ndarray) -> float:
    # a risk that is constant (all coefficients 0) ranks nothing: C = 0.5 by R's rule
    return float(concordance_index(t, e, risk))


def _is_nan(v: Any) -> bool:
    try:
        return bool(np.isnan(v))
    except TypeError:
        return False
