"""The consensus seed (the DeSurv paper's start for its final fits, R's desurv_consensus_seed):
recovery of planted programs, invariances, the similarity formula, R's counting rule and
tie-breaking, the NNLS H0, and the input errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import nnls
from sklearn.metrics import adjusted_rand_score

from desurv._core.cox import SurvivalData
from desurv._core.solver import Hyper, fit_batch, uniform_start
from desurv.selection import ConsensusSeed, consensus_seed, consensus_start
from desurv.selection._consensus_seed import _cut_tree, _hclust

P, N, K, BLOCK = 300, 60, 3, 40  # genes, samples, programs, marker genes per program


@pytest.fixture(scope="module")
def planted():
    """X = W_true H_true + noise, genes x samples, with K disjoint blocks of BLOCK markers
    (genes 0..BLOCK-1 in program 0, and so on); the other genes are low background."""
    rng = np.random.default_rng(2024)
    W = rng.uniform(0.0, 0.05, (P, K))
    block = np.full(P, -1)
    for j in range(K):
        rows = slice(j * BLOCK, (j + 1) * BLOCK)
        W[rows, j] = rng.uniform(0.8, 1.2, BLOCK)
        block[rows] = j
    H = rng.gamma(2.0, 1.0, (K, N))
    X = W @ H + np.abs(rng.normal(0.0, 0.02, (P, N)))
    time = rng.exponential(1.0, N)
    event = (rng.random(N) < 0.7).astype(float)
    event[0] = 1.0
    return X, W, H, block, time, event


def _check_recovers_blocks(seed: ConsensusSeed, block: np.ndarray) -> None:
    kept = seed.kept
    assert kept.sum() >= K
    assert (block[kept] >= 0).all(), "a background gene was kept"
    # every group is one planted block, and every block one group
    assert adjusted_rand_score(block[kept], seed.labels[kept]) > 0.999
    assert set(np.unique(seed.labels[kept])) == set(range(K))
    # W0's column argmax of each kept gene is its group, and each block maps to one column
    top = np.argmax(seed.W0[kept], axis=1)
    np.testing.assert_array_equal(top, seed.labels[kept])
    cols = {b: set(top[block[kept] == b]) for b in range(K)}
    assert all(len(c) == 1 for c in cols.values())
    assert len(set().union(*cols.values())) == K


def _perturbed_fits(W, rng, n_fits, noise=0.3, spikes=0):
    """Copies of W with multiplicative noise, columns permuted at random and scaled, and
    optionally a few background genes spiked to the top of a random column."""
    fits, spiked = [], []
    for _ in range(n_fits):
        Wf = W * rng.lognormal(0.0, noise, W.shape)
        for _ in range(spikes):
            g = int(rng.integers(K * BLOCK, P))
            Wf[g, int(rng.integers(K))] = 5.0
            spiked.append(g)
        Wf = Wf[:, rng.permutation(K)] * rng.uniform(0.1, 10.0, K)
        fits.append(Wf)
    return fits, np.unique(spiked)


def test_perturbed_copies_recover_the_planted_blocks(planted):
    X, W, H, block, _, _ = planted
    rng = np.random.default_rng(1)
    fits, spiked = _perturbed_fits(W, rng, 30, spikes=3)
    seed = consensus_seed(fits, K, n_top=25, min_fits=9)  # the paper's ceil(0.3 * n_fits)
    assert seed.n_fits == 30 and seed.n_sets == 90 and seed.W0.shape == (P, K)
    _check_recovers_blocks(seed, block)
    assert not seed.kept[spiked].any()
    # the noise makes the top sets vary: more markers are seen than fit in one set
    assert seed.kept.sum() > K * 25
    # genes not kept: label -1 and the R package's floor sqrt(eps) in every column
    np.testing.assert_array_equal(seed.labels[~seed.kept], -1)
    np.testing.assert_array_equal(seed.W0[~seed.kept], np.sqrt(np.finfo(float).eps))
    assert (seed.W0 > 0).all()
    # the start: H0 follows the planted H up to the matching of programs
    W0, H0, beta0 = consensus_start(X, seed)
    np.testing.assert_array_equal(beta0, np.zeros(K))
    match = [int(np.argmax(W0[block == b].sum(axis=0))) for b in range(K)]
    for b, j in enumerate(match):
        assert np.corrcoef(H0[j], H[b])[0, 1] > 0.95


def test_min_fits_filters_rare_genes(planted):
    _, W, _, block, _, _ = planted
    fits, spiked = _perturbed_fits(W, np.random.default_rng(1), 30, spikes=3)
    loose = consensus_seed(fits, K, n_top=25, min_fits=1)
    assert loose.kept[spiked].all()  # a gene in one top set is kept at min_fits = 1
    strict = consensus_seed(fits, K, n_top=25, min_fits=9)
    assert not strict.kept[spiked].any()
    np.testing.assert_array_equal(strict.kept, loose.frequency >= 9)


def test_real_fits_recover_the_planted_blocks(planted):
    X, _, _, block, time, event = planted
    W0, H0, b0 = uniform_start(X, K, np.random.default_rng(7), batch=10)
    res = fit_batch(
        X, SurvivalData.from_arrays(time, event), W0, H0, b0, Hyper(alpha=0.0), max_iter=300
    )
    seed = consensus_seed(res.W, K, n_top=25, min_fits=3)
    _check_recovers_blocks(seed, block)
    assert seed.n_fits == 10
    # same as a list of the fits' W
    again = consensus_seed(list(res.W), K, n_top=25, min_fits=3)
    np.testing.assert_array_equal(again.W0, seed.W0)


def test_invariant_to_factor_order_scale_and_fit_order(planted):
    _, W, _, _, _, _ = planted
    rng = np.random.default_rng(5)
    fits, _ = _perturbed_fits(W, rng, 12, noise=0.6)
    ref = consensus_seed(fits, K, n_top=30, min_fits=4)
    shuffled = [f[:, rng.permutation(K)] * rng.uniform(0.01, 100.0, K) for f in fits[::-1]]
    out = consensus_seed(shuffled, K, n_top=30, min_fits=4)
    for name in ("W0", "labels", "kept", "similarity", "frequency"):
        np.testing.assert_array_equal(getattr(out, name), getattr(ref, name), err_msg=name)


def test_similarity_is_the_jaccard_index_of_gene_sets():
    """Three fits of two factors on six genes; top-2 sets A0={0,1}, A1={2,3}; B0={0,2},
    B1={1,3}; C0={0,1}, C1={3,4}; gene 5 is in no set."""
    sets = [[(0, 1), (2, 3)], [(0, 2), (1, 3)], [(0, 1), (3, 4)]]
    fits = []
    for fit in sets:
        W = np.ones((6, 2))
        for j, genes in enumerate(fit):
            W[list(genes), j] = 2.0  # specificity 0.5 there, 0 or -0.5 elsewhere
        fits.append(W)
    seed = consensus_seed(fits, 2, n_top=2, min_fits=1)
    np.testing.assert_array_equal(seed.frequency, [3, 3, 2, 3, 1, 0])
    np.testing.assert_array_equal(seed.kept, [True] * 5 + [False])
    flat = [set(s) for fit in sets for s in fit]
    c = np.array([[sum(i in s and j in s for s in flat) for j in range(5)] for i in range(5)])
    f = np.diag(c)
    expected = c / (f[:, None] + f[None, :] - c)
    np.testing.assert_allclose(seed.similarity, expected, rtol=0, atol=1e-15)
    S = seed.similarity
    assert S[0, 1] == pytest.approx(2 / (3 + 3 - 2))  # together in A0 and C0
    assert S[0, 2] == pytest.approx(1 / (3 + 2 - 1))  # together in B0
    assert S[1, 3] == pytest.approx(1 / (3 + 3 - 1))  # B1
    assert S[3, 4] == pytest.approx(1 / (3 + 1 - 1))  # C1
    assert S[0, 3] == 0.0 and S[2, 4] == 0.0
    np.testing.assert_array_equal(np.diag(S), 1.0)
    # column j of W0: the mean similarity profile of group j (over the kept genes)
    # (zeros floored as in R: max(1e-6 * smallest positive entry, eps), here 1e-6 * sqrt(eps)
    # since gene 5, not kept, is at sqrt(eps))
    eps = np.finfo(float).eps
    np.testing.assert_array_equal(seed.W0[5], np.sqrt(eps))
    for j in range(2):
        profile = S[seed.labels[:5] == j].mean(axis=0)
        expected = np.where(profile > 0, profile, 1e-6 * np.sqrt(eps))
        np.testing.assert_allclose(seed.W0[:5, j], expected, rtol=1e-15, atol=0)
    assert (seed.W0[:5] == 1e-6 * np.sqrt(eps)).any()


def test_frequency_counts_gene_sets_not_fits():
    """R's rule: a gene in the top sets of two factors of one fit counts twice."""
    W = np.array([[4.0, 1.0], [3.0, 2.0], [2.0, 3.0], [1.0, 4.0]])
    # specificity: factor 0 ranks genes 0, 1, 2; factor 1 ranks genes 3, 2, 1
    one = consensus_seed([W], 2, n_top=3, min_fits=1)
    np.testing.assert_array_equal(one.frequency, [1, 2, 2, 1])
    two = consensus_seed([W, W], 2, n_top=3, min_fits=2)
    np.testing.assert_array_equal(two.frequency, [2, 4, 4, 2])
    assert two.frequency.max() > two.n_fits
    np.testing.assert_array_equal(two.kept, [True] * 4)


