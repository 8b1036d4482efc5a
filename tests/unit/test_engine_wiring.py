"""The engine's wiring: performers registered in one place, and no import cycle between them
and their types. (That engine/ imports no SQLAlchemy is an import-linter contract.)"""

from __future__ import annotations

import ast
from pathlib import Path

import runplane.engine
from runplane.engine.batch_performer import perform_batch
from runplane.engine.performer_registry import performers_by_kind
from runplane.engine.script_performer import perform_script
from runplane.engine.service_performer import perform_service_target
from runplane.model import RunKind

ENGINE = Path(runplane.engine.__file__).parent
PERFORMER_MODULES = ("batch_performer", "script_performer", "service_performer",
                     "service_batch")


def imported(path: Path, *, local_only: bool = False) -> set[str]:
    """The modules `path` imports (with `local_only`: only those imported in a function)."""
    tree = ast.parse(path.read_text())
    nodes = ast.walk(tree)
    if local_only:
        nodes = (node for function in ast.walk(tree)
                 if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
                 for node in ast.walk(function))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_every_run_kind_has_its_performer() -> None:
    registry = performers_by_kind()
    assert registry == {RunKind.SCRIPT: perform_script,
                        RunKind.SERVICE: perform_service_target, RunKind.BATCH: perform_batch}
    # A claimed task carries its kind as the store keeps it: a plain string finds it too.
    assert registry["script"] is perform_script


def test_performers_and_their_registry_import_no_cycle() -> None:
    types = imported(ENGINE / "performers.py")
    assert not {f"runplane.engine.{name}" for name in PERFORMER_MODULES} & types
    assert "runplane.engine.performer_registry" not in types
    for name in PERFORMER_MODULES:
        assert "runplane.engine.performer_registry" not in imported(ENGINE / f"{name}.py")
    for name in ("performers", "performer_registry"):
        assert imported(ENGINE / f"{name}.py", local_only=True) == set()
