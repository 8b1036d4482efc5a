"""Who calls the service door, and on which instance.

eNMS clients send HTTP Basic on every request: here the password is an API key and the user
name is ignored (a key given as the user name with an empty password is taken too).
`X-API-KEY: <key>` works as well. The service door has no instance in its paths: see
`api/credentials.py`, whose rules the batch door shares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from runplane.api.core_dependency import CoreDep
from runplane.api.credentials import key_from, service_instance
from runplane.core import keys
from runplane.core.access import Role, require
from runplane.model import ApiKey, Instance


async def authenticated(request: Request, core: CoreDep) -> ApiKey:
    """The caller's key; Unauthenticated (401 Wrong Credentials) if missing or unknown."""
    return await keys.authenticate(core, key_from(request))


@dataclass(frozen=True)
class ServiceCaller:
    key: ApiKey
    instance: Instance


def caller(role: Role) -> Callable[..., Awaitable[ServiceCaller]]:
    """A dependency: the authenticated key, its instance, and the proof it holds `role` there.

    401 for a missing or unknown key, 404 for an unknown instance, 403 without the role.
    """

    async def dependency(request: Request, core: CoreDep) -> ServiceCaller:
        key, instance = await keys.authenticate_in(
            core, key_from(request), lambda key: service_instance(request, key)
        )
        require(key, role, instance)
        return ServiceCaller(key=key, instance=instance)

    return dependency


Reader = Annotated[ServiceCaller, Depends(caller(Role.read))]
Runner = Annotated[ServiceCaller, Depends(caller(Role.run))]
Writer = Annotated[ServiceCaller, Depends(caller(Role.write))]