def test_top_genes_by_specificity_or_weight():
    # gene 0 is high in both factors: top by weight in each, specific to neither
    W = np.array([[10.0, 10.0], [8.0, 1.0], [1.0, 8.0], [1.0, 1.0]])
    spec = consensus_seed([W], 2, n_top=1, min_fits=1)
    np.testing.assert_array_equal(spec.frequency, [0, 1, 1, 0])
    weight = consensus_seed([W], 1, n_top=1, min_fits=1, method="weight")
    np.testing.assert_array_equal(weight.frequency, [2, 0, 0, 0])


def test_matches_the_r_package_on_a_tied_example():
    """Output of R's DeSurv::desurv_consensus_seed(fits, X, ntop = 4, k = 2,
    min_frequency = 3) (ayoung31/DeSurv R/consensus_seed.R, R 4.2.2) on these integer W.
    Two merges tie in the average-linkage tree; scipy's linkage breaks the tie the other way
    (gene 0 joins the other group), R's hclust as here."""
    W_list = [
        [[8, 0], [1, 2], [1, 8], [8, 5], [0, 0], [3, 4], [6, 4], [2, 1], [6, 7], [0, 1]],
        [[4, 3], [8, 5], [4, 4], [6, 5], [1, 7], [7, 9], [7, 2], [3, 6], [6, 6], [8, 2]],
        [[9, 0], [0, 9], [9, 2], [1, 3], [0, 8], [6, 5], [2, 4], [1, 7], [4, 0], [2, 7]],
        [[5, 3], [2, 0], [6, 6], [5, 9], [9, 2], [6, 6], [2, 2], [4, 7], [2, 7], [6, 2]],
    ]
    X = np.array(
        [[3, 8, 8, 6, 0], [6, 2, 8, 9, 4], [9, 7, 3, 8, 3], [1, 5, 8, 6, 3], [9, 4, 3, 1, 2],
         [6, 7, 2, 6, 8], [1, 2, 5, 5, 3], [3, 1, 6, 9, 1], [7, 1, 0, 7, 1], [7, 3, 5, 9, 9]],
        dtype=float,
    )  # fmt: skip
    r_W0 = np.array([
        0.32222222222222224, 0.18888888888888888, 0.4376984126984127, 0.15873015873015872,
        0.16269841269841268, 0.83333333333333337, 0.32777777777777778, 0.12222222222222222,
        0.41666666666666669, 0.12222222222222222, 0.12222222222222222, 0.75,
        1.4901161193847656e-08, 1.4901161193847656e-08, 0.37936507936507935,
        0.22222222222222221, 0.12222222222222222, 0.75, 0.46944444444444444,
        1.4901161193847656e-14,
    ]).reshape(10, 2)  # fmt: skip
    r_H0 = np.array([
        10.731223253955621, 7.3772955944291017, 15.352065194301181, 14.819738184800823,
        7.9492192295274275, 7.1218338357385971, 5.2953559843504578, 0, 6.4189901067718163,
        2.936140915671563,
    ]).reshape(2, 5)  # fmt: skip
    seed = consensus_seed(np.array(W_list, dtype=float), 2, n_top=4, min_fits=3)
    np.testing.assert_array_equal(seed.frequency, [3, 4, 4, 3, 3, 3, 2, 4, 3, 3])
    np.testing.assert_array_equal(seed.labels, [0, 0, 1, 0, 0, 1, -1, 0, 1, 0])  # R: 1 1 2 ...
    np.testing.assert_allclose(seed.W0, r_W0, rtol=1e-12, atol=0)
    W0, H0, _ = consensus_start(X, seed)
    np.testing.assert_allclose(H0, r_H0, rtol=1e-10, atol=1e-12)


