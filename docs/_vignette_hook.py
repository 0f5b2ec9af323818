"""MkDocs hook (``hooks:`` in mkdocs.yml): the vignette pages of the documentation site.

Each vignette ``vignettes/<name>.py`` writes a rendered report into its output folder
(``vignettes/_report.py``): ``report.md``, ``figures/*.png`` (and ``.pdf``), ``tables/*.tsv``,
``results.json``. On every build, :func:`on_files` adds to the site, for each vignette in
:data:`VIGNETTES`:

- when the vignette's output folder holds a ``report.md``: that page as
  ``vignettes/<name>/report.md`` and every other file of the folder beside it (so the
  report's ``figures/<name>.png`` links resolve), read from where the vignette wrote them;
- otherwise a page ``vignettes/<name>/report.md`` that says "not rendered in this build:
  run python vignettes/<name>.py", so that a site built without running the vignettes still
  passes ``mkdocs build --strict``.

The output folder of vignette ``<name>``: ``$DESURV_VIGNETTE_OUT/<name>`` when
``DESURV_VIGNETTE_OUT`` is set (the vignettes' own variable); otherwise the first of
``docs/_generated/vignettes/<name>`` and ``vignettes/_output/<name>`` (where a vignette writes
without ``--out`` or the variable) that holds a ``report.md``. Both are gitignored.

The files are added to MkDocs' file collection only (``File.generated``); nothing is written
into ``docs/``. Run the vignettes first to render them, e.g.::

    python vignettes/run_all.py --fast   # into docs/_generated/vignettes/<name>/
    make docs

Sphinx markup in the docstrings: mkdocstrings renders them as Markdown, where a role such as
``:func:`desurv.tl.fit``` shows as ``:func:`` before the code and ``.. math::`` as a paragraph
before the formula's code block; :func:`on_page_content` drops those two on the API pages
(``api/``), leaving the code and the formula.

Known docstring warnings: ``mkdocs build --strict`` fails on every warning, the docstring
parser's (griffe, numpy style) included. :data:`KNOWN_DOCSTRING_WARNINGS` lists the few
docstrings of the package that the numpy parser cannot read as numpydoc (reported for a fix
in the docstring itself); :func:`on_config` logs those warnings at INFO level instead, so a
new docstring problem anywhere else still fails the build. Delete an entry once its
docstring is fixed.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.structure.files import File, Files

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[1]

#: Vignette name (``vignettes/<name>.py``) -> title of its page.
VIGNETTES = {
    "simulation": "Simulation",
    "pdac": "PDAC",
    "bladder": "Bladder",
    "colorectal": "Colorectal",
    "cross_cancer": "Cross-cancer",
}

NOT_RENDERED = "not rendered in this build: run python vignettes/{name}.py"

#: (source file, start of the message) of docstring warnings logged at INFO level instead.
KNOWN_DOCSTRING_WARNINGS: list[tuple[str, str]] = [
    # (file, message) of docstrings the numpy parser cannot read yet; none at present
]


class _KnownDocstringWarnings(logging.Filter):
    """Logs the warnings of :data:`KNOWN_DOCSTRING_WARNINGS` at INFO level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            msg = record.getMessage()
            for path, start in KNOWN_DOCSTRING_WARNINGS:
                if f"{path}:" in msg and f": {start}" in msg:
                    record.levelno, record.levelname = logging.INFO, "INFO"
                    record.msg, record.args = f"{msg} (known, reported)", None
        return True


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    # mkdocstrings routes griffe's messages to the logger mkdocs.plugins.griffe.
    logger = logging.getLogger("mkdocs.plugins.griffe")
    if not any(isinstance(f, _KnownDocstringWarnings) for f in logger.filters):
        logger.addFilter(_KnownDocstringWarnings())
    return config


def candidates(name: str) -> list[Path]:
    """The folders where vignette ``name``'s output is looked for, in order."""
    base = os.environ.get("DESURV_VIGNETTE_OUT")
    if base:
        return [Path(base) / name]
    return [ROOT / "docs" / "_generated" / "vignettes" / name,
            ROOT / "vignettes" / "_output" / name]


def output_dir(name: str) -> Path | None:
    """The first candidate folder that holds a ``report.md``, or None."""
    return next((d for d in candidates(name) if (d / "report.md").is_file()), None)


def placeholder(name: str, title: str) -> str:
    """The page of a vignette whose output is missing."""
    return (
        f"# {title}\n\n"
        f"*{NOT_RENDERED.format(name=name)}*\n\n"
        f"Then rebuild the site (`make docs`). See [the vignettes](../index.md) for what the "
        f"vignette shows and where its output is read from.\n"
    )


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for name, title in VIGNETTES.items():
        uri = f"vignettes/{name}"
        for existing in [f for f in files if f.src_uri.startswith(uri + "/")]:
            files.remove(existing)
        folder = output_dir(name)
        if folder is None:
            files.append(
                File.generated(config, f"{uri}/report.md", content=placeholder(name, title))
            )
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            rel = path.relative_to(folder).as_posix()
            files.append(File.generated(config, f"{uri}/{rel}", abs_src_path=str(path)))
    return files


_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|py:\w+):(?=<code>)")


def on_page_content(html: str, page: Page, **kwargs: object) -> str:
    if not page.file.src_uri.startswith("api/"):
        return html
    return _ROLE.sub("", html).replace("<p>.. math::</p>", "")
