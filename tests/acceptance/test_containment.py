"""Out of the box (no setting), a tenant's script reaches no secret: not the database file that
holds every instance's scripts, webhook secrets and the key-hash secret, not the key file of
the credentials' secrets, not the server's other
files or its process, not another instance's run while it runs. (Issue 14, item 5: before, a
script of instance `a` read instance `b`'s webhook secret from the SQLite file.)"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runplane.engine import confine
from runplane.store.database import database_file
from tests.support.polling import wait_for_trace, wait_until
from tests.support.script_door import create_instance, create_script, run_and_wait, start_run
from tests.support.server import ServerProcess

if confine.abi_version() < 1 and os.environ.get("CI") != "true":
    pytest.skip("this kernel has no Landlock", allow_module_level=True)

TRIES = """
import json, os
outcomes = {}
attempts = {
    "database": lambda: open(ARGS["database"], "rb").read(16),
    "secret_key": lambda: open(ARGS["secret_key"], "rb").read(16),
    "server_log": lambda: open(ARGS["server_log"]).read(),
    "other_run_file": lambda: open(ARGS["other_run_file"]).read(),
    "other_runs_listed": lambda: os.listdir(ARGS["run_root"]),
    "server_environ": lambda: open(f"/proc/{ARGS['server']}/environ").read(),
    "server_signal": lambda: os.kill(ARGS["server"], 0),
}
for name, attempt in attempts.items():
    try:
        attempt()
        outcomes[name] = "reached"
    except OSError as exc:
        outcomes[name] = type(exc).__name__
print(json.dumps(outcomes))
"""

# Waits, with a secret in its own run directory, until the test (not a script) lets it go.
HOLDS_A_SECRET = """
import os, time
open(ARGS["name"], "w").write("instance b's secret")
while not os.path.exists("stop"):
    time.sleep(0.05)
"""


@pytest.fixture
def admin(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    with shared_server.client() as client:
        yield client


def secret_key_file(server: ServerProcess) -> str:
    """The key file of the credentials' secrets: beside a SQLite database, else the test's."""
    path = server.key_env().get("RUNPLANE_SECRET_KEY_FILE") or \
        f"{database_file(server.database_url)}.secret-key"
    assert os.path.exists(path) and os.stat(path).st_mode & 0o777 == 0o600
    return path


def find_run_file(name: str) -> Path:
    roots = {"/dev/shm", tempfile.gettempdir()}
    found = wait_until(
        lambda: [path for root in roots
                 for path in glob.glob(os.path.join(root, "runplane-run-*", name))],
        bool, timeout=20, what=f"a run's file {name}")
    return Path(found[0])


def test_health_says_runs_are_confined(shared_server: ServerProcess) -> None:
    isolation = httpx.get(f"{shared_server.base_url}/healthz").json()["isolation"]
    assert isolation["confinement"]["landlock"] is True
    exposed = isolation["confinement"]["exposed"]
    if database_file(shared_server.database_url) is None:
        assert exposed == ["the PostgreSQL server, over the network: scripts connect as any "
                           "local program can (require a password)"]
    else:
        assert exposed == []


def test_a_script_reaches_no_secret_of_the_server_or_another_tenant(
        shared_server: ServerProcess, admin: httpx.Client) -> None:
    tenant_a, tenant_b = create_instance(admin), create_instance(admin)
    holder = create_script(admin, tenant_b, HOLDS_A_SECRET)
    secret_name = f"secret-{uuid.uuid4().hex}"
    held = start_run(admin, tenant_b, holder, {"payload": {"name": secret_name}})
    secret = find_run_file(secret_name)
    assert shared_server.process is not None and shared_server.log_path is not None
    arguments = {
        "database": database_file(shared_server.database_url) or "/nonexistent",
        "secret_key": secret_key_file(shared_server),
        "server_log": str(shared_server.log_path),
        "other_run_file": str(secret),
        "run_root": str(secret.parent.parent),
        "server": shared_server.process.pid,
    }
    try:
        trier = create_script(admin, tenant_a, TRIES)
        trace = run_and_wait(admin, tenant_a, trier, {"payload": arguments})
    finally:
        (secret.parent / "stop").touch()
    assert trace["status"] == "success", trace
    outcomes = json.loads(trace["result"]["stdout"])
    refused = {"PermissionError"}
    if database_file(shared_server.database_url) is None:  # PostgreSQL: no file to read
        refused.add("FileNotFoundError")
    assert set(outcomes.values()) <= refused, outcomes
    assert outcomes["database"] in refused and outcomes["other_run_file"] == "PermissionError"
    # The credentials' key, made at the server's start, is refused like the database.
    assert outcomes["secret_key"] == "PermissionError"
    assert wait_for_trace(admin, held["links"]["self"])["status"] == "success"
