"""The analysis commands of the command line: ``fit``, ``select``, ``score``, ``validate``,
``top-genes``.

Every command reads its input (an ``.h5ad``; an expression table with a clinical table; or
a registry cohort id), applies the preprocessing steps in the order the flags give them, runs
the Python API (``desurv.tl``) and writes into ``--out DIR``:

- the results (``.h5ad``, tidy TSV tables, PNG and PDF figures);
- ``config.toml``: the fully resolved configuration (every parameter, the seed actually used,
  the input files and their sha256, the package version), so that
  ``desurv <command> --config DIR/config.toml --out NEW`` repeats the run exactly.

The output folder is written atomically: everything goes into a hidden temporary folder next
to it, renamed to ``DIR`` only when the command succeeded, so a failed run leaves nothing that
looks like a complete result. An existing ``DIR`` is refused unless ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import shutil
import sys
import tomllib
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger("desurv")

COMMANDS = ("fit", "select", "score", "validate", "top-genes")


class UsageError(ValueError):
    """Bad usage found after parsing (e.g. a required option given neither as a flag nor in
    the ``--config`` file): exit status 2."""

#: DeSurv's constructor arguments reachable by a flag (random_state is --seed)
_FIT_PARAMS: dict[str, tuple[type, Any, str]] = {
    "n_components": (int, 3, "number of factors k"),
    "alpha": (float, 0.5, "survival weight in [0, 1)"),
    "lambda_": (float, 0.1, "elastic-net penalty of the Cox coefficients"),
    "l1_ratio": (float, 0.5, "lasso share xi of the penalty"),
    "lambda_w": (float, 0.0, "ridge on W (variant r-desurv only)"),
    "lambda_h": (float, 0.0, "ridge on the programs' energies (the paper's nu)"),
    "ties": (str, "efron", "ties of the Cox model: efron or breslow"),
    "tol": (float, 1e-6, "relative loss change to stop"),
    "max_iter": (int, 2000, "iteration cap (warm-up included)"),
    "n_init": (int, 1, "random starts"),
    "init_max_iter": (int, 20, "iterations of each start before the best is kept"),
    "init_criterion": (str, "loss", "how the best start is chosen: loss or cindex"),
    "warmup_iter": (int, None, "most iterations before the Cox coefficients move "
                    "(default: half of max_iter)"),
    "warmup_tol": (float, 1e-6, "end the warm-up once the NMF part's change is below this "
                   "(0: a warm-up of exactly warmup_iter iterations)"),
    "variant": (str, "default", "default or r-desurv (the R package's algorithm)"),
    "solver": (str, "hals", "hals (coordinate passes) or mu (multiplicative, the paper's)"),
    "dtype": (str, "float64", "float64 or float32"),
}
_PP_STEPS = ("unlog", "log1p", "filter_genes", "rank_transform", "quantile_normalize")


def _flag(name: str) -> str:
    return "--" + name.rstrip("_").replace("_", "-")


# ----------------------------------------------------------------------------- parser


def _step(name: str) -> type[argparse.Action]:
    """An action appending preprocessing step ``name`` to ``namespace.preprocess``, so that
    the steps keep the order of the command line."""

    class _Step(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            steps = list(getattr(namespace, "preprocess", None) or [])
            if name == "filter_genes":
                try:
                    n = int(values)
                except ValueError:
                    parser.error(f"--filter-genes needs a number of genes, got {values!r}")
                steps.append(f"filter_genes:{n}")
            elif name == "unlog" and values:
                steps.append(f"unlog:{values}")
            else:
                steps.append(name)
            namespace.preprocess = steps

    return _Step


def _add_input(p: argparse.ArgumentParser, *, required: bool = True, pp: bool = True) -> None:
    g = p.add_argument_group("input (one of --h5ad, --expression with --clinical, --cohort)")
    g.add_argument("--h5ad", metavar="FILE", help="an AnnData file, samples x genes")
    g.add_argument("--expression", metavar="FILE",
                   help="expression table (CSV/TSV, .gz allowed), first column the ids")
    g.add_argument("--clinical", metavar="FILE", help="clinical table, one row per sample")
    g.add_argument("--cohort", metavar="ID", help="a registry cohort id (desurv datasets list)")
    g.add_argument("--samples-in-rows", action="store_true",
                   help="the expression table is samples x genes (default genes x samples)")
    g.add_argument("--sample-col", default="sample_id",
                   help="clinical column with the sample ids (default sample_id)")  # fmt: skip
    g.add_argument("--time-col", default="time", help="follow-up time column (default time)")
    g.add_argument("--event-col", default="event", help="event column, 1 = event (default event)")
    g.add_argument("--cohort-col", default=None, help="optional column naming each sample's cohort")
    g.add_argument("--drop-unmatched", action="store_true",
                   help="keep the samples found in both tables instead of refusing a mismatch")
    if pp:
        q = p.add_argument_group("preprocessing, applied in the order given")
        q.add_argument("--unlog", nargs="?", const="", metavar="SCALE", action=_step("unlog"),
                       dest="pp_unlog", help="undo the recorded log scale (pp.unlog)")  # fmt: skip
        q.add_argument("--log1p", nargs=0, action=_step("log1p"), dest="pp_log1p",
                       help="log(1 + x) (pp.log1p)")  # fmt: skip
        q.add_argument("--filter-genes", metavar="N", action=_step("filter_genes"),
                       dest="pp_filter", help="keep N genes by mean and variance")  # fmt: skip
        q.add_argument("--rank", nargs=0, action=_step("rank_transform"), dest="pp_rank",
                       help="ranks within sample (pp.rank_transform)")  # fmt: skip
        q.add_argument("--quantile", nargs=0, action=_step("quantile_normalize"),
                       dest="pp_quantile", help="quantile normalisation")  # fmt: skip
    del required


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", help="output folder (written atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--config", metavar="FILE",
                   help="TOML file of parameters (e.g. a config.toml written by a run); flags "
                        "given on the command line win")  # fmt: skip
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: drawn, and recorded in config.toml)")  # fmt: skip
    p.add_argument("--n-jobs", type=int, default=None, help="worker processes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    p.add_argument("--no-figures", action="store_true", help="write no figures")


def _add_estimator(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (desurv.DeSurv)")
    for name, (typ, default, text) in _FIT_PARAMS.items():
        g.add_argument(_flag(name), dest=name, type=typ, default=default,
                       help=f"{text} (default {default})")  # fmt: skip


_EXAMPLES = {
    "fit": "desurv fit --expression expr.tsv.gz --clinical clinical.tsv --log1p "
           "--filter-genes 2000 --rank --n-components 3 --alpha 0.5 --seed 0 --out fit/",
    "select": "desurv select --h5ad tcga.h5ad --log1p --n-components 2 3 4 --alpha 0 0.5 0.9 "
              "--n-folds 5 --n-starts 10 --seed 0 --out sel/   (then: desurv fit --config "
              "sel/fit.toml --out fit/)",
    "score": "desurv score --model fit/model.h5ad --h5ad new_cohort.h5ad --out scored/",
    "validate": "desurv validate --model fit/model.h5ad --val PRINCE=prince.h5ad "
                "--val-cohort imvigor210_other_sites --design projection --out val/",
    "top-genes": "desurv top-genes --model fit/model.h5ad --n-top 100 --out top/",
}  # fmt: skip


#: options that steer a run but are not part of its configuration
_NOT_RECORDED = {"help", "config", "out", "force", "quiet", "verbose"}


def _record_keys(p: argparse.ArgumentParser) -> tuple[str, ...]:
    """Every parameter of a command that config.toml records: all its options but the
    run's own plumbing; the ordered ``preprocess`` list stands for the step flags."""
    keys = [a.dest for a in p._actions if a.dest not in _NOT_RECORDED]
    steps = [k for k in keys if k.startswith("pp_")]
    keys = [k for k in keys if not k.startswith("pp_")]
    return (*keys, "preprocess") if steps else tuple(keys)


