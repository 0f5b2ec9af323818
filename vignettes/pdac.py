# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # PDAC: survival-driven gene programs in TCGA-PAAD, validated on PRINCE
#
# The DeSurv paper's pancreatic cancer analysis with desurv's public API: the paper's
# preprocessing of TCGA-PAAD, a cross-validated choice of k and alpha, the final fit from the
# consensus seed, top genes annotated against the published PDAC programs, survival in
# training, the alpha = 0 (plain NMF) model beside it, external validation on the PRINCE
# trial with both of the paper's designs, the R package's algorithm at the published
# hyperparameters, and the same model reached from a scanpy pipeline.
#
# Run: `python vignettes/pdac.py [--fast] [--out DIR]` (fast mode is what CI runs).

# %%
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sparse
from _report import Report, options

import desurv
import r_bridge

args = options("pdac")
FAST = bool(args.fast)
report = Report("pdac", "PDAC: DeSurv on TCGA-PAAD, validated on PRINCE", args)
SEED = 1
N_JOBS = 2
DATA = Path(os.environ.get("DESURV_DATA_MIRROR") or Path(__file__).resolve().parents[2]
            / "shared" / "data")
PROGRAMS = DATA / "gene_programs" / "reference_programs.csv"
N_TOP = 100  # top genes per factor for the annotation, the NMF comparison and validation
Q_LEVEL = 0.05  # significance level of the annotation (BH q) and of the training Cox p
JACCARD_DISTINCT = 0.5  # a DeSurv signature is "distinct" when its best NMF match is below

# Fast mode: a small grid and few fits (the whole vignette in well under 2 minutes on 2
# cores); full mode: a Bayesian search as in the paper (fewer settings) and 50 consensus fits.
if FAST:
    SELECT = dict(method="grid", n_components=[2, 3, 4], alpha=[0.0, 0.5], lambda_=0.1,
                  l1_ratio=0.5, n_folds=3, n_starts=2, max_iter=300)
    FINAL = dict(n_fits=10, max_iter=1000)
    VALIDATE = dict(cutpoint_folds=3, cutpoint_n_starts=1, reps=50)
    SC_FIT = dict(max_iter=300, n_init=2)
else:
    SELECT = dict(method="bayes", n_components=(2, 6), alpha=(0.0, 0.9), lambda_=(1e-2, 10.0),
                  l1_ratio=(0.0, 1.0), n_top=(50, 300), n_trials=40, n_initial=20, n_folds=5,
                  n_starts=5, max_iter=1000)
    FINAL = dict(n_fits=50, max_iter=1000)
    VALIDATE = dict(cutpoint_folds=5, cutpoint_n_starts=5, reps=100)
    SC_FIT = dict(max_iter=1000, n_init=5)
TOL = 1e-5
# the R package's own defaults (desurv_fit: ninit 20, imaxit 30, maxit 1000, tol 1e-6)
R_FIT = dict(n_init=20, init_max_iter=30, max_iter=1000, tol=1e-6)
timings: dict[str, float] = {}

# %% [markdown]
# ## What the paper reports (targets, not our numbers)
#
# Constants named `PAPER_*` are the published figures; nothing below prints them as ours.

# %%
PAPER_K = 3  # the published PDAC model's number of factors
PAPER_ALPHA = 0.334  # the R package's alpha (a gradient balance, not our loss weight)
PAPER_LAMBDA = 0.349
PAPER_XI = 0.056  # elastic-net mix (the R package's nu, our l1_ratio)
PAPER_N_TOP = 270  # top genes per factor of the published model
PAPER_N_TCGA = 150  # whitelisted TCGA-PAAD tumours in the paper
PAPER_TRAIN = "TCGA-PAAD (150 whitelisted tumours) and CPTAC-PDAC"

report.md(
    f"Targets from the paper (not computed here): k = {PAPER_K}; the final model at the R "
    f"package's alpha = {PAPER_ALPHA}, lambda = {PAPER_LAMBDA}, xi = {PAPER_XI} with "
    f"{PAPER_N_TOP} top genes per factor, trained on {PAPER_TRAIN}."
)

# %% [markdown]
# ## 1. Training data: TCGA-PAAD with the paper's preprocessing

# %%
raw = desurv.datasets.load("tcga_paad_3k")
counts = raw.copy()  # the unlogged values, for the scanpy route (section 8)
tcga = raw.copy()
desurv.pp.log1p(tcga)
logged = tcga.copy()  # log1p only: tl.select fits the gene filter inside each fold
desurv.pp.filter_genes(tcga, n_top=2000)
desurv.pp.rank_transform(tcga)
n_events = int(tcga.obs["event"].sum())
report.md(
    f"`tcga_paad_3k` holds {raw.n_obs} of the paper's {PAPER_N_TCGA} whitelisted TCGA-PAAD "
    f"tumours ({n_events} deaths, follow-up in {raw.uns['units']['time']}) on {raw.n_vars} "
    "genes (the most variable ones plus 18 drivers, not the full transcriptome), and it "
    "lacks CPTAC-PDAC, the paper's second training cohort: the numbers below are this "
    "subset's, not the paper's. Preprocessing as in the paper: `pp.log1p`, "
    f"`pp.filter_genes(n_top=2000)` (mean rank + variance rank; {tcga.n_vars} genes kept), "
    "`pp.rank_transform` (ranks within each sample)."
)

