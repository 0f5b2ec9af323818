"""Acceptance of the core issue on data: the main job and the reference data.

These fit real models (seconds to tens of seconds); the claims are comparisons measured in
the run, not frozen numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from desurv import ConvergenceWarning, DeSurv
from desurv.demo import cv_alpha, run_demo, specificity_top_genes, summarise
from desurv.metrics import concordance_index
from desurv.simulate import simulate


@pytest.mark.slow
def test_main_job_meets_the_paper_design_claims(capsys):
    """The main job as `make demo` runs it (primary and null, 3 replicates, alpha by CV):
    DeSurv's median precision of the lethal program >= 0.5 and its median test C-index ahead
    of NMF's by >= 0.05 on the primary scenario; no gain on the null scenario (DeSurv within
    0.03 of NMF there, and both near 0.5). Measured with seed 0: primary 0.847 vs 0.684,
    precision 0.66 vs 0.07; null 0.515 vs 0.515 (about 60 s with n_jobs=2)."""
    table = run_demo(seed=0, n_jobs=2, verbose=True)
    out = capsys.readouterr().out
    assert "primary: median test C-index DeSurv" in out and "paper" in out
    med = summarise(table).set_index(["scenario", "method"])
    ds, nmf = med.loc[("primary", "DeSurv")], med.loc[("primary", "NMF (alpha=0)")]
    assert ds["precision"] >= 0.5
    assert ds["test_cindex"] - nmf["test_cindex"] >= 0.05
    assert nmf["precision"] < 0.3
    null_ds, null_nmf = med.loc[("null", "DeSurv")], med.loc[("null", "NMF (alpha=0)")]
    assert null_ds["test_cindex"] - null_nmf["test_cindex"] < 0.03
    assert abs(null_ds["test_cindex"] - 0.5) < 0.1
    # alpha was chosen by the cross-validation, not fixed
    chosen = table[table.method == "DeSurv"].alpha
    assert chosen.isin([0.5, 0.8, 0.9, 0.95]).all()


def test_cv_alpha_scores_each_alpha_on_held_out_folds():
    d = simulate(
        "primary", n_genes=400, n_markers=40, n_background=60, n_samples=90, random_state=3
    )
    X, t, e = d.X.loc[d.train].to_numpy(), d.time[d.train].to_numpy(), d.event[d.train].to_numpy()
    cv = cv_alpha(X, t, e, (0.0, 0.9), max_iter=200, random_state=1)
    assert list(cv.alpha) == [0.0, 0.9]
    assert all(len(f) == 3 for f in cv.fold_cindex)
    assert ((cv.cv_cindex > 0) & (cv.cv_cindex < 1)).all()
    again = cv_alpha(X, t, e, (0.0, 0.9), max_iter=200, random_state=1, n_jobs=2)
    pd.testing.assert_frame_equal(cv, again)  # the same with processes


def test_specificity_top_genes():
    W = np.array([[1.0, 0.0], [0.9, 0.9], [0.2, 1.0], [0.5, 0.0]])
    # columns scaled by their maxima (1, 1): factor 0 scores 1, 0, -0.8, 0.5
    assert list(specificity_top_genes(W, 0, 2)) == [0, 3]
    assert list(specificity_top_genes(W, 1, 1)) == [2]


@pytest.fixture(scope="module")
def reference(r_reference):
    r = r_reference
    X = r.X_frame.T  # samples x genes
    return X, r.time, r.event, r.W0, r.H0, r.truth_W, r.truth_H


def _recovery(W: np.ndarray, truth: np.ndarray) -> float:
    """Best absolute correlation of a fitted W column with the true factor-1 loadings."""
    return float(np.abs(np.corrcoef(np.c_[truth[:, :1], W].T)[0, 1:]).max())


@pytest.mark.parametrize("solver", ["mu", "hals"])
def test_reference_data_desurv_recovers_factor1_and_raises_cindex(reference, solver):
    """On the reference data DeSurv recovers factor 1 at least as well as alpha = 0 (best
    |correlation| of a W column with truth_W[:, 0]), from the same start and with the default
    penalty (lambda_ = 0.1 on standardised coefficients: on the scale-free model it has the
    same meaning here as anywhere). With the paper's algorithm (``solver="mu"``, warm-up 50)
    it also reaches a strictly higher training C-index; with the default HALS solver it does
    not, by a few pairs.

    Measured (tol 1e-8), recovery / training C:
    - "mu": NMF 0.99684 / 0.77410; DeSurv alpha 0.5: 0.99969 / 0.77436, alpha 0.9:
      0.99837 / 0.77427;
    - "hals" (the default, NMF first): NMF 0.99553 / 0.77436 (31 iterations); DeSurv alpha
      0.5: 0.99972 / 0.77385, alpha 0.9: 0.99856 / 0.77393.
    The true factor-1 activities reach C 0.77368. The margins in C are a few concordant pairs
    of 11731, so the "mu" claim is asserted without tolerance; the "hals" NMF already reaches
    the highest C of all six fits, leaving DeSurv no room above it.
    """
    X, y, d, W0, H0, truth_w, truth_h = reference
    kw = dict(lambda_=0.1, tol=1e-8, max_iter=5000, solver=solver)
    if solver == "mu":  # the paper's recipe
        kw.update(warmup_iter=50, warmup_tol=None)
    nmf = DeSurv(3, alpha=0.0, **kw).fit(X, y, d, W0=W0, H0=H0)
    for alpha in (0.5, 0.9):
        ds = DeSurv(3, alpha=alpha, **kw).fit(X, y, d, W0=W0, H0=H0)
        assert ds.converged_ and nmf.converged_
        rec_ds, rec_nmf = _recovery(ds.W_, truth_w), _recovery(nmf.W_, truth_w)
        assert rec_nmf > 0.99
        assert rec_ds >= rec_nmf
        if solver == "mu":
            assert ds.train_cindex_ > nmf.train_cindex_
    # there is little room: NMF alone reaches the C of the true factor-1 activities
    assert nmf.train_cindex_ >= concordance_index(y, d, truth_h[0])


def test_factor_scale_stays_pinned_without_any_ridge(reference):
    """The scale symmetry is gone from the model: with lambda_h = 0 the columns of W keep unit
    norm at every stopping point, and between 600 and 1200 iterations the hazard factor's
    activities (which carry the scale) move by 1.8 % (asserted: < 5 %) and its standardised
    coefficient by < 1 %, where the old literal eq.-5 model let the hazard column of W grow
    by 36 % (2.2e5 to 3.0e5 over 1000 -> 4000 iterations) as the raw penalty shrank."""
    X, y, d, W0, H0, _, _ = reference

    def fit(iters: int) -> DeSurv:
        model = DeSurv(3, alpha=0.9, lambda_=0.1, tol=0.0, max_iter=iters)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(X, y, d, W0=W0, H0=H0)

    a, b = fit(600), fit(1200)
    for m in (a, b):
        np.testing.assert_allclose(np.linalg.norm(m.W_, axis=0), 1.0, rtol=1e-12)
    hazard = int(np.argmax(np.abs(b.coef_std_)))
    na, nb = np.linalg.norm(a.H_, axis=1), np.linalg.norm(b.H_, axis=1)
    np.testing.assert_allclose(nb[hazard], na[hazard], rtol=5e-2)
    np.testing.assert_allclose(b.coef_std_[hazard], a.coef_std_[hazard], rtol=1e-2)


def test_tcga_paad_alpha_keeps_its_meaning():
    """TCGA-PAAD with the paper's preprocessing (log1p, top 2000 genes by rank(mean) +
    rank(variance), ranks within sample), k = 3, 10 starts, default lambda_ and l1_ratio: no
    alpha <= 0.5 separates the training samples (C < 0.95; measured 0.594 at 0, 0.616 at
    0.5) and alpha = 0.9 reaches a training C above alpha = 0's (1.000, with a
    SeparationWarning). The literal eq.-5 model gave C 1.000 already at alpha = 0.334."""
    import desurv
    from data_registry.errors import DatasetNotAvailableError
    from desurv.exceptions import SeparationWarning

    try:
        ad = desurv.datasets.load("tcga_paad_3k")
    except DatasetNotAvailableError as exc:
        pytest.skip(f"TCGA-PAAD 3k not available here: {exc}")
    desurv.pp.log1p(ad)
    desurv.pp.filter_genes(ad, n_top=2000)
    desurv.pp.rank_transform(ad)
    X = np.asarray(ad.X, dtype=float) / ad.n_vars
    t, e = ad.obs["time"].to_numpy(float), ad.obs["event"].to_numpy(float)
    c = {}
    for alpha in (0.0, 0.334, 0.5, 0.9):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            m = DeSurv(3, alpha=alpha, n_init=10, random_state=0).fit(X, t, e)
        c[alpha] = m.train_cindex_
        separated = any(issubclass(w.category, SeparationWarning) for w in rec)
        assert separated == (m.train_cindex_ >= 0.99)
    assert max(c[0.0], c[0.334], c[0.5]) < 0.95
    assert c[0.9] > c[0.0]


def test_cv_alpha_takes_the_solver():
    """cv_alpha fits with the solver it is given ("hals" reaches other fits than the default
    "mu" on the same folds and starts); an unknown name is refused before any fit."""
    d = simulate(
        "primary", n_genes=300, n_markers=30, n_background=60, n_samples=90, random_state=3
    )
    X, t, e = d.X.loc[d.train].to_numpy(), d.time[d.train].to_numpy(), d.event[d.train].to_numpy()
    mu = cv_alpha(X, t, e, (0.5,), max_iter=100, random_state=1)
    hals = cv_alpha(X, t, e, (0.5,), max_iter=100, random_state=1, solver="hals")
    assert mu.fold_cindex[0] != hals.fold_cindex[0]
    with pytest.raises(ValueError, match="solver must be one of"):
        cv_alpha(X, t, e, (0.5,), solver="newton")
