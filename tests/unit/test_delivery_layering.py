"""Delivery sits above the core: the core, the store and the model never import it, and it
never imports the core's context (it is given settings, the database and a wake-up event)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "runplane"


def imported_by(package: str) -> dict[str, set[str]]:
    """Every module a package's files import (absolute names), by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((SOURCE / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[str(path.relative_to(SOURCE))] = names
    return found


@pytest.mark.parametrize("package", ["model", "store", "core"])
def test_the_layers_below_delivery_do_not_import_it(package: str) -> None:
    offending = {path: sorted(name for name in names if name.startswith("runplane.delivery"))
                 for path, names in imported_by(package).items()}
    assert {path: names for path, names in offending.items() if names} == {}


def test_delivery_does_not_import_the_cores_context() -> None:
    offending = {path: sorted(name for name in names if name.startswith("runplane.core.context"))
                 for path, names in imported_by("delivery").items()}
    assert {path: names for path, names in offending.items() if names} == {}
