"""The user docs name what the code has.

README.md and docs/api_contract.md: every backticked ``desurv.*`` name resolves; the
``desurv.pp`` / ``tl`` / ``pl`` functions they list exist; the estimator attributes they name
are in the docstring's Attributes section (``tests/test_house.py`` checks that a fit sets
those). In every Markdown page of the repository, links point inside it (or to the web).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import desurv
from desurv import DeSurv

ROOT = Path(__file__).resolve().parents[1]
USER_DOCS = [ROOT / "README.md", ROOT / "docs" / "api_contract.md"]
ANNDATA_API = ("pp", "tl", "pl")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _spans(text: str) -> list[str]:
    """Inline code spans (fenced code blocks left out)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.findall(r"`([^`]+)`", text.replace("\n", " "))


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    obj: object = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        else:  # a submodule not imported by its package
            obj = importlib.import_module(".".join(parts[:i]))
    return obj


def _documented_attributes() -> set[str]:
    doc = DeSurv.__doc__
    section = doc[doc.index("Attributes\n    ----------") : doc.index("Notes\n    -----")]
    name = r"[A-Za-z_][A-Za-z0-9_]*_"
    groups = re.findall(rf"^    ({name}(?:, {name})*) :", section, re.M)
    return {n.strip() for group in groups for n in group.split(",")}


def _top_level_names(text: str) -> list[str]:
    """Backticked bare identifiers outside parentheses (the functions of a bullet list)."""
    names, depth, i = [], 0, 0
    while i < len(text):
        c = text[i]
        if c == "`":
            j = text.index("`", i + 1)
            if depth == 0 and re.fullmatch(r"[a-z_][a-z0-9_]*", text[i + 1 : j]):
                names.append(text[i + 1 : j])
            i = j + 1
            continue
        depth += (c == "(") - (c == ")")
        i += 1
    return names


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: p.name)
def test_every_desurv_name_resolves(doc: Path) -> None:
    names = {
        m.group(0)
        for span in _spans(_text(doc))
        if (m := re.match(r"desurv(?:\.[A-Za-z_][A-Za-z0-9_]*)+", span))
    }
    assert names, "no desurv.* name found"
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (AttributeError, ImportError):
            missing.append(name)
    assert not missing, f"{doc.name} names what the code lacks: {missing}"


def test_readme_lists_the_anndata_functions_by_their_names() -> None:
    text = " ".join(_text(ROOT / "README.md").split())
    found = {}
    for mod, names in re.findall(r"`desurv\.(pp|tl|pl)` \(([^)]*)\)", text):
        found[mod] = [n.strip() for n in names.split(",")]
    assert set(found) == set(ANNDATA_API)
    for mod, names in found.items():
        module = getattr(desurv, mod)
        assert sorted(names) == sorted(module.__all__), f"desurv.{mod}: {names}"


def test_api_contract_lists_the_anndata_functions_by_their_names() -> None:
    text = _text(ROOT / "docs" / "api_contract.md")
    for mod in ANNDATA_API:
        bullet = re.search(rf"^- `desurv\.{mod}`:(.*?)(?=^- |^$)", text, re.M | re.S)
        assert bullet, f"no bullet for desurv.{mod}"
        names = set(_top_level_names(bullet.group(1)))
        module = getattr(desurv, mod)
        assert names == set(module.__all__), f"desurv.{mod}: {sorted(names)}"


def test_estimator_attributes_named_in_the_docs_exist() -> None:
    documented = _documented_attributes()
    contract = _text(ROOT / "docs" / "api_contract.md")
    start = contract.index("Fitted attributes")
    block = contract[start : contract.index("\n## ", start)]
    named = {s for s in _spans(block) if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*_", s)}
    assert {"W_", "H_", "coef_", "coef_std_", "loss_history_"} <= named
    assert named <= documented, sorted(named - documented)
    readme = _text(ROOT / "README.md")
    for name in re.findall(r"(?<![/\w])model\.([A-Za-z_][A-Za-z0-9_]*)", readme):
        assert name in documented or callable(getattr(DeSurv, name, None)), name


def _markdown_pages() -> list[Path]:
    # generated output (vignette reports, the built site) is not part of the repository
    skip = {".venv", ".git", "node_modules", "_output", "_generated", "site"}
    return sorted(p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts))


@pytest.mark.parametrize("page", _markdown_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository(page: Path) -> None:
    text = _text(page)
    assert "/work/" not in text, "a path of our machines"
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"(https?|mailto):", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{target} points outside the repository"
        assert path.exists(), f"{target} does not exist"


def test_readme_links_every_vignette_with_one_of_its_figures() -> None:
    """Each vignette of vignettes/run_all.py is linked from the README with a figure that
    exists (written by `python vignettes/run_all.py --publish`)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_run_all", ROOT / "vignettes" / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    readme = _text(ROOT / "README.md")
    for name in run_all.VIGNETTES:
        assert f"](vignettes/{name}.py)" in readme, name
        fig = f"docs/figures/vignette_{name}.png"
        assert f"]({fig})" in readme and (ROOT / fig).is_file(), fig
        assert (ROOT / "vignettes" / f"{name}.py").is_file()
