"""The multi-process fixtures of tests/integration (``cluster``: real `fediaid serve`
processes on SQLite and PostgreSQL, their logs printed when a test fails)."""

from tests.integration.conftest import cluster, pytest_runtest_makereport

__all__ = ["cluster", "pytest_runtest_makereport"]
