"""The runtimes a script may name, described the way Syncano's runtimes endpoint did."""

from __future__ import annotations

import platform
from typing import Any

from runplane.errors import Invalid

PYTHON3 = "python3"
SHELL = "shell"

RUNTIMES: dict[str, dict[str, Any]] = {
    PYTHON3: {
        "name": "Python",
        "version": platform.python_version(),
        "library": None,
        "library_version": None,
        "deprecated": False,
        "image": None,
        "packages": None,
    },
    SHELL: {
        "name": "Shell",
        "version": "POSIX sh",
        "library": None,
        "library_version": None,
        "deprecated": False,
        "image": None,
        "packages": None,
    },
}


def check_runtime(value: Any) -> str:
    if value is None or value == "":
        raise Invalid.field("runtime_name", "This field is required.")
    if not isinstance(value, str) or value not in RUNTIMES:
        raise Invalid.field("runtime_name", f'"{value}" is not a valid choice.')
    return value
