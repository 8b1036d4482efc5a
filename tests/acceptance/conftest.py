"""Acceptance fixtures: real server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.script_door import create_instance
from tests.support.server import ServerProcess


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own for one test (on each database)."""
    process = ServerProcess(database_url, tmp_path).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shared_server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ServerProcess]:
    """One server for all the tests of a module that do not disturb each other."""
    process = ServerProcess(
        module_database_url, tmp_path_factory.mktemp("server"),
        env={"RUNPLANE_ENDPOINT_WAIT_SECONDS": "3"},
    ).start()
    yield process
    process.stop()


@pytest.fixture
def instance(shared_server: ServerProcess) -> str:
    """A fresh instance on the module's shared server, for a test that works in it alone."""
    with shared_server.client() as admin:
        return create_instance(admin)
