"""desurv.datasets: every shared cohort through the mirror, archive formats end to end, CLI.

The shared cohorts are read from ``../shared/data`` (never copied); each load is checked
against the folder's own ``summary.json``. Archive entries (GEO, ArrayExpress, Xena,
cBioPortal, ICGC) are loaded end to end from a temporary mirror holding the small fixture files
of ``tests/data/registry/`` under the registry's file names.
"""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import desurv.datasets as ds
from data_registry.errors import (
    AccessRestrictedError,
    DatasetNotAvailableError,
    HashMismatchError,
    MalformedFileError,
    UnknownDatasetError,
)
from data_registry.registry import load_registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIX = Path(__file__).resolve().parent / "data" / "registry"
DAYS_PER_MONTH = 365.25 / 12

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no shared data at {SHARED}")
TIDY = [e.id for e in load_registry().values()
        if e.format == "tidy" and (SHARED / (e.mirror or "") / "summary.json").is_file()]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESURV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DESURV_LOCK_FILE", str(tmp_path / "lock.json"))
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(SHARED) if SHARED.is_dir() else "off")


# ----------------------------------------------------------------------------- shared cohorts

@needs_shared
def test_all_shared_cohort_folders_are_covered() -> None:
    assert len(TIDY) == len(list(SHARED.rglob("summary.json"))) == 17


@needs_shared
@pytest.mark.parametrize("cid", TIDY)
def test_shared_cohort_loads_through_mirror_as_in_its_summary(cid: str) -> None:
    entry = load_registry()[cid]
    summary = json.loads((SHARED / entry.mirror / "summary.json").read_text())
    adata = ds.load(cid, download=False)
    assert adata.shape == (summary["n_samples"], summary["n_genes"])
    assert adata.var_names.is_unique and adata.obs_names.is_unique
    assert list(adata.var_names[:5]) == summary["gene_id_example"]
    obs = adata.obs
    assert list(obs.columns[:3]) == ["time", "event", "cohort"]
    assert (obs["cohort"] == cid).all()
    with_surv = obs["time"].notna() & obs["event"].notna()
    assert int(with_surv.sum()) == summary["n_with_survival"]
    assert int(obs["event"].sum()) == summary["n_events"]
    assert set(obs["event"].dropna().unique()) <= {0, 1}
    factor = 1.0 if summary["time_unit"] == "months" else 1.0 / DAYS_PER_MONTH
    assert summary["time_unit"] in ("months", "days")
    assert obs["time"].max() == pytest.approx(summary["time_max"] * factor, rel=1e-9)
    assert obs["time"].median() == pytest.approx(summary["time_median"] * factor, rel=1e-9)
    assert adata.uns["units"]["time"] == "months"
    assert adata.uns["units"]["time_original_unit"] == summary["time_unit"]
    assert adata.uns["value_scale"] == summary["scale"]
    x = np.asarray(adata.X)
    assert np.nanmax(x) == pytest.approx(summary["value_max"], rel=1e-5)  # csv keeps 6 digits
    assert np.nanmin(x) == pytest.approx(summary["value_min"], rel=1e-5)
    prov = adata.uns["provenance"]
    assert prov["licence"] == summary["license"] and prov["cohort"] == cid
    assert set(prov["files"]) == {"expression.csv.gz", "clinical.csv"}
    assert all(len(f["sha256"]) == 64 for f in prov["files"].values())


@needs_shared
def test_loaded_cohorts_write_to_h5ad(tmp_path: Path) -> None:
    import anndata as ad

    a = ds.load("tcga_blca_hypoxia")  # one sample without survival: nullable event
    assert str(a.obs["event"].dtype) == "Int64"
    a.write_h5ad(tmp_path / "blca.h5ad")
    b = ad.read_h5ad(tmp_path / "blca.h5ad")
    assert b.shape == a.shape and b.uns["units"]["time_original_unit"] == "days"
    sha = a.uns["provenance"]["files"]["clinical.csv"]["sha256"]
    assert b.uns["provenance"]["files"]["clinical.csv"]["sha256"] == sha
    c = ds.load("pdatk_pcsi", survival_only=True)
    assert c.n_obs == 117 and c.obs["event"].dtype == np.int64


