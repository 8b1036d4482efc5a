"""Optional bubblewrap (`bwrap`) sandbox around spawned runs, and detecting whether it works.

Levels, set with `RUNPLANE_SANDBOX`:

- ``none`` (default). What POSIX gives without privileges: rlimits (address space, CPU time,
  file size, open files, no core dumps), a process group killed as a whole when the run ends
  or times out, a private temporary working directory removed afterwards, and a scrubbed
  environment (no server secrets in os.environ), closed inherited descriptors; and, unless
  RUNPLANE_CONFINE=off, Landlock confinement (confinement.py): no file of the server's or of
  another run, no signal to either. It does not stop a script from using the network, or
  escaping the final kill with setsid().
- ``bwrap``. Adds Linux namespaces: no network (only a private loopback), a read-only view of
  the whole filesystem except the run's directory, a private empty /tmp, a minimal /dev, and
  its own PID namespace (it sees only its own processes; when the run is killed, everything it
  started dies with the namespace, setsid() or not), plus private IPC and hostname. Files are
  kept private by the confinement inside it, not by bwrap.

bwrap wraps an exec, and a forked child of the zygote is not one: with bwrap active, python3
runs use the spawn path inside bwrap (about 15-20 ms more per run than a warm fork).
Availability is probed once when an executor starts; if bwrap is missing or cannot create
namespaces here (no user namespaces, seccomp in a container...), one warning is logged and
runs go unsandboxed.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

from runplane.engine.probe import probe

log = logging.getLogger("runplane.sandbox")

SANDBOXES = ("none", "bwrap")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def installed_under_tmp() -> list[str]:
    """Where this Python and runplane live, for those that are under /tmp."""
    import runplane

    places = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(runplane.__file__))}
    return sorted(path for path in places if path == "/tmp" or path.startswith("/tmp/"))


@dataclass(frozen=True)
class Bwrap:
    """A bwrap that was seen to work; `wrap` puts a command inside it."""

    path: str

    def wrap(self, argv: list[str], workdir: str) -> list[str]:
        return [
            self.path,
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--tmpfs", "/tmp",
            # The private /tmp must not hide the interpreter and runplane when they are
            # installed under /tmp (a checkout there, say): show those again, read-only.
            *(arg for path in installed_under_tmp() for arg in ("--ro-bind", path, path)),
            "--bind", workdir, workdir,  # after the /tmp tmpfs, which may contain it
            "--chdir", workdir,
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent",
            "--",
            *argv,
        ]


async def detect(
    requested: str,
    *,
    program: str = "bwrap",
    owner: tuple[int, int] | None = None,
) -> Bwrap | None:
    """The sandbox to use: None for "none", or when "bwrap" does not work here (warned once)."""
    if requested != "bwrap":
        return None
    path = shutil.which(program)
    if path is None:
        log.warning("sandbox 'bwrap' requested but %r was not found (Debian package "
                    "bubblewrap); runs are NOT sandboxed", program)
        return None
    problem = await _probe(Bwrap(path), owner)
    if problem is not None:
        log.warning("sandbox 'bwrap' requested but it does not work here (%s); runs are NOT "
                    "sandboxed", problem)
        return None
    return Bwrap(path)


async def _probe(bwrap: Bwrap, owner: tuple[int, int] | None) -> str | None:
    """Run `true` exactly as runs will be run; None if it worked, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="runplane-probe-") as workdir:
        try:
            if owner is not None:
                os.chown(workdir, *owner)
            argv = bwrap.wrap([*as_user(owner), "true"], workdir)
        except OSError as exc:
            return str(exc)
        return await probe(argv)


def as_user(owner: tuple[int, int] | None) -> list[str]:
    """A command prefix that runs the rest as `owner` (uid, gid), supplementary groups dropped.

    setpriv (util-linux) rather than subprocess's user=/group=: uvloop does not accept those,
    and a preexec_fn is unsafe in a threaded server. Inside bwrap, so bwrap itself stays root
    and needs no user namespaces.
    """
    if owner is None:
        return []
    setpriv = shutil.which("setpriv", path=SYSTEM_PATH)
    if setpriv is None:
        raise OSError("run_as_uid needs setpriv (Debian package util-linux)")
    uid, gid = owner
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