def test_hclust_port_equals_scipy_without_ties():
    rng = np.random.default_rng(3)
    for method in ("average", "single", "complete"):
        for m in (2, 5, 30):
            A = rng.uniform(size=(m, m))
            D = np.triu(A, 1) + np.triu(A, 1).T
            ia, ib, height = _hclust(D, method)
            Z = linkage(D[np.triu_indices(m, 1)], method)
            np.testing.assert_allclose(np.sort(height), Z[:, 2], rtol=1e-12)
            for k in range(1, m + 1):
                mine = _cut_tree(ia, ib, m, k)
                assert adjusted_rand_score(mine, fcluster(Z, k, "maxclust")) == 1.0
                # numbered by first appearance, as R's cutree
                _, first = np.unique(mine, return_index=True)
                assert np.all(np.diff(first) > 0) and mine[0] == 0


def test_all_zero_distances_deal_genes_in_turn():
    """R: when all kept genes always co-occur the tree is skipped (rep(1:k, length.out))."""
    W = np.array([[2.0, 2.0], [2.0, 2.0], [1.0, 1.0], [1.0, 1.0]])
    seed = consensus_seed([W, W], 2, n_top=2, min_fits=1)
    np.testing.assert_array_equal(seed.labels, [0, 1, -1, -1])
    np.testing.assert_array_equal(seed.similarity, np.ones((2, 2)))


