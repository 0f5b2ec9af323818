"""The analysis command line end to end, through subprocesses: select -> fit -> top-genes ->
score -> validate on small files; the model equals the Python API's (bitwise); a run repeated
from its config.toml is bitwise identical; bad usage gives the documented exit code and a
one-line message; the README's pipeline example runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import desurv
from desurv.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "desurv", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """expr.tsv.gz (genes x samples), clinical.tsv, val.h5ad: a small primary simulation."""
    folder = tmp_path_factory.mktemp("cli")
    d = simulate("primary", n_genes=300, n_background=60, n_markers=30, n_samples=90,
                 random_state=0)  # fmt: skip
    d.X.T.to_csv(folder / "expr.tsv.gz", sep="\t", index_label="gene")
    pd.DataFrame({"sample_id": d.X.index, "time": d.time.to_numpy(),
                  "event": d.event.to_numpy()}).to_csv(folder / "clinical.tsv", sep="\t",
                                                       index=False)  # fmt: skip
    te = d.test
    obs = pd.DataFrame({"time": d.time[te].to_numpy(), "event": d.event[te].to_numpy()},
                       index=list(te))  # fmt: skip
    ad.AnnData(d.X.loc[te].to_numpy(), obs=obs, var=pd.DataFrame(index=d.X.columns)).write_h5ad(
        folder / "val.h5ad"
    )
    return folder


FIT = ["--expression", "expr.tsv.gz", "--clinical", "clinical.tsv", "--log1p",
       "--filter-genes", "200", "--n-components", "2", "--alpha", "0.6", "--n-init", "2",
       "--max-iter", "80", "--seed", "3", "-q"]  # fmt: skip


def _api_fit(folder: Path, **fit_kw) -> ad.AnnData:
    expr = pd.read_csv(folder / "expr.tsv.gz", sep="\t", index_col=0)
    clin = pd.read_csv(folder / "clinical.tsv", sep="\t", index_col=0)
    a = ad.AnnData(expr.T.to_numpy(dtype=float), obs=clin.loc[expr.columns].copy(),
                   var=pd.DataFrame(index=expr.index.astype(str)))  # fmt: skip
    a.obs_names = expr.columns.astype(str)
    desurv.pp.log1p(a)
    desurv.pp.filter_genes(a, n_top=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        desurv.tl.fit(a, "time", "event", n_components=2, alpha=0.6, n_init=2, max_iter=80,
                      random_state=3, **fit_kw)  # fmt: skip
    return a


def test_fit_equals_the_python_api_and_repeats_from_its_config(files):
    r = run("fit", *FIT, "--out", "fit", cwd=files)
    assert r.returncode == 0, r.stderr
    out = files / "fit"
    for name in ("model.h5ad", "scores.tsv", "top_genes.tsv", "loss.tsv", "config.toml",
                 "figures/loss.png", "figures/loss.pdf", "figures/heatmap.png"):  # fmt: skip
        assert (out / name).is_file(), name
    cli = ad.read_h5ad(out / "model.h5ad")
    api = _api_fit(files)
    np.testing.assert_array_equal(cli.varm["desurv_W"], api.varm["desurv_W"])
    np.testing.assert_array_equal(cli.obs["desurv_risk"], api.obs["desurv_risk"])
    scores = pd.read_csv(out / "scores.tsv", sep="\t", float_precision="round_trip")
    np.testing.assert_array_equal(scores["risk"].to_numpy(), api.obs["desurv_risk"].to_numpy())
    # the written config repeats the run exactly, from another folder
    other = files / "elsewhere"
    other.mkdir()
    r2 = run("fit", "--config", str(out / "config.toml"), "--out", "again", "-q", cwd=other)
    assert r2.returncode == 0, r2.stderr
    again = ad.read_h5ad(other / "again" / "model.h5ad")
    np.testing.assert_array_equal(again.varm["desurv_W"], cli.varm["desurv_W"])
    np.testing.assert_array_equal(again.obs["desurv_risk"], cli.obs["desurv_risk"])
    cfg = (out / "config.toml").read_text()
    assert 'preprocess = ["log1p", "filter_genes:200"]' in cfg and "seed = 3" in cfg
    assert f'desurv_version = "{desurv.__version__}"' in cfg and "input_sha256" in cfg


def test_fit_from_the_consensus_seed_equals_the_python_api(files):
    r = run("fit", *FIT, "--init", "consensus", "--consensus-n-fits", "3",
            "--consensus-n-top", "20", "--out", "cons", cwd=files)  # fmt: skip
    assert r.returncode == 0, r.stderr
    cli = ad.read_h5ad(files / "cons" / "model.h5ad")
    api = _api_fit(files, init="consensus", consensus_n_fits=3, consensus_n_top=20)
    assert cli.uns["desurv"]["init"] == "consensus"
    assert cli.uns["desurv"]["consensus"]["n_fits"] == 3
    np.testing.assert_array_equal(cli.varm["desurv_W"], api.varm["desurv_W"])
    cfg = (files / "cons" / "config.toml").read_text()
    assert 'init = "consensus"' in cfg and "consensus_n_fits = 3" in cfg


def test_select_fit_topgenes_score_validate(files):
    r = run("select", "--expression", "expr.tsv.gz", "--clinical", "clinical.tsv", "--log1p",
            "--n-components", "2", "3", "--alpha", "0", "0.6", "--n-folds", "3",
            "--n-starts", "2", "--max-iter", "60", "--seed", "1", "-q", "--out", "sel",
            cwd=files)  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = pd.read_csv(files / "sel" / "cv_summary.tsv", sep="\t")
    assert len(summary) == 4 and (files / "sel" / "figures" / "select_k.png").is_file()
    assert len(pd.read_csv(files / "sel" / "cv_table.tsv", sep="\t")) == 12
    r = run("fit", "--config", "sel/fit.toml", "--out", "fit_sel", "-q", cwd=files)
    assert r.returncode == 0, r.stderr
    model = ad.read_h5ad(files / "fit_sel" / "model.h5ad")
    sel_cfg = (files / "sel" / "fit.toml").read_text()
    k = int(re.search(r"n_components = (\d+)", sel_cfg).group(1))
    assert model.uns["desurv"]["n_components"] == k
    r = run("top-genes", "--model", "fit_sel/model.h5ad", "--n-top", "15", "--out", "top", "-q",
            cwd=files)  # fmt: skip
    assert r.returncode == 0, r.stderr
    top = pd.read_csv(files / "top" / "top_genes.tsv", sep="\t")
    assert set(top["factor"]) == set(range(1, k + 1)) and top.groupby("factor").size().max() == 15
    r = run("score", "--model", "fit_sel/model.h5ad", "--h5ad", "val.h5ad", "--out", "scored",
            "-q", cwd=files)  # fmt: skip
    assert r.returncode == 0, r.stderr
    val = ad.read_h5ad(files / "val.h5ad")
    ref = desurv.tl.score(val, model, copy=True)
    sc = pd.read_csv(files / "scored" / "scores.tsv", sep="\t", float_precision="round_trip")
    np.testing.assert_array_equal(sc["risk"].to_numpy(), ref.obs["desurv_risk"].to_numpy())
    r = run("validate", "--model", "fit_sel/model.h5ad", "--val", "V=val.h5ad",
            "--cutpoint-folds", "3", "--cutpoint-n-starts", "1", "--seed", "0", "-q",
            "--out", "val", cwd=files)  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name in ("per_cohort.tsv", "pooled.tsv", "comparison.tsv", "samples.tsv", "notes.txt",
                 "figures/km.png", "figures/forest.pdf", "figures/comparison.png"):  # fmt: skip
        assert (files / "val" / name).is_file(), name
    comp = pd.read_csv(files / "val" / "comparison.tsv", sep="\t", index_col=0)
    assert list(comp.columns) == ["desurv", "nmf", "difference"]
    # the validation repeated from its config: the same tables, byte for byte
    r = run("validate", "--config", "val/config.toml", "--out", "val2", "-q", cwd=files)
    assert r.returncode == 0, r.stderr
    for name in ("per_cohort.tsv", "pooled.tsv", "comparison.tsv", "samples.tsv"):
        assert (files / "val" / name).read_bytes() == (files / "val2" / name).read_bytes()


def test_help_of_every_command_has_an_example(files):
    for cmd in ("fit", "select", "score", "validate", "top-genes"):
        r = run(cmd, "--help", cwd=files)
        assert r.returncode == 0 and "example:" in r.stdout and f"desurv {cmd}" in r.stdout


def test_bad_usage_exit_codes_and_messages(files):
    # unknown option: bad usage, 2
    r = run("fit", "--expression", "expr.tsv.gz", "--bogus", cwd=files)
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr
    # missing file: 1, one line naming it
    r = run("fit", "--expression", "nope.tsv", "--clinical", "clinical.tsv", "--out", "x",
            cwd=files)  # fmt: skip
    assert r.returncode == 1 and "--expression nope.tsv: no such file" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # unreadable table
    (files / "garbage.tsv").write_bytes(b"\x00\x01\x02\xff\xfe")
    r = run("fit", "--expression", "garbage.tsv", "--clinical", "clinical.tsv", "--out", "x",
            cwd=files)  # fmt: skip
    assert r.returncode == 1 and "garbage.tsv" in r.stderr and "Traceback" not in r.stderr
    # sample ids that do not match: how many, a few of each
    clin = pd.read_csv(files / "clinical.tsv", sep="\t")
    clin.loc[:4, "sample_id"] = [f"other{i}" for i in range(5)]
    clin.to_csv(files / "clinical_bad.tsv", sep="\t", index=False)
    r = run("fit", "--expression", "expr.tsv.gz", "--clinical", "clinical_bad.tsv",
            "--out", "x", cwd=files)  # fmt: skip
    assert r.returncode == 1
    assert "5 of the 90 expression samples have no row in clinical_bad.tsv" in r.stderr
    assert "85 match" in r.stderr and "--drop-unmatched" in r.stderr
    r = run("fit", "--expression", "expr.tsv.gz", "--clinical", "clinical_bad.tsv",
            "--drop-unmatched", "--n-components", "2", "--max-iter", "10", "--seed", "0",
            "--no-figures", "--out", "kept", "-q", cwd=files)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert ad.read_h5ad(files / "kept" / "model.h5ad").n_obs == 85
    # unknown cohort id: 1, with the closest ids
    r = run("fit", "--cohort", "tcga_paad_4k", "--out", "x", cwd=files)
    assert r.returncode == 1 and "tcga_paad_4k" in r.stderr and "Traceback" not in r.stderr
    # an existing --out is not replaced without --force; a failed run leaves nothing
    r = run("fit", *FIT, "--out", "kept", cwd=files)
    assert r.returncode == 1 and "exists" in r.stderr
    r = run("fit", "--expression", "expr.tsv.gz", "--clinical", "clinical.tsv",
            "--n-components", "500", "--out", "failed", cwd=files)  # fmt: skip
    assert r.returncode == 1 and not (files / "failed").exists()
    assert not any(p.name.startswith(".failed") for p in files.iterdir())
    # a config of another command is refused as bad usage
    r = run("score", "--config", "kept/config.toml", "--model", "kept/model.h5ad",
            "--h5ad", "val.h5ad", "--out", "y", cwd=files)  # fmt: skip
    assert r.returncode == 2 and "written by 'desurv fit'" in r.stderr


def test_readme_pipeline_example_runs(files):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n# pipeline\n(.*?)```", text, re.S)
    assert block, "README.md lost its pipeline example"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 3
    work = files / "readme"
    work.mkdir()
    for name in ("expr.tsv.gz", "clinical.tsv", "val.h5ad"):
        (work / name).symlink_to(files / name)
    for line in lines:
        args = line.split()
        assert args[0] == "desurv"
        r = run(*args[1:], cwd=work)
        assert r.returncode == 0, f"{line}\n{r.stderr}"
    assert (work / "val" / "comparison.tsv").is_file()


def test_model_is_required_unless_the_config_gives_it(files):
    r = run("top-genes", "--n-top", "5", "--out", "t", cwd=files)
    assert r.returncode == 2 and "--model FILE is required" in r.stderr


def test_fit_flags_default_to_the_estimator_s_defaults():
    """The flags' defaults are written out in the parser (importing the estimator at parser
    build would cost every command ~1.5 s); they must stay DeSurv's own."""
    from desurv import DeSurv
    from desurv._cli_analysis import _FIT_PARAMS

    defaults = DeSurv().get_params()
    assert {k: d for k, (_, d, _) in _FIT_PARAMS.items()} == {k: defaults[k] for k in _FIT_PARAMS}
