# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Cross-cancer: do PDAC programs carry survival information in other cancers?
#
# The DeSurv paper's Figure 4 idea: gene programs learnt on pancreatic cancer (TCGA-PAAD) are
# scored, unchanged, in cohorts of other cancers (bladder, colorectal) and in another PDAC
# cohort, and the hazard ratio of each program's score is estimated in each. The headline is
# the share of programs significantly associated with survival in at least two cancer types
# (the paper's draft leaves it as "X %").
#
# Run: `python vignettes/cross_cancer.py [--fast] [--out DIR]`.

# %%
from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from _report import ROOT, Report, options

import desurv
from desurv.exceptions import DataWarning

NAME = "cross_cancer"
args = options(NAME)
report = Report(NAME, "Cross-cancer: PDAC programs in bladder and colorectal cancer", args)

# %% [markdown]
# ## Settings
#
# The model is fixed here, not selected: k = 3, alpha = 0.5 and the default penalty
# (lambda_ = 0.1, l1_ratio = 0.5). The model selection over k and alpha on TCGA-PAAD is the
# subject of the PDAC vignette; this one only asks how a fixed set of PDAC programs travels.

# %%
K = 3
ALPHA = 0.5
LAMBDA = 0.1
L1_RATIO = 0.5
N_TOP_GENES = 2000  # the gene filter on TCGA-PAAD
N_TOP_PROGRAM = 50  # genes per program (desurv.tl.top_genes, the authors' specificity score)
N_INIT = 5  # a few starts; see the stability section for what more starts do
SEED = 0
# The stability check refits with other seeds (and, in full mode, with 20 starts).
STABILITY_SEEDS = [1, 2] if args.fast else list(range(1, 10))
P_CUT = 0.05
# The stored subsets of IMvigor210 bladder site (1768 genes), GSE17538 (656 pathway genes)
# and the TCGA-BLCA hypoxia panel (190 genes) share far fewer than half of the 2000 model
# genes, the default min_coverage of desurv.tl.score; 3 % (60 genes) lets them through and
# the table below states what each cohort actually shares.
MIN_COVERAGE = 0.03

# Scored cohorts: registry id, label, cancer type, scale passed to desurv.pp.unlog (None:
# the recorded uns['value_scale']) and why.
COHORTS = [
    ("prince", "PRINCE", "PDAC", None,
     "recorded: log2(TPM + 0.001)"),
    ("imvigor210_bladder_site", "IMvigor210 bladder site", "bladder", None,
     "recorded: log2(TPM + 0.001)"),
    ("imvigor210_other_sites", "IMvigor210 other sites", "bladder", None,
     "recorded: log2(TPM + 0.001)"),
    ("tcga_blca_hypoxia", "TCGA-BLCA hypoxia panel", "bladder", "log2(x+1)",
     "explicit log2(x+1): the record ('log2 normalized RNA-seq ... consistent with "
     "log2(RSEM+1)') states no offset; its minimum is exactly 0 = log2(0 + 1)"),
    ("gse17538_pathwaypca", "GSE17538 colon", "colorectal", "log2",
     "explicit log2 (offset 0): the record ('log2 Affymetrix HG-U133 Plus 2') states no "
     "offset; Affymetrix summaries are log2 without one, and the values (3.3 to 14.1) show "
     "no floor at log2(offset)"),
]
report.md(
    f"Model: k = {K}, alpha = {ALPHA}, lambda_ = {LAMBDA}, l1_ratio = {L1_RATIO}, "
    f"{N_INIT} starts (seed {SEED}); top {N_TOP_PROGRAM} genes per program. No model "
    "selection is run here: the PDAC vignette selects k and alpha on TCGA-PAAD."
)

# %% [markdown]
# ## Train the PDAC programs on TCGA-PAAD
#
# The paper's preprocessing: log1p, the top 2000 genes by mean and variance rank, and
# within-sample ranks. `desurv.tl.fit` records these steps so that `desurv.tl.score` replays
# them on every new cohort.

