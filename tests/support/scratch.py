"""Folders that tests' scripts may write (to leave marks the test reads): confined runs write
only their own run directory and RUNPLANE_CONFINE_WRITE, which every test server gets as
SCRATCH_ROOT. Apart from the tests' own tmp_path, where the servers keep their databases and
logs, which no script may reach."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SCRATCH_ROOT = Path(tempfile.gettempdir()) / f"runplane-test-scratch-{os.getuid()}"


def scratch_dir(prefix: str = "marks-") -> Path:
    """A new folder under SCRATCH_ROOT that runs of a test server may write."""
    SCRATCH_ROOT.mkdir(mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=SCRATCH_ROOT))


def scratch_env() -> dict[str, str]:
    """What a test's server (or `runplane worker`) needs to let runs write scratch folders."""
    SCRATCH_ROOT.mkdir(mode=0o700, exist_ok=True)
    return {"RUNPLANE_CONFINE_WRITE": str(SCRATCH_ROOT)}


def scratch_settings() -> dict[str, str]:
    """The same, as keyword arguments of Settings (a worker started in the test's process)."""
    return {"confine_write": scratch_env()["RUNPLANE_CONFINE_WRITE"]}
