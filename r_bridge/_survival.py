"""R's survival package through the embedded R: ``coxph``, ``survdiff``, ``concordance``.

Formulas are built in R with ``strata(...)`` (never ``survival::strata``, which R would
silently treat as a covariate) in an environment whose parent is the survival namespace,
so nothing is attached to R's search path. Columns travel under safe names (``time``,
``event``, ``x1``.., ``s1``.., ``g``) and the results are renamed back in Python.

Every function returns plain Python / pandas objects in the same layout as the Python twins
of :mod:`desurv.stats` (``cox_ph``, ``logrank_test``, ``concordance_counts``). Survival data
and ``ties`` are checked by desurv's one check (``desurv._validation``, imported inside the
functions: importing r_bridge imports nothing of desurv); missing values are left to R.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from r_bridge import _session
from r_bridge._frames import as_frame

_R_CODE = r"""
surv_formula <- function(rhs) {
  stats::as.formula(paste("Surv(time, event) ~", rhs),
                    env = new.env(parent = asNamespace("survival")))
}
strata_term <- function(snames) {
  if (length(snames)) paste0("strata(", paste(snames, collapse = ", "), ")") else NULL
}
count_names <- c("concordant", "discordant", "tied.x", "tied.y", "tied.xy")

cox_fit <- function(df, xnames, snames, ties, eps, iter_max) {
  rhs <- paste(c(xnames, strata_term(snames)), collapse = " + ")
  fit <- survival::coxph(surv_formula(rhs), data = df, ties = ties,
                         control = survival::coxph.control(eps = eps, iter.max = iter_max))
  s <- summary(fit)
  cc <- fit$concordance
  list(names = names(stats::coef(fit)), coef = unname(stats::coef(fit)),
       var = unname(fit$var), loglik = fit$loglik, n = fit$n, nevent = fit$nevent,
       iter = fit$iter, counts = unname(cc[count_names]), concordance = unname(cc["concordance"]),
       concordance_std = unname(cc["std"]),
       logtest = unname(s$logtest),
       waldtest = unname(s$waldtest), wald_unrounded = unname(fit$wald.test),
       sctest = unname(s$sctest),
       coefmat = unname(s$coefficients), confint = unname(s$conf.int),
       aic = stats::AIC(fit), bic = stats::BIC(fit))
}

conc_fit <- function(df, snames) {
  rhs <- paste(c("x", strata_term(snames)), collapse = " + ")
  cf <- survival::concordance(surv_formula(rhs), data = df, reverse = TRUE)
  cnt <- cf$count
  if (is.matrix(cnt)) cnt <- colSums(cnt)
  list(counts = unname(cnt[count_names]), concordance = unname(cf$concordance),
       var = unname(cf$var))
}

sdiff_fit <- function(df, snames) {
  rhs <- paste(c("g", strata_term(snames)), collapse = " + ")
  fit <- survival::survdiff(surv_formula(rhs), data = df)
  obs <- fit$obs
  ex <- fit$exp
  if (is.matrix(obs)) {
    obs <- apply(obs, 1, sum)
    ex <- apply(ex, 1, sum)
  }
  dfree <- sum(1 * (ex > 0)) - 1
  list(chisq = fit$chisq, df = dfree,
       p = stats::pchisq(fit$chisq, dfree, lower.tail = FALSE),
       observed = unname(as.numeric(obs)), expected = unname(as.numeric(ex)),
       var = unname(fit$var), n = unname(as.numeric(fit$n)))
}

