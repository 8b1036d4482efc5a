"""The script door over HTTP, as Syncano's clients use it: instances, config, scripts, runs,
traces, pagination and where a key may be placed. One server per module and database."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.polling import wait_for_trace
from tests.support.script_door import (
    INSTANCES,
    TIMESTAMP_FORMAT,
    create_instance,
    create_script,
    run_and_wait,
    script_path,
    scripts_path,
    start_run,
    stdout_json,
    unique_name,
)
from tests.support.server import ServerProcess, runplane_cli

NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
INSTANCE_NOT_FOUND = {"detail": "Instance was not found."}
PRINT_ARGS = "import json\nprint(json.dumps(ARGS))"
PRINT_ALL = "import json\nprint(json.dumps({'args': ARGS, 'config': CONFIG, 'meta': META}))"


@pytest.fixture
def client(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with shared_server.client() as http:
        yield http


@pytest.fixture
def instance(client: httpx.Client) -> str:
    return create_instance(client)


def anonymous(server: ServerProcess) -> httpx.Client:
    """A client that sends no key unless a test adds one."""
    return httpx.Client(base_url=server.base_url, timeout=60)


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, TIMESTAMP_FORMAT)


# Instances ---------------------------------------------------------------------------------


def test_instance_create_get_list_patch_delete(client: httpx.Client) -> None:
    name = unique_name("crud")
    created = client.post(
        INSTANCES, json={"name": name.upper(), "description": "first", "metadata": {"a": 1}}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == name  # lowercased, as Syncano did
    assert body["description"] == "first"
    assert body["metadata"] == {"a": 1}
    assert body["links"]["self"] == f"/v1.1/instances/{name}/"
    assert parse_time(body["created_at"]) <= parse_time(body["updated_at"])

    got = client.get(f"{INSTANCES}{name}/")
    assert got.status_code == 200
    assert got.json() == body
    assert client.get(f"{INSTANCES}{name.upper()}/").json()["name"] == name

    listed = client.get(INSTANCES, params={"page_size": 100})
    assert listed.status_code == 200
    page = listed.json()
    assert set(page) == {"next", "prev", "objects"}
    assert page["prev"] is None
    assert name in [item["name"] for item in page["objects"]]
    assert "default" in [item["name"] for item in page["objects"]]

    patched = client.patch(
        f"{INSTANCES}{name}/", json={"description": "second", "metadata": {"color": "red"}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "second"
    assert patched.json()["metadata"] == {"color": "red"}
    assert parse_time(patched.json()["updated_at"]) >= parse_time(body["updated_at"])

    # The Python client sends metadata as a JSON-encoded string inside the JSON body.
    as_string = client.patch(f"{INSTANCES}{name}/", json={"metadata": json.dumps({"env": "x"})})
    assert as_string.status_code == 200, as_string.text
    assert as_string.json()["metadata"] == {"env": "x"}
    assert as_string.json()["description"] == "second"  # PATCH leaves other fields alone
    assert client.get(f"{INSTANCES}{name}/").json()["metadata"] == {"env": "x"}

    deleted = client.delete(f"{INSTANCES}{name}/")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = client.get(f"{INSTANCES}{name}/")
    assert gone.status_code == 404
    assert gone.json() == INSTANCE_NOT_FOUND
    assert client.delete(f"{INSTANCES}{name}/").status_code == 404
    listed_after = client.get(INSTANCES, params={"page_size": 100}).json()["objects"]
    assert name not in [item["name"] for item in listed_after]


def test_instance_config_get_and_put(client: httpx.Client, instance: str) -> None:
    path = f"{INSTANCES}{instance}/snippets/config/"
    assert client.get(path).json() == {"config": {}}
    config = {"shared": "instance", "both": "instance", "nested": {"k": [1, 2]}}
    put = client.put(path, json={"config": config})
    assert put.status_code == 200, put.text
    assert put.json() == {"config": config}
    assert client.get(path).json() == {"config": config}
    replaced = client.put(path, json={"config": {"only": 1}})
    assert replaced.json() == {"config": {"only": 1}}  # PUT replaces, it does not merge
    assert client.get(path).json() == {"config": {"only": 1}}


def test_script_sees_instance_config_merged_with_its_own(
    client: httpx.Client, instance: str
) -> None:
    put = client.put(
        f"{INSTANCES}{instance}/snippets/config/",
        json={"config": {"shared": "instance", "both": "instance", "timeout": 99}},
    )
    assert put.status_code == 200, put.text
    script_id = create_script(
        client, instance, PRINT_ALL, config={"both": "script", "own": 1, "timeout": 20}
    )
    seen = stdout_json(run_and_wait(client, instance, script_id))
    # The script's config wins; `timeout` steers runplane and is not shown to the script.
    assert seen["config"] == {"shared": "instance", "both": "script", "own": 1}


# Scripts -----------------------------------------------------------------------------------


def test_script_create_get_list_put_patch_delete(client: httpx.Client, instance: str) -> None:
    created = client.post(
        scripts_path(instance),
        json={"label": "first", "description": "d", "source": "print(1)",
              "runtime_name": "python3", "config": {"a": 1}},
    )
    assert created.status_code == 201, created.text
    script = created.json()
    script_id = script["id"]
    assert script_id == 1  # scripts are numbered per instance
    path = script_path(instance, script_id)
    given = {"label": "first", "description": "d", "source": "print(1)",
             "runtime_name": "python3", "config": {"a": 1}}
    assert {name: script[name] for name in given} == given
    assert script["links"] == {
        "self": path,
        "runtimes": f"{scripts_path(instance)}runtimes/",
        "run": f"{path}run/",
        "traces": f"{path}traces/",
    }
    parse_time(script["created_at"])
    assert client.get(path).json() == script

    second = create_script(client, instance, "print(2)", runtime_name="shell", label="second")
    assert second == 2
    listed = client.get(scripts_path(instance)).json()
    assert set(listed) == {"next", "prev", "objects"}
    assert [item["id"] for item in listed["objects"]] == [1, 2]  # ascending, as Syncano

    put = client.put(
        path, json={"label": "renamed", "source": "print(3)", "runtime_name": "python3",
                    "config": {"b": 2}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["label"] == "renamed"
    assert put.json()["source"] == "print(3)"
    assert put.json()["config"] == {"b": 2}
    incomplete_put = client.put(path, json={"source": "print(4)"})
    assert incomplete_put.status_code == 400
    assert set(incomplete_put.json()) == {"label", "runtime_name"}
    assert client.get(path).json()["source"] == "print(3)"  # a refused PUT changes nothing

    patched = client.patch(path, json={"description": "only this"})
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["description"] == "only this"
    assert (after["label"], after["source"], after["config"]) == ("renamed", "print(3)", {"b": 2})
    assert parse_time(after["updated_at"]) >= parse_time(script["updated_at"])

    deleted = client.delete(path)
    assert deleted.status_code == 204
    gone = client.get(path)
    assert gone.status_code == 404
    assert gone.json() == NOT_FOUND
    assert client.post(f"{path}run/", json={"payload": {}}).json() == NOT_FOUND
    assert [item["id"] for item in client.get(scripts_path(instance)).json()["objects"]] == [2]
    # Numbers are not reused after a delete.
    assert create_script(client, instance, "print(5)") == 3


def test_runtimes(client: httpx.Client, instance: str) -> None:
    response = client.get(f"{scripts_path(instance)}runtimes/")
    assert response.status_code == 200
    runtimes = response.json()
    assert set(runtimes) == {"python3", "shell"}
    for described in runtimes.values():
        assert {"name", "version", "deprecated"} <= set(described)
        assert described["deprecated"] is False


# Runs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected_args"),
    [
        pytest.param({"payload": {"KEY": "VALUE"}}, {"KEY": "VALUE"}, id="object"),
        # syncano-python: payload=json.dumps(payload) inside the JSON body.
        pytest.param({"payload": json.dumps({"a": 1})}, {"a": 1}, id="json-string"),
        pytest.param({"payload": [1, {"b": 2}]}, [1, {"b": 2}], id="array"),
        pytest.param({"payload": json.dumps([3])}, [3], id="json-string-array"),
        # syncano-js sends the payload unwrapped: the body itself is ARGS.
        pytest.param({"a": 1, "b": [2]}, {"a": 1, "b": [2]}, id="unwrapped"),
        pytest.param({}, {}, id="empty"),
    ],
)
def test_run_payload_forms(
    client: httpx.Client, instance: str, body: dict[str, Any], expected_args: Any
) -> None:
    script_id = create_script(client, instance, PRINT_ARGS)
    assert stdout_json(run_and_wait(client, instance, script_id, body)) == expected_args


def test_run_answer_meta_and_trace(client: httpx.Client, instance: str) -> None:
    script_id = create_script(client, instance, PRINT_ALL)
    pending = start_run(client, instance, script_id, {"payload": {"x": 1}})
    trace_path = f"{script_path(instance, script_id)}traces/1/"
    assert pending == {
        "id": 1, "status": "pending", "executed_at": None, "duration": None, "result": {},
        "links": {"self": trace_path},
    }
    finished = run_and_wait(client, instance, script_id, {"payload": {"x": 2}})
    assert finished["id"] == 2
    seen = stdout_json(finished)
    assert seen["args"] == {"x": 2}
    assert seen["meta"]["executed_by"] == "codebox"
    assert seen["meta"]["instance"] == instance
    assert seen["meta"]["executor"] == script_id
    assert finished["result"]["stderr"] == ""
    assert type(finished["duration"]) is int
    parse_time(finished["executed_at"])


def test_shell_script_reads_payload_from_stdin(client: httpx.Client, instance: str) -> None:
    script_id = create_script(
        client, instance, 'payload=$(cat)\necho "stdin=$payload"\necho "to stderr" >&2',
        runtime_name="shell",
    )
    trace = run_and_wait(client, instance, script_id, {"payload": {"name": "Geralt", "n": 2}})
    assert trace["status"] == "success", trace
    stdout = trace["result"]["stdout"]
    assert stdout.startswith("stdin=")
    assert json.loads(stdout.removeprefix("stdin=")) == {"name": "Geralt", "n": 2}
    assert trace["result"]["stderr"] == "to stderr"


# Traces and pagination ---------------------------------------------------------------------


@pytest.fixture
def five_traces(client: httpx.Client, instance: str) -> str:
    """A script run five times; answers its traces path."""
    script_id = create_script(client, instance, "print('hi')")
    for number in range(1, 6):
        assert start_run(client, instance, script_id)["id"] == number
    return f"{script_path(instance, script_id)}traces/"


def trace_ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["objects"]]


def follow(client: httpx.Client, link: str) -> dict[str, Any]:
    """Follow a `next`/`prev` link as syncano-python does: a path joined onto the host."""
    assert link.startswith("/v1.1/"), link  # path only: no scheme, no host
    response = client.get(link)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_traces_list_newest_first(client: httpx.Client, five_traces: str) -> None:
    page = client.get(five_traces).json()
    assert set(page) == {"next", "prev", "objects"}
    assert trace_ids(page) == [5, 4, 3, 2, 1]
    assert page["next"] is None and page["prev"] is None
    for item in page["objects"]:
        assert item["links"]["self"] == f"{five_traces}{item['id']}/"


def test_traces_pagination_follows_next_links(client: httpx.Client, five_traces: str) -> None:
    first = client.get(five_traces, params={"page_size": 2}).json()
    assert trace_ids(first) == [5, 4]
    assert first["prev"] is None
    link = urlsplit(first["next"])
    assert link.path == five_traces and not link.scheme and not link.netloc
    query = parse_qs(link.query)
    assert query["page_size"] == ["2"]
    assert query["direction"] == ["1"]
    assert query["last_pk"] == ["4"]

    second = follow(client, first["next"])
    assert trace_ids(second) == [3, 2]
    assert second["prev"] is not None
    back = follow(client, second["prev"])
    assert trace_ids(back) == [5, 4]

    third = follow(client, second["next"])
    assert trace_ids(third) == [1]
    assert third["next"] is None


def test_traces_ordering_asc(client: httpx.Client, five_traces: str) -> None:
    assert trace_ids(client.get(five_traces, params={"ordering": "asc"}).json()) == [1, 2, 3, 4, 5]
    first = client.get(five_traces, params={"ordering": "asc", "page_size": 2}).json()
    assert trace_ids(first) == [1, 2]
    assert parse_qs(urlsplit(first["next"]).query)["ordering"] == ["asc"]
    assert trace_ids(follow(client, first["next"])) == [3, 4]
    assert trace_ids(client.get(five_traces, params={"ordering": "DESC"}).json())[0] == 5


def test_pagination_tolerates_duplicated_params(client: httpx.Client, five_traces: str) -> None:
    # syncano-python repeats page_size / ordering when it follows links.
    twice = client.get(five_traces, params=[("page_size", "2"), ("page_size", "2")])
    assert twice.status_code == 200, twice.text
    assert trace_ids(twice.json()) == [5, 4]
    mixed = client.get(
        five_traces,
        params=[("ordering", "asc"), ("page_size", "3"), ("ordering", "asc"), ("page_size", "3")],
    )
    assert mixed.status_code == 200, mixed.text
    assert trace_ids(mixed.json()) == [1, 2, 3]
    assert trace_ids(follow(client, mixed.json()["next"])) == [4, 5]


@pytest.mark.parametrize("bad", ["x", "-1", "1.5"])
def test_bad_page_size_is_400(client: httpx.Client, five_traces: str, bad: str) -> None:
    response = client.get(five_traces, params={"page_size": bad})
    assert response.status_code == 400
    assert response.json() == {"detail": "Incorrect page parameter provided."}


def test_page_size_zero_is_an_empty_page(client: httpx.Client, five_traces: str) -> None:
    assert client.get(five_traces, params={"page_size": 0}).json() == {
        "next": None, "prev": None, "objects": [],
    }


def test_scripts_and_instances_paginate_too(client: httpx.Client, instance: str) -> None:
    for _ in range(3):
        create_script(client, instance, "print(1)")
    first = client.get(scripts_path(instance), params={"page_size": 2}).json()
    assert [item["id"] for item in first["objects"]] == [1, 2]
    assert [item["id"] for item in follow(client, first["next"])["objects"]] == [3]
    instances = client.get(INSTANCES, params={"page_size": 1}).json()
    assert len(instances["objects"]) == 1 and instances["next"] is not None


# Where the key goes ------------------------------------------------------------------------


def placed(key: str, placement: str) -> dict[str, Any]:
    """httpx request arguments carrying `key` the way one of Syncano's clients did."""
    match placement:
        case "x-api-key":
            return {"headers": {"X-API-KEY": key}}
        case "query":
            return {"params": {"api_key": key}}
        case "query-apikey":
            return {"params": {"apikey": key}}
        case "authorization-token":
            return {"headers": {"Authorization": f"Token {key}"}}
        case "authorization-lowercase":  # what syncano-python sends
            return {"headers": {"Authorization": f"token {key}"}}
    raise AssertionError(placement)


