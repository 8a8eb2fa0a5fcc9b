"""Statuses from other servers, as the client API sees them: a remote Note becomes a status
with its addressing mapped to a level; mentions of members notify them; Likes, Announces,
Undo and Delete update favourites, boosts and statuses. In process, on both databases."""

from __future__ import annotations

from sqlalchemy import select

from api.mastodon.params import status_draft
from fediaid.domain.paging import Page
from fediaid.services.runtime import Runtime
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.tables import favourites, notifications, status_edits, statuses
from tests.fediaid.test_inbox_processing import PUBLIC, count, note, receive
from tests.support.remote import remote_actor, store


def create(actor_uri: str, obj: dict, n: int = 1) -> dict:
    return {"id": f"{actor_uri}/create/{n}", "type": "Create", "actor": actor_uri,
            "object": obj}


async def test_remote_note_levels_mentions_and_reactions(runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    tom = await rt.accounts.create_user("tom")
    maria_actor = await rt.accounts.actor_of(maria)
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, create(bob.uri, note(bob, 1)))
    followers_only = note(bob, 2, to=[f"{bob.uri}/followers"])
    await receive(rt, bob, create(bob.uri, followers_only, 2))
    dm = note(bob, 3, to=[maria_actor.uri], content="<p>@maria hi <script>x</script></p>",
              tag=[{"type": "Mention", "href": maria_actor.uri, "name": "@maria"}])
    await receive(rt, bob, create(bob.uri, dm, 3))
    async with rt.db.read() as conn:
        rows = {r.uri: r for r in await conn.execute(select(statuses))}
    assert rows[f"{bob.uri}/notes/1"].visibility == "public"
    assert rows[f"{bob.uri}/notes/2"].visibility == "followers"
    direct = rows[f"{bob.uri}/notes/3"]
    assert direct.visibility == "direct" and "<script>" not in direct.content
    # Maria, addressed, sees the direct one and is notified; Tom sees neither private one.
    for user, expect in ((maria, {1, 3}), (tom, {1})):
        viewer = await rt.status_reading.viewer(user)
        shown = await rt.status_reading.visible(viewer, [r.id for r in rows.values()])
        assert {int(s.uri.rsplit("/", 1)[1]) for s in shown} == expect
    async with rt.db.read() as conn:
        kinds = [(r.type, r.user_id) for r in await conn.execute(select(notifications))]
    assert kinds == [("mention", maria.id)]
    # The same Create again changes nothing.
    await receive(rt, bob, {**create(bob.uri, note(bob, 1)), "id": f"{bob.uri}/again"})
    assert await count(rt, statuses) == 3


async def test_likes_boosts_undo_and_delete_of_a_members_status(runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    sid = await rt.status_posting.create(maria, status_draft({"status": "Soup night on Friday"}))
    async with rt.db.read() as conn:
        uri = (await statuses_repo.find(conn, sid)).uri  # type: ignore[union-attr]
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/like/1", "type": "Like", "actor": bob.uri,
                            "object": uri})
    await receive(rt, bob, {"id": f"{bob.uri}/boost/1", "type": "Announce", "actor": bob.uri,
                            "object": uri, "to": [PUBLIC]})
    assert await count(rt, favourites) == 1
    async with rt.db.read() as conn:
        counts = await statuses_repo.counts(conn, [sid])
        kinds = sorted(r.type for r in await conn.execute(select(notifications)))
    assert counts[sid] == {"replies": 0, "reblogs": 1, "favourites": 1}
    assert kinds == ["favourite", "reblog"]
    # Someone else cannot undo bob's like; bob can.
    eve = remote_actor("eve", "evil.example", key=1)
    await store(rt, eve)
    await receive(rt, eve, {"id": f"{eve.uri}/undo", "type": "Undo", "actor": eve.uri,
                            "object": {"id": f"{bob.uri}/like/1", "type": "Like"}})
    assert await count(rt, favourites) == 1
    await receive(rt, bob, {"id": f"{bob.uri}/undo/1", "type": "Undo", "actor": bob.uri,
                            "object": {"id": f"{bob.uri}/like/1", "type": "Like"}})
    await receive(rt, bob, {"id": f"{bob.uri}/undo/2", "type": "Undo", "actor": bob.uri,
                            "object": {"id": f"{bob.uri}/boost/1", "type": "Announce"}})
    assert await count(rt, favourites) == 0
    async with rt.db.read() as conn:
        assert (await statuses_repo.counts(conn, [sid]))[sid]["reblogs"] == 0
    # A remote Delete removes only the sender's own statuses.
    await receive(rt, bob, create(bob.uri, note(bob, 5), 5))
    await receive(rt, eve, {"id": f"{eve.uri}/del", "type": "Delete", "actor": eve.uri,
                            "object": f"{bob.uri}/notes/5"})
    viewer = await rt.status_reading.viewer(maria)
    assert len(await rt.status_reading.public_ids(viewer, Page(limit=10), local=False)) == 1
    await receive(rt, bob, {"id": f"{bob.uri}/del", "type": "Delete", "actor": bob.uri,
                            "object": {"id": f"{bob.uri}/notes/5", "type": "Tombstone"}})
    assert await rt.status_reading.public_ids(viewer, Page(limit=10), local=False) == []


async def test_redelivered_question_is_not_an_edit_and_an_update_is(runtime: Runtime) -> None:
    """A Question with only a ``name`` is stored as ``<p>name</p>``; the same Question again
    (another Create, or an Update changing nothing) is not an edit; a changed one is."""
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    question = {"id": f"{bob.uri}/questions/1", "type": "Question", "attributedTo": bob.uri,
                "name": "Soup on Friday or Saturday?", "to": [PUBLIC],
                "published": "2026-11-20T10:00:00Z",
                "oneOf": [{"type": "Note", "name": "Friday"},
                          {"type": "Note", "name": "Saturday"}]}
    await receive(rt, bob, create(bob.uri, question))
    await receive(rt, bob, {**create(bob.uri, question), "id": f"{bob.uri}/create/again"})
    await receive(rt, bob, {"id": f"{bob.uri}/update/1", "type": "Update", "actor": bob.uri,
                            "object": question})
    uri = question["id"]
    async with rt.db.read() as conn:
        row = (await conn.execute(select(statuses).where(statuses.c.uri == uri))).one()
    assert row.content == "<p>Soup on Friday or Saturday?</p>" and row.edited_at is None
    # A changed content warning is an edit (once: a longer one than the column holds too).
    warning = "food " * 120
    changed = {**question, "summary": warning, "updated": "2026-11-20T11:00:00Z"}
    for n in (2, 3):
        await receive(rt, bob, {"id": f"{bob.uri}/update/{n}", "type": "Update",
                                "actor": bob.uri, "object": changed})
    async with rt.db.read() as conn:
        row = (await conn.execute(select(statuses).where(statuses.c.uri == uri))).one()
    assert warning.startswith(row.spoiler_text) and row.edited_at is not None
    assert await count(rt, statuses) == 1 and await count(rt, status_edits) == 1


async def test_an_offer_object_is_not_a_status(runtime: Runtime) -> None:
    """FEP-0837 Offers and Agreements are answers to offers and needs (services/post_inbox),
    not statuses: a Create of one is stored as an object and nothing more."""
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    offer = {"id": f"{bob.uri}/offers/1", "type": "Offer", "attributedTo": bob.uri,
             "content": "<p>I can bring two bags</p>", "to": [PUBLIC]}
    await receive(rt, bob, create(bob.uri, offer))
    assert await count(rt, statuses) == 0
