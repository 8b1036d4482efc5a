"""The script door's error answers, in Syncano's envelopes (reference/compat.md section 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.script_door import (
    INSTANCES,
    create_instance,
    create_script,
    script_path,
    scripts_path,
    unique_name,
)
from tests.support.server import ServerProcess

KIB = 1024
MIB = 1024 * KIB
SOURCE_LIMIT = 3 * MIB
PAYLOAD_LIMIT = 512 * KIB
BODY_LIMIT = 8 * MIB


@pytest.fixture
def client(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with shared_server.client() as http:
        yield http


@pytest.fixture
def instance(client: httpx.Client) -> str:
    return create_instance(client)


@pytest.fixture
def script_id(client: httpx.Client, instance: str) -> int:
    return create_script(client, instance, "print(ARGS)")


def script_body(**fields: Any) -> dict[str, Any]:
    return {"label": "s", "runtime_name": "python3", "source": "print(1)", **fields}


# Keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1.1/instances/", "/v1.1/instances/default/", "/v1.1/instances/nope/"]
)
def test_unknown_key_is_403(shared_server: ServerProcess, path: str) -> None:
    with shared_server.client("0123456789abcdef0123456789abcdef01234567") as http:
        response = http.get(path)
    assert response.status_code == 403
    assert response.json() == {"detail": "No such API Key."}


def test_malformed_key_is_403(shared_server: ServerProcess) -> None:
    with shared_server.client("not a key at all") as http:
        response = http.post("/v1.1/instances/default/snippets/scripts/1/run/", json={})
    assert response.status_code == 403
    assert response.json() == {"detail": "No such API Key."}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1.1/instances/"),
        ("POST", "/v1.1/instances/"),
        ("GET", "/v1.1/instances/default/snippets/scripts/"),
        ("POST", "/v1.1/instances/default/snippets/scripts/1/run/"),
        ("GET", "/v1.1/instances/default/snippets/config/"),
    ],
)
def test_no_key_is_403(shared_server: ServerProcess, method: str, path: str) -> None:
    with httpx.Client(base_url=shared_server.base_url, timeout=60) as http:
        response = http.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == 403
    assert set(response.json()) == {"detail"}
    assert response.json()["detail"]


# Not found ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1.1/instances/kaer-morhen/"),
        ("GET", "/v1.1/instances/kaer-morhen/snippets/scripts/"),
        ("GET", "/v1.1/instances/kaer-morhen/snippets/scripts/1/"),
        ("POST", "/v1.1/instances/kaer-morhen/snippets/scripts/1/run/"),
        ("GET", "/v1.1/instances/kaer-morhen/snippets/scripts/1/traces/"),
        ("GET", "/v1.1/instances/kaer-morhen/snippets/scripts/runtimes/"),
        ("GET", "/v1.1/instances/kaer-morhen/snippets/config/"),
        ("PATCH", "/v1.1/instances/kaer-morhen/"),
        ("DELETE", "/v1.1/instances/kaer-morhen/"),
        # Not even a valid name: still simply not found.
        ("GET", "/v1.1/instances/Not%20A%20Name!/"),
    ],
)
def test_unknown_instance_is_404(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path, json={} if method in ("POST", "PATCH") else None)
    assert response.status_code == 404
    assert response.json() == {"detail": "Instance was not found."}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "999/"),
        ("PATCH", "999/"),
        ("PUT", "999/"),
        ("DELETE", "999/"),
        ("POST", "999/run/"),
        ("GET", "999/traces/"),
        ("GET", "999/traces/1/"),
        ("GET", "abc/"),
        ("GET", "{script}/traces/999/"),
        ("GET", "{script}/traces/abc/"),
    ],
)
def test_unknown_script_or_trace_is_404(
    client: httpx.Client, instance: str, script_id: int, method: str, suffix: str
) -> None:
    path = scripts_path(instance) + suffix.format(script=script_id)
    body = script_body() if method in ("PUT", "PATCH", "POST") else None
    response = client.request(method, path, json=body)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_run_request_s_errors_come_in_order_key_body_id_instance_script(
    shared_server: ServerProcess, client: httpx.Client, instance: str, script_id: int
) -> None:
    """The run route reads the key, instance and script at once; its answers still come in
    the order of the separate checks."""
    bad_body = {"content": b"{bad", "headers": {"Content-Type": "application/json"}}
    with httpx.Client(base_url=shared_server.base_url) as anonymous:
        # No key in the headers: it may be in the body, so the body is read first.
        assert anonymous.post(
            "/v1.1/instances/nope/snippets/scripts/abc/run/", **bad_body
        ).status_code == 400
        assert anonymous.post(
            "/v1.1/instances/nope/snippets/scripts/abc/run/", json={}
        ).status_code == 403
    # The key only in the body, where the run route also looks for it.
    in_body = client.post(f"{script_path(instance, script_id)}run/",
                          headers={"X-API-KEY": ""},
                          json={"_api_key": shared_server.admin_key, "payload": {"n": 1}})
    assert in_body.status_code == 200, in_body.text
    answers = [
        client.post("/v1.1/instances/nope/snippets/scripts/abc/run/", **bad_body),
        client.post("/v1.1/instances/nope/snippets/scripts/abc/run/", json={}),
        client.post("/v1.1/instances/nope/snippets/scripts/1/run/", json={}),
        client.post(f"{scripts_path(instance)}999/run/", json={}),
    ]
    assert [(answer.status_code, answer.json()["detail"][:18]) for answer in answers] == [
        (400, "JSON parse error -"), (404, "Not found."), (404, "Instance was not f"),
        (404, "Not found."),
    ]


# Bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{bad", b'{"payload": ', b"\xff\xfe", b"{'single': 1}"])
def test_malformed_json_is_400(
    client: httpx.Client, instance: str, script_id: int, raw: bytes
) -> None:
    for path in (f"{script_path(instance, script_id)}run/", scripts_path(instance), INSTANCES):
        response = client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        body = response.json()
        assert set(body) == {"detail"}
        assert body["detail"].startswith("JSON parse error - ")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (42, "Payload passed in invalid format."),
        (True, "Payload passed in invalid format."),
        ("invalid", "Not a valid JSON string."),
        ("42", "Payload passed in invalid format."),  # a string holding a JSON number
    ],
)
def test_payload_not_object_or_array_is_400(
    client: httpx.Client, instance: str, script_id: int, payload: Any, message: str
) -> None:
    path = script_path(instance, script_id)
    response = client.post(f"{path}run/", json={"payload": payload})
    assert response.status_code == 400
    assert response.json() == {"payload": [message]}
    assert client.get(f"{path}traces/").json()["objects"] == []  # nothing was queued


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"label": 5}, "label"),
        ({"label": ""}, "label"),
        ({"source": 12}, "source"),
        ({"config": 3}, "config"),
        ({"config": [1, 2]}, "config"),
        ({"config": "not json"}, "config"),
        ({"description": ["x"]}, "description"),
    ],
)
def test_wrong_field_types_are_400(
    client: httpx.Client, instance: str, fields: dict[str, Any], field: str
) -> None:
    response = client.post(scripts_path(instance), json=script_body(**fields))
    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert isinstance(body[field], list) and all(isinstance(m, str) for m in body[field])


def test_unknown_runtime_is_a_choice_error(client: httpx.Client, instance: str) -> None:
    response = client.post(scripts_path(instance), json=script_body(runtime_name="x"))
    assert response.status_code == 400
    assert response.json() == {"runtime_name": ['"x" is not a valid choice.']}


def test_several_field_errors_answer_together(client: httpx.Client, instance: str) -> None:
    response = client.post(
        scripts_path(instance), json={"label": 5, "runtime_name": "cobol", "config": 3}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"label", "runtime_name", "config"}


def test_config_given_as_json_string_is_accepted(client: httpx.Client, instance: str) -> None:
    response = client.post(
        scripts_path(instance), json=script_body(config=json.dumps({"param1": "test"}))
    )
    assert response.status_code == 201, response.text
    assert response.json()["config"] == {"param1": "test"}


def test_source_over_3_mb_is_refused(client: httpx.Client, instance: str) -> None:
    too_big = "#" * (SOURCE_LIMIT + 1)
    response = client.post(scripts_path(instance), json=script_body(source=too_big))
    assert response.status_code == 400
    assert list(response.json()) == ["source"]
    assert str(SOURCE_LIMIT) in response.json()["source"][0]
    exactly = client.post(scripts_path(instance), json=script_body(source="#" * SOURCE_LIMIT))
    assert exactly.status_code == 201, exactly.text[:200]
    assert len(client.get(exactly.json()["links"]["self"]).json()["source"]) == SOURCE_LIMIT


def test_run_body_over_512_kb_is_413(client: httpx.Client, instance: str, script_id: int) -> None:
    path = f"{script_path(instance, script_id)}run/"
    filler = "x" * (PAYLOAD_LIMIT + 1)
    response = client.post(path, json={"payload": {"blob": filler}})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request size limit exceeded (524288)."}
    # Just under the limit is fine.
    fits = client.post(path, json={"payload": {"blob": "x" * (PAYLOAD_LIMIT - 100)}})
    assert fits.status_code == 200, fits.text[:200]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({f"k{i}": i for i in range(1025)}, "Too many keys defined (exceeds 1024)."),
        ({"k" * 65: 1}, "Too long key defined (exceeds 64)."),
        ({"big": "x" * (256 * KIB)}, "Too big object defined (exceeds 262144)."),
        ("not an object", "Not a valid JSON string."),
        ([1], "Config passed in invalid format."),
    ],
    ids=["1025-keys", "65-char-key", "over-256-kb", "not-json", "array"],
)
def test_config_limits(
    client: httpx.Client, instance: str, script_id: int, config: Any, message: str
) -> None:
    expected = {"config": [message]}
    created = client.post(scripts_path(instance), json=script_body(config=config))
    assert (created.status_code, created.json()) == (400, expected)
    patched = client.patch(script_path(instance, script_id), json={"config": config})
    assert (patched.status_code, patched.json()) == (400, expected)
    instance_config = client.put(
        f"{INSTANCES}{instance}/snippets/config/", json={"config": config}
    )
    assert (instance_config.status_code, instance_config.json()) == (400, expected)


def test_config_at_the_limits_is_accepted(client: httpx.Client, instance: str) -> None:
    config = {f"k{i}": i for i in range(1023)}
    config["k" * 64] = 1
    response = client.post(scripts_path(instance), json=script_body(config=config))
    assert response.status_code == 201, response.text[:200]
    assert response.json()["config"] == config


def test_body_over_global_cap_is_413(client: httpx.Client, instance: str) -> None:
    response = client.post(
        scripts_path(instance), content=b" " * (BODY_LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request size limit exceeded ({BODY_LIMIT})."}


def test_body_over_global_cap_without_length_is_413(client: httpx.Client, instance: str) -> None:
    """A chunked body (no Content-Length) is counted as it arrives."""

    def chunks() -> Iterator[bytes]:
        for _ in range(9):
            yield b" " * MIB

    response = client.post(
        scripts_path(instance), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request size limit exceeded ({BODY_LIMIT})."}


# Instances ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "has space", "dots.in.name", "x" * 65, "ünïcode", None, 12],
)
def test_bad_instance_name_is_400(client: httpx.Client, name: Any) -> None:
    response = client.post(INSTANCES, json={"name": name})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["name"]
    assert isinstance(body["name"], list) and body["name"][0]


def test_missing_instance_name_is_400(client: httpx.Client) -> None:
    response = client.post(INSTANCES, json={"description": "no name"})
    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."]}


def test_duplicate_instance_is_400(client: httpx.Client) -> None:
    name = unique_name("dup")
    assert client.post(INSTANCES, json={"name": name}).status_code == 201
    for again in (name, name.upper()):
        response = client.post(INSTANCES, json={"name": again})
        assert response.status_code == 400
        body = response.json()
        assert list(body) == ["name"]
        assert isinstance(body["name"], list) and body["name"][0]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({f"k{i}": i for i in range(9)}, "Too many keys defined (exceeds 8)."),
        ({"k" * 17: 1}, "Too long key defined (exceeds 16)."),
        ("[1]", "Metadata passed in invalid format."),
    ],
)
def test_instance_metadata_limits(client: httpx.Client, metadata: Any, message: str) -> None:
    response = client.post(INSTANCES, json={"name": unique_name(), "metadata": metadata})
    assert response.status_code == 400
    assert response.json() == {"metadata": [message]}


# Inputs a database cannot store: a clear 4xx, never a 500 ---------------------------------

HUGE = "9" * 25


@pytest.mark.parametrize(
    "suffix", [f"{HUGE}/", f"{HUGE}/traces/", "{script}/traces/" + HUGE + "/", "²/", "٣/"]
)
def test_ids_no_script_can_have_are_404(
    client: httpx.Client, instance: str, script_id: int, suffix: str
) -> None:
    response = client.get(scripts_path(instance) + suffix.format(script=script_id))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_cursor_past_every_id_is_an_empty_page(
    client: httpx.Client, instance: str, script_id: int
) -> None:
    for path in (scripts_path(instance), f"{script_path(instance, script_id)}traces/"):
        response = client.get(path, params={"last_pk": HUGE, "direction": 1, "ordering": "asc"})
        assert response.status_code == 200, response.text
        assert response.json()["objects"] == []
    descending = client.get(scripts_path(instance), params={"last_pk": HUGE, "ordering": "desc"})
    assert [item["id"] for item in descending.json()["objects"]] == [script_id]


def test_endpoint_for_a_huge_script_id_is_a_field_error(
    client: httpx.Client, instance: str
) -> None:
    response = client.post(
        f"{INSTANCES}{instance}/endpoints/scripts/", json={"name": "e", "script": int(HUGE)}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["script"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"label": "a\x00b"}, "label"),
        ({"description": "\x00"}, "description"),
        ({"source": "print('\x00')"}, "source"),
    ],
)
def test_nul_characters_in_text_are_400(
    client: httpx.Client, instance: str, fields: dict[str, Any], field: str
) -> None:
    response = client.post(scripts_path(instance), json=script_body(**fields))
    assert response.status_code == 400
    assert response.json() == {field: ["Null characters are not allowed."]}


def test_nul_in_instance_description_is_400(client: httpx.Client) -> None:
    response = client.post(INSTANCES, json={"name": unique_name(), "description": "a\x00"})
    assert response.status_code == 400
    assert response.json() == {"description": ["Null characters are not allowed."]}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"payload": {"a": NaN}}',
        b'{"payload": {"a": Infinity}}',
        b'{"payload": {"a": -Infinity}}',
        b'{"payload": {"a": 1e999}}',
        b'{"payload": {"a": "\\ud800"}}',  # a lone surrogate, escaped
        b'{"payload": {"a": "\xed\xa0\x80"}}',  # a lone surrogate, as raw bytes
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["nan", "infinity", "-infinity", "1e999", "escaped-surrogate", "raw-surrogate", "deep"],
)
def test_json_no_database_can_store_is_a_parse_error(
    client: httpx.Client, instance: str, script_id: int, raw: bytes
) -> None:
    path = f"{script_path(instance, script_id)}run/"
    response = client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("JSON parse error - ")
    assert client.get(f"{script_path(instance, script_id)}traces/").json()["objects"] == []


@pytest.mark.parametrize(
    "payload", ['{"a": NaN}', '{"a": "\\ud800"}', "[" * 5000 + "]" * 5000]
)
def test_payload_string_no_database_can_store_is_400(
    client: httpx.Client, instance: str, script_id: int, payload: str
) -> None:
    response = client.post(f"{script_path(instance, script_id)}run/", json={"payload": payload})
    assert response.status_code == 400
    assert response.json() == {"payload": ["Not a valid JSON string."]}


def test_escaped_surrogate_pairs_are_fine(
    client: httpx.Client, instance: str, script_id: int
) -> None:
    # json.dumps (and so syncano-python) escapes an emoji as a surrogate pair.
    response = client.post(
        f"{script_path(instance, script_id)}run/",
        content=json.dumps({"payload": {"emoji": "\U0001f600"}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "suffix", ["a%00b/", "a%00b/run/", "p/ab%00c/hook/", "p/" + "a" * 40 + "/a%00b/"]
)
def test_endpoint_names_and_links_with_nul_are_404(
    client: httpx.Client, instance: str, suffix: str
) -> None:
    method = "GET" if suffix == "a%00b/" else "POST"
    response = client.request(method, f"{INSTANCES}{instance}/endpoints/scripts/{suffix}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