PLACEMENTS = [
    "x-api-key", "query", "query-apikey", "authorization-token", "authorization-lowercase",
]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_key_placements(shared_server: ServerProcess, instance: str, placement: str) -> None:
    assert shared_server.admin_key is not None
    with anonymous(shared_server) as http:
        good = http.get(f"{INSTANCES}{instance}/", **placed(shared_server.admin_key, placement))
        assert good.status_code == 200, good.text
        assert good.json()["name"] == instance
        # The key really is read from there: an unknown one in the same place is refused.
        bad = http.get(f"{INSTANCES}{instance}/", **placed("f" * 40, placement))
        assert bad.status_code == 403
        assert bad.json() == {"detail": "No such API Key."}


def test_key_in_body(shared_server: ServerProcess, client: httpx.Client, instance: str) -> None:
    assert shared_server.admin_key is not None
    script_id = create_script(client, instance, PRINT_ARGS)
    run_path = f"{script_path(instance, script_id)}run/"
    with anonymous(shared_server) as http:
        wrapped = http.post(
            run_path, json={"payload": {"a": 1}, "_api_key": shared_server.admin_key}
        )
        assert wrapped.status_code == 200, wrapped.text
        # Unwrapped (syncano-js style): the key is taken out, not passed on as ARGS.
        unwrapped = http.post(run_path, json={"b": 2, "_api_key": shared_server.admin_key})
        assert unwrapped.status_code == 200, unwrapped.text
        refused = http.post(run_path, json={"payload": {}, "_api_key": "e" * 40})
        assert refused.status_code == 403
        assert refused.json() == {"detail": "No such API Key."}
        created = http.post(INSTANCES, json={"name": unique_name(), "_api_key": "e" * 40})
        assert created.status_code == 403
    assert stdout_json(wait_for_trace(client, wrapped.json()["links"]["self"])) == {"a": 1}
    assert stdout_json(wait_for_trace(client, unwrapped.json()["links"]["self"])) == {"b": 2}


