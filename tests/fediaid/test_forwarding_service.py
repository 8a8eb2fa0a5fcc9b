"""Forwarding unmet needs in process (issue 12; services/forwarding.py), on SQLite and
PostgreSQL: what is offered to a linked group and when (the clock passed in), what pausing
a link does to offers not yet delivered, and on the receiving side: only from linked groups
that share them, duplicates by the need's id, the daily cap, closing, never forwarded again.
Three real instances on loopback: tests/integration/test_forwarding.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select

from fediaid.domain.email import Choices, Period
from fediaid.domain.links import LinkState, Share
from fediaid.services.runtime import Runtime
from fediaid.storage import posts as posts_repo
from fediaid.storage.tables import deliveries, forwarded_needs, posts
from fediaid.storage.types import utcnow
from tests.fediaid.test_email import configure, confirmed, send_all
from tests.fediaid.test_email import smtp as smtp  # the fixture
from tests.fediaid.test_inbox_processing import count, outgoing, receive
from tests.fediaid.test_links import clear, link_follow, state_of
from tests.support.remote import RemoteActor, remote_actor, store
from tests.support.smtp import SmtpSink

SHARES = frozenset({Share.FORWARDED_NEEDS})
FOOD = [{"type": "Hashtag", "name": "#food"}]


async def linked(rt: Runtime, oak: RemoteActor) -> None:
    """An active link with ``oak``, both sides sharing forwarded needs."""
    await store(rt, oak)
    await rt.links.propose(None, oak.uri, SHARES)
    await receive(rt, oak, link_follow(oak, rt, shares=["forwardedNeeds"]))
    assert await state_of(rt, oak.uri) is LinkState.ACTIVE
    await clear(rt)


def need_note(author: RemoteActor, group: RemoteActor, n: int, **extra: Any) -> dict:
    return {"id": f"https://{author.host}/objects/need-{n}", "type": "Note",
            "attributedTo": author.uri, "to": [group.uri + "/followers"], "cc": [group.uri],
            "content": f"<p><strong>Need:</strong> Blankets {n}</p>", "name": f"Blankets {n}",
            "purpose": "request", "published": "2026-12-01T10:00:00Z", **extra}


def offer_of(group: RemoteActor, note: dict, n: int, **extra: Any) -> dict:
    return {"id": f"{group.uri}/announces/{n}", "type": "Announce", "actor": group.uri,
            "to": ["https://a.test/groups/elm"], "cc": [], "object": note,
            "forwardedNeed": True, **extra}


async def shown_titles(rt: Runtime) -> list[str]:
    out = []
    for received in await rt.forwarding.from_linked_groups():
        async with rt.db.read() as conn:
            out.append((await posts_repo.get(conn, received.post_id)).title)
    return out


async def test_a_due_need_is_offered_once_to_linked_groups_sharing_them(
        runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    ash = remote_actor("ash", "ash.example", key=2, type_="Group")
    await linked(rt, oak)
    await store(rt, ash)  # linked, but we do not share forwarded needs with it
    await rt.links.propose(None, ash.uri, frozenset({Share.BLOCKLISTS}))
    await receive(rt, ash, link_follow(ash, rt, shares=["forwardedNeeds"]))
    await clear(rt)
    maria = await rt.accounts.create_user("maria")
    await rt.forwarding.update_settings(None, {"after_hours": 6})
    need = await rt.posts.create(maria, {"kind": "need", "title": "Firewood",
                                         "visibility": "network"})
    await rt.posts.create(maria, {"kind": "need", "title": "Soup", "visibility": "members"})
    await rt.posts.create(maria, {"kind": "need", "title": "Not beyond", "forward": False})
    await rt.posts.create(maria, {"kind": "offer", "title": "A ladder"})
    await clear(rt)
    now = utcnow()
    assert await rt.forwarding.forward_due(now + timedelta(hours=5)) == 0
    assert await rt.forwarding.forward_due(now + timedelta(hours=7)) == 1
    assert await rt.forwarding.forward_due(now + timedelta(hours=9)) == 0  # never twice
    sent = [(t, inbox, orjson.loads(p)) for t, inbox, p in await outgoing(rt)]
    assert [(t, inbox) for t, inbox, _ in sent] == [("Announce", oak.shared_inbox)]
    announce = sent[0][2]
    assert announce["forwardedNeed"] is True and announce["to"] == [oak.uri]
    assert announce["cc"] == [] and announce["actor"] == rt.identity.group.uri
    assert announce["object"]["id"] == need.uri and announce["object"]["type"] == "Note"

    # Paused: what was not delivered yet is not sent, and nothing more is offered.
    await rt.links.pause(None, oak.uri)
    async with rt.db.read() as conn:
        states = [r[0] for r in await conn.execute(select(deliveries.c.state))]
    assert states == ["cancelled"]
    later = await rt.posts.create(maria, {"kind": "need", "title": "Later"})
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=7)) == 0
    # Resumed: the new need goes; the old one was offered already.
    await rt.links.pause(None, oak.uri, resume=True)
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=7)) == 1
    async with rt.db.read() as conn:
        offered = {r[0] for r in await conn.execute(
            select(forwarded_needs.c.post_id).where(forwarded_needs.c.outgoing.is_(True)))}
    assert offered == {need.id, later.id}

    # Blocked: offered nothing.
    await rt.blocklists.set_rule(None, "oak.example", "suspend")
    await rt.posts.create(maria, {"kind": "need", "title": "After the block"})
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=7)) == 0


async def test_received_offers_duplicates_cap_closing_and_no_reforwarding(
        runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    rosa = remote_actor("rosa", "oak.example", key=1)
    stranger = remote_actor("elm", "elsewhere.example", key=2, type_="Group")
    await linked(rt, oak)
    await store(rt, rosa)
    await store(rt, stranger)
    await rt.forwarding.update_settings(None, {"daily_cap": 1, "after_hours": 1})

    first = need_note(rosa, oak, 1)
    await receive(rt, oak, offer_of(oak, first, 1))
    await receive(rt, oak, offer_of(oak, first, 2))  # the same need again
    assert await count(rt, forwarded_needs) == 1
    assert await shown_titles(rt) == ["Blankets 1"]
    origin = (await rt.forwarding.from_linked_groups())[0]
    assert origin.group_uri == oak.uri and origin.group_handle == "@oak@oak.example"

    # Over the daily cap: kept, not shown.
    await receive(rt, oak, offer_of(oak, need_note(rosa, oak, 2), 3))
    assert await count(rt, forwarded_needs) == 2
    assert await shown_titles(rt) == ["Blankets 1"]

    # Not from a group linked with us: ignored.
    await receive(rt, stranger, offer_of(stranger, need_note(stranger, stranger, 3), 4))
    assert await count(rt, forwarded_needs) == 2

    # Never forwarded again, however long it waits.
    await clear(rt)
    assert await rt.forwarding.forward_due(utcnow() + timedelta(days=3)) == 0
    assert await outgoing(rt) == []

    # Closed at its origin (its author's Update, with closedAs): closed here, not shown.
    await receive(rt, rosa, {"id": f"{rosa.uri}/updates/1", "type": "Update",
                             "actor": rosa.uri, "object": need_note(
                                 rosa, oak, 1, closedAs="fulfilled")})
    async with rt.db.read() as conn:
        post = await posts_repo.find_by_uri(conn, first["id"])
    assert post is not None and post.state.value == "fulfilled"
    assert await shown_titles(rt) == []

    # Paused here: its offers are not shown, and new ones are not kept.
    await receive(rt, oak, offer_of(oak, need_note(rosa, oak, 5), 5))
    await rt.links.pause(None, oak.uri)
    assert await rt.forwarding.from_linked_groups() == []
    await receive(rt, oak, offer_of(oak, need_note(rosa, oak, 6), 6))
    assert await count(rt, forwarded_needs) == 3


async def test_keep_it_here_by_default_forwards_only_needs_opted_in(runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await linked(rt, oak)
    maria = await rt.accounts.create_user("maria")
    await rt.forwarding.update_settings(None, {"after_hours": 2, "by_default": "no"})
    await rt.posts.create(maria, {"kind": "need", "title": "As the group says"})
    wanted = await rt.posts.create(maria, {"kind": "need", "title": "Please",
                                           "forward": True})
    expired = await rt.posts.create(maria, {"kind": "need", "title": "Too old",
                                            "forward": "yes"})
    async with rt.db.write() as conn:
        await conn.execute(posts.update().where(posts.c.id == expired.id)
                           .values(expires_at=utcnow() + timedelta(hours=1)))
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=3)) == 1
    async with rt.db.read() as conn:
        offered = [r[0] for r in await conn.execute(select(forwarded_needs.c.post_id))]
    assert offered == [wanted.id]


async def test_withdrawn_or_expired_at_the_origin_the_offered_groups_are_told(
        runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await linked(rt, oak)
    maria = await rt.accounts.create_user("maria")
    await rt.forwarding.update_settings(None, {"after_hours": 1})
    taken_back = await rt.posts.create(maria, {"kind": "need", "title": "Taken back",
                                               "visibility": "network"})
    too_old = await rt.posts.create(maria, {"kind": "need", "title": "Too old"})
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=2)) == 2
    await clear(rt)
    await rt.posts.close(maria, taken_back.id, "withdrawn")
    async with rt.db.write() as conn:
        await conn.execute(posts.update().where(posts.c.id == too_old.id)
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
    assert await rt.posts.expire_due() == 1
    told = {(doc["object"]["id"], doc["object"].get("closedAs"))
            for t, inbox, p in await outgoing(rt)
            if t == "Update" and inbox == oak.shared_inbox
            for doc in [orjson.loads(p)]}
    assert told == {(taken_back.uri, "withdrawn"), (too_old.uri, "expired")}


async def test_the_asker_opts_out_after_the_offer_and_it_is_taken_back(
        runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await linked(rt, oak)
    maria = await rt.accounts.create_user("maria")
    await rt.forwarding.update_settings(None, {"after_hours": 1})
    need = await rt.posts.create(maria, {"kind": "need", "title": "Boots"})
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=2)) == 1
    offer = next(orjson.loads(p) for t, _, p in await outgoing(rt) if t == "Announce"
                 and "forwardedNeed" in orjson.loads(p))
    await clear(rt)
    await rt.posts.edit(maria, need.id, {"forward": "no"})
    sent = [(t, inbox, orjson.loads(p)) for t, inbox, p in await outgoing(rt)]
    undo = [doc for t, inbox, doc in sent if t == "Undo" and inbox == oak.shared_inbox]
    assert len(undo) == 1 and undo[0]["object"]["id"] == offer["id"]
    assert undo[0]["object"]["type"] == "Announce" and undo[0]["to"] == [oak.uri]
    assert await count(rt, forwarded_needs) == 0
    assert await rt.forwarding.forward_due(utcnow() + timedelta(hours=3)) == 0

    # Receiving the same: the linked group's Undo of its offer; not shown any more.
    rosa = remote_actor("rosa", "oak.example", key=1)
    await store(rt, rosa)
    announce = offer_of(oak, need_note(rosa, oak, 1), 1)
    await receive(rt, oak, announce)
    assert await shown_titles(rt) == ["Blankets 1"]
    await receive(rt, oak, {"id": f"{oak.uri}/undo/9", "type": "Undo", "actor": oak.uri,
                            "object": {"id": announce["id"], "type": "Announce",
                                       "actor": oak.uri, "object": announce["object"]["id"]}})
    assert await shown_titles(rt) == []


async def test_an_edit_by_the_needs_author_reaches_the_copy_and_nobody_else_can_edit_it(
        runtime: Runtime) -> None:
    """A forwarded need edited at its origin: its author's Update changes the words of our
    copy (as an Update of a post the group follows does); an Update of it by anyone else,
    its group included, changes nothing."""
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    rosa = remote_actor("rosa", "oak.example", key=1)
    mallory = remote_actor("mallory", "elsewhere.example", key=2)
    await linked(rt, oak)
    await store(rt, rosa)
    await store(rt, mallory)
    note = need_note(rosa, oak, 1)
    await receive(rt, oak, offer_of(oak, note, 1))
    edited = note | {"name": "Wool blankets", "content": "<p>Two wool blankets, please</p>"}
    for n, by in enumerate((oak, mallory), 2):
        await receive(rt, by, {"id": f"{by.uri}/updates/{n}", "type": "Update",
                               "actor": by.uri, "object": edited})
    async with rt.db.read() as conn:
        post = await posts_repo.find_by_uri(conn, note["id"])
    assert post is not None and post.title == "Blankets 1"
    await receive(rt, rosa, {"id": f"{rosa.uri}/updates/1", "type": "Update",
                             "actor": rosa.uri, "object": edited})
    async with rt.db.read() as conn:
        post = await posts_repo.find_by_uri(conn, note["id"])
    assert post is not None and post.title == "Wool blankets"
    assert post.description == "Two wool blankets, please" and post.state.value == "open"
    assert await shown_titles(rt) == ["Wool blankets"]


async def test_members_who_chose_the_digest_hear_of_needs_from_linked_groups(
        runtime: Runtime, smtp: SmtpSink) -> None:
    """Members are told of forwarded needs the way they chose to hear of new needs: the
    e-mail digest, in their categories, naming the group that offered each; only those shown
    to members (within the daily cap), not in a digest filtered by this group's
    neighborhoods (the need is in another group's)."""
    rt = runtime
    await configure(rt, smtp)
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    rosa = remote_actor("rosa", "oak.example", key=1)
    await linked(rt, oak)
    await store(rt, rosa)
    await rt.forwarding.update_settings(None, {"daily_cap": 1})
    admin = await rt.accounts.get_user("admin")
    await rt.group_settings.set_areas(admin, [("north", "North side")])
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")
    await confirmed(rt, smtp, maria, "maria@mail.test")
    await confirmed(rt, smtp, sam, "sam@mail.test")
    await rt.email.save_choices(maria, Choices(digest=Period.DAILY, categories=("food",)))
    await rt.email.save_choices(sam, Choices(digest=Period.DAILY, areas=("north",)))
    await receive(rt, oak, offer_of(oak, need_note(rosa, oak, 1, tag=FOOD), 1))
    await receive(rt, oak, offer_of(oak, need_note(rosa, oak, 2, tag=FOOD), 2))
    assert await shown_titles(rt) == ["Blankets 1"]  # the second is over the cap
    assert await rt.email.queue_digests(utcnow() + timedelta(seconds=1)) == 2
    await send_all(rt)
    [digest] = [m for m in smtp.to("maria@mail.test") if "Today at" in m["Subject"]]
    group = (await rt.forwarding.from_linked_groups())[0].group_name
    assert (f"Need: Blankets 1 (Food and groceries, offered by the linked group {group})"
            in digest.text) and "Blankets 2" not in digest.text + digest.html
    assert [m for m in smtp.to("sam@mail.test") if "Blankets" in m.text] == []
