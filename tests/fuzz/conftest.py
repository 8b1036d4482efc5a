"""The fuzzed server: a real `runplane serve` process per module and database, an instance
seeded with something of each kind (so generated names sometimes hit), and two callers: the
account's admin key and an instance key with the low `run` role."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fuzz import seeds
from tests.fuzz.target import FuzzTarget
from tests.support.script_door import unique_name
from tests.support.server import ServerProcess, runplane_cli

# Runs the fuzzer starts must not hold it up: synchronous waits and timeouts are short.
SERVER_ENV = {
    "RUNPLANE_ENDPOINT_WAIT_SECONDS": "2",
    "RUNPLANE_SERVICE_SYNC_WAIT_SECONDS": "2",
    "RUNPLANE_BATCH_JOB_WAIT_SECONDS": "5",
    "RUNPLANE_SCRIPT_TIMEOUT": "5",
}


@pytest.fixture(scope="module")
def fuzz_target(module_database_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[FuzzTarget]:
    server = ServerProcess(module_database_url, tmp_path_factory.mktemp("fuzz"),
                           env=SERVER_ENV).start()
    try:
        instance = unique_name("fuzz")
        with httpx.Client(base_url=server.base_url, timeout=60,
                          headers={"X-API-KEY": server.admin_key or "",
                                   "X-RUNPLANE-INSTANCE": instance}) as admin:
            seeds.seed_instance(admin, instance)
        made = runplane_cli("key", "create", "--instance", instance, "--role", "run",
                            "--database", module_database_url)
        assert made.returncode == 0, made.stderr
        yield FuzzTarget(server=server, database=module_database_url.split(":")[0],
                         instance=instance, admin_key=server.admin_key or "",
                         low_key=made.stdout.strip())
    finally:
        server.stop()