# %% [markdown]
# ## 2. Model selection: k and the penalties by cross-validation

# %%
tic = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", desurv.ConvergenceWarning)
    sel = desurv.tl.select(logged, "time", "event", filter_genes=2000, transform="rank",
                           tol=TOL, random_state=SEED, n_jobs=N_JOBS, **SELECT)
timings["select"] = time.perf_counter() - tic
summary = sel.summary
K = int(sel.k_1se_)
P1 = dict(sel.params_1se_)
ALPHA, LAMBDA, XI = float(P1["alpha"]), float(P1["lambda_"]), float(P1["l1_ratio"])
if P1.get("n_top") is not None and np.isfinite(float(P1["n_top"])):
    N_TOP = int(P1["n_top"])  # the searched number of top genes (full mode)
cols = [c for c in ("setting", "n_components", "alpha", "lambda_", "l1_ratio", "n_top",
                    "mean_cindex", "se_cindex") if c in summary.columns]
shown = summary[cols].sort_values("mean_cindex", ascending=False).head(12)
if SELECT["method"] == "grid":
    grid_text = (f"grid k in {SELECT['n_components']}, alpha in {SELECT['alpha']} "
                 f"(lambda_ {SELECT['lambda_']}, l1_ratio {SELECT['l1_ratio']})")
else:
    grid_text = (f"Bayesian search ({SELECT['n_trials']} settings, {SELECT['n_initial']} "
                 f"Latin-hypercube points then expected improvement; the paper ran 50 + 100) "
                 f"over k in "
                 f"{SELECT['n_components']}, alpha in {SELECT['alpha']}, lambda_ in "
                 f"{SELECT['lambda_']} (log), l1_ratio in {SELECT['l1_ratio']}, n_top in "
                 f"{SELECT['n_top']}")
report.md(
    f"`tl.select`: {grid_text}; {SELECT['n_folds']}-fold CV stratified by event, the gene "
    f"filter and rank transform fitted inside each training fold, {SELECT['n_starts']} "
    f"starts per fold, at most {SELECT['max_iter']} iterations (tol {TOL}); held-out "
    f"Harrell's C. Run time {timings['select']:.0f} s. The best setting has k = "
    f"{int(sel.best_params_['n_components'])} (mean C "
    f"{summary['mean_cindex'].max():.3f}); the one-standard-error rule (smallest k whose best "
    f"mean C is at least {sel.one_se_threshold_:.3f}) chooses **k = {K}**, at alpha = "
    f"{ALPHA:g}, lambda_ = {LAMBDA:.3g}, l1_ratio = {XI:.3g}; {N_TOP} top genes per factor "
    f"below. (The paper's k is {PAPER_K}, a target: "
    f"{'the same' if K == PAPER_K else 'not the same'} here.)"
)
report.table(shown, "select_summary", "Cross-validated C-index per setting (best first).")
report.figure(desurv.pl.select_k(sel, show=False), "select_k",
              "Held-out C-index against k (best setting per k, SE bars), one-SE threshold "
              "dashed, chosen k ringed.")
if SELECT["method"] == "bayes":
    report.figure(desurv.pl.search_history(sel, show=False), "search_history",
                  "Bayesian search: held-out C-index of each setting in evaluation order, with "
                  "the running best.")

# %% [markdown]
# ## 3. The final fit from the consensus seed
#
# `desurv.tl.fit(..., init="consensus")` runs the final paper's final fit
# (`desurv.selection.consensus_fit`): many fits from random starts, keeps the genes that are
# among a factor's top genes in at least 30 % of them, builds W0 from their groups, H0 by
# NNLS and continues one fit from there. It writes the keys every `tl.fit` writes
# (`varm['desurv_W']`, `obsm['X_desurv']`, `obs['desurv_risk']`, `uns['desurv']`, ...), which
# `tl.top_genes`, `tl.annotate_programs`, `pl.*` and `tl.validate` read, and the seed's record
# under `uns['desurv']['consensus']`.