def add_commands(sub, common: argparse.ArgumentParser) -> None:
    """Register the analysis commands on the ``desurv`` subparsers."""
    kw = dict(parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter)
    fit = sub.add_parser("fit", help="fit DeSurv on a cohort", **kw,
                         epilog="example:\n  " + _EXAMPLES["fit"])  # fmt: skip
    _add_input(fit)
    _add_common(fit)
    _add_estimator(fit)
    fit.add_argument("--n-top", type=int, default=50,
                     help="top genes per factor written to top_genes.tsv (default 50)")  # fmt: skip
    fit.add_argument("--init", choices=["random", "consensus"], default="random",
                     help="random starts (--n-init) or the paper's consensus seed")  # fmt: skip
    fit.add_argument("--consensus-n-fits", type=int, default=100,
                     help="fits behind the consensus seed (the paper: 100)")  # fmt: skip
    fit.add_argument("--consensus-n-top", type=int, default=100,
                     help="top genes per factor of each of those fits (default 100)")  # fmt: skip

    sel = sub.add_parser("select", help="choose k and the penalties by cross-validation", **kw,
                         epilog="example:\n  " + _EXAMPLES["select"])  # fmt: skip
    _add_input(sel)
    _add_common(sel)
    g = sel.add_argument_group("search space (lists; tl.select)")
    g.add_argument("--n-components", nargs="+", type=int, default=[2, 3, 4, 5])
    for name in ("alpha", "lambda_", "l1_ratio", "lambda_h"):
        g.add_argument(_flag(name), dest=name, nargs="+", type=float, default=None)
    g.add_argument("--n-top", nargs="+", type=int, default=None)
    g.add_argument("--method", choices=["grid", "bayes"], default="grid")
    g.add_argument("--n-folds", type=int, default=5)
    g.add_argument("--n-starts", type=int, default=30)
    g.add_argument("--n-trials", type=int, default=None,
                   help="evaluations in all, the design included (bayes)")  # fmt: skip
    g.add_argument("--n-initial", type=int, default=50, help="Latin hypercube points (bayes)")
    g.add_argument("--score", choices=["top", "full"], default="top")
    g.add_argument("--start-rule", choices=["mean", "best_train"], default="mean")
    g.add_argument("--cv-filter-genes", type=int, default=None, dest="cv_filter_genes",
                   help="gene filter fitted inside each training fold")  # fmt: skip
    g.add_argument("--cv-transform", choices=["rank", "quantile"], default=None,
                   dest="cv_transform", help="transform fitted inside each fold")  # fmt: skip
    g.add_argument("--max-iter", type=int, default=2000)
    g.add_argument("--tol", type=float, default=1e-5)
    g.add_argument("--warmup-iter", type=int, default=None,
                   help="most warm-up iterations (default: half of --max-iter)")
    g.add_argument("--warmup-tol", type=float, default=1e-5, dest="warmup_tol",
                   help="end each start's warm-up once its NMF part has converged")  # fmt: skip
    g.add_argument("--solver", choices=["hals", "mu"], default="hals")
    g.add_argument("--warm-start", choices=["alpha"], default=None, dest="warm_start",
                   help="warm starts along the alpha path (grid only; fit.toml still "
                        "fits the chosen setting from random starts)")  # fmt: skip
    g.add_argument("--store", metavar="DIR", default=None,
                   help="checkpoint store: a killed search resumes from it")  # fmt: skip
    g.add_argument("--rule", choices=["best", "1se"], default="1se",
                   help="which setting fit.toml holds: the best or the paper's 1-SE choice")

    score = sub.add_parser("score", help="score a new cohort on a fitted model", **kw,
                           epilog="example:\n  " + _EXAMPLES["score"])  # fmt: skip
    score.add_argument("--model", metavar="FILE", help="model.h5ad of desurv fit (required)")
    _add_input(score, pp=False)
    _add_common(score)
    score.add_argument("--genes", choices=["all", "top"], default="all")
    score.add_argument("--min-coverage", type=float, default=0.5)

    val = sub.add_parser("validate", help="the paper's external validation", **kw,
                         epilog="example:\n  " + _EXAMPLES["validate"])  # fmt: skip
    val.add_argument("--model", metavar="FILE", help="model.h5ad of desurv fit (required)")
    val.add_argument("--val", action="append", default=None, metavar="NAME=FILE",
                     help="a validation cohort (.h5ad); repeat for several")  # fmt: skip
    val.add_argument("--val-cohort", action="append", default=None, metavar="ID",
                     help="a registry cohort as validation cohort; repeat for several")  # fmt: skip
    val.add_argument("--val-unlog", action="store_true",
                     help="pp.unlog the validation cohorts first (their recorded log scale)")
    _add_common(val)
    val.add_argument("--design", choices=["projection", "clustering"], default="projection")
    val.add_argument("--implementation", choices=["python", "r"], default="python")
    val.add_argument("--no-nmf", action="store_true", help="skip the alpha = 0 comparison")
    val.add_argument("--time-col", default="time")
    val.add_argument("--event-col", default="event")
    val.add_argument("--min-coverage", type=float, default=0.5)
    val.add_argument("--cutpoint", type=float, default=None)
    val.add_argument("--cutpoint-reference", choices=["training", "cohort"], default="training")
    val.add_argument("--cutpoint-folds", type=int, default=5)
    val.add_argument("--cutpoint-n-starts", type=int, default=None)
    val.add_argument("--reps", type=int, default=100)
    val.add_argument("--subtype-keys", nargs="*", default=[])
    val.add_argument("--n-top", type=int, default=None,
                     help="top genes per factor (default: the model's top_genes record)")
    val.add_argument("--top-method", choices=["specificity", "weight"], default="specificity")
    for name, default in (("cindex_score", "top"), ("hr_score", "full"),
                          ("cutpoint_score", "top")):  # fmt: skip
        val.add_argument(_flag(name), choices=["top", "full"], default=default)
    val.add_argument("--z-grid", nargs="+", type=float, default=None,
                     help="candidate cutpoints (default -2 to 2 by 0.2)")
    val.add_argument("--n-clusters", nargs="+", type=int, default=[2, 3])
    val.add_argument("--p-item", type=float, default=0.8)
    val.add_argument("--p-feature", type=float, default=0.8)

    top = sub.add_parser("top-genes", help="top genes of each factor of a fitted model", **kw,
                         epilog="example:\n  " + _EXAMPLES["top-genes"])  # fmt: skip
    top.add_argument("--model", metavar="FILE", help="model.h5ad of desurv fit (required)")
    _add_common(top)
    top.add_argument("--n-top", type=int, default=50)
    top.add_argument("--method", choices=["specificity", "weight"], default="specificity")
    for p in (fit, sel, score, val, top):
        p.set_defaults(record_keys=_record_keys(p))


