"""Test databases: a SQLite file always, and a fresh PostgreSQL database when a server
answers at 127.0.0.1:5432 (``FEDIAID_TEST_PG`` overrides the server URL; set it to ``off``
to skip PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

PG_SERVER = os.environ.get("FEDIAID_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_available: bool | None = None


async def _pg_connect():  # type: ignore[no-untyped-def]
    import asyncpg

    return await asyncpg.connect(PG_SERVER, timeout=2)


def postgres_available() -> bool:
    global _available
    if _available is None:
        if PG_SERVER == "off":
            _available = False
        else:
            async def probe() -> bool:
                try:
                    conn = await _pg_connect()
                except (TimeoutError, OSError, Exception):
                    return False
                await conn.close()
                return True

            _available = asyncio.run(probe())
    return _available


def create_pg_database(*, migrated: bool = False) -> str:
    """Create a database, empty or (``migrated``) a copy of a migrated one; return its
    SQLAlchemy URL."""
    name = f"fediaid_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        template = f' TEMPLATE "{await _pg_template()}"' if migrated else ""
        conn = await _pg_connect()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{template}')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{_pg_base()}/{name}"


def _pg_base() -> str:
    return PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await _pg_connect()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def sqlite_url(directory: Path, *, migrated: bool = False) -> str:
    """The URL of the SQLite database in ``directory``: a new file, or (``migrated``) a copy of
    a migrated one."""
    url = f"sqlite+aiosqlite:///{directory / 'fediaid.db'}"
    if migrated:
        asyncio.run(fill_migrated(url))
    return url


# -- migrated copies ---------------------------------------------------------------------
# Every in-process instance (the ``runtime`` fixture, about 1,100 tests) used to run all the
# migrations on its empty database: ~0.4 s on SQLite, ~0.5-0.7 s on PostgreSQL, a tenth of
# the suite. Now the migrations run once per test process into a template, and each test
# that uses a runtime gets a copy (``db_url`` sees that the test uses one): a file copy on
# SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. The migrations
# themselves are still tested from an empty database (tests/fediaid/test_migrations.py and
# every ``fediaid init`` of the multi-instance tests).
_templates: dict[str, str] = {}
# Several instances may be prepared at once (threads of their own, each with its event loop):
# the first one makes the template, the others wait for it and use it.
_template_lock = threading.Lock()


async def _template(kind: str, make: Callable[[], Awaitable[str]]) -> str:
    def once() -> str:
        with _template_lock:
            if kind not in _templates:
                _templates[kind] = asyncio.run(make())
            return _templates[kind]

    return _templates.get(kind) or await asyncio.to_thread(once)


async def _migrate(url: str) -> None:
    from fediaid.storage.engine import Database
    from fediaid.storage.migrate import upgrade

    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


async def _sqlite_template() -> str:
    import tempfile

    async def make() -> str:
        folder = Path(tempfile.mkdtemp(prefix="fediaid-template-"))
        await _migrate(sqlite_url(folder))
        return str(folder / "fediaid.db")

    return await _template("sqlite", make)


async def _pg_template() -> str:
    async def make() -> str:
        name = f"fediaid_template_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        conn = await _pg_connect()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await _migrate(f"{_pg_base()}/{name}")  # closes its connections: a template has none
        return name

    return await _template("postgres", make)


async def fill_migrated(url: str) -> None:
    """Make the (new, empty) database at ``url`` a copy of a migrated one: the same as
    running every migration on it."""
    import shutil

    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        if path.exists():
            raise RuntimeError(f"{path} exists: a migrated copy is made only for a new database")
        shutil.copyfile(await _sqlite_template(), path)
        return
    template = await _pg_template()
    name = url.rsplit("/", 1)[1]
    conn = await _pg_connect()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


def drop_templates() -> None:
    """At the end of the session: the PostgreSQL template (the SQLite one is a temporary
    file)."""
    import shutil

    sqlite = _templates.pop("sqlite", None)
    if sqlite:
        shutil.rmtree(Path(sqlite).parent, ignore_errors=True)
    name = _templates.pop("postgres", None)
    if name:
        drop_pg_database(f"{_pg_base()}/{name}")
