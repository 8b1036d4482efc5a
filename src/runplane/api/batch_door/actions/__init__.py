"""The namespaces a batch job may call, put together here, one module each."""

from __future__ import annotations

from runplane.api.batch_door.actions import inventory, runs, scripts, services
from runplane.api.batch_door.actions.registry import Action, Actions, Namespaces, parse

__all__ = ["NAMESPACES", "batch_actions", "find", "parse", "registry"]

NAMESPACES: Namespaces = {
    "script": scripts.SCRIPT_ACTIONS,
    "service": services.SERVICE_ACTIONS,
    "device": inventory.DEVICE_ACTIONS,
    "pool": inventory.POOL_ACTIONS,
    "run": runs.RUN_ACTIONS,
}


def batch_actions() -> Actions:
    """The job set the core's batch driver runs (attached as `Core.batch_jobs`)."""
    return Actions(NAMESPACES)


def registry() -> Namespaces:
    return NAMESPACES


def find(namespace: object, name: object) -> Action:
    """The named action; BatchError (24201, 24202) naming what exists when there is none."""
    return batch_actions().find(namespace, name)
