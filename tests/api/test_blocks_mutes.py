"""Member blocks and mutes (safety issue), in process on SQLite and PostgreSQL.

A block (Mastodon's semantics): follows end both ways (a remote account's server gets
Undo(Follow), Reject(Follow) and a Block); the blocked account's statuses, boosts,
replies, mentions and notifications are left out of every list the blocker reads (home,
public, tag and account timelines, threads, notifications, conversations, search,
streams); the blocked member cannot see the blocker's statuses and posts, nor answer them
(a neutral refusal). A mute hides from lists (and notifications if asked) but not from a
direct look-up. A remote Block of a member is stored and kept. A member's own domain
blocks hide a server from that member only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from fediaid.errors import Forbidden
from fediaid.services.runtime import Runtime
from fediaid.services.streaming import StreamEvent, Subscription
from fediaid.storage.tables import account_mutes, activities, deliveries, follows
from fediaid.storage.types import utcnow
from tests.api.test_mastodon_statuses import Member, member
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import RemoteActor, remote_actor, store

AP = "application/activity+json"


async def account_id(m: Member) -> str:
    r = await m.get("/api/v1/accounts/verify_credentials")
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def lookup(m: Member, acct: str) -> str:
    r = await m.get("/api/v1/accounts/lookup", params={"acct": acct})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def ids_at(m: Member, path: str, **params: Any) -> list[str]:
    r = await m.get(path, params=params)
    assert r.status_code == 200, (path, r.text)
    return [s["id"] for s in r.json()]


async def relationship(m: Member, other_id: str) -> dict[str, Any]:
    r = await m.get("/api/v1/accounts/relationships", params={"id[]": other_id})
    assert r.status_code == 200, r.text
    return dict(r.json()[0])


async def sent(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(
            select(activities.c.payload, deliveries.c.inbox_url)
            .join(deliveries, deliveries.c.activity_id == activities.c.id)
            .order_by(deliveries.c.id))
        return [orjson.loads(r[0]) | {"_inbox": r[1]} for r in rows]


async def follow_count(rt: Runtime) -> int:
    async with rt.db.read() as conn:
        return len((await conn.execute(select(follows.c.id))).all())


@pytest.fixture
async def three(runtime: Runtime, client: httpx.AsyncClient) -> tuple[Member, Member, Member]:
    return (await member(runtime, client, "maria"), await member(runtime, client, "juan"),
            await member(runtime, client, "ana"))


# -- the relationship, the lists, follows ---------------------------------------------------

async def test_block_ends_follows_and_is_told_in_the_relationship(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    maria, juan, _ = three
    mid, jid = await account_id(maria), await account_id(juan)
    assert (await maria.post(f"/api/v1/accounts/{jid}/follow")).status_code == 200
    assert (await juan.post(f"/api/v1/accounts/{mid}/follow")).status_code == 200
    assert await follow_count(runtime) == 2
    r = await maria.post(f"/api/v1/accounts/{jid}/block")
    assert r.status_code == 200, r.text
    rel = r.json()
    assert rel["blocking"] is True and rel["following"] is False
    assert rel["followed_by"] is False and rel["blocked_by"] is False
    assert await follow_count(runtime) == 0
    assert (await relationship(juan, mid))["blocked_by"] is True
    assert (await relationship(juan, mid))["blocking"] is False
    assert await ids_at(maria, "/api/v1/blocks") == [jid]
    assert await ids_at(juan, "/api/v1/blocks") == []
    # Following across a block is not possible, either way.
    assert (await juan.post(f"/api/v1/accounts/{mid}/follow")).status_code == 403
    assert (await maria.post(f"/api/v1/accounts/{jid}/follow")).status_code == 403
    assert (await maria.post(f"/api/v1/accounts/{mid}/block")).status_code == 403  # oneself
    group = await lookup(maria, "elm")
    assert (await maria.post(f"/api/v1/accounts/{group}/block")).status_code == 422
    r = await maria.post(f"/api/v1/accounts/{jid}/unblock")
    assert r.status_code == 200 and r.json()["blocking"] is False
    assert await ids_at(maria, "/api/v1/blocks") == []
    assert (await relationship(juan, mid))["blocked_by"] is False


async def test_scopes(runtime: Runtime, client: httpx.AsyncClient) -> None:
    reader = await member(runtime, client, "reader", scopes=("read",))
    other = await member(runtime, client, "other")
    oid = await account_id(other)
    assert (await reader.post(f"/api/v1/accounts/{oid}/block")).status_code == 403
    assert (await reader.post(f"/api/v1/accounts/{oid}/mute")).status_code == 403
    assert (await client.get("/api/v1/blocks")).status_code == 401
    legacy = await member(runtime, client, "legacy", scopes=("follow",))
    assert (await legacy.post(f"/api/v1/accounts/{oid}/block")).status_code == 200


# -- what the blocker no longer sees ---------------------------------------------------------

async def test_a_block_hides_the_blocked_account_on_every_path(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    maria, juan, ana = three
    jid, aid = await account_id(juan), await account_id(ana)
    mid = await account_id(maria)
    for other in (jid, aid):
        assert (await maria.post(f"/api/v1/accounts/{other}/follow")).status_code == 200
    mine = await maria.toot("Who has a ladder?")
    soup = await juan.toot("Lentil soupe tonight #food")
    hello = await ana.toot("Hello neighbours")
    juans_boost = (await juan.post(f"/api/v1/statuses/{hello['id']}/reblog")).json()
    anas_boost = (await ana.post(f"/api/v1/statuses/{soup['id']}/reblog")).json()
    reply = await juan.toot("@maria I have one", in_reply_to_id=mine["id"])
    dm = await juan.toot("@maria psst", visibility="direct")
    juan_ids = {soup["id"], juans_boost["id"], anas_boost["id"], reply["id"], dm["id"]}

    async def everything_maria_reads() -> set[str]:
        seen: set[str] = set()
        for path, params in (("/api/v1/timelines/home", {}),
                             ("/api/v1/timelines/public", {}),
                             ("/api/v1/timelines/public", {"local": "true"}),
                             ("/api/v1/timelines/tag/food", {}),
                             (f"/api/v1/accounts/{jid}/statuses", {}),
                             (f"/api/v1/accounts/{aid}/statuses", {})):
            seen |= set(await ids_at(maria, path, **params))
        context = (await maria.get(f"/api/v1/statuses/{mine['id']}/context")).json()
        seen |= {s["id"] for s in context["descendants"]}
        notes = (await maria.get("/api/v1/notifications")).json()
        seen |= {n["status"]["id"] for n in notes if n.get("status")}
        seen |= {"from-juan" for n in notes if n["account"]["id"] == jid}
        convs = (await maria.get("/api/v1/conversations")).json()
        seen |= {c["last_status"]["id"] for c in convs if c.get("last_status")}
        found = (await maria.get("/api/v2/search", params={"q": "soupe",
                                                           "type": "statuses"})).json()
        seen |= {s["id"] for s in found["statuses"]}
        return seen

    before = await everything_maria_reads()
    assert juan_ids | {"from-juan"} <= before  # the test can see a leak
    assert (await maria.post(f"/api/v1/accounts/{jid}/block")).status_code == 200
    after = await everything_maria_reads()
    assert not (juan_ids | {"from-juan"}) & after, (juan_ids | {"from-juan"}) & after
    assert hello["id"] in after  # others are still there
    # A direct look-up still answers the blocker (as in Mastodon).
    assert (await maria.get(f"/api/v1/statuses/{soup['id']}")).status_code == 200
    # The blocked member no longer sees the blocker's statuses, nor can reply to them.
    assert (await juan.get(f"/api/v1/statuses/{mine['id']}")).status_code == 404
    assert mine["id"] not in await ids_at(juan, "/api/v1/timelines/public")
    assert await ids_at(juan, f"/api/v1/accounts/{mid}/statuses") == []
    r = await juan.post("/api/v1/statuses", data={"status": "hey",
                                                  "in_reply_to_id": mine["id"]})
    assert r.status_code == 404
    # Unblocking shows it all again.
    assert (await maria.post(f"/api/v1/accounts/{jid}/unblock")).status_code == 200
    assert soup["id"] in await ids_at(maria, "/api/v1/timelines/public")


async def test_streams_leave_out_blocked_and_muted_accounts(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    from api.mastodon.streaming import _render

    maria, juan, ana = three
    jid, aid = await account_id(juan), await account_id(ana)
    soup = await juan.toot("Soup tonight")
    hello = await ana.toot("Hello")
    user = await runtime.accounts.get_user("maria")
    sub = Subscription(runtime.streaming, user, notifications=True)

    async def shown(status_id: str) -> bool:
        return await _render(runtime, sub, StreamEvent("update", ("public",),
                                                       int(status_id))) is not None

    assert await shown(soup["id"]) and await shown(hello["id"])
    await maria.post(f"/api/v1/accounts/{jid}/block")
    await maria.post(f"/api/v1/accounts/{aid}/mute")
    assert not await shown(soup["id"]) and not await shown(hello["id"])


# -- mutes ----------------------------------------------------------------------------------

async def test_mute_hides_from_lists_not_from_look_ups(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    maria, juan, _ = three
    jid, mid = await account_id(juan), await account_id(maria)
    await maria.post(f"/api/v1/accounts/{jid}/follow")
    soup = await juan.toot("Soup tonight")
    await juan.toot("@maria are you coming?")
    r = await maria.post(f"/api/v1/accounts/{jid}/mute", data={"notifications": "false"})
    assert r.status_code == 200, r.text
    assert r.json()["muting"] is True and r.json()["muting_notifications"] is False
    assert r.json()["following"] is True  # a mute ends nothing
    assert soup["id"] not in await ids_at(maria, "/api/v1/timelines/home")
    assert soup["id"] not in await ids_at(maria, "/api/v1/timelines/public")
    assert soup["id"] in await ids_at(maria, f"/api/v1/accounts/{jid}/statuses")
    assert (await maria.get(f"/api/v1/statuses/{soup['id']}")).status_code == 200
    notes = (await maria.get("/api/v1/notifications")).json()
    assert any(n["account"]["id"] == jid for n in notes)  # notifications still come
    r = await maria.post(f"/api/v1/accounts/{jid}/mute",
                         data={"notifications": "true", "duration": "3600"})
    assert r.json()["muting_notifications"] is True
    notes = (await maria.get("/api/v1/notifications")).json()
    assert not any(n["account"]["id"] == jid for n in notes)
    muted = (await maria.get("/api/v1/mutes")).json()
    assert [a["id"] for a in muted] == [jid]
    assert muted[0]["mute_expires_at"] is not None
    # Juan is not told, and sees maria as before.
    assert (await relationship(juan, mid))["muting"] is False
    # An ended mute is over.
    async with runtime.db.write() as conn:
        await conn.execute(update(account_mutes).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    assert soup["id"] in await ids_at(maria, "/api/v1/timelines/home")
    assert await ids_at(maria, "/api/v1/mutes") == []
    await maria.post(f"/api/v1/accounts/{jid}/mute")
    r = await maria.post(f"/api/v1/accounts/{jid}/unmute")
    assert r.json()["muting"] is False
    assert soup["id"] in await ids_at(maria, "/api/v1/timelines/home")
    assert (await maria.post(f"/api/v1/accounts/{jid}/mute",
                             data={"duration": "soon"})).status_code == 400


# -- offers and needs -----------------------------------------------------------------------

async def test_offers_and_answers_across_a_block(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    rt = runtime
    maria_m, juan_m, _ = three
    maria = await rt.accounts.get_user("maria")
    juan = await rt.accounts.get_user("juan")
    need = await rt.posts.create(maria, {"kind": "need", "title": "Moving boxes"})
    anon = await rt.posts.create(maria, {"kind": "need", "title": "Rent help"},
                                 as_neighbor=True)
    offer = await rt.posts.create(juan, {"kind": "offer", "title": "Spare bike"})
    from fediaid.storage.posts import Filters

    async def titles(user: Any) -> set[str]:
        viewer = await rt.posts.viewer_for_user(user)
        return {p.title for p in await rt.posts.search(viewer, Filters())}

    assert "Spare bike" in await titles(maria)
    await maria_m.post(f"/api/v1/accounts/{await account_id(juan_m)}/block")
    assert "Spare bike" not in await titles(maria)
    assert "Moving boxes" not in await titles(juan)
    assert "Rent help" in await titles(juan)  # the group's: nothing tells who asked
    for post in (need, anon):
        with pytest.raises(Forbidden) as err:
            await rt.responses.respond(juan, post.id, message="I can help")
        assert err.value.public == "You cannot answer this post."
    # ... and maria's own lists and pages still have her posts; the offer is reachable.
    assert "Moving boxes" in await titles(maria)
    assert (await rt.posts.get(await rt.posts.viewer_for_user(maria), offer.id)).id == offer.id


# -- other servers ------------------------------------------------------------------------------

async def test_blocking_a_remote_account_federates_block_and_undo(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    rt = runtime
    maria, _, _ = three
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": "http://a.test/users/maria"})
    bid = await lookup(maria, "bob@remote.example")
    assert (await maria.post(f"/api/v1/accounts/{bid}/follow")).status_code == 200
    assert await follow_count(rt) == 2
    before = len(await sent(rt))
    r = await maria.post(f"/api/v1/accounts/{bid}/block")
    assert r.status_code == 200 and r.json()["blocking"] is True
    assert await follow_count(rt) == 0
    out = (await sent(rt))[before:]
    kinds = [(a["type"], a["object"]["type"] if isinstance(a["object"], dict) else None)
             for a in out]
    assert ("Undo", "Follow") in kinds and ("Reject", "Follow") in kinds
    block = next(a for a in out if a["type"] == "Block")
    assert block["actor"] == "http://a.test/users/maria" and block["object"] == bob.uri
    assert all(a["_inbox"] in (bob.inbox, bob.shared_inbox) for a in out)
    # A new Follow from bob is refused while the block lasts.
    await receive(rt, bob, {"id": f"{bob.uri}/follows/2", "type": "Follow", "actor": bob.uri,
                            "object": "http://a.test/users/maria"})
    assert await follow_count(rt) == 0
    assert (await sent(rt))[-1]["type"] == "Reject"
    await maria.post(f"/api/v1/accounts/{bid}/unblock")
    undo = (await sent(rt))[-1]
    assert undo["type"] == "Undo" and undo["object"]["type"] == "Block"
    assert undo["object"]["id"] == block["id"]


async def test_a_remote_block_is_kept_and_obeyed(
        runtime: Runtime, three: tuple[Member, Member, Member],
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime
    maria, _, _ = three
    bob = remote_actor("bob")
    await store(rt, bob)
    bid = await lookup(maria, "bob@remote.example")
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": "http://a.test/users/maria"})
    await maria.post(f"/api/v1/accounts/{bid}/follow")
    assert await follow_count(rt) == 2
    await receive(rt, bob, {"id": f"{bob.uri}/blocks/1", "type": "Block", "actor": bob.uri,
                            "object": "http://a.test/users/maria"})
    assert await follow_count(rt) == 0
    rel = await relationship(maria, bid)
    assert rel["blocked_by"] is True and rel["blocking"] is False
    # Maria's direct statuses are not sent to bob.
    bob_actor = await rt.follows.find_remote_actor(bob.uri)

    async def known(handle: str, **_: Any) -> Any:
        return bob_actor

    monkeypatch.setattr(rt.follows, "find_remote_actor", known)
    before = len(await sent(rt))
    assert (await maria.post("/api/v1/statuses", data={"status": "@bob@remote.example hi",
                                                       "visibility": "direct"})
            ).status_code == 200
    assert [a for a in (await sent(rt))[before:] if a["type"] == "Create"] == []
    # Bob's Undo lifts it; a direct status goes again.
    await receive(rt, bob, {"id": f"{bob.uri}/blocks/1/undo", "type": "Undo",
                            "actor": bob.uri,
                            "object": {"id": f"{bob.uri}/blocks/1", "type": "Block",
                                       "actor": bob.uri,
                                       "object": "http://a.test/users/maria"}})
    assert (await relationship(maria, bid))["blocked_by"] is False
    before = len(await sent(rt))
    await maria.post("/api/v1/statuses", data={"status": "@bob@remote.example hi again",
                                               "visibility": "direct"})
    assert [a["type"] for a in (await sent(rt))[before:]] == ["Create"]


async def test_a_blocked_remote_account_cannot_fetch_the_members_posts(
        runtime: Runtime, client: httpx.AsyncClient,
        three: tuple[Member, Member, Member]) -> None:
    rt = runtime
    maria, _, _ = three
    bob, carol = remote_actor("bob"), remote_actor("carol", "other.example", key=1)
    for who in (bob, carol):
        await store(rt, who)
    user = await rt.accounts.get_user("maria")
    offer = await rt.posts.create(user, {"kind": "offer", "title": "Spare crib"})
    path = offer.uri.removeprefix("http://a.test")

    async def fetch(who: RemoteActor) -> int:
        return (await client.get(path, headers=who.signed_get(offer.uri))).status_code

    assert await fetch(bob) == 200 and await fetch(carol) == 200
    await maria.post(f"/api/v1/accounts/{await lookup(maria, 'bob@remote.example')}/block")
    assert await fetch(bob) == 404 and await fetch(carol) == 200
    # A member's block of a whole server counts too.
    assert (await maria.post("/api/v1/domain_blocks",
                             data={"domain": "other.example"})).status_code == 200
    assert await fetch(carol) == 404


async def test_a_members_own_domain_blocks(
        runtime: Runtime, three: tuple[Member, Member, Member]) -> None:
    rt = runtime
    maria, juan, _ = three
    bob = remote_actor("bob")
    await store(rt, bob)
    note = {"id": f"{bob.uri}/statuses/1", "type": "Note", "attributedTo": bob.uri,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "content": "<p>Hello from afar</p>"}
    await receive(rt, bob, {"id": f"{note['id']}/activity", "type": "Create",
                            "actor": bob.uri, "object": note})
    sid = (await ids_at(juan, "/api/v1/timelines/public"))[0]
    assert sid in await ids_at(maria, "/api/v1/timelines/public")
    r = await maria.post("/api/v1/domain_blocks", data={"domain": "Remote.Example"})
    assert r.status_code == 200 and r.json() == {}
    assert (await maria.get("/api/v1/domain_blocks")).json() == ["remote.example"]
    assert sid not in await ids_at(maria, "/api/v1/timelines/public")
    assert sid in await ids_at(juan, "/api/v1/timelines/public")  # hers alone
    bid = await lookup(maria, "bob@remote.example")
    assert (await relationship(maria, bid))["domain_blocking"] is True
    assert (await maria.post("/api/v1/domain_blocks",
                             data={"domain": "a.test"})).status_code == 422
    r = await maria.client.request("DELETE", "/api/v1/domain_blocks", headers=maria.auth,
                                   data={"domain": "remote.example"})
    assert r.status_code == 200
    assert (await maria.get("/api/v1/domain_blocks")).json() == []
    assert sid in await ids_at(maria, "/api/v1/timelines/public")


# -- web pages --------------------------------------------------------------------------------

async def test_block_and_mute_from_the_profile_page_and_undo_in_settings(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    from tests.api.test_web_pages import HTML, csrf, log_in_with_link

    rt = runtime
    await rt.accounts.create_user("juan")
    await rt.accounts.create_user("maria")
    await log_in_with_link(client, rt, "maria")
    page = (await client.get("/@juan", headers=HTML)).text
    assert 'action="/@juan/block"' in page and 'action="/@juan/mute"' in page
    token = csrf(page)
    refused = await client.post("/@juan/block", data={"csrf": "0" * 32}, headers=HTML)
    assert refused.status_code == 403
    maria = await rt.accounts.get_user("maria")
    juan = await rt.accounts.get_user("juan")
    assert not (await rt.blocks.flags(maria, [juan.actor_id]))[juan.actor_id].blocking
    for action in ("block", "mute"):
        r = await client.post(f"/@juan/{action}", data={"csrf": token}, headers=HTML)
        assert r.status_code == 303 and r.headers["location"] == "/@juan"
    flags = (await rt.blocks.flags(maria, [juan.actor_id]))[juan.actor_id]
    assert flags.blocking and flags.muting
    page = (await client.get("/@juan", headers=HTML)).text
    assert 'action="/@juan/unblock"' in page and 'action="/@juan/unmute"' in page
    settings = (await client.get("/settings/blocks", headers=HTML)).text
    assert settings.count("@juan") == 2  # blocked, and muted
    r = await client.post("/settings/blocks", headers=HTML, data={
        "csrf": csrf(settings), "action": "block_domain", "domain": "spam.example"})
    assert r.status_code == 303
    settings = (await client.get("/settings/blocks", headers=HTML)).text
    assert "spam.example" in settings
    for action in ("unblock", "unmute"):
        r = await client.post("/settings/blocks", headers=HTML, data={
            "csrf": csrf(settings), "action": action, "account": str(juan.actor_id)})
        assert r.status_code == 303
    flags = (await rt.blocks.flags(maria, [juan.actor_id]))[juan.actor_id]
    assert not flags.blocking and not flags.muting
    assert (await client.get("/@maria", headers=HTML)).text.count('action="/@maria/') == 0
