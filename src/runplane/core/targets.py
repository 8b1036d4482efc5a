"""Resolving a run's targets: device names, pool names and IP addresses, taken together."""

from __future__ import annotations

from dataclasses import dataclass, field

from runplane.store.records import Device


@dataclass(frozen=True)
class ResolvedTargets:
    # Each device once, in a stable order (by name), however many ways it was named.
    devices: list[Device]
    # One message per unknown device, pool or address, e.g. "Device 'x' not found."
    errors: list[str] = field(default_factory=list)
