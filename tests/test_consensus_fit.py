"""desurv.selection.consensus_fit: many fits, their consensus seed, one final fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from desurv.exceptions import DeSurvWarning
from desurv.selection import consensus_fit


def _planted(seed=0, p=240, n=80, k=3, block=40):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0, 0.05, (p, k))
    truth = np.full(p, -1)
    for j in range(k):
        W[j * block : (j + 1) * block, j] += rng.uniform(1, 2, block)
        truth[j * block : (j + 1) * block] = j
    H = rng.gamma(2.0, 1.0, (k, n))
    X = W @ H + rng.uniform(0, 0.05, (p, n))
    risk = H[0] / H[0].std()
    time = rng.exponential(np.exp(-risk))
    event = (rng.random(n) < 0.8).astype(float)
    return X.T, time, event, truth


def test_consensus_fit_recovers_the_planted_programs_and_repeats_with_a_seed():
    X, t, e, truth = _planted()
    kw = dict(n_components=3, n_top=30, n_fits=12, alpha=0.3, max_iter=200, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        model, seed = consensus_fit(X, t, e, **kw)
        again, _ = consensus_fit(X, t, e, **kw)
    markers = truth >= 0
    # every planted block is one factor of the final fit
    assert adjusted_rand_score(truth[markers], model.W_[markers].argmax(axis=1)) > 0.95
    # the seed keeps (nearly) only marker genes, about n_top per block
    assert seed.n_fits == 12 and seed.kept[markers].sum() >= 75 and seed.kept[~markers].sum() <= 5
    np.testing.assert_array_equal(model.W_, again.W_)


def test_consensus_fit_checks_its_arguments():
    X, t, e, _ = _planted()
    with pytest.raises(ValueError, match="n_fits"):
        consensus_fit(X, t, e, n_fits=1)
    with pytest.raises(ValueError, match="solver"):
        consensus_fit(X, t, e, n_fits=3, solver="nope")


def _adata(X, t, e):
    import anndata as ad
    import pandas as pd

    obs = pd.DataFrame({"time": t, "event": e}, index=[f"s{i}" for i in range(len(t))])
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))


def test_tl_fit_consensus_init_is_consensus_fit_written_as_tl_fit(tmp_path):
    """tl.fit(init="consensus") writes the model consensus_fit makes (bitwise) under the keys
    of tl.fit, with the seed's record; it survives an h5ad round trip and tl.score reads it."""
    import anndata as ad

    import desurv

    X, t, e, truth = _planted()
    kw = dict(n_top=30, n_fits=12, alpha=0.3, max_iter=200, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        model, seed = consensus_fit(X, t, e, n_components=3, **kw)
        adata = _adata(X, t, e)
        desurv.tl.fit(
            adata, n_components=3, init="consensus", consensus_n_fits=12, consensus_n_top=30,
            alpha=0.3, max_iter=200, random_state=1,
        )  # fmt: skip
    np.testing.assert_array_equal(adata.varm["desurv_W"], model.W_)
    np.testing.assert_array_equal(adata.uns["desurv"]["beta"], model.coef_)
    rec = adata.uns["desurv"]
    assert rec["init"] == "consensus"
    cons = rec["consensus"]
    assert cons["n_fits"] == 12 and cons["n_top"] == 30 and cons["min_fits"] == seed.min_fits
    assert cons["n_kept"] == int(seed.kept.sum())
    np.testing.assert_array_equal(cons["labels"], seed.labels)
    path = tmp_path / "m.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert back.uns["desurv"]["init"] == "consensus"
    np.testing.assert_array_equal(back.uns["desurv"]["consensus"]["frequency"], seed.frequency)
    new = _adata(X[:20], t[:20], e[:20])
    desurv.tl.score(new, back)
    np.testing.assert_allclose(new.obs["desurv_risk"], adata.obs["desurv_risk"][:20], rtol=1e-10)
    # a random-start fit says so, and an unknown init is refused
    other = _adata(X, t, e)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeSurvWarning)
        desurv.tl.fit(other, n_components=3, alpha=0.3, max_iter=50, n_init=2, random_state=1)
    assert other.uns["desurv"]["init"] == "random" and "consensus" not in other.uns["desurv"]
    with pytest.raises(ValueError, match="init must be"):
        desurv.tl.fit(other, n_components=3, init="nndsvd")
