"""A received edit of a remote note is a stream event for every process (written in the
inbox transaction; services/remote_statuses.py), and a redelivery that changes nothing is
not. In process, SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from fediaid.services.runtime import Runtime
from fediaid.storage.tables import statuses, stream_events
from tests.fediaid.test_inbox_batches import create, enqueue, note, run_all
from tests.support.remote import remote_actor, store


async def test_a_remote_edit_is_a_stream_event(runtime: Runtime) -> None:
    rt = runtime
    actor = remote_actor("cleo")
    await store(rt, actor)
    first = note(actor, 1)
    await enqueue(rt, [(actor, create(actor, first))])
    await run_all(rt)
    edited = {**first, "content": "<p>Note 1, edited</p>", "updated": "2026-01-02T04:00:00Z"}
    update = {"id": f"{actor.uri}/activities/update-1", "type": "Update", "actor": actor.uri,
              "to": first["to"], "object": edited}
    again = create(actor, edited, "again")  # the edited note once more: not an edit
    await enqueue(rt, [(actor, update), (actor, again)])
    await run_all(rt)
    async with rt.db.read() as conn:
        sid = (await conn.execute(select(statuses.c.id)
                                  .where(statuses.c.uri == first["id"]))).scalar_one()
        events = (await conn.execute(select(stream_events.c.kind, stream_events.c.status_id)
                                     )).all()
    assert [tuple(e) for e in events] == [("update", sid)]
