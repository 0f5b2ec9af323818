"""Tests of desurv.pp.unlog (log scale -> linear) and the time-unit helpers of its module.

Real cohorts come from the shared registry mirror (``../shared/data`` next to the checkout);
those tests skip when it is not there.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import desurv.datasets as ds
from desurv import pp, tl
from desurv.exceptions import DataWarning
from desurv.pp._unlog import convert_time, parse_scale, time_unit

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PRINCE_RAW = SHARED / "pdac" / "prince" / "expression.csv.gz"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data at {SHARED}")
LOG2_FLOOR = np.log2(0.001)  # -9.965784...


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESURV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DESURV_LOCK_FILE", str(tmp_path / "lock.json"))
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(SHARED) if SHARED.is_dir() else "off")


def _toy(values: np.ndarray, value_scale: str | None = "log2(TPM + 0.001)") -> ad.AnnData:
    values = np.asarray(values)
    a = ad.AnnData(
        values,
        obs=pd.DataFrame(index=[f"s{i}" for i in range(values.shape[0])]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(values.shape[1])]),
    )
    if value_scale is not None:
        a.uns["value_scale"] = value_scale
    return a


def _tpm(seed: int = 0, shape: tuple[int, int] = (6, 5)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tpm = rng.gamma(0.5, 20.0, shape)
    tpm[rng.random(shape) < 0.3] = 0.0
    return tpm


# ----------------------------------------------------------------------------- real cohorts
@needs_shared
def test_prince_unlog_matches_2_pow_x_minus_offset_from_the_raw_file():
    a = ds.load("prince")
    assert a.uns["value_scale"].startswith("log2(TPM + 0.001)")
    raw = pd.read_csv(PRINCE_RAW, index_col=0)  # genes x samples, log2(TPM + 0.001)
    pp.unlog(a)
    genes = ["TSPAN6", "TNMD", "DPM1"]
    samples = list(raw.columns[:5])
    expected = 2.0 ** raw.loc[genes, samples].to_numpy().T - 0.001
    got = a[samples, genes].X
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-8)
    # the stored floor log2(0.001) ~ -9.96578 is TPM 0
    floor = raw.to_numpy().T == raw.to_numpy().min()
    assert floor.any() and np.all(a.X[floor] == 0.0)
    assert a.X.min() == 0.0 and a.X.dtype == np.float64
    rec = a.uns["unlog"]
    assert (rec["base"], rec["offset"], rec["layer"]) == (2.0, 0.001, "X")
    assert rec["form"] == "log2(TPM + 0.001)" and rec["source"] == "value_scale"
    assert rec["scale"].startswith("log2(TPM + 0.001)")
    assert a.uns["value_scale"] == (
        "TPM (linear scale, from log2(TPM + 0.001) by desurv.pp.unlog)"
    )
    assert list(a.uns["desurv_pp"]["steps"]) == ["unlog"]
    assert list(a.uns["desurv_pp"]["layers"]) == ["X"]


@needs_shared
def test_tcga_paad_3k_is_not_logged_so_unlog_changes_nothing(caplog):
    a = ds.load("tcga_paad_3k")
    X0, uns0 = a.X.copy(), set(a.uns)
    with caplog.at_level(logging.INFO, logger="desurv"):
        assert pp.unlog(a) is None
    assert "not logged" in caplog.text
    np.testing.assert_array_equal(a.X, X0)
    assert set(a.uns) == uns0 and "unlog" not in a.uns and "desurv_pp" not in a.uns
    out = pp.unlog(a, copy=True)
    assert out is not a and "unlog" not in out.uns


@needs_shared
@pytest.mark.parametrize("cid", ["imvigor210_bladder_site", "tcga_blca_hypoxia"])
def test_registry_records(cid):
    a = ds.load(cid)
    if cid == "tcga_blca_hypoxia":
        # "log2 normalized RNA-seq (..., consistent with log2(RSEM+1))": the offset is a
        # guess of the curator, not a statement at the start of the record
        with pytest.raises(ValueError, match=r"consistent with.*scale=\"log2\(x\+1\)\""):
            pp.unlog(a)
        pp.unlog(a, scale="log2(x+1)")
        assert a.uns["unlog"]["source"] == "argument"
    else:
        X0 = a.X.copy()
        pp.unlog(a)
        np.testing.assert_allclose(a.X, np.clip(2.0**X0 - 0.001, 0, None), atol=1e-8)
    assert a.X.min() >= 0


@needs_shared
def test_unlog_then_log1p_is_scored_like_the_training_cohort():
    train, new = ds.load("prince"), ds.load("imvigor210_bladder_site")
    genes = train.var_names.intersection(new.var_names)
    var = pd.Series(train[:, genes].X.var(axis=0), index=genes)
    genes = var.sort_values().index[-60:]
    train, new = train[:, genes].copy(), new[:, genes].copy()
    raw_new = new.copy()
    for a in (train, new):
        pp.unlog(a)
        pp.log1p(a)
    assert list(train.uns["desurv_pp"]["steps"]) == ["unlog", "log1p"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fit: convergence is not the point here
        tl.fit(train, n_components=2, alpha=0.3, max_iter=80, n_init=1, random_state=0)
    assert np.any(train.uns["desurv"]["beta"] != 0)
    assert list(train.uns["desurv"]["preprocessing"]["steps"]) == ["unlog", "log1p"]
    W, beta = train.varm["desurv_W"], train.uns["desurv"]["beta"]
    # the training cohort itself: nothing repeated, its stored risk back
    again = tl.score(train, train, copy=True, key_added="again")
    np.testing.assert_allclose(again.obs["again_risk"], train.obs["desurv_risk"], rtol=1e-10)
    assert list(again.uns["again_score"]["preprocessing"]) == []
    # a validation cohort after unlog + log1p: already logged, scored on its values
    tl.score(new, train)
    assert list(new.uns["desurv_score"]["preprocessing"]) == []
    np.testing.assert_allclose(new.obs["desurv_risk"], new.X @ W @ beta, rtol=1e-10)
    # after unlog only: tl.score applies the training log1p itself, same risk
    linear = raw_new.copy()
    pp.unlog(linear)
    tl.score(linear, train)
    assert list(linear.uns["desurv_score"]["preprocessing"]) == ["log1p"]
    np.testing.assert_allclose(linear.obs["desurv_risk"], new.obs["desurv_risk"], rtol=1e-10)
    # still log2(TPM + 0.001) (negative values): tl.score refuses, unlog is not replayed
    with pytest.raises(ValueError, match="negative values"):
        tl.score(raw_new, train)


# ----------------------------------------------------------------------------- explicit scales
@pytest.mark.parametrize(
    ("scale", "forward", "inverse"),
    [
        ("log2(x+0.001)", lambda t: np.log2(t + 0.001), lambda x: 2**x - 0.001),
        ("log2(x+1)", lambda t: np.log2(t + 1), lambda x: 2**x - 1),
        ("log2", lambda t: np.log2(t + 1.5), lambda x: 2**x),
        ("ln(x+1)", np.log1p, np.expm1),
        ("log1p", np.log1p, np.expm1),
        ("log10(x+1)", lambda t: np.log10(t + 1), lambda x: 10**x - 1),
        ("Log2(TPM + 1e-3)", lambda t: np.log2(t + 0.001), lambda x: 2**x - 0.001),
    ],
)
def test_explicit_scales(scale, forward, inverse):
    tpm = _tpm()
    a = _toy(forward(tpm), value_scale=None)
    pp.unlog(a, scale=scale)
    np.testing.assert_allclose(a.X, np.clip(inverse(forward(tpm)), 0, None), atol=1e-12)
    assert a.uns["unlog"]["scale"] == scale and a.uns["unlog"]["source"] == "argument"


def test_parse_scale_forms():
    assert (parse_scale("log2").base, parse_scale("log2").offset) == (2.0, 0.0)
    s = parse_scale("log2(RSEM normalized count + 1)")
    assert (s.base, s.offset, s.quantity) == (2.0, 1.0, "RSEM normalized count")
    assert parse_scale("log2(1 + x)").offset == 1.0
    assert parse_scale("ln").base == pytest.approx(np.e)
    for bad in ("sqrt(x)", "log2(x-1)", "log2(x+1) per gene", "counts", ""):
        with pytest.raises(ValueError, match="accepted forms"):
            parse_scale(bad)
    with pytest.raises(ValueError, match="ambiguous"):
        parse_scale("log(x+1)")


def test_explicit_scale_overrides_a_not_logged_record_with_a_warning():
    a = _toy(np.log2(_tpm() + 1), value_scale="counts, not logged")
    with pytest.warns(DataWarning, match="not logged"):
        pp.unlog(a, scale="log2(x+1)")
    assert "unlog" in a.uns


def test_explicit_scale_that_contradicts_the_record_warns():
    a = _toy(np.log2(_tpm() + 1), value_scale="log2(TPM + 0.001)")
    with pytest.warns(DataWarning, match="differs from"):
        pp.unlog(a, scale="log2(x+1)")
    b = _toy(np.log2(_tpm() + 1), value_scale="log(x+1) of counts")
    with pytest.raises(ValueError, match=r"value_scale.*'log' without a base is ambiguous"):
        pp.unlog(b)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        pp.unlog(b, scale="log2(x+1)")


def test_layer_and_copy():
    tpm = _tpm()
    a = _toy(np.log2(tpm + 0.001))
    a.layers["log"] = a.X.copy()
    out = pp.unlog(a, layer="log", copy=True)
    assert "unlog" not in a.uns
    np.testing.assert_allclose(out.layers["log"], tpm, atol=1e-9)
    np.testing.assert_array_equal(out.X, a.X)  # X untouched
    assert out.uns["unlog"]["layer"] == "log"
    assert out.uns["value_scale"] == "log2(TPM + 0.001)"  # it describes X, still logged
    pp.unlog(out)
    assert list(out.uns["unlog"]["layers"]) == ["X", "log"]
    # value_scale now describes the unlogged X: it tells nothing about another layer
    out.layers["log2"] = a.X.copy()
    with pytest.raises(ValueError, match=r"describes adata.X.*scale=\"log2\(TPM \+ 0.001\)\""):
        pp.unlog(out, layer="log2")
    assert list(out.uns["desurv_pp"]["layers"]) == ["log", "X"]
    with pytest.raises(KeyError, match="does not exist"):
        pp.unlog(a, layer="nope")


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "record",
    [
        "log2 RMA (series matrix VALUE)",
        "as exported from IMvigor210CoreBiologies (raw counts or log2 TPM)",
        "log2 normalized RNA-seq (values ~0..17, consistent with log2(RSEM+1)); non-negative",
    ],
)
def test_unknown_scale_text_is_refused_quoting_it(record):
    a = _toy(np.log2(_tpm() + 1), value_scale=record)
    with pytest.raises(ValueError) as err:
        pp.unlog(a)
    msg = str(err.value)
    assert repr(record) in msg and 'scale="log2(x+1)"' in msg and 'scale="log2"' in msg
    assert "unlog" not in a.uns


def test_missing_record_is_refused():
    a = _toy(np.log2(_tpm() + 1), value_scale=None)
    with pytest.raises(ValueError, match=r"no 'value_scale' record.*scale=\"log2\(x\+1\)\""):
        pp.unlog(a)


def test_unlog_twice_is_refused_also_after_an_explicit_scale():
    a = _toy(np.log2(_tpm() + 0.001))
    pp.unlog(a)
    X1 = a.X.copy()
    with pytest.raises(ValueError, match="already unlogged"):
        pp.unlog(a)
    with pytest.raises(ValueError, match="already unlogged"):
        pp.unlog(a, scale="log2(x+1)")
    np.testing.assert_array_equal(a.X, X1)


def test_unlog_after_log1p_is_refused():
    a = _toy(np.log2(_tpm() + 1))
    pp.unlog(a, copy=True)  # fine before
    b = _toy(_tpm(), value_scale="TPM, not logged")
    pp.log1p(b)
    with pytest.raises(ValueError, match=r"already transformed by \['log1p'\]"):
        pp.unlog(b, scale="ln(x+1)")


def test_clearly_negative_results_are_refused_with_their_count():
    x = np.log2(_tpm() + 0.001)
    x[0, :3] = np.log2(0.0001)  # below log2(0.001): data with a smaller offset than said
    a = _toy(x)
    with pytest.raises(ValueError, match=r"3 values would be clearly negative"):
        pp.unlog(a)
    assert "unlog" not in a.uns
    np.testing.assert_array_equal(a.X, x)


def test_rounding_below_zero_becomes_zero():
    # log2(0.001) stored with 4 decimals is below the exact floor: -1.1e-8 TPM -> 0
    x = np.array([[-9.9658, -9.96578, LOG2_FLOOR, 1.0]])
    a = _toy(x)
    pp.unlog(a)
    np.testing.assert_array_equal(a.X[0, :3], 0.0)
    assert a.X[0, 3] == pytest.approx(2 - 0.001)


def test_linear_values_overflow_and_missing_values_are_refused():
    a = _toy(np.array([[1.0, 5e6]]))
    with pytest.raises(ValueError, match="overflow.*do not look log-scaled"):
        pp.unlog(a)
    b = _toy(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="missing or infinite"):
        pp.unlog(b)


# ----------------------------------------------------------------------------- dtypes, sparse
def test_float32_is_kept():
    a = _toy(np.log2(_tpm() + 0.001).astype(np.float32))
    pp.unlog(a)
    assert a.X.dtype == np.float32
    np.testing.assert_allclose(a.X, _tpm(), rtol=1e-5, atol=1e-5)


def test_integer_input_becomes_float64():
    a = _toy(np.array([[0, 1, 3]], dtype=np.int64), value_scale="log2(x + 1)")
    pp.unlog(a)
    assert a.X.dtype == np.float64
    np.testing.assert_array_equal(a.X, [[0.0, 1.0, 7.0]])  # 2**x - 1, exact


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_is_kept_when_zeros_map_to_zero(fmt):
    tpm = _tpm()
    X = sparse.csr_matrix(np.log2(tpm + 1).astype(np.float32)).asformat(fmt)
    a = _toy(np.zeros(tpm.shape), value_scale="log2(RSEM normalized count + 1) (Xena)")
    a.X = X
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        pp.unlog(a)
    assert sparse.issparse(a.X) and a.X.format == fmt and a.X.dtype == np.float32
    assert a.X.nnz == X.nnz
    np.testing.assert_allclose(a.X.toarray(), tpm, rtol=1e-5, atol=1e-5)
    assert a.uns["value_scale"].startswith("RSEM normalized count (linear scale")


def test_sparse_is_made_dense_with_a_warning_when_zeros_do_not_map_to_zero():
    x = np.log2(_tpm() + 0.001)
    x[x < 0] = 0.0  # a sparse log matrix: its zeros are log values, 2**0 - 0.001 = 0.999
    a = _toy(np.zeros(x.shape))
    a.X = sparse.csr_matrix(x)
    with pytest.warns(DataWarning, match="stored dense"):
        pp.unlog(a)
    assert isinstance(a.X, np.ndarray)
    np.testing.assert_allclose(a.X, 2**x - 0.001)


# ----------------------------------------------------------------------------- h5ad
def test_uns_record_survives_h5ad(tmp_path):
    a = _toy(np.log2(_tpm() + 0.001))
    a.layers["raw"] = a.X.copy()
    pp.unlog(a)
    pp.unlog(a, layer="raw", scale="log2(x+0.001)")
    path = tmp_path / "unlogged.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    rec = b.uns["unlog"]
    assert rec["layer"] == "raw" and rec["base"] == 2.0 and rec["offset"] == 0.001
    assert rec["form"] == "log2(x + 0.001)" and rec["scale"] == "log2(x+0.001)"
    assert sorted(rec["layers"]) == ["X", "raw"]
    assert b.uns["value_scale"] == a.uns["value_scale"]
    assert list(b.uns["desurv_pp"]["steps"]) == ["unlog", "unlog"]
    np.testing.assert_allclose(b.X, a.X)
    with pytest.raises(ValueError, match="already unlogged"):
        pp.unlog(b)
    with pytest.raises(ValueError, match="already unlogged"):
        pp.unlog(b, layer="raw")


# ----------------------------------------------------------------------------- time units
def test_time_unit_from_the_registry_units_record():
    a = _toy(np.zeros((3, 2)))
    assert time_unit(a) is None
    a.uns["units"] = {"time": "months", "time_original_unit": "days"}
    assert time_unit(a) == "months"
    a.uns["units"] = {"time": "Month"}
    assert time_unit(a) == "months"
    a.uns["units"] = {"time": "fortnights"}
    assert time_unit(a) is None


def test_time_unit_from_a_single_valued_obs_column():
    a = _toy(np.zeros((3, 2)))
    a.obs["time_unit"] = ["days", "Days", "d"]
    assert time_unit(a) == "days"
    a.obs["time_unit"] = ["days", "months", "days"]
    assert time_unit(a) is None  # mixed
    a.obs["time_unit"] = ["aeons"] * 3
    assert time_unit(a) is None
    a.obs["os_unit"] = ["years"] * 3
    assert time_unit(a, time_key="os") == "years"
    a.uns["units"] = {"time": "months"}
    a.obs["time_unit"] = ["days"] * 3  # the loader's record wins over a raw column
    assert time_unit(a) == "months"


@needs_shared
def test_time_unit_of_a_loaded_cohort_is_months():
    a = ds.load("tcga_blca_hypoxia")
    assert a.uns["units"]["time_original_unit"] == "days"
    assert time_unit(a) == "months"


def test_convert_time_months_days_with_the_registry_month():
    days = convert_time([1.0, 12.0, np.nan], "months", "days")
    np.testing.assert_allclose(days, [30.4375, 365.25, np.nan])
    np.testing.assert_allclose(convert_time(days, "days", "months"), [1.0, 12.0, np.nan])
    np.testing.assert_allclose(convert_time([2.0], "years", "mo"), [24.0])
    np.testing.assert_allclose(convert_time([14.0], "d", "weeks"), [2.0])
    v = np.array([3.0])
    out = convert_time(v, "days", "days")
    assert out is not v and out.dtype == np.float64
    with pytest.raises(ValueError, match="unknown time unit"):
        convert_time([1.0], "fortnights", "days")
