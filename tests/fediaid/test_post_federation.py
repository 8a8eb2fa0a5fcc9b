"""Offers and needs on the wire, in process: what each change queues for delivery, and what
arriving activities (fixtures shaped like Mastodon, Mitra and fediaid peers) become."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, update

from fediaid.domain.posts import State, Visibility
from fediaid.domain.visibility import Viewer
from fediaid.services.runtime import Runtime
from fediaid.storage import posts as posts_repo
from fediaid.storage.tables import activities, deliveries, posts
from fediaid.storage.types import utcnow
from tests.fediaid.test_inbox_processing import follow_of, receive
from tests.support.remote import RemoteActor, remote_actor, store

FIXTURES = Path(__file__).parent.parent / "fixtures"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def fixture(name: str) -> dict:
    text = (FIXTURES / name).read_text().replace("https://aid.example", "http://a.test")
    return json.loads(text)


async def sent(rt: Runtime) -> list[tuple[str, str, dict]]:
    """(activity type, inbox, payload) of every queued delivery, oldest first."""
    async with rt.db.read() as conn:
        rows = await conn.execute(
            select(activities.c.type, deliveries.c.inbox_url, activities.c.payload)
            .join(deliveries, deliveries.c.activity_id == activities.c.id)
            .order_by(deliveries.c.id))
        return [(r[0], r[1], orjson.loads(r[2])) for r in rows]


async def clear(rt: Runtime) -> None:
    async with rt.db.write() as conn:
        await conn.execute(deliveries.delete())


async def with_followers(rt: Runtime, *actors: RemoteActor) -> None:
    for a in actors:
        await store(rt, a)
        await receive(rt, a, follow_of(a, rt))
    await clear(rt)


async def test_a_members_public_need_is_created_and_shared_by_the_group(runtime: Runtime
                                                                         ) -> None:
    rt = runtime
    bob = remote_actor("bob")
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await with_followers(rt, bob, oak)
    maria = await rt.accounts.create_user("maria")
    post = await rt.posts.create(maria, {"kind": "need", "title": "Groceries for four",
                                         "category": "food", "quantity": "2",
                                         "unit": "bags", "area": "Northside"})
    out = await sent(rt)
    kinds = sorted({(t, inbox) for t, inbox, _ in out})
    assert kinds == sorted({(t, i) for t in ("Create", "Announce")
                            for i in (bob.shared_inbox, oak.shared_inbox)})
    create = next(p for t, _, p in out if t == "Create")
    note = create["object"]
    assert create["actor"] == "http://a.test/users/maria" and note["id"] == post.uri
    assert note["type"] == "Note" and note["purpose"] == "request"
    assert note["publishes"]["resourceQuantity"] == {"hasUnit": "bags",
                                                     "hasNumericalValue": "2"}
    assert note["audience"] == rt.identity.group.uri and PUBLIC in note["to"]
    assert "#<span>need</span>" in note["content"] and "Groceries for four" in note["content"]
    announces = [p for t, i, p in out if t == "Announce" and i == bob.shared_inbox]
    assert {type(a["object"]).__name__ for a in announces} == {"dict", "str"}
    assert all(a["actor"] == rt.identity.group.uri for a in announces)


async def test_members_only_and_direct_posts(runtime: Runtime) -> None:
    rt = runtime
    bob, cat = remote_actor("bob"), remote_actor("cat", "other.example", key=1)
    await with_followers(rt, bob)
    await store(rt, cat)
    maria = await rt.accounts.create_user("maria")
    await rt.posts.create(maria, {"kind": "offer", "title": "Spare crib",
                                  "visibility": "members"})
    assert await sent(rt) == []
    await rt.posts.create(maria, {"kind": "offer", "title": "Spare stroller",
                                  "visibility": "direct", "recipients": [cat.uri]})
    out = await sent(rt)
    assert [(t, i) for t, i, _ in out] == [("Create", cat.shared_inbox)]
    note = out[0][2]["object"]
    assert note["to"] == [cat.uri] and {"type": "Mention", "href": cat.uri} in [
        {k: v for k, v in t.items() if k != "name"} for t in note["tag"]]


async def test_anonymous_posts_come_from_the_group(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    maria = await rt.accounts.create_user("maria")
    await rt.posts.create(maria, {"kind": "need", "title": "Help with rent"},
                          as_neighbor=True)
    out = await sent(rt)
    assert [(t, p["actor"]) for t, _, p in out] == [("Create", rt.identity.group.uri)]
    assert "maria" not in json.dumps(out)


async def test_close_updates_and_retention_deletes_everywhere(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    maria = await rt.accounts.create_user("maria")
    post = await rt.posts.create(maria, {"kind": "offer", "title": "Rides"})
    await rt.posts.close(maria, post.id, "fulfilled")
    update_ = [p for t, _, p in await sent(rt) if t == "Update"]
    assert len(update_) == 1 and "Closed: fulfilled" in update_[0]["object"]["content"]
    async with rt.db.write() as conn:
        await conn.execute(update(posts).values(delete_after=utcnow() - timedelta(seconds=1)))
    assert await rt.posts.delete_due() == 1
    deletes = [(i, p) for t, i, p in await sent(rt) if t == "Delete"]
    assert [i for i, _ in deletes] == [bob.shared_inbox]
    assert deletes[0][1]["object"]["id"] == post.uri


async def test_a_neighboring_groups_post_reaches_our_members(runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    ann = remote_actor("ann", "oak.example", key=2)
    await store(rt, oak)
    await store(rt, ann)
    await rt.follows.follow(rt.identity.group, oak.uri)
    await receive(rt, oak, {"id": f"{oak.uri}/accept/1", "type": "Accept", "actor": oak.uri,
                            "object": (await sent(rt))[0][2]})
    note = {"id": f"{ann.uri}/posts/1", "type": "Note", "attributedTo": ann.uri,
            "to": [f"{oak.uri}/followers"], "cc": [oak.uri], "audience": oak.uri,
            "content": "<p>Need: winter coats</p>", "purpose": "request", "name": "Winter coats",
            "publishes": {"type": "Intent", "action": "transfer",
                          "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "3"}}}
    create = {"id": f"{ann.uri}/create/1", "type": "Create", "actor": ann.uri,
              "to": note["to"], "object": note}
    await receive(rt, oak, {"id": f"{oak.uri}/announce/1", "type": "Announce",
                            "actor": oak.uri, "object": create})
    async with rt.db.read() as conn:
        post = await posts_repo.find_by_uri(conn, note["id"])
    assert post is not None and not post.local and post.title == "Winter coats"
    assert post.visibility is Visibility.NETWORK and str(post.quantity) == "3"
    maria = await rt.accounts.create_user("maria")
    assert await rt.posts.get(await rt.posts.viewer_for_user(maria), post.id)
    assert [p.id for p in await rt.posts.search(Viewer(), posts_repo.Filters())] == []


async def test_a_mastodon_mention_with_need_becomes_a_group_post(runtime: Runtime) -> None:
    rt = runtime
    create = fixture("mastodon_note_need_hashtag.json")
    rosa = RemoteActor(create["actor"], remote_actor("x", key=2).keys)
    await store(rt, rosa)
    await receive(rt, rosa, create)
    async with rt.db.read() as conn:
        post = await posts_repo.find_by_uri(conn, create["object"]["id"])
    assert post is not None and post.via_group and post.held  # not a follower: held
    assert await sent(rt) == []
    admin = await rt.accounts.get_user("admin")
    assert (await rt.posts.get(await rt.posts.viewer_for_user(admin), post.id)).held
    maria = await rt.accounts.create_user("maria")
    import pytest

    from fediaid.errors import NotFound

    with pytest.raises(NotFound):
        await rt.posts.get(await rt.posts.viewer_for_user(maria), post.id)
    # From a follower it is shared at once.
    await receive(rt, rosa, follow_of(rosa, rt))
    await clear(rt)
    second = json.loads(json.dumps(create).replace("113625481290455621", "113625481290455622"))
    await receive(rt, rosa, second)
    async with rt.db.read() as conn:
        shared = await posts_repo.find_by_uri(conn, second["object"]["id"])
    assert shared is not None and not shared.held
    assert {t for t, _, _ in await sent(rt)} == {"Announce"}


async def test_answers_from_other_servers(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    maria = await rt.accounts.create_user("maria")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Ride to clinic"})
    offer = {"id": f"{bob.uri}/offers/1", "type": "Offer", "actor": bob.uri,
             "to": ["http://a.test/users/maria"], "content": "<p>I can drive</p>",
             "object": {"type": "Agreement", "stipulates": {
                 "type": "Commitment", "satisfies": need.uri + "#primary",
                 "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "1"}}}}
    await receive(rt, bob, offer)
    (response,) = await rt.responses.for_post(maria, need.id)
    assert response.uri == offer["id"] and response.message == "I can drive"
    await clear(rt)
    conv = await rt.responses.accept(maria, response.id)
    (accept,) = [p for t, i, p in await sent(rt) if t == "Accept"]
    assert accept["object"] == offer["id"] and accept["result"]["type"] == "Agreement"
    await rt.responses.send(maria, conv.id, "Tuesday at 10?")
    dm = [p for t, i, p in await sent(rt) if t == "Create"][-1]["object"]
    assert dm["to"] == [bob.uri] and "Tuesday at 10?" in dm["content"]
    # Bob answers by direct message: it lands in the conversation.
    reply = {"id": f"{bob.uri}/notes/77", "type": "Note", "attributedTo": bob.uri,
             "to": ["http://a.test/users/maria"], "content": "<p>Yes, see you then</p>",
             "inReplyTo": dm["id"]}
    await receive(rt, bob, {"id": f"{bob.uri}/c/77", "type": "Create", "actor": bob.uri,
                            "object": reply})
    _, msgs = await rt.responses.messages(maria, conv.id)
    assert [m.body for m in msgs] == ["Tuesday at 10?", "Yes, see you then"]
    # Done: a receipt referencing the agreement goes back (FEP-0837 confirmation).
    await clear(rt)
    await rt.posts.close(maria, need.id, "fulfilled")
    receipts = [p for t, i, p in await sent(rt) if t == "Create" and i == bob.shared_inbox]
    assert [r["object"]["type"] for r in receipts] == ["Document"]
    assert receipts[0]["object"]["context"] == accept["result"]["id"]


async def test_a_mastodon_reply_is_a_response(runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await with_followers(rt, bob)
    maria = await rt.accounts.create_user("maria")
    offer = await rt.posts.create(maria, {"kind": "offer", "title": "Spare crib"})
    reply = {"id": f"{bob.uri}/statuses/5", "type": "Note", "attributedTo": bob.uri,
             "inReplyTo": offer.uri, "to": ["http://a.test/users/maria"],
             "content": "<p>I'd love the crib!</p>"}
    await receive(rt, bob, {"id": f"{bob.uri}/statuses/5/activity", "type": "Create",
                            "actor": bob.uri, "object": reply})
    (response,) = await rt.responses.for_post(maria, offer.id)
    assert response.message == "I'd love the crib!"
    await clear(rt)
    await rt.responses.accept(maria, response.id)
    (dm,) = [p for t, _, p in await sent(rt) if t == "Create"]
    assert dm["object"]["inReplyTo"] == reply["id"] and "accepted" in dm["object"]["content"]
    assert (await rt.posts.get(await rt.posts.viewer_for_user(maria), offer.id)
            ).state is State.PROMISED


async def test_our_members_answer_to_a_remote_post(runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await store(rt, oak)
    await rt.follows.follow(rt.identity.group, oak.uri)
    await receive(rt, oak, {"id": f"{oak.uri}/accept/1", "type": "Accept", "actor": oak.uri,
                            "object": (await sent(rt))[0][2]})
    note = {"id": f"{oak.uri}/posts/9", "type": "Note", "attributedTo": oak.uri,
            "to": [PUBLIC], "content": "<p>Need: soup</p>", "purpose": "request",
            "name": "Soup", "publishes": {"type": "Intent", "action": "transfer",
                                          "resourceQuantity": {"hasUnit": "one"}}}
    await receive(rt, oak, {"id": f"{oak.uri}/create/9", "type": "Create", "actor": oak.uri,
                            "object": note})
    async with rt.db.read() as conn:
        post = await posts_repo.find_by_uri(conn, note["id"])
    assert post is not None
    sam = await rt.accounts.create_user("sam")
    await clear(rt)
    response = await rt.responses.respond(sam, post.id, "I'll bring some", None)
    (offer,) = [p for t, _, p in await sent(rt) if t == "Offer"]
    assert offer["object"]["stipulates"]["satisfies"] == note["id"] + "#primary"
    await receive(rt, oak, {"id": f"{oak.uri}/accept/2", "type": "Accept", "actor": oak.uri,
                            "object": offer["id"],
                            "result": {"id": f"{oak.uri}/agreements/1", "type": "Agreement"}})
    convs = await rt.responses.conversations(sam)
    assert len(convs) == 1 and convs[0].response_id == response.id


@pytest.mark.parametrize("content, text", [
    ('<p><span class="h-card"><a href="https://a/@bob" class="u-url mention">@bob@a.test</a>'
     '</span> Thank you!</p>', "Thank you!"),
    ("<p>@bob @ann@x.example:8080 See you at 6</p>", "See you at 6"),
    ("<p>No mention here</p>", "No mention here"),
])
def test_message_text_drops_leading_mentions(content: str, text: str) -> None:
    from fediaid.federation.inbound import parse_remote_note
    from fediaid.services.post_inbox import message_text

    note = parse_remote_note({"id": "https://a/notes/1", "type": "Note",
                              "attributedTo": "https://a/users/bob", "content": content})
    assert note is not None and message_text(note) == text