# ----------------------------------------------------------------------------- config


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def write_toml(path: Path, data: dict[str, Any], header: str = "") -> None:
    """A flat TOML file (None values left out) with a ``[meta]`` table last."""
    lines = [f"# {line}" for line in header.splitlines()]
    meta = data.get("meta", {})
    for k, v in data.items():
        if k == "meta" or v is None:
            continue
        lines.append(f"{k} = {_toml_value(v)}")
    if meta:
        lines.append("")
        lines.append("[meta]")
        for k, v in meta.items():
            if v is not None:
                lines.append(f"{k} = {_toml_value(v)}")
    path.write_text("\n".join(lines) + "\n")


def read_config(path: str) -> dict[str, Any]:
    """The parameters of a TOML config file (its ``[meta]`` table left aside)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config {path} is not valid TOML: {exc}") from None
    data.pop("meta", None)
    return data


def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` with the values of ``--config`` as defaults (flags given win)."""
    first, _ = parser.parse_known_args(argv)
    cfg_path = getattr(first, "config", None)
    if not cfg_path:
        return first
    cfg = read_config(cfg_path)
    command = cfg.pop("command", None)
    if command is not None and command != first.command:
        raise ValueError(
            f"--config {cfg_path} was written by 'desurv {command}', not 'desurv "
            f"{first.command}'"
        )
    sub = _subparser(parser, first.command)
    known = {a.dest for a in sub._actions}
    unknown = sorted(set(cfg) - known - {"preprocess"})
    if unknown:
        raise ValueError(f"--config {cfg_path}: unknown parameter(s) {unknown} for "
                         f"'desurv {first.command}'")  # fmt: skip
    sub.set_defaults(**cfg)
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if "preprocess" in cfg and not _pp_given(argv):
        args.preprocess = list(cfg["preprocess"])
    return args


