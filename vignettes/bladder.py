# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Bladder cancer: IMvigor210 (training) and two validation cohorts
#
# DeSurv on the IMvigor210 trial (atezolizumab, metastatic urothelial cancer): trained on the
# samples taken from the bladder (`imvigor210_bladder_site`, 1768 genes x 195 samples, a
# gene subset of the trial's transcriptome), validated on the trial's samples from other
# sites (`imvigor210_other_sites`, full transcriptome, 86 samples) and on TCGA-BLCA
# (`tcga_blca_hypoxia`: only a 190-gene hypoxia panel of 407 primary tumours). The steps
# are those of the PDAC analysis: model selection by cross-validation (`desurv.tl.select`),
# the final fit (`desurv.tl.fit`), top genes, training Cox per factor, heatmap,
# Kaplan-Meier, the alpha = 0 (plain NMF) model beside it, and `desurv.tl.validate` with
# the projection design (and the clustering design where the gene overlap allows).
#
# Run: `python vignettes/bladder.py [--fast] [--out DIR]` (see `vignettes/_report.py`).
# Fast mode (`--fast`, CI): the small grid below, about 20-40 s on 2 cores. Full mode:
# k 2-5, alpha 0/0.3/0.6/0.9, lambda_ 0.03/0.3, 5 folds, 10 starts, max_iter 1000,
# 20 final starts; measured once at 6 min 12 s wall time on 2 cores shared with other jobs.

# %%
from __future__ import annotations

import math
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _pipeline import fit_models, report_choice, report_fits, train_cox  # noqa: E402
from _report import Report, options  # noqa: E402

import desurv  # noqa: E402
import r_bridge  # noqa: E402

NAME = "bladder"
args = options(NAME)
FAST = bool(args.fast)
rep = Report(NAME, "Bladder cancer: IMvigor210, validated on other sites and TCGA-BLCA", args)
SEED = 0
N_JOBS = 2

# Fast mode: the small grid CI runs (under a minute on 2 cores). Full mode: a wider grid,
# 5 folds, more starts and iterations (not run for the numbers below unless the report
# says "full mode" at its top).
if FAST:
    GRID = {"n_components": [2, 3], "alpha": [0.0, 0.5], "lambda_": [0.03, 0.3],
            "l1_ratio": [0.5]}  # fmt: skip
    N_FOLDS, N_STARTS, MAX_ITER, N_INIT = 3, 2, 300, 2
    CUT_FOLDS, CUT_STARTS, REPS = 3, 1, 20
else:
    GRID = {"n_components": [2, 3, 4, 5], "alpha": [0.0, 0.3, 0.6, 0.9],
            "lambda_": [0.03, 0.3], "l1_ratio": [0.5]}  # fmt: skip
    N_FOLDS, N_STARTS, MAX_ITER, N_INIT = 5, 10, 1000, 20
    CUT_FOLDS, CUT_STARTS, REPS = 5, 5, 100
TOL = 1e-5
N_FILTER = 1000  # genes kept by the paper's mean-rank + variance-rank filter
N_TOP = 50  # top genes per factor
IMPL = "r" if r_bridge.available() else "python"
timings: dict[str, float] = {}
rep.md(
    f"Statistics (`tl.survival`, `tl.validate`) from **{IMPL}** "
    f"(`r_bridge.available()` is {IMPL == 'r'}); the model fits are desurv's either way. "
    f"Grid: {GRID}; {N_FOLDS} folds, {N_STARTS} starts per fold, max_iter {MAX_ITER}, "
    f"tol {TOL}; final fits with {N_INIT} starts; seed {SEED}."
)

# %% [markdown]
# ## Data and preprocessing
#
# IMvigor210 is stored as log2(TPM + 0.001) (`uns['value_scale']`): `pp.unlog` reads that
# record and gives TPM back; then `pp.log1p`. The gene filter (`pp.filter_genes`) and the
# within-sample ranks (`pp.rank_transform`) are fitted inside each cross-validation fold by
# `tl.select` (`filter_genes=`, `transform="rank"`) and on all training samples for the
# final model.

# %%
t0 = time.perf_counter()
train = desurv.datasets.load("imvigor210_bladder_site")
other = desurv.datasets.load("imvigor210_other_sites")
tcga = desurv.datasets.load("tcga_blca_hypoxia")
n_raw_genes = int(train.n_vars)
desurv.pp.unlog(train)  # recorded: log2(TPM + 0.001)
desurv.pp.log1p(train)
logged = train.copy()  # log1p(TPM), all 1768 genes: what tl.select sees

