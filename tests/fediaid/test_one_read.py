"""``Database.one_read``: the reads of one task share a connection and a transaction (a page
of a timeline reads in one); other tasks started inside, and the code after the block, open
their own."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.engine import Database


async def _id_of(db: Database, conn: AsyncConnection) -> object:
    if db.is_sqlite:
        return id((await conn.get_raw_connection()).driver_connection)
    return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _backend_id(db: Database) -> object:
    """Which connection ``read()`` hands out."""
    async with db.read() as conn:
        return await _id_of(db, conn)


async def _nested_same(db: Database) -> bool:
    """Whether a ``read()`` inside another gets the same connection."""
    async with db.read() as outer:
        return await _id_of(db, outer) == await _backend_id(db)


async def test_reads_in_the_block_share_one_connection_and_snapshot(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert not await _nested_same(db)
        async with db.one_read():
            assert await _nested_same(db)
            first = await _backend_id(db)
            async with db.one_read():  # nested: the same one
                assert await _backend_id(db) == first
            async with db.read() as conn:
                before = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
            # A task started inside (or gather's) opens a connection of its own.
            other = await asyncio.create_task(_backend_id(db))
            both = await asyncio.gather(_backend_id(db), _backend_id(db))
            assert other != first and first not in both
            # One snapshot: a write committed meanwhile is not seen until the block ends.
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))
            async with db.read() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM t"))
                        ).scalar_one() == before == 1
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2
            if not db.is_sqlite:  # the pool's connection is back at the default level
                assert (await conn.execute(text("SHOW transaction_isolation"))
                        ).scalar_one() == "read committed"
    finally:
        await db.dispose()


async def test_without_the_block_each_read_begins_anew(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
            assert conn.in_transaction()
        async with db.read() as conn:  # a fresh transaction: the last one ended
            assert not conn.in_transaction()
        assert not await _nested_same(db)
    finally:
        await db.dispose()
