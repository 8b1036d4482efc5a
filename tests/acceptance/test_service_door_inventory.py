"""The service door's inventory over HTTP, as eNMS clients use it: HTTP Basic with an API key
as the password, devices and pools by name, query, search, and `runplane inventory import`.
One server per module and database; each test works in an instance of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess, runplane_cli

WRONG_CREDENTIALS = {"alert": "Error 401 - Wrong Credentials."}
FORBIDDEN = {"alert": "Error 403 - Forbidden."}


def door(server: ServerProcess, instance: str | None = None, *, key: str | None = None,
         user: str = "admin") -> httpx.Client:
    """A client as eNMS's: HTTP Basic on every request, the key as the password."""
    headers = {"X-RUNPLANE-INSTANCE": instance} if instance else {}
    return httpx.Client(base_url=server.base_url, auth=(user, key or server.admin_key or ""),
                        headers=headers, timeout=60)


@pytest.fixture
def client(shared_server: ServerProcess, instance: str) -> Iterator[httpx.Client]:
    with door(shared_server, instance) as http:
        yield http


def save(client: httpx.Client, kind: str, body: Any) -> dict[str, Any]:
    response = client.post(f"/rest/instance/{kind}", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


DEVICES = [
    {"name": "Washington", "ip_address": "127.0.0.1", "vendor": "Cisco", "model": "ASR",
     "port": 22, "rack": "A1", "role": "core"},
    {"name": "Boston", "ip_address": "10.0.0.2", "vendor": "Juniper", "role": "edge"},
    {"name": "Austin", "ip_address": "10.0.0.3", "vendor": "Cisco", "model": "ISR",
     "role": "edge", "rack": "B2"},
]


# Authentication ------------------------------------------------------------------------------


def test_is_alive_needs_no_key(shared_server: ServerProcess) -> None:
    response = httpx.get(f"{shared_server.base_url}/rest/is_alive")
    assert response.status_code == 200
    assert set(response.json()) == {"name", "cluster_id"}
    assert response.json()["name"]


def test_basic_auth_takes_the_key_as_password_whatever_the_user(
    shared_server: ServerProcess, instance: str
) -> None:
    for user in ("admin", "anyone", ""):
        with door(shared_server, instance, user=user) as http:
            assert http.post("/rest/instance/device", json={"name": "r1"}).status_code == 200
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as plain:
        response = plain.get("/rest/instance/device/r1", headers={
            "X-API-KEY": shared_server.admin_key or "", "X-RUNPLANE-INSTANCE": instance})
        assert response.status_code == 200
        assert response.json()["name"] == "r1"


def test_wrong_or_missing_key_is_401_alert(shared_server: ServerProcess, instance: str) -> None:
    with door(shared_server, instance, key="0" * 40) as http:
        response = http.get("/rest/query/device")
    assert response.status_code == 401
    assert response.json() == WRONG_CREDENTIALS
    assert response.headers["www-authenticate"] == 'Basic realm="runplane"'
    bare = httpx.post(f"{shared_server.base_url}/rest/instance/device", json={"name": "x"})
    assert (bare.status_code, bare.json()) == (401, WRONG_CREDENTIALS)


def test_a_key_without_the_role_is_403_and_an_instance_key_uses_its_instance(
    shared_server: ServerProcess, instance: str
) -> None:
    made = runplane_cli("key", "create", "--instance", instance, "--role", "read",
                        "--database", shared_server.database_url)
    assert made.returncode == 0, made.stderr
    reader = made.stdout.strip()
    with door(shared_server, instance) as admin:
        save(admin, "device", DEVICES)
    # No instance header: an instance key acts on its own instance.
    with door(shared_server, key=reader) as http:
        assert [d["name"] for d in http.get("/rest/query/device").json()] == [
            "Austin", "Boston", "Washington"]
        refused = http.post("/rest/instance/device", json={"name": "new"})
        assert (refused.status_code, refused.json()) == (403, FORBIDDEN)
        # Another tenant's instance is answered as an unknown one (no existence oracle).
        other = http.get("/rest/query/device", params={"instance": "default"})
        assert (other.status_code, other.json()) == (
            404, {"alert": "Error 404 - Instance was not found."})


def test_unknown_instance_is_404_alert(shared_server: ServerProcess) -> None:
    with door(shared_server, "no-such-instance") as http:
        response = http.get("/rest/query/device")
    assert response.status_code == 404
    assert response.json() == {"alert": "Error 404 - Instance was not found."}


def test_instance_from_the_query_parameter(shared_server: ServerProcess, instance: str) -> None:
    with door(shared_server) as http:
        assert http.post("/rest/instance/device", params={"instance": instance},
                         json={"name": "via-query"}).status_code == 200
        found = http.get("/rest/instance/device/via-query", params={"instance": instance})
        assert found.status_code == 200
    with door(shared_server, instance) as http:
        assert http.get("/rest/instance/device/via-query").status_code == 200


# Devices -----------------------------------------------------------------------------------


def test_create_one_device_then_update_it(client: httpx.Client) -> None:
    # eNMS's answer: `failure` only when something failed.
    assert save(client, "device", DEVICES[0]) == {"success": ["Washington"]}
    assert save(client, "device", {"name": "Washington", "model": "ASR9k", "rack": "C3"})[
        "success"] == ["Washington"]
    device = client.get("/rest/instance/device/Washington").json()
    assert {key: device[key] for key in ("name", "vendor", "model", "port", "rack", "role",
                                         "type")} == {
        "name": "Washington", "vendor": "Cisco", "model": "ASR9k", "port": 22, "rack": "C3",
        "role": "core", "type": "device"}


def test_create_many_devices_with_failures_listed(client: httpx.Client) -> None:
    answer = save(client, "device", [*DEVICES, {"vendor": "nameless"},
                                     {"name": "Bad", "port": "http"}])
    assert answer["success"] == ["Washington", "Boston", "Austin"]
    # eNMS's failures: [the object as sent, the reason].
    assert [sent for sent, _ in answer["failure"]] == [{"vendor": "nameless"},
                                                       {"name": "Bad", "port": "http"}]
    assert "name" in answer["failure"][0][1]
    assert "port" in answer["failure"][1][1]


def test_ten_thousand_devices_in_one_request(client: httpx.Client) -> None:
    many = [{"name": f"dev{index:05d}", "ip_address": f"10.2.{index // 256}.{index % 256}",
             "site": f"s{index % 10}"} for index in range(10_000)]
    answer = save(client, "device", many)
    assert (len(answer["success"]), "failure" in answer) == (10_000, False)
    found = client.get("/rest/query/device", params={"site": "s3"}).json()
    assert len(found) == 1000


def test_a_single_invalid_device_is_400_alert_naming_fields(client: httpx.Client) -> None:
    response = client.post("/rest/instance/device", json={"name": "", "port": 0})
    assert response.status_code == 400
    alert = response.json()["alert"]
    assert alert.startswith("Error 400 - ")
    assert "name: This field may not be blank." in alert
    assert "port: Must be an integer from 1 to 65535, or null." in alert


def test_bad_bodies_are_400_alerts(client: httpx.Client) -> None:
    response = client.post("/rest/instance/device", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["alert"].startswith("Error 400 - The body is not valid JSON")
    assert client.post("/rest/instance/device", json="text").status_code == 400


def test_get_and_delete_by_name_and_unknown_is_403_as_enms(client: httpx.Client) -> None:
    save(client, "device", DEVICES)
    deleted = client.delete("/rest/instance/device/Boston")
    assert deleted.status_code == 200
    assert deleted.json()["name"] == "Boston" and deleted.json()["role"] == "edge"
    for method in ("GET", "DELETE"):
        missing = client.request(method, "/rest/instance/device/Boston")
        assert missing.status_code == 403
        assert missing.json() == {"alert": "Error 403 - Not Authorized."}


def test_unknown_types_are_404_alerts(client: httpx.Client) -> None:
    for method, path in (("POST", "/rest/instance/workflow"), ("GET", "/rest/query/link"),
                         ("GET", "/rest/instance/gadget/x")):
        response = client.request(method, path, json={"name": "x"})
        assert response.status_code == 404
        assert response.json()["alert"].startswith("Error 404 - Unknown instance type")


def test_query_with_equality_filters(client: httpx.Client) -> None:
    save(client, "device", DEVICES)
    cisco = client.get("/rest/query/device", params={"vendor": "Cisco"}).json()
    assert [device["name"] for device in cisco] == ["Austin", "Washington"]
    both = client.get("/rest/query/device", params={"vendor": "Cisco", "role": "edge"}).json()
    assert [device["name"] for device in both] == ["Austin"]
    assert client.get("/rest/query/device", params={"port": "22"}).json()[0]["name"] == (
        "Washington")
    assert client.get("/rest/query/device", params={"vendor": "Cis"}).json() == []


def test_search_as_enms_answers_it(client: httpx.Client) -> None:
    save(client, "device", DEVICES)
    response = client.post("/rest/search", json={
        "type": "device", "columns": ["name", "ip_address", "rack"],
        "search_criteria": {"vendor": "Cisco", "vendor_filter": "equality"},
        "order": [{"column": 0, "dir": "desc"}], "maximum_return_records": 10,
    })
    assert response.status_code == 200
    # eNMS's device rows hold only the asked columns.
    assert response.json() == [
        {"name": "Washington", "ip_address": "127.0.0.1", "rack": "A1"},
        {"name": "Austin", "ip_address": "10.0.0.3", "rack": "B2"},
    ]
    window = client.post("/rest/search", json={
        "type": "device", "columns": ["name"], "search_criteria": {"role": "^(edge|core)$",
                                                                   "role_filter": "regex"},
        "start": 1, "maximum_return_records": 1,
    }).json()
    assert window == [{"name": "Boston"}]
    bad = client.post("/rest/search", json={"type": "device", "columns": ["name"],
                                            "search_criteria": {"name": "(",
                                                                "name_filter": "regex"}})
    assert bad.status_code == 400
    assert "Invalid regular expression" in bad.json()["alert"]


def test_search_by_an_order_column_no_device_has_answers_in_name_order(
    client: httpx.Client
) -> None:
    """As eNMS: an unknown order column orders nothing (no 400); a custom property orders."""
    save(client, "device", DEVICES)
    for column in ("no_such_property", "nothing_at_all"):
        unknown = client.post("/rest/search", json={
            "type": "device", "columns": ["name", column],
            "order": [{"column": 1, "dir": "desc"}]})
        assert unknown.status_code == 200, unknown.text
        assert [row["name"] for row in unknown.json()] == ["Austin", "Boston", "Washington"]
    by_rack = client.post("/rest/search", json={
        "type": "device", "columns": ["name"], "order": [{"column": "rack", "dir": "desc"}]})
    assert [row["name"] for row in by_rack.json()] == ["Austin", "Washington", "Boston"]
    malformed = client.post("/rest/search", json={
        "type": "device", "order": [{"column": "rack; drop table devices"}]})
    assert malformed.status_code == 400
    assert "Not a valid property name" in malformed.json()["alert"]


# Pools -------------------------------------------------------------------------------------


def test_pool_in_flat_form(client: httpx.Client) -> None:
    save(client, "device", DEVICES)
    assert save(client, "pool", {"name": "Pool2", "device_vendor": "Cisco",
                                 "device_vendor_match": "equality",
                                 "device_vendor_invert": False})["success"] == ["Pool2"]
    pool = client.get("/rest/instance/pool/Pool2").json()
    assert {key: pool[key] for key in ("name", "type", "manually_defined", "device_vendor",
                                       "device_vendor_match", "device_vendor_invert",
                                       "device_count")} == {
        "name": "Pool2", "type": "pool", "manually_defined": False, "device_vendor": "Cisco",
        "device_vendor_match": "equality", "device_vendor_invert": False, "device_count": 2}
    assert (pool["devices"], pool["device_number"]) == (["Austin", "Washington"], 2)
    # The pool follows the inventory: a new Cisco device is in it at once.
    save(client, "device", {"name": "Denver", "vendor": "Cisco"})
    assert client.get("/rest/instance/pool/Pool2").json()["device_count"] == 3


def test_manual_pool_and_pool_listing(client: httpx.Client) -> None:
    save(client, "device", DEVICES)
    answer = save(client, "pool", [
        {"name": "Pool1", "manually_defined": True, "devices": ["Boston", "Austin"]},
        {"name": "Edges", "device_role": "edge", "device_role_match": "equality"},
        {"name": "Ghosts", "devices": ["Nowhere"]},
    ])
    assert answer["success"] == ["Pool1", "Edges"]
    assert answer["failure"] == [[{"name": "Ghosts", "devices": ["Nowhere"]},
                                  "devices: No device with the name 'Nowhere'."]]
    manual = client.get("/rest/instance/pool/Pool1").json()
    assert (manual["manually_defined"], manual["devices"], manual["device_count"]) == (
        True, ["Austin", "Boston"], 2)
    manual_only = client.get("/rest/query/pool", params={"manually_defined": "true"}).json()
    assert [pool["name"] for pool in manual_only] == ["Pool1"]
    found = client.post("/rest/search", json={"type": "pool", "columns": ["name", "device_count"],
                                              "search_criteria": {"name": "Pool"}}).json()
    assert found == [{"type": "pool", "name": "Pool1", "device_count": 2, "device_number": 2}]
    deleted = client.delete("/rest/instance/pool/Edges")
    assert deleted.status_code == 200 and deleted.json()["name"] == "Edges"
    gone = client.get("/rest/instance/pool/Edges")
    assert gone.json() == {"alert": "Error 403 - Not Authorized."}
    assert client.get("/rest/instance/device/Boston").status_code == 200


def test_what_get_answers_can_be_posted_back_unchanged(client: httpx.Client) -> None:
    save(client, "device", DEVICES)
    save(client, "pool", [{"name": "Filtered", "device_vendor": "Cisco", "device_rack": "A"},
                          {"name": "Listed", "devices": ["Boston"]}])
    for kind, name in (("pool", "Filtered"), ("pool", "Listed"), ("device", "Washington")):
        before = client.get(f"/rest/instance/{kind}/{name}").json()
        assert save(client, kind, before) == {"success": [name]}
        after = client.get(f"/rest/instance/{kind}/{name}").json()
        assert after == before  # nothing changed, not even updated_at
    assert client.get("/rest/instance/pool/Filtered").json()["device_count"] == 1


def test_pool_with_invalid_regex_is_a_clear_400_alert(client: httpx.Client) -> None:
    response = client.post("/rest/instance/pool", json={
        "name": "Broken", "device_name": "Wash[", "device_name_match": "regex"})
    assert response.status_code == 400
    assert response.json() == {"alert": "Error 400 - device_name: Invalid regular expression "
                                        "'Wash[': unterminated character set at position 4."}
    assert client.get("/rest/instance/pool/Broken").status_code == 403


# Import ------------------------------------------------------------------------------------


def test_import_csv_with_one_bad_row(shared_server: ServerProcess, client: httpx.Client,
                                     instance: str, tmp_path: Path) -> None:
    source = tmp_path / "devices.csv"
    source.write_text(
        "name,ip_address,vendor,port,rack\n"
        "csv-1,10.3.0.1,Cisco,22,A1\n"
        "csv-2,10.3.0.2,Juniper,not-a-port,A2\n"
        "csv-3,10.3.0.3,Arista,,\n"
    )
    done = runplane_cli("inventory", "import", str(source), "--instance", instance,
                        "--database", shared_server.database_url)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == "imported 2 devices, 0 pools; 1 errors"
    assert "device row 2 (line 3) 'csv-2': port: Must be an integer" in done.stderr
    names = [device["name"] for device in client.get("/rest/query/device").json()]
    assert names == ["csv-1", "csv-3"]
    first = client.get("/rest/instance/device/csv-1").json()
    assert (first["port"], first["rack"]) == (22, "A1")


def test_import_yaml_with_one_bad_row(shared_server: ServerProcess, client: httpx.Client,
                                      instance: str, tmp_path: Path) -> None:
    source = tmp_path / "inventory.yaml"
    source.write_text(
        "devices:\n"
        "  - {name: y-1, vendor: Cisco, os_version: 15.2, installed: 2024-05-01}\n"
        "  - {name: y-2, vendor: Juniper}\n"
        "  - {name: 'bad/name', vendor: Nokia}\n"
        "pools:\n"
        "  - {name: y-cisco, device_vendor: Cisco, device_vendor_match: equality}\n"
        "  - {name: y-manual, devices: [y-1, y-2]}\n"
    )
    done = runplane_cli("inventory", "import", str(source), "--instance", instance,
                        "--database", shared_server.database_url)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == "imported 2 devices, 2 pools; 1 errors"
    assert "device row 3 'bad/name': name: Names cannot contain a slash or a quote." in (
        done.stderr)
    device = client.get("/rest/instance/device/y-1").json()
    assert (device["os_version"], device["installed"]) == ("15.2", "2024-05-01")
    assert client.get("/rest/instance/pool/y-cisco").json()["device_count"] == 1
    assert client.get("/rest/instance/pool/y-manual").json()["devices"] == ["y-1", "y-2"]


def test_import_of_an_unreadable_file_exits_2(shared_server: ServerProcess, instance: str,
                                              tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_text('[{"name": "x"')
    done = runplane_cli("inventory", "import", str(source), "--instance", instance,
                        "--database", shared_server.database_url)
    assert done.returncode == 2
    assert "cannot import" in done.stderr
    ok = tmp_path / "ok.json"
    ok.write_text('[{"name": "j-1"}, {"name": "j-2", "port": 830}]')
    done = runplane_cli("inventory", "import", str(ok), "--instance", instance,
                        "--database", shared_server.database_url)
    assert (done.returncode, done.stdout.strip()) == (0, "imported 2 devices, 0 pools; 0 errors")
