"""The one embedded R of the process: start-up checks, conversions, condition handling.

Nothing here imports rpy2 at module import time; R starts on the first call that needs it.
Every call into R goes through :func:`call`, which

- takes a process-wide lock (R is single threaded),
- refuses to run in a worker process of a parallel run (R is owned by the main process),
- converts arguments with a ``localconverter`` (numpy + pandas; no global ``activate()``),
- collects R warnings and messages and re-raises them as Python warnings
  (:class:`RWarning`, :class:`RMessage`) once the call returns,
- turns an R error into :class:`RError`, whose message is R's.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterable
from typing import Any

# desurv.exceptions is import-light (no R, no rpy2); R's conditions join desurv's warnings so
# that one filter on DeSurvWarning covers them.
from desurv.exceptions import DeSurvWarning

# --------------------------------------------------------------------------------------
# What to install, per missing piece (kept in one place so every message says the same).
# --------------------------------------------------------------------------------------
DEBIAN_R = "r-base-core r-base-dev"
DEBIAN_PACKAGES = {
    "survival": "r-cran-survival",
    "ConsensusClusterPlus": "r-bioc-consensusclusterplus",
    "cluster": "r-cran-cluster",
}
PIP_EXTRA = (
    "`pip install 'desurv[r]'` (pins rpy2<3.6.7 and rpy2-rinterface<3.6.6, the rpy2 that "
    "loads with Debian's R 4.2)"
)
ALL_DEBIAN = (
    "apt-get install -y --no-install-recommends r-base-core r-base-dev r-cran-survival "
    "r-bioc-consensusclusterplus"
)
_WHY = (
    "R is needed only for implementation='r' (the R validation of the paper: "
    "ConsensusClusterPlus and the survival package); implementation='python' works without it"
)


class RUnavailableError(ImportError):
    """A piece needed to run R from Python is missing; the message says what to install.

    Attributes
    ----------
    missing
        ``"R"``, ``"rpy2"``, or the name of the missing R package.
    """

    def __init__(self, message: str, missing: str):
        super().__init__(message)
        self.missing = missing


class RError(RuntimeError):
    """An error raised by R; ``str(err)`` carries R's message, ``r_message`` it alone."""

    def __init__(self, r_message: str, r_call: str | None = None, where: str | None = None):
        self.r_message = r_message
        self.r_call = r_call
        text = f"R error{f' in {where}' if where else ''}: {r_message}"
        if r_call:
            text += f"\n  (R call: {r_call})"
        super().__init__(text)


class RWarning(DeSurvWarning):
    """A warning raised by R during a call, re-raised in Python."""


class RMessage(DeSurvWarning):
    """A message (``message()``) printed by R during a call, re-raised as a Python warning."""


# --------------------------------------------------------------------------------------
# Finding R and rpy2 (each step is a small function so tests can replace it).
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _r_home_cached() -> str | None:
    home = os.environ.get("R_HOME")
    if home and os.path.isdir(home):
        return home
    exe = shutil.which("R")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "RHOME"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    home = out.stdout.strip()
    return home if home and os.path.isdir(home) else None


def _find_r_home() -> str | None:
    """R's home directory, or None when R is not installed."""
    return _r_home_cached()


# starting R writes R's own environment into os.environ; LD_LIBRARY_PATH among it makes
# every Python process started afterwards (joblib/loky or Dask workers) load the system's
# shared libraries before its own (measured: a Dask worker then fails to import _ssl). The
# running process read LD_LIBRARY_PATH at its start, so restoring it changes nothing here.
_RESTORE_AFTER_R = ("LD_LIBRARY_PATH",)


def _import_rpy2():
    """Import and return ``rpy2.robjects`` (this starts the embedded R), leaving the
    environment of later child processes as it was (see ``_RESTORE_AFTER_R``)."""
    saved = {k: os.environ.get(k) for k in _RESTORE_AFTER_R}
    try:
        import rpy2.robjects as ro  # noqa: PLC0415 - lazy on purpose
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return ro


def _missing_r_message() -> str:
    return (
        "R is not installed (no R_HOME and no `R` on PATH). "
        f"{_WHY}. Install R from Debian packages as root: `{ALL_DEBIAN}`, then {PIP_EXTRA}. "
        "`bash .ci/install_r.sh .venv/bin/python` does both."
    )


def _missing_rpy2_message(exc: BaseException) -> str:
    return (
        f"rpy2 is not importable ({type(exc).__name__}: {exc}). {_WHY}. Install it with "
        f"{PIP_EXTRA}; R itself comes from Debian packages (`{ALL_DEBIAN}`)."
    )


