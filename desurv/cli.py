"""Command line of desurv: ``desurv demo`` (the main job), ``desurv datasets ...`` and the
analysis commands ``fit``, ``select``, ``score``, ``validate``, ``top-genes``
(:mod:`desurv._cli_analysis`).

Every command reports an error as one line on stderr, ``desurv <command>: error: <what is
wrong and what to do>``, and exits with status 1 (2 for bad usage). ``-v`` / ``--verbose``,
given before or after the subcommand, logs progress to stderr and prints the full traceback
of an error. Output piped into a reader that stops early (``desurv datasets list | head -1``)
ends quietly with status 0. ``desurv --version`` prints ``desurv <version>``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

from data_registry.errors import DatasetNotAvailableError
from desurv.exceptions import DivergenceError

_DESCRIPTION = (
    "DeSurv: survival-driven NMF. Errors are one line on stderr (exit status 1; 2 for bad "
    "usage); add -v/--verbose, before or after the subcommand, for progress messages and the "
    "full traceback."
)
_VERBOSE_HELP = "log progress to stderr and show the full traceback of an error"

#: Errors whose message is written for the user (what is wrong, what to do); any other
#: exception is reported with its type and a request to rerun with --verbose.
_USER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    LookupError,
    TypeError,
    DatasetNotAvailableError,
    DivergenceError,
)


def _build_parser() -> argparse.ArgumentParser:
    from data_registry.registry import ROLES
    from desurv import __version__

    parser = argparse.ArgumentParser(prog="desurv", description=_DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help=_VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # the subcommands accept --verbose too; SUPPRESS keeps a global -v from being reset
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        parents=[common],
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

    from desurv._cli_analysis import add_commands

    add_commands(sub, common)
    datasets = sub.add_parser(
        "datasets", parents=[common], help="list, describe and fetch the paper's cohorts"
    )
    datasets.add_argument("action", choices=["list", "info", "fetch"])
    datasets.add_argument("ids", nargs="*", help="cohort ids (info, fetch)")
    datasets.add_argument(
        "--cancer", default=None, help="list: keep one cancer type (PDAC, bladder, colorectal)"
    )
    datasets.add_argument(
        "--role", default=None, choices=ROLES, help="list: keep one role in the paper"
    )
    return parser


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line; unexpected types get their name and a hint."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, _USER_ERRORS) and msg:
        return msg
    return (
        f"{type(exc).__name__}: {msg or 'no message'}; this may be a bug in desurv: run the "
        "command again with --verbose and report the traceback"
    )


def _quiet_stdout() -> None:
    """Point stdout at devnull after a broken pipe, so that the final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


def _run(args: argparse.Namespace) -> int:
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
    from desurv._cli_analysis import HANDLERS

    if args.command in HANDLERS:
        return HANDLERS[args.command](args)
    if args.command == "datasets":
        datasets = importlib.import_module("desurv.datasets")
        return int(datasets._cli(args.action, args.ids, cancer=args.cancer, role=args.role) or 0)
    return 2  # pragma: no cover - argparse enforces the choices


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``desurv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success (also when the reader of stdout stops early), 1 on an
        error (reported as one line on stderr; the traceback too with ``--verbose``), 2 for
        bad usage, 130 when interrupted.
    """
    from desurv._cli_analysis import COMMANDS, UsageError, apply_config

    parser = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    if args.command in COMMANDS and not extra:
        try:
            args = apply_config(parser, argv)  # --config values as defaults; flags win
        except (OSError, ValueError) as exc:
            print(f"desurv {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
    if extra and args.command == "datasets" and not any(a.startswith("-") for a in extra):
        args.ids += extra  # ids after an option (`fetch -v ID`): argparse leaves them over
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    verbose = bool(getattr(args, "verbose", False))
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    elif not getattr(args, "quiet", False) and args.command in COMMANDS:
        logging.basicConfig(level=logging.WARNING, format="desurv: %(message)s")
    if args.command in COMMANDS:
        import warnings  # noqa: PLC0415

        if getattr(args, "quiet", False):
            warnings.simplefilter("ignore")
        else:  # one line per warning on stderr, without the source line

            def _show(message, category, filename, lineno, file=None, line=None):
                print(f"desurv: {category.__name__}: {message}", file=sys.stderr)

            warnings.showwarning = _show
    where = "desurv " + " ".join(
        str(part) for part in (args.command, getattr(args, "action", None)) if part
    )
    try:
        status = _run(args)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        print(f"{where}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the command line reports every error
        if verbose:
            traceback.print_exc()
        print(f"{where}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