def test_consensus_start_is_exact_nnls(planted):
    X, W, _, block, _, _ = planted
    fits, _ = _perturbed_fits(W, np.random.default_rng(9), 8)
    names = [f"g{i}" for i in range(P)]
    seed = consensus_seed(fits, K, n_top=25, min_fits=3, gene_names=names)
    assert seed.gene_names == tuple(names) and seed.n_components == K
    W0, H0, beta0 = consensus_start(X, seed)
    assert W0.shape == (P, K) and H0.shape == (K, N) and beta0.shape == (K,)
    np.testing.assert_array_equal(W0, seed.W0)
    W0[0, 0] = 123.0  # a copy: the seed is untouched
    assert seed.W0[0, 0] != 123.0
    for i in range(N):
        np.testing.assert_allclose(H0[:, i], nnls(seed.W0, X[:, i])[0], rtol=1e-9, atol=1e-12)
    assert (H0 >= 0).all()
    # an X with a zero sample: NNLS gives exact zeros, which h_floor lifts
    Xz = X.copy()
    Xz[:, 0] = 0.0
    _, Hz, _ = consensus_start(Xz, seed)
    np.testing.assert_array_equal(Hz[:, 0], 0.0)
    _, Hf, _ = consensus_start(Xz, seed, h_floor=1e-6)
    np.testing.assert_array_equal(Hf[:, 0], 1e-6)
    np.testing.assert_array_equal(Hf[:, 1:], np.maximum(Hz[:, 1:], 1e-6))
    # a DataFrame indexed by gene is aligned to the seed's genes
    import pandas as pd

    df = pd.DataFrame(X, index=names)
    _, Hdf, _ = consensus_start(df.iloc[::-1], seed)
    np.testing.assert_allclose(Hdf, H0, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="lacks 1 of the seed's genes"):
        consensus_start(df.iloc[1:], seed)


def test_seed_arrays_are_read_only(planted):
    _, W, _, _, _, _ = planted
    seed = consensus_seed([W, W], K, n_top=10, min_fits=2)
    with pytest.raises(ValueError, match="read-only"):
        seed.W0[0, 0] = 1.0


