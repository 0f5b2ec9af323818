"""desurv.pl.select_k / search_history / alpha_path on hand-built search summaries (Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from desurv import pl  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _summary() -> pd.DataFrame:
    """18 settings: k in {2, 3, 4, 5} x alpha in {0, 0.3, 0.6}, grid, lhs and ei phases."""
    rng = np.random.default_rng(1)
    rows = []
    i = 0
    for phase, reps in (("grid", 1), ("lhs", 1), ("ei", 1)):
        for k in (2, 3, 4, 5):
            for alpha in (0.0, 0.3, 0.6):
                if phase != "grid" and rng.uniform() < 0.5:
                    continue
                for _ in range(reps):
                    base = {2: 0.58, 3: 0.64, 4: 0.65, 5: 0.62}[k] + 0.05 * alpha
                    rows.append({
                        "setting": i, "phase": phase, "n_components": k, "alpha": alpha,
                        "lambda_": float(rng.uniform(0.01, 1)), "l1_ratio": 0.5,
                        "lambda_w": 0.0, "lambda_h": 0.0,
                        "n_top": np.nan if k == 2 else 20,
                        "mean_cindex": base + float(rng.normal(0, 0.01)),
                        "se_cindex": float(rng.uniform(0.01, 0.03)), "n_folds": 5,
                        "rel_error": 0.3, "cindex_over_error": 2.0,
                    })
                    i += 1
    tab = pd.DataFrame(rows)
    # the best setting overall has k = 4, and k = 3 lies within its SE: the rule picks 3
    i4 = tab.index[tab["n_components"] == 4][0]
    i3 = tab.index[tab["n_components"] == 3][0]
    tab.loc[i4, ["mean_cindex", "se_cindex"]] = [0.70, 0.03]
    tab.loc[i3, ["mean_cindex", "se_cindex"]] = [0.68, 0.01]
    assert set(tab["phase"]) == {"grid", "lhs", "ei"}
    return tab


class _Result:
    """A stand-in for selection.SearchResult: .summary plus optional one-SE attributes."""

    def __init__(self, summary, k_1se_=None, one_se_threshold_=None):
        self.summary = summary
        if k_1se_ is not None:
            self.k_1se_ = k_1se_
        if one_se_threshold_ is not None:
            self.one_se_threshold_ = one_se_threshold_


def _rule(tab: pd.DataFrame) -> tuple[float, int]:
    best = tab.loc[tab["mean_cindex"].idxmax()]
    thr = best["mean_cindex"] - best["se_cindex"]
    per_k = tab.groupby("n_components")["mean_cindex"].max()
    return float(thr), int(per_k[per_k >= thr].index.min())


def _by_gid(ax: Axes, gid: str):
    hits = [a for a in ax.get_children() + ax.lines if a.get_gid() == gid]
    assert hits, f"no artist with gid {gid!r}"
    return hits[0]


def _is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_k_draws_best_per_k_and_the_rule_k(tmp_path):
    tab = _summary()
    ax = pl.select_k(tab, save=tmp_path / "select_k")
    assert isinstance(ax, Axes) and _is_png(tmp_path / "select_k.png")
    line = _by_gid(ax, "select_k:result")
    best = tab.groupby("n_components")["mean_cindex"].max().sort_index()
    np.testing.assert_array_equal(line.get_xdata(), best.index.to_numpy(dtype=float))
    np.testing.assert_allclose(line.get_ydata(), best.to_numpy())
    thr, k = _rule(tab)
    assert k == 3 and tab.loc[tab["mean_cindex"].idxmax(), "n_components"] == 4
    np.testing.assert_allclose(_by_gid(ax, "select_k:threshold").get_ydata(), [thr, thr])
    mark = _by_gid(ax, "select_k:k_1se")
    assert list(mark.get_xdata()) == [k]
    np.testing.assert_allclose(mark.get_ydata(), [best[k]])
    assert list(ax.get_xticks()) == [2, 3, 4, 5]
    assert any(np.allclose(ln.get_ydata(), 0.5) for ln in ax.lines)
    assert f"k = {k} (one-SE rule)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_select_k_error_bars_are_the_se_of_the_best_setting():
    tab = _summary()
    ax = pl.select_k(tab)
    cont = ax.containers[0]
    seg = cont.lines[2][0].get_segments()
    rows = tab.loc[tab.groupby("n_components")["mean_cindex"].idxmax()].sort_values(
        "n_components"
    )
    half = np.array([(s[1, 1] - s[0, 1]) / 2 for s in seg])
    np.testing.assert_allclose(half, rows["se_cindex"].to_numpy())


def test_select_k_uses_the_result_attributes_and_compare(tmp_path):
    tab = _summary()
    res = _Result(tab, k_1se_=4, one_se_threshold_=0.61)
    base = tab.assign(mean_cindex=tab["mean_cindex"] - 0.05).query("n_components < 5")
    ax = pl.select_k(res, compare=_Result(base), labels=("sup", "unsup"))
    mark = _by_gid(ax, "select_k:k_1se")
    assert list(mark.get_xdata()) == [4]
    np.testing.assert_allclose(_by_gid(ax, "select_k:threshold").get_ydata(), [0.61, 0.61])
    other = _by_gid(ax, "select_k:compare")
    np.testing.assert_allclose(
        other.get_ydata(), base.groupby("n_components")["mean_cindex"].max().sort_index()
    )
    assert other.get_color() != _by_gid(ax, "select_k:result").get_color()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "sup" in texts and "unsup" in texts


def test_select_k_drops_failed_settings():
    tab = _summary()
    tab.loc[tab["mean_cindex"].idxmax(), "mean_cindex"] = np.nan
    ax = pl.select_k(tab)
    best = tab.dropna(subset=["mean_cindex"]).groupby("n_components")["mean_cindex"].max()
    np.testing.assert_allclose(_by_gid(ax, "select_k:result").get_ydata(), best.sort_index())


def test_search_history_points_running_best_and_phase_switch(tmp_path):
    tab = _summary()
    ax = pl.search_history(_Result(tab), save=tmp_path / "hist.png")
    assert isinstance(ax, Axes) and _is_png(tmp_path / "hist.png")
    for ph in ("grid", "lhs", "ei"):
        sub = tab[tab["phase"] == ph]
        pts = _by_gid(ax, f"history:{ph}").get_offsets()
        np.testing.assert_allclose(pts[:, 0], sub["setting"])
        np.testing.assert_allclose(pts[:, 1], sub["mean_cindex"])
    run = _by_gid(ax, "history:running_best").get_ydata()
    assert np.all(np.diff(run) >= 0)
    assert run[-1] == pytest.approx(tab["mean_cindex"].max())
    first_ei = tab.loc[tab["phase"] == "ei", "setting"].min()
    x = _by_gid(ax, "history:lhs_to_ei").get_xdata()[0]
    assert first_ei - 1 < x < first_ei


def test_search_history_without_ei_has_no_switch_line():
    tab = _summary().query("phase != 'ei'")
    ax = pl.search_history(tab)
    assert not [a for a in ax.get_children() if a.get_gid() == "history:lhs_to_ei"]


def test_alpha_path_one_line_per_k(tmp_path):
    tab = _summary()
    ax = pl.alpha_path(tab, save=tmp_path / "alpha")
    assert isinstance(ax, Axes) and _is_png(tmp_path / "alpha.png")
    for k, sub in tab.groupby("n_components"):
        best = sub.groupby("alpha")["mean_cindex"].max().sort_index()
        line = _by_gid(ax, f"alpha_path:{k}")
        np.testing.assert_allclose(line.get_xdata(), best.index)
        np.testing.assert_allclose(line.get_ydata(), best.to_numpy())
    assert len(ax.containers) == 4
    assert "k = 3" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax2 = pl.alpha_path(tab, by="n_top")
    assert len(ax2.containers) == 1  # n_top NaN rows (k = 2) are dropped


@pytest.mark.parametrize("func", [pl.select_k, pl.search_history, pl.alpha_path])
def test_errors(func):
    tab = _summary()
    with pytest.raises(TypeError, match="summary"):
        func([1, 2, 3])
    with pytest.raises(TypeError, match="summary"):
        func(_Result({"mean_cindex": [0.6]}))
    with pytest.raises(KeyError, match="se_cindex"):
        func(tab.drop(columns=["se_cindex"]))
    with pytest.raises(ValueError, match="empty"):
        func(tab.iloc[:0])
    with pytest.raises(ValueError, match="finite"):
        func(tab.assign(mean_cindex=np.nan))


def test_specific_errors():
    tab = _summary()
    with pytest.raises(KeyError, match=r"\['phase'\]"):
        pl.search_history(tab.drop(columns=["phase"]))
    with pytest.raises(KeyError, match="n_components"):
        pl.select_k(tab.drop(columns=["n_components"]))
    with pytest.raises(KeyError, match="compare"):
        pl.select_k(tab, compare=tab.drop(columns=["n_components"]))
    with pytest.raises(KeyError, match="'lambda_x'"):
        pl.alpha_path(tab, by="lambda_x")
    with pytest.raises(TypeError, match="by"):
        pl.alpha_path(tab, by=3)
    with pytest.raises(ValueError, match="alpha"):
        pl.alpha_path(tab, by="alpha")
    with pytest.raises(TypeError, match="labels"):
        pl.select_k(tab, labels="DeSurv")
