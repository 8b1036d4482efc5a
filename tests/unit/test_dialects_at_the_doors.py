"""The doors' tables (batch namespaces, instance types) are whole without importing anything
else. (That nothing below the doors imports them is an import-linter contract.)"""

from __future__ import annotations

import subprocess
import sys


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
    assert shown == ("credential,device,pool,python_snippet_service,script_service,service,"
                     "shell_command_service")


def test_the_batch_namespaces_are_whole_once_the_actions_are_imported() -> None:
    shown = fresh_interpreter(
        "from runplane.api.batch_door.actions import batch_actions; "
        "print(','.join(sorted(batch_actions().namespaces)))"
    )
    assert shown == "device,pool,run,script,service"
