"""Shared fixtures.

``db_url`` runs a test on SQLite and, when a PostgreSQL server is reachable, again on
PostgreSQL. ``runtime`` gives an initialised instance (in process, no HTTP server).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.databases import (
    create_pg_database,
    drop_pg_database,
    postgres_available,
    sqlite_url,
)

# Every Python process the tests start (`fediaid` commands and servers, sinks, helpers)
# shares a bytecode cache outside the source tree: where PYTHONDONTWRITEBYTECODE is set (this
# machine's environment sets it) each of them compiled every module it imports from source,
# ~0.3 s of CPU each, hundreds of times per run (tests/support/instances.py, PYCACHE).
os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(),
                                                f"fediaid-test-pycache-{os.getuid()}")
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    # A test with an in-process instance gets a copy of a migrated database (the migrations
    # run once per session: tests/support/databases.py); the others an empty one.
    migrated = "runtime" in request.fixturenames
    if request.param == "sqlite":
        yield sqlite_url(tmp_path, migrated=migrated)
        return
    if not postgres_available():
        pytest.skip("no PostgreSQL server reachable at 127.0.0.1:5432")
    url = create_pg_database(migrated=migrated)
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
async def runtime(db_url: str, tmp_path: Path) -> AsyncIterator[object]:
    from tests.support.instances import open_initialised_runtime

    rt = await open_initialised_runtime(tmp_path, db_url)
    try:
        yield rt
    finally:
        await rt.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.support.databases import drop_templates

    drop_templates()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The Mastodon API conformance report (tests/conformance/), when responses were checked."""
    from tests.conformance import mastodon as conformance

    lines = conformance.report()
    if lines:
        terminalreporter.section("Mastodon API conformance")
        for line in lines:
            terminalreporter.write_line(line)
