"""Resolving a run's targets: device names, pool names and IP addresses, taken together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runplane.core.context import Core
from runplane.core.inventory import no_device
from runplane.core.pools import no_pool
from runplane.errors import Invalid
from runplane.model import Instance, Target
from runplane.store import devices as device_store
from runplane.store import pools as pool_store
from runplane.store.unit import Tx


@dataclass(frozen=True)
class ResolvedTargets:
    # Each device once, in a stable order (by name), however many ways it was named.
    devices: list[Target]
    # One message per unknown device, pool or address, e.g. "Device 'x' not found."
    errors: list[str] = field(default_factory=list)


# Names per list a run may give (each list may name 10,000 devices and more).
TARGET_NAMES_MAX = 100_000


def no_device_at(address: str) -> str:
    return f"No device with the IP address '{address}'"


def target_names(field: str, value: Any) -> list[str]:
    """A list of names as a run gives them (None: none); Invalid for anything else."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Invalid.field(field, "Must be a list of strings.")
    if len(value) > TARGET_NAMES_MAX:
        raise Invalid.field(field, f"At most {TARGET_NAMES_MAX} names.")
    return value


def _missing(given: list[str], found: set[str], message: Callable[[str], str]) -> list[str]:
    """One error per unknown name, in the order given, each once."""
    return [message(name) for name in dict.fromkeys(given) if name not in found]


@dataclass(frozen=True)
class TargetNames:
    """The names a run gives, checked (a list of strings each)."""

    devices: list[str]
    pools: list[str]
    ip_addresses: list[str]

    @classmethod
    def of(cls, devices: Any, pools: Any, ip_addresses: Any) -> TargetNames:
        return cls(target_names("devices", devices), target_names("pools", pools),
                   target_names("ip_addresses", ip_addresses))


def resolve_in(conn: Tx, instance_id: int, names: TargetNames, *,
               ignore_invalid: bool) -> ResolvedTargets:
    """Inside a unit of work: the devices named, at the addresses given and in the pools
    given, each once, by name.

    Unknown names give one error each (devices, then addresses, then pools, as eNMS listed
    them). With errors and not `ignore_invalid` no device is answered: nothing should run.
    With `ignore_invalid` the known ones are answered and the errors still listed.
    """
    named = [device.as_target()
             for device in device_store.devices_named(conn, instance_id, names.devices)]
    located = [device.as_target()
               for device in device_store.devices_at(conn, instance_id, names.ip_addresses)]
    found_pools = pool_store.pools_named(conn, instance_id, names.pools)
    pooled = pool_store.pool_targets(conn, instance_id, found_pools)
    chosen: dict[int, Target] = {device.id: device for device in (*named, *located, *pooled)}
    errors = [
        *_missing(names.devices, {device.name for device in named}, no_device),
        *_missing(names.ip_addresses, {device.ip_address for device in located}, no_device_at),
        *_missing(names.pools, {pool.name for pool in found_pools}, no_pool),
    ]
    if errors and not ignore_invalid:
        return ResolvedTargets(devices=[], errors=errors)
    return ResolvedTargets(devices=sorted(chosen.values(), key=lambda d: d.name), errors=errors)


async def resolve_targets(
    core: Core, instance: Instance, *, devices: list[str], pools: list[str],
    ip_addresses: list[str], ignore_invalid: bool,
) -> ResolvedTargets:
    """`resolve_in`, in a read of its own."""
    names = TargetNames.of(devices, pools, ip_addresses)
    return await core.database.read(resolve_in, instance.id, names,
                                    ignore_invalid=ignore_invalid)


async def resolve_pool_names(
    core: Core, instance: Instance, pools: list[str], *, ignore_invalid: bool = False
) -> ResolvedTargets:
    """The devices of the named pools (a service's default pools, say), each once."""
    return await resolve_targets(
        core, instance, devices=[], pools=pools, ip_addresses=[], ignore_invalid=ignore_invalid
    )