desurv.pp.unlog(other)  # recorded: log2(TPM + 0.001); tl.validate replays log1p and ranks
# TCGA-BLCA records "log2 normalized RNA-seq (values ~0..17, consistent with log2(RSEM+1));
# non-negative": no offset is stated, so pp.unlog refuses to guess (its docstring: a record
# that does not state base and offset is an error; pass scale=). We pass log2(x + 1): the
# values' minimum is exactly 0 on many entries, which log2(RSEM + 1) gives for RSEM = 0 (the
# TCGA/Firehose convention), whereas with offset 0 every such entry would mean exactly 1.
tcga_raw_min = float(np.min(tcga.X))
n_exact_zero = int(np.sum(np.asarray(tcga.X) == 0))
ok = tcga.obs["time"].notna().to_numpy() & tcga.obs["event"].notna().to_numpy()
n_dropped_tcga = int((~ok).sum())
tcga = tcga[ok].copy()
tcga_log2 = tcga.copy()  # kept to show that the scale choice does not change the ranks
desurv.pp.unlog(tcga, scale="log2(x+1)")
timings["load and preprocess"] = time.perf_counter() - t0

shared_other_raw = int(train.var_names.isin(other.var_names).sum())
shared_tcga_raw = int(train.var_names.isin(tcga.var_names).sum())
cohort_table = pd.DataFrame([
    {"cohort": "IMvigor210 bladder site (training)", "samples": train.n_obs,
     "events": int(train.obs["event"].sum()), "genes": train.n_vars,
     "genes shared with training": train.n_vars, "stored scale": "log2(TPM + 0.001)",
     "brought to linear by": "pp.unlog (recorded scale)"},
    {"cohort": "IMvigor210 other sites", "samples": other.n_obs,
     "events": int(other.obs["event"].sum()), "genes": other.n_vars,
     "genes shared with training": shared_other_raw, "stored scale": "log2(TPM + 0.001)",
     "brought to linear by": "pp.unlog (recorded scale)"},
    {"cohort": "TCGA-BLCA (hypoxia panel)", "samples": tcga.n_obs,
     "events": int(tcga.obs["event"].sum()), "genes": tcga.n_vars,
     "genes shared with training": shared_tcga_raw, "stored scale": "log2 RNA-seq, offset "
     "not recorded", "brought to linear by": 'pp.unlog(scale="log2(x+1)")'},
])  # fmt: skip
rep.table(cohort_table, "cohorts", "Cohorts (times in months, as the registry stores them).")
rep.md(
    f"TCGA-BLCA: {n_dropped_tcga} of {n_dropped_tcga + tcga.n_obs} tumours have no survival "
    f"and are left out. Its minimum stored value is {tcga_raw_min:g}, taken by "
    f"{n_exact_zero} entries; we read the values as log2(x + 1) (see the code comment)."
)

# %% [markdown]
# ## Model selection (`tl.select`)

# %%
t0 = time.perf_counter()
sel = desurv.tl.select(
    logged, "time", "event", **GRID, n_folds=N_FOLDS, n_starts=N_STARTS, max_iter=MAX_ITER,
    tol=TOL, filter_genes=N_FILTER, transform="rank", random_state=SEED, n_jobs=N_JOBS,
    progress=False,
)  # fmt: skip
timings["tl.select"] = time.perf_counter() - t0
summary = sel.summary.drop(columns=["phase", "lambda_w", "lambda_h", "n_top"], errors="ignore")
rep.table(summary, "select_summary", f"Cross-validated C-index ({N_FOLDS} folds, held-out "
          "Harrell's C of the risk, mean over folds) per setting.")  # fmt: skip

K, params, row, cv_nmf, chosen_from = report_choice(
    rep, sel, summary, GRID, "IMvigor210 bladder site: CV C-index by k"
)

# %% [markdown]
# ## Final fit, top genes and the alpha = 0 model
#
# The gene filter and the ranks on all 195 training samples, then `tl.fit` at the chosen
# setting; the alpha = 0 model is fitted on the same matrix, k and seed.