def _pp_given(argv: Sequence[str]) -> bool:
    flags = {"--unlog", "--log1p", "--filter-genes", "--rank", "--quantile"}
    return any(a.split("=")[0] in flags for a in argv)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)  # pragma: no cover


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- output


@contextmanager
def atomic_dir(out: str | None, force: bool):
    """A temporary folder next to ``out``, renamed to ``out`` when the block succeeds."""
    if not out:
        raise ValueError("--out DIR is required: the folder the results are written to")
    final = Path(out).resolve()
    if final.exists() and not force:
        raise FileExistsError(
            f"--out {out} exists; pass another folder, or --force to replace it"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _tsv(df: pd.DataFrame, path: Path, index: bool = False) -> None:
    df.to_csv(path, sep="\t", index=index, float_format="%.17g")


def _figure(fn: Callable[..., Any], folder: Path, name: str, args: argparse.Namespace) -> None:
    if args.no_figures:
        return
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figs = folder / "figures"
    figs.mkdir(exist_ok=True)
    obj = fn(show=False)
    fig = obj if hasattr(obj, "savefig") else obj.figure
    for ext in ("png", "pdf"):
        fig.savefig(figs / f"{name}.{ext}", dpi=120, bbox_inches="tight")
    plt.close(fig)


# ----------------------------------------------------------------------------- input


def _read_table(path: str, what: str, sep: str | None = None) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--{what} {path}: no such file")
    name = p.name.lower().removesuffix(".gz")
    if sep is None:
        sep = "\t" if name.endswith((".tsv", ".txt", ".tab")) else ","
    try:
        df = pd.read_csv(p, sep=sep, index_col=0)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file for the user
        raise ValueError(f"--{what} {path} cannot be read as a table: {exc}") from None
    if df.shape[1] == 0:
        raise ValueError(f"--{what} {path}: no data columns (is the separator right?)")
    return df


def load_input(args: argparse.Namespace, *, pp: bool = True):
    """The cohort as AnnData (samples x genes) from the input flags, preprocessed."""
    import anndata as ad  # noqa: PLC0415

    import desurv  # noqa: PLC0415

    given = [x for x in ("h5ad", "expression", "cohort") if getattr(args, x, None)]
    if len(given) != 1:
        raise ValueError(
            "give exactly one input: --h5ad FILE, --expression FILE with --clinical FILE, or "
            f"--cohort ID (got {', '.join('--' + g for g in given) or 'none'})"
        )
    files: list[str] = []
    if args.h5ad:
        if not Path(args.h5ad).is_file():
            raise FileNotFoundError(f"--h5ad {args.h5ad}: no such file")
        try:
            adata = ad.read_h5ad(args.h5ad)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"--h5ad {args.h5ad} cannot be read: {exc}") from None
        files.append(args.h5ad)
    elif args.cohort:
        adata = desurv.datasets.load(args.cohort)
    else:
        if not args.clinical:
            raise ValueError("--expression needs --clinical FILE (sample id, time, event)")
        expr = _read_table(args.expression, "expression")
        clin_raw = _read_table(args.clinical, "clinical")
        files += [args.expression, args.clinical]
        if args.sample_col in clin_raw.columns:
            clin = clin_raw.set_index(args.sample_col)
        elif clin_raw.index.name == args.sample_col or args.sample_col == "sample_id":
            clin = clin_raw
        else:
            raise KeyError(f"--sample-col {args.sample_col!r} is not a column of "
                           f"{args.clinical} (columns: {list(clin_raw.columns)})")  # fmt: skip
        X = expr if args.samples_in_rows else expr.T
        X.index = X.index.astype(str)
        clin.index = clin.index.astype(str)
        try:
            X = X.apply(pd.to_numeric, errors="raise")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"--expression {args.expression} has non-numeric values ({exc}); "
                             "is the orientation right (--samples-in-rows)?") from None  # fmt: skip
        missing = X.index.difference(clin.index)
        if len(missing):
            shared = X.index.intersection(clin.index)
            msg = (
                f"{len(missing)} of the {X.shape[0]} expression samples have no row in "
                f"{args.clinical} (e.g. {list(missing[:3])}; clinical ids look like "
                f"{list(clin.index[:3])}); {len(shared)} match"
            )
            if not args.drop_unmatched or not len(shared):
                raise ValueError(msg + ": fix the ids, set --sample-col, or pass "
                                 "--drop-unmatched to keep the matching samples")  # fmt: skip
            logger.warning("%s: kept those (--drop-unmatched)", msg)
            X = X.loc[shared]
        adata = ad.AnnData(X.to_numpy(dtype=np.float64), obs=clin.loc[X.index].copy(),
                           var=pd.DataFrame(index=X.columns.astype(str)))  # fmt: skip
    for col in (args.time_col, args.event_col):
        if col not in adata.obs.columns:
            raise KeyError(f"survival column {col!r} not found (columns: "
                           f"{list(adata.obs.columns)[:12]}); set --time-col / --event-col")
    if pp:
        for step in list(getattr(args, "preprocess", None) or []):
            name, _, value = str(step).partition(":")
            if name == "unlog":
                desurv.pp.unlog(adata, scale=value or None)
            elif name == "log1p":
                desurv.pp.log1p(adata)
            elif name == "filter_genes":
                desurv.pp.filter_genes(adata, n_top=int(value), cohort_key=args.cohort_col)
            elif name == "rank_transform":
                desurv.pp.rank_transform(adata)
            elif name == "quantile_normalize":
                desurv.pp.quantile_normalize(adata)
            else:
                raise ValueError(f"unknown preprocessing step {step!r} (use {_PP_STEPS})")
    return adata, files


