"""What the service and batch doors both read off a request: the API key (X-API-KEY or the
password of HTTP Basic, as eNMS clients send it) and the instance it acts on (neither door
has the instance in its paths)."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from runplane.model import DEFAULT_INSTANCE, ApiKey

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
