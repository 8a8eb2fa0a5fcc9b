"""SQLite in a long-running process: the WAL is copied back into the database by a
checkpointer of its own (fediaid/storage/engine.Database.checkpoint_apart), not by the
writer's commits, and the WAL stays small however much is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from fediaid.storage import engine
from fediaid.storage.engine import Database


async def _autocheckpoint(db: Database) -> int:
    async with db.write() as conn:
        return int((await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


async def test_the_wal_is_checkpointed_apart_from_the_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    wal = tmp_path / "x.db-wal"
    try:
        assert await _autocheckpoint(db) == 1000  # SQLite's default: the writer does it
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
        await db.checkpoint_apart()
        assert await _autocheckpoint(db) == 0
        blob = "x" * 3000  # about a page a row
        for _ in range(20):  # ~12 MB in all: three times the writer's old threshold
            async with db.write() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:v)"),
                                   [{"v": blob}] * 150)
            await asyncio.sleep(engine.CHECKPOINT_SECONDS * 1.5)
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3000
        # Checkpointed and restarted from its start as it went: never the ~12 MB written.
        assert wal.stat().st_size < 4 * 1024 * 1024
    finally:
        await db.dispose()
    assert db._checkpointer is None
