"""``desurv.tl.validate``: the DeSurv paper's external validation of a trained model.

Two designs over one or several validation cohorts, each for the DeSurv model and (with
``compare_nmf=True``) for the alpha = 0 NMF model at the same k, side by side:

- ``"projection"`` (the paper as published): every cohort is put on the model's genes
  with the model's preprocessing (:func:`desurv.tl._score.project`) and scored; C-index per
  cohort with its standard error, a Cox model refitted on the factor scores in each cohort,
  the pooled hazard ratio per SD (Cox stratified by cohort), per-factor hazard ratios with
  fixed-effect inverse-variance pooling (forest plot), a cutpoint chosen by cross-validated
  log-rank on the training cohort, risk groups, Kaplan-Meier summaries, stratified log-rank
  tests and Fisher tests of the groups against published subtypes.
- ``"clustering"`` (the paper as first written): the cohorts are logged, merged on their
  common genes and ranked within sample, restricted to the union of the factors' top genes
  and consensus-clustered (k-means, 80 % of samples and genes per resample, samples drawn
  with weight 1 / (D n_d)); a Cox model stratified by cohort of the clusters gives hazard
  ratios, C-index, BIC and the likelihood-ratio p.

Every statistic comes from :mod:`desurv.stats` (``implementation="python"``) or from R's
survival, stats and ConsensusClusterPlus through :mod:`r_bridge` (``"r"``).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import stats as sps

from desurv._anndata import (
    check_adata,
    get_matrix,
    get_survival,
    h5ad_safe,
    is_anndata,
    package_version,
)
from desurv.exceptions import ConvergenceWarning, DataWarning
from desurv.pp._rank import rank_rows
from desurv.stats._consensus import cohort_weights
from desurv.stats._result import Result
from desurv.tl._engine import Engine
from desurv.tl._score import _fit_record, _preprocess, project
from desurv.tl._top_genes import top_gene_score, top_genes_table, top_union

logger = logging.getLogger("desurv")

__all__ = ["validate", "ValidationResult"]

DESIGNS = ("projection", "clustering")
SCORES = ("full", "top")
#: The paper's grid of training-standardised cutpoints: -2 to 2 by 0.2.
Z_GRID = np.round(np.arange(-2.0, 2.0 + 1e-9, 0.2), 10)
_TABLES = (
    "per_cohort", "pooled", "comparison", "cutpoint", "cutpoint_choice", "groups", "logrank",
    "forest", "fisher", "cluster_terms", "samples",
)  # fmt: skip


class ValidationResult(Result):
    """Results of :func:`validate` (a :class:`desurv.stats.Result`: a dict with attribute
    access). Every table is a tidy DataFrame with a ``method`` column (``"desurv"`` or
    ``"nmf"``, the alpha = 0 model at the same k):

    - ``per_cohort`` (projection): one row per cohort and method: ``n``, ``events``,
      ``n_missing_genes``, ``coverage``, ``cindex`` and ``cindex_se`` (Harrell's C of the
      ``cindex_score`` and the square root of R's infinitesimal-jackknife variance),
      ``hr_per_sd``, ``hr_lower_95``, ``hr_upper_95``, ``p`` (Cox of the ``hr_score``
      divided by its SD in the cohort), ``cindex_refit`` and ``lrt_p_refit`` (a Cox model
      refitted on the k factor scores in that cohort: its in-sample C and likelihood-ratio p);
      (clustering) ``n``, ``events`` per cohort and method.
    - ``pooled``: one row per method (and per number of clusters): ``design``,
      ``n_clusters``, ``n``, ``events``, ``n_cohorts``, ``stratified``, ``hr``,
      ``hr_lower_95``, ``hr_upper_95``, ``p`` (projection: HR per pooled SD of the score;
      clustering: NaN, see ``cluster_terms``), ``cindex``, ``lrt``, ``lrt_df``, ``lrt_p``,
      ``bic``, ``logrank_chisq``, ``logrank_df``, ``logrank_p`` (risk groups or clusters).
    - ``comparison``: statistics (rows) x ``desurv``, ``nmf``, ``difference``.
    - ``cutpoint`` (projection): ``method``, ``z``, ``mean_abs_logrank_z``,
      ``se_abs_logrank_z``, ``n_folds`` (folds where both groups exist);
      ``cutpoint_choice``: ``method``, ``z``, ``threshold`` (on the raw score), ``train_mean``,
      ``train_sd``, ``score``.
    - ``groups``: ``cohort`` (``"pooled"`` too), ``method``, ``n_clusters`` (NaN for the
      projection design), ``group`` (``low``/``high`` or cluster labels ``"1"``..), ``n``,
      ``events``, ``median_time`` (Kaplan-Meier, NaN when not reached).
    - ``logrank``: ``cohort`` (``"pooled"``: stratified by cohort), ``method``,
      ``n_clusters``, ``chisq``, ``df``, ``p``, ``z`` (signed, risk groups only),
      ``stratified``.
    - ``forest`` (projection): ``method``, ``factor`` (1-based), ``cohort`` (``"pooled"``:
      fixed-effect inverse-variance), ``n``, ``events``, ``hr``, ``hr_lower_95``,
      ``hr_upper_95``, ``log_hr``, ``se``, ``p``, ``weight`` (share of the pooled
      inverse-variance weight), ``q`` and ``i2`` (Cochran's Q and I^2, pooled rows).
    - ``fisher`` (projection, with ``subtype_keys``): ``method``, ``cohort``,
      ``subtype_key``, ``level``, ``high_level``, ``high_other``, ``low_level``,
      ``low_other``, ``odds_ratio`` (conditional MLE, as R), ``p`` (two-sided).
    - ``cluster_terms`` (clustering): ``method``, ``n_clusters``, ``term``, ``hr``,
      ``hr_lower_95``, ``hr_upper_95``, ``p``.
    - ``samples``: one row per sample and method: ``cohort``, ``sample``, ``method``,
      ``time``, ``event``, ``score`` (full W), ``score_top``, ``z`` (the cutpoint score
      standardised as ``cutpoint_reference`` says) and ``group``, or ``cluster_k2``,
      ``cluster_k3``, ...

    Also ``design``, ``implementation``, ``notes`` (list of what was done differently and
    why: unstratified single cohort, converted time units, groups without events, ...) and
    ``params``.
    """

    def to_uns(self) -> dict[str, Any]:
        """The h5ad-writable form (written to ``model.uns[key_added]``)."""
        out: dict[str, Any] = {
            "design": self["design"],
            "implementation": self["implementation"],
            "notes": np.asarray(list(self["notes"]) or [""], dtype=object),
            "params": h5ad_safe(self["params"]),
            "version": package_version(),
        }
        for name in _TABLES:
            tab = self.get(name)
            if tab is None:
                continue
            if name == "comparison":
                tab = tab.reset_index()
            # h5ad sorts the keys of a dict: the column order travels apart
            out[name] = {"columns": np.asarray([str(c) for c in tab.columns], dtype=object),
                         "data": h5ad_safe(tab)}  # fmt: skip
        return out

    @classmethod
    def from_uns(cls, rec: Mapping[str, Any]) -> ValidationResult:
        """Rebuild the result from ``model.uns[key_added]`` (e.g. after an h5ad round trip)."""
        res: dict[str, Any] = {
            "design": str(rec["design"]),
            "implementation": str(rec["implementation"]),
            "notes": [str(n) for n in np.asarray(rec["notes"], dtype=object) if str(n)],
            "params": dict(rec["params"]),
        }
        for name in _TABLES:
            if name in rec:
                cols = [str(c) for c in np.asarray(rec[name]["columns"], dtype=object)]
                data = rec[name]["data"]
                tab = pd.DataFrame({c: np.asarray(data[c]) for c in cols if c in data})
                for col in tab.columns:
                    if tab[col].dtype == object:
                        tab[col] = tab[col].astype(str)
                if name == "comparison":
                    tab = tab.set_index("statistic")
                res[name] = tab
            else:
                res[name] = None
        return cls(res)


# ----------------------------------------------------------------------------- engines


def logrank_z(lr: dict[str, Any], high: str = "high") -> float:
    """Signed log-rank z: sqrt(chisq) with the sign of observed - expected in ``high``."""
    tab = lr["table"]
    if high not in tab.index or not np.isfinite(lr["chisq"]):
        return float("nan")
    sign = np.sign(tab.loc[high, "observed"] - tab.loc[high, "expected"])
    return float(sign * math.sqrt(max(float(lr["chisq"]), 0.0)))


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan-Meier median survival time as R's ``survfit`` prints it (NaN if not reached).

    The smallest time where S(t) <= 0.5; when S(t) equals 0.5 exactly over an interval, the
    midpoint of that interval's ends (R's rule).
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event).astype(bool)
    ut = np.unique(t[e])
    if ut.size == 0:
        return float("nan")
    s = 1.0
    surv = []
    for u in ut:
        n_risk = np.count_nonzero(t >= u)
        d = np.count_nonzero((t == u) & e)
        s *= 1.0 - d / n_risk
        surv.append(s)
    surv = np.asarray(surv)
    eps = 1e-12
    below = np.flatnonzero(surv <= 0.5 + eps)
    if below.size == 0:
        return float("nan")
    i = below[0]
    if abs(surv[i] - 0.5) <= eps:
        nxt = np.flatnonzero(surv < 0.5 - eps)
        if nxt.size == 0:
            return float(ut[i]) if i == ut.size - 1 else float("nan")
        return float((ut[i] + ut[nxt[0]]) / 2.0)
    return float(ut[i])


def pool_inverse_variance(log_hr: np.ndarray, se: np.ndarray) -> dict[str, float]:
    """Fixed-effect inverse-variance pooling of log hazard ratios.

    ``log_hr`` and ``se`` per study (NaN rows are left out). Returns ``log_hr``, ``se``
    (1 / sqrt(sum w)), ``hr``, ``hr_lower_95``, ``hr_upper_95``, ``p`` (Wald), ``q``
    (Cochran's Q), ``i2`` (max(0, (Q - df) / Q); NaN for a single study) and the weights
    ``w`` (normalised to sum 1, NaN where left out).
    """
    b = np.asarray(log_hr, dtype=float)
    s = np.asarray(se, dtype=float)
    ok = np.isfinite(b) & np.isfinite(s) & (s > 0)
    w = np.full(b.shape, np.nan)
    if not ok.any():
        nan = float("nan")
        return {"log_hr": nan, "se": nan, "hr": nan, "hr_lower_95": nan, "hr_upper_95": nan,
                "p": nan, "q": nan, "i2": nan, "w": w}  # fmt: skip
    wi = 1.0 / s[ok] ** 2
    est = float(np.sum(wi * b[ok]) / np.sum(wi))
    se_p = float(1.0 / math.sqrt(np.sum(wi)))
    dfq = int(ok.sum()) - 1
    if dfq == 0:  # one study: no heterogeneity to measure (Q is 0 up to rounding)
        q, i2 = 0.0, float("nan")
    else:
        q = float(np.sum(wi * (b[ok] - est) ** 2))
        i2 = float(max(0.0, (q - dfq) / q)) if q > 0 else 0.0
    w[ok] = wi / wi.sum()
    z = sps.norm.ppf(0.975)
    return {
        "log_hr": est, "se": se_p, "hr": math.exp(est),
        "hr_lower_95": math.exp(est - z * se_p), "hr_upper_95": math.exp(est + z * se_p),
        "p": float(2 * sps.norm.sf(abs(est / se_p))), "q": q, "i2": i2, "w": w,
    }  # fmt: skip


# ----------------------------------------------------------------------------- inputs


def _cohort_list(
    cohorts: Any, cohort_key: str
) -> tuple[list[tuple[str, AnnData]], AnnData | None]:
    """[(name, AnnData)] from a dict of AnnData or one merged AnnData split by cohort_key."""
    if is_anndata(cohorts):
        if cohort_key not in cohorts.obs.columns:
            raise KeyError(
                f"cohorts is one AnnData but cohort_key={cohort_key!r} is not a column of its "
                f"obs (columns: {list(cohorts.obs.columns)}); pass cohort_key= or a dict "
                "{name: AnnData}"
            )
        labels = cohorts.obs[cohort_key]
        if labels.isna().any():
            raise ValueError(
                f"{int(labels.isna().sum())} samples have no cohort label in "
                f"obs[{cohort_key!r}]; label or drop them"
            )
        names = list(pd.unique(labels.astype(str)))
        return [(n, cohorts[(labels.astype(str) == n).to_numpy()]) for n in names], cohorts
    if isinstance(cohorts, Mapping):
        if not cohorts:
            raise ValueError("cohorts is empty; pass {name: AnnData} with at least one cohort")
        out = []
        for name, ad in cohorts.items():
            if not is_anndata(ad):
                raise TypeError(f"cohorts[{name!r}] must be an AnnData, not {type(ad).__name__}")
            out.append((str(name), ad))
        return out, None
    raise TypeError(
        f"cohorts must be a dict {{name: AnnData}} or one AnnData with obs[{cohort_key!r}], "
        f"not {type(cohorts).__name__}"
    )


def _time_unit(adata: AnnData, time_key: str) -> str | None:
    from desurv.pp._unlog import time_unit  # noqa: PLC0415

    return time_unit(adata, time_key=time_key)


def _survival_of(
    cohorts: list[tuple[str, AnnData]], time_key: str, event_key: str, notes: list[str],
    notes_unit: list[str | None],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Survival of every cohort, on one time unit (converted when recorded, else refused)."""
    from desurv.pp._unlog import convert_time  # noqa: PLC0415

    out = []
    for name, ad in cohorts:
        try:
            out.append(get_survival(ad, time_key, event_key))
        except (KeyError, ValueError) as exc:
            msg = exc.args[0] if exc.args else str(exc)
            raise type(exc)(f"validation cohort {name!r}: {msg}") from None
    units = [_time_unit(ad, time_key) for _, ad in cohorts]
    known = [u for u in units if u is not None]
    if not known or len(set(units)) == 1:
        if not known and len(cohorts) > 1:
            notes.append("time units are not recorded for any cohort: assumed to be the same")
        notes_unit[0] = known[0] if known else None
        return out
    unknown = [name for (name, _), u in zip(cohorts, units) if u is None]
    if unknown:
        raise ValueError(
            f"the time unit of cohort(s) {unknown} is not recorded while others use "
            f"{sorted(set(known))}; set adata.uns['units'] = {{'time': 'months'}} (or 'days', "
            "...) on each cohort, or convert the times yourself"
        )
    target = "months" if "months" in known else known[0]
    notes_unit[0] = target
    conv = []
    for (name, _), u, (t, e) in zip(cohorts, units, out):
        if u != target:
            notes.append(f"cohort {name!r}: times converted from {u} to {target}")
            t = convert_time(t, u, target)
        conv.append((t, e))
    return conv


def _params_of(rec: Mapping[str, Any]) -> dict[str, Any]:
    """The DeSurv constructor arguments stored in a fit record."""
    from desurv.estimator import DeSurv  # noqa: PLC0415

    raw = dict(rec["params"])
    none = [str(x) for x in np.asarray(raw.pop("_none", []), dtype=object).ravel()]
    valid = set(DeSurv().get_params())
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in valid:
            continue
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        if isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    for k in none:
        if k in valid:
            out[k] = None
    for k in ("random_state", "n_jobs", "verbose", "n_components"):
        out.pop(k, None)
    return out


class _Model:
    """One model to validate: its AnnData, fit key, W, beta, top genes and training data."""

    def __init__(self, name: str, adata: AnnData, key: str, n_top: int | None, method: str):
        self.name = name
        self.adata = adata
        self.key = key
        self.rec = _fit_record(adata, key)
        self.genes = pd.Index(np.asarray(self.rec["genes"], dtype=object).astype(str))
        W_full = np.asarray(adata.varm[f"{key}_W"], dtype=np.float64)
        self.W = W_full[pd.Index(adata.var_names.astype(str)).get_indexer(self.genes)]
        self.beta = np.asarray(self.rec["beta"], dtype=np.float64)
        self.k = self.W.shape[1]
        self.params = _params_of(self.rec)
        layer = str(self.rec.get("layer", "X"))
        self.layer = None if layer == "X" else layer
        tk, ek = str(self.rec.get("time_key", "time")), str(self.rec.get("event_key", "event"))
        self.time, self.event = get_survival(adata, tk, ek)
        cols = pd.Index(adata.var_names.astype(str)).get_indexer(self.genes)
        self.X = get_matrix(adata, self.layer)[:, cols]  # training samples x model genes
        if n_top is None:
            table = top_genes_table(adata, key)  # raises with what to run
            self.n_top = int(adata.uns[f"{key}_top_genes"]["n_top"])
            self.top_method = str(adata.uns[f"{key}_top_genes"]["method"])
            pos = self.genes.get_indexer(table["gene"].astype(str))
            self.top = np.zeros(len(self.genes), dtype=bool)
            self.top[pos[pos >= 0]] = True
        else:
            self.n_top = int(n_top)
            self.top_method = method
            self.top = top_union(self.W, self.n_top, method)

    def lp_top(self, X: np.ndarray) -> np.ndarray:
        return top_gene_score(X, self.W, self.beta, self.top)


def _fit_nmf(model: _Model, random_state: Any) -> AnnData:
    """The alpha = 0 model at the same k, fitted on the model's training data."""
    from desurv.tl._fit import fit  # noqa: PLC0415
    from desurv.tl._top_genes import top_genes  # noqa: PLC0415

    ad = model.adata
    work = AnnData(
        X=model.X, obs=ad.obs.copy(), var=pd.DataFrame(index=model.genes), uns={}
    )
    tk, ek = str(model.rec.get("time_key", "time")), str(model.rec.get("event_key", "event"))
    params = dict(model.params)
    params["alpha"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the model's own fit said it already
        fit(work, tk, ek, n_components=model.k, random_state=random_state, **params)
    top_genes(work, n_top=model.n_top, method=model.top_method)
    logger.info("validate: fitted the alpha = 0 model at k=%d for the comparison", model.k)
    return work


# ----------------------------------------------------------------------------- helpers


def _cox_safe(engine, time, event, cov, strata, what: str, notes: list[str]):
    """Cox fit, or None with a note when it cannot be estimated."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = engine.cox(time, event, cov, strata)
        except (ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"{what}: Cox model not estimable ({str(exc).splitlines()[0]})")
            return None
    for w in caught:
        if issubclass(w.category, ConvergenceWarning) or "converge" in str(w.message).lower():
            notes.append(f"{what}: Cox model did not converge (a coefficient may be infinite)")
        elif not issubclass(w.category, DeprecationWarning):
            warnings.warn(w.message, w.category, stacklevel=3)
    return res


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def _per_sd_cox(engine, t, e, score, strata, what, notes) -> dict[str, float]:
    nan = float("nan")
    keys = ("hr", "hr_lower_95", "hr_upper_95", "p", "coef", "se", "cindex", "lrt", "lrt_df",
            "lrt_p", "bic")  # fmt: skip
    out = dict.fromkeys(keys, nan)
    sd = _sd(score)
    if not np.isfinite(sd) or sd <= 0 or int(np.sum(e)) == 0:
        notes.append(f"{what}: score constant or no events, hazard ratio not estimable")
        return out
    res = _cox_safe(engine, t, e, pd.DataFrame({"score": score / sd}), strata, what, notes)
    if res is None:
        return out
    row = res["coefficients"].iloc[0]
    out.update({c: float(row[c]) for c in ("hr", "hr_lower_95", "hr_upper_95", "p", "coef", "se")})
    out.update(cindex=float(res["concordance"]), lrt=float(res["lrt"]["statistic"]),
               lrt_df=float(res["lrt"]["df"]), lrt_p=float(res["lrt"]["p"]),
               bic=float(res["bic"]))  # fmt: skip
    return out


def _group_rows(
    cohort, method, t, e, groups: np.ndarray, levels, n_clusters: float = np.nan
) -> list[dict[str, Any]]:
    rows = []
    for g in levels:
        m = groups == g
        rows.append({
            "cohort": cohort, "method": method, "n_clusters": n_clusters, "group": str(g),
            "n": int(m.sum()),
            "events": int(e[m].sum()),
            "median_time": km_median(t[m], e[m]) if m.any() else float("nan"),
        })  # fmt: skip
    return rows


def _logrank_row(engine, cohort, method, t, e, groups, strata, n_clusters, what, notes):
    nan = float("nan")
    row = {"cohort": cohort, "method": method, "n_clusters": n_clusters, "chisq": nan,
           "df": nan, "p": nan, "z": nan, "stratified": strata is not None}  # fmt: skip
    if len(np.unique(groups)) < 2:
        notes.append(f"{what}: every sample is in one group, no log-rank test")
        return row
    if int(np.sum(e)) == 0:
        notes.append(f"{what}: no events, no log-rank test")
        return row
    lr = engine.logrank(t, e, pd.Series(groups), strata)
    row.update(chisq=float(lr["chisq"]), df=float(lr["df"]), p=float(lr["p"]))
    if "high" in lr["table"].index:
        row["z"] = logrank_z(lr)
    empty = [str(g) for g, o in lr["table"]["observed"].items() if o == 0]
    if empty:
        notes.append(f"{what}: group(s) {empty} have no events")
    return row


def _folds(event: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    from desurv.selection._folds import stratified_folds  # noqa: PLC0415

    return stratified_folds(event, n_folds, rng)


def _cutpoint_cv(
    m: _Model, engine: Engine, z_grid: np.ndarray, score: str, n_folds: int,
    n_starts: int | None, seed: np.random.SeedSequence, notes: list[str],
) -> pd.DataFrame:
    """The paper's CV of the cutpoint: per training fold a fit at the model's parameters,
    held-out scores standardised by the fold's training mean and SD, the signed log-rank z
    of ``z > cut`` for each cut; returns (cut x fold) |z| summaries."""
    from desurv.estimator import DeSurv  # noqa: PLC0415

    fold_seq, fit_seq = seed.spawn(2)
    folds = _folds(m.event, n_folds, np.random.default_rng(fold_seq))
    nf = int(folds.max()) + 1
    fit_seeds = fit_seq.spawn(nf)
    params = dict(m.params)
    if n_starts is not None:
        params["n_init"] = int(n_starts)
    zs = np.full((len(z_grid), nf), np.nan)
    for f in range(nf):
        tr, te = folds != f, folds == f
        est = DeSurv(n_components=m.k, random_state=fit_seeds[f], **params)
        Xtr = pd.DataFrame(m.X[tr], columns=m.genes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the final fit warns
            warnings.simplefilter("ignore", DataWarning)
            est.fit(Xtr, m.time[tr], m.event[tr])
        W = np.asarray(est.W_, dtype=float)
        beta = np.asarray(est.coef_, dtype=float)
        if score == "top":
            top = top_union(W, m.n_top, m.top_method)
            lp_tr = top_gene_score(m.X[tr], W, beta, top)
            lp_te = top_gene_score(m.X[te], W, beta, top)
        else:
            lp_tr, lp_te = m.X[tr] @ W @ beta, m.X[te] @ W @ beta
        mu, sd = float(np.mean(lp_tr)), _sd(lp_tr)
        if not np.isfinite(sd) or sd <= 0 or m.event[te].sum() == 0:
            continue
        z_te = (lp_te - mu) / sd
        for i, cut in enumerate(z_grid):
            grp = np.where(z_te > cut, "high", "low")
            if len(np.unique(grp)) < 2:
                continue
            lr = engine.logrank(m.time[te], m.event[te], pd.Series(grp))
            zs[i, f] = logrank_z(lr)
    a = np.abs(zs)
    n_ok = np.sum(np.isfinite(a), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=1)
        se = np.nanstd(a, axis=1, ddof=1) / np.sqrt(n_ok)
    if not np.isfinite(mean).any():
        raise ValueError(
            f"cutpoint CV for {m.name}: no fold had both risk groups and an event; the "
            "training cohort is too small for a cross-validated cutpoint (lower "
            "cutpoint_folds, or pass cutpoint=<z> to fix it)"
        )
    return pd.DataFrame({"method": m.name, "z": z_grid, "mean_abs_logrank_z": mean,
                         "se_abs_logrank_z": se, "n_folds": n_ok})  # fmt: skip


def _check_choice(value: str, name: str) -> str:
    if value not in SCORES:
        raise ValueError(f"{name} must be 'full' or 'top', got {value!r}")
    return value


# ----------------------------------------------------------------------------- designs


def _projection(
    models: list[_Model], cohorts, surv, engine: Engine, opts: dict[str, Any],
    seeds: dict[str, np.random.SeedSequence], notes: list[str],
) -> dict[str, Any]:
    names = [c for c, _ in cohorts]
    multi = len(cohorts) > 1
    per_cohort, pooled, groups_rows, lr_rows, forest_rows, fisher_rows = [], [], [], [], [], []
    samples, cut_tabs, choice_rows = [], [], []
    for m in models:
        # 1. scores of every cohort
        proj = []
        for (name, ad), (t, e) in zip(cohorts, surv):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)  # counted below
                X, W, beta, info = project(
                    ad, m.adata, key=m.key, layer=opts["layer"],
                    min_coverage=opts["min_coverage"],
                )  # fmt: skip
            present = ~info["model_genes"].isin(info["missing_genes"])
            n_top_present = int((present & m.top).sum())
            cov_top = n_top_present / max(int(m.top.sum()), 1)
            if cov_top < opts["min_coverage"]:
                raise ValueError(
                    f"validation cohort {name!r} has {n_top_present} of the {m.name} model's "
                    f"{int(m.top.sum())} top genes (coverage {cov_top:.1%} < min_coverage "
                    f"{opts['min_coverage']:.0%}); check gene naming or lower min_coverage"
                )
            n_miss = len(info["missing_genes"])
            if n_miss:
                notes.append(
                    f"cohort {name!r}: {n_miss} of the {m.name} model's {len(m.genes)} genes "
                    f"missing, filled with 0 ({int(m.top.sum()) - n_top_present} of its top "
                    "genes)"
                )
            Z = X @ m.W
            proj.append({
                "name": name, "t": t, "e": e, "Z": Z, "full": Z @ m.beta,
                "top": m.lp_top(X), "n_miss": n_miss, "coverage": info["coverage"],
            })  # fmt: skip
        pick = {"full": "full", "top": "top"}
        # 2. per cohort: C-index, HR per SD, refit
        for p in proj:
            what = f"{m.name}, cohort {p['name']!r}"
            t, e = p["t"], p["e"]
            c, var = (
                engine.concordance(t, e, p[pick[opts["cindex_score"]]])
                if e.sum() > 0 else (float("nan"), float("nan"))
            )  # fmt: skip
            hr = _per_sd_cox(engine, t, e, p[pick[opts["hr_score"]]], None, what, notes)
            Zs = p["Z"] / np.where(p["Z"].std(axis=0, ddof=1) > 0, p["Z"].std(axis=0, ddof=1), 1)
            keep = p["Z"].std(axis=0) > 0
            refit = None
            if keep.any() and e.sum() > keep.sum():
                cov = pd.DataFrame(Zs[:, keep], columns=[f"factor{j + 1}" for j in
                                                          np.flatnonzero(keep)])
                refit = _cox_safe(engine, t, e, cov, None, f"{what} (refit)", notes)
            per_cohort.append({
                "cohort": p["name"], "method": m.name, "n": int(t.size), "events": int(e.sum()),
                "n_missing_genes": p["n_miss"], "coverage": p["coverage"], "cindex": c,
                "cindex_se": math.sqrt(var) if np.isfinite(var) and var >= 0 else float("nan"),
                "hr_per_sd": hr["hr"], "hr_lower_95": hr["hr_lower_95"],
                "hr_upper_95": hr["hr_upper_95"], "p": hr["p"],
                "cindex_refit": float(refit["concordance"]) if refit else float("nan"),
                "lrt_p_refit": float(refit["lrt"]["p"]) if refit else float("nan"),
            })  # fmt: skip
        # 3. pooled HR per pooled SD, stratified by cohort
        t_all = np.concatenate([p["t"] for p in proj])
        e_all = np.concatenate([p["e"] for p in proj])
        coh = np.concatenate([[p["name"]] * p["t"].size for p in proj])
        strata = pd.Series(coh) if multi else None
        score_all = np.concatenate([p[pick[opts["hr_score"]]] for p in proj])
        if multi:
            within = np.array([_sd(p[pick[opts["hr_score"]]]) for p in proj])
            ratio = _sd(score_all) / np.nanmin(within) if np.nanmin(within) > 0 else np.inf
            if ratio > 3.0:
                notes.append(
                    f"{m.name}: the pooled SD of the score is {ratio:.3g} times the smallest "
                    "cohort's own SD (the cohorts' scores are shifted against each other, e.g. "
                    "by missing genes or another platform): the pooled HR per SD measures "
                    "that spread; read the per-cohort HRs"
                )
        hr = _per_sd_cox(engine, t_all, e_all, score_all, strata, f"{m.name}, pooled", notes)
        c_pool, _ = engine.concordance(
            t_all, e_all, np.concatenate([p[pick[opts["cindex_score"]]] for p in proj]),
            strata,
        )
        # 4. cutpoint from the training cohort's CV, groups, KM, log-rank
        if opts["cutpoint"] is None:
            tab = _cutpoint_cv(
                m, engine, opts["z_grid"], opts["cutpoint_score"], opts["cutpoint_folds"],
                opts["cutpoint_n_starts"], seeds[m.name], notes,
            )  # fmt: skip
            cut_tabs.append(tab)
            z_star = float(tab["z"].to_numpy()[int(np.nanargmax(tab["mean_abs_logrank_z"]))])
        else:
            z_star = float(opts["cutpoint"])
        train_lp = m.lp_top(m.X) if opts["cutpoint_score"] == "top" else m.X @ m.W @ m.beta
        mu, sd = float(np.mean(train_lp)), _sd(train_lp)
        thr = z_star * sd + mu
        choice_rows.append({"method": m.name, "z": z_star, "threshold": thr, "train_mean": mu,
                            "train_sd": sd, "score": opts["cutpoint_score"]})  # fmt: skip
        grp_all = []
        for p in proj:
            s = p[pick[opts["cutpoint_score"]]]
            if opts["cutpoint_reference"] == "cohort":
                mu_c, sd_c = float(np.mean(s)), _sd(s)
                z_c = (s - mu_c) / (sd_c if sd_c > 0 else 1.0)
                g = np.where(z_c > z_star, "high", "low")
            else:  # one threshold on the raw score for every cohort
                z_c = (s - mu) / sd
                g = np.where(s > thr, "high", "low")
            grp_all.append(g)
            groups_rows += _group_rows(p["name"], m.name, p["t"], p["e"], g, ("low", "high"))
            lr_rows.append(_logrank_row(engine, p["name"], m.name, p["t"], p["e"], g, None,
                                        np.nan, f"{m.name}, cohort {p['name']!r} (risk groups)",
                                        notes))  # fmt: skip
            samples.append(pd.DataFrame({
                "cohort": p["name"], "sample": np.asarray(cohorts[names.index(p["name"])][1]
                                                          .obs_names.astype(str)),
                "method": m.name, "time": p["t"], "event": p["e"].astype(int),
                "score": p["full"], "score_top": p["top"], "z": z_c, "group": g,
            }))  # fmt: skip
        g_all = np.concatenate(grp_all)
        groups_rows += _group_rows("pooled", m.name, t_all, e_all, g_all, ("low", "high"))
        lr_pool = _logrank_row(engine, "pooled", m.name, t_all, e_all, g_all, strata, np.nan,
                               f"{m.name}, pooled (risk groups)", notes)  # fmt: skip
        lr_rows.append(lr_pool)
        pooled.append({
            "method": m.name, "design": "projection", "n_clusters": np.nan, "n": int(t_all.size),
            "events": int(e_all.sum()), "n_cohorts": len(proj), "stratified": multi,
            "hr": hr["hr"], "hr_lower_95": hr["hr_lower_95"], "hr_upper_95": hr["hr_upper_95"],
            "p": hr["p"], "cindex": c_pool, "lrt": hr["lrt"], "lrt_df": hr["lrt_df"],
            "lrt_p": hr["lrt_p"], "bic": hr["bic"], "logrank_chisq": lr_pool["chisq"],
            "logrank_df": lr_pool["df"], "logrank_p": lr_pool["p"],
        })  # fmt: skip
        # 5. forest: per factor, per cohort, standardised full-W factor score
        for j in range(m.k):
            rows = []
            for p in proj:
                z = p["Z"][:, j]
                r = _per_sd_cox(engine, p["t"], p["e"], z, None,
                                f"{m.name}, factor {j + 1}, cohort {p['name']!r}", notes)
                rows.append({"method": m.name, "factor": j + 1, "cohort": p["name"],
                             "n": int(p["t"].size), "events": int(p["e"].sum()), "hr": r["hr"],
                             "hr_lower_95": r["hr_lower_95"], "hr_upper_95": r["hr_upper_95"],
                             "log_hr": r["coef"], "se": r["se"], "p": r["p"]})  # fmt: skip
            pool = pool_inverse_variance([r["log_hr"] for r in rows], [r["se"] for r in rows])
            for r, w in zip(rows, pool["w"]):
                r.update(weight=float(w), q=np.nan, i2=np.nan)
            rows.append({"method": m.name, "factor": j + 1, "cohort": "pooled",
                         "n": sum(r["n"] for r in rows), "events": sum(r["events"] for r in rows),
                         "hr": pool["hr"], "hr_lower_95": pool["hr_lower_95"],
                         "hr_upper_95": pool["hr_upper_95"], "log_hr": pool["log_hr"],
                         "se": pool["se"], "p": pool["p"], "weight": 1.0, "q": pool["q"],
                         "i2": pool["i2"]})  # fmt: skip
            forest_rows += rows
        # 6. Fisher tests of the risk groups against published subtypes
        for (name, ad), g in zip(cohorts, grp_all):
            for sk in opts["subtype_keys"]:
                if sk not in ad.obs.columns:
                    continue
                lab = ad.obs[sk].astype(object).to_numpy()
                ok = ~pd.isna(lab)
                levels = sorted({str(x) for x in lab[ok]})
                for lev in levels if len(levels) > 2 else levels[:1]:
                    is_lev = np.array([str(x) == lev for x in lab])
                    tab = np.array([
                        [np.sum(ok & (g == "high") & is_lev), np.sum(ok & (g == "high") & ~is_lev)],
                        [np.sum(ok & (g == "low") & is_lev), np.sum(ok & (g == "low") & ~is_lev)],
                    ])  # fmt: skip
                    if (tab.sum(axis=0) == 0).any() or (tab.sum(axis=1) == 0).any():
                        notes.append(f"{m.name}, cohort {name!r}, {sk}={lev}: a margin is 0, "
                                     "no Fisher test")  # fmt: skip
                        continue
                    orr, pv = engine.fisher(tab)
                    fisher_rows.append({
                        "method": m.name, "cohort": name, "subtype_key": sk, "level": lev,
                        "high_level": int(tab[0, 0]), "high_other": int(tab[0, 1]),
                        "low_level": int(tab[1, 0]), "low_other": int(tab[1, 1]),
                        "odds_ratio": orr, "p": pv,
                    })  # fmt: skip
    fisher_cols = ["method", "cohort", "subtype_key", "level", "high_level", "high_other",
                   "low_level", "low_other", "odds_ratio", "p"]  # fmt: skip
    return {
        "per_cohort": pd.DataFrame(per_cohort),
        "pooled": pd.DataFrame(pooled),
        "cutpoint": pd.concat(cut_tabs, ignore_index=True) if cut_tabs else None,
        "cutpoint_choice": pd.DataFrame(choice_rows),
        "groups": pd.DataFrame(groups_rows),
        "logrank": pd.DataFrame(lr_rows),
        "forest": pd.DataFrame(forest_rows),
        "fisher": pd.DataFrame(fisher_rows, columns=fisher_cols),
        "cluster_terms": None,
        "samples": pd.concat(samples, ignore_index=True),
    }


def _clustering(
    models: list[_Model], cohorts, surv, engine: Engine, opts: dict[str, Any],
    seeds: dict[str, np.random.SeedSequence], notes: list[str],
) -> dict[str, Any]:
    multi = len(cohorts) > 1
    ks = sorted({int(k) for k in opts["n_clusters"]})
    pooled, terms, groups_rows, lr_rows, samples, per_cohort = [], [], [], [], [], []
    labels = np.concatenate([[name] * ad.n_obs for name, ad in cohorts])
    t_all = np.concatenate([t for t, _ in surv])
    e_all = np.concatenate([e for _, e in surv])
    strata = pd.Series(labels) if multi else None
    weights = cohort_weights(labels) if multi else None
    for m in models:
        # logged (as the model records), merged on the common genes, ranked within sample
        pp_rec = dict(m.rec.get("preprocessing", {}))
        steps = [str(s) for s in np.asarray(pp_rec.get("steps", []), dtype=object).ravel()]
        pp_rec["steps"] = np.asarray([s for s in steps if s == "log1p"], dtype=object)
        mats, common = [], set(m.genes)
        for _name, ad in cohorts:
            X = get_matrix(ad, opts["layer"])
            genes = pd.Index(ad.var_names.astype(str))
            X, genes, _ = _preprocess(X, genes, ad, opts["layer"], pp_rec)
            mats.append((X, genes))
            common &= set(genes)
        common_idx = m.genes[m.genes.isin(list(common))]
        top_common = common_idx[common_idx.isin(m.genes[m.top])]
        n_top_all = int(m.top.sum())
        if len(top_common) < opts["min_coverage"] * n_top_all or len(top_common) < 2:
            raise ValueError(
                f"the validation cohorts share {len(top_common)} of the {m.name} model's "
                f"{n_top_all} top genes (coverage {len(top_common) / max(n_top_all, 1):.1%}, "
                f"min_coverage {opts['min_coverage']:.0%}); clustering needs the top genes in "
                "every cohort"
            )
        if len(top_common) < n_top_all:
            notes.append(f"{m.name}: clustering on {len(top_common)} of {n_top_all} top genes "
                         "(the others are missing from some cohort)")  # fmt: skip
        ranked = []
        for X, genes in mats:
            R = rank_rows(X[:, genes.get_indexer(common_idx)])
            ranked.append(R[:, common_idx.get_indexer(top_common)])
        M = np.vstack(ranked)
        seed = int(seeds[m.name].generate_state(1)[0] % (2**31 - 1))
        classes = engine.consensus(
            M, max_k=max(ks), reps=opts["reps"], p_item=opts["p_item"],
            p_feature=opts["p_feature"], weights=weights, seed=seed,
        )  # fmt: skip
        smp = pd.DataFrame({
            "cohort": labels, "sample": np.concatenate([ad.obs_names.astype(str)
                                                        for _, ad in cohorts]),
            "method": m.name, "time": t_all, "event": e_all.astype(int),
        })  # fmt: skip
        for name, _ad in cohorts:
            mm = labels == name
            per_cohort.append({"cohort": name, "method": m.name, "n": int(mm.sum()),
                               "events": int(e_all[mm].sum())})  # fmt: skip
        for k in ks:
            cl = np.asarray(classes[k]).astype(int).astype(str)
            smp[f"cluster_k{k}"] = cl
            levels = [str(i) for i in range(1, k + 1)]
            what = f"{m.name}, {k} clusters"
            for name, _ad in cohorts:
                mm = labels == name
                groups_rows += _group_rows(name, m.name, t_all[mm], e_all[mm], cl[mm], levels, k)
                lr_rows.append(_logrank_row(
                    engine, name, m.name, t_all[mm], e_all[mm], cl[mm], None, k,
                    f"{what}, cohort {name!r}", notes,
                ))  # fmt: skip
            groups_rows += _group_rows("pooled", m.name, t_all, e_all, cl, levels, k)
            lr = _logrank_row(engine, "pooled", m.name, t_all, e_all, cl, strata, k, what, notes)
            lr_rows.append(lr)
            nan = float("nan")
            row = {"method": m.name, "design": "clustering", "n_clusters": k,
                   "n": int(t_all.size), "events": int(e_all.sum()), "n_cohorts": len(cohorts),
                   "stratified": multi, "hr": nan, "hr_lower_95": nan, "hr_upper_95": nan,
                   "p": nan, "cindex": nan, "lrt": nan, "lrt_df": nan, "lrt_p": nan,
                   "bic": nan, "logrank_chisq": lr["chisq"], "logrank_df": lr["df"],
                   "logrank_p": lr["p"]}  # fmt: skip
            ev = pd.Series(e_all).groupby(cl).sum()
            if len(ev) < 2:
                notes.append(f"{what}: one cluster only, no Cox model")
            elif (ev == 0).any():
                notes.append(f"{what}: cluster(s) {list(ev.index[ev == 0])} have no events, "
                             "their hazard ratio is not estimable (log-rank reported)")  # fmt: skip
            else:
                cov = pd.DataFrame({"cluster": pd.Categorical(cl, categories=levels)})
                res = _cox_safe(engine, t_all, e_all, cov, strata, what, notes)
                if res is not None:
                    row.update(cindex=float(res["concordance"]),
                               lrt=float(res["lrt"]["statistic"]), lrt_df=float(res["lrt"]["df"]),
                               lrt_p=float(res["lrt"]["p"]), bic=float(res["bic"]))  # fmt: skip
                    for term, r in res["coefficients"].iterrows():
                        terms.append({"method": m.name, "n_clusters": k, "term": str(term),
                                      "hr": float(r["hr"]), "hr_lower_95": float(r["hr_lower_95"]),
                                      "hr_upper_95": float(r["hr_upper_95"]),
                                      "p": float(r["p"])})  # fmt: skip
            pooled.append(row)
        samples.append(smp)
    return {
        "per_cohort": pd.DataFrame(per_cohort),
        "pooled": pd.DataFrame(pooled),
        "cutpoint": None,
        "cutpoint_choice": None,
        "groups": pd.DataFrame(groups_rows),
        "logrank": pd.DataFrame(lr_rows),
        "forest": None,
        "fisher": None,
        "cluster_terms": pd.DataFrame(
            terms, columns=["method", "n_clusters", "term", "hr", "hr_lower_95", "hr_upper_95",
                            "p"]),  # fmt: skip
        "samples": pd.concat(samples, ignore_index=True),
    }


def _comparison(design: str, tabs: dict[str, Any], methods: list[str]) -> pd.DataFrame:
    pooled = tabs["pooled"]
    stats_rows: dict[str, dict[str, float]] = {}
    for m in methods:
        sub = pooled[pooled["method"] == m]
        if design == "projection":
            r = sub.iloc[0]
            pc = tabs["per_cohort"]
            pc = pc[pc["method"] == m]
            vals = {
                "pooled HR per SD": r["hr"], "pooled HR p": r["p"],
                "pooled C-index": r["cindex"], "mean cohort C-index": pc["cindex"].mean(),
                "pooled log-rank chisq (risk groups)": r["logrank_chisq"],
                "pooled log-rank p (risk groups)": r["logrank_p"],
                "cutpoint z": float(tabs["cutpoint_choice"].set_index("method").loc[m, "z"]),
            }  # fmt: skip
        else:
            vals = {}
            for _, r in sub.iterrows():
                k = int(r["n_clusters"])
                vals.update({f"{k} clusters: C-index": r["cindex"],
                             f"{k} clusters: LRT p": r["lrt_p"], f"{k} clusters: BIC": r["bic"],
                             f"{k} clusters: log-rank p": r["logrank_p"]})  # fmt: skip
        for s, v in vals.items():
            stats_rows.setdefault(s, {})[m] = float(v)
    comp = pd.DataFrame(stats_rows).T
    comp.index.name = "statistic"
    if "nmf" in comp.columns:
        comp["difference"] = comp["desurv"] - comp["nmf"]
    return comp


# ----------------------------------------------------------------------------- entry point


def validate(
    model: AnnData,
    cohorts: Mapping[str, AnnData] | AnnData,
    *,
    design: str = "projection",
    compare_nmf: bool = True,
    nmf_model: AnnData | None = None,
    implementation: str = "python",
    time_key: str = "time",
    event_key: str = "event",
    cohort_key: str = "cohort",
    key: str = "desurv",
    n_top: int | None = None,
    top_method: str = "specificity",
    layer: str | None = None,
    min_coverage: float = 0.5,
    cindex_score: str = "top",
    hr_score: str = "full",
    cutpoint_score: str = "top",
    cutpoint: float | None = None,
    cutpoint_reference: str = "training",
    z_grid: Sequence[float] | None = None,
    cutpoint_folds: int = 5,
    cutpoint_n_starts: int | None = None,
    n_clusters: Sequence[int] = (2, 3),
    reps: int = 100,
    p_item: float = 0.8,
    p_feature: float = 0.8,
    subtype_keys: Sequence[str] = (),
    random_state: int | np.random.SeedSequence | None = 0,
    key_added: str = "validate",
) -> ValidationResult:
    """External validation of a trained DeSurv model on validation cohorts (the paper's).

    Parameters
    ----------
    model : AnnData
        The training cohort as :func:`desurv.tl.fit` wrote it (samples x genes; fit under
        ``uns[key]``, W in ``varm[f"{key}_W"]``), with its top genes from
        :func:`desurv.tl.top_genes` unless ``n_top`` is given. Read, and
        ``uns[key_added]`` written.
    cohorts : dict of str -> AnnData, or AnnData
        Validation cohorts (samples x genes, on the scale the training data had before
        preprocessing, with survival in ``obs``), or one merged AnnData whose
        ``obs[cohort_key]`` names the cohort of each sample.
    design : {"projection", "clustering"}, default "projection"
        See the module docstring: the published design, or the first one.
    compare_nmf : bool, default True
        Also validate the alpha = 0 model at the same k (fitted here on the model's training
        data with the model's other parameters and ``random_state``, unless ``nmf_model`` is
        given), and set the two side by side in ``comparison``.
    nmf_model : AnnData, optional
        An alpha = 0 fit (by :func:`desurv.tl.fit` under ``key``) to use instead.
    implementation : {"python", "r"}, default "python"
        Statistics from :mod:`desurv.stats` or from R (survival's ``coxph``, ``survdiff``,
        ``concordance``, stats' ``fisher.test``, ConsensusClusterPlus) through
        :mod:`r_bridge`. The model fits (NMF comparison, cutpoint CV) are desurv's either way.
    time_key, event_key : str
        Survival columns of each cohort's ``obs``. Times are put on one unit: converted
        when every cohort records its unit (``uns['units']['time']``, as the data registry
        writes, or an ``obs['time_unit']`` column), refused when only some do.
    cohort_key : str, default "cohort"
        With one merged AnnData: the obs column naming the cohorts.
    key : str, default "desurv"
        ``key_added`` of the fit on ``model``.
    n_top : int, optional
        Genes per factor of the top-gene score; default the model's ``tl.top_genes`` record.
    top_method : {"specificity", "weight"}, default "specificity"
        Ranking of the top genes when ``n_top`` is given (as :func:`desurv.tl.top_genes`).
    layer : str, optional
        Use ``layers[layer]`` of the cohorts instead of ``X``.
    min_coverage : float, default 0.5
        Smallest share of the model's genes, and of its top genes, a cohort must have
        (missing genes are 0-filled and counted in ``per_cohort`` and ``notes``).
    cindex_score, hr_score, cutpoint_score : {"full", "top"}
        The score behind each statistic; the defaults are the paper's: the C-index and the
        cutpoint on the top-gene score X_top theta_top / ||theta_top|| (theta = W beta), the
        hazard ratios on the full score X W beta. The forest plot always uses the full-W
        factor scores X W, standardised within each cohort.
    cutpoint : float, optional
        A fixed training-standardised cutpoint z; default: chosen by cross-validation.
    cutpoint_reference : {"training", "cohort"}, default "training"
        What the chosen z is standardised by in each validation cohort: the final model's
        training scores (the paper: one threshold on the raw score for every cohort), or the
        cohort's own mean and SD (for cohorts on another platform or with many missing
        genes, whose scores are shifted as a whole; then every cohort has a high-risk group
        of about the same share).
    z_grid : sequence of float, optional
        Candidate cutpoints (default -2 to 2 by 0.2, the paper's).
    cutpoint_folds : int, default 5
        Folds of the cutpoint CV on the training cohort (stratified by event). In each fold
        the model is refitted at its parameters on the training part, the held-out scores
        are standardised by the training part's mean and SD, and the signed log-rank z of
        ``z > cut`` is computed; the cut with the largest mean |z| over folds is kept. Its
        threshold on the raw score is ``z * sd + mean`` of the final model's training scores.
    cutpoint_n_starts : int, optional
        Random starts of each CV fit (the paper: 30); default the model's ``n_init``.
    n_clusters : sequence of int, default (2, 3)
        Numbers of clusters reported by the clustering design.
    reps, p_item, p_feature : int, float, float
        Consensus clustering resamples and the shares of samples and genes drawn (paper:
        80 % each; samples weighted 1 / (D n_d) over D cohorts of size n_d).
    subtype_keys : sequence of str
        ``obs`` columns with published subtype labels (e.g. PurIST, DeCAF): Fisher tests of
        the risk groups against each label (one against the rest when there are more than 2).
    random_state : int, SeedSequence or None, default 0
        Seeds the NMF comparison fit, the cutpoint folds and fits, and the consensus
        clustering (independent children of one ``SeedSequence``). Same seed, same result.
    key_added : str, default "validate"
        Written: ``model.uns[key_added]`` (:meth:`ValidationResult.to_uns`; rebuild with
        :meth:`ValidationResult.from_uns` after an h5ad round trip), and on each cohort
        ``obs[f"{key_added}_{method}_score"]``, ``..._score_top``, ``..._z``, ``..._group``
        (projection) or ``..._cluster_k{k}`` (clustering), and ``uns[key_added]`` =
        ``{design, cohort, methods}``.

    Returns
    -------
    ValidationResult
        Tables ``per_cohort``, ``pooled``, ``comparison``, ``cutpoint``,
        ``cutpoint_choice``, ``groups``, ``logrank``, ``forest``, ``fisher``,
        ``cluster_terms``, ``samples``; ``notes``; ``params``. See
        :class:`ValidationResult`.

    Raises
    ------
    KeyError
        No fit or no top genes on ``model``, missing survival columns in a cohort (named).
    ValueError
        A cohort below ``min_coverage`` (with the count), time units recorded for some
        cohorts only, bad arguments.

    Examples
    --------
    >>> res = desurv.tl.validate(train, {"PRINCE": prince}, design="projection")  # doctest: +SKIP
    >>> res.comparison, res.pooled                                               # doctest: +SKIP
    """
    check_adata(model, "model")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if implementation not in ("python", "r"):
        raise ValueError(f"implementation must be 'python' or 'r', got {implementation!r}")
    for name, val in (("cindex_score", cindex_score), ("hr_score", hr_score),
                      ("cutpoint_score", cutpoint_score)):  # fmt: skip
        _check_choice(val, name)
    if top_method not in ("specificity", "weight"):
        raise ValueError(f"top_method must be 'specificity' or 'weight', got {top_method!r}")
    if not 0.0 <= float(min_coverage) <= 1.0:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage!r}")
    if isinstance(cutpoint_folds, bool) or int(cutpoint_folds) < 2:
        raise ValueError(f"cutpoint_folds must be an integer >= 2, got {cutpoint_folds!r}")
    if any(int(k) < 2 for k in n_clusters) or not len(n_clusters):
        raise ValueError(f"n_clusters must be integers >= 2, got {list(n_clusters)!r}")
    if cutpoint_reference not in ("training", "cohort"):
        raise ValueError(
            f"cutpoint_reference must be 'training' or 'cohort', got {cutpoint_reference!r}"
        )
    if isinstance(subtype_keys, str):
        subtype_keys = [subtype_keys]
    z_arr = Z_GRID if z_grid is None else np.asarray(z_grid, dtype=float)
    if z_arr.ndim != 1 or z_arr.size == 0 or not np.all(np.isfinite(z_arr)):
        raise ValueError("z_grid must be a non-empty 1-D sequence of finite numbers")

    notes: list[str] = []
    cohort_list, merged = _cohort_list(cohorts, cohort_key)
    for name, ad in cohort_list:
        check_adata(ad, f"cohort {name!r}")
    unit: list[str | None] = [None]  # the common time unit, when recorded
    surv = _survival_of(cohort_list, time_key, event_key, notes, unit)
    if len(cohort_list) == 1:
        notes.append(
            f"one validation cohort ({cohort_list[0][0]!r}): pooled models are not stratified"
        )
        warnings.warn(
            "validate: a single validation cohort, so the pooled Cox model and log-rank test "
            "are unstratified",
            DataWarning,
            stacklevel=2,
        )
    engine = Engine(implementation, ("survival", "ConsensusClusterPlus"))
    root = random_state if isinstance(random_state, np.random.SeedSequence) else (
        np.random.SeedSequence(random_state))  # fmt: skip
    nmf_seq, desurv_seq, nmf_eval_seq = root.spawn(3)

    models = [_Model("desurv", model, key, n_top, top_method)]
    if compare_nmf:
        if nmf_model is None:
            nmf_ad = _fit_nmf(models[0], int(nmf_seq.generate_state(1)[0]))
            models.append(_Model("nmf", nmf_ad, "desurv", None, top_method))
        else:
            check_adata(nmf_model, "nmf_model")
            models.append(_Model("nmf", nmf_model, key, n_top, top_method))
            a0 = models[1].params.get("alpha", 0.0)
            if a0 not in (0, 0.0):
                raise ValueError(f"nmf_model was fitted with alpha={a0}, not 0")
            if models[1].k != models[0].k:
                notes.append(f"nmf_model has k={models[1].k}, the model k={models[0].k}")
    seeds = {"desurv": desurv_seq, "nmf": nmf_eval_seq}
    opts = {
        "layer": layer, "min_coverage": float(min_coverage), "cindex_score": cindex_score,
        "hr_score": hr_score, "cutpoint_score": cutpoint_score, "cutpoint": cutpoint,
        "z_grid": z_arr, "cutpoint_folds": int(cutpoint_folds),
        "cutpoint_n_starts": cutpoint_n_starts, "n_clusters": list(n_clusters),
        "reps": int(reps), "p_item": float(p_item), "p_feature": float(p_feature),
        "subtype_keys": list(subtype_keys), "cutpoint_reference": cutpoint_reference,
    }  # fmt: skip
    run = _projection if design == "projection" else _clustering
    tabs = run(models, cohort_list, surv, engine, opts, seeds, notes)
    methods = [m.name for m in models]
    tabs["comparison"] = _comparison(design, tabs, methods)

    params = {
        "design": design, "compare_nmf": bool(compare_nmf), "implementation": implementation,
        "time_key": time_key, "event_key": event_key, "cohort_key": cohort_key, "key": key,
        "n_top": int(models[0].n_top), "top_method": models[0].top_method, "layer": layer,
        "min_coverage": float(min_coverage), "cindex_score": cindex_score, "hr_score": hr_score,
        "cutpoint_score": cutpoint_score, "cutpoint": cutpoint, "z_grid": z_arr,
        "cutpoint_reference": cutpoint_reference,
        "cutpoint_folds": int(cutpoint_folds), "cutpoint_n_starts": cutpoint_n_starts,
        "n_clusters": np.asarray(list(n_clusters), dtype=np.int64), "reps": int(reps),
        "p_item": float(p_item), "p_feature": float(p_feature),
        "subtype_keys": np.asarray(list(subtype_keys), dtype=object),
        "random_state": str(random_state) if random_state is not None else None,
        "seed_entropy": str(root.entropy), "cohorts": np.asarray([c for c, _ in cohort_list],
                                                                  dtype=object),
        "k": int(models[0].k), "time_unit": unit[0],
    }  # fmt: skip
    result = ValidationResult(design=design, implementation=implementation, notes=notes,
                              params=params, **tabs)  # fmt: skip
    _write_back(result, model, cohort_list, merged, methods, key_added)
    for n in notes:
        logger.info("validate: %s", n)
    return result


def _write_back(result, model, cohort_list, merged, methods, key_added) -> None:
    smp = result["samples"]
    cols = (["score", "score_top", "z", "group"] if result["design"] == "projection"
            else [c for c in smp.columns if c.startswith("cluster_k")])  # fmt: skip
    targets = [(name, ad) for name, ad in cohort_list] if merged is None else [("", merged)]
    for name, ad in targets:
        for m in methods:
            sub = smp[smp["method"] == m]
            if merged is None:
                sub = sub[sub["cohort"] == name]
            sub = sub.set_index("sample").reindex(ad.obs_names.astype(str))
            for c in cols:
                vals = sub[c].to_numpy()
                if c == "group" or c.startswith("cluster"):
                    vals = pd.Categorical(vals.astype(str))
                ad.obs[f"{key_added}_{m}_{c}"] = vals
        ad.uns[key_added] = {"design": result["design"], "cohort": name,
                             "methods": np.asarray(methods, dtype=object)}  # fmt: skip
    model.uns[key_added] = result.to_uns()