# %%
train = desurv.datasets.load("tcga_paad_3k")
desurv.pp.log1p(train)
desurv.pp.filter_genes(train, n_top=N_TOP_GENES)
desurv.pp.rank_transform(train)
train_unfitted = train.copy()  # for the refits of the stability check
with warnings.catch_warnings(record=True) as fit_warnings:
    warnings.simplefilter("always")
    desurv.tl.fit(train, "time", "event", n_components=K, alpha=ALPHA, lambda_=LAMBDA,
                  l1_ratio=L1_RATIO, n_init=N_INIT, random_state=SEED)
fit_rec = train.uns["desurv"]
top = desurv.tl.top_genes(train, n_top=N_TOP_PROGRAM)
factors = list(range(1, K + 1))
fit_notes = sorted({f"{type(w.message).__name__}: {w.message}" for w in fit_warnings})
report.md(
    f"TCGA-PAAD: {train.n_obs} tumours, {int(train.obs['event'].sum())} deaths, "
    f"{train.n_vars} genes after the filter. Fit: {int(fit_rec['n_iter'])} iterations, "
    f"converged {bool(fit_rec['converged'])}, training C-index "
    f"{float(fit_rec['train_cindex']):.3f} (in-sample); standardised Cox coefficients "
    + ", ".join(f"F{j} {b:.3f}" for j, b in zip(factors, fit_rec["beta_std"]))
    + ". Warnings during the fit: " + ("; ".join(fit_notes) if fit_notes else "none") + "."
)

# %% [markdown]
# What the programs are: each factor's top genes tested against the published PDAC programs
# (`desurv.tl.annotate_programs`, hypergeometric, BH over all factor x program tests).

# %%
mirror = os.environ.get("DESURV_DATA_MIRROR") or str(ROOT.parent / "shared" / "data")
programs_csv = Path(mirror) / "gene_programs" / "reference_programs.csv"
labels = {j: f"F{j}" for j in factors}
if programs_csv.is_file():
    ann = desurv.tl.annotate_programs(train, programs_csv)
    for j in factors:  # name a factor by its two best matches with q < 0.05
        best = ann[(ann["factor"] == j) & (ann["rank"] <= 2) & (ann["qval"] < P_CUT)]
        if len(best):
            labels[j] = f"F{j} " + " / ".join(f"{r.schema} {r.program}"
                                               for r in best.itertuples())
    shown = ann[ann["rank"] <= 2][["factor", "schema", "program", "n_top", "overlap", "qval"]]
    report.table(shown, "programs", "Best two published programs per factor (BH q).")
else:
    report.md(f"(Reference programs not found at {programs_csv}; factors left unnamed.)")
top_show = (top[top["rank"] <= 10].groupby("factor")["gene"].apply(", ".join)
            .rename("top 10 genes").reset_index())
top_show.insert(1, "program", [labels[j] for j in top_show["factor"]])
report.table(top_show, "top_genes", "Top 10 of each factor's 50 genes (specificity score).")

# %% [markdown]
# ## Score the programs in the other cohorts
#
# Each cohort's stored log scale is undone with `desurv.pp.unlog` (NMF needs linear,
# nonnegative values); `desurv.tl.score` then applies the model's own preprocessing (log1p,
# then ranks over the model genes the cohort has, mapped onto the training range) and
# projects on W with all 2000 model genes; genes a cohort lacks are filled with 0. The
# factor score is standardised within each cohort before the Cox model, so the zero-filled
# genes, being constant in a cohort, do not enter the hazard ratio: what a cohort shares is
# what is scored.

