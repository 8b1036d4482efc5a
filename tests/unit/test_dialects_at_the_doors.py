"""Each door's dialect lives with its door: nothing below the doors imports them, and the
doors' tables (batch namespaces, instance types) are whole without importing anything else."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import runplane

PACKAGE = Path(runplane.__file__).parent
BELOW_THE_DOORS = ("model", "store", "core", "delivery", "engine")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_layer_below_the_doors_imports_a_door() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for layer in BELOW_THE_DOORS
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name == "runplane.api" or name.startswith("runplane.api.")
    ]
    assert offenders == []


def fresh_interpreter(code: str) -> str:
    """What `code` prints in a new interpreter (nothing imported before it)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.strip()


def test_the_instance_types_are_whole_once_the_inventory_is_imported() -> None:
    shown = fresh_interpreter(
        "from runplane.api.service_door.inventory import INSTANCE_TYPES; "
        "print(','.join(sorted(INSTANCE_TYPES)))"
    )
    assert shown == "device,pool,service"


def test_the_batch_namespaces_are_whole_once_the_actions_are_imported() -> None:
    shown = fresh_interpreter(
        "from runplane.api.batch_door.actions import batch_actions; "
        "print(','.join(sorted(batch_actions().namespaces)))"
    )
    assert shown == "device,pool,run,script,service"
