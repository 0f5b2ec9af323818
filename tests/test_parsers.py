"""Parsers on small fixture files in the archives' exact formats (tests/data/registry/)."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data_registry import parsers
from data_registry.errors import MalformedFileError

FIX = Path(__file__).resolve().parent / "data" / "registry"


def _gz(src: Path, dst: Path) -> Path:
    with open(src, "rb") as fi, gzip.open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    return dst


# ----------------------------------------------------------------------------- GEO

def test_geo_series_matrix_two_channel_characteristics_quotes_and_null(tmp_path: Path) -> None:
    path = _gz(FIX / "geo" / "GSE71729_mini_series_matrix.txt",
               tmp_path / "GSE71729_series_matrix.txt.gz")
    expr, samples = parsers.parse_geo_series_matrix(path)
    assert expr.shape == (5, 4)
    assert list(expr.columns) == ["GSM1844112", "GSM1844113", "GSM1844114", "GSM1843893"]
    assert list(expr.index[:2]) == ["KRT6A", "GATA6"]  # quotes removed
    assert np.isnan(expr.loc["GATA6", "GSM1844113"])  # "null" -> NaN
    assert expr.loc["REG4", "GSM1843893"] == pytest.approx(3.10)
    assert list(samples.index) == list(expr.columns)
    # characteristics of channel 2 become columns named by their key
    assert samples["tissue type"].tolist() == ["Primary"] * 3 + ["Metastasis"]
    assert samples["survival_months"].tolist()[:3] == ["7.4", "21.03", "15"]
    assert samples["death_event_1death_0censor"].isna().tolist() == [False] * 3 + [True]
    assert samples.loc["GSM1843893", "title"] == "Liver_Met_1"
    assert samples["reference"].iloc[0] == "Stratagene Universal Human Reference"  # ch1


def test_geo_characteristics_keys_with_spaces_parentheses_semicolons() -> None:
    expr, samples = parsers.parse_geo_series_matrix(
        FIX / "geo" / "GSE17536_mini_series_matrix.txt")
    assert expr.shape == (7, 3)
    assert samples["overall_event (death from any cause)"].tolist() == [
        "no death", "death", "death"]
    assert samples["dss_event (disease specific survival; death from cancer)"].iloc[1] == "death"
    assert samples["overall survival follow-up time"].astype(float).tolist() == [64.8, 12.5, 3.9]


def test_geo_platform_annotation_drops_multi_and_empty_symbols() -> None:
    m = parsers.parse_id_map(FIX / "geo" / "GPL570_mini.annot", id_column="ID",
                             symbol_column="Gene symbol")
    assert "1007_s_at" not in m.index  # "DDR1 /// MIR4640" is ambiguous
    assert "AFFX-BioB-5_at" not in m.index  # control probe without symbol
    assert m["1053_at"] == "RFC2"
    assert (m == "PAX8").sum() == 2  # two probes for one gene: collapsing is done later


def test_geo_truncated_series_matrix_names_the_last_line(tmp_path: Path) -> None:
    lines = (FIX / "geo" / "GSE71729_mini_series_matrix.txt").read_text().splitlines()
    cut = tmp_path / "cut_series_matrix.txt"
    cut.write_text("\n".join(lines[:-3]) + "\n")  # drop two rows and the end marker
    n_kept = len(lines) - 3
    with pytest.raises(MalformedFileError, match=rf"table_end.*truncated after line {n_kept};"):
        parsers.parse_geo_series_matrix(cut)


def test_geo_truncated_gzip_stream(tmp_path: Path) -> None:
    full = _gz(FIX / "geo" / "GSE17536_mini_series_matrix.txt", tmp_path / "full.txt.gz")
    data = full.read_bytes()
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MalformedFileError, match="truncated or corrupt"):
        parsers.parse_geo_series_matrix(cut)


def test_geo_duplicated_gsm_ids(tmp_path: Path) -> None:
    text = (FIX / "geo" / "GSE17536_mini_series_matrix.txt").read_text()
    text = text.replace('"GSM437171"', '"GSM437170"')
    p = tmp_path / "dup_series_matrix.txt"
    p.write_text(text)
    with pytest.raises(MalformedFileError, match="duplicated GSM ids.*GSM437170"):
        parsers.parse_geo_series_matrix(p)


def test_geo_supplementary_table_guesses_separator(tmp_path: Path) -> None:
    p = tmp_path / "GSE00000_normalized.csv"
    p.write_text('"gene","Pancreas_Primary_1","Pancreas_Primary_2"\n"KRT6A",1.5,2\n"TFF1",3,NA\n')
    df = parsers.parse_geo_supplementary_table(p)
    assert df.shape == (2, 2)
    assert np.isnan(df.loc["TFF1", "Pancreas_Primary_2"])
    p2 = tmp_path / "with_annotation.txt"
    p2.write_text("ID\tDescription\tS1\tS2\nA\tgene a\t1\t2\nB\tgene b\t3\t4\n")
    df2 = parsers.parse_geo_supplementary_table(p2, drop_columns=("Description",))
    assert df2.loc["B", "S2"] == 4.0


# ----------------------------------------------------------------------------- ArrayExpress

def test_sdrf_collapses_repeated_rows_per_sample() -> None:
    sdrf = parsers.parse_sdrf(FIX / "arrayexpress" / "E-MTAB-0000.sdrf.txt")
    assert list(sdrf.index) == ["PDAC_01", "PDAC_02", "PDAC_03"]  # 6 rows: 2 fastq per sample
    assert sdrf.loc["PDAC_03", "Characteristics[vital status]"] == "alive"
    assert sdrf.loc["PDAC_02", "Comment[ENA_RUN]"] == "ERR2603467"


def test_sdrf_conflicting_characteristics_name_the_lines(tmp_path: Path) -> None:
    lines = (FIX / "arrayexpress" / "E-MTAB-0000.sdrf.txt").read_text().splitlines()
    lines[2] = lines[2].replace("\t11.01\t", "\t99\t")
    p = tmp_path / "bad.sdrf.txt"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedFileError, match=r"'PDAC_01'.*conflicting.*lines 2, 3"):
        parsers.parse_sdrf(p)


def test_processed_matrix_skips_reporter_ref_line_and_reads_zip(tmp_path: Path) -> None:
    df = parsers.parse_processed_matrix(FIX / "arrayexpress" / "processed_matrix.txt")
    assert df.shape == (4, 3)
    assert df.loc["ENSG00000171862.9", "ERR2603467"] == 0.0
    z = tmp_path / "E-MTAB-0000.processed.1.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(FIX / "arrayexpress" / "processed_matrix.txt", "processed_matrix.txt")
    dz = parsers.parse_processed_matrix(z)
    assert dz.equals(df)


# ----------------------------------------------------------------------------- Xena / GDC

def test_xena_matrix_symbols_and_ensembl_with_versions() -> None:
    sym = parsers.parse_xena_matrix(FIX / "xena" / "HiSeqV2_mini.tsv")
    assert sym.shape == (4, 4) and sym.loc["FGFR3", "TCGA-2F-A9KQ-01"] == 13.3
    ens = parsers.parse_xena_matrix(FIX / "xena" / "gdc_star_tpm_mini.tsv")
    assert "ENSG00000141510.15" in ens.index  # versions kept as published
    pm = parsers.parse_id_map(FIX / "xena" / "probeMap_mini", id_column="id",
                              symbol_column="gene")
    assert pm["ENSG00000230417.10_PAR_Y"] == "LINC00856"


def test_xena_clinical_and_survival_tables() -> None:
    clin = parsers.parse_xena_clinical(FIX / "xena" / "BLCA_clinicalMatrix_mini")
    assert clin.loc["TCGA-2F-A9KO-11", "sample_type"] == "Solid Tissue Normal"
    assert clin.index.name is None
    surv = parsers.parse_xena_clinical(FIX / "xena" / "BLCA_survival_mini.txt")
    assert surv.loc["TCGA-2F-A9KQ-01", "OS.time"] == "2886"
    assert surv["DSS"].isna().sum() == 1


def test_xena_ragged_row_is_reported(tmp_path: Path) -> None:
    text = (FIX / "xena" / "HiSeqV2_mini.tsv").read_text().splitlines()
    text[3] = "\t".join(text[3].split("\t")[:2])  # FGFR3 row cut short
    p = tmp_path / "ragged.tsv"
    p.write_text("\n".join(text) + "\n")
    with pytest.raises(MalformedFileError, match=r"line\(s\) 4 have fewer fields"):
        parsers.parse_xena_matrix(p)


def test_xena_non_numeric_value(tmp_path: Path) -> None:
    p = tmp_path / "bad.tsv"
    p.write_text("sample\tS1\tS2\nTP53\t1.0\toops\nKRAS\t2\t3\n")
    with pytest.raises(MalformedFileError, match=r"non-numeric.*'S2'.*'TP53'"):
        parsers.parse_xena_matrix(p)


def test_duplicated_sample_ids_in_a_header(tmp_path: Path) -> None:
    p = tmp_path / "dup.tsv"
    p.write_text("sample\tS1\tS2\tS1\nTP53\t1\t2\t3\n")
    with pytest.raises(MalformedFileError, match="duplicated sample ids.*'S1'"):
        parsers.parse_xena_matrix(p)


# ----------------------------------------------------------------------------- cBioPortal

def test_cbioportal_study_folder(tmp_path: Path) -> None:
    expr, clin = parsers.parse_cbioportal_study(FIX / "cbioportal")  # finds the study inside
    assert list(expr.columns) == ["TCGA-2J-AAB1-01", "TCGA-2J-AAB4-01", "TCGA-2J-AAB6-01",
                                  "TCGA-ZZ-0001-01"]
    assert "nan" not in expr.index and "" not in expr.index  # empty Hugo_Symbol row dropped
    assert (expr.index == "SMAD4").sum() == 2  # duplicates kept for the collapse step
    assert np.isnan(expr.loc["TP53", "TCGA-2J-AAB6-01"])
    assert clin.loc["TCGA-2J-AAB4-01", "OS_STATUS"] == "0:LIVING"
    assert clin.loc["TCGA-2J-AAB1-01", "OS_MONTHS"] == "2.17"
    assert np.isnan(clin.loc["TCGA-ZZ-0001-01", "OS_MONTHS"])  # "[Not Available]"
    assert "TCGA-ZZ-0002" not in set(clin["PATIENT_ID"])  # patient without a sample


def test_cbioportal_duplicated_patient_rows_name_lines(tmp_path: Path) -> None:
    study = tmp_path / "study"
    shutil.copytree(FIX / "cbioportal" / "paad_mini_study", study)
    pat = study / "data_clinical_patient.txt"
    pat.write_text(pat.read_text() + "TCGA-2J-AAB4\t1.0\t1:DECEASED\tMale\t48\n")
    with pytest.raises(MalformedFileError, match=r"'TCGA-2J-AAB4' on lines 7, 11"):
        parsers.parse_cbioportal_study(study)


# ----------------------------------------------------------------------------- ICGC

def test_icgc_long_expression_is_pivoted(tmp_path: Path) -> None:
    path = _gz(FIX / "icgc" / "exp_seq.PACA-AU.mini.tsv", tmp_path / "exp_seq.tsv.gz")
    expr, samples = parsers.parse_icgc_expression(path, value_column="normalized_read_count")
    assert list(expr.columns) == ["SA408414", "SA408415", "SA408530"]
    assert list(expr.index) == ["ENSG00000141510", "ENSG00000133703", "ENSG00000000003"]
    assert expr.loc["ENSG00000133703", "SA408415"] == pytest.approx(0.00029)
    assert np.isnan(expr.loc["ENSG00000000003", "SA408414"])
    assert samples.loc["SA408415", "icgc_donor_id"] == "DO32825"
    donors = parsers.parse_icgc_donor(FIX / "icgc" / "donor.PACA-AU.mini.tsv")
    assert donors.loc["DO32860", "donor_vital_status"] == "deceased"


def test_icgc_conflicting_duplicate_rows(tmp_path: Path) -> None:
    lines = (FIX / "icgc" / "exp_seq.PACA-AU.mini.tsv").read_text().splitlines()
    lines.append(lines[1].replace("\t0.00012\t", "\t0.5\t"))
    p = tmp_path / "dup.tsv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedFileError, match=r"listed twice.*lines 2, 9"):
        parsers.parse_icgc_expression(p, value_column="normalized_read_count")


# ----------------------------------------------------------------------------- tidy

def test_tidy_duplicated_clinical_rows_and_genes(tmp_path: Path) -> None:
    c = tmp_path / "clinical.csv"
    c.write_text("sample_id,time,event,time_unit\nA,1,1,days\nB,2,0,days\nA,3,1,days\n")
    with pytest.raises(MalformedFileError, match=r"'A' on lines 2, 4"):
        parsers.parse_tidy_clinical(c)
    e = tmp_path / "expression.csv"
    e.write_text("gene,A,B\nTP53,1,2\nKRAS,3,4\nTP53,5,6\n")
    with pytest.raises(MalformedFileError, match=r"duplicated genes.*'TP53' on lines 2, 4"):
        parsers.parse_tidy_expression(e)


def test_tidy_truncated_matrix_rows(tmp_path: Path) -> None:
    e = tmp_path / "expression.csv.gz"
    with gzip.open(e, "wt") as fh:
        fh.write("gene,A,B,C\nTP53,1,2,3\nKRAS,3,4,5\nGATA6,7")  # cut inside the last row
    with pytest.raises(MalformedFileError, match=r"line\(s\) 4 have fewer fields"):
        parsers.parse_tidy_expression(e)


def test_processed_zip_with_ragged_member_names_zip_and_member(tmp_path: Path) -> None:
    z = tmp_path / "E-MTAB-0000.processed.1.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("matrix.txt", "Hybridization REF\tA\tB\nReporter REF\tv\tv\nG1\t1\t2\nG2\t3\n")
    with pytest.raises(MalformedFileError, match=r"processed.1.zip \(member matrix.txt\).*line"):
        parsers.parse_processed_matrix(z)
