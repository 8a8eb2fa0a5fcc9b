"""Queue ids are never reused. On SQLite a deleted newest row's id used to go to the next
row: a retention Delete queued right after its post's deliveries were removed took their
ids, the delivery worker (which holds claimed rows by id) skipped it as already in hand and
recorded the old attempt's result on it, and the Delete was never sent (found by
tests/integration/test_offers_needs.py; migration 0014)."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from fediaid.services.runtime import Runtime
from fediaid.storage import inbox as inbox_repo
from fediaid.storage.tables import deliveries, inbox_items


async def _max(rt: Runtime, table) -> int:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.max(table.c.id)))).scalar_one() or 0)


async def test_a_deleted_newest_delivery_id_is_not_given_again(runtime: Runtime) -> None:
    rt = runtime
    group = rt.identity.group

    async def enqueue() -> None:
        async with rt.db.write() as conn:
            await rt.outbox.enqueue(
                conn, actor=group, inboxes=["https://remote.example/inbox"],
                activity={"id": rt.urls.new_activity(), "type": "Create", "object": {}})

    await enqueue()
    first = await _max(rt, deliveries)
    async with rt.db.write() as conn:
        await conn.execute(delete(deliveries))
    await enqueue()
    assert await _max(rt, deliveries) > first


async def test_a_deleted_newest_inbox_item_id_is_not_given_again(runtime: Runtime) -> None:
    rt = runtime

    async def receive(n: int) -> None:
        async with rt.db.write() as conn:
            await inbox_repo.insert_many(conn, [inbox_repo.new_row(
                activity_uri=f"https://remote.example/a/{n}", type_="Like",
                actor_uri="https://remote.example/u", signer_key_id="https://remote.example/u#k",
                payload="{}")])

    await receive(1)
    first = await _max(rt, inbox_items)
    async with rt.db.write() as conn:
        await conn.execute(delete(inbox_items))
    await receive(2)
    assert await _max(rt, inbox_items) > first
