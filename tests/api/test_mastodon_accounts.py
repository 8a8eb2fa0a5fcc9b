"""Accounts in the Mastodon client API, in process: get, lookup, statuses, followers and
following (shown only to the account itself and coordinators), follow and unfollow of
local accounts (immediate, or a request when locked) and remote ones (a Follow from the
member's own actor, accepted when the Accept arrives), relationships, account and v2 search,
follow requests, profile changes (Update(Person) to followers), notifications, scopes and
errors, and the honest empty lists."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from api.mastodon.params import status_draft
from fediaid.domain.actors import Actor
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage.tables import activities, deliveries, follows, notifications
from tests.fediaid.test_inbox_processing import receive
from tests.support.remote import remote_actor, store

ALL = ["read", "write", "follow"]


class Member:
    def __init__(self, name: str, token: str, actor: Actor) -> None:
        self.name = name
        self.token = token
        self.actor = actor
        self.id = str(actor.id)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def member(rt: Runtime, name: str, scopes: list[str] = ALL, *, create: bool = True
                 ) -> Member:
    if create:
        await rt.accounts.create_user(name, display_name=name.title())
    token = await rt.accounts.create_token(name, scopes=scopes)
    user = await rt.accounts.get_user(name)
    return Member(name, token, await rt.accounts.actor_of(user))


async def count(rt: Runtime, table: Any, *where: Any) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(
            select(func.count()).select_from(table).where(*where))).scalar_one())


async def sent(rt: Runtime) -> list[tuple[str, str, dict[str, Any]]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(
            select(activities.c.type, deliveries.c.inbox_url, activities.c.payload)
            .join(deliveries, deliveries.c.activity_id == activities.c.id)
            .order_by(deliveries.c.id))
        return [(r[0], r[1], orjson.loads(r[2])) for r in rows]


async def notes_of(rt: Runtime, m: Member) -> list[tuple[str, int]]:
    user = await rt.accounts.get_user(m.name)
    async with rt.db.read() as conn:
        rows = await conn.execute(select(notifications.c.type, notifications.c.from_actor_id)
                                  .where(notifications.c.user_id == user.id)
                                  .order_by(notifications.c.id))
        return [(r[0], r[1]) for r in rows]


# -- looking accounts up ---------------------------------------------------------------------

async def test_get_lookup_and_errors(runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    r = await client.get(f"/api/v1/accounts/{maria.id}")  # public: no token needed
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == maria.id and body["acct"] == "maria" and body["display_name"] == "Maria"
    assert body["avatar"] and body["header"] and body["created_at"].endswith("Z")
    assert r.headers["access-control-allow-origin"] == "*"

    for acct in ("maria", "@maria", f"maria@{runtime.settings.domain}"):
        r = await client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert r.status_code == 200 and r.json()["id"] == maria.id, acct
    assert (await client.get("/api/v1/accounts/lookup", params={"acct": "nobody"})
            ).status_code == 404
    r = await client.get("/api/v1/accounts/lookup")
    assert r.status_code == 400 and "acct" in r.json()["error"]

    assert (await client.get("/api/v1/accounts/999999")).status_code == 404
    r = await client.get("/api/v1/accounts/abc")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    # The instance's own service actor is not an account.
    instance = runtime.identity.instance.id
    assert (await client.get(f"/api/v1/accounts/{instance}")).status_code == 404
    # A token that is given must be valid.
    r = await client.get(f"/api/v1/accounts/{maria.id}",
                         headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    # The group is an account too.
    group = runtime.identity.group
    r = await client.get(f"/api/v1/accounts/{group.id}")
    assert r.status_code == 200 and r.json()["group"] is True


async def test_account_statuses_respect_visibility_and_page(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    juan = await member(runtime, "juan")
    user = await runtime.accounts.get_user("maria")
    ids = []
    for n in range(3):
        ids.append(await runtime.status_posting.create(
            user, status_draft({"status": f"hello {n} #garden", "visibility": "public"})))
    secret = await runtime.status_posting.create(
        user, status_draft({"status": "@juan just for you #secretplan", "visibility": "direct"}))
    # Anonymous: the public ones, newest first, with Link headers.
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses", params={"limit": 2})
    assert r.status_code == 200
    assert [s["id"] for s in r.json()] == [str(ids[2]), str(ids[1])]
    link = r.headers["link"]
    assert f"max_id={ids[1]}" in link and 'rel="next"' in link and f"min_id={ids[2]}" in link
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses",
                         params={"max_id": ids[1]})
    assert [s["id"] for s in r.json()] == [str(ids[0])]
    # The direct one: only the people in it.
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses", headers=juan.auth)
    assert str(secret) in [s["id"] for s in r.json()]
    third = await member(runtime, "ana")
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses", headers=third.auth)
    assert str(secret) not in [s["id"] for s in r.json()]
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses",
                         params={"tagged": "garden"})
    assert len(r.json()) == 3
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses",
                         params={"tagged": "secretplan"})
    assert r.json() == []
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses",
                         params={"only_media": "true"})
    assert r.status_code == 200 and r.json() == []
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses",
                         params={"exclude_replies": "1", "exclude_reblogs": "1", "limit": 40})
    assert [s["id"] for s in r.json()] == [str(i) for i in reversed(ids)]
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses", params={"pinned": "true"})
    assert r.status_code == 200 and r.json() == []
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses",
                         params={"exclude_replies": "maybe"})
    assert r.status_code == 400
    r = await client.get(f"/api/v1/accounts/{maria.id}/statuses", params={"max_id": "x"})
    assert r.status_code == 400
    assert (await client.get("/api/v1/accounts/424242/statuses")).status_code == 404


# -- following local accounts ------------------------------------------------------------------

async def test_follow_local_member_relationships_and_notification(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    juan = await member(runtime, "juan")
    r = await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=maria.auth)
    assert r.status_code == 200, r.text
    rel = r.json()
    assert rel["id"] == juan.id and rel["following"] is True and rel["requested"] is False
    for key in ("followed_by", "blocking", "blocked_by", "muting", "muting_notifications",
                "requested_by", "domain_blocking", "endorsed", "showing_reblogs",
                "notifying", "languages", "note"):
        assert key in rel
    assert await notes_of(runtime, juan) == [("follow", maria.actor.id)]
    # Following again changes nothing.
    r = await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=maria.auth)
    assert r.json()["following"] is True
    assert await count(runtime, follows) == 1
    assert len(await notes_of(runtime, juan)) == 1
    # Local follows send nothing over the network.
    assert await sent(runtime) == []

    r = await client.get("/api/v1/accounts/relationships",
                         params={"id[]": [juan.id, "999999", maria.id]}, headers=maria.auth)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [juan.id, maria.id]
    assert r.json()[0]["following"] is True and r.json()[0]["followed_by"] is False
    # A single id (Mastodon.py sends ``id=``), from the other side.
    r = await client.get("/api/v1/accounts/relationships", params={"id": maria.id},
                         headers=juan.auth)
    assert r.json()[0]["followed_by"] is True and r.json()[0]["following"] is False

    # Counts on the account entity.
    r = await client.get(f"/api/v1/accounts/{juan.id}")
    assert r.json()["followers_count"] == 1

    r = await client.post(f"/api/v1/accounts/{juan.id}/unfollow", headers=maria.auth)
    assert r.status_code == 200 and r.json()["following"] is False
    assert await count(runtime, follows) == 0
    # Unfollowing someone you do not follow is not an error.
    r = await client.post(f"/api/v1/accounts/{juan.id}/unfollow", headers=maria.auth)
    assert r.status_code == 200 and r.json()["following"] is False


async def test_follow_errors_and_scopes(runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    juan = await member(runtime, "juan")
    reader = await member(runtime, "maria", ["read"], create=False)
    r = await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=reader.auth)
    assert r.status_code == 403 and "scope" in r.json()["error"]
    assert (await client.post(f"/api/v1/accounts/{juan.id}/follow")).status_code == 401
    assert (await client.post("/api/v1/accounts/999999/follow", headers=maria.auth)
            ).status_code == 404
    r = await client.post(f"/api/v1/accounts/{maria.id}/follow", headers=maria.auth)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=maria.auth,
                          data={"reblogs": "sometimes"})
    assert r.status_code == 400
    assert await count(runtime, follows) == 0 and await notes_of(runtime, juan) == []
    # The legacy ``follow`` scope alone is enough (Mastodon.py asks for it).
    legacy = await member(runtime, "maria", ["follow"], create=False)
    r = await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=legacy.auth)
    assert r.status_code == 200 and r.json()["following"] is True
    # relationships needs read:follows.
    writer = await member(runtime, "maria", ["write"], create=False)
    r = await client.get("/api/v1/accounts/relationships", params={"id": juan.id},
                         headers=writer.auth)
    assert r.status_code == 403


async def test_locked_account_gets_requests_and_decides(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    juan = await member(runtime, "juan")
    ana = await member(runtime, "ana")
    r = await client.patch("/api/v1/accounts/update_credentials", headers=juan.auth,
                           data={"locked": "true"})
    assert r.status_code == 200 and r.json()["locked"] is True
    for follower in (maria, ana):
        r = await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=follower.auth)
        assert r.json()["requested"] is True and r.json()["following"] is False
    assert await notes_of(runtime, juan) == [("follow_request", maria.actor.id),
                                             ("follow_request", ana.actor.id)]
    r = await client.get("/api/v1/follow_requests", headers=juan.auth)
    assert r.status_code == 200 and [a["id"] for a in r.json()] == [ana.id, maria.id]
    assert "link" in r.headers
    me = await client.get("/api/v1/accounts/verify_credentials", headers=juan.auth)
    assert me.json()["source"]["follow_requests_count"] == 2
    r = await client.get("/api/v1/accounts/relationships", params={"id": maria.id},
                         headers=juan.auth)
    assert r.json()[0]["requested_by"] is True

    r = await client.post(f"/api/v1/follow_requests/{maria.id}/authorize", headers=juan.auth)
    assert r.status_code == 200 and r.json()["followed_by"] is True
    r = await client.post(f"/api/v1/follow_requests/{ana.id}/reject", headers=juan.auth)
    assert r.status_code == 200 and r.json()["followed_by"] is False
    assert r.json()["requested_by"] is False
    r = await client.get("/api/v1/accounts/relationships", params={"id": juan.id},
                         headers=maria.auth)
    assert r.json()[0]["following"] is True
    assert (await client.get("/api/v1/follow_requests", headers=juan.auth)).json() == []
    # Nothing left to decide: 404, nothing changes.
    r = await client.post(f"/api/v1/follow_requests/{ana.id}/authorize", headers=juan.auth)
    assert r.status_code == 404
    reader = await member(runtime, "juan", ["read"], create=False)
    r = await client.post(f"/api/v1/follow_requests/{maria.id}/reject", headers=reader.auth)
    assert r.status_code == 403
    assert await count(runtime, follows) == 1


async def test_followers_and_following_only_for_oneself_and_coordinators(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    juan = await member(runtime, "juan")
    ana = await member(runtime, "ana")
    admin = await member(runtime, "admin", create=False)  # a coordinator
    for follower in (maria, ana):
        await client.post(f"/api/v1/accounts/{juan.id}/follow", headers=follower.auth)
    r = await client.get(f"/api/v1/accounts/{juan.id}/followers", headers=juan.auth)
    assert r.status_code == 200 and [a["id"] for a in r.json()] == [ana.id, maria.id]
    r2 = await client.get(f"/api/v1/accounts/{juan.id}/followers", headers=juan.auth,
                          params={"limit": 1})
    assert [a["id"] for a in r2.json()] == [ana.id]
    nxt = httpx.URL(r2.headers["link"].split(">")[0].lstrip("<"))
    r3 = await client.get(nxt.path, params=dict(nxt.params), headers=juan.auth)
    assert [a["id"] for a in r3.json()] == [maria.id]
    r = await client.get(f"/api/v1/accounts/{juan.id}/followers", headers=admin.auth)
    assert len(r.json()) == 2
    # Anyone else, anonymous or not: an empty list (the count stays on the account).
    r = await client.get(f"/api/v1/accounts/{juan.id}/followers", headers=maria.auth)
    assert r.status_code == 200 and r.json() == []
    assert (await client.get(f"/api/v1/accounts/{juan.id}/followers")).json() == []
    r = await client.get(f"/api/v1/accounts/{maria.id}/following", headers=maria.auth)
    assert [a["id"] for a in r.json()] == [juan.id]
    assert (await client.get(f"/api/v1/accounts/{maria.id}/following",
                             headers=juan.auth)).json() == []
    assert (await client.get("/api/v1/accounts/999999/followers")).status_code == 404


# -- remote accounts ---------------------------------------------------------------------------

async def test_follow_remote_account_is_federated_and_accepted(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    bob = remote_actor("bob")
    await store(rt, bob)
    async with rt.db.read() as conn:
        bob_actor = await actors_repo.get_by_uri(conn, bob.uri)
    r = await client.post(f"/api/v1/accounts/{bob_actor.id}/follow", headers=maria.auth)
    assert r.status_code == 200
    assert r.json()["requested"] is True and r.json()["following"] is False
    out = await sent(rt)
    assert [(t, inbox) for t, inbox, _ in out] == [("Follow", bob.shared_inbox)]
    follow = out[0][2]
    assert follow["actor"] == maria.actor.uri and follow["object"] == bob.uri
    # Bob's server accepts (embedding the Follow, as Mastodon does).
    await receive(rt, bob, {"id": f"{bob.uri}#accepts/1", "type": "Accept", "actor": bob.uri,
                            "object": {k: v for k, v in follow.items() if k != "@context"}})
    r = await client.get("/api/v1/accounts/relationships", params={"id": str(bob_actor.id)},
                         headers=maria.auth)
    assert r.json()[0]["following"] is True and r.json()[0]["requested"] is False
    # Unfollow: an Undo(Follow) from maria's actor to bob's server.
    r = await client.post(f"/api/v1/accounts/{bob_actor.id}/unfollow", headers=maria.auth)
    assert r.json()["following"] is False
    undo = (await sent(rt))[-1]
    assert undo[0] == "Undo" and undo[2]["object"]["id"] == follow["id"]
    assert undo[2]["actor"] == maria.actor.uri


async def test_remote_reject_and_remote_follower_notification(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    bob = remote_actor("bob")
    await store(rt, bob)
    async with rt.db.read() as conn:
        bob_actor = await actors_repo.get_by_uri(conn, bob.uri)
    await client.post(f"/api/v1/accounts/{bob_actor.id}/follow", headers=maria.auth)
    follow = (await sent(rt))[0][2]
    await receive(rt, bob, {"id": f"{bob.uri}#rejects/1", "type": "Reject", "actor": bob.uri,
                            "object": follow["id"]})
    r = await client.get("/api/v1/accounts/relationships", params={"id": str(bob_actor.id)},
                         headers=maria.auth)
    assert r.json()[0]["following"] is False and r.json()[0]["requested"] is False
    # Bob follows maria: accepted at once, a follow notification, an Accept from maria.
    await receive(rt, bob, {"id": f"{bob.uri}/follows/9", "type": "Follow", "actor": bob.uri,
                            "object": maria.actor.uri})
    assert await notes_of(rt, maria) == [("follow", bob_actor.id)]
    accept = (await sent(rt))[-1]
    assert accept[0] == "Accept" and accept[2]["actor"] == maria.actor.uri
    r = await client.get("/api/v1/accounts/relationships", params={"id": str(bob_actor.id)},
                         headers=maria.auth)
    assert r.json()[0]["followed_by"] is True
    # Locked: a remote follow becomes a request; authorizing sends Accept from maria.
    await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                       json={"locked": True})
    carol = remote_actor("carol")
    await store(rt, carol)
    await receive(rt, carol, {"id": f"{carol.uri}/follows/1", "type": "Follow",
                              "actor": carol.uri, "object": maria.actor.uri})
    async with rt.db.read() as conn:
        carol_actor = await actors_repo.get_by_uri(conn, carol.uri)
    assert (await notes_of(rt, maria))[-1] == ("follow_request", carol_actor.id)
    r = await client.post(f"/api/v1/follow_requests/{carol_actor.id}/authorize",
                          headers=maria.auth)
    assert r.json()["followed_by"] is True
    last = (await sent(rt))[-1]
    assert last[0] == "Accept" and last[1] == carol.shared_inbox
    assert last[2]["object"]["id"] == f"{carol.uri}/follows/1"


async def test_update_credentials_federates_and_validates(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": maria.actor.uri})
    before = len(await sent(rt))
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           data={"display_name": "María G.",
                                 "note": "I bake <bread>\nand fix bikes"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["display_name"] == "María G."
    assert body["note"] == "<p>I bake &lt;bread&gt;<br>and fix bikes</p>"
    assert body["source"]["note"] == "I bake <bread>\nand fix bikes"
    out = await sent(rt)
    assert len(out) == before + 1
    kind, inbox, update = out[-1]
    assert kind == "Update" and inbox == bob.shared_inbox
    assert update["object"]["type"] == "Person" and update["object"]["name"] == "María G."
    assert update["actor"] == maria.actor.uri
    # The actor document served over ActivityPub says the same.
    doc = await client.get(maria.actor.uri, headers={"Accept": "application/activity+json"})
    assert doc.json()["name"] == "María G."

    # Errors: nothing changes.
    bad = [({"display_name": "x" * 31}, 422), ({"note": "y" * 501}, 422),
           ({"locked": "perhaps"}, 400), ({"bot": "true"}, 422),
           ({"discoverable": "true"}, 422), ({"indexable": "true"}, 422),
           ({"source[privacy]": "private"}, 422),
           ({"fields_attributes[0][name]": "web", "fields_attributes[0][value]": "x"}, 422)]
    for data, status in bad:
        r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                               data=data)
        assert r.status_code == status, (data, r.text)
        assert "error" in r.json()
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           files={"avatar": ("a.png", b"\x89PNG", "image/png")})
    assert r.status_code == 422 and "avatar" in r.json()["error"]
    # Values we report may be sent back unchanged.
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           data={"bot": "false", "source[privacy]": "public",
                                 "discoverable": "false", "indexable": "false"})
    assert r.status_code == 200
    assert r.json()["discoverable"] is False and r.json()["source"]["indexable"] is False
    reader = await member(rt, "maria", ["read"], create=False)
    r = await client.patch("/api/v1/accounts/update_credentials", headers=reader.auth,
                           data={"display_name": "Nope"})
    assert r.status_code == 403
    me = await client.get("/api/v1/accounts/verify_credentials", headers=maria.auth)
    assert me.json()["display_name"] == "María G." and me.json()["locked"] is False
    assert len(await sent(rt)) == before + 1


# -- search ------------------------------------------------------------------------------------

async def test_account_search_and_v2_search(runtime: Runtime, client: httpx.AsyncClient
                                            ) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    juan = await member(rt, "juan")
    bob = remote_actor("bob")
    await store(rt, bob)
    user = await rt.accounts.get_user("maria")
    public = await rt.status_posting.create(
        user, status_draft({"status": "#gardening day", "visibility": "public"}))
    await rt.status_posting.create(
        user, status_draft({"status": "@juan #gardenparty secret", "visibility": "direct"}))

    r = await client.get("/api/v1/accounts/search", params={"q": "mar"}, headers=juan.auth)
    assert r.status_code == 200 and [a["id"] for a in r.json()] == [maria.id]
    r = await client.get("/api/v1/accounts/search", params={"q": "bob@remote.example"},
                         headers=juan.auth)
    assert [a["acct"] for a in r.json()] == ["bob@remote.example"]
    r = await client.get("/api/v1/accounts/search", params={"q": bob.uri}, headers=juan.auth)
    assert [a["acct"] for a in r.json()] == ["bob@remote.example"]
    r = await client.get("/api/v1/accounts/search", params={"q": "mar", "following": "true"},
                         headers=juan.auth)
    assert r.json() == []
    await client.post(f"/api/v1/accounts/{maria.id}/follow", headers=juan.auth)
    r = await client.get("/api/v1/accounts/search", params={"q": "mar", "following": "true"},
                         headers=juan.auth)
    assert [a["id"] for a in r.json()] == [maria.id]
    assert (await client.get("/api/v1/accounts/search", params={"q": "mar"})
            ).status_code == 401
    assert (await client.get("/api/v1/accounts/search", headers=juan.auth)).status_code == 400
    # An unknown remote address that cannot be resolved: no results, not an error.
    r = await client.get("/api/v1/accounts/search",
                         params={"q": "nobody@unreachable.invalid", "resolve": "true"},
                         headers=juan.auth)
    assert r.status_code == 200 and r.json() == []
    # Our own domain is never asked over the network: unknown here is unknown.
    r = await client.get("/api/v1/accounts/search", headers=juan.auth,
                         params={"q": f"nobody@{rt.settings.domain}", "resolve": "true"})
    assert r.status_code == 200 and r.json() == []
    r = await client.get("/api/v1/accounts/search", headers=juan.auth,
                         params={"q": f"@maria@{rt.settings.domain}", "resolve": "true"})
    assert [a["id"] for a in r.json()] == [maria.id]

    r = await client.get("/api/v2/search", params={"q": "garden"}, headers=juan.auth)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"accounts", "statuses", "hashtags"}
    # juan may see both tags; someone else only the public one.
    assert {h["name"] for h in body["hashtags"]} == {"gardening", "gardenparty"}
    ana = await member(rt, "ana")
    r = await client.get("/api/v2/search", params={"q": "#garden", "type": "hashtags"},
                         headers=ana.auth)
    assert [h["name"] for h in r.json()["hashtags"]] == ["gardening"]
    assert r.json()["accounts"] == [] and r.json()["statuses"] == []
    r = await client.get("/api/v2/search", params={"q": "garden"})  # anonymous
    assert [h["name"] for h in r.json()["hashtags"]] == ["gardening"]
    # A status by its URL.
    uri = (await client.get(f"/api/v1/statuses/{public}")).json()["uri"]
    r = await client.get("/api/v2/search", params={"q": uri, "type": "statuses"})
    assert [s["id"] for s in r.json()["statuses"]] == [str(public)]
    # Errors.
    assert (await client.get("/api/v2/search")).status_code == 400
    assert (await client.get("/api/v2/search", params={"q": "x", "type": "people"})
            ).status_code == 400
    assert (await client.get("/api/v2/search", params={"q": "bob@remote.example",
                                                       "resolve": "true"})).status_code == 401
    writer = await member(rt, "ana", ["write"], create=False)
    assert (await client.get("/api/v2/search", params={"q": "x"}, headers=writer.auth)
            ).status_code == 403


async def test_search_resolves_remote_address_through_webfinger(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    """``resolve=true`` with an unknown ``name@host``: WebFinger, then the actor document,
    over a mocked network (the real thing: tests/integration/test_mastodon_follow.py)."""
    rt = runtime
    juan = await member(rt, "juan")
    dora = remote_actor("dora", "far.example")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/webfinger":
            assert request.url.params["resource"] == "acct:dora@far.example"
            return httpx.Response(200, json={"subject": "acct:dora@far.example", "links": [
                {"rel": "self", "type": "application/activity+json", "href": dora.uri}]})
        if str(request.url) == dora.uri:
            return httpx.Response(200, json=dora.document(),
                                  headers={"Content-Type": "application/activity+json"})
        return httpx.Response(404)

    remote = await rt.remote()
    remote.client._transport = httpx.MockTransport(handler)  # type: ignore[attr-defined]
    r = await client.get("/api/v2/search", params={"q": "@dora@far.example", "resolve": "true",
                                                   "type": "accounts"}, headers=juan.auth)
    assert r.status_code == 200, r.text
    assert [a["acct"] for a in r.json()["accounts"]] == ["dora@far.example"]
    # Without resolve an unknown address finds nothing... now it is known.
    r = await client.get("/api/v1/accounts/lookup", params={"acct": "dora@far.example"})
    assert r.status_code == 200


# -- empty by design ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/blocks", "/api/v1/mutes", "/api/v1/domain_blocks", "/api/v1/endorsements",
    "/api/v1/featured_tags", "/api/v1/suggestions", "/api/v2/suggestions",
])
async def test_features_we_do_not_have_are_empty_lists(
        runtime: Runtime, client: httpx.AsyncClient, path: str) -> None:
    maria = await member(runtime, "maria")
    r = await client.get(path, headers=maria.auth)
    assert r.status_code == 200 and r.json() == []
    assert (await client.get(path)).status_code == 401


async def test_per_account_empty_lists_and_familiar_followers(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    maria = await member(runtime, "maria")
    for suffix in ("featured_tags", "lists", "identity_proofs"):
        r = await client.get(f"/api/v1/accounts/{maria.id}/{suffix}", headers=maria.auth)
        assert r.status_code == 200 and r.json() == [], suffix
        r = await client.get(f"/api/v1/accounts/999999/{suffix}", headers=maria.auth)
        assert r.status_code == 404, suffix
    r = await client.get("/api/v1/accounts/familiar_followers",
                         params={"id[]": [maria.id, "7"]}, headers=maria.auth)
    assert r.status_code == 200
    assert r.json() == [{"id": maria.id, "accounts": []}, {"id": "7", "accounts": []}]


# -- profile images ----------------------------------------------------------------------------

def photo(size: tuple[int, int], fmt: str = "JPEG") -> bytes:
    """An image whose EXIF carries a camera model and a GPS position (JPEG: and a comment)."""
    import io

    from PIL import Image

    img = Image.new("RGB", size, (30, 120, 200))
    img.paste((200, 60, 20), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0110] = "NeighbourCam 3000"  # Model
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)}  # GPS IFD
    buf = io.BytesIO()
    extra = {"comment": b"taken at 12 Elm St"} if fmt == "JPEG" else {}
    img.save(buf, fmt, exif=exif.tobytes(), **extra)
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)[1] == "N"
    return data


def media_files(rt: Runtime) -> set[str]:
    d = rt.settings.media_dir
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


async def fetch_image(client: httpx.AsyncClient, url: str) -> tuple[bytes, Any]:
    import io

    from PIL import Image

    r = await client.get(url)
    assert r.status_code == 200, url
    assert r.headers["x-content-type-options"] == "nosniff"
    return r.content, Image.open(io.BytesIO(r.content))


async def test_avatar_and_header_are_cleaned_resized_and_federated(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": maria.actor.uri})
    default = (await client.get(f"/api/v1/accounts/{maria.id}")).json()
    assert default["avatar"].endswith("/static/avatar.png") and default["header"]
    before = len(await sent(rt))

    r = await client.patch(
        "/api/v1/accounts/update_credentials", headers=maria.auth,
        data={"display_name": "María"},
        files={"avatar": ("me at home.jpg", photo((1200, 900)), "image/jpeg"),
               "header": ("street.png", photo((3000, 600), "PNG"), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    base = rt.settings.base_url + "/media/"
    assert body["display_name"] == "María"
    assert body["avatar"].startswith(base) and body["avatar_static"] == body["avatar"]
    assert body["header"].startswith(base) and body["header_static"] == body["header"]
    assert "home" not in body["avatar"] and "street" not in body["header"]

    # The files, fetched as any app would: no EXIF, no GPS, no comment; scaled down to fit
    # 400x400 and 1500x500 with the aspect kept.
    data, avatar = await fetch_image(client, body["avatar"])
    assert avatar.format == "JPEG"
    assert b"Exif" not in data and b"NeighbourCam" not in data and b"12 Elm St" not in data
    assert len(avatar.getexif()) == 0 and "comment" not in avatar.info
    w, h = avatar.size
    assert 397 <= w <= 400 and h <= 400 and abs(w / h - 4 / 3) < 0.02, avatar.size
    data, header = await fetch_image(client, body["header"])
    assert header.format == "PNG" and b"NeighbourCam" not in data
    assert "exif" not in header.info and len(header.getexif()) == 0
    w, h = header.size
    assert 1497 <= w <= 1500 and h <= 500 and abs(w / h - 5) < 0.05, header.size
    # Avatar colours survived (left half orange, right half blue).
    left, right = avatar.convert("RGB").getpixel((20, h // 2)), \
        avatar.convert("RGB").getpixel((avatar.width - 20, 100))
    assert left[0] > 150 and right[2] > 150, (left, right)

    # Everyone sees them: the account, and the actor document (icon and image).
    r = await client.get(f"/api/v1/accounts/{maria.id}")
    assert r.json()["avatar"] == body["avatar"] and r.json()["header"] == body["header"]
    doc = (await client.get(maria.actor.uri,
                            headers={"Accept": "application/activity+json"})).json()
    assert doc["icon"] == {"type": "Image", "url": body["avatar"], "mediaType": "image/jpeg"}
    assert doc["image"] == {"type": "Image", "url": body["header"], "mediaType": "image/png"}
    out = await sent(rt)
    assert len(out) == before + 1
    kind, inbox, update = out[-1]
    assert kind == "Update" and inbox == bob.shared_inbox
    assert update["object"]["icon"]["url"] == body["avatar"]
    assert update["object"]["image"]["url"] == body["header"]

    # The sweep of unused uploads leaves profile images alone, however old.
    from datetime import timedelta
    files = media_files(rt)
    assert len(files) == 2
    await rt.media.sweep(unattached_for=timedelta(0), stray_for=timedelta(0))
    assert media_files(rt) == files

    # A new avatar replaces the old one; the old file is deleted.
    old_avatar = body["avatar"]
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           files={"avatar": ("a.png", photo((64, 64), "PNG"), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["avatar"] != old_avatar and r.json()["header"] == body["header"]
    assert (await client.get(old_avatar)).status_code == 404
    assert len(media_files(rt)) == 2
    _, small = await fetch_image(client, r.json()["avatar"])
    assert small.size == (64, 64)  # small images are not scaled up


async def test_bad_profile_images_change_nothing(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": maria.actor.uri})
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           files={"avatar": ("a.jpg", photo((50, 50)), "image/jpeg")})
    assert r.status_code == 200
    me = r.json()
    files, before = media_files(rt), len(await sent(rt))

    bad = [
        # Not an image, with a change that would otherwise be made.
        ({"display_name": "Changed"}, {"avatar": ("a.jpg", b"#!/bin/sh\necho hi", "image/jpeg")},
         "avatar"),
        # A good avatar with a bad header: the avatar is not kept either.
        ({}, {"avatar": ("b.jpg", photo((60, 60)), "image/jpeg"),
              "header": ("h.gif", b"GIF89a broken", "image/gif")}, "header"),
        # A valid image with an invalid other field.
        ({"note": "n" * 501}, {"header": ("h.jpg", photo((60, 60)), "image/jpeg")}, "Note"),
    ]
    for data, files_sent, word in bad:
        r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                               data=data, files=files_sent)
        assert r.status_code == 422, (word, r.text)
        assert word in r.json()["error"]
        assert media_files(rt) == files, word
    # An image given as text (not a file) is refused too.
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           json={"header": "https://elsewhere.example/h.png"})
    assert r.status_code == 422 and "header" in r.json()["error"]
    now = (await client.get("/api/v1/accounts/verify_credentials", headers=maria.auth)).json()
    assert now["display_name"] == me["display_name"] and now["avatar"] == me["avatar"]
    assert now["header"] == me["header"] and now["header"].endswith("/static/avatar.png")
    assert len(await sent(rt)) == before
    # Above the size limit: 413 (the file alone is checked too), nothing stored.
    rt.settings = replace(rt.settings, media_max_bytes=2_000)
    big = photo((300, 300))
    assert len(big) > 2_000
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           files={"avatar": ("big.jpg", big, "image/jpeg")})
    assert r.status_code == 413 and "avatar" in r.json()["error"], r.text
    assert media_files(rt) == files and len(await sent(rt)) == before


async def test_removing_avatar_and_header_resets_to_the_default(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    maria = await member(rt, "maria")
    bob = remote_actor("bob")
    await store(rt, bob)
    await receive(rt, bob, {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
                            "object": maria.actor.uri})
    r = await client.patch("/api/v1/accounts/update_credentials", headers=maria.auth,
                           files={"avatar": ("a.jpg", photo((50, 50)), "image/jpeg"),
                                  "header": ("h.jpg", photo((90, 30)), "image/jpeg")})
    set_ = r.json()
    before = len(await sent(rt))

    reader = await member(rt, "maria", ["read"], create=False)
    assert (await client.delete("/api/v1/profile/avatar", headers=reader.auth)
            ).status_code == 403
    assert (await client.delete("/api/v1/profile/avatar")).status_code == 401
    assert (await client.delete("/api/v1/profile/banner", headers=maria.auth)
            ).status_code == 404

    r = await client.delete("/api/v1/profile/avatar", headers=maria.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["avatar"].endswith("/static/avatar.png") and "source" in body
    assert body["header"] == set_["header"]
    assert (await client.get(set_["avatar"])).status_code == 404
    doc = (await client.get(maria.actor.uri,
                            headers={"Accept": "application/activity+json"})).json()
    # The actor's icon is the default image again, as the client API shows.
    assert doc["icon"]["url"] == body["avatar"] and doc["image"]["url"] == set_["header"]
    out = await sent(rt)
    assert len(out) == before + 1 and out[-1][0] == "Update"
    assert out[-1][2]["object"]["icon"]["url"] == body["avatar"]

    r = await client.delete("/api/v1/profile/header", headers=maria.auth)
    assert r.status_code == 200
    assert r.json()["header"].endswith("/static/avatar.png")
    assert (await client.get(set_["header"])).status_code == 404
    assert media_files(rt) == set()
    # Nothing left to remove: the same answer, nothing sent.
    r = await client.delete("/api/v1/profile/header", headers=maria.auth)
    assert r.status_code == 200 and r.json()["header"].endswith("/static/avatar.png")
    assert len(await sent(rt)) == before + 2
    r = await client.options("/api/v1/profile/avatar")
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
