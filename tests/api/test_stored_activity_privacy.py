"""Stored activities follow their object (safety issue "Deleted and narrowed posts stay
public"), in process on SQLite and PostgreSQL.

An attacker fetched the outbox and ``/activities/{id}`` of running instances without logging
in and read the full text of posts that had been deleted (by retention, from an app) or
narrowed to members-only. Each test here publishes something with a unique text, checks the
text is served while the post is public (so the test can see a leak), changes the post, and
checks that no unauthenticated fetch serves the text any more. Retention must also leave no
database row carrying the text (activities, deliveries, received activities, statuses).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from fediaid.services.posts import Intake
from fediaid.services.retention import purge_received
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import activities, inbox_items, metadata, posts
from fediaid.storage.types import utcnow
from tests.api.test_mastodon_statuses import member
from tests.fediaid.test_inbox_processing import receive
from tests.fediaid.test_post_federation import with_followers
from tests.support.remote import remote_actor

AP = "application/activity+json"


def secret() -> str:
    """A unique word (letters only: digits would look like a phone number to the privacy
    warnings)."""
    return "secret" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:12])


def path_of(uri: str) -> str:
    return uri.removeprefix("http://a.test")


async def collection_text(client: httpx.AsyncClient, path: str) -> str:
    """Everything an unauthenticated server can read from a collection: the collection
    document, an embedded first page, and every page reachable through first/next."""
    seen: list[str] = []
    r = await client.get(path, headers={"Accept": AP})
    assert r.status_code == 200, r.text
    doc = r.json()
    seen.append(r.text)
    nxt: Any = doc.get("first")
    if isinstance(nxt, dict):
        nxt = nxt.get("next")
    hops = 0
    while isinstance(nxt, str) and hops < 50:
        page = await client.get(path_of(nxt), headers={"Accept": AP})
        assert page.status_code == 200, page.text
        seen.append(page.text)
        nxt = page.json().get("next")
        hops += 1
    return "\n".join(seen)


async def activity_uris(rt: Runtime, object_uri: str) -> list[str]:
    async with rt.db.read() as conn:
        rows = await conn.execute(select(activities.c.uri)
                                  .where(activities.c.object_uri == object_uri))
        return [r[0] for r in rows]


async def fetched(client: httpx.AsyncClient, uri: str) -> httpx.Response:
    return await client.get(path_of(uri), headers={"Accept": AP})


async def rows_containing(rt: Runtime, text: str) -> list[str]:
    """table.column of every stored value that contains ``text`` (a grep of the database)."""
    found: list[str] = []
    async with rt.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if value is not None and text in str(value):
                        found.append(f"{table.name}.{column}")
    return found


async def assert_not_served(client: httpx.AsyncClient, text: str, uris: list[str],
                            outboxes: tuple[str, ...]) -> None:
    for outbox in outboxes:
        assert text not in await collection_text(client, outbox), outbox
    for uri in uris:
        r = await fetched(client, uri)
        assert r.status_code == 404 or text not in r.text, (uri, r.status_code, r.text)


async def expire_by_retention(rt: Runtime, post_id: int) -> None:
    async with rt.db.write() as conn:
        await conn.execute(update(posts).where(posts.c.id == post_id).values(
            delete_after=utcnow() - timedelta(seconds=1)))
    assert await rt.posts.delete_due() == 1


# -- deleted posts ---------------------------------------------------------------------------

@pytest.mark.parametrize("removal", ["retention", "delete_now"])
@pytest.mark.parametrize("kind", ["anonymous", "proxy", "member"])
async def test_a_removed_post_is_no_longer_served(
        runtime: Runtime, client: httpx.AsyncClient, kind: str, removal: str) -> None:
    rt = runtime
    text = secret()
    admin = await rt.accounts.get_user("admin")
    maria = await rt.accounts.create_user("maria")
    data = {"kind": "need", "title": f"Rent help {text}", "description": f"call {text}"}
    if kind == "anonymous":
        post = await rt.posts.create(maria, data, as_neighbor=True, confirm=True)
    elif kind == "proxy":
        post = await rt.posts.create(admin, data, confirm=True,
                                     intake=Intake("Mrs. K", "555 0100", None))
    else:
        post = await rt.posts.create(maria, data, confirm=True)
    uris = await activity_uris(rt, post.uri)
    assert uris
    outboxes = ("/groups/elm/outbox", "/users/maria/outbox", "/users/admin/outbox")
    assert text in await collection_text(client, "/groups/elm/outbox")
    assert any([text in (await fetched(client, u)).text for u in uris])
    if kind != "member":  # nobody learns who asked
        for name in ("maria", "admin"):
            assert text not in await collection_text(client, f"/users/{name}/outbox")
    if removal == "retention":
        await expire_by_retention(rt, post.id)
    else:
        await rt.posts.delete_now(admin if kind == "proxy" else maria, post.id)
    await assert_not_served(client, text, uris, outboxes)
    assert await rows_containing(rt, text) == []


async def test_a_status_deleted_from_an_app_is_no_longer_served(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, client, "maria")
    note_text, need_text = secret(), secret()
    note = await maria.toot(f"My number is {note_text}")
    need = await maria.toot(f"Need a ride {need_text} #need")
    note_uris = await activity_uris(rt, note["uri"])
    need_uris = await activity_uris(rt, need["uri"])
    assert note_uris and need_uris
    for text in (note_text, need_text):
        assert text in (await collection_text(client, "/users/maria/outbox"))
    for status in (note, need):
        r = await maria.client.delete(f"/api/v1/statuses/{status['id']}", headers=maria.auth)
        assert r.status_code == 200, r.text
    for text, uris in ((note_text, note_uris), (need_text, need_uris)):
        await assert_not_served(client, text, uris, ("/users/maria/outbox",
                                                     "/groups/elm/outbox"))
        assert await rows_containing(rt, text) == []


# -- narrowed posts --------------------------------------------------------------------------

@pytest.mark.parametrize("narrower", ["members", "network"])
async def test_a_public_post_narrowed_is_no_longer_served_anonymously(
        runtime: Runtime, client: httpx.AsyncClient, narrower: str) -> None:
    rt = runtime
    text = secret()
    maria = await rt.accounts.create_user("maria")
    post = await rt.posts.create(maria, {"kind": "offer", "title": f"Spare room {text}"},
                                 confirm=True)
    uris = await activity_uris(rt, post.uri)
    assert text in await collection_text(client, "/users/maria/outbox")
    assert text in await collection_text(client, "/groups/elm/outbox")
    await rt.posts.edit(maria, post.id, {"visibility": narrower})
    uris += await activity_uris(rt, post.uri)
    await assert_not_served(client, text, list(dict.fromkeys(uris)),
                            ("/users/maria/outbox", "/groups/elm/outbox"))
    # The post itself is still there for members.
    assert (await rt.posts.get(rt.posts.viewer_for(maria), post.id)).title.endswith(text)


async def test_an_edit_replaces_the_old_text_in_served_activities(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    """Someone who removes their phone number from a public post must not find it still
    served in the post's Create."""
    rt = runtime
    text = secret()
    maria = await rt.accounts.create_user("maria")
    post = await rt.posts.create(maria, {"kind": "need", "title": "Ride to clinic",
                                         "description": f"call me on {text}"}, confirm=True)
    uris = await activity_uris(rt, post.uri)
    await rt.posts.edit(maria, post.id, {"description": "write to me here"}, confirm=True)
    outbox = await collection_text(client, "/users/maria/outbox")
    assert "write to me here" in outbox
    await assert_not_served(client, text, uris, ("/users/maria/outbox",
                                                 "/groups/elm/outbox"))