def _missing_package_message(package: str) -> str:
    deb = DEBIAN_PACKAGES.get(package, f"r-cran-{package.lower()}")
    what = {
        "ConsensusClusterPlus": "consensus_cluster(..., implementation='r') runs Bioconductor's "
        "ConsensusClusterPlus",
        "survival": "survival(..., implementation='r') runs R's survival package (coxph, "
        "survdiff, concordance)",
    }.get(package, f"the R side needs the R package {package}")
    return (
        f"The R package {package} is not installed in R. {what}. Install it as root with "
        f"`apt-get install -y --no-install-recommends {deb}` (Debian package {deb}); "
        "or use implementation='python'."
    )


# --------------------------------------------------------------------------------------
# The session.
# --------------------------------------------------------------------------------------
_LOCK = threading.RLock()
_STATE: dict[str, Any] = {"ro": None, "env": None, "pid": None, "packages": {}}

# R helpers, evaluated once into a private environment (never the global environment).
_R_HELPERS = r"""
local({
  env <- new.env()
  env$call <- function(fname, ...) {
    warns <- character(0); msgs <- character(0)
    f <- get(fname, envir = env, inherits = FALSE)
    val <- tryCatch(
      withCallingHandlers(f(...),
        warning = function(w) {
          warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
        },
        message = function(m) {
          msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage")
        }),
      error = function(e) {
        cl <- conditionCall(e)
        txt <- if (is.null(cl)) "" else paste(deparse(cl, nlines = 1L), collapse = "")
        structure(list(message = conditionMessage(e), call = txt),
                  class = "desurv_r_error")
      })
    ok <- !inherits(val, "desurv_r_error")
    list(ok = ok, value = if (ok) val else NULL,
         error = if (ok) "" else val$message, error_call = if (ok) "" else val$call,
         warnings = warns, messages = msgs)
  }
  env$has_package <- function(pkg) requireNamespace(pkg, quietly = TRUE)
  env$eval_text <- function(text) eval(parse(text = text), envir = new.env(parent = globalenv()))
  env$define_text <- function(text) {
    eval(parse(text = text), envir = env)
    invisible(TRUE)
  }
  env
})
"""


