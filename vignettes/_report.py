"""The rendering of a vignette: a Markdown report with its numbers, tables and figures.

Every vignette (``vignettes/<name>.py``, jupytext percent format) builds one :class:`Report`
and calls :meth:`Report.md`, :meth:`Report.table` and :meth:`Report.figure` as it goes; at the
end :meth:`Report.save` writes into the output folder:

- ``report.md``: the narrative with the numbers the run computed, tables and figure links
  (the documentation site renders it to HTML, figures included);
- ``figures/<name>.png`` (and ``.pdf``), ``tables/<name>.tsv``;
- ``results.json``: the headline numbers (what tests and the README read).

Output folder: ``--out DIR``, else ``$DESURV_VIGNETTE_OUT/<name>``, else
``vignettes/_output/<name>``. Fast mode: ``--fast`` or ``DESURV_VIGNETTE_FAST=1`` (what CI
runs; a few minutes for all vignettes together).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def options(name: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``--fast`` and ``--out`` of a vignette (with the environment fallbacks)."""
    p = argparse.ArgumentParser(description=f"desurv vignette: {name}")
    p.add_argument("--fast", action="store_true", help="the small run CI executes")
    p.add_argument("--out", default=None, help="output folder")
    args, _ = p.parse_known_args(argv)
    if os.environ.get("DESURV_VIGNETTE_FAST", "") not in ("", "0"):
        args.fast = True
    if args.out is None:
        base = os.environ.get("DESURV_VIGNETTE_OUT")
        args.out = str(Path(base) / name) if base else str(HERE / "_output" / name)
    return args


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    """A DataFrame as a Markdown (GitHub) table, numbers formatted with ``floatfmt``."""

    def cell(v: Any) -> str:
        if isinstance(v, float | np.floating):
            return "NA" if not math.isfinite(float(v)) else format(float(v), floatfmt)
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


class Report:
    """A vignette's rendered output (see the module docstring)."""

    def __init__(self, name: str, title: str, args: argparse.Namespace) -> None:
        self.name, self.title, self.args = name, title, args
        self.out = Path(args.out)
        (self.out / "figures").mkdir(parents=True, exist_ok=True)
        (self.out / "tables").mkdir(parents=True, exist_ok=True)
        self.parts: list[str] = [f"# {title}\n"]
        self.results: dict[str, Any] = {"vignette": name, "fast": bool(args.fast)}
        self.start = time.perf_counter()
        mode = "fast mode (CI)" if args.fast else "full mode"
        self.md(f"*Run in {mode}.*")

    def md(self, text: str) -> None:
        """A paragraph (Markdown)."""
        self.parts.append(text.strip() + "\n")
        print(text.strip())

    def table(self, df: pd.DataFrame, name: str, caption: str = "", index: bool = False,
              floatfmt: str = ".3g") -> None:
        """A table: written as TSV and shown in the report."""
        df.to_csv(self.out / "tables" / f"{name}.tsv", sep="\t", index=index)
        shown = df if index else df.reset_index(drop=True)
        text = markdown_table(shown.reset_index() if index else shown, floatfmt)
        self.parts.append((f"*{caption}*\n\n" if caption else "") + text + "\n")
        print(shown.to_string(index=index))

    def figure(self, fig: Any, name: str, caption: str) -> str:
        """A matplotlib Figure (or Axes): PNG and PDF, shown with its caption."""
        import matplotlib.pyplot as plt  # noqa: PLC0415

        fig = fig if hasattr(fig, "savefig") else fig.figure
        for ext in ("png", "pdf"):
            fig.savefig(self.out / "figures" / f"{name}.{ext}", dpi=110, bbox_inches="tight")
        plt.close(fig)
        rel = f"figures/{name}.png"
        self.parts.append(f"![{caption}]({rel})\n\n*{caption}*\n")
        return rel

    def result(self, **values: Any) -> None:
        """Headline numbers for results.json."""
        self.results.update(_clean(values))

    def save(self) -> Path:
        seconds = time.perf_counter() - self.start
        self.results["seconds"] = round(seconds, 1)
        self.md(f"*Run time: {seconds:.0f} s on this machine.*")
        (self.out / "report.md").write_text("\n".join(self.parts))
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2) + "\n")
        return self.out / "report.md"