# %%
train_genes = pd.Index(np.asarray(fit_rec["genes"], dtype=object).astype(str))
cohorts: list[dict] = []
scored: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}  # label -> (obs, scores)
prepared: dict[str, object] = {}  # label -> unlogged cohort, for the stability refits
scored["TCGA-PAAD"] = (train.obs, np.asarray(train.obsm["X_desurv"]))
cohorts.append({
    "id": "tcga_paad_3k", "cohort": "TCGA-PAAD", "cancer": "PDAC", "role": "training",
    "n": int(train.n_obs), "events": int(train.obs["event"].sum()),
    "genes_shared": int(len(train_genes)), "coverage": 1.0,
    "top_genes_shared": [N_TOP_PROGRAM] * K, "scale": "not logged (log1p in training)",
    "dropped_no_survival": 0,
})
for cid, label, cancer, scale, why in COHORTS:
    adata = desurv.datasets.load(cid)
    missing_surv = adata.obs["time"].isna().to_numpy() | adata.obs["event"].isna().to_numpy()
    if missing_surv.any():  # no follow-up: cannot enter a Cox model
        adata = adata[~missing_surv].copy()
    desurv.pp.unlog(adata, scale=scale)
    prepared[label] = adata.copy()
    with warnings.catch_warnings():
        # the zero-fill warning is expected here; its count is reported in the table
        warnings.simplefilter("ignore", DataWarning)
        desurv.tl.score(adata, train, min_coverage=MIN_COVERAGE)
    rec = adata.uns["desurv_score"]
    shared = int(rec["n_model_genes"]) - int(rec["n_missing"])
    have = set(adata.var_names.astype(str))
    top_shared = [int(top.loc[top["factor"] == j, "gene"].isin(have).sum()) for j in factors]
    scored[label] = (adata.obs, np.asarray(adata.obsm["X_desurv"]))
    cohorts.append({
        "id": cid, "cohort": label, "cancer": cancer, "role": "validation",
        "n": int(adata.n_obs), "events": int(adata.obs["event"].sum()),
        "genes_shared": shared, "coverage": float(rec["coverage"]),
        "top_genes_shared": top_shared, "scale": why,
        "dropped_no_survival": int(missing_surv.sum()),
    })
coh = pd.DataFrame(cohorts)
coh_show = coh.assign(
    top_genes_shared=[" / ".join(map(str, t)) for t in coh["top_genes_shared"]]
)[["cohort", "cancer", "role", "n", "events", "genes_shared", "coverage", "top_genes_shared"]]
report.table(coh_show, "cohorts",
             f"Cohorts: genes shared of the model's {len(train_genes)} (coverage) and of each "
             f"factor's top {N_TOP_PROGRAM} (F1 / F2 / F3).")
dropped = coh[coh["dropped_no_survival"] > 0]
report.md("Samples without follow-up dropped before scoring: "
          + ("; ".join(f"{r.cohort}: {r.dropped_no_survival}" for r in dropped.itertuples())
             if len(dropped) else "none") + ".")
report.md("Scales undone: " + "; ".join(f"{c['cohort']}: {c['scale']}" for c in cohorts[1:])
          + ".")
thin = coh[(coh["role"] == "validation") & (coh["coverage"] < 0.1)]
report.md(
    "Thin overlaps, stated rather than hidden: "
    + "; ".join(f"{r.cohort} shares {r.genes_shared} of {len(train_genes)} model genes "
                f"({r.coverage:.1%})" for r in thin.itertuples())
    + ". These scores rest on a small, pre-selected gene set (a hypoxia panel, pathway "
    "genes), so they are noisier readings of the programs than those of the wide cohorts ("
    + ", ".join(f"{r.cohort} {r.coverage:.0%}" for r in coh[
        (coh["role"] == "validation") & (coh["coverage"] >= 0.5)].itertuples())
    + " shared). The hypoxia panel is kept in the table and figure, but the shares are also "
    "given without it."
)

# %% [markdown]
# ## Hazard ratio per SD of each factor score, in every cohort
#
# A univariate Cox model (`desurv.stats.cox_ph`, Efron ties) of overall survival on each
# standardised factor score, per cohort. TCGA-PAAD is shown for reference only: it is the
# training cohort (alpha > 0 fitted the programs to its survival) and does not count as
# evidence below.

# %%


