"""Fixtures for multi-process tests: real `fediaid serve` processes on loopback ports.

``cluster`` builds instances on the backend chosen by ``db_url`` (tests/conftest.py): on
SQLite each instance gets a file in its own directory; on PostgreSQL the first instance uses
``db_url``'s database and every further one a fresh database, dropped afterwards. Processes
are killed at teardown; when the test failed, their logs are printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import Cluster


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


@pytest.fixture
def cluster(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(db_url, tmp_path)
    try:
        yield c
    finally:
        rep = getattr(request.node, "rep_call", None)
        c.close(failed=rep is None or rep.failed)
