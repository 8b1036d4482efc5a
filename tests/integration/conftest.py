"""Integration fixtures: a Core over a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runplane.api.batch_door.actions import batch_actions
from runplane.core.context import Core, open_core
from runplane.core.keys import bootstrap
from runplane.model import ApiKey
from runplane.settings import Settings
from tests.support.scratch import scratch_settings


@pytest.fixture
async def core(database_url: str, tmp_path: Path) -> AsyncIterator[Core]:
    # PostgreSQL has no file to keep the credentials' key beside: a key file of the test's.
    key_file = str(tmp_path / "runplane.secret-key") if database_url.startswith("postgresql") \
        else None
    opened = await open_core(Settings(database=database_url, workers=2, lease_seconds=2,
                                      secret_key_file=key_file, **scratch_settings()))
    opened.batch_jobs = batch_actions()  # as the app wires it
    yield opened
    await opened.database.close()


@pytest.fixture
async def admin(core: Core) -> ApiKey:
    from runplane.core.keys import authenticate

    first = await bootstrap(core)
    assert first is not None
    return await authenticate(core, first.admin_key)