def locked(func):
    """Run ``func`` holding the R lock (R is single threaded: one caller at a time)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return func(*args, **kwargs)

    return wrapper


def _check_process() -> None:
    if multiprocessing.parent_process() is not None:
        raise RuntimeError(
            "r_bridge was called from a worker process of a parallel run. The embedded R "
            "belongs to the main process: call implementation='r' functions there, not "
            "inside joblib/multiprocessing workers."
        )
    pid = _STATE["pid"]
    if pid is not None and pid != os.getpid():
        raise RuntimeError(
            "r_bridge was called in a process forked after R had started; the embedded R "
            "cannot be shared across fork. Call it from the process that started it."
        )


def _session():
    """Start R (once) and return ``(robjects, helper_env)``; raise RUnavailableError."""
    _check_process()
    if _find_r_home() is None:
        raise RUnavailableError(_missing_r_message(), "R")
    if _STATE["ro"] is None:
        try:
            ro = _import_rpy2()
        except Exception as exc:  # ImportError, or rpy2 failing to load libR
            raise RUnavailableError(_missing_rpy2_message(exc), "rpy2") from exc
        env = ro.r(_R_HELPERS)
        _STATE.update(ro=ro, env=env, pid=os.getpid())
    else:
        # rpy2 may be "removed" by a test; re-check the import cheaply.
        try:
            _import_rpy2()
        except Exception as exc:
            raise RUnavailableError(_missing_rpy2_message(exc), "rpy2") from exc
    return _STATE["ro"], _STATE["env"]


def _has_package(package: str) -> bool:
    """Whether R can load ``package`` (cached per process)."""
    cache = _STATE["packages"]
    if package not in cache:
        ro, env = _session()
        with _LOCK:
            cache[package] = bool(env["has_package"](package)[0])
    return cache[package]


def require(packages: Iterable[str] = ()) -> None:
    """Start R if needed and check that each R package is installed.

    Raises
    ------
    RUnavailableError
        With a message that names what to install (Debian package, pip extra) and why.
    """
    with _LOCK:
        _session()
        for pkg in packages:
            if not _has_package(pkg):
                raise RUnavailableError(_missing_package_message(pkg), pkg)


def available(packages: Iterable[str] = ("survival", "ConsensusClusterPlus")) -> bool:
    """True when R, rpy2 and the given R packages are usable (this starts R)."""
    try:
        require(packages)
    except RUnavailableError:
        return False
    return True


def unavailable_reason(
    packages: Iterable[str] = ("survival", "ConsensusClusterPlus"),
) -> str | None:
    """None when :func:`available` is True, else the message saying what to install."""
    try:
        require(packages)
    except RUnavailableError as err:
        return str(err)
    return None


def converter():
    """The converter used for every call: rpy2 default + numpy + pandas, local only."""
    ro, _ = _session()
    from rpy2.robjects import numpy2ri, pandas2ri  # noqa: PLC0415

    return ro.default_converter + numpy2ri.converter + pandas2ri.converter


def to_r(value: Any):
    """Convert a Python value to an R object (None -> NULL) inside a localconverter."""
    ro, _ = _session()
    from rpy2.robjects.conversion import localconverter  # noqa: PLC0415

    if value is None:
        return ro.NULL
    import rpy2.rinterface as ri  # noqa: PLC0415

    if isinstance(value, ri.Sexp):
        return value
    with localconverter(converter()) as cv:
        return cv.py2rpy(value)


def to_numpy(robj, dtype=float):
    """A numpy *copy* of an R vector/matrix.

    Never keep ``np.asarray(robj)``: it can be a view on memory that R owns and frees once
    the rpy2 object is released, after which the array silently holds garbage.
    """
    import numpy as np  # noqa: PLC0415

    return np.array(robj, dtype=dtype, copy=True)


def call(
    fname: str,
    *args: Any,
    packages: Iterable[str] = (),
    quiet_messages: Iterable[str] = (),
    stacklevel: int = 3,
    **kwargs: Any,
):
    """Call the R helper ``fname`` (defined in this package's private R environment).

    Arguments are converted with :func:`to_r`. Returns the R value (rpy2 objects, default
    converter). R warnings become :class:`RWarning`, R messages :class:`RMessage` (except
    those whose stripped text is in ``quiet_messages``), R errors :class:`RError`.
    """
    with _LOCK:
        require(packages)
        ro, env = _session()
        r_args = [to_r(a) for a in args]
        r_kwargs = {k: to_r(v) for k, v in kwargs.items()}
        from rpy2.robjects.conversion import localconverter  # noqa: PLC0415

        with localconverter(ro.default_converter):
            out = env["call"](fname, *r_args, **r_kwargs)
            ok = bool(out.rx2("ok")[0])
            value = out.rx2("value")
            err = str(out.rx2("error")[0])
            err_call = str(out.rx2("error_call")[0])
            r_warnings = [str(w) for w in out.rx2("warnings")]
            r_messages = [str(m) for m in out.rx2("messages")]
    quiet = {q.strip() for q in quiet_messages}
    for text in r_messages:
        if text.strip() and text.strip() not in quiet:
            warnings.warn(RMessage(f"R message: {text.strip()}"), stacklevel=stacklevel)
    for text in r_warnings:
        warnings.warn(RWarning(f"R warning: {text.strip()}"), stacklevel=stacklevel)
    if not ok:
        raise RError(err, err_call or None, where=fname)
    return value


_DEFINED_NAME = re.compile(r"^\s*([A-Za-z.][A-Za-z0-9._]*)\s*(?:<-|=)\s*function\b", re.M)


def _block_name(r_code: str, name: str | None, caller: str | None) -> str:
    """How a helper block is named in errors: ``name``, or the caller's module and the
    first functions the code defines."""
    if name:
        return name
    defined = _DEFINED_NAME.findall(r_code)
    shown = ", ".join(defined[:4]) + (", ..." if len(defined) > 4 else "")
    what = f"the R helper block of {caller or 'r_bridge'}"
    return what + (f" (which defines {shown})" if shown else "")


def define(r_code: str, name: str | None = None) -> None:
    """Evaluate R code defining helpers into the private environment (``env$name <- ...``).

    Parameters
    ----------
    r_code
        R source; its top-level assignments land in the private helper environment.
    name
        How to name the block in an error; default: the calling module and the functions
        the code defines.

    Raises
    ------
    RError
        When R fails to parse or evaluate the code (a syntax error, a missing package, an
        error at top level); the message is R's and names the helper block that failed.
        R's warnings and messages become :class:`RWarning` / :class:`RMessage`, as in
        :func:`call`.
    """
    caller = sys._getframe(1).f_globals.get("__name__")
    with _LOCK:
        try:
            call("define_text", text=r_code, stacklevel=3)
        except RError as err:
            block = _block_name(r_code, name, caller)
            missing = _MISSING_PACKAGE.search(err.r_message)
            new = RError(err.r_message, err.r_call, where=block)
            if missing:
                new.args = (f"{new.args[0]}\n  {_missing_package_message(missing.group(1))}",)
            raise new from None


_MISSING_PACKAGE = re.compile(r"there is no package called .([A-Za-z0-9._]+).")


def is_defined(name: str) -> bool:
    with _LOCK:
        ro, env = _session()
        return bool(ro.r["exists"](name, envir=env, inherits=False)[0])
