"""Which credential logs in to a device: the selection eNMS makes (its db.get_credential and
Runner.get_credentials), for the connection services.

1. A service with `credentials: "object"` uses its `named_credential`, whatever the device.
2. Else a device naming a credential (its `named_credential` property: runplane's, as eNMS
   named one only on services) uses that one.
3. Else the highest `priority` among the credentials one of whose `device_pools` holds the
   device now (manual or filter pools), of the service's `credential_type` role if it is not
   `any`. Equal priorities: the first by name (eNMS left it to its query's order).
None found: eNMS's error, "No matching credentials found for DEVICE '<name>'".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runplane.core.context import Core
from runplane.core.credentials import no_credential
from runplane.core.inventory import no_device
from runplane.errors import NotFound
from runplane.model import Credential, Instance
from runplane.store import credentials as store
from runplane.store import devices as device_store
from runplane.store.unit import Tx

ANY_ROLE = "any"
NAMED = "object"


def highest_priority(candidates: Sequence[Credential], role: str = ANY_ROLE
                     ) -> Credential | None:
    """eNMS's max(..., key=priority) over the credentials of the role; ties: first by name."""
    fitting = sorted((c for c in candidates if role == ANY_ROLE or c.role == role),
                     key=lambda credential: credential.name)
    return max(fitting, key=lambda credential: credential.priority, default=None)


def named_by(service: Mapping[str, Any] | None, device: Mapping[str, Any]) -> str | None:
    """The credential named explicitly, by the service first, then by the device."""
    if service and service.get("credentials") == NAMED and service.get("named_credential"):
        return str(service["named_credential"])
    named = device.get("named_credential")
    return str(named) if isinstance(named, str) and named else None


async def credential_for(core: Core, instance: Instance, device_name: str,
                         service: Mapping[str, Any] | None = None) -> Credential:
    """The credential to reach `device_name` with; `service`: the running service's eNMS
    fields (`credentials`, `named_credential`, `credential_type`)."""
    role = str((service or {}).get("credential_type") or ANY_ROLE)

    def choose(conn: Tx) -> Credential:
        device = device_store.get_device(conn, instance.id, device_name)
        if device is None:
            raise NotFound("Device", no_device(device_name) + ".")
        name = named_by(service, device.properties)
        if name is not None:
            found = store.get_credential(conn, instance.id, name)
            if found is None:
                raise NotFound("Credential", no_credential(name) + ".")
            return found
        chosen = highest_priority(store.serving_device(conn, instance.id, device.id), role)
        if chosen is None:
            raise NotFound("Credential",
                           f"No matching credentials found for DEVICE '{device_name}'")
        return chosen

    return await core.database.read(choose)