# -- retention leaves nothing ----------------------------------------------------------------

async def test_retention_removes_activities_deliveries_and_received_copies(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    text = secret()
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    maria = await rt.accounts.create_user("maria")
    post = await rt.posts.create(maria, {"kind": "need", "title": f"Groceries {text}"},
                                 confirm=True)
    # A remote neighbor answers on Mastodon, quoting the post.
    reply = {"id": f"{bob.uri}/notes/1", "type": "Note", "attributedTo": bob.uri,
             "inReplyTo": post.uri, "to": [rt.identity.group.uri, post.author_uri],
             "content": f"<p>I can bring the {text}</p>"}
    await receive(rt, bob, {"id": f"{bob.uri}/activities/1", "type": "Create",
                            "actor": bob.uri, "to": reply["to"], "object": reply})
    found = await rows_containing(rt, text)
    assert "activities.payload" in found and "inbox_items.payload" in found
    await expire_by_retention(rt, post.id)
    assert await rows_containing(rt, text) == []
    async with rt.db.read() as conn:
        left = [orjson.loads(r[0]) for r in await conn.execute(select(activities.c.payload))]
    # What is left about the post is the Delete, naming only its id.
    assert all(a["type"] == "Delete" for a in left if post.uri in orjson.dumps(a).decode())


async def test_processed_received_activities_are_purged_after_a_window(
        runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    window = rt.settings.inbox_retention_days
    assert 0 < window <= 7
    async with rt.db.read() as conn:
        before = (await conn.execute(select(inbox_items.c.id))).all()
    assert before  # bob's Follow, processed
    # Not yet past the window: kept (the inbox deduplicates redeliveries by activity id).
    assert await purge_received(rt.db, rt.settings) == 0
    async with rt.db.write() as conn:
        await conn.execute(update(inbox_items).values(
            processed_at=utcnow() - timedelta(days=window, minutes=1),
            received_at=utcnow() - timedelta(days=window, minutes=1)))
        await conn.execute(inbox_items.insert().values(
            activity_uri=f"{bob.uri}/activities/pending", type="Note", actor_uri=bob.uri,
            signer_key_id=bob.key_id, payload="{}", state="pending", attempts=0,
            received_at=utcnow() - timedelta(days=window + 1),
            next_attempt_at=utcnow()))
    assert await purge_received(rt.db, rt.settings) == len(before)
    async with rt.db.read() as conn:
        states = [r[0] for r in await conn.execute(select(inbox_items.c.state))]
    assert states == ["pending"]  # work not done yet is never purged


# -- the collections, as Lemmy and Mastodon read them ----------------------------------------

async def test_outbox_and_followers_have_the_shapes_lemmy_and_mastodon_read(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    bob, oak = remote_actor("bob"), remote_actor("oak", "oak.example", key=1, type_="Group")
    await with_followers(rt, bob, oak)
    maria = await rt.accounts.create_user("maria")
    for i in range(3):
        await rt.posts.create(maria, {"kind": "offer", "title": f"Jam jar {i}"}, confirm=True)
    hidden = await rt.posts.create(maria, {"kind": "offer", "title": "Members jam",
                                           "visibility": "members"})
    await rt.notes.post_as_group("Meeting on Sunday")
    # Lemmy (GroupOutbox): an OrderedCollection with totalItems and its items inline, each
    # an Announce (Lemmy's Vec<AnnounceActivity> fails on any other type).
    doc = (await client.get("/groups/elm/outbox", headers={"Accept": AP})).json()
    assert doc["type"] == "OrderedCollection" and isinstance(doc["totalItems"], int)
    inline = doc["orderedItems"]
    assert inline and {a["type"] for a in inline} == {"Announce"}
    assert any(isinstance(a["object"], dict) and a["object"]["type"] == "Create"
               and a["object"]["object"]["name"].endswith("Jam jar 2") for a in inline)
    assert all("@context" not in a for a in inline)
    # Mastodon: ``first`` leads to the pages, which hold everything public.
    first = (await client.get(path_of(doc["first"]), headers={"Accept": AP})).json()
    assert first["type"] == "OrderedCollectionPage" and first["partOf"] == doc["id"]
    assert {a["type"] for a in first["orderedItems"]} == {"Announce", "Create"}
    assert len(first["orderedItems"]) == doc["totalItems"] == 7  # 3 x 2 Announces + 1 note
    assert hidden.uri not in await collection_text(client, "/groups/elm/outbox")
    person = (await client.get("/users/maria/outbox", headers={"Accept": AP})).json()
    assert [a["type"] for a in person["orderedItems"]] == ["Create"] * 3
    # Followers: Lemmy's GroupFollowers (a Collection, totalItems, empty items) and Mastodon's
    # first page, embedded; nobody learns who follows.
    followers = (await client.get("/groups/elm/followers", headers={"Accept": AP})).json()
    assert followers["type"] == "Collection" and followers["totalItems"] == 2
    assert followers["items"] == []
    assert followers["first"]["type"] == "CollectionPage"
    assert followers["first"]["items"] == [] and followers["first"]["partOf"] == followers["id"]
    page = await client.get("/groups/elm/followers?page=1", headers={"Accept": AP})
    assert page.json()["items"] == [] and page.json()["id"] == followers["first"]["id"]
    assert bob.uri not in page.text and oak.uri not in str(followers)


async def test_the_workers_purge_old_received_activities(runtime: Runtime) -> None:
    import asyncio

    from fediaid.jobs.runner import Workers

    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    old = utcnow() - timedelta(days=rt.settings.inbox_retention_days + 1)
    async with rt.db.write() as conn:
        await conn.execute(update(inbox_items).values(processed_at=old))
    workers = Workers(rt)
    task = asyncio.create_task(workers._lifecycle())
    try:
        for _ in range(200):
            async with rt.db.read() as conn:
                if not (await conn.execute(select(inbox_items.c.id))).all():
                    break
            await asyncio.sleep(0.02)
    finally:
        workers.stop_event.set()
        await task
    async with rt.db.read() as conn:
        assert (await conn.execute(select(inbox_items.c.id))).all() == []
