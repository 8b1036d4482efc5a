"""Credentials on the service door, as eNMS clients save them: /rest/instance/credential (one
or a list), GET, DELETE, /rest/query/credential, /rest/search. No answer, error or log line
holds a secret (eNMS answered none either); `runplane secrets rotate` works on a live server's
database. One server per module and database; each test works in an instance of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runplane.store.database import database_file
from tests.acceptance.test_service_door_inventory import door, save
from tests.support.server import ServerProcess, runplane_cli

PASSWORD = "acceptance-plain-password-7f3a"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----acceptance-private-key-9c1e"
ENABLE = "acceptance-enable-secret-42b8"
SECRETS = (PASSWORD, KEY, ENABLE)
HIDDEN = ("password", "private_key", "enable_password")


@pytest.fixture
def client(shared_server: ServerProcess, instance: str) -> Iterator[httpx.Client]:
    with door(shared_server, instance) as http:
        yield http


def _no_secret(text: str) -> None:
    assert not any(secret in text for secret in SECRETS), text
    assert "gAAAAA" not in text  # nor a Fernet token of one


def _inventory(client: httpx.Client) -> None:
    save(client, "device", [{"name": "r1", "vendor": "Cisco"}, {"name": "r2", "vendor": "Arista"}])
    save(client, "pool", {"name": "cisco", "device_vendor": "Cisco",
                          "device_vendor_match": "equality"})


def _credential(name: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "username": "admin", "password": PASSWORD, "private_key": KEY,
            "enable_password": ENABLE, "priority": 3, "device_pools": ["cisco"], **more}


def test_save_get_query_search_delete_and_never_a_secret(client: httpx.Client) -> None:
    _inventory(client)
    answers: list[httpx.Response] = [
        client.post("/rest/instance/credential", json=_credential("one")),
        client.post("/rest/instance/credential",
                    json=[_credential("two", subtype="key", role="read-only"),
                          _credential("bad", priority="high")]),
    ]
    assert answers[0].json() == {"success": ["one"]}
    assert answers[1].json()["success"] == ["two"]
    refused, reason = answers[1].json()["failure"][0]
    assert reason == "priority: Must be an integer."
    # eNMS echoed the object as sent; its secrets are masked.
    assert refused == {**_credential("bad", priority="high"), "password": "********",
                       "private_key": "********", "enable_password": "********"}
    got = client.get("/rest/instance/credential/two")
    answers.append(got)
    assert got.status_code == 200
    record = got.json()
    assert {key: record[key] for key in ("type", "name", "username", "subtype", "role",
                                         "priority", "device_pools")} == {
        "type": "credential", "name": "two", "username": "admin", "subtype": "key",
        "role": "read-only", "priority": 3, "device_pools": ["cisco"]}
    assert not set(HIDDEN) & set(record)
    query = client.get("/rest/query/credential", params={"role": "read-only"})
    answers.append(query)
    assert [found["name"] for found in query.json()] == ["two"]
    # A secret is no field to filter on: it would answer "which password is it?".
    by_password = client.get("/rest/query/credential", params={"password": PASSWORD})
    answers.append(by_password)
    assert by_password.json() == []
    search = client.post("/rest/search", json={
        "type": "credential", "columns": ["name", "password", "private_key"],
        "search_criteria": {"username": "admin"}, "order": [{"column": "name", "dir": "asc"}]})
    answers.append(search)
    assert search.json() == [{"name": "one", "type": "credential"},
                             {"name": "two", "type": "credential"}]
    deleted = client.delete("/rest/instance/credential/one")
    answers.append(deleted)
    assert deleted.json()["name"] == "one"
    gone = client.get("/rest/instance/credential/one")
    assert gone.status_code == 403 and gone.json() == {"alert": "Error 403 - Not Authorized."}
    for answer in answers:
        _no_secret(answer.text)


def test_a_refusal_names_the_field_not_the_secret(client: httpx.Client) -> None:
    refused = client.post("/rest/instance/credential", json={
        "name": "x", "password": PASSWORD * 50, "subtype": "token", "secret": ENABLE})
    assert refused.status_code == 400
    message = refused.json()["alert"]
    assert message.startswith("Error 400 - ") and "password:" in message
    assert "subtype: Must be one of password, key." in message and "secret: Unknown field." \
        in message
    _no_secret(refused.text)


def test_reading_needs_read_and_changing_needs_write(
        shared_server: ServerProcess, client: httpx.Client, instance: str) -> None:
    save(client, "credential", {"name": "c", "password": PASSWORD})
    made = runplane_cli("key", "create", "--instance", instance, "--role", "read",
                        "--database", shared_server.database_url)
    assert made.returncode == 0, made.stderr
    with door(shared_server, instance, key=made.stdout.strip()) as reader:
        assert reader.get("/rest/instance/credential/c").status_code == 200
        refused = reader.post("/rest/instance/credential", json={"name": "d"})
        assert refused.status_code == 403
        assert reader.delete("/rest/instance/credential/c").status_code == 403


def test_instances_do_not_see_each_others_credentials(
        shared_server: ServerProcess, client: httpx.Client) -> None:
    save(client, "credential", {"name": "mine", "password": PASSWORD})
    with shared_server.client() as admin:
        from tests.support.script_door import create_instance
        other = create_instance(admin)
    with door(shared_server, other) as stranger:
        assert stranger.get("/rest/instance/credential/mine").status_code == 403
        assert stranger.get("/rest/query/credential").json() == []


def test_rotation_on_a_live_server_and_no_secret_in_its_log(
        shared_server: ServerProcess, client: httpx.Client) -> None:
    save(client, "credential", _credential("before", device_pools=[]))
    env = shared_server.key_env()
    path = env.get("RUNPLANE_SECRET_KEY_FILE") or \
        f"{database_file(shared_server.database_url)}.secret-key"
    key_before = Path(path).read_text()
    rotated = runplane_cli("secrets", "rotate", "--database", shared_server.database_url,
                           env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("re-encrypted ") and path in rotated.stdout
    key_after = Path(path).read_text()
    assert key_after != key_before and len(key_after.split()) == 1
    assert os.stat(path).st_mode & 0o777 == 0o600
    # The server reads the new file: it saves and answers as before.
    save(client, "credential", _credential("after", device_pools=[]))
    assert client.get("/rest/instance/credential/before").json()["name"] == "before"
    _no_secret(rotated.stdout + rotated.stderr)
    _no_secret(shared_server.logs())
