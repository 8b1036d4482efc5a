"""Resolving a run's targets: device names, pool names and IP addresses, taken together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from runplane.core.context import Core
from runplane.core.inventory import no_device
from runplane.core.pools import no_pool
from runplane.errors import Invalid
from runplane.store import devices as device_store
from runplane.store import pools as pool_store
from runplane.store.records import Device, Instance, Pool


@dataclass(frozen=True)
class ResolvedTargets:
    # Each device once, in a stable order (by name), however many ways it was named.
    devices: list[Device]
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


async def resolve_targets(
    core: Core, instance: Instance, *, devices: list[str], pools: list[str],
    ip_addresses: list[str], ignore_invalid: bool,
) -> ResolvedTargets:
    """The devices named, at the addresses given and in the pools given, each once, by name.

    Unknown names give one error each (devices, then addresses, then pools, as eNMS listed
    them). With errors and not `ignore_invalid` no device is answered: nothing should run.
    With `ignore_invalid` the known ones are answered and the errors still listed.
    """
    device_names = target_names("devices", devices)
    pool_names = target_names("pools", pools)
    addresses = target_names("ip_addresses", ip_addresses)
    chosen: dict[int, Device] = {}

    def look_up(conn: Connection) -> tuple[list[Device], list[Device], list[Pool], list[Device]]:
        found_pools = pool_store.pools_named(conn, instance.id, pool_names)
        return (
            device_store.devices_named(conn, instance.id, device_names),
            device_store.devices_at(conn, instance.id, addresses),
            found_pools,
            pool_store.pool_devices(conn, instance.id, found_pools),
        )

    named, located, found_pools, pooled = await core.database.read(look_up)
    for device in (*named, *located, *pooled):
        chosen[device.id] = device
    errors = [
        *_missing(device_names, {device.name for device in named}, no_device),
        *_missing(addresses, {device.ip_address for device in located}, no_device_at),
        *_missing(pool_names, {pool.name for pool in found_pools}, no_pool),
    ]
    if errors and not ignore_invalid:
        return ResolvedTargets(devices=[], errors=errors)
    return ResolvedTargets(devices=sorted(chosen.values(), key=lambda d: d.name), errors=errors)


async def resolve_pool_names(
    core: Core, instance: Instance, pools: list[str], *, ignore_invalid: bool = False
) -> ResolvedTargets:
    """The devices of the named pools (a service's default pools, say), each once."""
    return await resolve_targets(
        core, instance, devices=[], pools=pools, ip_addresses=[], ignore_invalid=ignore_invalid
    )
