"""Migrations apply to an empty database and roll back, on SQLite and PostgreSQL, and the
schema they build matches the table definitions."""

from __future__ import annotations

from sqlalchemy import inspect

from fediaid.storage.engine import Database
from fediaid.storage.migrate import current_revision, downgrade, head_revision, upgrade
from fediaid.storage.tables import SCHEMA_HEAD, metadata


def test_schema_head_constant_matches_newest_migration() -> None:
    assert head_revision() == SCHEMA_HEAD


async def test_upgrade_and_downgrade_empty_database(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert await current_revision(db) is None
        assert await upgrade(db) is True
        assert await current_revision(db) == SCHEMA_HEAD
        async with db.read() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert set(metadata.tables) <= tables
        # Already at head: nothing to do (and Alembic is not even imported for it).
        assert await upgrade(db) is False
        await downgrade(db, "base")
        async with db.read() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not (set(metadata.tables) & left)
        await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
    finally:
        await db.dispose()


async def test_migrated_schema_matches_tables(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(db_url)
    try:
        await upgrade(db)
        async with db.read() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        assert diff == []
    finally:
        await db.dispose()
