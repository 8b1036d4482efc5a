"""Migrating makes the instance `default` once, however many processes migrate at once."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, func, select

from runplane.store.database import sync_url
from runplane.store.migrate import DEFAULT_INSTANCE, ensure_default_instance, migrate
from runplane.store.tables import instances


def default_rows(database_url: str) -> int:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(instances.c.name == DEFAULT_INSTANCE)
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_migrate_makes_default_once(database_url: str) -> None:
    assert default_rows(database_url) == 0  # the schema alone (what tests start from)
    migrate(database_url)
    assert default_rows(database_url) == 1
    migrate(database_url)
    assert ensure_default_instance(database_url) is False
    assert default_rows(database_url) == 1


def test_processes_making_default_at_once_make_one(database_url: str) -> None:
    racers = 4
    start = threading.Barrier(racers)
    made: list[bool] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            start.wait()
            made.append(ensure_default_instance(database_url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(made) == [False] * (racers - 1) + [True]
    assert default_rows(database_url) == 1