# %%
t0 = time.perf_counter()
desurv.pp.filter_genes(train, N_FILTER)
desurv.pp.rank_transform(train)
fit_kw = {"n_init": N_INIT, "max_iter": MAX_ITER, "tol": TOL, "random_state": SEED}
nmf, fit_warnings = fit_models(train, K, params, fit_kw, N_TOP)
timings["final fits"] = time.perf_counter() - t0
model_genes, rec, rec0, w_match = report_fits(rep, train, nmf, K, N_TOP, fit_warnings)

# %% [markdown]
# ## Training Cox model per factor (`tl.survival`)
#
# Each factor score standardised over the training samples, one Cox model per factor; these
# are in-sample numbers (the DeSurv scores were fitted to this survival).

# %%
train_factor_p, train_factor_p_nmf, lead = train_cox(rep, train, nmf, rec, IMPL)

# %% [markdown]
# ## Heatmap and Kaplan-Meier

# %%
fig = desurv.pl.heatmap(train, factor=lead, n_top=25, figsize=(8, 7))
fig.suptitle(f"IMvigor210 bladder site, DeSurv k={K}: factor {lead} (largest |Cox coefficient|)",
             fontsize=9)  # fmt: skip
rep.figure(fig, "heatmap", f"Top 25 genes of DeSurv factor {lead} (ranks, z-scored per gene), "
           "samples ordered by the factor score, with score, time and event bars.")  # fmt: skip

fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
km_p = {}
for ax, ad, label in ((axes[0], train, "DeSurv"), (axes[1], nmf, "alpha = 0")):
    desurv.pl.kaplan_meier(ad, "desurv_risk", cut="median", ax=ax)
    km_p[label] = float(ax.desurv_logrank_p)
    ax.set_title(f"{label}: training risk, median split (log-rank p = {km_p[label]:.2g})",
                 fontsize=9)  # fmt: skip
fig.tight_layout()
rep.figure(fig, "km_train", "Training cohort, risk score split at its median: DeSurv (left) "
           "and the alpha = 0 model (right); in-sample.")  # fmt: skip

# %% [markdown]
# ## Validation: gene overlap and `min_coverage`
#
# `tl.validate` fills model genes missing from a cohort with 0 (after the model's
# preprocessing) and refuses a cohort below `min_coverage` (default 0.5) of the model's
# genes or top genes. TCGA-BLCA has only its hypoxia panel.

# %%
def top_set(ad) -> set[str]:
    return set(pd.DataFrame(ad.uns["desurv_top_genes"]["table"])["gene"].astype(str))


top_d, top_n = top_set(train), top_set(nmf)
cohorts = {"IMvigor210 other sites": other, "TCGA-BLCA": tcga}
overlap = []
for name, ad in cohorts.items():
    g = set(ad.var_names.astype(str))
    overlap.append({"cohort": name, "model genes": len(model_genes),
                    "model genes shared": int(model_genes.isin(list(g)).sum()),
                    "DeSurv top genes": len(top_d), "DeSurv top shared": len(top_d & g),
                    "alpha=0 top genes": len(top_n), "alpha=0 top shared": len(top_n & g)})
overlap = pd.DataFrame(overlap)
overlap["coverage (model genes)"] = overlap["model genes shared"] / overlap["model genes"]
overlap["coverage (top genes)"] = np.minimum(overlap["DeSurv top shared"] / overlap[
    "DeSurv top genes"], overlap["alpha=0 top shared"] / overlap["alpha=0 top genes"])
rep.table(overlap, "gene_overlap", "Genes of the model (after the training filter) present in "
          "each validation cohort.")  # fmt: skip
lowest = float(overlap[["coverage (model genes)", "coverage (top genes)"]].min().min())
MIN_COV = 0.5 if lowest >= 0.5 else math.floor(lowest * 100) / 100
tc = overlap.set_index("cohort").loc["TCGA-BLCA"]
rep.md(
    f"TCGA-BLCA shares {int(tc['model genes shared'])} of the model's {len(model_genes)} genes "
    f"({tc['coverage (model genes)']:.1%}), {int(tc['DeSurv top shared'])} of DeSurv's "
    f"{len(top_d)} top genes and {int(tc['alpha=0 top shared'])} of the alpha = 0 model's "
    f"{len(top_n)}. To validate on it at all, `min_coverage` is lowered from 0.5 to "
    f"**{MIN_COV}**. What that means: its scores use only the shared genes (the others are 0), "
    "so on TCGA-BLCA the model is a hypoxia-panel fragment of itself; its C-index tests that "
    "fragment, not the model. The other-site IMvigor210 samples have every model gene."
)

