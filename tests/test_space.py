"""Search space, Latin hypercube, Bayesian proposer and the GP-LCB choice of k
(desurv.selection._space)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from desurv.selection import (
    KNOWN_PARAMS,
    BayesProposer,
    Param,
    SearchSpace,
    expected_improvement,
    gp_lcb_k,
    latin_hypercube,
)

# The optimiser of sklearn's GP marginal likelihood may say it stopped early on noise-free
# toy data; that warning is deliberately not hidden by the library.
pytestmark = pytest.mark.filterwarnings("ignore:lbfgs failed to converge")


def unit_box() -> SearchSpace:
    return SearchSpace((Param("x", 0.0, 1.0), Param("y", 0.0, 1.0)))


def toy(p: dict) -> float:
    return -((p["x"] - 0.3) ** 2) - (p["y"] - 0.7) ** 2


def run_search(proposer: BayesProposer, f, n: int) -> tuple[list[dict], list[float]]:
    params, values = [], []
    for _ in range(n):
        p = proposer.propose(params, values)
        params.append(p)
        values.append(f(p))
    return params, values


# -- Param and SearchSpace ---------------------------------------------------------------
def test_paper_spaces():
    final = SearchSpace.paper_final()
    assert final.names == ("n_components", "alpha", "lambda_", "l1_ratio", "n_top")
    by = {p.name: p for p in final.params}
    assert (by["n_components"].low, by["n_components"].high, by["n_components"].integer) == (
        2,
        12,
        True,
    )
    assert by["alpha"].high_open and (by["alpha"].low, by["alpha"].high) == (0, 1)
    assert by["lambda_"].log and (by["lambda_"].low, by["lambda_"].high) == (1e-3, 1e3)
    assert not by["l1_ratio"].log and not by["l1_ratio"].high_open
    assert by["n_top"].integer and (by["n_top"].low, by["n_top"].high) == (50, 300)

    sim = SearchSpace.paper_simulation(fixed={"max_iter": 200})
    by = {p.name: p for p in sim.params}
    assert (by["n_components"].low, by["n_components"].high) == (2, 6)
    assert by["alpha"].high == 0.95 and not by["alpha"].high_open
    assert (by["lambda_"].low, by["lambda_"].high) == (1e-2, 1e2)
    assert (by["n_top"].low, by["n_top"].high) == (50, 250)
    assert sim.from_unit(np.full(sim.dim, 0.5))["max_iter"] == 200


def test_round_trip_unit_to_params_to_unit():
    space = SearchSpace.paper_final(fixed={"max_iter": 100})
    rng = np.random.default_rng(0)
    for u in rng.random((50, space.dim)):
        p = space.from_unit(u)
        assert p["max_iter"] == 100
        assert isinstance(p["n_components"], int) and isinstance(p["n_top"], int)
        assert isinstance(p["alpha"], float)
        u2 = space.to_unit(p)
        # continuous coordinates come back; integer ones go to the centre of their share
        for j, prm in enumerate(space.params):
            if prm.integer:
                m = prm.n_levels
                assert u2[j] == pytest.approx((math.floor(u[j] * m) + 0.5) / m)
            else:
                assert u2[j] == pytest.approx(u[j], abs=1e-12)
        assert space.from_unit(u2) == pytest.approx(p)


def test_round_trip_params_to_unit_to_params():
    space = SearchSpace.paper_final()
    p = {"n_components": 7, "alpha": 0.25, "lambda_": 3.0, "l1_ratio": 0.5, "n_top": 123}
    back = space.from_unit(space.to_unit({**p, "extra": "ignored"}))
    assert back["n_components"] == 7 and back["n_top"] == 123
    for name in ("alpha", "lambda_", "l1_ratio"):
        assert back[name] == pytest.approx(p[name], rel=1e-12)


def test_log_scale():
    space = SearchSpace.from_bounds({"lambda_": (1e-3, 1e3, "log")})
    assert space.from_unit([0.5])["lambda_"] == pytest.approx(1.0)
    assert space.from_unit([0.25])["lambda_"] == pytest.approx(10**-1.5)
    assert space.to_unit({"lambda_": 10.0})[0] == pytest.approx(4 / 6)
    assert space.from_unit([0.0])["lambda_"] == pytest.approx(1e-3)
    assert space.from_unit([1.0])["lambda_"] == pytest.approx(1e3)
    lin = SearchSpace.from_bounds({"lambda_": (0.0, 10.0)})
    assert lin.from_unit([0.5])["lambda_"] == pytest.approx(5.0)


def test_integers_get_equal_shares():
    space = SearchSpace.from_bounds({"n_components": (2, 6)})  # 5 integers
    u = (np.arange(100_000) + 0.5) / 100_000
    ks = np.array([space.from_unit([x])["n_components"] for x in u[::100]])
    counts = np.bincount(ks, minlength=7)[2:]
    assert counts.tolist() == [200] * 5
    assert space.from_unit([0.0])["n_components"] == 2
    assert space.from_unit([1.0])["n_components"] == 6  # the closed end is reached
    assert space.from_unit([0.2 - 1e-12])["n_components"] == 2
    assert space.from_unit([0.2])["n_components"] == 3
    assert [space.to_unit({"n_components": k})[0] for k in range(2, 7)] == pytest.approx(
        [0.1, 0.3, 0.5, 0.7, 0.9]
    )
    with pytest.raises(ValueError, match="non-integer"):
        space.to_unit({"n_components": 2.5})


def test_alpha_never_one():
    space = SearchSpace.from_bounds({"alpha": (0, 1)})
    assert space.params[0].high_open
    a = space.from_unit([1.0])["alpha"]
    assert a < 1.0 and a == np.nextafter(1.0, 0.0)
    assert space.from_unit([5.0])["alpha"] < 1.0  # clipped
    assert space.from_unit([-1.0])["alpha"] == 0.0
    us = np.linspace(0.999999, 1.0, 1001)
    assert max(space.from_unit([x])["alpha"] for x in us) < 1.0
    for p in latin_hypercube(space, 200, np.random.default_rng(0)):
        assert 0.0 <= p["alpha"] < 1.0
    with pytest.raises(ValueError, match=r"high-open"):
        space.to_unit({"alpha": 1.0})
    # a closed high bound below 1 is reached
    assert SearchSpace.from_bounds({"alpha": (0, 0.95)}).from_unit([1.0])["alpha"] == 0.95


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ({"alpha": (0.5, 0.5)}, r"'alpha' has empty bounds \[0.5, 0.5\]"),
        ({"l1_ratio": (0.9, 0.1)}, r"'l1_ratio' has inverted bounds \[0.9, 0.1\]"),
        ({"n_top": (300, 50)}, r"'n_top' has inverted bounds"),
        ({"lambda_": (0.0, 10.0, "log")}, r"'lambda_' is searched on the log scale.*> 0"),
        ({"lambda_": (-1.0, 10.0, "log")}, r"'lambda_' .*log scale"),
        ({"lambda_": (1.0, math.inf)}, r"'lambda_': high bound must be finite"),
        ({"lambda_": (1.0, 10.0, "ln")}, r"\(low, high, 'log'\)"),
        ({"alpha": (0.0, 1.5)}, r"'alpha' leave its domain \[0, 1\]"),
        ({"n_components": (2.5, 6)}, r"integer bounds"),
    ],
)
def test_bound_errors(bounds, match):
    with pytest.raises(ValueError, match=match):
        SearchSpace.from_bounds(bounds)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="unknown parameter names") as info:
        SearchSpace.from_bounds({"k": (2, 6), "alpha": (0, 1)})
    msg = str(info.value)
    assert "'k'" in msg
    for name in KNOWN_PARAMS:
        assert name in msg
    assert KNOWN_PARAMS == (
        "n_components",
        "alpha",
        "lambda_",
        "l1_ratio",
        "lambda_w",
        "lambda_h",
        "n_top",
    )


def test_param_and_space_errors():
    with pytest.raises(ValueError, match=r"'x' has empty bounds"):
        Param("x", 1.0, 1.0)
    with pytest.raises(TypeError, match="real number"):
        Param("x", "0", 1.0)
    with pytest.raises(ValueError, match="duplicated"):
        SearchSpace((Param("x", 0, 1), Param("x", 0, 2)))
    with pytest.raises(ValueError, match="both searched and fixed"):
        SearchSpace((Param("x", 0, 1),), fixed={"x": 0.5})
    with pytest.raises(TypeError, match="JSON"):
        SearchSpace((Param("x", 0, 1),), fixed={"f": object()})
    space = unit_box()
    with pytest.raises(ValueError, match=r"lack the searched parameters \['y'\]"):
        space.to_unit({"x": 0.5})
    with pytest.raises(ValueError, match="outside its bounds"):
        space.to_unit({"x": 0.5, "y": 1.5})
    with pytest.raises(ValueError, match="shape"):
        space.from_unit([0.5])


def test_spec_is_json_and_order_free():
    a = SearchSpace.from_bounds(
        {"lambda_": (1e-3, 1e3, "log"), "n_components": (2, 12)}, fixed={"b": np.int64(3), "a": 1}
    )
    b = SearchSpace.from_bounds(
        {"n_components": (2, 12), "lambda_": [1e-3, 1e3, "log"]}, fixed={"a": 1, "b": 3}
    )
    assert json.dumps(a.spec(), sort_keys=True) == json.dumps(b.spec(), sort_keys=True)
    spec = json.loads(json.dumps(a.spec()))
    assert [p["name"] for p in spec["params"]] == ["n_components", "lambda_"]
    assert spec["params"][0] == {
        "name": "n_components",
        "low": 2,
        "high": 12,
        "log": False,
        "integer": True,
        "high_open": False,
    }
    assert spec["fixed"] == {"a": 1, "b": 3}
    assert SearchSpace.paper_final().spec() != SearchSpace.paper_simulation().spec()


# -- Latin hypercube -----------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 40])
def test_latin_hypercube_stratified(n):
    space = SearchSpace(
        (
            Param("a", 0.0, 1.0),
            Param("b", 1e-3, 1e3, log=True),
            Param("c", -5.0, 5.0),
            Param("d", 0.0, 1.0, high_open=True),
        )
    )
    pts = latin_hypercube(space, n, np.random.default_rng(3))
    assert len(pts) == n
    U = np.vstack([space.to_unit(p) for p in pts])
    for j in range(space.dim):
        bins = np.floor(U[:, j] * n).astype(int)
        assert sorted(bins.tolist()) == list(range(n))
    again = latin_hypercube(space, n, np.random.default_rng(3))
    assert again == pts
    with pytest.raises(TypeError, match="Generator"):
        latin_hypercube(space, n, 3)


# -- expected improvement ------------------------------------------------------------------
def test_expected_improvement():
    ei = expected_improvement([0.5, 0.7, 0.9], [0.0, 0.0, 0.0], best=0.6, xi=0.0)
    assert ei.tolist() == pytest.approx([0.0, 0.1, 0.3])
    # at mu == best, EI = sd * phi(0)
    assert expected_improvement(0.6, 0.1, 0.6, 0.0) == pytest.approx(0.1 / math.sqrt(2 * math.pi))
    grid = expected_improvement(np.linspace(0, 1, 11), 0.1, 0.5, 0.01)
    assert np.all(np.diff(grid) > 0) and np.all(grid >= 0)
    assert np.all(np.diff(expected_improvement(0.5, np.linspace(0.01, 1, 11), 0.5)) > 0)
    with pytest.raises(ValueError, match="sd"):
        expected_improvement(0.5, -0.1, 0.5)


# -- Bayesian proposer ---------------------------------------------------------------------
def test_initial_proposals_are_the_design():
    space = SearchSpace.paper_final()
    bp = BayesProposer(space, n_initial=6, random_state=11)
    design = bp.design
    params, values = [], []
    for i in range(6):
        p = bp.propose(params, values)
        assert p == design[i]
        params.append(p)
        values.append(0.5 + 0.01 * i)
    assert BayesProposer(space, n_initial=6, random_state=12).design != design


def test_same_seed_same_sequence_and_resume():
    space = SearchSpace.paper_simulation()

    def f(p):
        return 0.6 + 0.02 * p["n_components"] - 0.1 * (p["alpha"] - 0.5) ** 2

    kw = {"n_initial": 5, "n_candidates": 300, "random_state": 7}
    params, values = run_search(BayesProposer(space, **kw), f, 9)
    params2, values2 = run_search(BayesProposer(space, **kw), f, 9)
    assert params == params2 and values == values2
    for i in (0, 3, 5, 6, 8):  # LHS phase, first and later GP steps
        assert BayesProposer(space, **kw).propose(params[:i], values[:i]) == params[i]
    other, _ = run_search(BayesProposer(space, **{**kw, "random_state": 8}), f, 9)
    assert other != params


def test_bayes_optimisation_beats_random_search():
    space = unit_box()
    optimum = 0.0
    for seed in (0, 1):
        bp = BayesProposer(space, n_initial=10, n_candidates=500, random_state=seed)
        _, values = run_search(bp, toy, 25)
        best_bo = max(values)
        rand = np.random.default_rng(seed).random((25, 2))
        best_random = max(toy({"x": x, "y": y}) for x, y in rand)
        # GP steps improve on their own LHS start and on random search by a wide margin
        assert best_bo > max(values[:10])
        assert optimum - best_bo < 0.002
        assert optimum - best_bo < (optimum - best_random) / 4


def test_no_duplicate_proposals_with_integer_dims():
    space = SearchSpace.from_bounds({"n_components": (2, 4), "n_top": (50, 52)})  # 9 points
    bp = BayesProposer(space, n_initial=4, n_candidates=50, random_state=0)
    params, values = run_search(bp, lambda p: p["n_components"] - 0.1 * abs(p["n_top"] - 51), 9)
    keys = {(p["n_components"], p["n_top"]) for p in params}
    assert len(keys) == 9
    with pytest.raises(RuntimeError, match="every one of the 9 points"):
        bp.propose(params, values)

    # a mixed space with a coarse integer dimension: still never a repeat
    space = SearchSpace.from_bounds({"n_components": (2, 3), "l1_ratio": (0, 1)})
    bp = BayesProposer(space, n_initial=3, n_candidates=200, random_state=1)
    params, _ = run_search(bp, lambda p: -((p["l1_ratio"] - 0.5) ** 2), 12)
    assert len({(p["n_components"], p["l1_ratio"]) for p in params}) == 12


def test_evaluated_design_point_is_skipped():
    space = SearchSpace.from_bounds({"n_components": (2, 3)})  # 2 points, 5 design rows
    bp = BayesProposer(space, n_initial=5, random_state=0)
    first = bp.propose([], [])
    second = bp.propose([first], [0.6])
    assert second != first
    assert {first["n_components"], second["n_components"]} == {2, 3}


def test_nan_values_tolerated():
    space = unit_box()
    bp = BayesProposer(space, n_initial=6, n_candidates=300, random_state=3)
    params, values = [], []
    for i in range(16):
        p = bp.propose(params, values)
        params.append(p)
        values.append(float("nan") if i % 3 == 1 else toy(p))
    assert len({(p["x"], p["y"]) for p in params}) == 16
    assert np.nanmax(values) > -0.02
    # None counts as a failed evaluation too; only failures: a fresh (random) point
    p = bp.propose(params[:8], [None] * 8)
    assert p not in params[:8]


def test_proposer_argument_errors():
    space = unit_box()
    with pytest.raises(TypeError, match="random_state"):
        BayesProposer(space, random_state=np.random.default_rng(0))
    with pytest.raises(TypeError):
        BayesProposer(space)  # random_state is required
    with pytest.raises(ValueError, match="n_initial"):
        BayesProposer(space, n_initial=0, random_state=0)
    bp = BayesProposer(space, n_initial=2, random_state=0)
    with pytest.raises(ValueError, match="same length"):
        bp.propose([{"x": 0.1, "y": 0.1}], [])
    with pytest.raises(ValueError, match=r"history_params\[0\].*outside"):
        bp.propose([{"x": 2.0, "y": 0.1}], [0.5])


# -- GP lower-confidence-bound choice of k -------------------------------------------------
def k_history(means: dict[int, float], noise: float, n_per: int, seed: int):
    rng = np.random.default_rng(seed)
    params, values = [], []
    for k, m in means.items():
        for a in np.linspace(0.05, 0.9, n_per):
            params.append({"n_components": k, "alpha": float(a), "lambda_": 1.0})
            values.append(m + noise * rng.standard_normal())
    return params, values


def check_rule(res: dict, z: float) -> None:
    """The returned k is the rule applied to the returned per-k table."""
    per_k = res["per_k"]
    assert list(per_k.columns[:4]) == ["k", "gp_mean", "gp_sd", "value"]
    assert "params" in per_k.columns
    assert per_k["k"].is_monotonic_increasing
    best = per_k.loc[per_k["gp_mean"].idxmax()]
    assert res["best_k"] == best["k"] == res["best_params"]["n_components"]
    assert res["threshold"] == pytest.approx(best["gp_mean"] - z * best["gp_sd"])
    expected = int(per_k.loc[per_k["gp_mean"] >= res["threshold"], "k"].min())
    assert res["k"] == expected
    for _, row in per_k.iterrows():
        assert row["params"]["n_components"] == row["k"]


PLATEAU = {2: 0.60, 3: 0.70, 4: 0.705, 5: 0.71}


def test_gp_lcb_k_noise_free_plateau():
    params, values = k_history(PLATEAU, 0.0, 3, 0)
    res = gp_lcb_k(params, values)
    check_rule(res, 1.645)
    assert res["per_k"]["gp_mean"].to_numpy() == pytest.approx(list(PLATEAU.values()), abs=2e-3)
    assert res["k"] >= 3  # the rising part (k=2) is never tied with the best
    assert gp_lcb_k(params, values, z=0.0)["k"] == res["best_k"] == 5
    assert gp_lcb_k(params, values, z=1e6)["k"] == 2


def test_gp_lcb_k_noisy_plateau_picks_its_start():
    params, values = k_history(PLATEAU, 0.03, 12, 3)
    res = gp_lcb_k(params, values)
    check_rule(res, 1.645)
    assert res["best_k"] > 3
    assert res["k"] == 3


def test_gp_lcb_k_noise_makes_small_k_acceptable():
    params, values = k_history({2: 0.69, 3: 0.70, 4: 0.70}, 0.03, 10, 0)
    res = gp_lcb_k(params, values)
    check_rule(res, 1.645)
    assert res["best_k"] > 2
    assert res["k"] == 2
    # failed points are dropped; the best k still comes out with z = 0
    values = list(values)
    values[0] = float("nan")
    values[5] = None
    res0 = gp_lcb_k(params, values, z=0.0)
    check_rule(res0, 0.0)
    assert res0["k"] == res0["best_k"]
    assert res0["per_k"].loc[0, "n_points"] == 8


def test_gp_lcb_k_with_space_and_errors():
    space = SearchSpace.from_bounds({"n_components": (2, 5), "alpha": (0, 1)})
    params, values = k_history(PLATEAU, 0.0, 3, 0)
    res = gp_lcb_k(params, values, space=SearchSpace(space.params, fixed={"lambda_": 1.0}))
    check_rule(res, 1.645)
    renamed = [{"k": p["n_components"], "alpha": p["alpha"]} for p in params]
    assert gp_lcb_k(renamed, values, k_name="k")["k"] == gp_lcb_k(params, values)["k"]
    with pytest.raises(ValueError, match="at least 2"):
        gp_lcb_k(params[:3], [0.5, float("nan"), None])
    with pytest.raises(ValueError, match="same length"):
        gp_lcb_k(params, values[:-1])
    with pytest.raises(ValueError, match="no 'k'"):
        gp_lcb_k(params, values, k_name="k")
