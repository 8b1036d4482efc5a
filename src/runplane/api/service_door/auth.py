"""Who calls the service door, and on which instance.

eNMS clients send HTTP Basic on every request: here the password is an API key and the user
name is ignored (a key given as the user name with an empty password is taken too).
`X-API-KEY: <key>` works as well. The service door has no instance in its paths: see
`service_instance`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from runplane.api.core_dependency import CoreDep
from runplane.core import keys
from runplane.core.access import Role, require
from runplane.core.keys import DEFAULT_INSTANCE
from runplane.model import ApiKey, Instance

INSTANCE_HEADER = "X-RUNPLANE-INSTANCE"
INSTANCE_QUERY = "instance"




def key_from(request: Request) -> str | None:
    """The API key of a request: `X-API-KEY`, else the password of HTTP Basic."""
    header = request.headers.get("x-api-key", "").strip()
    if header:
        return header
    scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return password.strip() or user.strip() or None


def service_instance(request: Request, key: ApiKey) -> str:
    """The instance a service-door request acts on, first found of:

    the `X-RUNPLANE-INSTANCE` header, the `?instance=` query parameter, the key's own
    instance (an instance key), and `default` (the instance made at first start).
    """
    chosen = (request.headers.get(INSTANCE_HEADER) or "").strip()
    chosen = chosen or (request.query_params.get(INSTANCE_QUERY) or "").strip()
    if chosen:
        return chosen
    return key.instance_name or DEFAULT_INSTANCE


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