@needs_shared
def test_list_and_info() -> None:
    table = ds.list()
    assert table.index.is_unique and "moffitt_gse71729" in table.index
    assert table.loc["prince", "available"] == "mirror"
    assert table.loc["tcga_paad", "available"] == "download"
    assert table.loc["linehan", "available"] == "unavailable"
    assert set(ds.list(cancer="bladder").index) == {
        "imvigor210", "tcga_blca", "imvigor210_bladder_site", "imvigor210_other_sites",
        "tcga_blca_hypoxia"}
    assert set(ds.list(role="training").index) == {"tcga_paad", "tcga_paad_3k"}
    i = ds.info("prince")
    assert i["available"] == "mirror" and i["files"][0]["path"].endswith("expression.csv.gz")
    assert i["files"][0]["sha256_from"] == "registry"
    j = ds.info("tcga_paad")
    assert j["files"][0]["url"].startswith("https://cbioportal-datahub")
    assert j["files"][0]["sha256"] == "unknown"


def test_unknown_id_lists_closest() -> None:
    with pytest.raises(UnknownDatasetError, match="closest ids: .*pdatk_pcsi"):
        ds.load("pdatk_pcsii")
    with pytest.raises(TypeError):
        ds.load(42)  # type: ignore[arg-type]


def test_no_mirror_no_cache_no_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DESURV_DATA_MIRROR", "off")
    with pytest.raises(DatasetNotAvailableError) as err:
        ds.load("moffitt_gse71729", download=False)
    msg = str(err.value)
    assert "'moffitt_gse71729'" in msg and "GSE71729_series_matrix.txt.gz" in msg
    assert "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE71nnn/GSE71729/matrix/" in msg
    assert str(tmp_path / "cache" / "moffitt_gse71729") in msg
    with pytest.raises(AccessRestrictedError, match="study authors"):
        ds.load("linehan")


# ----------------------------------------------------------------------------- archive formats

def _mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str,
            files: dict[str, Path | bytes]) -> Path:
    root = tmp_path / "mirror"
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        data = src if isinstance(src, bytes) else src.read_bytes()
        (d / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(root))
    return d


