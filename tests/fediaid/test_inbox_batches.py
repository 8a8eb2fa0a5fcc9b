"""Applying received activities in batches and slices (services/inbox_processing.py): one bad
item fails alone, a crash in the middle of a batch applies nothing twice and loses nothing,
plain notes written together keep the order and the checks of the one-by-one road. In
process, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from fediaid.jobs.inbox import InboxWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import domains as domains_repo
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import reports as reports_repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.tables import (
    activities,
    deliveries,
    inbox_items,
    objects,
    status_edits,
    status_tags,
    statuses,
)
from fediaid.storage.types import utcnow
from tests.support.remote import RemoteActor, remote_actor, store

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def note(actor: RemoteActor, n: int | str, **extra: Any) -> dict[str, Any]:
    return {"id": f"{actor.uri}/notes/{n}", "type": "Note", "attributedTo": actor.uri,
            "content": f"<p>Note {n} #garden</p>", "published": "2026-01-02T03:04:05Z",
            "to": [PUBLIC], "cc": [f"{actor.uri}/followers"], **extra}


def create(actor: RemoteActor, obj: dict[str, Any], n: int | str | None = None
           ) -> dict[str, Any]:
    n = n if n is not None else obj["id"].rsplit("/", 1)[1]
    return {"id": f"{actor.uri}/activities/{n}", "type": "Create", "actor": actor.uri,
            "to": [PUBLIC], "object": obj}


async def enqueue(rt: Runtime, items: list[tuple[RemoteActor, dict[str, Any]]]) -> None:
    """Store activities as the inbox would after verifying them (in this order)."""
    async with rt.db.write() as conn:
        await inbox_repo.insert_many(conn, [inbox_repo.new_row(
            activity_uri=a["id"], type_=a["type"], actor_uri=actor.uri,
            signer_key_id=actor.key_id, payload=orjson.dumps(a).decode())
            for actor, a in items])


async def run_all(rt: Runtime, *, slice_seconds: float | None = None) -> None:
    worker = InboxWorker(rt, name="test-inbox")
    if slice_seconds is not None:
        async def budget() -> float:
            return slice_seconds

        worker.rt.inbox.slice_budget = budget  # type: ignore[method-assign]
        worker.rt.inbox.slice_seconds = lambda: slice_seconds  # type: ignore[method-assign]
    while await worker.run_once():
        pass


async def states(rt: Runtime) -> dict[str, tuple[str, int, str | None]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(select(inbox_items.c.activity_uri, inbox_items.c.state,
                                         inbox_items.c.attempts, inbox_items.c.last_error))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def count(rt: Runtime, table: Any, *where: Any) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(
            select(func.count()).select_from(table).where(*where))).scalar_one())


async def status_uris(rt: Runtime) -> list[str]:
    async with rt.db.read() as conn:
        return [r[0] for r in await conn.execute(
            select(statuses.c.uri).where(statuses.c.local.is_(False)).order_by(statuses.c.id))]


async def test_plain_notes_are_applied_together_with_the_same_result(runtime: Runtime) -> None:
    rt = runtime
    ann, bob = remote_actor("ann"), remote_actor("bob", host="other.example")
    await store(rt, ann)
    await store(rt, bob)
    items = [(ann if n % 2 else bob, create(ann if n % 2 else bob, note(ann if n % 2 else bob,
                                                                       n))) for n in range(30)]
    await enqueue(rt, items)
    await run_all(rt)
    assert {s for s, _, _ in (await states(rt)).values()} == {"done"}
    uris = await status_uris(rt)
    assert uris == [a["object"]["id"] for _, a in items]  # in the order received
    async with rt.db.read() as conn:
        one = await statuses_repo.find_by_uri(conn, items[1][1]["object"]["id"])
        tags = (await conn.execute(select(status_tags.c.tag).where(
            status_tags.c.status_id == one.id))).scalars().all() if one else []
    assert one is not None and one.content == "<p>Note 1 #garden</p>"
    assert one.level.value == "public" and one.listed and one.account_uri == ann.uri
    assert one.conversation == items[1][1]["object"]["id"] and tags == ["garden"]
    assert await count(rt, objects, objects.c.local.is_(False)) == 30


async def test_a_bad_item_fails_alone_and_the_batch_goes_on(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """One note the database refuses (injected: a constraint fails for its URI, in the write
    of many and on its own) and one the handler refuses (attributed to someone else): both
    recorded failed with their reason, everything around them applied."""
    rt = runtime
    ann, bob = remote_actor("ann"), remote_actor("bob")
    await store(rt, ann)
    await store(rt, bob)
    poisoned = note(ann, "poisoned")["id"]
    many, one = statuses_repo.insert_many, statuses_repo.insert

    async def insert_many(conn: Any, rows: Any, tags: Any) -> dict[str, int]:
        if any(r["uri"] == poisoned for r in rows):
            raise IntegrityError("INSERT", {}, Exception("refused"))
        return await many(conn, rows, tags)

    async def insert(conn: Any, **values: Any) -> int | None:
        if values["uri"] == poisoned:
            raise IntegrityError("INSERT", {}, Exception("refused"))
        return await one(conn, **values)

    monkeypatch.setattr(statuses_repo, "insert_many", insert_many)
    monkeypatch.setattr(statuses_repo, "insert", insert)
    not_hers = create(ann, {**note(ann, "theirs"), "attributedTo": bob.uri}, "theirs")
    items = ([(ann, create(ann, note(ann, n))) for n in range(5)]
             + [(ann, create(ann, note(ann, "poisoned"), "poisoned")), (ann, not_hers)]
             + [(ann, create(ann, note(ann, n))) for n in range(5, 10)])
    await enqueue(rt, items)
    await run_all(rt)
    got = await states(rt)
    state, _, error = got.pop(f"{ann.uri}/activities/poisoned")
    assert state == "failed" and error is not None and "refused" in error
    state, _, error = got.pop(not_hers["id"])
    assert state == "failed" and error == "object is not by the activity's actor"
    assert {s for s, _, _ in got.values()} == {"done"}
    assert await status_uris(rt) == [note(ann, n)["id"] for n in range(10)]
    # The refused note left nothing behind (its savepoint was rolled back): no object row.
    assert await count(rt, objects, objects.c.uri == poisoned) == 0


async def test_a_value_the_database_refuses_fails_one_note_not_its_batch(
        runtime: Runtime) -> None:
    """A hostile note with a 3,000-character ``inReplyTo`` (not a reply we can follow, so it
    is stored as a plain note): PostgreSQL refuses the value (the column holds 2,048), SQLite
    keeps it. Either way the notes around it are applied."""
    rt = runtime
    ann = remote_actor("ann")
    await store(rt, ann)
    long_reply = create(ann, note(ann, "long", inReplyTo="https://x.example/" + "a" * 3000),
                        "long")
    items = ([(ann, create(ann, note(ann, n))) for n in range(4)] + [(ann, long_reply)]
             + [(ann, create(ann, note(ann, n))) for n in range(4, 8)])
    await enqueue(rt, items)
    await run_all(rt)
    got = await states(rt)
    long_state = got.pop(long_reply["id"])[0]
    assert {s for s, _, _ in got.values()} == {"done"}
    expected = [note(ann, n)["id"] for n in range(8)]
    if rt.db.is_sqlite:
        assert long_state == "done"
        expected.insert(4, long_reply["object"]["id"])
    else:
        assert long_state == "failed"
    assert await status_uris(rt) == expected


async def test_a_crash_in_the_middle_of_a_batch_applies_nothing_twice(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies while applying its third slice (after the activities of the slice
    were applied, before its commit). What the first two slices applied is done and is not
    applied again; the rest is applied once when the lease has run out."""
    rt = runtime
    ann, bob = remote_actor("ann"), remote_actor("bob", host="b.example")
    await store(rt, ann)
    await store(rt, bob)
    items: list[tuple[RemoteActor, dict[str, Any]]] = []
    for n in range(12):
        items.append((ann, create(ann, note(ann, n))))
        if n % 3 == 0:  # a Follow (answered with an Accept) now and then: not idempotent
            # by nature, so any second application would show as a second Accept.
            items.append((bob, {"id": f"{bob.uri}/follows/{n}", "type": "Follow",
                                "actor": bob.uri, "object": rt.identity.group.uri}))
    await enqueue(rt, items)
    finish = inbox_repo.finish
    calls = 0

    async def dying_finish(conn: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        await finish(conn, **kwargs)
        if calls == 3:
            raise RuntimeError("killed")

    monkeypatch.setattr(inbox_repo, "finish", dying_finish)
    with pytest.raises(RuntimeError, match="killed"):
        await run_all(rt, slice_seconds=0.0)  # one activity per slice
    first = await states(rt)
    assert [s for s, _, _ in first.values()].count("done") == 2
    assert [s for s, _, _ in first.values()].count("pending") == len(items) - 2
    monkeypatch.setattr(inbox_repo, "finish", finish)
    # Its lease has not run out: another worker does not take the rest yet.
    await run_all(rt)
    assert await states(rt) == first
    async with rt.db.write() as conn:
        await conn.execute(update(inbox_items).values(lease_until=utcnow() - timedelta(
            seconds=1)).where(inbox_items.c.state == "pending"))
    await run_all(rt, slice_seconds=0.0)
    final = await states(rt)
    assert {s for s, _, _ in final.values()} == {"done"}
    assert sorted(a for _, a, _ in final.values()) == [1, 1] + [2] * (len(items) - 2)
    assert await status_uris(rt) == [note(ann, n)["id"] for n in range(12)]
    async with rt.db.read() as conn:
        accepts = (await conn.execute(
            select(func.count()).select_from(deliveries).join(
                activities, activities.c.id == deliveries.c.activity_id)
            .where(activities.c.type == "Accept"))).scalar_one()
    assert accepts == 4  # one per Follow


async def test_order_is_kept_around_plain_notes(runtime: Runtime) -> None:
    """Creates written together and the activities between them (an edit, a delete, the
    same note twice, a note stored already) act in the order they came."""
    rt = runtime
    ann = remote_actor("ann")
    await store(rt, ann)
    await enqueue(rt, [(ann, create(ann, note(ann, "known")))])
    await run_all(rt)
    x, y = note(ann, "x"), note(ann, "y")
    edited = {**x, "content": "<p>edited</p>"}
    known_again = {**note(ann, "known"), "content": "<p>known, edited</p>"}
    await enqueue(rt, [
        (ann, create(ann, x)),
        (ann, {"id": f"{ann.uri}/updates/x", "type": "Update", "actor": ann.uri,
               "object": edited}),
        (ann, create(ann, y)),
        (ann, create(ann, note(ann, "z"))),
        (ann, {"id": f"{ann.uri}/deletes/y", "type": "Delete", "actor": ann.uri,
               "object": y["id"]}),
        (ann, create(ann, y, "y-again")),  # after its Delete: stored again
        (ann, create(ann, note(ann, "z"), "z-twice")),
        (ann, create(ann, known_again, "known-again")),
    ])
    await run_all(rt)
    assert {s for s, _, _ in (await states(rt)).values()} == {"done"}
    assert await status_uris(rt) == [note(ann, "known")["id"], x["id"], note(ann, "z")["id"],
                                     y["id"]]
    async with rt.db.read() as conn:
        found_x = await statuses_repo.find_by_uri(conn, x["id"])
        found_known = await statuses_repo.find_by_uri(conn, note(ann, "known")["id"])
    assert found_x is not None and found_x.content == "<p>edited</p>"
    assert found_known is not None and found_known.content == "<p>known, edited</p>"
    assert await count(rt, status_edits) == 2


async def test_plain_notes_keep_the_checks(runtime: Runtime) -> None:
    """Suspended accounts, blocked servers (blocked after the note was stored) and the
    release of an unavailable server apply to notes written together too."""
    rt = runtime
    ann = remote_actor("ann")
    sus = remote_actor("sus", host="sus.example")
    spam = remote_actor("s", host="spam.example")
    back = remote_actor("back", host="back.example")
    for a in (ann, sus, spam, back):
        await store(rt, a)
    async with rt.db.write() as conn:
        await reports_repo.suspend_actor(conn, sus.uri, "spam")
        await domains_repo.record_failure(conn, "back.example", day="2026-01-01",
                                          unavailable_after_days=1)
    await enqueue(rt, [(a, create(a, note(a, n))) for n, a in
                       enumerate([ann, sus, spam, back, ann])])
    await rt.moderation.block_domain("spam.example")
    await run_all(rt)
    assert {s for s, _, _ in (await states(rt)).values()} == {"done"}
    assert await status_uris(rt) == [note(ann, 0)["id"], note(back, 3)["id"],
                                     note(ann, 4)["id"]]
    async with rt.db.read() as conn:
        assert await domains_repo.unavailable_domains(conn) == frozenset()


async def test_a_busy_inbox_gets_short_slices(runtime: Runtime,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """While requests are being accepted, the worker waits for a lull (bounded) and then
    claims a few activities and holds the writer only briefly; otherwise it claims a batch
    and takes longer slices."""
    from fediaid.services import inbox as inbox_service

    rt = runtime
    assert await rt.inbox.slice_budget() == inbox_service.QUIET_SLICE_SECONDS
    assert await rt.inbox.claim_limit(200) == 200
    monkeypatch.setattr(inbox_service, "MAX_DEFER_SECONDS", 0.1)
    rt.inbox._accepting = inbox_service.BUSY_REQUESTS
    assert await rt.inbox.slice_budget() == inbox_service.BUSY_SLICE_SECONDS
    assert await rt.inbox.claim_limit(200) == inbox_service.BUSY_BATCH
    rt.inbox._accepting = 0


async def test_a_slice_makes_way_for_a_waiting_writer(runtime: Runtime,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite has one writer: when an inbox request's commit (here: any write transaction)
    waits for it, the worker's slice ends after the notes in hand and the other transaction
    goes first; the rest of the batch follows in the next slices."""
    rt = runtime
    if not rt.db.is_sqlite:
        pytest.skip("PostgreSQL has no single writer to wait for")
    from fediaid.services import inbox_processing

    ann = remote_actor("ann")
    await store(rt, ann)
    await enqueue(rt, [(ann, create(ann, note(ann, n))) for n in range(120)])
    seen: list[int] = []
    write_plain = inbox_processing.InboxProcessor._write_plain
    other: list[asyncio.Task[None]] = []

    async def competitor() -> None:
        async with rt.db.write() as conn:
            seen.append(int((await conn.execute(select(func.count()).select_from(
                inbox_items).where(inbox_items.c.state == "done"))).scalar_one()))

    async def watched(self: Any, conn: Any, state: Any) -> Any:
        if not other and state.plain:
            other.append(asyncio.create_task(competitor()))
            await asyncio.sleep(0)  # it is now waiting for the writer
            assert rt.db.writers_waiting == 1
        return await write_plain(self, conn, state)

    monkeypatch.setattr(inbox_processing.InboxProcessor, "_write_plain", watched)
    await run_all(rt)
    await other[0]
    # It went in after the first notes written together, not after the whole slice.
    assert seen == [inbox_processing.PLAIN_CHUNK]
    assert {s for s, _, _ in (await states(rt)).values()} == {"done"}
    assert len(await status_uris(rt)) == 120
