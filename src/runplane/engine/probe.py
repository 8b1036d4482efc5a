"""Trying, once at start, whether runs can be wrapped as configured (bwrap, confinement):
by running a real command exactly as a run would be."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess

PROBE_TIMEOUT_SECONDS = 10.0


async def probe(argv: list[str], *, cwd: str | None = None,
                env: dict[str, str] | None = None) -> str | None:
    """Run `argv` (a command that should succeed at once); None if it did, else what went
    wrong, in a few words for a log line."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, cwd=cwd, env=env,
        )
    except OSError as exc:
        return str(exc)
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip() or "no message"
        return f"exit status {process.returncode}: {message}"
    return None
