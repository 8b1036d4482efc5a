"""Fixtures shared by the whole suite: one database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support import fuzz_report
from tests.support.databases import PostgresTemplates, in_ci, sqlite_url

DIALECTS = ("sqlite", "postgresql")
_templates = PostgresTemplates()
_postgres_passed = 0


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@contextmanager
def provisioned(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated, empty database of `dialect`, dropped afterwards."""
    if dialect == "sqlite":
        yield sqlite_url(tmp_path_factory.mktemp("db"))
        return
    name, url = _templates.new_database()
    try:
        yield url
    finally:
        _templates.drop(name)


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A database for one test, once per dialect."""
    with provisioned(request.param, tmp_path_factory) as url:
        yield url


@pytest.fixture(params=DIALECTS, scope="module")
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database shared by the tests of one module, once per dialect."""
    with provisioned(request.param, tmp_path_factory) as url:
        yield url


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_passed
    fuzz_report.collect(report)
    if report.when == "call" and report.passed and "[postgresql" in report.nodeid:
        _postgres_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _templates.close()
    # In CI the PostgreSQL half must really have run: a silent skip would hide it.
    # (Under xdist the controller sees every worker's reports; the workers skip this check.)
    is_xdist_worker = hasattr(session.config, "workerinput")
    if in_ci() and not is_xdist_worker and session.testscollected and _postgres_passed == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nCI: no PostgreSQL test passed; the PostgreSQL half of the suite did not run.")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    fuzz_report.summarize(terminalreporter, config)
