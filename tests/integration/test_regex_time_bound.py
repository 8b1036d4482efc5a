"""On PostgreSQL a user's regex runs in the database's own engine, so the statements that run
one (pool resolution and counts, searches, the save-time check) are bounded by
RUNPLANE_QUERY_TIMEOUT_MS: a statement past it is a clear Invalid (a 400 at the doors), and
the rest of the caller's transaction is neither cancelled nor bounded.

The slow patterns are ones RE2 accepts but PostgreSQL (15) takes long to *compile*:
`(.*){1,100}(.*){1,100}x` about 35 ms, `([^x]*[^y]*){1,254}z` about 13 s. On SQLite RE2 does
the matching, in linear time, and no bound applies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import text

from runplane.core import inventory, pools
from runplane.core.context import Core, open_core
from runplane.core.instances import create as create_instance
from runplane.core.search import parse_search
from runplane.core.targets import resolve_pool_names
from runplane.errors import Invalid
from runplane.model import Instance
from runplane.settings import Settings
from runplane.store import pools as pool_store
from runplane.store.unit import Tx

pytestmark = pytest.mark.anyio

SLOW_TO_COMPILE = r"(.*){1,100}(.*){1,100}x"  # tens of ms for PostgreSQL
VERY_SLOW_TO_COMPILE = r"([^x]*[^y]*){1,254}z"  # seconds for PostgreSQL
TOO_LONG = "The filter took too long"


@pytest.fixture
async def instance(core: Core) -> Instance:
    made = await create_instance(core, None, {"name": "bounded"})
    report = await inventory.save_devices(core, made, [
        {"name": f"dev-{n:04d}", "vendor": "ab" * 20} for n in range(2000)
    ])
    assert report.failure == []
    await pools.save_pools(core, made, [
        {"name": "slow", "device_vendor": SLOW_TO_COMPILE, "device_vendor_match": "regex"},
        {"name": "plain", "device_vendor": "ab", "device_vendor_match": "inclusion"},
    ])
    return made


@pytest.fixture
async def tight(core: Core, database_url: str) -> AsyncIterator[Core]:
    """A second core on the same database whose bound is 1 ms (its own connections, so
    PostgreSQL compiles the pattern afresh: tens of ms, far past 1 ms)."""
    opened = await open_core(Settings(database=database_url, workers=0, query_timeout_ms=1))
    yield opened
    await opened.database.close()


def statement_timeout(conn: Tx) -> str:
    return str(conn.execute(text("SHOW statement_timeout")).scalar_one())


async def test_pool_resolution_count_and_search_past_the_bound_are_invalid(
    core: Core, tight: Core, instance: Instance
) -> None:
    search = parse_search({"type": "device", "search_criteria": {
        "vendor": SLOW_TO_COMPILE, "vendor_filter": "regex"}})
    if not core.database.is_postgres:  # RE2 on SQLite: no bound, and none needed
        assert (await resolve_pool_names(tight, instance, ["slow"])).devices == []
        assert (await pools.get_pool(tight, instance, "slow")).device_count == 0
        assert await inventory.search_devices(tight, instance, search) == []
        return
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: resolve_pool_names(tight, instance, ["slow"]),
        lambda: pools.get_pool(tight, instance, "slow"),
        lambda: inventory.search_devices(tight, instance, search),
    ]
    for attempt in attempts:
        with pytest.raises(Invalid) as caught:
            await attempt()
        [message] = caught.value.fields["non_field_errors"]
        assert message.startswith(TOO_LONG) and "more than 1 ms" in message, message
    # A filter without a regex is not bounded; the default bound lets the slow one through.
    assert len((await resolve_pool_names(tight, instance, ["plain"])).devices) == 2000
    assert (await resolve_pool_names(core, instance, ["slow"])).devices == []


async def test_a_cancelled_statement_leaves_the_transaction_usable_and_unbounded(
    tight: Core, instance: Instance
) -> None:
    if not tight.database.is_postgres:
        pytest.skip("SQLite matches with RE2 in linear time: it sets no statement timeout")

    def resolve_then_go_on(conn: Tx) -> tuple[str, str, int]:
        before = statement_timeout(conn)
        [slow] = pool_store.pools_named(conn, instance.id, ["slow"])
        with pytest.raises(Invalid):
            pool_store.pool_targets(conn, instance.id, [slow])
        [plain] = pool_store.pools_named(conn, instance.id, ["plain"])
        return before, statement_timeout(conn), len(pool_store.pool_targets(
            conn, instance.id, [plain]))

    before, after, found = await tight.database.write(resolve_then_go_on)
    assert (after, found) == (before, 2000)


async def test_the_bound_is_lifted_after_a_bounded_statement(core: Core, instance: Instance
                                                              ) -> None:
    if not core.database.is_postgres:
        pytest.skip("SQLite matches with RE2 in linear time: it sets no statement timeout")

    def resolve(conn: Tx) -> tuple[str, str, int]:
        before = statement_timeout(conn)
        [slow] = pool_store.pools_named(conn, instance.id, ["slow"])
        count = pool_store.count_pool_devices(conn, instance.id, slow)
        return before, statement_timeout(conn), count

    before, after, count = await core.database.read(resolve)
    assert (after, count) == (before, 0)


async def test_a_pattern_postgresql_takes_too_long_to_compile_is_refused_when_saved(
    database_url: str, instance: Instance
) -> None:
    bounded = await open_core(Settings(database=database_url, workers=0,
                                       query_timeout_ms=200))
    try:
        pool = {"name": "compile", "device_vendor": VERY_SLOW_TO_COMPILE,
                "device_vendor_match": "regex"}
        if not bounded.database.is_postgres:
            await pools.save_pool(bounded, instance, pool)
            assert (await resolve_pool_names(bounded, instance, ["compile"])).devices == []
            return
        with pytest.raises(Invalid) as caught:
            await pools.save_pool(bounded, instance, pool)
        message = caught.value.fields["device_vendor"][0]
        assert "for this database: PostgreSQL took more than 200 ms to compile it" in message
    finally:
        await bounded.database.close()