def cox_per_sd(obs: pd.DataFrame, score: np.ndarray) -> dict:
    """HR per SD of ``score`` (univariate Cox on the standardised score)."""
    sd = float(np.std(score, ddof=1))
    if not np.isfinite(sd) or sd == 0:
        nan = float("nan")
        return {"hr": nan, "lower": nan, "upper": nan, "p": nan, "note": "constant score"}
    z = (score - score.mean()) / sd
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = desurv.stats.cox_ph(obs["time"].to_numpy(float), obs["event"].to_numpy(float),
                                  pd.DataFrame({"z": z}))
    c = res["coefficients"].loc["z"]
    note = "; ".join(sorted({type(w.message).__name__ for w in caught}))
    return {"hr": float(c["hr"]), "lower": float(c["hr_lower_95"]),
            "upper": float(c["hr_upper_95"]), "p": float(c["p"]), "note": note}


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (R's p.adjust(method = "BH"))."""
    p = np.asarray(p, dtype=float)
    n = p.size
    order = np.argsort(p)
    q = p[order] * n / np.arange(1, n + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


rows = []
for c in cohorts:
    obs, S = scored[c["cohort"]]
    for j in factors:
        rows.append({"factor": j, "program": labels[j], "cohort": c["cohort"],
                     "cancer": c["cancer"], "role": c["role"], "n": c["n"],
                     "events": c["events"], **cox_per_sd(obs, S[:, j - 1])})
hr = pd.DataFrame(rows)
val_mask = hr["role"] == "validation"
hr["q_bh"] = np.nan
hr.loc[val_mask, "q_bh"] = bh(hr.loc[val_mask, "p"].to_numpy())
report.table(hr[["factor", "cohort", "cancer", "n", "events", "hr", "lower", "upper", "p",
                 "q_bh", "note"]], "hr_table",
             "HR per SD of each factor score with 95 % CI, Wald p and BH q (BH over the "
             f"{int(val_mask.sum())} validation tests; the training rows are not corrected).")
n_sep = int(hr["note"].str.contains("Separation").sum())
n_conv = int(hr["note"].str.contains("Convergence").sum())
report.md(f"Cox warnings: {n_sep} separation, {n_conv} convergence, out of {len(hr)} fits.")

# %%
cols = [c["cohort"] for c in cohorts]
logm = np.log(hr.pivot(index="factor", columns="cohort", values="hr")[cols].to_numpy())
pm = hr.pivot(index="factor", columns="cohort", values="p")[cols].to_numpy()
qm = hr.pivot(index="factor", columns="cohort", values="q_bh")[cols].to_numpy()
# colour range from the validation cohorts (a training HR may saturate it)
lim = max(0.25, float(np.ceil(np.nanmax(np.abs(logm[:, 1:])) * 10) / 10))
fig, ax = plt.subplots(figsize=(1.55 * len(cols) + 2.6, 0.75 * K + 2.2))
im = ax.imshow(logm, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
for i in range(K):
    for jj in range(len(cols)):
        mark = "*" if pm[i, jj] < P_CUT else ""
        mark += "\u2020" if np.isfinite(qm[i, jj]) and qm[i, jj] < P_CUT else ""
        dark = abs(logm[i, jj]) > 0.6 * lim
        ax.text(jj, i, f"{np.exp(logm[i, jj]):.2f}{mark}", ha="center", va="center",
                fontsize=9, color="white" if dark else "black")
ax.set_xticks(range(len(cols)))
ax.set_xticklabels([f"{c['cohort']}\n{c['cancer']}, n={c['n']}\n"
                    + ("(training)" if c["role"] == "training"
                       else f"{c['genes_shared']} of {len(train_genes)} genes")
                    for c in cohorts],
                   fontsize=8, rotation=30, ha="right")
ax.set_yticks(range(K))
ax.set_yticklabels([labels[j].replace(" / ", "\n") for j in factors], fontsize=8)
ax.axvline(0.5, color="black", lw=1.5)
cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
cb.set_label("log HR per SD of factor score\n(red: higher score, shorter survival)",
             fontsize=8)
ax.set_title("PDAC programs (TCGA-PAAD, k = 3) across cohorts: HR per SD "
             "(* p < 0.05, \u2020 BH q < 0.05)", fontsize=9)
headline = report.figure(
    fig, "cross_cancer_log_hr",
    "Log hazard ratio per SD of each PDAC factor's score (rows) in each cohort (columns); "
    "cells give the HR, * marks Wald p < 0.05, \u2020 BH q < 0.05 over the validation tests. "
    "Left of the line: the training cohort (in-sample, not counted)."
)

# %% [markdown]
# ## Share of programs significant in at least two cancer types
#
# A factor counts as significant in a cancer type when its HR has p < 0.05 in at least one
# validation cohort of that type (PDAC: PRINCE; bladder: the two IMvigor210 cohorts and the
# hypoxia panel; colorectal: GSE17538). The share is over the k = 3 factors; the
# BH-corrected version uses q < 0.05 with the correction over all validation tests.

# %%


def share_two_cancers(table: pd.DataFrame, col: str) -> tuple[float, int, dict]:
    """Share (and count) of factors with ``col`` < 0.05 in >= 2 cancer types."""
    sig = table[table[col] < P_CUT]
    types = {j: sorted(sig.loc[sig["factor"] == j, "cancer"].unique()) for j in factors}
    count = sum(len(t) >= 2 for t in types.values())
    return count / len(factors), count, types


val = hr[val_mask]
share, count, types = share_two_cancers(val, "p")
share_bh, count_bh, types_bh = share_two_cancers(val, "q_bh")
no_panel = val[val["cohort"] != "TCGA-BLCA hypoxia panel"].copy()
no_panel["q_bh"] = bh(no_panel["p"].to_numpy())
share_np, count_np, _ = share_two_cancers(no_panel, "p")
share_np_bh, count_np_bh, _ = share_two_cancers(no_panel, "q_bh")
with_train = hr.copy()
share_tr, count_tr, _ = share_two_cancers(with_train, "p")


def same_direction(table: pd.DataFrame, col: str, types_: dict) -> int:
    """Factors in >= 2 cancer types whose significant HRs all point the same way."""
    n = 0
    for j, t in types_.items():
        sig = table[(table["factor"] == j) & (table[col] < P_CUT)]
        n += len(t) >= 2 and len(set(np.sign(np.log(sig["hr"])))) == 1
    return int(n)


count_dir = same_direction(val, "p", types)
share_dir = count_dir / K
_, _, types_np = share_two_cancers(no_panel, "p")
panel_only = [j for j in factors if len(types[j]) >= 2 and len(types_np[j]) < 2]


def describe(types_: dict) -> str:
    return "; ".join(f"{labels[j]}: {', '.join(t) if t else 'none'}" for j, t in types_.items())


report.md(
    f"**Share of the {K} PDAC factors significant (p < 0.05) in at least two cancer types: "
    f"{count} of {K} = {share:.0%}.** With the BH correction over the {len(val)} validation "
    f"tests (q < 0.05): {count_bh} of {K} = {share_bh:.0%}.\n\n"
    f"Cancer types with p < 0.05 per factor: {describe(types)}. With BH q < 0.05: "
    f"{describe(types_bh)}."
)
report.md(
    f"Sensitivity: without the hypoxia panel (BH over {len(no_panel)} tests), "
    f"{count_np} of {K} ({share_np:.0%}) unadjusted and {count_np_bh} of {K} "
    f"({share_np_bh:.0%}) after BH. Counting the in-sample training cohort as PDAC evidence "
    f"(not done for the headline): {count_tr} of {K} ({share_tr:.0%}) unadjusted. "
    f"Significant in >= 2 cancer types with every significant HR in the same direction: "
    f"{count_dir} of {K} ({share_dir:.0%})."
)
if panel_only:
    report.md(
        "**The headline rests on the hypoxia panel:** "
        + ", ".join(labels[j] for j in panel_only)
        + (" reaches" if len(panel_only) == 1 else " reach")
        + " a second cancer type (bladder) only through the TCGA-BLCA hypoxia "
        "panel, the cohort that shares the fewest model genes; in the two IMvigor210 cohorts "
        + "; ".join(
            f"F{j} has " + ", ".join(
                f"HR {r.hr:.2f} (p = {r.p:.2g}, {r.cohort})"
                for r in val[(val["factor"] == j)
                             & val["cohort"].str.startswith("IMvigor210")].itertuples())
            for j in panel_only)
        + "."
    )

# %% [markdown]
# ## Stability: other seeds, more starts
#
# The share above comes from one fit. The same analysis is repeated with other seeds
# (same settings, same cohorts), and in full mode also with 20 starts instead of 5.

# %%


def analyse(seed: int, n_init: int) -> dict:
    """Refit on TCGA-PAAD, rescore every validation cohort, recount the shares."""
    model = train_unfitted.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        desurv.tl.fit(model, "time", "event", n_components=K, alpha=ALPHA, lambda_=LAMBDA,
                      l1_ratio=L1_RATIO, n_init=n_init, random_state=seed)
    separated = any(type(w.message).__name__ == "SeparationWarning" for w in caught)
    rows_ = []
    for c in cohorts[1:]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            new = desurv.tl.score(prepared[c["cohort"]], model, min_coverage=MIN_COVERAGE,
                                  copy=True)
        S = np.asarray(new.obsm["X_desurv"])
        for j in factors:
            rows_.append({"factor": j, "cohort": c["cohort"], "cancer": c["cancer"],
                          **cox_per_sd(new.obs, S[:, j - 1])})
    tab = pd.DataFrame(rows_)
    tab["q_bh"] = bh(tab["p"].to_numpy())
    sh, n_, _ = share_two_cancers(tab, "p")
    sh_bh, n_bh, _ = share_two_cancers(tab, "q_bh")
    _, n_np, _ = share_two_cancers(tab[tab["cohort"] != "TCGA-BLCA hypoxia panel"], "p")
    return {"seed": seed, "n_init": n_init,
            "train_cindex": float(model.uns["desurv"]["train_cindex"]),
            "separation_warning": separated, "n_p05": int((tab["p"] < P_CUT).sum()),
            "share": sh, "n_two_cancers": n_, "share_bh": sh_bh, "n_two_cancers_bh": n_bh,
            "n_two_cancers_without_panel": n_np}


stab = [{"seed": SEED, "n_init": N_INIT, "train_cindex": float(fit_rec["train_cindex"]),
         "separation_warning": any("Separation" in n for n in fit_notes),
         "n_p05": int((val["p"] < P_CUT).sum()), "share": share, "n_two_cancers": count,
         "share_bh": share_bh, "n_two_cancers_bh": count_bh,
         "n_two_cancers_without_panel": count_np}]
stab += [analyse(sd, N_INIT) for sd in STABILITY_SEEDS]
if not args.fast:
    stab.append(analyse(SEED, 20))
stab_df = pd.DataFrame(stab)
report.table(stab_df, "stability",
             f"The analysis refitted per seed: training C-index (in-sample), whether the fit "
             f"warned of separation, validation tests with p < 0.05 (of {len(val)}), and the "
             "count and share of factors significant in >= 2 cancer types (unadjusted, BH; "
             "and the unadjusted count without the hypoxia panel).")
healthy = stab_df[~stab_df["separation_warning"]]
report.md(
    f"Over {len(stab_df)} fits, the count of factors significant in >= 2 cancer types was "
    + ", ".join(f"{v} in {int((stab_df['n_two_cancers'] == v).sum())}"
                for v in sorted(stab_df["n_two_cancers"].unique()))
    + " (after BH: " + ", ".join(f"{v} in {int((stab_df['n_two_cancers_bh'] == v).sum())}"
                                  for v in sorted(stab_df["n_two_cancers_bh"].unique()))
    + f"); {int(stab_df['separation_warning'].sum())} of {len(stab_df)} warned that the "
    "training risk separates the samples (a memorised, not a prognostic, factor). Median "
    "share over the "
    f"{len(healthy)} fits without that warning: "
    + (f"{healthy['share'].median():.0%} (BH {healthy['share_bh'].median():.0%})."
       if len(healthy) else "none left.")
    + " Without the hypoxia panel the unadjusted count was "
    + ", ".join(f"{v} in {int((stab_df['n_two_cancers_without_panel'] == v).sum())}"
                for v in sorted(stab_df["n_two_cancers_without_panel"].unique()))
    + f" of the {len(stab_df)} fits."
)

# %% [markdown]
# ## What held and what did not

# %%
lines = []
for j in factors:
    sub = val[val["factor"] == j]
    sig = sub[sub["p"] < P_CUT]
    tr = hr[(hr["role"] == "training") & (hr["factor"] == j)].iloc[0]
    signs = set(np.sign(np.log(sig["hr"])).astype(int))
    direction = ("" if len(sig) < 2 else
                 " (same direction in all)" if len(signs) == 1 else " (directions differ)")
    sig_text = ", ".join(f"{r.cohort} HR {r.hr:.2f} (p = {r.p:.2g})" for r in sig.itertuples())
    if len(sig) and not (np.sign(np.log(sig["hr"])) == np.sign(np.log(tr["hr"]))).all():
        direction += " (against the training direction in at least one)"
    lines.append(
        f"- {labels[j]}: training HR {tr['hr']:.2f} (p = {tr['p']:.2g}); p < 0.05 in "
        f"{len(sig)} of {len(sub)} validation cohorts" + (f": {sig_text}" if len(sig) else "")
        + direction + "."
    )
report.md("\n".join(lines))
prince = val[val["cohort"] == "PRINCE"]
report.md(
    f"PDAC replication in PRINCE (n = {int(prince['n'].iloc[0])}, metastatic, "
    f"{int(prince['events'].iloc[0])} deaths): "
    + ", ".join(f"F{r.factor} HR {r.hr:.2f} [{r.lower:.2f}, {r.upper:.2f}]"
                for r in prince.itertuples())
    + f"; {int((prince['p'] < P_CUT).sum())} of {K} at p < 0.05. "
    f"Of all {len(val)} validation tests, {int((val['p'] < P_CUT).sum())} have p < 0.05 "
    f"(about {P_CUT * len(val):.2g} expected by chance alone) and "
    f"{int((val['q_bh'] < P_CUT).sum())} survive BH. With k = {K} the share moves in steps "
    f"of {1 / K:.0%}, and the colorectal and hypoxia-panel scores rest on "
    f"{int(coh.loc[coh['cohort'] == 'GSE17538 colon', 'genes_shared'].iloc[0])} and "
    f"{int(coh.loc[coh['cohort'] == 'TCGA-BLCA hypoxia panel', 'genes_shared'].iloc[0])} "
    "shared genes, so the number is a rough reading of the paper's \"X %\", from a fixed "
    "(not selected) model and gene subsets of the cohorts."
)

# %%
report.result(
    model={"k": K, "alpha": ALPHA, "lambda_": LAMBDA, "l1_ratio": L1_RATIO, "n_init": N_INIT,
           "n_genes": int(len(train_genes)), "train_cindex": float(fit_rec["train_cindex"]),
           "programs": [labels[j] for j in factors]},
    cohorts=[{k_: v for k_, v in c.items()} for c in cohorts],
    hr_table=hr[["factor", "cohort", "cancer", "role", "n", "events", "hr", "lower", "upper",
                 "p", "q_bh"]].to_dict(orient="records"),
    p_threshold=P_CUT,
    share_significant_two_cancers=share,
    n_significant_two_cancers=count,
    share_significant_two_cancers_bh=share_bh,
    n_significant_two_cancers_bh=count_bh,
    share_significant_two_cancers_same_direction=share_dir,
    share_significant_two_cancers_without_panel=share_np,
    share_significant_two_cancers_without_panel_bh=share_np_bh,
    n_factors=K,
    n_validation_tests=int(len(val)),
    factors_counted_only_through_panel=[int(j) for j in panel_only],
    stability=stab_df.to_dict(orient="records"),
    headline_figure=headline,
)
report.save()