# %%
def final_fit(adata, alpha):
    """The consensus fit at the chosen k, lambda_, l1_ratio and this alpha; its record."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", desurv.ConvergenceWarning)
        desurv.tl.fit(
            adata, "time", "event", n_components=K, init="consensus", consensus_n_top=N_TOP,
            consensus_n_fits=FINAL["n_fits"], random_state=SEED, alpha=alpha, lambda_=LAMBDA,
            l1_ratio=XI, max_iter=FINAL["max_iter"], tol=TOL, n_jobs=N_JOBS,
        )
    return adata.uns["desurv"]


tic = time.perf_counter()
model = final_fit(tcga, ALPHA)
cseed = model["consensus"]
timings["final_fit"] = time.perf_counter() - tic
beta_std = np.asarray(model["beta_std"])
report.md(
    f"Consensus fit at k = {K}, alpha = {ALPHA:g}, lambda_ = {LAMBDA:.3g}, l1_ratio = "
    f"{XI:.3g}: {FINAL['n_fits']} fits (at most {FINAL['max_iter']} iterations each), "
    f"{cseed['n_kept']} genes kept in the seed (in at least {cseed['min_fits']} of the "
    f"{cseed['n_sets']} top-{N_TOP} gene sets); the final fit ran {model['n_iter']} iterations "
    f"(converged: {model['converged']}), training C-index {model['train_cindex']:.3f}, "
    f"standardised Cox coefficients (log HR per SD) "
    f"{', '.join(f'{b:.3f}' for b in beta_std)}. Run time {timings['final_fit']:.0f} s."
)

# %% [markdown]
# ## 4. Top genes, published programs, survival in training


# %%
def best_programs(table):
    """The best published program of each factor (rank 1 of tl.annotate_programs)."""
    best = table[table["rank"] == 1].set_index("factor")
    return best[["schema", "program", "overlap", "n_top", "n_program", "jaccard", "pval",
                 "qval"]]


def factor_cox(adata, key="desurv"):
    """Univariable Cox of each factor score (per SD) on the training samples."""
    Z = np.asarray(adata.obsm[f"X_{key}"], dtype=float)
    rows = []
    for j in range(Z.shape[1]):
        z = (Z[:, j] - Z[:, j].mean()) / Z[:, j].std(ddof=1)
        frame = pd.DataFrame({"time": adata.obs["time"].to_numpy(),
                              "event": adata.obs["event"].to_numpy(), "score": z})
        res = desurv.tl.survival(frame, "score", time_key="time", event_key="event")
        co = res.cox["coefficients"].iloc[0]
        rows.append({"factor": j + 1, "hr_per_sd": float(co["hr"]),
                     "hr_lower_95": float(co["hr_lower_95"]),
                     "hr_upper_95": float(co["hr_upper_95"]), "p": float(co["p"])})
    return pd.DataFrame(rows).set_index("factor")


def jaccard(a, b):
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 0.0


top = desurv.tl.top_genes(tcga, n_top=N_TOP)
ann = desurv.tl.annotate_programs(tcga, PROGRAMS)
best = best_programs(ann)
cox_train = factor_cox(tcga)
fac = best.join(cox_train)
fac["beta_std"] = beta_std
fac["top_genes"] = [", ".join(top[top["factor"] == f]["gene"].head(8)) for f in fac.index]
report.table(fac.reset_index(), "factors",
             f"Each DeSurv factor: its best published program (hypergeometric test of its top "
             f"{N_TOP} genes against every program of reference_programs.csv in the "
             f"{tcga.n_vars}-gene universe, BH q over all factor x program tests), the "
             "univariable Cox hazard ratio per SD of its score in training, the "
             "standardised model coefficient and its first top genes.")
train_p = [float(p) for p in cox_train["p"]]
annotated = [
    {"factor": int(f), "schema": str(r["schema"]), "program": str(r["program"]),
     "overlap": int(r["overlap"]), "p": float(r["pval"]), "q": float(r["qval"]),
     "train_cox_p": float(cox_train.loc[f, "p"]),
     "train_hr_per_sd": float(cox_train.loc[f, "hr_per_sd"])}
    for f, r in best.iterrows()
]
hits = [a for a in annotated if a["train_cox_p"] < Q_LEVEL and a["q"] < Q_LEVEL]
best_sig = bool(hits)
if hits:
    lead = min(hits, key=lambda a: a["train_cox_p"])
else:  # the most survival-associated factor, for the figures
    f = int(cox_train["p"].idxmin())
    lead = next(a for a in annotated if a["factor"] == f)
LEAD = lead["factor"]
report.md(
    f"Training Cox p per factor: {', '.join(f'{p:.3g}' for p in train_p)}. "
    + (f"{len(hits)} factor(s) are both associated with survival in training (Cox p < "
       f"{Q_LEVEL}) and annotated to a published program (q < {Q_LEVEL}): "
       + "; ".join(f"factor {a['factor']} = {a['schema']} {a['program']} (overlap "
                   f"{a['overlap']}, q = {a['q']:.2g}; HR per SD "
                   f"{a['train_hr_per_sd']:.2f}, p = {a['train_cox_p']:.2g})" for a in hits) + "."
       if hits else
       f"No factor is both associated with survival in training (Cox p < {Q_LEVEL}) and "
       f"annotated to a published program (q < {Q_LEVEL}).")
    + " These are training-set associations of a model chosen on the same samples: "
    "optimistic by construction; PRINCE below is the external test."
)
NORMAL_TISSUE = ("Exocrine", "ADEX", "Endocrine", "NormalStroma")
if hits and all(a["program"] in NORMAL_TISSUE for a in hits):
    report.md(
        "Read with care: the survival-associated program(s) here are of normal pancreas "
        f"({', '.join(sorted({a['program'] for a in hits}))}: acinar or islet genes of "
        "non-tumour tissue in the sample), not a tumour-intrinsic subtype; the tumour "
        "programs (classical, basal-like) found here have training Cox p "
        + (", ".join(f"{a['train_cox_p']:.2g} (factor {a['factor']}, {a['program']})"
                     for a in annotated if "Tumor" in a["program"] or "Classical" in
                     a["program"] or "Basal" in a["program"]) or "(none found)")
        + "."
    )
hm = desurv.pl.heatmap(tcga, factor=LEAD, n_top=25, figsize=(8, 7), show=False)
hm.suptitle(f"TCGA-PAAD (n={tcga.n_obs}), DeSurv k={K}: factor {LEAD} = {lead['schema']} "
            f"{lead['program']} (q={lead['q']:.1g}); training Cox p={lead['train_cox_p']:.2g}",
            fontsize=9)
HEADLINE = report.figure(hm, "heatmap_lead_factor",
                         f"Top 25 genes of factor {LEAD} (rows standardised), samples ordered "
                         "by its score, with score, time and event bars.")
tcga.obs[f"factor{LEAD}_score"] = np.asarray(tcga.obsm["X_desurv"])[:, LEAD - 1]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
desurv.pl.kaplan_meier(tcga, "desurv_risk", cut="median", ax=axes[0], show=False)
axes[0].set_title(f"DeSurv risk, median split (log-rank p={axes[0].desurv_logrank_p:.2g})")
desurv.pl.kaplan_meier(tcga, f"factor{LEAD}_score", cut="median", ax=axes[1], show=False)
axes[1].set_title(f"factor {LEAD} score, median split "
                  f"(log-rank p={axes[1].desurv_logrank_p:.2g})")
fig.tight_layout()
km_p_risk, km_p_lead = float(axes[0].desurv_logrank_p), float(axes[1].desurv_logrank_p)
report.figure(fig, "km_training",
              "Kaplan-Meier curves in training (TCGA-PAAD): the model's risk and the lead "
              "factor's score, each split at its median.")

# %% [markdown]
# ## 5. The alpha = 0 model (plain NMF) at the same k

# %%
tic = time.perf_counter()
nmf = tcga.copy()
for key in ("desurv_top_genes", "desurv_programs"):
    nmf.uns.pop(key, None)
nmf_model = final_fit(nmf, 0.0)
timings["nmf_fit"] = time.perf_counter() - tic
top_nmf = desurv.tl.top_genes(nmf, n_top=N_TOP)
ann_nmf = desurv.tl.annotate_programs(nmf, PROGRAMS)
best_nmf = best_programs(ann_nmf)
cox_nmf = factor_cox(nmf)
sets = {f: list(top[top["factor"] == f]["gene"]) for f in range(1, K + 1)}
sets_nmf = {f: list(top_nmf[top_nmf["factor"] == f]["gene"]) for f in range(1, K + 1)}
J = pd.DataFrame([[jaccard(sets[i], sets_nmf[j]) for j in sets_nmf] for i in sets],
                 index=pd.Index(list(sets), name="desurv_factor"),
                 columns=[f"nmf_{j}" for j in sets_nmf])
match = pd.DataFrame({
    "desurv_factor": list(sets),
    "best_nmf_factor": [int(J.loc[i].to_numpy().argmax()) + 1 for i in sets],
    "best_jaccard": [float(J.loc[i].max()) for i in sets],
    "desurv_program": [f"{best.loc[i, 'schema']} {best.loc[i, 'program']}" for i in sets],
    "desurv_train_p": [float(cox_train.loc[i, "p"]) for i in sets],
})
match["nmf_program"] = [f"{best_nmf.loc[j, 'schema']} {best_nmf.loc[j, 'program']}"
                        for j in match["best_nmf_factor"]]
match["nmf_train_p"] = [float(cox_nmf.loc[j, "p"]) for j in match["best_nmf_factor"]]
match["distinct"] = match["best_jaccard"] < JACCARD_DISTINCT
n_distinct = int(match["distinct"].sum())
report.md(
    f"The alpha = 0 model (same consensus procedure, k, lambda_, l1_ratio and seed; "
    f"{timings['nmf_fit']:.0f} s): training C-index {nmf_model['train_cindex']:.3f} against "
    f"{model['train_cindex']:.3f} for DeSurv. Measure of distinctness: for each DeSurv factor "
    f"the largest Jaccard index between its top-{N_TOP} gene list and any NMF factor's; "
    f"**{n_distinct} of {K}** DeSurv signatures are distinct (best match < "
    f"{JACCARD_DISTINCT}). Training Cox p of the NMF factors: "
    f"{', '.join(f'{p:.3g}' for p in cox_nmf['p'])}."
)
report.table(match, "desurv_vs_nmf",
             f"Best-matching NMF factor of each DeSurv factor (Jaccard of the top-{N_TOP} "
             "lists), with both factors' best published program and training Cox p.")

# %% [markdown]
# ## 6. External validation on PRINCE
#
# PRINCE (Padron et al. 2022): metastatic PDAC treated with chemo-immunotherapy, a
# different setting from the resected TCGA tumours. It is stored as log2(TPM + 0.001):
# `pp.unlog` returns it to TPM; `tl.validate` then applies the model's own preprocessing
# (log1p, the model's genes, ranks within sample). Both of the paper's designs, each for
# DeSurv and for the alpha = 0 model of section 5 (passed as `nmf_model`).

# %%
prince = desurv.datasets.load("prince")
desurv.pp.unlog(prince)
IMPL = "r" if r_bridge.available() else "python"
why_not_r = "" if IMPL == "r" else f" (R not usable: {r_bridge.unavailable_reason()})"
common = dict(nmf_model=nmf, implementation=IMPL, random_state=SEED,
              cutpoint_folds=VALIDATE["cutpoint_folds"],
              cutpoint_n_starts=VALIDATE["cutpoint_n_starts"])


def run_validate(design, key_added, **kw):
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", desurv.DataWarning)  # one cohort: unstratified, noted
        warnings.simplefilter("ignore", desurv.ConvergenceWarning)
        res = desurv.tl.validate(tcga, {"PRINCE": prince}, design=design,
                                 key_added=key_added, **common, **kw)
    timings[key_added] = time.perf_counter() - tic
    return res


def prince_row(table, method, col):
    sub = table[(table["method"] == method) & (table["cohort"] == "PRINCE")]
    return float(sub[col].iloc[0]) if len(sub) else float("nan")


proj = run_validate("projection", "validate_projection")
proj_c = run_validate("projection", "validate_projection_cohort", cutpoint_reference="cohort")
clus = run_validate("clustering", "validate_clustering", reps=VALIDATE["reps"])

pc = proj.per_cohort
c_desurv, c_nmf = prince_row(pc, "desurv", "cindex"), prince_row(pc, "nmf", "cindex")
se_desurv, se_nmf = prince_row(pc, "desurv", "cindex_se"), prince_row(pc, "nmf", "cindex_se")
cut = proj.cutpoint_choice.set_index("method")


def n_high(res, method):
    g = res.groups
    sub = g[(g["cohort"] == "PRINCE") & (g["method"] == method) & (g["group"] == "high")]
    return int(sub["n"].sum())


high_n = {m: n_high(proj, m) for m in ("desurv", "nmf")}
high_c = {m: n_high(proj_c, m) for m in ("desurv", "nmf")}
smp = proj.samples
mean_z = {m: float(smp[(smp["method"] == m) & (smp["cohort"] == "PRINCE")]["z"].mean())
          for m in ("desurv", "nmf")}
lr_train = {m: prince_row(proj.logrank, m, "p") for m in ("desurv", "nmf")}
lr_cohort = {m: prince_row(proj_c.logrank, m, "p") for m in ("desurv", "nmf")}
cl2 = clus.pooled[clus.pooled["n_clusters"] == 2].set_index("method")
stats_from = ("R (survival, ConsensusClusterPlus, through r_bridge)" if IMPL == "r"
              else "Python (desurv.stats)")
report.md(
    f"Statistics from {stats_from}: `implementation=\"{IMPL}\"`{why_not_r}. PRINCE: "
    f"{prince.n_obs} patients, {int(prince.obs['event'].sum())} deaths; "
    f"{int(prince_row(pc, 'desurv', 'n_missing_genes'))} of the model's "
    f"{len(tcga.uns['desurv']['genes'])} genes are missing there and 0-filled (coverage "
    f"{prince_row(pc, 'desurv', 'coverage'):.3f})."
)
report.md(
    f"**Projection design** ({timings['validate_projection']:.0f} s): C-index of the "
    f"top-gene score **{c_desurv:.3f}** (SE {se_desurv:.3f}) for DeSurv against "
    f"**{c_nmf:.3f}** (SE {se_nmf:.3f}) for alpha = 0; hazard ratio per SD of the full risk "
    f"{prince_row(pc, 'desurv', 'hr_per_sd'):.2f} (p = {prince_row(pc, 'desurv', 'p'):.2g}) "
    f"against {prince_row(pc, 'nmf', 'hr_per_sd'):.2f} (p = {prince_row(pc, 'nmf', 'p'):.2g}). "
    f"The cutpoint chosen by {VALIDATE['cutpoint_folds']}-fold CV on TCGA is z = "
    f"{float(cut.loc['desurv', 'z']):.1f} (DeSurv) and {float(cut.loc['nmf', 'z']):.1f} "
    f"(alpha = 0) training SDs; standardised by the training scores as in the paper, "
    f"PRINCE's scores have mean z {mean_z['desurv']:+.2f} and {mean_z['nmf']:+.2f}, and the "
    f"cut puts {high_n['desurv']} and {high_n['nmf']} of {prince.n_obs} patients in the "
    f"high-risk group (log-rank p {lr_train['desurv']:.2g} and {lr_train['nmf']:.2g}). "
    f"Standardised by PRINCE's own mean and SD instead (`cutpoint_reference=\"cohort\"`, "
    f"for a cohort on another platform with {int(prince_row(pc, 'desurv', 'n_missing_genes'))} "
    f"0-filled genes), the same z puts {high_c['desurv']} and {high_c['nmf']} patients in "
    f"the high-risk group (log-rank p {lr_cohort['desurv']:.2g} and {lr_cohort['nmf']:.2g}; "
    "NaN: one group only, no test)."
)
report.md(
    f"**Clustering design** ({timings['validate_clustering']:.0f} s, {VALIDATE['reps']} "
    f"resamples of consensus k-means on the union of the top genes): with 2 clusters, "
    f"C-index {float(cl2.loc['desurv', 'cindex']):.3f} against "
    f"{float(cl2.loc['nmf', 'cindex']):.3f}, likelihood-ratio p "
    f"{float(cl2.loc['desurv', 'lrt_p']):.2g} against {float(cl2.loc['nmf', 'lrt_p']):.2g}."
)
csmp = clus.samples.set_index("sample")
same_clusters = float(np.mean(
    csmp[csmp["method"] == "desurv"]["cluster_k2"].astype(str)
    == csmp[csmp["method"] == "nmf"]["cluster_k2"].astype(str).reindex(
        csmp[csmp["method"] == "desurv"].index)))
shared_top = len(set(top["gene"]) & set(top_nmf["gene"]))
report.md(
    f"The two models' unions of top genes share {shared_top} of {top['gene'].nunique()} "
    f"genes, and {same_clusters:.0%} of PRINCE's patients get the same label in the two "
    "2-cluster partitions (labels compared as they are), so the clustering design can hardly "
    "separate them here."
)
diff = c_desurv - c_nmf
report.md(
    f"With {prince.n_obs} patients a C-index has an SE of about {se_desurv:.2f}: the "
    f"projection C-index difference DeSurv - alpha = 0 is {diff:+.3f}, "
    + ("under two SEs, so the two models cannot be told apart on PRINCE."
       if abs(diff) < 2 * max(se_desurv, se_nmf) else "more than two SEs.")
)
report.table(proj.comparison.reset_index(), "prince_projection",
             "PRINCE, projection design (cutpoint standardised by the training scores, as "
             "in the paper): DeSurv against alpha = 0.")
report.table(proj_c.comparison.reset_index(), "prince_projection_cohort",
             "PRINCE, projection design, cutpoint standardised by PRINCE's own scores.")
report.table(clus.comparison.reset_index(), "prince_clustering",
             "PRINCE, clustering design: DeSurv against alpha = 0.")
report.figure(desurv.pl.validation_km(proj, method="both", show=False), "prince_km",
              "PRINCE, projection design as published: Kaplan-Meier curves of the risk groups "
              "at the training-chosen cut on the training-standardised score, DeSurv above, "
              "alpha = 0 below.")
report.figure(desurv.pl.validation_km(proj_c, method="both", show=False), "prince_km_cohort",
              "PRINCE, projection design, the same z standardised within PRINCE.")
report.figure(desurv.pl.validation_km(clus, method="both", show=False), "prince_km_clusters",
              "PRINCE, clustering design: Kaplan-Meier curves of the 2 consensus clusters, "
              "DeSurv above, alpha = 0 below.")
report.figure(desurv.pl.validation_forest(proj, show=False), "prince_forest",
              "PRINCE: hazard ratio per SD of each DeSurv factor score.")
report.figure(desurv.pl.validation_comparison(proj, show=False), "prince_comparison",
              "PRINCE, projection design: DeSurv against alpha = 0 in numbers.")
forest = proj.forest[(proj.forest["method"] == "desurv") & (proj.forest["cohort"] == "PRINCE")]
prince_factor_p = [float(p) for p in forest.sort_values("factor")["p"]]
if proj.notes:
    report.md("Notes from `tl.validate`: " + "; ".join(dict.fromkeys(proj.notes)) + ".")

# %% [markdown]
# ## 7. The R package's algorithm at the published hyperparameters
#
# `DeSurv(variant="r-desurv")` follows the authors' R package step by step (see
# `docs/r_desurv_variant.md`). The published values belong to that algorithm; here they are
# applied to our 130-tumour subset (no CPTAC), so the fit is not the published model.

# %%
tic = time.perf_counter()
rfit = tcga.copy()
for key in [k for k in rfit.uns if k.startswith(("desurv_top", "desurv_programs", "validate"))]:
    rfit.uns.pop(key)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", desurv.ConvergenceWarning)
    desurv.tl.fit(rfit, "time", "event", n_components=PAPER_K, variant="r-desurv",
                  alpha=PAPER_ALPHA, lambda_=PAPER_LAMBDA, l1_ratio=PAPER_XI,
                  random_state=SEED, **R_FIT)
timings["r_desurv"] = time.perf_counter() - tic
top_r = desurv.tl.top_genes(rfit, n_top=PAPER_N_TOP)
best_r = best_programs(desurv.tl.annotate_programs(rfit, PROGRAMS))
cox_r = factor_cox(rfit)
tab_r = best_r.join(cox_r)
tab_r["beta_std"] = np.asarray(rfit.uns["desurv"]["beta_std"])
report.md(
    f"`variant=\"r-desurv\"`, k = {PAPER_K}, alpha = {PAPER_ALPHA}, lambda_ = {PAPER_LAMBDA}, "
    f"l1_ratio (the package's nu) = {PAPER_XI}, lambda_w = lambda_h = 0, "
    f"the package's defaults ({R_FIT['n_init']} random starts of {R_FIT['init_max_iter']} "
    f"iterations, the best by training C continued to at most {R_FIT['max_iter']} "
    f"iterations, tol {R_FIT['tol']:g}): {int(rfit.uns['desurv']['n_iter'])} iterations "
    f"(converged: {bool(rfit.uns['desurv']['converged'])}), "
    f"training C-index {float(rfit.uns['desurv']['train_cindex']):.3f} "
    f"({timings['r_desurv']:.0f} s). Top {PAPER_N_TOP} genes per factor; training Cox p per "
    f"factor {', '.join(f'{p:.3g}' for p in cox_r['p'])}."
)
report.table(tab_r.reset_index(), "r_desurv_factors",
             f"r-desurv at the published hyperparameters: best published program of each "
             f"factor's top {PAPER_N_TOP} genes and training Cox per factor.")

# %% [markdown]
# ## 8. The scanpy route
#
# The same model from a scanpy pipeline: the raw TCGA values as a sparse float32 matrix,
# scanpy's own normalisation, log and highly-variable-gene filter, then `desurv.tl.fit`, whose
# `obsm['X_desurv']` scanpy plots as an embedding, and scanpy's differential expression
# between the risk groups. (Not the paper's preprocessing: scanpy's depth normalisation and
# dispersion-based genes instead of the mean + variance filter and ranks.)

# %%
scanpy_ok, scanpy_note, sc_res = False, "", {}
try:
    import scanpy as sc
except ImportError as err:
    sc = None
    scanpy_note = f"scanpy is not installed ({err}); the scanpy route was skipped."
if sc is not None:
    step = "building the AnnData"
    try:
        tic = time.perf_counter()
        sca = sc.AnnData(sparse.csr_matrix(counts.X, dtype=np.float32),
                         obs=counts.obs[["time", "event"]].copy(), var=counts.var.copy())
        step = "sc.pp.normalize_total"
        sc.pp.normalize_total(sca)
        step = "sc.pp.log1p"
        sc.pp.log1p(sca)
        step = "sc.pp.highly_variable_genes"
        sc.pp.highly_variable_genes(sca, n_top_genes=2000, subset=True)
        step = "desurv.tl.fit"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", desurv.ConvergenceWarning)
            desurv.tl.fit(sca, "time", "event", n_components=K, alpha=ALPHA, lambda_=LAMBDA,
                          l1_ratio=XI, tol=TOL, random_state=SEED, **SC_FIT)
        step = "desurv.tl.top_genes"
        top_sc = desurv.tl.top_genes(sca, n_top=N_TOP)
        step = "sc.pl.embedding"
        ax = sc.pl.embedding(sca, basis="desurv", color="desurv_risk", show=False)
        report.figure(ax, "scanpy_embedding",
                      "scanpy's `pl.embedding` of the DeSurv factor scores (obsm['X_desurv'], "
                      "factors 1 and 2), coloured by the DeSurv risk.")
        step = "sc.tl.rank_genes_groups"
        med = float(np.median(sca.obs["desurv_risk"]))
        sca.obs["risk_group"] = pd.Categorical(
            np.where(sca.obs["desurv_risk"] > med, "high", "low"), categories=["low", "high"])
        sc.tl.rank_genes_groups(sca, "risk_group", groups=["high"], reference="low",
                                method="wilcoxon")
        de = sc.get.rank_genes_groups_df(sca, "high")
        timings["scanpy"] = time.perf_counter() - tic
        up = de[(de["pvals_adj"] < 0.05) & (de["logfoldchanges"] > 0)]
        down = de[(de["pvals_adj"] < 0.05) & (de["logfoldchanges"] < 0)]
        sets_sc = {f: set(top_sc[top_sc["factor"] == f]["gene"]) for f in range(1, K + 1)}
        sc_vs_main = [max(jaccard(sets[i], sets_sc[j]) for j in sets_sc) for i in sets]
        sc_res = {
            "n_genes": int(sca.n_vars),
            "train_cindex": float(sca.uns["desurv"]["train_cindex"]),
            "n_de_up": int(len(up)), "n_de_down": int(len(down)),
            "top_up": list(up["names"].head(10).astype(str)),
            "best_jaccard_vs_main": [float(x) for x in sc_vs_main],
        }
        scanpy_ok = True
        report.md(
            f"The scanpy route ran ({timings['scanpy']:.0f} s): sparse float32 matrix "
            f"{sca.n_obs} x {sca.n_vars} after `highly_variable_genes`, `tl.fit` at k = {K}, "
            f"alpha = {ALPHA:g} (training C-index {sc_res['train_cindex']:.3f}). Wilcoxon test "
            f"of the high- against the low-risk half (median split of `desurv_risk`): "
            f"{sc_res['n_de_up']} genes up and {sc_res['n_de_down']} down at BH q < 0.05; "
            f"first up: {', '.join(sc_res['top_up'])}. Best-match Jaccard of its top-{N_TOP} "
            f"lists with the main model's factors: "
            f"{', '.join(f'{x:.2f}' for x in sc_res['best_jaccard_vs_main'])}."
        )
        report.table(de.head(15), "scanpy_rank_genes_groups",
                     "scanpy rank_genes_groups: high against low DeSurv risk (first 15).")
    except Exception as err:  # report what fails, do not hide it
        scanpy_note = f"The scanpy route failed at `{step}`: {type(err).__name__}: {err}"
if scanpy_note:
    report.md(scanpy_note)

# %% [markdown]
# ## What held and what did not

# %%
lead_text = (f"factor {lead['factor']} ({lead['schema']} {lead['program']}, q = "
             f"{lead['q']:.2g}; training Cox p = {lead['train_cox_p']:.2g})")
report.md(
    "- Training association with a published program: "
    + (f"held for {len(hits)} of {K} factors, lead {lead_text}." if best_sig else
       f"did not hold (no factor with Cox p < {Q_LEVEL} and annotation q < {Q_LEVEL}).")
    + f"\n- Distinct from plain NMF: {n_distinct} of {K} DeSurv signatures have a best-match "
    f"Jaccard below {JACCARD_DISTINCT} (best matches "
    f"{', '.join(f'{x:.2f}' for x in match['best_jaccard'])})."
    + f"\n- PRINCE, projection: C-index {c_desurv:.3f} (DeSurv) against {c_nmf:.3f} "
    f"(alpha = 0), SE about {se_desurv:.2f}; clustering, 2 clusters: C-index "
    f"{float(cl2.loc['desurv', 'cindex']):.3f} against {float(cl2.loc['nmf', 'cindex']):.3f}."
    + f"\n- r-desurv at the published hyperparameters: training Cox p per factor "
    f"{', '.join(f'{p:.2g}' for p in cox_r['p'])}, best programs "
    f"{', '.join(f'{r.schema} {r.program}' for r in best_r.itertuples())}."
    + f"\n- scanpy route: {'ran' if scanpy_ok else 'did not run'}."
    + f"\n- k by the one-SE rule: {K} (the paper's target {PAPER_K})."
)

report.result(
    n_factors=K,
    alpha=ALPHA, lambda_=LAMBDA, l1_ratio=XI,
    select_method=SELECT["method"],
    select_seconds=round(timings["select"], 1),
    select_best_k=int(sel.best_params_["n_components"]),
    train_cindex=float(model["train_cindex"]),
    train_factor_p=train_p,
    train_factor_hr=[float(x) for x in cox_train["hr_per_sd"]],
    annotated_factors=annotated,
    best_annotated_significant=best_sig,
    lead_factor=LEAD,
    km_train_logrank_p_risk=km_p_risk,
    nmf_train_cindex=float(nmf_model["train_cindex"]),
    nmf_train_factor_p=[float(p) for p in cox_nmf["p"]],
    desurv_vs_nmf_best_jaccard=[float(x) for x in match["best_jaccard"]],
    n_distinct_from_nmf=n_distinct,
    validation_implementation=IMPL,
    prince_cindex_desurv=c_desurv,
    prince_cindex_nmf=c_nmf,
    prince_cindex_se_desurv=se_desurv,
    prince_cindex_se_nmf=se_nmf,
    prince_hr_per_sd_desurv=prince_row(pc, "desurv", "hr_per_sd"),
    prince_hr_p_desurv=prince_row(pc, "desurv", "p"),
    prince_hr_per_sd_nmf=prince_row(pc, "nmf", "hr_per_sd"),
    prince_hr_p_nmf=prince_row(pc, "nmf", "p"),
    prince_logrank_p_training_ref=lr_train,
    prince_logrank_p_cohort_ref=lr_cohort,
    prince_factor_p=prince_factor_p,
    prince_cluster2_cindex_desurv=float(cl2.loc["desurv", "cindex"]),
    prince_cluster2_cindex_nmf=float(cl2.loc["nmf", "cindex"]),
    prince_cluster2_lrt_p_desurv=float(cl2.loc["desurv", "lrt_p"]),
    prince_cluster2_lrt_p_nmf=float(cl2.loc["nmf", "lrt_p"]),
    prince_cluster2_same_label_share=same_clusters,
    r_desurv_train_cindex=float(rfit.uns["desurv"]["train_cindex"]),
    r_desurv_factor_p=[float(p) for p in cox_r["p"]],
    r_desurv_programs=[{"factor": int(f), "schema": str(r["schema"]),
                        "program": str(r["program"]), "q": float(r["qval"])}
                       for f, r in best_r.iterrows()],
    scanpy_route_ok=scanpy_ok,
    scanpy_note=scanpy_note,
    scanpy=sc_res,
    timings={k: round(v, 1) for k, v in timings.items()},
    headline_figure=HEADLINE,
    paper_targets={"k": PAPER_K, "alpha": PAPER_ALPHA, "lambda": PAPER_LAMBDA,
                   "xi": PAPER_XI, "n_top": PAPER_N_TOP, "n_tcga": PAPER_N_TCGA},
)
report.save()
