"""Applying received activities: each handler, idempotency, and the delivery rows it
creates. In process, against SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from fediaid.domain.follows import FollowState
from fediaid.jobs.inbox import InboxWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import inbox as inbox_repo
from fediaid.storage import objects as objects_repo
from fediaid.storage.tables import activities, deliveries, inbox_items, shares
from tests.support.remote import RemoteActor, remote_actor, store

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


async def receive(rt: Runtime, actor: RemoteActor, activity: dict) -> None:
    """Store an activity as the inbox would after verifying it, then process the queue."""
    async with rt.db.write() as conn:
        await inbox_repo.insert_many(conn, [inbox_repo.new_row(
            activity_uri=activity.get("id") or "urn:x", type_=activity["type"],
            actor_uri=actor.uri, signer_key_id=actor.key_id,
            payload=orjson.dumps(activity).decode())])
    worker = InboxWorker(rt, name="test-inbox")
    while await worker.run_once():
        pass


async def count(rt: Runtime, table, *where) -> int:  # type: ignore[no-untyped-def]
    async with rt.db.read() as conn:
        return int((await conn.execute(
            select(func.count()).select_from(table).where(*where))).scalar_one())


async def outgoing(rt: Runtime) -> list[tuple[str, str, str]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(
            select(activities.c.type, deliveries.c.inbox_url, activities.c.payload)
            .join(deliveries, deliveries.c.activity_id == activities.c.id)
            .order_by(deliveries.c.id))
        return [(r[0], r[1], r[2]) for r in rows]


def follow_of(actor: RemoteActor, rt: Runtime, n: int = 1) -> dict:
    return {"id": f"{actor.uri}/follows/{n}", "type": "Follow", "actor": actor.uri,
            "object": rt.identity.group.uri}


async def test_follow_is_accepted_and_answered_once(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, follow_of(bob, rt))
    async with rt.db.read() as conn:
        actor = await actors_repo.get_by_uri(conn, bob.uri)
        follow = await follows_repo.find(conn, actor.id, rt.identity.group.id)
    assert follow is not None and follow.state is FollowState.ACCEPTED
    sent = await outgoing(rt)
    assert [(t, inbox) for t, inbox, _ in sent] == [("Accept", bob.shared_inbox)]
    accept = orjson.loads(sent[0][2])
    assert accept["object"]["id"] == f"{bob.uri}/follows/1"
    assert accept["actor"] == rt.identity.group.uri
    # The same activity again changes nothing: no second row, no second Accept.
    await receive(rt, bob, follow_of(bob, rt))
    assert await count(rt, inbox_items) == 1
    assert len(await outgoing(rt)) == 1


async def test_follow_waits_for_a_coordinator_when_the_group_asks(runtime: Runtime) -> None:
    rt = runtime
    await rt.moderation.set_follow_approval(True)
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, follow_of(bob, rt))
    assert await rt.follows.list(rt.identity.group, "followers",
                                 state=FollowState.PENDING) == [bob.uri]
    assert [t for t, _, _ in await outgoing(rt)] == ["Update"] or not await outgoing(rt)
    await rt.follows.decide_follower(rt.identity.group, bob.uri, accept=True)
    assert await rt.follows.list(rt.identity.group, "followers") == [bob.uri]
    assert [t for t, _, _ in await outgoing(rt)][-1] == "Accept"


async def test_held_follows_do_not_make_the_group_look_private(runtime: Runtime) -> None:
    """Lemmy reads ``manuallyApprovesFollowers: true`` on a Group as a private community and
    hides its posts from everyone not yet accepted, so the group keeps saying ``false`` while
    follows wait for a coordinator; the Accept (or Reject) is sent when they decide, and
    Lemmy and Mastodon both keep a follow pending until then."""
    rt = runtime
    await rt.moderation.set_follow_approval(True)
    group = rt.identity.group
    doc = await rt.discovery.actor_document(group.username or "", group.type)
    assert doc["manuallyApprovesFollowers"] is False
    assert not await outgoing(rt)  # nothing that others see has changed: no Update sent
    bob, ann = remote_actor("bob"), remote_actor("ann", "lemmy.example", key=1)
    for who in (bob, ann):
        await store(rt, who)
        await receive(rt, who, follow_of(who, rt))
    assert sorted(await rt.follows.list(group, "followers", state=FollowState.PENDING)) == \
        sorted([bob.uri, ann.uri])
    assert not await outgoing(rt)  # held: no Accept yet
    await rt.follows.decide_follower(group, bob.uri, accept=True)
    await rt.follows.decide_follower(group, ann.uri, accept=False)
    sent = [(t, inbox, orjson.loads(body)) for t, inbox, body in await outgoing(rt)]
    assert [(t, inbox) for t, inbox, _ in sent] == [("Accept", bob.shared_inbox),
                                                     ("Reject", ann.shared_inbox)]
    assert sent[0][2]["object"]["id"] == f"{bob.uri}/follows/1"
    assert await rt.follows.list(group, "followers") == [bob.uri]
    # Turning approval off again changes nothing others see either.
    await rt.moderation.set_follow_approval(False)
    assert len(await outgoing(rt)) == 2
    assert (await rt.discovery.actor_document(group.username or "", group.type))[
        "manuallyApprovesFollowers"] is False


async def test_undo_follow_removes_the_follower(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, follow_of(bob, rt))
    undo = {"id": f"{bob.uri}/undo/1", "type": "Undo", "actor": bob.uri,
            "object": follow_of(bob, rt)}
    await receive(rt, bob, undo)
    assert await rt.follows.list(rt.identity.group, "followers") == []


async def test_someone_else_cannot_undo_a_follow(runtime: Runtime) -> None:
    rt = runtime
    bob, eve = remote_actor("bob"), remote_actor("eve", "evil.example", key=1)
    await store(rt, bob)
    await store(rt, eve)
    await receive(rt, bob, follow_of(bob, rt))
    await receive(rt, eve, {"id": f"{eve.uri}/undo", "type": "Undo", "actor": eve.uri,
                            "object": f"{bob.uri}/follows/1"})
    assert await rt.follows.list(rt.identity.group, "followers") == [bob.uri]


async def test_accept_and_reject_of_our_follow(runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", type_="Group")
    await store(rt, oak)
    await rt.follows.follow(rt.identity.group, oak.uri)
    sent = await outgoing(rt)
    follow = orjson.loads(sent[0][2])
    assert follow["type"] == "Follow" and sent[0][1] == oak.shared_inbox
    # An Accept from someone else does nothing.
    eve = remote_actor("eve", "evil.example", key=1)
    await store(rt, eve)
    await receive(rt, eve, {"id": f"{eve.uri}/a", "type": "Accept", "actor": eve.uri,
                            "object": follow["id"]})
    assert await rt.follows.list(rt.identity.group, "following") == []
    await receive(rt, oak, {"id": f"{oak.uri}/a", "type": "Accept", "actor": oak.uri,
                            "object": follow})
    assert await rt.follows.list(rt.identity.group, "following") == [oak.uri]
    await receive(rt, oak, {"id": f"{oak.uri}/r", "type": "Reject", "actor": oak.uri,
                            "object": follow["id"]})
    assert await rt.follows.list(rt.identity.group, "following") == []


async def test_update_of_an_actor_refreshes_profile_and_key(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    rotated = RemoteActor(bob.uri, remote_actor("x", key=2).keys)
    doc = rotated.document() | {"name": "Bob B."}
    await receive(rt, bob, {"id": f"{bob.uri}#update-1", "type": "Update", "actor": bob.uri,
                            "object": doc})
    async with rt.db.read() as conn:
        actor = await actors_repo.get_by_uri(conn, bob.uri)
    assert actor.name == "Bob B."
    assert actor.public_key_pem == rotated.keys.public_pem


async def test_an_actor_cannot_update_another(runtime: Runtime) -> None:
    rt = runtime
    bob, eve = remote_actor("bob"), remote_actor("eve", key=1)
    await store(rt, bob)
    await store(rt, eve)
    doc = bob.document() | {"name": "pwned"}
    await receive(rt, eve, {"id": f"{eve.uri}#u", "type": "Update", "actor": eve.uri,
                            "object": doc})
    async with rt.db.read() as conn:
        assert (await actors_repo.get_by_uri(conn, bob.uri)).name != "pwned"
        failed = (await conn.execute(select(inbox_items.c.state))).scalars().all()
    assert failed == ["failed"]


def note(actor: RemoteActor, n: int = 1, **extra: object) -> dict:
    return {"id": f"{actor.uri}/notes/{n}", "type": "Note", "attributedTo": actor.uri,
            "content": "<p>Spare crib</p>", "to": [PUBLIC],
            "published": "2026-11-20T10:00:00Z", **extra}


async def test_create_stores_and_delete_removes_an_object(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/c/1", "type": "Create", "actor": bob.uri,
                            "object": note(bob)})
    async with rt.db.read() as conn:
        obj = await objects_repo.find_by_uri(conn, f"{bob.uri}/notes/1")
    assert obj is not None and obj.public and obj.content == "<p>Spare crib</p>"
    await receive(rt, bob, {"id": f"{bob.uri}/d/1", "type": "Delete", "actor": bob.uri,
                            "object": {"id": f"{bob.uri}/notes/1", "type": "Tombstone"}})
    async with rt.db.read() as conn:
        assert await objects_repo.find_by_uri(conn, f"{bob.uri}/notes/1") is None


async def test_create_of_someone_elses_object_is_refused(runtime: Runtime) -> None:
    rt = runtime
    bob, eve = remote_actor("bob"), remote_actor("eve", "evil.example", key=1)
    await store(rt, bob)
    await store(rt, eve)
    await receive(rt, eve, {"id": f"{eve.uri}/c", "type": "Create", "actor": eve.uri,
                            "object": note(bob)})
    async with rt.db.read() as conn:
        assert await objects_repo.find_by_uri(conn, f"{bob.uri}/notes/1") is None


async def test_delete_of_an_actor_removes_its_follows_and_content(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, follow_of(bob, rt))
    await receive(rt, bob, {"id": f"{bob.uri}/c/1", "type": "Create", "actor": bob.uri,
                            "object": note(bob)})
    await receive(rt, bob, {"id": f"{bob.uri}#delete", "type": "Delete", "actor": bob.uri,
                            "object": bob.uri})
    async with rt.db.read() as conn:
        assert await actors_repo.find_by_uri(conn, bob.uri) is None
        assert await objects_repo.find_by_uri(conn, f"{bob.uri}/notes/1") is None
    assert await rt.follows.list(rt.identity.group, "followers") == []


async def test_announce_is_recorded_and_undone(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    target = f"{bob.uri}/notes/9"
    await receive(rt, bob, {"id": f"{bob.uri}/c/9", "type": "Create", "actor": bob.uri,
                            "object": note(bob, 9)})
    await receive(rt, bob, {"id": f"{bob.uri}/boost/1", "type": "Announce", "actor": bob.uri,
                            "object": target})
    assert await count(rt, shares) == 1
    await receive(rt, bob, {"id": f"{bob.uri}/undo/9", "type": "Undo", "actor": bob.uri,
                            "object": {"id": f"{bob.uri}/boost/1", "type": "Announce"}})
    assert await count(rt, shares) == 0


@pytest.mark.parametrize("type_", ["Like", "Move", "Flag", "EmojiReact"])
async def test_other_types_are_accepted_and_ignored(runtime: Runtime, type_: str) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/x", "type": type_, "actor": bob.uri,
                            "object": rt.identity.group.uri})
    async with rt.db.read() as conn:
        states = (await conn.execute(select(inbox_items.c.state))).scalars().all()
    assert states == ["done"]
    assert await outgoing(rt) == []