# the scale chosen for TCGA-BLCA does not change what is projected: the model ranks genes
# within each sample, and log2(x+1), log2(x) (then log1p) are both increasing
shared = [g for g in model_genes if g in tcga.var_names]
alt = tcga_log2[:, shared].copy()
desurv.pp.unlog(alt, scale="log2")
desurv.pp.log1p(alt)
desurv.pp.rank_transform(alt)
chk = tcga[:, shared].copy()
desurv.pp.log1p(chk)
desurv.pp.rank_transform(chk)
same_ranks = bool(np.array_equal(np.asarray(alt.X), np.asarray(chk.X)))
rep.md(
    f"The TCGA-BLCA scale choice: ranking the {len(shared)} shared genes within each sample "
    f"after log2(x+1) or after log2(x) (offset 0) gives identical ranks: {same_ranks}. The "
    "projection replays log1p and the within-sample ranks, so the choice does not change the "
    "validation; it would matter for a gene filter or a linear-scale model."
)

# %% [markdown]
# ## Projection design (`tl.validate`)
#
# The cutpoint is chosen by cross-validated log-rank on the training cohort. With a small
# share of the model's genes, TCGA-BLCA's scores are shifted as a whole, so the chosen z is
# applied to each cohort's own standardised score (`cutpoint_reference="cohort"`) rather
# than to the training threshold.

# %%
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", desurv.exceptions.ConvergenceWarning)
    res = desurv.tl.validate(
        train, cohorts, design="projection", nmf_model=nmf, implementation=IMPL,
        min_coverage=MIN_COV, cutpoint_folds=CUT_FOLDS, cutpoint_n_starts=CUT_STARTS,
        cutpoint_reference="cohort", random_state=SEED,
    )  # fmt: skip
timings["tl.validate (projection)"] = time.perf_counter() - t0
pc = res.per_cohort
rep.table(pc.drop(columns=["coverage"]), "validation_per_cohort",
          "Per cohort and model: C-index of the top-gene score (SE), HR per SD of the full "
          "score, Cox refitted on the factor scores in the cohort.")  # fmt: skip
rep.table(res.comparison, "validation_comparison", "DeSurv vs alpha = 0, pooled over the two "
          "cohorts (stratified by cohort).", index=True)  # fmt: skip
for n in res.notes:
    rep.md(f"- note from tl.validate: {n}")

fig = desurv.pl.validation_km(res, method="both")
rep.figure(fig, "validation_km", "Validation risk groups (cutpoint from the training CV): "
           "DeSurv (top row) and alpha = 0 (bottom row), per cohort and pooled.")  # fmt: skip
fig = desurv.pl.validation_forest(res, method="desurv")
rep.figure(fig, "validation_forest", "DeSurv: HR per SD of each factor score per cohort, and "
           "pooled by inverse variance.")  # fmt: skip
fig = desurv.pl.validation_forest(res, method="nmf")
rep.figure(fig, "validation_forest_nmf", "alpha = 0: HR per SD of each factor score per "
           "cohort, and pooled.")  # fmt: skip
fig = desurv.pl.validation_comparison(res)
rep.figure(fig, "validation_comparison", "DeSurv vs alpha = 0: the pooled statistics.")


def cidx(cohort: str, method: str, col: str = "cindex") -> float:
    r = pc[(pc["cohort"] == cohort) & (pc["method"] == method)]
    return float(r[col].iloc[0])


validation = {}
for name in cohorts:
    o = overlap.set_index("cohort").loc[name]
    validation[name] = {
        "n": int(pc[(pc["cohort"] == name) & (pc["method"] == "desurv")]["n"].iloc[0]),
        "events": int(pc[(pc["cohort"] == name) & (pc["method"] == "desurv")]["events"].iloc[0]),
        "genes_shared": int(o["model genes shared"]), "genes_model": len(model_genes),
        "top_genes_shared": int(o["DeSurv top shared"]), "top_genes": len(top_d),
        "cindex_desurv": cidx(name, "desurv"), "cindex_desurv_se": cidx(name, "desurv",
                                                                         "cindex_se"),
        "cindex_nmf": cidx(name, "nmf"), "cindex_nmf_se": cidx(name, "nmf", "cindex_se"),
        "hr_per_sd_desurv": cidx(name, "desurv", "hr_per_sd"),
        "hr_p_desurv": cidx(name, "desurv", "p"),
        "hr_per_sd_nmf": cidx(name, "nmf", "hr_per_sd"), "hr_p_nmf": cidx(name, "nmf", "p"),
    }  # fmt: skip