def _seed(args: argparse.Namespace) -> int:
    if args.seed is None:
        args.seed = int(np.random.SeedSequence().generate_state(1)[0])
        logger.info("no --seed given: drew %d (recorded in config.toml)", args.seed)
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    return int(args.seed)


def _config(
    args: argparse.Namespace, files: list[str], keys: Sequence[str] | None = None
) -> dict[str, Any]:
    """The configuration to write: ``keys`` (default: every parameter of the command)."""
    import desurv  # noqa: PLC0415

    cfg: dict[str, Any] = {"command": args.command}
    for k in args.record_keys if keys is None else keys:
        v = getattr(args, k, None)
        if k in _PATH_KEYS and isinstance(v, str):
            v = str(Path(v).resolve())  # the run can be repeated from any folder
        elif k in ("val",) and v:
            v = [f"{n}={Path(f).resolve()}" for n, _, f in (x.partition("=") for x in v)]
        if v is None or v is False or (isinstance(v, list) and not v and k != "preprocess"):
            continue
        cfg[k] = list(v) if isinstance(v, tuple) else v
    cfg["meta"] = {
        "desurv_version": desurv.__version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "input_sha256": [f"{f}={_sha256(f)}" for f in files],
    }
    return cfg


_PATH_KEYS = ("h5ad", "expression", "clinical", "model", "store")
_INPUT_KEYS = ("h5ad", "expression", "clinical", "cohort", "samples_in_rows", "sample_col",
               "time_col", "event_col", "cohort_col", "drop_unmatched", "preprocess")  # fmt: skip