fisher_fit <- function(tab) {
  ft <- stats::fisher.test(tab)
  est <- if (is.null(ft$estimate)) NA_real_ else unname(ft$estimate)
  list(p = ft$p.value, estimate = est)
}
"""

_PACKAGES = ("survival",)
_DEFINED = "fisher_fit"  # the last helper of _R_CODE: defined means all are
COUNT_KEYS = ("concordant", "discordant", "tied_x", "tied_y", "tied_xy")


def _ensure_defined() -> None:
    _session.require(_PACKAGES)
    if not _session.is_defined(_DEFINED):
        _session.define(_R_CODE)


def _base_frame(time, event, where: str) -> pd.DataFrame:
    """``time`` and ``event`` columns for R, checked by desurv's one survival check.

    Subjects with a missing time or event are passed on unchecked: R drops them (or stops
    with its own message when none is left), as it does for any formula.
    """
    from desurv._validation import check_survival  # noqa: PLC0415 - lazy: no desurv at import

    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if t.ndim != 1 or e.shape != t.shape:
        raise ValueError("time and event must be 1-D of the same length")
    ef = np.asarray(e, dtype=float)
    present = ~(np.isnan(t) | np.isnan(ef))
    check_survival(t[present], ef[present], require_event=False, where=where)
    return pd.DataFrame({"time": t, "event": e.astype(bool).astype(np.int32)})


def _strata_frame(strata, n: int) -> pd.DataFrame:
    sf = as_frame(strata, n, "s", what="strata")
    return pd.DataFrame(
        {f"s{j + 1}": sf.iloc[:, j].astype(str).to_numpy() for j in range(sf.shape[1])}
    )


def _design(covariates, n: int) -> tuple[pd.DataFrame, list[str]]:
    """Safe-named covariate frame and the user-facing term names R will produce."""
    cf = as_frame(covariates, n, "x", what="covariates")
    out = {}
    terms: list[str] = []
    expected: list[str] = []
    for j, col in enumerate(cf.columns):
        safe = f"x{j + 1}"
        v = cf[col]
        if isinstance(v.dtype, pd.CategoricalDtype):
            v = v.cat.remove_unused_categories()
            out[safe] = v
            for lvl in v.cat.categories[1:]:
                terms.append(f"{col}{lvl}")
                expected.append(f"{safe}{lvl}")
        elif v.dtype == bool:
            out[safe] = v.astype(float)
            terms.append(str(col))
            expected.append(safe)
        elif pd.api.types.is_numeric_dtype(v.dtype):
            out[safe] = v.astype(float)
            terms.append(str(col))
            expected.append(safe)
        else:
            cat = pd.Categorical(v.astype(str))
            cat = cat.remove_unused_categories()
            out[safe] = cat
            for lvl in cat.categories[1:]:
                terms.append(f"{col}{lvl}")
                expected.append(f"{safe}{lvl}")
    df = pd.DataFrame(out)
    df.attrs["expected"] = expected
    df.attrs["names"] = {f"x{j + 1}": str(col) for j, col in enumerate(cf.columns)}
    return df, terms


@_session.locked
def coxph(
    time,
    event,
    covariates,
    strata=None,
    *,
    ties: str = "efron",
    eps: float = 1e-9,
    iter_max: int = 20,
) -> dict:
    """``survival::coxph(Surv(time, event) ~ covariates + strata(...), ties=ties)``.

    ``covariates`` is a DataFrame (numeric columns as they are; categorical or string
    columns as factors with treatment contrasts, reference = first category) or a 2-D array
    (columns ``x1``, ``x2``, ... as in the Python twin). Times must be >= 0 (0 is valid).
    Returns the layout of :func:`desurv.stats.cox_ph` (see there), with
    ``implementation="r"``.
    """
    from desurv._validation import check_ties  # noqa: PLC0415 - lazy: no desurv at import

    ties = check_ties(ties)
    base = _base_frame(time, event, "coxph: ")
    n = len(base)
    X, terms = _design(covariates, n)
    S = _strata_frame(strata, n)
    used = base["time"].notna().to_numpy() & ~X.isna().any(axis=1).to_numpy()
    # with no subject left R stops with its own message ("No (non-missing) observations")
    if used.any() and not (base["event"].to_numpy()[used] > 0).any():
        # R fits nothing and reports its missing integer (-2147483648) as the coefficient
        raise ValueError(
            "coxph: there is no event among the subjects used: a Cox model needs at least one "
            "event (check the event column's coding, 1 = event)"
        )
    const = [
        X.attrs["names"][c]
        for c in X.columns
        if used.sum() > 1 and X.loc[used, c].nunique(dropna=True) <= 1
    ]
    if const:
        # R gives such a term an NA coefficient, which has no hazard ratio
        raise ValueError(
            f"coxph: covariate(s) {const} take a single value over the subjects used, so they "
            "have no effect to estimate (R reports NA); drop them"
        )
    df = pd.concat([base, X, S], axis=1)
    _ensure_defined()
    ro, _ = _session._session()
    out = _session.call(
        "cox_fit",
        df=df,
        xnames=ro.StrVector(list(X.columns)),
        snames=ro.StrVector(list(S.columns)),
        ties=ties,
        eps=float(eps),
        iter_max=int(iter_max),
        packages=_PACKAGES,
    )
    names = [str(x) for x in out.rx2("names")]
    if names != X.attrs["expected"]:  # pragma: no cover - guards the renaming
        raise RuntimeError(f"unexpected coefficient names from R: {names}")
    coef = _session.to_numpy(out.rx2("coef"), dtype=float)
    coefmat = _session.to_numpy(out.rx2("coefmat"), dtype=float).reshape(len(coef), -1)
    confint = _session.to_numpy(out.rx2("confint"), dtype=float).reshape(len(coef), -1)
    table = pd.DataFrame(
        {
            "coef": coef,
            "hr": coefmat[:, 1],
            "se": coefmat[:, 2],
            "z": coefmat[:, 3],
            "p": coefmat[:, 4],
            "hr_lower_95": confint[:, 2],
            "hr_upper_95": confint[:, 3],
        },
        index=pd.Index(terms, name="term"),
    )
    loglik = _session.to_numpy(out.rx2("loglik"), dtype=float)
    counts = _session.to_numpy(out.rx2("counts"), dtype=float)

    def _first(name):  # NULL (e.g. no Wald test under monotone likelihood) -> NaN
        v = _session.to_numpy(out.rx2(name), dtype=float).ravel()
        return float(v[0]) if v.size else float("nan")

    def _test(name):
        v = _session.to_numpy(out.rx2(name), dtype=float).ravel()
        if v.size < 3:  # R's summary gives a bare NA when the test is not defined
            return {"statistic": float("nan"), "df": float(len(coef)), "p": float("nan")}
        return {"statistic": float(v[0]), "df": float(v[1]), "p": float(v[2])}

    return {
        "coefficients": table,
        "var": _session.to_numpy(out.rx2("var"), dtype=float).reshape(len(coef), len(coef)),
        "loglik_null": float(loglik[0]),
        "loglik": float(loglik[-1]),
        "lrt": _test("logtest"),
        # summary.coxph rounds the Wald statistic to 2 decimals (its p is unrounded):
        # report the unrounded fit$wald.test.
        "wald": {**_test("waldtest"), "statistic": _first("wald_unrounded")},
        "score": _test("sctest"),
        "concordance": float(out.rx2("concordance")[0]),
        "concordance_se": float(out.rx2("concordance_std")[0]),
        "concordance_counts": {k: float(v) for k, v in zip(COUNT_KEYS, counts)},
        "n": int(out.rx2("n")[0]),
        "nevent": int(out.rx2("nevent")[0]),
        "aic": float(out.rx2("aic")[0]),
        "bic": float(out.rx2("bic")[0]),
        "ties": ties,
        "n_iter": int(out.rx2("iter")[0]),
        "implementation": "r",
    }


@_session.locked
def survdiff(time, event, group, strata=None) -> dict:
    """``survival::survdiff(Surv(time, event) ~ group + strata(...))`` (log-rank, rho = 0).

    Returns ``chisq``, ``df``, ``p``, and ``table`` (DataFrame indexed by group level with
    ``n``, ``observed``, ``expected``; observed and expected summed over strata), ``var``.
    Group levels are the categories of a categorical ``group``, else the sorted values.
    Times must be >= 0 (0 is valid).
    """
    base = _base_frame(time, event, "survdiff: ")
    n = len(base)
    g = pd.Series(np.asarray(group) if not isinstance(group, pd.Series) else group.to_numpy())
    if not isinstance(g.dtype, pd.CategoricalDtype):
        g = pd.Series(pd.Categorical(g.astype(str) if g.dtype == object else g))
    g = g.cat.remove_unused_categories()
    levels = [str(c) for c in g.cat.categories]
    g = pd.Series(pd.Categorical(g.astype(str), categories=levels))
    if len(g) != n:
        raise ValueError("group must have one value per subject")
    S = _strata_frame(strata, n)
    df = pd.concat([base, pd.DataFrame({"g": g}), S], axis=1)
    _ensure_defined()
    ro, _ = _session._session()
    out = _session.call(
        "sdiff_fit", df=df, snames=ro.StrVector(list(S.columns)), packages=_PACKAGES
    )
    k = len(levels)
    table = pd.DataFrame(
        {
            "n": _session.to_numpy(out.rx2("n"), dtype=float).astype(int),
            "observed": _session.to_numpy(out.rx2("observed"), dtype=float),
            "expected": _session.to_numpy(out.rx2("expected"), dtype=float),
        },
        index=pd.Index(levels, name="group"),
    )
    return {
        "chisq": float(out.rx2("chisq")[0]),
        "df": int(out.rx2("df")[0]),
        "p": float(out.rx2("p")[0]),
        "table": table,
        "var": _session.to_numpy(out.rx2("var"), dtype=float).reshape(k, k),
        "implementation": "r",
    }


@_session.locked
def concordance(time, event, risk, strata=None) -> dict:
    """``survival::concordance(Surv(time, event) ~ risk + strata(...), reverse=TRUE)``.

    Higher ``risk`` = shorter survival. Returns ``concordance``, ``counts`` (concordant,
    discordant, tied_x, tied_y, tied_xy; summed over strata) and ``var`` (R's variance).
    Times must be >= 0 (0 is valid).
    """
    base = _base_frame(time, event, "concordance: ")
    n = len(base)
    x = np.asarray(risk, dtype=float)
    if x.shape != (n,):
        raise ValueError("risk must have one value per subject")
    S = _strata_frame(strata, n)
    df = pd.concat([base, pd.DataFrame({"x": x}), S], axis=1)
    _ensure_defined()
    ro, _ = _session._session()
    out = _session.call("conc_fit", df=df, snames=ro.StrVector(list(S.columns)), packages=_PACKAGES)
    counts = _session.to_numpy(out.rx2("counts"), dtype=float)
    return {
        "concordance": float(out.rx2("concordance")[0]),
        "counts": {k: float(v) for k, v in zip(COUNT_KEYS, counts)},
        "var": float(out.rx2("var")[0]),
        "implementation": "r",
    }


@_session.locked
def fisher_test(table) -> dict:
    """``stats::fisher.test(table)``: Fisher's exact test of an r x c contingency table.

    ``table`` is a 2-D array of nonnegative integer counts (at least 2 x 2). Returns ``p``
    (two-sided) and ``odds_ratio`` (R's conditional maximum-likelihood estimate for a 2 x 2
    table, NaN otherwise).
    """
    tab = np.asarray(table)
    if tab.ndim != 2 or min(tab.shape) < 2:
        raise ValueError(f"fisher_test needs a 2-D table of at least 2 x 2, got shape {tab.shape}")
    if not np.all(np.isfinite(tab)) or np.any(tab < 0) or np.any(tab != np.round(tab)):
        raise ValueError("fisher_test needs nonnegative integer counts")
    _ensure_defined()
    out = _session.call("fisher_fit", tab=np.asarray(tab, dtype=np.int64).astype(float))
    return {
        "p": float(out.rx2("p")[0]),
        "odds_ratio": float(out.rx2("estimate")[0]),
        "implementation": "r",
    }
