"""PostgreSQL LISTEN/NOTIFY between processes (storage/notify.py, migration 0024): a row
queued wakes listeners when its transaction commits (not before, and not at all when it
rolls back), with the table's name; a listener whose connection is cut connects again and
wakes everyone once (anything may have been missed). SQLite has no notifications."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sqlalchemy import text

from fediaid.services.runtime import Runtime
from fediaid.storage import inbox as inbox_repo
from fediaid.storage.engine import Database
from fediaid.storage.notify import JOBS, STREAM


def _row(n: int) -> dict[str, object]:
    return inbox_repo.new_row(activity_uri=f"https://remote.example/a/{n}", type_="Create",
                              actor_uri="https://remote.example/users/x",
                              signer_key_id="https://remote.example/users/x#main-key",
                              payload=orjson.dumps({"id": n}).decode())


async def _next(q: asyncio.Queue[str], timeout: float = 10.0) -> str:
    return await asyncio.wait_for(q.get(), timeout)


async def test_notifications_come_with_the_commit(runtime: Runtime) -> None:
    if runtime.db.is_sqlite:
        pytest.skip("SQLite has no LISTEN/NOTIFY: its processes poll")
    # Another process's view: its own Database and LISTEN connection.
    other = Database(runtime.db.url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = other.listener
    assert listener is not None
    try:
        listener.subscribe(JOBS, heard.put_nowait)
        assert await _next(heard) == ""  # connected: look at everything once
        async with runtime.db.write() as conn:
            await inbox_repo.insert_many(conn, [_row(1), _row(2)])
            await asyncio.sleep(0.3)
            assert heard.empty()  # nothing before the commit
        assert await _next(heard) == "inbox_items"  # one per transaction and table
        with pytest.raises(RuntimeError):
            async with runtime.db.write() as conn:
                await inbox_repo.insert_many(conn, [_row(3)])
                raise RuntimeError("rolled back")
        listener.subscribe(STREAM, heard.put_nowait)  # a channel added while connected
        await asyncio.sleep(0.3)
        async with runtime.db.write() as conn:
            from fediaid.storage import stream as stream_repo

            await stream_repo.record(conn, [("delete", 1)])
        assert await _next(heard) == "stream_events"
        assert heard.empty()

        # The LISTEN connection is cut: it connects again and wakes everyone.
        async with runtime.db.write() as conn:
            await conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"))
        assert {await _next(heard), await _next(heard)} == {""}
        async with runtime.db.write() as conn:
            await inbox_repo.insert_many(conn, [_row(4)])
        assert await _next(heard) == "inbox_items"
    finally:
        await other.dispose()
