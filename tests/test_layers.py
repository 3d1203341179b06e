"""The layer rules of docs/design.md §1, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "campaign_desktop"
LAYERS = ("domain", "persistence", "channels", "services", "scheduling", "ui")
# What each layer may import of the project (besides itself): exactly the table of
# docs/design.md §1. "context" is the composition root (`AppContext`), which the ui is handed.
ALLOWED = {
    "domain": set(),
    "persistence": {"domain"},
    "channels": {"domain"},
    "services": {"domain", "persistence", "channels"},
    "scheduling": {"domain", "services"},
    "ui": {"domain", "services", "context"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_of(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "campaign_desktop" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_the_layers_below_it(layer: str) -> None:
    offences = []
    for path in modules_of(layer):
        for module in imported_modules(path):
            target = layer_of(module)
            if target is not None and target != layer and target not in ALLOWED[layer]:
                offences.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offences == []


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_nothing_below_the_ui_imports_qt(layer: str) -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in modules_of(layer)
        for module in imported_modules(path)
        if module.split(".")[0] in {"PySide6", "shiboken6"}
    ]
    assert offences == []


def test_the_table_is_the_one_in_the_design() -> None:
    """docs/design.md §1 draws the table; this test holds the same one, line by line."""
    design = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    drawn = {}
    for line in design.split("## 2.")[0].splitlines():
        name, _, rest = line.partition("/ ")
        if name in LAYERS and "(imports" in rest:
            listed = rest.split("(imports", 1)[1].split(")")[0]
            drawn[name] = {
                word.strip().removesuffix(".py").removesuffix("/")
                for word in listed.split(",")
                if word.strip() and word.strip() != "nothing"
            }
    assert drawn == {**ALLOWED, "domain": set()}


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from campaign_desktop.persistence.models import Campaign\nimport PySide6\n")
    assert {"campaign_desktop.persistence.models", "PySide6"} <= imported_modules(bad)
    assert layer_of("campaign_desktop.persistence.models") == "persistence"


def test_the_ui_common_folder_imports_no_feature() -> None:
    """docs/design.md §1: `ui/common/` is what the features share, so it imports none of them."""
    offences = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in sorted((PACKAGE / "ui" / "common").rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith("campaign_desktop.ui.")
        and not module.startswith("campaign_desktop.ui.common")
    ]
    assert offences == []
