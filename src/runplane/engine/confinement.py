"""What each run is confined to (engine/confine.py does it), decided once per executor.

By default (`RUNPLANE_CONFINE=auto`) every run is confined with Landlock where the kernel has
it, without any setup: a script reads the system and the interpreter, writes its own run
directory, and nothing else; the database file, the server's files and other runs'
directories are refused. The decision is probed at start by confining a real `true`, said in
the log and in /healthz, with what it still leaves open.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runplane.engine import confine
from runplane.engine.probe import probe

log = logging.getLogger("runplane.confine")

CONFINE_FILE = str(Path(__file__).with_name("confine.py"))
CONFINE_MODES = ("auto", "required", "off")
# What every script may read and execute: the system, its libraries and configuration, and
# the kernel's views of processes (whose private parts Landlock keeps to the same domain).
SYSTEM_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
               "/proc", "/sys", "/run/systemd/resolve")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
           "/dev/ptmx", "/dev/pts")


class ConfinementUnavailable(Exception):
    """RUNPLANE_CONFINE=required, and runs cannot be confined here."""


def read_roots(python: str, extra: str = "") -> tuple[str, ...]:
    """What a confined run may read: the system's directories, the interpreter's prefixes
    (where its standard library and site-packages are) and the operator's extra ones."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                os.path.dirname(os.path.dirname(os.path.realpath(python)))}
    roots = [*SYSTEM_READ, *sorted(prefixes), *extra.split(":")]
    return _existing(roots)


@dataclass(frozen=True)
class Confinement:
    """The confinement runs get (`active`), and why not when they get none."""

    requested: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    abi: int = 0
    reason: str | None = None
    exposed: tuple[str, ...] = field(default=())

    @property
    def active(self) -> bool:
        return self.requested != "off" and self.abi > 0 and self.reason is None

    def policy(self, workdir: str) -> dict[str, Any] | None:
        """What confine.confine is given for a run in `workdir`; None: unconfined."""
        shared = self.shared_policy()
        return None if shared is None else {"workdir": workdir, **shared}

    def shared_policy(self) -> dict[str, list[str]] | None:
        """What every run may reach beside its own directory (the zygote's policy)."""
        if not self.active:
            return None
        return {"read": list(self.read), "write": list(self.write), "devices": list(DEVICES)}

    def wrap(self, python: str, workdir: str) -> list[str]:
        """The prefix that starts a spawned command confined (nothing when unconfined)."""
        policy = self.policy(workdir)
        if policy is None:
            return []
        return [python, "-I", "-S", CONFINE_FILE, json.dumps(policy), "--"]

    def describe(self) -> dict[str, Any]:
        """For the log and /healthz: what runs are confined by, and what that leaves open."""
        if not self.active:
            return {"landlock": False, "reason": self.reason or "RUNPLANE_CONFINE=off",
                    "exposed": ["every file the server's user can read, the database's "
                                "included (see the README's isolation table)"]}
        return {"landlock": True, "abi": self.abi, "readable": list(self.read),
                "writable": list(self.write),
                "capabilities": "dropped" if os.geteuid() == 0 else "none",
                "unix_sockets": "refused" if confine.unix_sockets_filtered()
                else f"allowed (no filter for {os.uname().machine})",
                "exposed": list(self.exposed)}


async def decide(requested: str, python: str, *, extra_read: str = "", extra_write: str = "",
                 protected: tuple[str, ...] = (), networked_database: bool = False
                 ) -> Confinement:
    """Probe, once, whether runs can be confined here; `protected`: paths (the database
    file, the run directories' root) that must stay out of a script's reach;
    `networked_database`: the database is a server, which sockets reach whatever Landlock
    says about files."""
    if requested == "off":
        return Confinement(requested)
    roots = read_roots(python, extra_read)
    writable = _existing(extra_write.split(":"))
    abi = confine.abi_version()
    reason = "this kernel has no Landlock (Linux 5.13+ with the LSM enabled)" if abi < 1 \
        else await _probe(Confinement(requested, roots, writable, abi), python)
    if reason is not None:
        if requested == "required":
            raise ConfinementUnavailable(f"runs cannot be confined: {reason}")
        log.warning("runs are NOT confined: %s; a script can read what the server's user "
                    "can, the database included", reason)
        return Confinement(requested, roots, writable, abi, reason)
    exposed = tuple(f"{path} (under {root}, which scripts may read)"
                    for path in protected for root in (*roots, *writable)
                    if _beneath(path, root))
    if networked_database:
        exposed += ("the PostgreSQL server, over the network: scripts connect as any local "
                    "program can (require a password)",)
    for line in exposed:
        log.warning("confined runs can still read %s", line)
    return Confinement(requested, roots, writable, abi, None, exposed)


def _existing(paths: Iterable[str]) -> tuple[str, ...]:
    """The paths, resolved, once each; empty and missing ones are left out."""
    return tuple(dict.fromkeys(os.path.realpath(path) for path in paths
                               if path and os.path.exists(path)))


def _beneath(path: str, root: str) -> bool:
    path = os.path.realpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


async def _probe(confinement: Confinement, python: str) -> str | None:
    """Confine a real `true` as runs will be; None if it worked, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="runplane-probe-") as workdir:
        return await probe([*confinement.wrap(python, workdir), "/bin/true"], cwd=workdir,
                           env={})
