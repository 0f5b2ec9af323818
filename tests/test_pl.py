"""Each plot function renders to PNG without error (Agg backend)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from desurv import pl, tl  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fitted_by_hand(n: int = 40, p: int = 30, k: int = 3) -> ad.AnnData:
    """An AnnData with the keys tl.fit writes (values drawn at random, not a real fit)."""
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 1.0, (n, p))
    W = rng.uniform(0, 1, (p, k)) * (rng.uniform(size=(p, k)) > 0.3)
    scores = X @ W
    risk = scores @ np.array([0.5, -0.2, 0.1])
    time = rng.exponential(20 * np.exp(-(risk - risk.mean()) / risk.std()))
    obs = pd.DataFrame(
        {"os_time": time, "os_event": rng.integers(0, 2, n),
         "subtype": rng.choice(["classical", "basal"], n)},
        index=[f"s{i}" for i in range(n)],
    )
    a = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(p)]))
    a.varm["desurv_W"] = W
    a.obsm["X_desurv"] = scores
    a.obs["desurv_risk"] = risk
    hist = np.exp(-np.arange(50) / 10) + 1.0
    a.uns["desurv"] = {
        "loss_history": {"loss": hist, "nmf": hist * 0.8, "cox": hist * 0.2},
        "n_iter": 50, "converged": True, "time_key": "os_time", "event_key": "os_event",
        "genes": np.asarray(a.var_names, dtype=object),
    }
    return a


def _is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_trace_png(tmp_path):
    a = _fitted_by_hand()
    ax = pl.loss_trace(a, terms=("loss", "nmf", "cox"), save=tmp_path / "loss")
    assert _is_png(tmp_path / "loss.png")
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    with pytest.raises(KeyError, match="penalty"):
        pl.loss_trace(a, terms=("penalty",))
    with pytest.raises(KeyError, match="tl.fit"):
        pl.loss_trace(ad.AnnData(np.ones((2, 2))))


def test_heatmap_png(tmp_path):
    a = _fitted_by_hand()
    fig = pl.heatmap(a, factor=2, n_top=8, save=tmp_path / "heat.png")
    assert _is_png(tmp_path / "heat.png")
    heat = fig.axes[0]
    assert len(heat.get_yticklabels()) == 8
    tl.top_genes(a, n_top=5)
    fig = pl.heatmap(a, factor=1, n_top=10)
    expected = tl._top_genes.top_genes_table(a).query("factor == 1")["gene"].tolist()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == expected
    with pytest.raises(ValueError, match="between 1 and 3"):
        pl.heatmap(a, factor=4)


def test_kaplan_meier_png(tmp_path):
    a = _fitted_by_hand()
    ax = pl.kaplan_meier(a, "subtype", save=tmp_path / "km.png")
    assert _is_png(tmp_path / "km.png")
    assert 0 <= ax.desurv_logrank_p <= 1 and "log-rank p" in ax.get_title()
    ax = pl.kaplan_meier(a, "desurv_risk", cut="median")
    assert {t.get_text().split(" ")[0] for t in ax.get_legend().get_texts()} == {"low", "high"}
    pl.kaplan_meier(a, "desurv_risk", cut=3, at_risk=False)
    with pytest.raises(ValueError, match="cut="):
        pl.kaplan_meier(a, "desurv_risk")
    with pytest.raises(KeyError, match="columns"):
        pl.kaplan_meier(a, "nope")


def test_forest_png(tmp_path):
    from lifelines import CoxPHFitter

    a = _fitted_by_hand()
    df = pd.DataFrame(a.obsm["X_desurv"], columns=["F1", "F2", "F3"], index=a.obs_names)
    df = (df - df.mean()) / df.std()
    df["T"], df["E"] = a.obs["os_time"].to_numpy(), a.obs["os_event"].to_numpy()
    cph = CoxPHFitter().fit(df, "T", "E")
    ax = pl.forest(cph, save=tmp_path / "forest.png", title="factor scores")
    assert _is_png(tmp_path / "forest.png")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["F1", "F2", "F3"]
    tab = pd.DataFrame({"label": ["a", "b"], "hr": [1.5, 0.7], "lower": [1.1, 0.5],
                        "upper": [2.0, 0.9]})
    pl.forest(tab)
    # desurv.tl.survival's result, returned and stored in uns
    a.obs["F1"], a.obs["F2"] = df["F1"].to_numpy(), df["F2"].to_numpy()
    res = tl.survival(a.obs, ["F1", "F2"], time_key="os_time", event_key="os_event")
    ax = pl.forest(res)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["F1", "F2"]
    tl.survival(a, ["F1", "F2"], time_key="os_time", event_key="os_event")
    ax = pl.forest(a, save=tmp_path / "forest2.png")
    assert _is_png(tmp_path / "forest2.png") and len(ax.get_yticklabels()) == 2
    with pytest.raises(KeyError, match="lower"):
        pl.forest(pd.DataFrame({"hr": [1.0]}))


def test_cindex_by_k_png(tmp_path):
    folds = {3: [0.62, 0.65, 0.6], 4: [0.66, 0.64, 0.67], 5: [0.63, 0.6, 0.61]}
    ax = pl.cindex_by_k(folds, save=tmp_path / "ck.png")
    assert _is_png(tmp_path / "ck.png")
    tab = pd.DataFrame({"k": [3, 4, 5, 3, 4, 5], "cindex": [0.6, 0.65, 0.62, 0.55, 0.56, 0.54],
                        "model": ["DeSurv"] * 3 + ["NMF"] * 3})
    ax = pl.cindex_by_k(tab, hue="model")
    assert len(ax.get_legend().get_texts()) == 2
    with pytest.raises(KeyError, match="cindex"):
        pl.cindex_by_k(pd.DataFrame({"k": [1]}))


def test_plots_of_a_real_fit(tmp_path, make_toy_adata):
    import warnings

    from desurv.exceptions import DeSurvWarning

    a = make_toy_adata(n=50, p=24, k=2, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        tl.fit(a, n_components=2, max_iter=80, random_state=0)
    tl.top_genes(a, n_top=6)
    ax = pl.loss_trace(a, terms=("loss", "nmf", "cox"), logy=False, save=tmp_path / "l.png")
    assert len(ax.lines[0].get_xdata()) == len(a.uns["desurv"]["loss_history"]["loss"])
    pl.heatmap(a, factor=1, save=tmp_path / "h.png")
    pl.kaplan_meier(a, "desurv_risk", cut="median", save=tmp_path / "k.png")
    assert all(_is_png(tmp_path / f) for f in ("l.png", "h.png", "k.png"))


def test_figures_carry_units_and_a_legend_for_every_colour_bar():
    """The Kaplan-Meier x axis read "time (time)" although uns['units'] says months, and the
    heatmap's score and time bars had no colour legend."""
    import warnings

    import desurv

    a = desurv.datasets.load("tcga_paad_3k")
    desurv.pp.log1p(a)
    desurv.pp.filter_genes(a, n_top=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        desurv.tl.fit(a, n_components=2, n_init=1, max_iter=60, warmup_iter=10,
                      random_state=0)  # fmt: skip
    a.obs["grp"] = np.where(a.obs["desurv_risk"] > a.obs["desurv_risk"].median(), "high", "low")
    ax = desurv.pl.kaplan_meier(a, "grp", show=False)
    assert ax.get_xlabel() == "time (months)"
    b = a.copy()
    del b.uns["units"]
    assert desurv.pl.kaplan_meier(b, "grp", show=False).get_xlabel() == (
        "time (time; unit not recorded)"
    )
    fig = desurv.pl.heatmap(a, factor=1, n_top=10, show=False)
    # 3 annotation bars + heatmap, each with its own colour bar at the right
    assert len(fig.axes) == 8
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()] + [
        t.get_text() for t in fig.axes[3].get_yticklabels()
    ]
    assert "time (months)" in labels
    event_cb = [t.get_text() for t in fig.axes[6].get_yticklabels()]
    assert event_cb == ["censored", "event"]