def test_geo_cohort_with_channel_2_selection_and_whitelist(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    _mirror(tmp_path, monkeypatch, "pdac/moffitt_gse71729",
            {"GSE71729_series_matrix.txt.gz": FIX / "geo" / "GSE71729_mini_series_matrix.txt"})
    a = ds.load("moffitt_gse71729", download=False)
    assert list(a.obs_names) == ["GSM1844112", "GSM1844113", "GSM1844114"]  # no metastasis
    assert a.obs["time"].tolist() == [7.4, 21.03, 15.0]  # already months
    assert a.obs["event"].tolist() == [1, 0, 1] and a.obs["event"].dtype == np.int64
    assert a.uns["selection"]["n_before"] == 4 and a.uns["selection"]["n_after"] == 3
    assert a.uns["selection"]["whitelist"] == "moffitt_gse71729"
    all_ = ds.load("moffitt_gse71729", apply_selection=False)
    assert all_.n_obs == 4 and np.isnan(all_.obs.loc["GSM1843893", "time"])
    assert np.isnan(a[:, "GATA6"].X[1, 0])  # GEO null stays missing
    all_.write_h5ad(tmp_path / "moffitt.h5ad")  # NaN-bearing characteristics are writable


def test_geo_probe_cohort_maps_and_collapses_probes(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _mirror(tmp_path, monkeypatch, "colorectal/gse17536", {
        "GSE17536_series_matrix.txt.gz": FIX / "geo" / "GSE17536_mini_series_matrix.txt",
        "GPL570.annot.gz": FIX / "geo" / "GPL570_mini.annot"})
    a = ds.load("gse17536", download=False)
    assert list(a.var_names) == ["RFC2", "HSPA6", "PAX8", "GUCA1A"]
    # PAX8 has probes 121_at (mean 7.4) and 1294_at (mean 6.5): max_mean keeps 121_at
    assert a[:, "PAX8"].X.ravel().tolist() == [7.7, 7.1, 7.4]
    assert a.uns["gene_mapping"]["n_unmapped"] == 2  # multi-symbol and control probes
    assert a.uns["gene_mapping"]["n_collapsed"] == 1
    assert a.obs["event"].tolist() == [0, 1, 1]  # "no death" / "death"
    assert a.obs["gender"].tolist() == ["male", "female", "female"]


def test_cbioportal_cohort_with_whitelist_on_15_characters(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    d = tmp_path / "mirror" / "pdac" / "tcga_paad" / "paad_tcga_pan_can_atlas_2018"
    shutil.copytree(FIX / "cbioportal" / "paad_mini_study", d)
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(tmp_path / "mirror"))
    a = ds.load("tcga_paad", download=False)
    # the whitelist holds TCGA-2J-AAB1-01A...; TCGA-ZZ-0001-01 is not in it
    assert list(a.obs_names) == ["TCGA-2J-AAB1-01", "TCGA-2J-AAB4-01", "TCGA-2J-AAB6-01"]
    assert a.obs["time"].tolist() == [2.17, 23.96, 9.72]
    assert a.obs["event"].tolist() == [1, 0, 1]
    assert a[:, "SMAD4"].X.ravel().tolist() == pytest.approx([850.5, 1007.5, 795.0])
    assert np.isnan(a[:, "TP53"].X[2, 0])
    assert a.obs["SEX"].tolist() == ["Male"] * 3
    a.write_h5ad(tmp_path / "tcga.h5ad")


def test_xena_cohort_primary_tumours_days_to_months(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _mirror(tmp_path, monkeypatch, "bladder/tcga_blca", {
        "HiSeqV2.gz": FIX / "xena" / "HiSeqV2_mini.tsv",
        "BLCA_clinicalMatrix": FIX / "xena" / "BLCA_clinicalMatrix_mini",
        "BLCA_survival.txt": FIX / "xena" / "BLCA_survival_mini.txt"})
    a = ds.load("tcga_blca", download=False)
    assert list(a.obs_names) == ["TCGA-2F-A9KO-01", "TCGA-2F-A9KP-01", "TCGA-2F-A9KQ-01"]
    assert a.obs["time"].to_numpy() == pytest.approx(np.array([734, 364, 2886]) * 12 / 365.25)
    assert a.obs["event"].tolist() == [1, 1, 0]
    assert a.uns["units"] == {"time": "months", "time_original_unit": "days",
                              "time_columns": ["OS.time"], "event_column": "OS",
                              "days_per_month": DAYS_PER_MONTH}
    assert a.obs.loc["TCGA-2F-A9KQ-01", "pathologic_stage"] == "Stage III"


def test_icgc_cohort_ensembl_map_one_sample_per_donor(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _mirror(tmp_path, monkeypatch, "pdac/paca_au_seq", {
        "exp_seq.PACA-AU.tsv.gz": FIX / "icgc" / "exp_seq.PACA-AU.mini.tsv",
        "donor.PACA-AU.tsv.gz": FIX / "icgc" / "donor.PACA-AU.mini.tsv",
        "gencode.v22.annotation.gene.probeMap": FIX / "xena" / "probeMap_mini"})
    a = ds.load("paca_au_seq", download=False)
    assert list(a.obs_names) == ["SA408414", "SA408530"]  # SA408415: same donor as SA408414
    assert list(a.var_names) == ["TP53", "KRAS", "TSPAN6"]  # versions stripped to match
    # alive donor: time from donor_interval_of_last_followup (1715 days)
    assert a.obs["time"].to_numpy() == pytest.approx(np.array([1715, 56]) / DAYS_PER_MONTH)
    assert a.obs["event"].tolist() == [0, 1]


def test_arrayexpress_cohort_sdrf_and_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    z = tmp_path / "p.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(FIX / "arrayexpress" / "processed_matrix.txt", "dijk_processed.txt")
    _mirror(tmp_path, monkeypatch, "pdac/dijk_emtab6830", {
        "E-MTAB-6830.processed.1.zip": z,
        "E-MTAB-6830.sdrf.txt": FIX / "arrayexpress" / "E-MTAB-0000.sdrf.txt",
        "gencode.v22.annotation.gene.probeMap": FIX / "xena" / "probeMap_mini"})
    a = ds.load("dijk_emtab6830", download=False)
    assert list(a.obs_names) == ["ERR2603466", "ERR2603467", "ERR2603468"]
    assert a.obs["event"].tolist() == [1, 1, 0]  # dead, dead, alive
    assert a.obs["time"].tolist() == [11.01, 12.29, 40.5]
    assert a.obs["Characteristics[sex]"].tolist() == ["male", "female", "female"]
    assert a[:, "PTEN"].X.ravel().tolist() == [15.2, 0.0, 22.8]


# ----------------------------------------------------------------------------- bad input

def _tidy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clinical: str,
          expression: str = "gene,1124-02-01,1124-02-02\nTP53,1,2\nKRAS,3,4\n") -> None:
    _mirror(tmp_path, monkeypatch, "pdac/linehan", {
        "expression.csv.gz": expression.encode(), "clinical.csv": clinical.encode()})


def test_tidy_clinical_rows_matching_no_sample(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _tidy(tmp_path, monkeypatch, "sample_id,time,event,time_unit\n1124-02-01,13,1,months\n"
          "1124-02-02,5,0,months\nX-1,3,1,months\nX-2,4,0,months\n")
    with pytest.raises(MalformedFileError, match=r"2 clinical row\(s\).*'X-1', 'X-2'.*4, 5"):
        ds.load("linehan")


def test_tidy_cohort_from_the_user_mirror_loads(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _tidy(tmp_path, monkeypatch, "sample_id,time,event,time_unit,grade\n"
          "1124-02-01,13,1.0,months,G2\n1124-02-02,10,0,weeks,G3\n")
    a = ds.load("linehan", apply_selection=False)
    assert a.obs["time"].tolist() == pytest.approx([13.0, 70 / DAYS_PER_MONTH])
    assert a.uns["units"]["time_original_unit"] == "mixed: months, weeks"
    assert a.obs["grade"].tolist() == ["G2", "G3"]


def test_bad_event_values_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tidy(tmp_path, monkeypatch, "sample_id,time,event,time_unit\n1124-02-01,13,yes,months\n"
          "1124-02-02,5,0,months\n")
    with pytest.raises(MalformedFileError, match=r"values other than 0/1.*'1124-02-01'"):
        ds.load("linehan")


@needs_shared
def test_mirror_file_with_wrong_hash_is_refused(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = SHARED / "pdac" / "pdatk_20gene" / "CHEN"
    d = tmp_path / "mirror" / "pdac" / "pdatk_20gene" / "CHEN"
    shutil.copytree(src, d)
    (d / "clinical.csv").write_text((src / "clinical.csv").read_text().replace("406.0", "407.0"))
    monkeypatch.setenv("DESURV_DATA_MIRROR", str(tmp_path / "mirror"))
    expected = next(f.sha256 for f in load_registry()["pdatk_chen"].files
                    if f.name == "clinical.csv")
    with pytest.raises(HashMismatchError) as err:
        ds.load("pdatk_chen")
    assert expected in str(err.value) and "left in place" in str(err.value)


# ----------------------------------------------------------------------------- CLI

@needs_shared
def test_cli_list_info_fetch(capsys: pytest.CaptureFixture[str]) -> None:
    from desurv.cli import main

    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "moffitt_gse71729" in out and "pdatk_zhang" in out
    assert main(["datasets", "info", "prince"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["id"] == "prince" and info["available"] == "mirror"
    assert main(["datasets", "fetch", "pdatk_chen"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[1] for ln in lines] == ["expression", "clinical"]
    assert main(["datasets", "info", "prinse"]) == 1
    assert "closest ids: prince" in capsys.readouterr().err
    assert main(["datasets", "fetch"]) == 2


def test_list_without_mirror_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESURV_DATA_MIRROR", "off")
    table = ds.list_datasets()
    assert isinstance(table, pd.DataFrame)
    assert (table.loc[TIDY, "available"] == "unavailable").all() if TIDY else True


def test_public_list_alias_does_not_leak_into_the_module() -> None:
    """``ds.list`` is ``ds.list_datasets``; inside the module the builtin is never reached
    through the shadowed name (annotations included: they resolve)."""
    import ast
    import inspect
    import typing

    assert ds.list is ds.list_datasets and "list" in ds.__all__
    for name in ds.__all__:
        typing.get_type_hints(getattr(ds, name))
    typing.get_type_hints(ds._cli)
    tree = ast.parse(inspect.getsource(ds))
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "list"]
    assert [type(n.ctx).__name__ for n in uses] == ["Store"]  # only `list = list_datasets`


def test_geo_supplementary_table_matched_through_sample_titles(tmp_path: Path) -> None:
    from dataclasses import replace

    from data_registry import assemble
    from data_registry.registry import FileSpec

    supp = tmp_path / "GSE71729_supp.txt.gz"
    supp.write_bytes(gzip.compress(
        b"gene\tPancreas_Primary_2\tPancreas_Primary_1\nKRT6A\t1\t2\nGATA6\t3\t4\n"))
    base = load_registry()["moffitt_gse71729"]
    extra = FileSpec("supplementary", "GSE71729_supp.txt.gz", None, None)
    entry = replace(base, files=(*base.files, extra))
    paths = {"series_matrix": [FIX / "geo" / "GSE71729_mini_series_matrix.txt"],
             "supplementary": [supp]}
    expr, clin, _ = assemble.read_cohort(entry, paths)
    assert list(expr.columns) == ["GSM1844113", "GSM1844112"]  # titles -> GSM ids
    assert len(clin) == 2  # series samples absent from the table are left out
    a = assemble.build_anndata(entry, expr, clin, None, [])
    assert a.obs["time"].tolist() == [21.03, 7.4]
    bad = tmp_path / "bad_supp.txt"
    bad.write_text("gene\tNo_Such_Title\nKRT6A\t1\n")
    with pytest.raises(MalformedFileError, match="'No_Such_Title'.* match no sample"):
        assemble.read_cohort(entry, {**paths, "supplementary": [bad]})


def test_subtype_tables_attach_by_sample_id():
    import anndata as _ad

    from desurv.exceptions import DataWarning

    names = ds.subtypes()
    assert "TCGA_PAAD" in names and "CPTAC" in names
    tab = ds.subtypes("TCGA_PAAD")
    assert {"PurIST", "DeCAF"} <= set(tab.columns) and tab.index.name == "sample_id"
    ids = list(tab.index[:3]) + ["not-a-sample"]
    a = _ad.AnnData(obs=pd.DataFrame(index=ids))
    with pytest.warns(DataWarning, match="1 of 4 samples are not in subtype table"):
        assert ds.add_subtypes(a, "TCGA_PAAD", "PurIST", prefix="st_") == 3
    assert list(a.obs["st_PurIST"].astype(object)[:3]) == list(tab["PurIST"][:3])
    assert pd.isna(a.obs["st_PurIST"].iloc[3])
    with pytest.raises(ValueError, match="no sample of the cohort is in subtype table"):
        ds.add_subtypes(_ad.AnnData(obs=pd.DataFrame(index=["x", "y"])), "TCGA_PAAD")
    with pytest.raises(KeyError, match="no column"):
        ds.add_subtypes(a, "TCGA_PAAD", "Bogus")
    with pytest.raises(KeyError, match="no subtype table"):
        ds.subtypes("Nowhere")


def test_unavailable_cohort_names_its_local_stand_in(monkeypatch):
    """When a cohort cannot be downloaded, the error says which mirror subset stands in."""
    def no_network(entry, f, **kw):
        raise DatasetNotAvailableError(f"cohort {entry.id!r}: the download failed.")

    monkeypatch.setattr(ds, "locate", no_network)
    with pytest.raises(DatasetNotAvailableError, match=r"A local stand-in exists: tcga_paad_3k"):
        ds.fetch("tcga_paad")
    with pytest.raises(DatasetNotAvailableError) as info:
        ds.fetch("cptac_pdac")  # no stand-in in the mirror: the message is unchanged
    assert "stand-in" not in str(info.value)