# ----------------------------------------------------------------------------- commands


def cmd_fit(args: argparse.Namespace) -> int:
    import desurv  # noqa: PLC0415

    seed = _seed(args)
    adata, files = load_input(args)
    params = {k: getattr(args, k) for k in _FIT_PARAMS}
    with atomic_dir(args.out, args.force) as out:
        start = {} if args.init == "random" else dict(
            init="consensus", consensus_n_fits=args.consensus_n_fits,
            consensus_n_top=args.consensus_n_top,
        )  # fmt: skip
        desurv.tl.fit(adata, args.time_col, args.event_col, random_state=seed,
                      n_jobs=args.n_jobs, **start, **params)  # fmt: skip
        table = desurv.tl.top_genes(adata, n_top=args.n_top)
        adata.write_h5ad(out / "model.h5ad")
        _tsv(_scores_table(adata, "desurv"), out / "scores.tsv")
        _tsv(table, out / "top_genes.tsv")
        _tsv(pd.DataFrame(adata.uns["desurv"]["loss_history"]), out / "loss.tsv")
        _figure(lambda **kw: desurv.pl.loss_trace(adata, **kw), out, "loss", args)
        _figure(lambda **kw: desurv.pl.heatmap(adata, **kw), out, "heatmap", args)
        write_toml(out / "config.toml", _config(args, files),
                   header="desurv fit: repeat with  desurv fit --config config.toml --out NEW")
    rec = adata.uns["desurv"]
    print(f"desurv fit: k={rec['n_components']}, {adata.n_obs} samples x "
          f"{len(rec['genes'])} genes, train C-index {rec['train_cindex']:.4f}, "
          f"{rec['n_iter']} iterations -> {args.out}")  # fmt: skip
    return 0


