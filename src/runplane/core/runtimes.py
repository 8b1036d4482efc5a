"""The runtimes a script may name (the script door describes them in Syncano's shape)."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from runplane.errors import Invalid

PYTHON3 = "python3"
SHELL = "shell"


@dataclass(frozen=True)
class Runtime:
    """A runtime a script may name: its language and that language's version."""

    language: str
    version: str


RUNTIMES: dict[str, Runtime] = {
    PYTHON3: Runtime(language="Python", version=platform.python_version()),
    SHELL: Runtime(language="Shell", version="POSIX sh"),
}


def check_runtime(value: Any) -> str:
    if value is None or value == "":
        raise Invalid.field("runtime_name", "This field is required.")
    if not isinstance(value, str) or value not in RUNTIMES:
        raise Invalid.field("runtime_name", f'"{value}" is not a valid choice.')
    return value
