"""Command line of desurv: ``desurv demo`` (the main job) and ``desurv datasets ...``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="desurv", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="simulate the paper's design, fit DeSurv (alpha by CV) and plain NMF, compare "
        "test C-index and the precision of the lethal program",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--scenarios",
        default="primary,null",
        help="comma-separated simulation scenarios: primary, null, mixed (default: primary,null)",
    )
    demo.add_argument(
        "--replicates", type=int, default=3, help="simulated cohorts per scenario (default 3)"
    )
    demo.add_argument(
        "--n-jobs", type=int, default=1, help="processes for the cross-validation (default 1)"
    )
    demo.add_argument("--out", default=None, help="optional folder for a CSV of the results")

    datasets = sub.add_parser("datasets", help="list, describe and fetch the paper's cohorts")
    datasets.add_argument("action", choices=["list", "info", "fetch"])
    datasets.add_argument("ids", nargs="*", help="cohort ids (info, fetch)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "demo":
        from desurv.demo import run_demo

        run_demo(
            seed=args.seed,
            scenarios=[s.strip() for s in args.scenarios.split(",") if s.strip()],
            n_replicates=args.replicates,
            n_jobs=args.n_jobs,
            out=args.out,
        )
        return 0
    if args.command == "datasets":
        datasets = importlib.import_module("desurv.datasets")
        return int(datasets._cli(args.action, args.ids) or 0)
    return 2  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
