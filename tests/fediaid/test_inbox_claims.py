"""Claiming received activities (storage/inbox.claim_due): due items first, then in the order
received; a claim reads only the index entries it takes, however many items wait (SQLite's
query plan: no sort of every pending row). In process, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import text, update

from fediaid.services.runtime import Runtime
from fediaid.storage import inbox as inbox_repo
from fediaid.storage.tables import inbox_items
from fediaid.storage.types import utcnow


async def _store(rt: Runtime, n: int) -> list[int]:
    async with rt.db.write() as conn:
        await inbox_repo.insert_many(conn, [inbox_repo.new_row(
            activity_uri=f"https://remote.example/activities/{i}", type_="Create",
            actor_uri="https://remote.example/users/a",
            signer_key_id="https://remote.example/users/a#main-key",
            payload=orjson.dumps({"id": i}).decode()) for i in range(n)])
        rows = await conn.execute(text("SELECT id FROM inbox_items ORDER BY id"))
        return [r[0] for r in rows]


async def test_due_items_are_claimed_in_the_order_received_after_earlier_due_ones(
        runtime: Runtime) -> None:
    rt = runtime
    ids = await _store(rt, 5)
    now = utcnow()
    async with rt.db.write() as conn:
        # The last one was received first but failed once: due again before the others.
        await conn.execute(update(inbox_items).where(inbox_items.c.id == ids[4])
                           .values(next_attempt_at=now - timedelta(hours=1)))
        # The second waits for a retry later: not due.
        await conn.execute(update(inbox_items).where(inbox_items.c.id == ids[1])
                           .values(next_attempt_at=now + timedelta(hours=1)))
    async with rt.db.write() as conn:
        first = await inbox_repo.claim_due(conn, worker="w", limit=2, lease_seconds=60)
    async with rt.db.write() as conn:
        rest = await inbox_repo.claim_due(conn, worker="w", limit=10, lease_seconds=60)
    # Claimed sets (each returned in id order): the earliest due first.
    assert [j.id for j in first] == sorted([ids[4], ids[0]])
    assert [j.id for j in rest] == [ids[2], ids[3]]


async def test_a_claim_on_sqlite_walks_the_due_index_without_sorting_the_backlog(
        runtime: Runtime) -> None:
    rt = runtime
    if not rt.db.is_sqlite:
        return  # the plan below is SQLite's; PostgreSQL has its own planner
    await _store(rt, 3)
    stmt = inbox_repo.due_ids(utcnow(), 200)
    async with rt.db.read() as conn:
        compiled = stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
        plan = [r[-1] for r in await conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert any("ix_inbox_items_due" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan



async def test_stored_activities_keep_their_order_and_duplicates_are_skipped(
        runtime: Runtime) -> None:
    """``insert_many`` (the inbox's group commit): every row stored once, in the order
    given (ids follow it); an activity id already stored, or given twice, skipped."""
    rt = runtime
    await _store(rt, 3)  # activities 0, 1, 2
    uris = [f"https://remote.example/activities/{i}" for i in [*range(200), 7]]
    async with rt.db.write() as conn:
        await inbox_repo.insert_many(conn, [inbox_repo.new_row(
            activity_uri=u, type_="Create", actor_uri="https://remote.example/users/a",
            signer_key_id="https://remote.example/users/a#main-key",
            payload=orjson.dumps({"id": u}).decode()) for u in uris])
    async with rt.db.read() as conn:
        rows = (await conn.execute(text(
            "SELECT activity_uri FROM inbox_items ORDER BY id"))).all()
    assert [r[0] for r in rows] == [f"https://remote.example/activities/{i}"
                                    for i in range(200)]