# ---- errors --------------------------------------------------------------------------------


def _simple_fits(n_fits=3):
    rng = np.random.default_rng(0)
    return [rng.uniform(size=(20, 3)) for _ in range(n_fits)]


def test_error_empty_list():
    with pytest.raises(ValueError, match="W_list is empty"):
        consensus_seed([], 2, n_top=5, min_fits=1)


def test_error_mismatched_genes():
    fits = _simple_fits()
    fits[1] = fits[1][:-1]
    with pytest.raises(ValueError, match=r"W_list\[1\] has 19 genes .* W_list\[0\] has 20"):
        consensus_seed(fits, 2, n_top=5, min_fits=1)


def test_error_single_matrix():
    with pytest.raises(ValueError, match="single 2-D array"):
        consensus_seed(_simple_fits()[0], 2, n_top=5, min_fits=1)


@pytest.mark.parametrize("n_top", [0, 21, 2.5])
def test_error_n_top_out_of_range(n_top):
    with pytest.raises(ValueError, match="n_top must be an integer between 1 and .* p = 20"):
        consensus_seed(_simple_fits(), 2, n_top=n_top, min_fits=1)


def test_error_min_fits_above_number_of_fits():
    with pytest.raises(ValueError, match=r"min_fits=4 exceeds the number of fits \(3\)"):
        consensus_seed(_simple_fits(), 2, n_top=5, min_fits=4)
    with pytest.raises(ValueError, match="min_fits must be an integer >= 1"):
        consensus_seed(_simple_fits(), 2, n_top=5, min_fits=0)


def test_error_too_few_kept_genes():
    # each fit's top-1 genes are other genes: no gene is in 2 sets
    fits = []
    for i in range(3):
        W = np.full((9, 3), 0.1)
        W[[3 * i, 3 * i + 1, 3 * i + 2], [0, 1, 2]] = 1.0
        fits.append(W)
    with pytest.raises(ValueError, match=r"only 0 genes .* lower min_fits"):
        consensus_seed(fits, 3, n_top=1, min_fits=2)
    assert consensus_seed(fits, 3, n_top=1, min_fits=1).kept.sum() == 9


def test_error_negative_or_nonfinite_loadings():
    fits = _simple_fits()
    fits[2][4, 1] = -0.5
    with pytest.raises(ValueError, match=r"W_list\[2\] has 1 negative values"):
        consensus_seed(fits, 2, n_top=5, min_fits=1)
    fits[2][4, 1] = np.nan
    with pytest.raises(ValueError, match=r"W_list\[2\] has 1 non-finite"):
        consensus_seed(fits, 2, n_top=5, min_fits=1)
    fits[2][:] = 0.0
    with pytest.raises(ValueError, match=r"W_list\[2\] is all zero"):
        consensus_seed(fits, 2, n_top=5, min_fits=1)


def test_error_n_components():
    with pytest.raises(ValueError, match="exceeds the rank of the fits"):
        consensus_seed(_simple_fits(), 4, n_top=5, min_fits=1)
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        consensus_seed(_simple_fits(), 0, n_top=5, min_fits=1)


def test_error_gene_names_length():
    with pytest.raises(ValueError, match="gene_names has 3 names"):
        consensus_seed(_simple_fits(), 2, n_top=5, min_fits=1, gene_names=["a", "b", "c"])


def test_errors_of_consensus_start():
    seed = consensus_seed(_simple_fits(), 2, n_top=5, min_fits=1)
    X = np.random.default_rng(1).uniform(size=(20, 6))
    with pytest.raises(ValueError, match=r"samples x genes: pass X\.T"):
        consensus_start(X.T, seed)
    Xn = X.copy()
    Xn[3, 2] = -1.0
    with pytest.raises(ValueError, match="negative values"):
        consensus_start(Xn, seed)
    Xn[3, 2] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        consensus_start(Xn, seed)
    with pytest.raises(ValueError, match="h_floor must be a finite number >= 0"):
        consensus_start(X, seed, h_floor=-1.0)
    with pytest.raises(TypeError, match="ConsensusSeed"):
        consensus_start(X, seed.W0)
