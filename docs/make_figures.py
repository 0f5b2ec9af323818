"""Make the figure the README shows: TCGA-PAAD, DeSurv k=4, heatmap of the tumour factor.

Run from the repository root (needs ../shared/data, i.e. the shared data folder next to the
checkout):

    python docs/make_figures.py            # writes docs/figures/tcga_paad_heatmap.png

Steps (the public API only): load the TCGA-PAAD 3k cohort (genes x samples CSV -> AnnData
samples x genes), ``pp.log1p``, ``pp.filter_genes(n_top=1000)``, ``tl.fit(k=4)`` (small
survival weight ``alpha=0.3``, as in ``tests/test_tl_fit.py``), ``tl.top_genes``,
``tl.annotate_programs`` against the published PDAC programs, and ``pl.heatmap`` of the
factor that best matches a classical or basal-like tumour program (smallest BH q).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's desurv, installed or not

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import desurv  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "docs" / "figures" / "tcga_paad_heatmap.png"
K = 4


def main() -> int:
    cohort = DATA / "pdac" / "tcga_paad_3k"
    expr = pd.read_csv(cohort / "expression.csv.gz", index_col=0)
    clin = pd.read_csv(cohort / "clinical.csv", index_col=0)
    adata = ad.AnnData(expr.T.astype(float), obs=clin.loc[expr.columns])
    desurv.pp.log1p(adata)
    desurv.pp.filter_genes(adata, n_top=1000)
    desurv.tl.fit(adata, "time", "event", n_components=K, alpha=0.3, max_iter=200,
                  tol=1e-5, random_state=0)
    desurv.tl.top_genes(adata, n_top=50)
    res = desurv.tl.annotate_programs(adata, DATA / "gene_programs" / "reference_programs.csv")
    tumour = res[res["program"].str.contains("classical|basal", case=False)
                 & ~res["program"].str.contains("Immune")]
    best = tumour.sort_values("qval", kind="stable").iloc[0]
    factor = int(best["factor"])
    beta = np.asarray(adata.uns["desurv"]["beta_std"])  # log hazard ratio per sd of score
    fig = desurv.pl.heatmap(adata, factor=factor, n_top=25, figsize=(8, 7))
    fig.suptitle(
        f"TCGA-PAAD (n={adata.n_obs}), DeSurv k={K}: factor {factor} "
        f"= {best['schema']} {best['program']} ({best['overlap']} of 50 top genes, "
        f"q={best['qval']:.1g}); log HR per sd {beta[factor - 1]:.2f}",
        fontsize=9,
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=120, bbox_inches="tight")
    print(res[res["rank"] <= 2].drop(columns="genes").to_string(index=False))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
