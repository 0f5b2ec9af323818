"""The steps the bladder and colorectal vignettes share, after their model selection.

Each vignette selects a setting with ``tl.select`` on its own training cohort; then the same
steps follow, written once here (with the public API only):

- :func:`report_choice`: the setting used (the one-standard-error choice, or the best
  alpha > 0 setting at that k when the rule picks plain NMF) and the CV figure;
- :func:`fit_models`: ``tl.fit`` + ``tl.top_genes`` for DeSurv and the alpha = 0 model on the
  same matrix, k and seed, with the fits' warnings kept for the report;
- :func:`report_fits`: the two fits, how far the survival term moved the programs, the top
  genes;
- :func:`train_cox`: the training Cox model per factor (``tl.survival``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

import desurv


def report_choice(rep, sel, summary: pd.DataFrame, grid: dict, title: str) -> tuple:
    """The setting the vignette fits and its CV figures.

    Returns ``(K, params, row, cv_nmf, chosen_from)``: k, the alpha / lambda_ / l1_ratio used,
    the chosen setting's summary row, the best alpha = 0 mean CV C-index at k and how the
    setting was chosen (a sentence).
    """
    chosen = {k: v for k, v in sel.params_1se_.items() if k in grid}
    chosen_from = "the one-standard-error rule (the paper's choice)"
    if float(chosen["alpha"]) == 0.0:
        # the rule picked plain NMF; the DeSurv model is then the best alpha > 0 setting at k
        at_k = summary[(summary["n_components"] == chosen["n_components"]) & (summary["alpha"] > 0)]
        best = at_k.sort_values("mean_cindex", ascending=False, kind="stable").iloc[0]
        chosen = {k: best[k] for k in grid}
        chosen_from = ("the best alpha > 0 setting at the one-SE k (the rule itself chose "
                       "alpha = 0, i.e. plain NMF)")  # fmt: skip
    K = int(chosen["n_components"])
    params = {"alpha": float(chosen["alpha"]), "lambda_": float(chosen["lambda_"]),
              "l1_ratio": float(chosen["l1_ratio"])}  # fmt: skip
    row = summary[(summary["n_components"] == K) & (summary["alpha"] == params["alpha"])
                  & (summary["lambda_"] == params["lambda_"])].iloc[0]  # fmt: skip
    nmf_rows = summary[(summary["n_components"] == K) & (summary["alpha"] == 0)]
    cv_nmf = float(nmf_rows["mean_cindex"].max())
    rep.md(
        f"Best setting by mean CV C-index: {sel.best_params_['n_components']} factors, alpha "
        f"{sel.best_params_['alpha']}, lambda_ {sel.best_params_['lambda_']}. One-SE k: "
        f"{sel.k_1se_}. Used: k = {K}, alpha = {params['alpha']}, lambda_ = "
        f"{params['lambda_']}, l1_ratio = {params['l1_ratio']} ({chosen_from}); its CV C-index "
        f"is {row['mean_cindex']:.3f} (SE {row['se_cindex']:.3f}), against {cv_nmf:.3f} for the "
        f"best alpha = 0 setting at k = {K}."
    )
    ax = desurv.pl.select_k(summary[summary["alpha"] > 0],
                            compare=summary[summary["alpha"] == 0])  # fmt: skip
    ax.set_title(title)
    rep.figure(ax, "select_k", "Cross-validated C-index by k: best alpha > 0 setting (DeSurv) "
               "and alpha = 0, with standard errors and the one-SE threshold.")  # fmt: skip
    return K, params, row, cv_nmf, chosen_from


def fit_models(train, K: int, params: dict, fit_kw: dict, n_top: int) -> tuple:
    """``tl.fit`` + ``tl.top_genes`` of DeSurv (into ``train``) and of the alpha = 0 model
    (into a copy). Returns ``(nmf, fit_warnings)``: the copy and, per model, desurv's
    warnings as one-line strings (they are also shown)."""
    fit_warnings: dict[str, list[str]] = {}

    def fit_and_record(ad, label: str, **kw: Any) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", desurv.exceptions.DeSurvWarning)
            desurv.tl.fit(ad, "time", "event", K, **kw, **fit_kw)
        fit_warnings[label] = [f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                               for w in caught
                               if issubclass(w.category, desurv.exceptions.DeSurvWarning)]
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        desurv.tl.top_genes(ad, n_top=n_top)

    fit_and_record(train, "DeSurv", **params)
    nmf = train.copy()
    fit_and_record(nmf, "alpha = 0", **{**params, "alpha": 0.0})
    return nmf, fit_warnings


def report_fits(rep, train, nmf, K: int, n_top: int, fit_warnings: dict) -> tuple:
    """The two fits in the report: training C, iterations, coefficients, the cosine of each
    DeSurv factor with its closest alpha = 0 factor, the warnings and the top genes.

    Returns ``(model_genes, rec, rec0, w_match)``.
    """
    model_genes = pd.Index(np.asarray(train.uns["desurv"]["genes"], dtype=object).astype(str))
    rec, rec0 = train.uns["desurv"], nmf.uns["desurv"]
    rep.md(
        f"DeSurv: {train.n_obs} samples x {len(model_genes)} genes, k = {K}: training C-index "
        f"{rec['train_cindex']:.3f}, {rec['n_iter']} iterations (converged: "
        f"{rec['converged']}); standardised Cox coefficients (log HR per SD of each factor "
        f"score) {np.round(np.asarray(rec['beta_std']), 3).tolist()}. alpha = 0: training "
        f"C-index {rec0['train_cindex']:.3f}, {rec0['n_iter']} iterations (converged: "
        f"{rec0['converged']}), coefficients {np.round(np.asarray(rec0['beta_std']), 3).tolist()}."
    )
    # how far the survival term moved the programs: cosine of each DeSurv factor's loadings
    # with its closest alpha = 0 factor (W genes x k, unit-norm columns)
    Wd, Wn = np.asarray(train.varm["desurv_W"]), np.asarray(nmf.varm["desurv_W"])
    cos = (Wd.T @ Wn) / np.outer(np.linalg.norm(Wd, axis=0), np.linalg.norm(Wn, axis=0))
    w_match = [float(c) for c in cos.max(axis=1)]
    rep.md(
        "Cosine similarity of each DeSurv factor's loadings with its closest alpha = 0 factor: "
        f"{[round(c, 3) for c in w_match]} (1 = the same program)."
    )
    for label, ws in fit_warnings.items():
        for w in ws:
            rep.md(f"- warning from the {label} fit: {w}")
    top = pd.DataFrame(train.uns["desurv_top_genes"]["table"])
    top_wide = pd.DataFrame({
        f"factor {j}": top[top["factor"] == j].sort_values("rank")["gene"].head(10).to_list()
        for j in range(1, K + 1)
    })  # fmt: skip
    rep.table(top_wide, "top_genes", f"First 10 of the {n_top} top genes per DeSurv factor "
              "(specificity score); the full table is tables/top_genes_all.tsv.")  # fmt: skip
    top.to_csv(rep.out / "tables" / "top_genes_all.tsv", sep="\t", index=False)
    return model_genes, rec, rec0, w_match


def factor_cox(ad, label: str, implementation: str) -> pd.DataFrame:
    """One Cox model per standardised factor score, and the joint model of all factors."""
    Z = np.asarray(ad.obsm["X_desurv"], dtype=float)
    Zs = (Z - Z.mean(axis=0)) / Z.std(axis=0, ddof=1)
    df = pd.DataFrame(Zs, columns=[f"factor{j + 1}" for j in range(Z.shape[1])])
    df["time"] = ad.obs["time"].to_numpy()
    df["event"] = ad.obs["event"].to_numpy()
    rows = []
    for j in range(Z.shape[1]):
        r = desurv.tl.survival(df, f"factor{j + 1}", implementation=implementation)
        c = r.cox["coefficients"].iloc[0]
        rows.append({"model": label, "factor": j + 1, "hr_per_sd": c["hr"],
                     "hr_lower_95": c["hr_lower_95"], "hr_upper_95": c["hr_upper_95"],
                     "p": c["p"], "cindex": r.cox["concordance"]})  # fmt: skip
    joint = desurv.tl.survival(df, [f"factor{j + 1}" for j in range(Z.shape[1])],
                               implementation=implementation)  # fmt: skip
    rows.append({"model": label, "factor": "all (joint)", "hr_per_sd": np.nan,
                 "hr_lower_95": np.nan, "hr_upper_95": np.nan, "p": joint.cox["lrt"]["p"],
                 "cindex": joint.cox["concordance"]})  # fmt: skip
    return pd.DataFrame(rows)


def train_cox(rep, train, nmf, rec: dict, implementation: str) -> tuple:
    """The training Cox table of both models in the report. Returns ``(train_factor_p,
    train_factor_p_nmf, lead)``: the per-factor p-values and the factor with the largest
    |standardised coefficient| (1-based)."""
    cox_train = pd.concat([factor_cox(train, "DeSurv", implementation),
                           factor_cox(nmf, "alpha = 0", implementation)],
                          ignore_index=True)  # fmt: skip
    rep.table(cox_train, "train_cox", "Training Cox per factor (HR per SD, Wald p) and the "
              "joint model of all factors (likelihood-ratio p, in-sample C).")  # fmt: skip
    per_factor = cox_train[cox_train["factor"] != "all (joint)"]
    train_factor_p = per_factor[per_factor["model"] == "DeSurv"]["p"].astype(float).to_list()
    p_nmf = per_factor[per_factor["model"] == "alpha = 0"]["p"].astype(float).to_list()
    lead = int(np.argmax(np.abs(np.asarray(rec["beta_std"])))) + 1
    return train_factor_p, p_nmf, lead
