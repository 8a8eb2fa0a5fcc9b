"""Test databases: a SQLite file always, and a fresh PostgreSQL database when a server
answers at 127.0.0.1:5432 (``FEDIAID_TEST_PG`` overrides the server URL; set it to ``off``
to skip PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import uuid
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


def create_pg_database() -> str:
    """Create an empty database; return its SQLAlchemy URL."""
    name = f"fediaid_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await _pg_connect()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await _pg_connect()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'fediaid.db'}"
