"""The documentation site (mkdocs.yml) builds with warnings as errors and shows the docstrings.

``mkdocs build --strict`` into a temporary folder, as ``make docs`` runs it: the API pages hold
the docstrings (mkdocstrings, numpy style), and every vignette has its page, rendered from
the vignette's output or saying that it was not rendered. The vignette hook
(``docs/_vignette_hook.py``) is also checked on its own with a fake vignette output.
"""

from __future__ import annotations

import html
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = ("simulation", "pdac", "bladder", "colorectal", "cross_cancer")
def _missing() -> str | None:
    for module in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{module} is not importable: pip install -e '.[docs]' (make setup)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _text(page: Path) -> str:
    """The visible text of an HTML page, whitespace collapsed.

    Tags become spaces, so ``<code>base</code>.`` reads ``base .``: compare with :func:`_has`.
    """
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _has(text: str, phrase: str) -> bool:
    """``phrase`` in ``text``, whitespace ignored."""
    return "".join(phrase.split()) in "".join(text.split())


def _summary(obj: object) -> str:
    """The first line of a docstring, as the page shows it (inline code marks dropped)."""
    first = inspect.getdoc(obj).strip().splitlines()[0]
    return " ".join(first.replace("``", "").replace("`", "").split())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_api_pages_show_the_docstrings(site: Path) -> None:
    import desurv

    pages = {
        "desurv": [desurv.DeSurv, desurv.DeSurv.fit, desurv.DeSurv.predict],
        "tl": [desurv.tl.validate, desurv.tl.fit, desurv.tl.select],
        "pp": [desurv.pp.log1p],
        "selection": [desurv.selection.DeSurvSearch],
        "stats": [desurv.stats.cox_ph],
    }
    for page, objects in pages.items():
        text = _text(site / "api" / page / "index.html")
        for obj in objects:
            summary = _summary(obj)
            assert _has(text, summary), f"api/{page}: no docstring of {obj.__qualname__}"
    # parameters are rendered from the numpy sections, not as raw text
    desurv_page = (site / "api" / "desurv" / "index.html").read_text(encoding="utf-8")
    assert "checkpoint_every" in desurv_page and "Parameters" in desurv_page
    for page in ("pl", "metrics", "datasets", "simulate", "r_bridge"):
        assert (site / "api" / page / "index.html").is_file(), page


def test_every_page_of_the_nav_is_built(site: Path) -> None:
    for page in ("index.html", "model/index.html", "cli/index.html", "vignettes/index.html",
                 "r_desurv_variant/index.html", "api_contract/index.html"):
        assert (site / page).is_file(), page
    model = _text(site / "model" / "index.html")
    assert "scale-free" in model and "lambda_" in model and "alpha" in model


def test_vignette_pages_exist_rendered_or_with_the_note(site: Path) -> None:
    for name in VIGNETTES:
        page = site / "vignettes" / name / "report" / "index.html"
        assert page.is_file(), f"no page for vignette {name}"
        text = _text(page)
        note = f"not rendered in this build: run python vignettes/{name}.py"
        if note in text:
            continue
        # rendered: its figures are on the site beside it
        for src in re.findall(r'<img[^>]*src="([^"]+)"', page.read_text(encoding="utf-8")):
            if not re.match(r"https?:", src):
                assert (page.parent / src).resolve().is_file(), f"{name}: {src} missing"


def test_hook_adds_rendered_reports_and_notes(tmp_path: Path, monkeypatch) -> None:
    from mkdocs.config import load_config
    from mkdocs.structure.files import Files

    out = tmp_path / "vout"
    (out / "pdac" / "figures").mkdir(parents=True)
    (out / "pdac" / "report.md").write_text("# PDAC\n\n![a figure](figures/km.png)\n")
    (out / "pdac" / "figures" / "km.png").write_bytes(b"\x89PNG\r\n")
    monkeypatch.setenv("DESURV_VIGNETTE_OUT", str(out))
    config = load_config(str(ROOT / "mkdocs.yml"))  # loads the hooks as plugins
    files = config.plugins.on_files(Files([]), config=config)
    by_uri = {f.src_uri: f for f in files}
    assert by_uri["vignettes/pdac/report.md"].abs_src_path == str(out / "pdac" / "report.md")
    assert "vignettes/pdac/figures/km.png" in by_uri
    for name in set(VIGNETTES) - {"pdac"}:
        content = by_uri[f"vignettes/{name}/report.md"].content_string
        assert f"not rendered in this build: run python vignettes/{name}.py" in content
    assert not (ROOT / "docs" / "vignettes" / "pdac").exists(), "nothing is written into docs/"