# Keys made with the CLI --------------------------------------------------------------------


def cli_key(server: ServerProcess, *args: str) -> str:
    result = runplane_cli("key", "create", *args, "--database", server.database_url)
    assert result.returncode == 0, result.stderr
    # Other tools script against this: the key alone, on one line.
    assert re.fullmatch(r"[0-9a-f]{40}\n", result.stdout), repr(result.stdout)
    return result.stdout.strip()


def test_instance_run_key_from_cli(
    shared_server: ServerProcess, client: httpx.Client, instance: str
) -> None:
    other = create_instance(client)
    script_id = create_script(client, instance, PRINT_ARGS)
    other_script = create_script(client, other, PRINT_ARGS)
    run_key = cli_key(shared_server, "--instance", instance, "--role", "run")

    with shared_server.client(run_key) as runner:
        trace = run_and_wait(runner, instance, script_id, {"payload": {"by": "run key"}})
        assert stdout_json(trace) == {"by": "run key"}

        refused = runner.post(
            scripts_path(instance),
            json={"label": "x", "runtime_name": "python3", "source": "print(1)"},
        )
        assert refused.status_code == 403
        assert refused.json() == NO_PERMISSION
        assert runner.delete(script_path(instance, script_id)).json() == NO_PERMISSION

        # Another tenant's instance is answered as an unknown one (no existence oracle).
        for path in (f"{INSTANCES}{other}/", script_path(other, other_script)):
            foreign = runner.get(path)
            assert foreign.status_code == 404, path
            assert foreign.json() == {"detail": "Instance was not found."}
        foreign_run = runner.post(f"{script_path(other, other_script)}run/", json={})
        assert foreign_run.status_code == 404
        assert foreign_run.json() == {"detail": "Instance was not found."}

        visible = runner.get(INSTANCES).json()["objects"]
        assert [item["name"] for item in visible] == [instance]
        assert visible[0]["role"] == "api_key"


def test_instance_read_key_cannot_run(
    shared_server: ServerProcess, client: httpx.Client, instance: str
) -> None:
    script_id = create_script(client, instance, PRINT_ARGS)
    read_key = cli_key(shared_server, "--instance", instance, "--role", "read")
    with shared_server.client(read_key) as reader:
        assert reader.get(script_path(instance, script_id)).status_code == 200
        refused = reader.post(f"{script_path(instance, script_id)}run/", json={"payload": {}})
        assert refused.status_code == 403
        assert refused.json() == NO_PERMISSION
        traces = reader.get(f"{script_path(instance, script_id)}traces/").json()
        assert traces["objects"] == []  # the refused run left no trace


def test_key_create_for_unknown_instance_fails(shared_server: ServerProcess) -> None:
    result = runplane_cli(
        "key", "create", "--instance", "no-such-instance", "--role", "run",
        "--database", shared_server.database_url,
    )
    assert result.returncode != 0
    assert result.stdout == ""
