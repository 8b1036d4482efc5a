"""Scripts, traces, instances and endpoints as the script door shows them (Syncano's field
names, links and formats); batch jobs that act on scripts answer in the same shapes."""

from __future__ import annotations

from typing import Any

from runplane.clock import iso_z
from runplane.core.runtimes import RUNTIMES
from runplane.model import (
    ABORTED,
    FAILURE,
    ApiKey,
    Instance,
    Run,
    Script,
    ScriptEndpoint,
)

LIST_CUTOFF = 64 * 1024
TRUNCATED = "(...truncated...)"
RESULT_TOO_BIG = {"__error__": "Result is too big to show in trace."}


def instance_path(name: str) -> str:
    return f"/v1.1/instances/{name}/"


def script_path(instance: str, number: int) -> str:
    return f"{instance_path(instance)}snippets/scripts/{number}/"


def trace_path(instance: str, script_number: int, trace_number: int) -> str:
    return f"{script_path(instance, script_number)}traces/{trace_number}/"


def instance(item: Instance, key: ApiKey) -> dict[str, Any]:
    base = instance_path(item.name)
    return {
        "name": item.name,
        "description": item.description,
        "owner": None,
        "created_at": iso_z(item.created_at),
        "updated_at": iso_z(item.updated_at),
        "role": key.role if key.is_account_key else "api_key",
        "metadata": item.metadata,
        "links": {
            "self": base,
            "snippets": f"{base}snippets/",
            "scripts": f"{base}snippets/scripts/",
            "endpoints": f"{base}endpoints/",
            "config": f"{base}snippets/config/",
        },
    }


def script(item: Script, instance_name: str, *, in_list: bool = False) -> dict[str, Any]:
    base = script_path(instance_name, item.number)
    source = item.source
    if in_list and len(source) > LIST_CUTOFF:
        source = source[:LIST_CUTOFF] + TRUNCATED
    return {
        "id": item.number,
        "label": item.label,
        "description": item.description,
        "source": source,
        "runtime_name": item.runtime_name,
        "config": item.config,
        "created_at": iso_z(item.created_at),
        "updated_at": iso_z(item.updated_at),
        "links": {
            "self": base,
            "runtimes": f"{instance_path(instance_name)}snippets/scripts/runtimes/",
            "run": f"{base}run/",
            "traces": f"{base}traces/",
        },
    }


def trace_status(run: Run) -> str:
    # Syncano has no "aborted": a run stopped by runplane is a failure to its clients.
    return FAILURE if run.status == ABORTED else run.status


def trace_result(run: Run) -> dict[str, Any]:
    """`{}` until the run ends, then `{"stdout", "stderr"}` (trailing newlines trimmed)."""
    if not run.is_final:
        return {}
    output = run.output
    stdout = (output.stdout if output else "") or ""
    stderr = (output.stderr if output else "") or ""
    error = (output.error if output else None) or run.error
    if error and error not in stderr:
        stderr = f"{stderr.rstrip(chr(10))}\n{error}" if stderr else error
    result: dict[str, Any] = {"stdout": stdout.rstrip("\n"), "stderr": stderr.rstrip("\n")}
    if output and output.output_truncated:
        result["truncated"] = True
    return result


def trace(
    run: Run, instance_name: str, script_number: int, *, in_list: bool = False,
    with_links: bool = True,
) -> dict[str, Any]:
    result = trace_result(run)
    if in_list and sum(len(str(value)) for value in result.values()) > LIST_CUTOFF:
        result = RESULT_TOO_BIG
    body: dict[str, Any] = {
        "id": run.number,
        "status": trace_status(run),
        "executed_at": iso_z(run.started_at),
        "duration": run.duration_ms,
        "result": result,
    }
    if with_links:
        body["links"] = {"self": trace_path(instance_name, script_number, run.number or 0)}
    return body


def endpoint(item: ScriptEndpoint, instance_name: str) -> dict[str, Any]:
    base = f"{instance_path(instance_name)}endpoints/scripts/{item.name}/"
    links = {
        "self": base,
        "run": f"{base}run/",
        "reset-link": f"{base}reset_link/",
        "script": script_path(instance_name, item.script_number),
    }
    body: dict[str, Any] = {
        "name": item.name,
        "description": item.description,
        "script": item.script_number,
        "public": item.public,
        "public_link": item.public_link,
        "links": links,
    }
    if item.public:
        links["public-link"] = (
            f"{instance_path(instance_name)}endpoints/scripts/p/{item.public_link}/{item.name}/"
        )
    return body


def runtimes() -> dict[str, Any]:
    """Syncano's runtimes endpoint: each runtime by name, with fields runplane leaves empty."""
    return {
        name: {
            "name": runtime.language, "version": runtime.version, "library": None,
            "library_version": None, "deprecated": False, "image": None, "packages": None,
        }
        for name, runtime in RUNTIMES.items()
    }
