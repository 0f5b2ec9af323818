"""The DeSurv estimator: scikit-learn style, on samples x genes arrays or DataFrames."""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import ThreadpoolController

from desurv._core.cox import SurvivalData
from desurv._core.solver import (
    LOSS_PARTS,
    FitResult,
    Hyper,
    fit_batch,
    solve_beta,
    uniform_start,
)
from desurv._validation import (
    check_expression,
    check_hyperparameters,
    check_random_state,
    check_survival,
)
from desurv.exceptions import ConvergenceWarning, DataWarning, DivergenceError
from desurv.metrics import concordance_index

__all__ = ["DeSurv"]

logger = logging.getLogger("desurv")


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded in this process, found once (threadpoolctl scans the
    process's shared libraries, ~6 ms, every time a controller is made)."""
    return ThreadpoolController()


def _one_blas_thread():
    """Context manager: BLAS limited to one thread (see ``n_jobs``)."""
    return _blas_controller().limit(limits=1, user_api="blas")


VARIANTS = ("default", "r-desurv")


class DeSurv(BaseEstimator):
    r"""Survival-driven deconvolution: NMF whose factor scores drive an elastic-net Cox model.

    With X the expression matrix in the paper's orientation (genes x samples, p x n; the
    transpose of what :meth:`fit` takes), W (genes x k), H (k x samples), Z = W^T X and
    l(W, beta) the Cox log partial likelihood of the risk Z^T beta, the default variant
    minimises the paper's loss (eq. 5)

    .. math::

        L = \frac{1-\alpha}{2np}\|X - WH\|_F^2
            - \alpha\Big(\frac{2}{n} l(W, \beta) - \lambda P(\beta)\Big)
            + \frac{\gamma}{2pk}\|W\|_F^2 + \frac{\nu}{2n}\|H\|_F^2,
        \qquad P(\beta) = \xi\|\beta\|_1 + \frac{1-\xi}{2}\|\beta\|_2^2

    by alternating a multiplicative H step, a multiplicative W step with the Cox gradient
    (damped with backtracking so that L never increases) and a proximal-Newton beta step
    solved to convergence. ``alpha = 0`` is Lee-Seung NMF (with the ridge
    terms); beta is then fitted once on the final scores so that the model can predict.

    Parameters
    ----------
    n_components : int, default 3
        k, the number of gene programs (factors).
    alpha : float in [0, 1), default 0.5
        alpha, the survival weight. Its useful range depends on the scale of X: the NMF term
        is a mean squared residual, the Cox term -(2/n) l is O(1); select it by
        cross-validation.
    lambda_ : float >= 0, default 0.1
        lambda, the strength of the elastic-net penalty on beta (the R package's ``lambda``).
        The penalty acts on beta's raw scale, so its useful size follows the scale of the
        scores Z = W^T X (on the reference data sd(Z) is about 1e5 and beta about 1e-5:
        lambda_ = 0.1 is no penalty there, lambda_ = 3e4 is about 0.2 on standardised
        scores). The scale of each factor is otherwise free (W c, H / c, beta / c leave the
        fit and eta unchanged) and the penalty shrinks as W grows: with
        ``lambda_w = lambda_h = 0`` the columns of W that carry beta slowly grow (reference
        data, alpha 0.9, lambda_ 3e4: from norm 1.3e3 to 2.2e5 after 1000 iterations and
        3.0e5 after 4000). ``lambda_w > 0`` alone stops that but lets the other columns
        shrink towards 0; small positive ``lambda_w`` and ``lambda_h`` together (1e-4 there)
        pin every column's scale.
    l1_ratio : float in [0, 1], default 0.5
        xi, the elastic-net mix (1 = lasso). The R package calls it ``nu``.
    lambda_w : float >= 0, default 0.0
        gamma, the ridge penalty on W (the R package's ``lambdaW``). W's scale is otherwise
        free (W c, H / c fit X equally), so a small positive value keeps it bounded.
    lambda_h : float >= 0, default 0.0
        nu of the paper, the ridge penalty on H (the R package's ``lambdaH``).
    ties : {"efron", "breslow"}, default "efron"
        Handling of tied event times in the partial likelihood (R's default is Efron).
    tol : float >= 0, default 1e-6
        Stop when the relative change of L between iterations is below ``tol``.
    max_iter : int, default 1000
        Maximum number of iterations of the final fit.
    n_init : int, default 1
        Number of random starts. Each runs ``init_max_iter`` iterations (all at once, as one
        batch); the best by ``init_criterion`` continues.
    init_max_iter : int, default 20
        Iterations of each start before the best is chosen (only when ``n_init > 1``).
    init_criterion : {"loss", "cindex"}, default "loss"
        How the best start is chosen: lowest training loss or highest training C-index.
    warmup_iter : int >= 0, default 50
        Iterations at the start during which beta stays 0, so the Cox term is constant and W, H
        first fit X (plain NMF steps of the same loss, which still never increases). From a
        random start the scores are nearly collinear and a Cox fit on them has extreme
        curvature that stalls the W step; the warm-up avoids that. 0 follows Algorithm 1
        literally.
    variant : {"default", "r-desurv"}, default "default"
        "r-desurv" follows the authors' R package step by step (docs/r_desurv_variant.md):
        n_events scaling of the Cox term, unit-norm W, its beta step on standardised scores,
        its stopping rule. There ``ties`` (fixed deterministic order), ``init_criterion``
        (always the training C-index) and ``warmup_iter`` have no effect; the package's own
        loss trace is kept in ``r_loss_history_``.
    random_state : int, SeedSequence, Generator or None
        Seeds the starts; start i uses the i-th child of ``SeedSequence(random_state)``, so
        the result does not depend on ``n_jobs``.
    n_jobs : int or None, default None
        Processes over which the starts are spread (None = 1, -1 = all cores).
    verbose : bool, default False
        Log progress (``logging.getLogger("desurv")`` at INFO).

    Attributes
    ----------
    W_ : ndarray, shape (n_genes, k)
        Gene loadings (genes x factors; paper orientation). Rows of genes dropped because they
        were zero in every training sample are 0.
    H_ : ndarray, shape (k, n_samples)
        Factor activities of the training samples (factors x samples, input sample order).
    coef_ : ndarray, shape (k,)
        beta, the Cox coefficients of the factor scores.
    loss_history_ : pandas.DataFrame
        One row per iteration: ``loss`` and its parts ``nmf``, ``cox``, ``penalty_beta``,
        ``penalty_w``, ``penalty_h`` (each already weighted, so they add up to ``loss``).
    n_iter_ : int
        Iterations of the final fit (the initial iterations of the chosen start included).
    converged_ : bool
    train_cindex_ : float
        Harrell's C of the training risk.
    seeds_ : list of int
        Entropy of the SeedSequence used (first element) so that the fit can be repeated.
    genes_used_ : ndarray of bool, shape (n_genes,)
        False for genes that were dropped (zero in every training sample).
    feature_names_in_ : ndarray of str
        Gene names, when X was a DataFrame.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components: int = 3,
        *,
        alpha: float = 0.5,
        lambda_: float = 0.1,
        l1_ratio: float = 0.5,
        lambda_w: float = 0.0,
        lambda_h: float = 0.0,
        ties: str = "efron",
        tol: float = 1e-6,
        max_iter: int = 1000,
        n_init: int = 1,
        init_max_iter: int = 20,
        init_criterion: str = "loss",
        warmup_iter: int = 50,
        variant: str = "default",
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.lambda_ = lambda_
        self.l1_ratio = l1_ratio
        self.lambda_w = lambda_w
        self.lambda_h = lambda_h
        self.ties = ties
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_max_iter = init_max_iter
        self.init_criterion = init_criterion
        self.warmup_iter = warmup_iter
        self.variant = variant
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        time: Any,
        event: Any,
        *,
        W0: np.ndarray | None = None,
        H0: np.ndarray | None = None,
        beta0: np.ndarray | None = None,
    ) -> DeSurv:
        """Fit the model.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n_samples, n_genes)
            Nonnegative expression, samples x genes (e.g. ``adata.X``). DataFrame row and
            column names are kept as sample and gene names.
        time : array-like or Series, shape (n_samples,)
            Follow-up times (> 0). A Series is aligned on X's sample names.
        event : array-like or Series, shape (n_samples,)
            1 = event (death), 0 = censored.
        W0 : ndarray, shape (n_genes, k), optional
            Starting W (genes x factors). With W0 and H0 the random starts are skipped.
        H0 : ndarray, shape (k, n_samples), optional
            Starting H (factors x samples, input sample order).
        beta0 : ndarray, shape (k,), optional
            Starting beta (default zeros).

        Returns
        -------
        self
        """
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {self.variant!r}.")
        arr, samples, genes = check_expression(X)
        n, p = arr.shape
        check_hyperparameters(self.get_params(), n, p)
        t, e = check_survival(time, event, n, samples)
        zero_samples = ~(arr > 0).any(axis=1)
        if zero_samples.any():
            names = samples[zero_samples] if samples is not None else np.flatnonzero(zero_samples)
            raise ValueError(
                f"{int(zero_samples.sum())} samples have zero expression in every gene: "
                f"{list(names[:5])}. Drop them: NMF cannot place them and their score is 0."
            )
        used = (arr > 0).any(axis=0)
        if not used.all():
            dropped = genes[~used] if genes is not None else np.flatnonzero(~used)
            warnings.warn(
                f"{int((~used).sum())} genes are zero in every sample and were left out of the "
                f"fit (their rows of W_ are 0): {list(dropped[:5])}"
                + (" ..." if (~used).sum() > 5 else ""),
                DataWarning,
                stacklevel=2,
            )
        k = int(self.n_components)
        if k > int(used.sum()):
            raise ValueError(
                f"n_components (k) = {k} exceeds the {int(used.sum())} genes that are not "
                "all-zero; lower k."
            )
        Xc = np.ascontiguousarray(arr[:, used].T)  # genes x samples, the core's orientation
        starts = self._starts(Xc, k, W0, H0, beta0, used, n)
        seq = check_random_state(self.random_state)
        self.seeds_ = [int(seq.entropy)] if isinstance(seq.entropy, int) else list(seq.entropy)

        surv = SurvivalData.from_arrays(t, e)
        hp = Hyper(
            alpha=float(self.alpha),
            lambda_=float(self.lambda_),
            l1_ratio=float(self.l1_ratio),
            lambda_w=float(self.lambda_w),
            lambda_h=float(self.lambda_h),
            ties=self.ties,
        )
        if self.variant == "r-desurv":
            with _one_blas_thread():
                self._fit_r_variant(Xc, t, e, starts, k, seq, hp)
        else:
            self._fit_default(Xc, surv, starts, hp, t, e, seq)

        W_full = np.zeros((p, k))
        W_full[used] = self._W_used
        self.W_ = W_full
        self.genes_used_ = used
        self.n_features_in_ = p
        if genes is not None:
            self.feature_names_in_ = genes
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.sample_names_ = samples
        risk = arr @ self.W_ @ self.coef_
        self.train_cindex_ = float(concordance_index(t, e, risk))
        if not self.converged_:
            last = self.loss_history_["loss"].to_numpy()
            rel = abs(last[-2] - last[-1]) / max(abs(last[-2]), 1e-300) if len(last) > 1 else np.nan
            warnings.warn(
                f"DeSurv did not converge in max_iter={self.max_iter} iterations (last relative "
                f"loss change {rel:.3g} > tol={self.tol}); increase max_iter, or raise tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _starts(self, Xc, k, W0, H0, beta0, used, n):
        if W0 is None and H0 is None:
            if beta0 is not None:
                raise ValueError("beta0 was given without W0 and H0; give all three or none.")
            return None
        if W0 is None or H0 is None:
            raise ValueError("give both W0 (genes x k) and H0 (k x samples), or neither.")
        W0 = np.asarray(W0, dtype=float)
        H0 = np.asarray(H0, dtype=float)
        if W0.shape != (used.size, k):
            raise ValueError(f"W0 must have shape (n_genes, k) = {(used.size, k)}; got {W0.shape}.")
        if H0.shape != (k, n):
            raise ValueError(f"H0 must have shape (k, n_samples) = {(k, n)}; got {H0.shape}.")
        b0 = np.zeros(k) if beta0 is None else np.asarray(beta0, dtype=float).ravel()
        if b0.shape != (k,):
            raise ValueError(f"beta0 must have length k = {k}; got shape {b0.shape}.")
        for name, v in (("W0", W0), ("H0", H0), ("beta0", b0)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} has non-finite values.")
        if (W0 < 0).any() or (H0 < 0).any():
            raise ValueError("W0 and H0 must be nonnegative.")
        return W0[used][None], H0[None], b0[None]

    def _random_starts(self, Xc, k, seq: np.random.SeedSequence, count: int):
        children = seq.spawn(count)
        Ws, Hs, bs = [], [], []
        for child in children:
            W, H, b = uniform_start(Xc, k, np.random.default_rng(child))
            Ws.append(W[0])
            Hs.append(H[0])
            bs.append(b[0])
        return np.stack(Ws), np.stack(Hs), np.stack(bs)

    def _run(self, Xc, surv, W0, H0, b0, hp, max_iter, warmup):
        """fit_batch over the batch, split across n_jobs processes when asked."""
        n_jobs = 1 if self.n_jobs is None else int(self.n_jobs)
        if n_jobs == -1:
            import os

            n_jobs = os.cpu_count() or 1
        B = W0.shape[0]
        callback = None
        if self.verbose:

            def callback(it: int, n_active: int) -> None:
                if it % 50 == 0 or n_active == 0:
                    logger.info("iteration %d: %d of %d fits still running", it, n_active, B)

        try:
            if n_jobs <= 1 or B == 1:
                # the products here are thin (k or B k columns): one BLAS thread is as fast
                # when the machine is idle and far faster when it is not (threads contend)
                with _one_blas_thread():
                    return fit_batch(
                        Xc,
                        surv,
                        W0,
                        H0,
                        b0,
                        hp,
                        tol=self.tol,
                        max_iter=max_iter,
                        warmup=warmup,
                        callback=callback,
                    )
            from joblib import Parallel, delayed

            chunks = np.array_split(np.arange(B), min(n_jobs, B))
            parts = Parallel(n_jobs=len(chunks))(
                delayed(fit_batch)(
                    Xc,
                    surv,
                    W0[c],
                    H0[c],
                    b0[c],
                    hp,
                    tol=self.tol,
                    max_iter=max_iter,
                    warmup=warmup,
                )
                for c in chunks
            )
        except FloatingPointError as exc:
            raise DivergenceError(
                f"DeSurv diverged (non-finite loss) with n_components={self.n_components}, "
                f"{hp.describe()}: {exc}"
            ) from None
        return FitResult(
            np.concatenate([r.W for r in parts]),
            np.concatenate([r.H for r in parts]),
            np.concatenate([r.beta for r in parts]),
            [h for r in parts for h in r.history],
            np.concatenate([r.n_iter for r in parts]),
            np.concatenate([r.converged for r in parts]),
        )

    def _fit_default(self, Xc, surv, starts, hp, t, e, seq):
        warm = int(self.warmup_iter)
        if starts is None:
            count = int(self.n_init)
            starts = self._random_starts(Xc, self.n_components, seq, count)
        else:
            count = 1
        if count == 1:
            res = self._run(Xc, surv, *starts, hp, self.max_iter, warm)
            history = [res.history[0]]
        else:
            pre_iter = min(int(self.init_max_iter), int(self.max_iter))
            pre = self._run(Xc, surv, *starts, hp, pre_iter, warm)
            if self.init_criterion == "loss":
                scores = np.array([h["loss"][-1] for h in pre.history])
                best = int(np.argmin(scores))
            else:
                # score each start by the C-index of the Cox fit on its scores (beta may still
                # be 0 during the warm-up)
                z = np.einsum("pn,bpk->bnk", Xc[:, surv.order], pre.W)
                mask = np.ones((count, Xc.shape[1]))
                beta, _ = solve_beta(z, pre.beta, surv, mask, hp)
                scores = np.array(
                    [concordance_index(t, e, Xc.T @ pre.W[m] @ beta[m]) for m in range(count)]
                )
                best = int(np.nanargmax(scores))
            self.init_scores_ = scores
            logger.info(
                "start %d of %d chosen (%s %.6g)", best, count, self.init_criterion, scores[best]
            )
            history = [pre.history[best]]
            done_iter = int(pre.n_iter[best])
            remaining = int(self.max_iter) - done_iter
            sl = slice(best, best + 1)
            if pre.converged[best] or remaining <= 0:
                res = FitResult(
                    pre.W[sl], pre.H[sl], pre.beta[sl], history, pre.n_iter[sl], pre.converged[sl]
                )
            else:
                res = self._run(
                    Xc,
                    surv,
                    pre.W[sl],
                    pre.H[sl],
                    pre.beta[sl],
                    hp,
                    remaining,
                    max(0, warm - done_iter),
                )
                history.append(res.history[0])
        best = 0
        hist = {key: np.concatenate([h[key] for h in history]) for key in LOSS_PARTS}
        self.loss_history_ = pd.DataFrame(
            hist, index=pd.RangeIndex(1, len(hist["loss"]) + 1, name="iteration")
        )
        self._W_used = res.W[best]
        self.H_ = res.H[best]
        self.coef_ = res.beta[best]
        self.n_iter_ = int(len(hist["loss"]))
        self.converged_ = bool(res.converged[best])

    def _fit_r_variant(self, Xc, t, e, starts, k, seq, hp):
        """variant="r-desurv": the R package's algorithm (desurv._core.rdesurv)."""
        from desurv._core.rdesurv import fit_rdesurv, fit_rdesurv_multistart

        kw = dict(
            alpha=hp.alpha,
            lambda_=hp.lambda_,
            l1_ratio=hp.l1_ratio,
            lambda_w=hp.lambda_w,
            lambda_h=hp.lambda_h,
            max_iter=int(self.max_iter),
            tol=float(self.tol),
        )
        if starts is not None:
            W0, H0, b0 = starts
            res = fit_rdesurv(Xc, t, e, W0[0], H0[0], b0[0], **kw)
        else:
            res = fit_rdesurv_multistart(
                Xc,
                t,
                e,
                k,
                ninit=int(self.n_init),
                imaxit=int(self.init_max_iter),
                tol_init=1e-4,
                rng=np.random.default_rng(seq),
                **kw,
            )
            self.init_scores_ = res.start_cindices
        if res.diverged:
            raise DivergenceError(
                f"DeSurv (variant='r-desurv') diverged (non-finite loss or beta) after "
                f"{res.n_iter} iterations with n_components={self.n_components}, "
                f"alpha={self.alpha}, lambda_={self.lambda_}, l1_ratio={self.l1_ratio}, "
                f"lambda_w={self.lambda_w}, lambda_h={self.lambda_h}."
            )
        a, tr = float(self.alpha), res.loss_trace
        index = pd.RangeIndex(1, res.n_iter + 1, name="iteration")
        # weighted parts that add up to the package's loss (as the default's columns do)
        self.loss_history_ = pd.DataFrame(
            {
                "loss": tr["loss"],
                "nmf": (1 - a) * tr["nmf_loss"],
                "cox": -a * tr["surv_loss"],
                "penalty_beta": a * float(self.lambda_) * tr["penalty_beta"],
                "penalty_w": float(self.lambda_w) * tr["penalty_W"],
                "penalty_h": (1 - a) * float(self.lambda_h) * tr["penalty_H"],
            },
            index=index,
        )
        # the package's own trace and final loss, for comparison with R
        self.r_loss_history_ = pd.DataFrame(tr, index=index)
        self.r_final_loss_ = dict(res.final_loss)
        self.mean_z_, self.sd_z_ = res.mean_z, res.sd_z
        self._W_used, self.H_, self.coef_ = res.W, res.H, res.beta
        self.n_iter_, self.converged_ = int(res.n_iter), bool(res.converged)

    # ------------------------------------------------------------------ using the fit
    def _check_fitted(self) -> None:
        if not hasattr(self, "W_"):
            raise ValueError("this DeSurv is not fitted yet; call fit(X, time, event) first.")

    def _align(self, X: Any) -> np.ndarray:
        self._check_fitted()
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            cols = X.columns.astype(str)
            missing = [g for g in self.feature_names_in_ if g not in set(cols)]
            if missing:
                raise ValueError(
                    f"X lacks {len(missing)} of the model's genes, e.g. {missing[:5]}; "
                    "pass the same genes as in fit (desurv.tl.score zero-fills missing genes)."
                )
            X = X.loc[:, list(self.feature_names_in_)]
        arr, _, _ = check_expression(X)
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} genes (columns) but the model was fitted on "
                f"{self.n_features_in_}; pass the same genes in the same order."
            )
        return arr

    def transform(self, X: Any) -> np.ndarray:
        """Factor scores Z^T = X W, shape (n_samples, k), for samples x genes X."""
        return self._align(X) @ self.W_

    def predict(self, X: Any) -> np.ndarray:
        """Risk score X W beta, shape (n_samples,); higher = worse prognosis."""
        return self.transform(X) @ self.coef_

    def score(self, X: Any, time: Any, event: Any) -> float:
        """Harrell's C-index of :meth:`predict` on (X, time, event) (R's conventions)."""
        arr = self._align(X)
        samples = X.index.astype(str).to_numpy() if isinstance(X, pd.DataFrame) else None
        t, e = check_survival(time, event, arr.shape[0], samples)
        return float(concordance_index(t, e, arr @ self.W_ @ self.coef_))
