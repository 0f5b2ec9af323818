"""desurv.pl.validation_km / validation_forest / validation_comparison on real
``desurv.tl.validate`` results of a small simulation (Agg backend)."""

from __future__ import annotations

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

import desurv  # noqa: E402
from desurv import pl  # noqa: E402
from desurv.pl._validate import _fmt_p  # noqa: E402
from desurv.simulate import simulate  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A fit on a simulated training cohort, validated on 2, 1 and 5 cohorts; h5ad round trip."""
    d = simulate(
        "primary", n_samples=300, n_genes=1200, n_background=300, n_markers=100, n_train=120,
        random_state=1,
    )  # fmt: skip

    def mk(idx):
        obs = pd.DataFrame(
            {"time": d.time[idx].to_numpy(), "event": d.event[idx].to_numpy()}, index=list(idx)
        )
        return ad.AnnData(d.X.loc[idx].to_numpy(), obs=obs, var=pd.DataFrame(index=d.X.columns))

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and zero-gene warnings of the small fit
        train = mk(d.train)
        desurv.tl.fit(train, n_components=3, alpha=0.9, lambda_=0.1, n_init=2, max_iter=200,
                      random_state=0)  # fmt: skip
        desurv.tl.top_genes(train, n_top=60)
        two = {"A": mk(d.test[:90]), "B": mk(d.test[90:])}
        out["proj"] = desurv.tl.validate(
            train, two, design="projection", random_state=0, cutpoint_n_starts=1,
            cutpoint_folds=3, key_added="val_proj",
        )  # fmt: skip
        out["clust"] = desurv.tl.validate(
            train, two, design="clustering", random_state=0, reps=20, key_added="val_clust"
        )
        out["one"] = desurv.tl.validate(
            train, {"A": mk(d.test[:90])}, design="projection", compare_nmf=False,
            random_state=0, cutpoint_n_starts=1, cutpoint_folds=3, key_added="val_one",
        )  # fmt: skip
        five = {f"C{i + 1}": mk(d.test[36 * i : 36 * (i + 1)]) for i in range(5)}
        out["five"] = desurv.tl.validate(
            train, five, design="projection", compare_nmf=False, random_state=0,
            cutpoint_n_starts=1, cutpoint_folds=3, key_added="val_five",
        )  # fmt: skip
    path = tmp_path_factory.mktemp("h5ad") / "m.h5ad"
    train.write_h5ad(path)
    out["read"] = ad.read_h5ad(path)
    out["train"] = train
    return out


# ----------------------------------------------------------------------------- helpers


def _logrank_p(res, cohort, method, n_clusters=None) -> float:
    lr = res.logrank
    sub = lr[(lr["cohort"] == cohort) & (lr["method"] == method)]
    if n_clusters is not None:
        sub = sub[sub["n_clusters"].astype(float) == n_clusters]
    assert len(sub) == 1
    return float(sub["p"].iloc[0])


def _legend_counts(ax) -> dict[str, int]:
    out = {}
    for text in ax.get_legend().get_texts():
        m = re.fullmatch(r"(.+) \(n=(\d+)\)", text.get_text())
        assert m, text.get_text()
        out[m.group(1)] = int(m.group(2))
    return out


def _table_counts(res, cohort, method) -> dict[str, int]:
    g = res.groups
    sub = g[(g["cohort"] == cohort) & (g["method"] == method) & (g["n"] > 0)]
    return dict(zip(sub["group"], sub["n"].astype(int)))


def _magic(path) -> bytes:
    return path.read_bytes()[:8]


def _expected_cell(value: float, is_p: bool) -> str:
    if not np.isfinite(value):
        return "NA"
    if value == 0:
        return "0"
    if is_p and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.3g}"


def _cells(fig) -> dict[tuple[int, int], str]:
    (ax,) = fig.axes
    (table,) = ax.tables
    return {rc: cell.get_text().get_text() for rc, cell in table.get_celld().items()}


# ----------------------------------------------------------------------------- Kaplan-Meier


def test_km_projection_panels_titles_and_legends(fitted):
    res = fitted["proj"]
    fig = pl.validation_km(res)
    assert len(fig.axes) == 3  # A, B, pooled
    assert list(fig.desurv_panels) == [("desurv", "A"), ("desurv", "B"), ("desurv", "pooled")]
    for (method, cohort), ax in fig.desurv_panels.items():
        p = _logrank_p(res, cohort, method)
        title = ax.get_title()
        assert f"log-rank p = {_fmt_p(p)}" in title
        assert ax.desurv_logrank_p == pytest.approx(p)
        counts = _legend_counts(ax)
        assert counts == _table_counts(res, cohort, method)
        assert f"(n={sum(counts.values())})" in title
        assert ("stratified" in title) == (cohort == "pooled")
        assert title.startswith(cohort)
    # the pooled test is the stratified one
    lr = res.logrank
    assert bool(lr[(lr["cohort"] == "pooled") & (lr["method"] == "desurv")]["stratified"].iloc[0])
    # one colour per group across panels
    colours = [{ln.get_label(): ln.get_color() for ln in ax.get_legend().get_lines()}
               for ax in fig.desurv_panels.values()]  # fmt: skip
    low = {c for d in colours for k, c in d.items() if k.startswith("low")}
    assert len(low) == 1


def test_km_both_methods_two_rows(fitted):
    res = fitted["proj"]
    fig = pl.validation_km(res, method="both", ci=True)
    assert len(fig.axes) == 6
    panels = fig.desurv_panels
    for cohort in ("A", "B", "pooled"):
        top, bottom = panels[("desurv", cohort)], panels[("nmf", cohort)]
        assert top.get_position().y0 > bottom.get_position().y1
        assert top.get_title().startswith("desurv: ")
        assert bottom.get_title().startswith("nmf: ")
        p = _logrank_p(res, cohort, "nmf")
        assert f"log-rank p = {_fmt_p(p)}" in bottom.get_title()
        assert _legend_counts(bottom) == _table_counts(res, cohort, "nmf")


def test_km_clustering_matches_n_clusters(fitted):
    res = fitted["clust"]
    fig = pl.validation_km(res)  # default: the first cluster column, cluster_k2
    pooled = fig.desurv_panels[("desurv", "pooled")]
    p2 = _logrank_p(res, "pooled", "desurv", 2)
    assert f"2 clusters: log-rank p = {_fmt_p(p2)}" in pooled.get_title()
    assert "stratified" in pooled.get_title()
    fig3 = pl.validation_km(res, groupby="cluster_k3", method="nmf")
    assert len(fig3.axes) == 3
    ax = fig3.desurv_panels[("nmf", "pooled")]
    p3 = _logrank_p(res, "pooled", "nmf", 3)
    assert f"3 clusters: log-rank p = {_fmt_p(p3)}" in ax.get_title()
    assert ax.desurv_logrank_p == pytest.approx(p3)
    counts = _legend_counts(ax)
    assert set(counts) == {"1", "2", "3"}
    smp = res.samples[res.samples["method"] == "nmf"]
    assert counts == smp["cluster_k3"].value_counts().to_dict()
    g = res.groups[(res.groups["cohort"] == "pooled") & (res.groups["method"] == "nmf")
                   & (res.groups["n_clusters"] == 3)]
    assert dict(zip(g["group"], g["n"].astype(int))) == counts
    # the cohort panels carry the cohort's own (unstratified) log-rank test
    a = fig3.desurv_panels[("nmf", "A")]
    pa = _logrank_p(res, "A", "nmf", 3)
    assert f"3 clusters: log-rank p = {_fmt_p(pa)}" in a.get_title()
    assert a.desurv_logrank_p == pytest.approx(pa)
    assert sum(_legend_counts(a).values()) == int((smp["cohort"] == "A").sum())


def test_km_one_and_five_cohorts_grid(fitted):
    one = fitted["one"]
    fig = pl.validation_km(one)
    assert len(fig.axes) == 2
    pooled = fig.desurv_panels[("desurv", "pooled")].get_title()
    assert pooled.startswith("pooled (n=90)") and "stratified" not in pooled
    assert f"log-rank p = {_fmt_p(_logrank_p(one, 'pooled', 'desurv'))}" in pooled

    five = fitted["five"]
    fig = pl.validation_km(five)
    assert len(fig.axes) == 6  # 5 cohorts + pooled on a 2 x 4 grid, the unused cells removed
    rows = {round(ax.get_position().y0, 3) for ax in fig.axes}
    assert len(rows) == 2
    for (m, c), ax in fig.desurv_panels.items():
        assert f"log-rank p = {_fmt_p(_logrank_p(five, c, m))}" in ax.get_title()
        assert _legend_counts(ax) == _table_counts(five, c, m)


def test_km_cohorts_subset_and_at_risk(fitted, tmp_path):
    res = fitted["proj"]
    fig = pl.validation_km(res, cohorts=["B"])
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("B (n=90)")
    fig = pl.validation_km(res, cohorts=["pooled", "A"])
    assert list(fig.desurv_panels) == [("desurv", "pooled"), ("desurv", "A")]
    fig = pl.validation_km(res, at_risk=True, save=tmp_path / "km_risk")
    assert len(fig.axes) == 6  # each panel has lifelines' at-risk twin axes
    assert _magic(tmp_path / "km_risk.png") == b"\x89PNG\r\n\x1a\n"


def test_km_errors(fitted):
    res, clust = fitted["proj"], fitted["clust"]
    with pytest.raises(ValueError, match="method must be one of"):
        pl.validation_km(res, method="cox")
    with pytest.raises(ValueError, match="compare_nmf=False"):
        pl.validation_km(fitted["one"], method="both")
    with pytest.raises(KeyError, match="unknown cohort"):
        pl.validation_km(res, cohorts=["A", "Z"])
    with pytest.raises(ValueError, match="cohorts is empty"):
        pl.validation_km(res, cohorts=[])
    with pytest.raises(KeyError, match="not a column of result.samples"):
        pl.validation_km(res, groupby="subtype")
    with pytest.raises(ValueError, match="not a grouping"):
        pl.validation_km(res, groupby="score")
    with pytest.raises(KeyError, match="cluster_k2"):
        pl.validation_km(clust, groupby="group")
    with pytest.raises(TypeError, match="uns"):
        pl.validation_km(fitted["train"])
    broken = type(res)({**res, "samples": res.samples.drop(columns="time")})
    with pytest.raises(KeyError, match="time"):
        pl.validation_km(broken)


# ----------------------------------------------------------------------------- forest


def test_forest_panels_diamond_at_pooled_hr(fitted):
    res = fitted["proj"]
    fig = pl.validation_forest(res)
    assert len(fig.axes) == 3
    fo = res.forest[res.forest["method"] == "desurv"]
    for f, ax in fig.desurv_panels.items():
        pooled = fo[(fo["factor"] == f) & (fo["cohort"] == "pooled")].iloc[0]
        (diamond,) = [p for p in ax.patches if isinstance(p, Polygon)]
        xy = diamond.get_xy()
        assert xy[np.argmax(xy[:, 1]), 0] == pytest.approx(pooled["hr"])
        assert xy[:, 0].min() == pytest.approx(pooled["hr_lower_95"])
        assert xy[:, 0].max() == pytest.approx(pooled["hr_upper_95"])
        assert ax.desurv_pooled_hr == pytest.approx(pooled["hr"])
        assert ax.get_xscale() == "log"
        assert any(np.allclose(ln.get_xdata(), 1.0) for ln in ax.get_lines())
        assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "pooled (fixed effect)"]
        texts = " | ".join(t.get_text() for t in ax.texts)
        for _, r in fo[fo["factor"] == f].iterrows():
            assert f"{r['hr']:.2f} [{r['hr_lower_95']:.2f}, {r['hr_upper_95']:.2f}]" in texts
            assert f"p={r['p']:.2g}" in texts
        assert f"I²={100 * pooled['i2']:.0f}%" in texts
        assert ax.get_title() == f"desurv: factor {f}"


def test_forest_one_factor_nmf_and_errors(fitted):
    res = fitted["proj"]
    fig = pl.validation_forest(res, method="nmf", factor=2)
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "nmf: factor 2"
    with pytest.raises(KeyError, match="1-based"):
        pl.validation_forest(res, factor=0)
    with pytest.raises(ValueError, match="method must be one of"):
        pl.validation_forest(res, method="both")
    with pytest.raises(ValueError, match="projection design only.*clustering design"):
        pl.validation_forest(fitted["clust"])
    with pytest.raises(ValueError, match="compare_nmf=False"):
        pl.validation_forest(fitted["one"], method="nmf")
    five = pl.validation_forest(fitted["five"], factor=1)
    labels = [t.get_text() for t in five.axes[0].get_yticklabels()]
    assert labels == ["C1", "C2", "C3", "C4", "C5", "pooled (fixed effect)"]


# ----------------------------------------------------------------------------- comparison


@pytest.mark.parametrize("which", ["proj", "clust", "one"])
def test_comparison_table(fitted, which):
    res = fitted[which]
    comp = res.comparison
    fig = pl.validation_comparison(res)
    cells = _cells(fig)
    cols = [c for c in ("desurv", "nmf", "difference") if c in comp.columns]
    assert cols == (["desurv"] if which == "one" else ["desurv", "nmf", "difference"])
    assert [cells[(0, j)] for j in range(len(cols) + 1)] == ["statistic", *cols]
    for i, stat in enumerate(comp.index, start=1):
        assert cells[(i, 0)] == stat
        is_p = bool(re.search(r"(^|[\s:])p($|[\s(])", stat))
        for j, c in enumerate(cols, start=1):
            assert cells[(i, j)] == _expected_cell(float(comp.loc[stat, c]), is_p), (stat, c)
    assert res.design in fig.axes[0].get_title()


def test_comparison_formats_small_p_in_scientific(fitted):
    res = fitted["clust"]
    cells = _cells(pl.validation_comparison(res))
    row = 1 + list(res.comparison.index).index("3 clusters: log-rank p")
    v = float(res.comparison.loc["3 clusters: log-rank p", "nmf"])
    assert v < 1e-3 and cells[(row, 2)] == f"{v:.2e}" and "e-" in cells[(row, 2)]
    bic = 1 + list(res.comparison.index).index("3 clusters: BIC")
    assert "e" not in cells[(bic, 1)]  # BIC: 3 significant digits, not scientific


def test_comparison_errors(fitted):
    res = fitted["proj"]
    broken = type(res)({**res, "comparison": None})
    with pytest.raises(ValueError, match="no comparison table"):
        pl.validation_comparison(broken)
    broken = type(res)({**res, "comparison": res.comparison.drop(columns="desurv")})
    with pytest.raises(KeyError, match="desurv"):
        pl.validation_comparison(broken)


# ----------------------------------------------------------------------------- save, uns


def test_save_png_and_pdf(fitted, tmp_path):
    res = fitted["proj"]
    pl.validation_km(res, save=tmp_path / "km")
    pl.validation_forest(res, save=tmp_path / "forest.pdf")
    pl.validation_comparison(res, save=tmp_path / "sub" / "comparison.png")
    assert _magic(tmp_path / "km.png") == b"\x89PNG\r\n\x1a\n"
    assert _magic(tmp_path / "forest.pdf")[:5] == b"%PDF-"
    assert _magic(tmp_path / "sub" / "comparison.png") == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("source", ["memory", "h5ad"])
def test_from_uns_record_draws_the_same(fitted, source):
    adata = fitted["train"] if source == "memory" else fitted["read"]
    res, rec = fitted["proj"], adata.uns["val_proj"]
    assert not isinstance(rec, type(res))
    for kw in ({}, {"method": "both"}):
        a, b = pl.validation_km(res, **kw), pl.validation_km(rec, **kw)
        assert [ax.get_title() for ax in a.axes] == [ax.get_title() for ax in b.axes]
        assert [_legend_counts(ax) for ax in a.axes] == [_legend_counts(ax) for ax in b.axes]
    a, b = pl.validation_forest(res), pl.validation_forest(rec)
    assert [ax.desurv_pooled_hr for ax in a.axes] == pytest.approx(
        [ax.desurv_pooled_hr for ax in b.axes]
    )
    # from_uns returns the comparison columns in h5ad's (alphabetical) order: the plot
    # still draws desurv, nmf, difference
    assert _cells(pl.validation_comparison(res)) == _cells(pl.validation_comparison(rec))
    clust = adata.uns["val_clust"]
    t1 = [ax.get_title() for ax in pl.validation_km(fitted["clust"], groupby="cluster_k3").axes]
    t2 = [ax.get_title() for ax in pl.validation_km(clust, groupby="cluster_k3").axes]
    assert t1 == t2
    with pytest.raises(ValueError, match="clustering design"):
        pl.validation_forest(clust)
