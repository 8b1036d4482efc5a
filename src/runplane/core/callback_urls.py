"""Callback URLs: http or https, and never into a denied network (checked after DNS).

Without this guard a callback URL is a way to make the server POST into places its users
cannot reach: cloud metadata services (169.254.169.254, fd00:ec2::254) and link-local
addresses. The host is resolved and every address it resolves to is checked, so a name
pointing at a denied address is refused as well as the address itself. The sender checks
again before each attempt, since a name may be re-pointed after submission.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from runplane.errors import Invalid

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
URL_MAX_CHARS = 2048
SCHEMES = ("http", "https")


class RefusedUrl(Invalid):
    """A callback URL runplane will not call; the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__({field: [message]})
        self.reason = message


def parse_networks(spec: str) -> tuple[Network, ...]:
    """`"169.254.0.0/16, fe80::/10"` as networks; ValueError names a bad entry."""
    networks = []
    for part in spec.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as error:
                raise ValueError(
                    f"bad network {part.strip()!r} in denied networks: {error}"
                ) from None
    return tuple(networks)


@lru_cache(maxsize=8)
def configured_networks(spec: str) -> tuple[Network, ...]:
    """The denied networks of a setting, parsed once."""
    return parse_networks(spec)


def _plain(address: Address) -> Address:
    # ::ffff:169.254.169.254 is 169.254.169.254 to the kernel; judge it as such.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def denied_network(
    addresses: Iterable[str], networks: tuple[Network, ...]
) -> tuple[str, Network] | None:
    """The first (address, network) pair where an address falls in a denied network."""
    for text in addresses:
        address = _plain(ipaddress.ip_address(text.split("%")[0]))
        for network in networks:
            if address.version == network.version and address in network:
                return text, network
    return None


def check_shape(url: object, field: str = "callbackUrl") -> tuple[str, str, int]:
    """(url, host, port) if `url` is an absolute http(s) URL with a host, else RefusedUrl."""
    if not isinstance(url, str) or not url.strip():
        raise RefusedUrl(field, "A callback URL is required (an http:// or https:// URL).")
    url = url.strip()
    if len(url) > URL_MAX_CHARS:
        raise RefusedUrl(field, f"The callback URL is longer than {URL_MAX_CHARS} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise RefusedUrl(field, f"The callback URL is not a valid URL: {error}.") from None
    if parts.scheme.lower() not in SCHEMES:
        raise RefusedUrl(field, "The callback URL must start with http:// or https://.")
    if not parts.hostname:
        raise RefusedUrl(field, "The callback URL has no host.")
    default_port = 443 if parts.scheme.lower() == "https" else 80
    return url, parts.hostname, port or default_port


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_callback_url(
    url: object, networks: tuple[Network, ...], field: str = "callbackUrl"
) -> str:
    """The URL, if runplane may call it; RefusedUrl with a clear reason otherwise."""
    checked, host, port = check_shape(url, field)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as error:
        raise RefusedUrl(
            field, f"The callback URL's host {host!r} cannot be resolved: {error}."
        ) from None
    hit = denied_network(addresses, networks)
    if hit is not None:
        address, network = hit
        raise RefusedUrl(
            field, f"The callback URL's host {host!r} resolves to {address}, in the denied "
            f"network {network} (link-local and cloud metadata addresses are refused).",
        )
    return checked
