"""A scripted deployment: `runplane migrate`, then `runplane key create`, then `runplane serve`.
The key exists before the first start, so no first-start key is printed; the instance
`default`, made by migrate, is there for the doors that fall back on it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.batch_door import call
from tests.support.server import ServerProcess, runplane_cli


def test_migrate_then_key_create_then_serve_has_the_default_instance(
    database_url: str, tmp_path: Path
) -> None:
    migrated = runplane_cli("migrate", "--database", database_url)
    assert migrated.returncode == 0, migrated.stderr
    again = runplane_cli("migrate", "--database", database_url)
    assert again.returncode == 0, again.stderr
    made = runplane_cli("key", "create", "--database", database_url)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    server = ServerProcess(database_url, tmp_path).start()
    try:
        assert server.admin_key is None  # a key existed: nothing printed at start
        with httpx.Client(base_url=server.base_url, auth=("admin", key), timeout=60) as door:
            saved = door.post("/rest/instance/device",
                              json=[{"name": "Washington", "ip_address": "127.0.0.1"}])
            assert (saved.status_code, saved.json()) == (
                200, {"success": ["Washington"]})
            device = door.get("/rest/instance/device/Washington")
            assert device.status_code == 200, device.text
            assert device.json()["name"] == "Washington"
            assert door.get("/rest/query/device").status_code == 200
        with server.client(key) as script_door:
            instances = script_door.get("/v1.1/instances/").json()["objects"]
            assert [instance["name"] for instance in instances] == ["default"]
            secret = call(script_door, "secret")  # the batch door, on `default` too
            assert secret.status_code == 200, secret.text
    finally:
        server.stop()
