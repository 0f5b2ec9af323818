"""Run every vignette and gather their rendered reports (and, with --publish, the README figures).

Usage: ``python vignettes/run_all.py [--fast] [--out DIR] [--publish]``

- each vignette runs in its own process (``python vignettes/<name>.py [--fast] --out
  DIR/<name>``), in the order below; a failing vignette fails the whole run (exit 1) after
  the others have run;
- DIR defaults to ``$DESURV_VIGNETTE_OUT``, else ``docs/_generated/vignettes`` (what the
  documentation site renders);
- ``--publish`` copies each vignette's headline figure (``results.json``:
  ``headline_figure``) to ``docs/figures/vignette_<name>.png``, the images the README shows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VIGNETTES = ("simulation", "pdac", "bladder", "colorectal", "cross_cancer")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--publish", action="store_true")
    p.add_argument("--only", nargs="*", default=None, help="run these vignettes only")
    args = p.parse_args(argv)
    out = Path(args.out or os.environ.get("DESURV_VIGNETTE_OUT")
               or ROOT / "docs" / "_generated" / "vignettes")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    failed = []
    for name in args.only or VIGNETTES:
        start = time.perf_counter()
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out / name)]
        if args.fast:
            cmd.append("--fast")
        r = subprocess.run(cmd, cwd=ROOT, env=env)
        took = time.perf_counter() - start
        print(f"== {name}: exit {r.returncode} in {took:.0f} s", flush=True)
        if r.returncode != 0:
            failed.append(name)
            continue
        if args.publish:
            res = json.loads((out / name / "results.json").read_text())
            fig = res.get("headline_figure")
            if fig:
                dest = ROOT / "docs" / "figures" / f"vignette_{name}.png"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / name / fig, dest)
                print(f"   published {dest.relative_to(ROOT)}")
    if failed:
        print(f"vignettes failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