def _scores_table(adata, key: str) -> pd.DataFrame:
    Z = np.asarray(adata.obsm[f"X_{key}"])
    df = pd.DataFrame(Z, columns=[f"factor{j + 1}" for j in range(Z.shape[1])])
    df.insert(0, "risk", adata.obs[f"{key}_risk"].to_numpy())
    df.insert(0, "sample", adata.obs_names.astype(str))
    return df


def cmd_select(args: argparse.Namespace) -> int:
    import desurv  # noqa: PLC0415

    seed = _seed(args)
    adata, files = load_input(args)
    space = {k: getattr(args, k) for k in ("n_components", "alpha", "lambda_", "l1_ratio",
                                           "lambda_h", "n_top")}  # fmt: skip
    with atomic_dir(args.out, args.force) as out:
        res = desurv.tl.select(
            adata, args.time_col, args.event_col, **space, method=args.method,
            n_folds=args.n_folds, n_starts=args.n_starts, n_trials=args.n_trials,
            n_initial=args.n_initial, score=args.score, start_rule=args.start_rule,
            filter_genes=args.cv_filter_genes, transform=args.cv_transform,
            cohort_key=args.cohort_col, random_state=seed, n_jobs=args.n_jobs,
            store=args.store, max_iter=args.max_iter, tol=args.tol,
            warmup_iter=args.warmup_iter, warmup_tol=args.warmup_tol,
            progress=False if args.quiet else None,
            solver=args.solver, warm_start=args.warm_start,
        )  # fmt: skip
        _tsv(res.table, out / "cv_table.tsv")
        _tsv(res.summary, out / "cv_summary.tsv")
        chosen = res.params_1se_ if args.rule == "1se" else res.best_params_
        _figure(lambda **kw: desurv.pl.select_k(res, **kw), out, "select_k", args)
        write_toml(out / "config.toml", _config(args, files),
                   header="desurv select: repeat with  desurv select --config config.toml "
                          "--out NEW")  # fmt: skip
        # the chosen setting as a ready-to-run `desurv fit` configuration
        fit_cfg = _config(args, files, _INPUT_KEYS)
        fit_cfg["command"] = "fit"
        fit_cfg["seed"] = seed
        for k, v in chosen.items():
            if k in _FIT_PARAMS and v is not None and not (isinstance(v, float) and np.isnan(v)):
                fit_cfg[k] = int(v) if k == "n_components" else float(v)
        if chosen.get("n_top") is not None and not np.isnan(float(chosen["n_top"])):
            fit_cfg["n_top"] = int(chosen["n_top"])
        fit_cfg["n_init"] = int(args.n_starts)
        fit_cfg["max_iter"], fit_cfg["tol"] = int(args.max_iter), float(args.tol)
        fit_cfg["solver"] = args.solver
        if args.warmup_iter is not None:
            fit_cfg["warmup_iter"] = int(args.warmup_iter)
        fit_cfg["warmup_tol"] = float(args.warmup_tol)
        write_toml(out / "fit.toml", fit_cfg,
                   header=f"the {args.rule} setting of desurv select: desurv fit --config "
                          "fit.toml --out DIR")  # fmt: skip
    print(f"desurv select: {len(res.summary)} settings x {res.table['fold'].nunique()} folds; "
          f"best {res.best_params_}, k by the 1-SE rule {res.k_1se_} -> {args.out}")  # fmt: skip
    return 0


def _read_model(path: str | None):
    import anndata as ad  # noqa: PLC0415

    if not path:
        raise UsageError("--model FILE is required (the model.h5ad that desurv fit wrote)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"--model {path}: no such file")
    try:
        model = ad.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"--model {path} cannot be read: {exc}") from None
    if "desurv" not in model.uns:
        raise ValueError(f"--model {path} holds no DeSurv fit: pass the model.h5ad that "
                         "desurv fit wrote")  # fmt: skip
    return model


