"""A regex PostgreSQL takes too long over is the service door's 400 in its envelope, never a
500 or a stalled request (RUNPLANE_QUERY_TIMEOUT_MS); on SQLite RE2 answers it at once.

`([^x]*[^y]*){1,254}z` is accepted by RE2 but takes PostgreSQL 15 about 13 s to compile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

SLOW_IN_POSTGRESQL = r"([^x]*[^y]*){1,254}z"


@pytest.fixture
def bounded_server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url, tmp_path,
                            env={"RUNPLANE_QUERY_TIMEOUT_MS": "300"}).start()
    yield process
    process.stop()


def test_a_regex_too_slow_for_postgresql_is_a_400_alert(bounded_server: ServerProcess
                                                          ) -> None:
    postgres = bounded_server.database_url.startswith("postgresql")
    with httpx.Client(base_url=bounded_server.base_url,
                      auth=("admin", bounded_server.admin_key or ""), timeout=60) as http:
        saved = http.post("/rest/instance/device", json={"name": "d1", "vendor": "ab" * 10})
        assert saved.status_code == 200, saved.text
        search = http.post("/rest/search", json={
            "type": "device", "columns": ["name"],
            "search_criteria": {"vendor": SLOW_IN_POSTGRESQL, "vendor_filter": "regex"}})
        pool = http.post("/rest/instance/pool", json={
            "name": "slow", "device_vendor": SLOW_IN_POSTGRESQL,
            "device_vendor_match": "regex"})
        if not postgres:
            assert (search.status_code, search.json()) == (200, [])
            assert pool.status_code == 200, pool.text
            return
        assert search.status_code == 400, search.text
        assert search.json()["alert"].startswith(
            "Error 400 - The filter took too long: its regular expression ran for more than "
            "300 ms in the database.")
        assert pool.status_code == 400, pool.text
        assert pool.json()["alert"].startswith(
            f"Error 400 - device_vendor: Invalid regular expression {SLOW_IN_POSTGRESQL!r} "
            f"for this database: PostgreSQL took more than 300 ms to compile it")
        # The server goes on answering.
        assert http.get("/rest/query/device").status_code == 200