# %% [markdown]
# ## Clustering design, where the overlap allows
#
# The clustering design needs the top genes in every cohort it merges. A cohort joins only
# when it has at least half of each model's top genes.

# %%
clu_cohorts = {n: cohorts[n] for n in cohorts
               if overlap.set_index("cohort").loc[n, "coverage (top genes)"] >= 0.5}
left_out = [n for n in cohorts if n not in clu_cohorts]
clu = None
if clu_cohorts:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", desurv.exceptions.DataWarning)  # a single cohort
        clu = desurv.tl.validate(
            train, clu_cohorts, design="clustering", nmf_model=nmf, implementation=IMPL,
            n_clusters=(2, 3), reps=REPS, random_state=SEED, key_added="validate_clustering",
        )  # fmt: skip
    timings["tl.validate (clustering)"] = time.perf_counter() - t0
    cov_top = overlap.set_index("cohort")["coverage (top genes)"]
    left = ", ".join(f"{n} ({cov_top[n]:.1%} of the top genes)" for n in left_out) or "none"
    rep.md(f"Clustering on {list(clu_cohorts)}; left out: {left}. Consensus k-means, {REPS} "
           "resamples of 80 % of the samples and genes.")
    rep.table(clu.comparison, "clustering_comparison", "Clustering design: DeSurv vs alpha = 0 "
              "top genes (Cox of the clusters: C-index, LRT p, BIC; log-rank p).",
              index=True)  # fmt: skip
    fig = desurv.pl.validation_km(clu, method="both")
    rep.figure(fig, "clustering_km", "Consensus clusters (k = 2) of the validation samples on "
               "the top genes: DeSurv (top) and alpha = 0 (bottom).")  # fmt: skip
else:
    rep.md("No validation cohort has half of the top genes: the clustering design is not run.")

# %% [markdown]
# ## What held and what did not

# %%
oth = validation["IMvigor210 other sites"]
tcg = validation["TCGA-BLCA"]
pooled_c = res.comparison.loc["pooled C-index"]
pooled_hr = float(res.comparison.loc["pooled HR per SD", "desurv"])
cut_z = res.comparison.loc["cutpoint z"]
smp = res.samples[res.samples["method"] == "desurv"]
sd_ratio = {c: float(smp["score"].std() / smp[smp["cohort"] == c]["score"].std())
            for c in cohorts}  # fmt: skip