def cmd_score(args: argparse.Namespace) -> int:
    import desurv  # noqa: PLC0415

    model = _read_model(args.model)
    adata, files = load_input(args, pp=False)
    with atomic_dir(args.out, args.force) as out:
        desurv.tl.score(adata, model, genes=args.genes, min_coverage=args.min_coverage)
        adata.write_h5ad(out / "scored.h5ad")
        _tsv(_scores_table(adata, "desurv"), out / "scores.tsv")
        write_toml(out / "config.toml", _config(args, [args.model, *files]))
    rec = adata.uns["desurv_score"]
    print(f"desurv score: {adata.n_obs} samples, coverage {rec['coverage']:.1%} of the "
          f"model's genes -> {args.out}")  # fmt: skip
    return 0


def cmd_top_genes(args: argparse.Namespace) -> int:
    import desurv  # noqa: PLC0415

    model = _read_model(args.model)
    with atomic_dir(args.out, args.force) as out:
        table = desurv.tl.top_genes(model, n_top=args.n_top, method=args.method)
        _tsv(table, out / "top_genes.tsv")
        _figure(lambda **kw: desurv.pl.heatmap(model, n_top=min(args.n_top, 25), **kw), out,
                "heatmap", args)  # fmt: skip
        write_toml(out / "config.toml", _config(args, [args.model]))
    print(f"desurv top-genes: {len(table)} rows ({args.n_top} per factor) -> {args.out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import anndata as ad  # noqa: PLC0415

    import desurv  # noqa: PLC0415

    seed = _seed(args)
    model = _read_model(args.model)
    cohorts: dict[str, Any] = {}
    files = [args.model]
    for spec in args.val or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--val {spec!r}: write NAME=FILE.h5ad")
        if not Path(path).is_file():
            raise FileNotFoundError(f"--val {spec}: no such file {path}")
        cohorts[name] = ad.read_h5ad(path)
        files.append(path)
    for cid in args.val_cohort or []:
        cohorts[cid] = desurv.datasets.load(cid)
    if not cohorts:
        raise ValueError("give at least one validation cohort: --val NAME=FILE.h5ad or "
                         "--val-cohort ID")  # fmt: skip
    if args.val_unlog:
        for a in cohorts.values():
            desurv.pp.unlog(a)
    with atomic_dir(args.out, args.force) as out:
        res = desurv.tl.validate(
            model, cohorts, design=args.design, compare_nmf=not args.no_nmf,
            implementation=args.implementation, time_key=args.time_col,
            event_key=args.event_col, min_coverage=args.min_coverage, cutpoint=args.cutpoint,
            cutpoint_reference=args.cutpoint_reference, cutpoint_folds=args.cutpoint_folds,
            cutpoint_n_starts=args.cutpoint_n_starts, reps=args.reps,
            subtype_keys=args.subtype_keys, random_state=seed, n_top=args.n_top,
            top_method=args.top_method, cindex_score=args.cindex_score,
            hr_score=args.hr_score, cutpoint_score=args.cutpoint_score, z_grid=args.z_grid,
            n_clusters=args.n_clusters, p_item=args.p_item, p_feature=args.p_feature,
        )  # fmt: skip
        for name in ("per_cohort", "pooled", "cutpoint", "cutpoint_choice", "groups", "logrank",
                     "forest", "fisher", "cluster_terms", "samples"):  # fmt: skip
            tab = res.get(name)
            if tab is not None:
                _tsv(tab, out / f"{name}.tsv")
        _tsv(res.comparison, out / "comparison.tsv", index=True)
        (out / "notes.txt").write_text("\n".join(res.notes) + "\n")
        method = "both" if not args.no_nmf else "desurv"
        _figure(lambda **kw: desurv.pl.validation_km(res, method=method, **kw), out, "km", args)
        if res.forest is not None:
            _figure(lambda **kw: desurv.pl.validation_forest(res, **kw), out, "forest", args)
        _figure(lambda **kw: desurv.pl.validation_comparison(res, **kw), out, "comparison",
                args)  # fmt: skip
        model.write_h5ad(out / "model_validated.h5ad")
        write_toml(out / "config.toml", _config(args, files))
    print(f"desurv validate ({args.design}): {len(cohorts)} cohort(s) -> {args.out}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "fit": cmd_fit,
    "select": cmd_select,
    "score": cmd_score,
    "validate": cmd_validate,
    "top-genes": cmd_top_genes,
}
