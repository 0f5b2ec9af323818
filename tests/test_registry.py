"""The registry validates itself: every entry has source, format, licence, clinical mapping."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from data_registry.errors import RegistryError, UnknownDatasetError
from data_registry.registry import (
    FORMATS,
    load_registry,
    load_selections,
    normalise_time_unit,
    parse_registry,
    registry_path,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def raw() -> dict:
    with open(registry_path(), "rb") as fh:
        return tomllib.load(fh)


def test_registry_loads_and_ids_are_unique(raw: dict) -> None:
    reg = load_registry()
    ids = [c["id"] for c in raw["cohort"]]
    assert len(ids) == len(set(ids)) == len(reg)


def test_every_entry_has_source_format_licence_and_clinical_mapping() -> None:
    for e in load_registry().values():
        assert e.format in FORMATS
        assert e.licence.strip() and e.citation.strip() and e.accession.strip()
        assert e.files, e.id
        # a source: an archive URL for at least one file, or a mirror folder (tidy subsets,
        # controlled-access cohorts)
        assert any(f.url for f in e.files) or e.mirror, e.id
        for key in ("time", "event", "time_unit"):
            assert key in e.clinical, (e.id, key)
        if e.access == "controlled":
            assert e.access_note, e.id


def test_the_issue_s_cohorts_are_all_registered() -> None:
    reg = load_registry()
    wanted = {
        "tcga_paad": "cbioportal", "cptac_pdac": "xena", "moffitt_gse71729": "geo_series_matrix",
        "puleo_emtab6134": "arrayexpress", "dijk_emtab6830": "arrayexpress",
        "paca_au_array": "icgc", "paca_au_seq": "icgc", "linehan": "tidy",
        "imvigor210": "tidy", "tcga_blca": "xena", "tcga_coadread": "xena",
        "gse39582": "geo_series_matrix", "gse17536": "geo_series_matrix",
        "gse17538": "geo_series_matrix", "prince": "tidy",
    }
    for cid, fmt in wanted.items():
        assert reg[cid].format == fmt, cid
    assert reg["tcga_paad"].selection["whitelist"] == "tcga_paad_150"
    assert reg["moffitt_gse71729"].selection["where"][0]["equals"] == "Primary"
    assert {reg[c].role for c in ("cptac_pdac", "moffitt_gse71729", "puleo_emtab6134")} == {
        "validation"}
    assert reg["tcga_paad"].role == "training"


def test_every_shared_cohort_folder_has_a_tidy_entry() -> None:
    reg = load_registry()
    tidy = {e.mirror: e for e in reg.values() if e.format == "tidy"}
    folders = sorted(p.parent.relative_to(SHARED).as_posix()
                     for p in SHARED.rglob("summary.json"))
    if not folders:
        pytest.skip(f"shared data folder {SHARED} not present")
    for folder in folders:
        assert folder in tidy, folder
        assert all(f.sha256 for f in tidy[folder].files), folder  # mirror files are pinned
    for e in reg.values():
        if e.derived_from:
            assert e.derived_from in reg


def test_whitelists_match_the_paper_tables() -> None:
    sel = load_selections()
    assert len(sel["tcga_paad_150"]["samples"]) == 150
    assert sel["tcga_paad_150"]["n"] == 150
    for name, table in sel.items():
        assert table["n"] == len(table["samples"]), name
    paper = SHARED / "pdac" / "paper_clinical" / "tcga_paad_150_whitelist_clinical.csv"
    if paper.exists():
        import pandas as pd

        ids = pd.read_csv(paper)["sample_id"].tolist()
        assert ids == sel["tcga_paad_150"]["samples"]


def test_unknown_id_suggests_the_closest() -> None:
    reg = load_registry()
    with pytest.raises(UnknownDatasetError, match="closest ids: moffitt_gse71729"):
        reg["moffit_gse71729"]
    with pytest.raises(UnknownDatasetError, match="tcga_paad"):
        reg["TCGA-PAAD"]
    with pytest.raises(TypeError):
        reg[3]  # type: ignore[index]


def _bad(raw: dict, mutate) -> str:
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(RegistryError) as err:
        parse_registry(data, load_selections())
    return str(err.value)


def test_invalid_registries_are_refused_with_the_entry_named(raw: dict) -> None:
    def dup(d: dict) -> None:
        d["cohort"].append(copy.deepcopy(d["cohort"][0]))

    assert "duplicated cohort ids ['tcga_paad']" in _bad(raw, dup)

    def no_licence(d: dict) -> None:
        del d["cohort"][2]["licence"]

    assert "'moffitt_gse71729'" in _bad(raw, no_licence) and "licence" in _bad(raw, no_licence)

    def no_event(d: dict) -> None:
        del d["cohort"][0]["clinical"]["event"]

    assert "clinical mapping needs 'event'" in _bad(raw, no_event)

    def bad_format(d: dict) -> None:
        d["cohort"][0]["format"] = "excel"

    assert "format 'excel'" in _bad(raw, bad_format)

    def bad_sha(d: dict) -> None:
        d["cohort"][0]["files"][0]["sha256"] = "abc"

    assert "sha256 'abc'" in _bad(raw, bad_sha)

    def bad_unit(d: dict) -> None:
        d["cohort"][0]["clinical"]["time_unit"] = "fortnights"

    assert "unknown time unit 'fortnights'" in _bad(raw, bad_unit)

    def bad_whitelist(d: dict) -> None:
        d["cohort"][0]["selection"]["whitelist"] = "nope"

    assert "'nope' is not in selections.toml" in _bad(raw, bad_whitelist)

    def controlled_without_note(d: dict) -> None:
        d["cohort"][0]["access"] = "controlled"
        d["cohort"][0].pop("access_note", None)

    assert "access_note" in _bad(raw, controlled_without_note)

    def no_source(d: dict) -> None:
        d["cohort"][2].pop("mirror")
        d["cohort"][2]["files"][0]["url"] = ""

    assert "nowhere to get it from" in _bad(raw, no_source)


def test_format_roles_gene_maps_and_selection_clauses_are_checked(raw: dict) -> None:
    def no_series_matrix(d: dict) -> None:
        d["cohort"][2]["files"][0]["role"] = "supplementary"

    assert "needs files with role(s) ['series_matrix']" in _bad(raw, no_series_matrix)

    def map_without_file(d: dict) -> None:
        gse = next(c for c in d["cohort"] if c["id"] == "gse39582")
        gse["files"] = [f for f in gse["files"] if f["role"] != "annotation"]

    assert "genes.map 'annotation' names no file role" in _bad(raw, map_without_file)

    def probe_without_map(d: dict) -> None:
        gse = next(c for c in d["cohort"] if c["id"] == "gse39582")
        del gse["genes"]["map"]

    assert "id_type 'probe' needs genes.map" in _bad(raw, probe_without_map)

    def bad_clause(d: dict) -> None:
        d["cohort"][2]["selection"]["where"] = [{"field": "tissue type", "like": "Prim"}]

    assert "needs a field and one of equals, in, matches" in _bad(raw, bad_clause)


def test_time_units() -> None:
    assert normalise_time_unit("Month") == "months"
    assert normalise_time_unit("days") == "days"
    with pytest.raises(ValueError, match="unknown time unit"):
        normalise_time_unit("fortnight")