grp = res.groups[res.groups["cohort"] != "pooled"]
smallest_group = int(grp["n"].min())
lines = [
    f"- Cross-validation on the 195 training samples: the chosen DeSurv setting reached a CV "
    f"C-index of {row['mean_cindex']:.3f} (SE {row['se_cindex']:.3f}); the best alpha = 0 "
    f"setting at k = {K} {cv_nmf:.3f}. "
    + ("Both are below 0.5: held out, neither model's risk ranks these patients better than "
       "chance." if max(row["mean_cindex"], cv_nmf) < 0.5 else
       "DeSurv's CV C-index is above alpha = 0's by more than one SE."
       if row["mean_cindex"] - row["se_cindex"] > cv_nmf else
       "The difference is within one SE."),
    f"- Training (in-sample): DeSurv C {rec['train_cindex']:.3f} vs alpha = 0 "
    f"{rec0['train_cindex']:.3f}; per-factor Cox p (DeSurv) "
    f"{[float(f'{p:.2g}') for p in train_factor_p]}, (alpha = 0) "
    f"{[float(f'{p:.2g}') for p in train_factor_p_nmf]}; median-split log-rank p "
    f"{km_p['DeSurv']:.2g} vs {km_p['alpha = 0']:.2g}.",
    f"- IMvigor210 other sites (n = {oth['n']}, all {oth['genes_shared']} model genes): "
    f"C-index DeSurv {oth['cindex_desurv']:.3f} (SE {oth['cindex_desurv_se']:.3f}) vs "
    f"alpha = 0 {oth['cindex_nmf']:.3f} (SE {oth['cindex_nmf_se']:.3f}).",
    f"- TCGA-BLCA (n = {tcg['n']}, {tcg['genes_shared']} of {tcg['genes_model']} model genes, "
    f"{tcg['top_genes_shared']} of {tcg['top_genes']} top genes, min_coverage {MIN_COV}): "
    f"C-index DeSurv {tcg['cindex_desurv']:.3f} (SE {tcg['cindex_desurv_se']:.3f}) vs "
    f"alpha = 0 {tcg['cindex_nmf']:.3f} (SE {tcg['cindex_nmf_se']:.3f})"
    + ("; below 0.5 by more than 2 SE: there the panel fragment of the score ranks risk the "
       "wrong way round (HR per SD of the full score "
       f"{tcg['hr_per_sd_desurv']:.2f}, p = {tcg['hr_p_desurv']:.2g})."
       if tcg["cindex_desurv"] + 2 * tcg["cindex_desurv_se"] < 0.5 else "."),
    f"- Pooled C-index (stratified by cohort): DeSurv {pooled_c['desurv']:.3f}, alpha = 0 "
    f"{pooled_c['nmf']:.3f}. The pooled HR per SD (DeSurv {pooled_hr:.2f}) is per SD of the "
    f"score over both cohorts together; TCGA-BLCA's score ({tcg['genes_shared']} genes) lives "
    f"on another scale than the other sites' ({oth['genes_shared']} genes): the pooled SD of "
    f"DeSurv's full score is {sd_ratio['TCGA-BLCA']:.1f} times TCGA-BLCA's own SD and "
    f"{sd_ratio['IMvigor210 other sites']:.1f} times the other sites', so the pooled HR is "
    "per a different unit than the per-cohort ones and not comparable with them.",
    f"- Cutpoint: the training CV chose z = {cut_z['desurv'] + 0.0:.1f} for DeSurv and "
    f"{cut_z['nmf'] + 0.0:.1f} for alpha = 0 (grid -2 to 2)"
    + ("; a z at the end of the grid leaves a small group: in the risk groups the smallest "
       f"has n = {smallest_group} (see the Kaplan-Meier panels)."
       if max(abs(cut_z["desurv"]), abs(cut_z["nmf"])) >= 2.0 else "."),
    "- The DeSurv paper's own numbers for bladder cancer are not available to us; nothing here "
    "is compared with them.",
]
lines.append(
    "- Which score: the CV C-index of `tl.select` is that of the full risk X W beta; the "
    "validation C-index (`tl.validate`'s default, the paper's) is that of the top-gene score "
    f"(the {N_TOP} top genes per factor); the HR per SD is on the full score."
)
if any(w.startswith("SeparationWarning") for w in fit_warnings["DeSurv"]):
    lines.append(
        f"- The final DeSurv fit (alpha = {params['alpha']}, lambda_ = {params['lambda_']}) "
        f"separates the training samples (training C {rec['train_cindex']:.3f}, "
        "SeparationWarning): its in-sample numbers (training Cox, training Kaplan-Meier) are "
        "memorisation; the cross-validated and validation C-indices are the ones to read."
    )
not_conv = [lb for lb, r in (("DeSurv", rec), ("alpha = 0", rec0)) if not bool(r["converged"])]
if not_conv:
    lines.append(f"- Not converged within max_iter = {MAX_ITER}: {not_conv} (fast mode's cap).")
rep.md("\n".join(lines))
rep.md("Time per step (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + ".")

rep.result(
    n_train=int(train.n_obs), n_events_train=int(train.obs["event"].sum()),
    n_genes_raw=n_raw_genes, n_genes_model=int(len(model_genes)), k=K, params=params,
    chosen_from=chosen_from, cv_cindex=float(row["mean_cindex"]),
    cv_cindex_se=float(row["se_cindex"]), cv_cindex_nmf=cv_nmf,
    train_cindex=float(rec["train_cindex"]), train_cindex_nmf=float(rec0["train_cindex"]),
    train_factor_p=train_factor_p, train_factor_p_nmf=train_factor_p_nmf,
    validation=validation, pooled_cindex_desurv=float(pooled_c["desurv"]),
    pooled_cindex_nmf=float(pooled_c["nmf"]), min_coverage=MIN_COV,
    tcga_scale="log2(x+1)", tcga_scale_changes_ranks=not same_ranks,
    clustering_cohorts=list(clu_cohorts), implementation=IMPL,
    headline_figure="figures/validation_km.png", timings=timings,
    fit_warnings=fit_warnings, w_cosine_desurv_vs_nmf=w_match,
)  # fmt: skip
rep.save()
