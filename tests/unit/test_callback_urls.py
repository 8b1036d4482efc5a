"""Callback URLs: http(s) only, and no address (after DNS) in a denied network."""

from __future__ import annotations

import pytest

from runplane.core import callback_urls
from runplane.core.callback_urls import RefusedUrl, check_callback_url, parse_networks
from runplane.settings import Settings

pytestmark = pytest.mark.anyio
DEFAULT = parse_networks(Settings().callback_denied_networks)


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.10.1:8080/x",
    "http://[fe80::1]/x",
    "http://[fd00:ec2::254]/latest",
    "http://[::ffff:169.254.169.254]/x",
    "http://100.100.100.200/",
])
async def test_link_local_and_metadata_addresses_are_refused(url: str) -> None:
    with pytest.raises(RefusedUrl) as refused:
        await check_callback_url(url, DEFAULT)
    assert "denied network" in refused.value.reason
    assert "callbackUrl" in refused.value.fields


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/callback", "https://localhost/x", "http://[::1]:9/x",
    "HTTP://127.0.0.1/upper-case-scheme",
])
async def test_ordinary_urls_pass(url: str) -> None:
    assert await check_callback_url(url, DEFAULT) == url


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://127.0.0.1/x", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("127.0.0.1/x", "http:// or https://"),
    ("http:///nohost", "no host"),
    ("http://127.0.0.1:99999/x", "not a valid URL"),
    ("", "required"),
    (None, "required"),
    (42, "required"),
    ("http://x/" + "a" * 3000, "longer than"),
    ("http://no-such-host.invalid/x", "cannot be resolved"),
])
async def test_malformed_urls_are_refused_with_a_reason(url: object, why: str) -> None:
    with pytest.raises(RefusedUrl) as refused:
        await check_callback_url(url, DEFAULT)
    assert why in refused.value.reason


async def test_a_name_is_judged_by_every_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    async def resolves(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "169.254.169.254"]

    monkeypatch.setattr(callback_urls, "resolve", resolves)
    with pytest.raises(RefusedUrl) as refused:
        await check_callback_url("https://rebinding.example/x", DEFAULT)
    assert "169.254.169.254" in refused.value.reason


async def test_the_denied_list_is_configurable() -> None:
    loopback_denied = parse_networks("127.0.0.0/8, ::1/128")
    with pytest.raises(RefusedUrl):
        await check_callback_url("http://127.0.0.1/x", loopback_denied)
    assert await check_callback_url("http://169.254.169.254/x", parse_networks(""))
    with pytest.raises(ValueError, match="bad network"):
        parse_networks("10.0.0.0/8, not-a-network")
