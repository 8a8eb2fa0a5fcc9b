"""Authorized fetch (safety issue, privacy), in process on SQLite and PostgreSQL, with signed
GETs from remote actors (tests/support/remote.py).

1. Objects that are not public are served only to signed fetches from actors allowed to see
   them, for every level (network, members, direct; a note at network or direct level; a
   remote-followers-only copy), and never through the collections (outbox, followers) or
   the stored activities, signed or not.
2. Secure mode (``fediaid admin secure-mode on``, Mastodon's AUTHORIZED_FETCH): every
   ActivityPub GET needs a valid signature (actors, outbox, followers, following,
   featured, objects, activities), except the instance actor and the stripped actor
   document that verifying a key needs; WebFinger and NodeInfo stay public; unsigned is
   401 with a plain reason, a bad signature 401, a blocked domain 403; answers vary with
   the signature and are private in secure mode.
"""

from __future__ import annotations

import argparse
import time
import uuid

import httpx
import pytest
from sqlalchemy import select

from fediaid.cli import _admin
from fediaid.services.runtime import Runtime
from fediaid.storage.tables import activities
from tests.api.test_stored_activity_privacy import collection_text
from tests.fediaid.test_links import make_linked
from tests.fediaid.test_post_federation import with_followers
from tests.support.remote import RemoteActor, remote_actor, store

AP = "application/activity+json"
BASE = "http://a.test"


def word() -> str:
    return "secret" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:10])


def path_of(uri: str) -> str:
    return uri.removeprefix(BASE)


async def get(client: httpx.AsyncClient, uri: str, who: RemoteActor | None = None
              ) -> httpx.Response:
    headers = who.signed_get(uri) if who is not None else {"Accept": AP}
    return await client.get(path_of(uri), headers=headers)


class People:
    def __init__(self) -> None:
        self.follower = remote_actor("fran", "follow.example", key=0)  # follows the group
        self.neighbour = remote_actor("nia", "follow.example", key=1)  # same server
        self.stranger = remote_actor("sam", "strange.example", key=2)
        self.named = remote_actor("rita", "named.example", key=3)  # named in direct posts
        # A group linked with ours, and a member on its server (issue 12: the network).
        self.linked = remote_actor("oak", "linked.example", key=4, type_="Group")
        self.linked_member = remote_actor("lia", "linked.example", key=5)


@pytest.fixture
async def people(runtime: Runtime) -> People:
    p = People()
    await with_followers(runtime, p.follower)
    for a in (p.neighbour, p.stranger, p.named, p.linked, p.linked_member):
        await store(runtime, a)
    await make_linked(runtime, p.linked)
    return p


async def activity_uris(rt: Runtime, object_uri: str) -> list[str]:
    async with rt.db.read() as conn:
        return [r[0] for r in await conn.execute(
            select(activities.c.uri).where(activities.c.object_uri == object_uri))]


# -- 1. objects that are not public --------------------------------------------------------

async def test_each_level_is_served_only_to_signed_fetches_allowed_to_see_it(
        runtime: Runtime, client: httpx.AsyncClient, people: People) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    p = people
    texts: dict[str, str] = {}
    uris: dict[str, str] = {}
    for level in ("public", "network", "members", "direct"):
        texts[level] = word()
        data = {"kind": "need", "title": f"Help {texts[level]}", "visibility": level}
        if level == "direct":
            data["recipients"] = [p.named.uri]
        uris[level] = (await rt.posts.create(maria, data, confirm=True)).uri
    everyone: list[RemoteActor | None] = [None, p.follower, p.neighbour, p.stranger, p.named,
                                          p.linked_member]
    def key(who: RemoteActor | None) -> str | None:
        return who.uri if who is not None else None

    allowed: dict[str, set[str | None]] = {
        "public": {key(w) for w in everyone},
        # members of linked groups (their server's accounts), never plain followers
        "network": {p.linked_member.uri},
        "members": set(),  # never leaves the instance
        "direct": {p.named.uri},
    }
    for level, uri in uris.items():
        for who in everyone:
            r = await get(client, uri, who)
            shown = r.status_code == 200 and texts[level] in r.text
            assert shown is (key(who) in allowed[level]), (level, key(who), r.status_code)
            if not shown:
                assert r.status_code == 404 and texts[level] not in r.text
            assert "Signature" in r.headers.get("vary", ""), (level, who)
    # Never through the collections or the stored activities, signed or not.
    for level in ("network", "members", "direct"):
        for who in (None, p.follower, p.named):
            for outbox in ("/groups/elm/outbox", "/users/maria/outbox",
                           "/groups/elm/followers", "/users/maria/followers"):
                headers = who.signed_get(BASE + outbox) if who else {"Accept": AP}
                r = await client.get(outbox, headers=headers)
                assert r.status_code == 200 and texts[level] not in r.text, (level, outbox)
            for uri in await activity_uris(rt, uris[level]):
                r = await get(client, uri, who)
                assert r.status_code == 404 or texts[level] not in r.text, (level, uri)
    assert texts["public"] in await collection_text(client, "/groups/elm/outbox")
    # Who follows the group is nobody's business: the collection shows only its size.
    r = await get(client, BASE + "/groups/elm/followers", p.follower)
    assert p.follower.uri not in r.text and r.json()["totalItems"] == 2  # fran and oak


async def test_notes_that_are_not_public_are_not_served(
        runtime: Runtime, client: httpx.AsyncClient, people: People,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.test_mastodon_statuses import member

    rt = runtime
    p = people
    rita = await rt.follows.find_remote_actor(p.named.uri)

    async def known(handle: str, **_: object) -> object:
        return rita  # @rita@named.example without WebFinger

    monkeypatch.setattr(rt.follows, "find_remote_actor", known)
    maria = await member(rt, client, "maria")
    texts = {v: word() for v in ("public", "private", "direct", "local")}
    uris = {}
    for visibility, text in texts.items():
        status = f"@rita@named.example {text}" if visibility == "direct" else text
        uris[visibility] = (await maria.toot(status, visibility=visibility))["uri"]
    for visibility, uri in uris.items():
        for who in (None, p.follower, p.stranger, p.named):
            r = await get(client, uri, who)
            if visibility == "public":
                assert r.status_code == 200 and texts[visibility] in r.text
            else:
                assert r.status_code == 404 and texts[visibility] not in r.text, (
                    visibility, who)


async def test_a_bad_signature_is_refused_not_read_as_anonymous(
        runtime: Runtime, client: httpx.AsyncClient, people: People) -> None:
    maria = await runtime.accounts.create_user("maria")
    post = await runtime.posts.create(maria, {"kind": "need", "title": "Help",
                                              "visibility": "public"})
    headers = people.follower.signed_get(post.uri, now=time.time() - 3 * 86400)
    assert (await client.get(path_of(post.uri), headers=headers)).status_code == 401


# -- 2. secure mode ----------------------------------------------------------------------------

async def secure_mode(rt: Runtime, value: str) -> None:
    """As ``fediaid admin secure-mode on|off`` does."""
    assert await _admin(rt, argparse.Namespace(admin_command="secure-mode",
                                               value=value)) in (0, None)


async def test_secure_mode_needs_a_signature_for_every_fetch(
        runtime: Runtime, client: httpx.AsyncClient, people: People) -> None:
    rt = runtime
    p = people
    maria = await rt.accounts.create_user("maria")
    post = await rt.posts.create(maria, {"kind": "offer", "title": "Spare crib"})
    [create] = [u for u in await activity_uris(rt, post.uri)
                if "Spare crib" in (await get(client, u)).text][:1]
    documents = [
        BASE + "/groups/elm", BASE + "/users/maria", BASE + "/@maria",
        BASE + "/groups/elm/outbox", BASE + "/groups/elm/outbox?page=1",
        BASE + "/users/maria/outbox", BASE + "/groups/elm/followers",
        BASE + "/groups/elm/following", BASE + "/users/maria/followers",
        BASE + "/groups/elm/featured", BASE + "/users/maria/featured",
        post.uri, create,
    ]
    for uri in documents:  # before: open to anyone
        assert (await get(client, uri)).status_code == 200, uri

    await secure_mode(rt, "on")
    assert rt.authorized_fetch.secure_mode
    for uri in documents:
        r = await get(client, uri)
        if uri in (BASE + "/groups/elm", BASE + "/users/maria", BASE + "/@maria"):
            # What verifying a key needs, nothing more (as Mastodon).
            assert r.status_code == 200, uri
            doc = r.json()
            assert set(doc) <= {"@context", "id", "type", "preferredUsername", "inbox",
                                "outbox", "publicKey", "endpoints"}, uri
            assert doc["publicKey"]["publicKeyPem"].startswith("-----BEGIN")
            assert "name" not in doc and "summary" not in doc and "followers" not in doc
        else:
            assert r.status_code == 401, (uri, r.status_code)
            assert "sign" in r.text.lower()
        assert "Signature" in r.headers.get("vary", ""), uri
        signed = await get(client, uri, p.stranger)
        assert signed.status_code == 200, (uri, signed.status_code, signed.text)
        assert "private" in signed.headers.get("cache-control", ""), uri
    full = (await get(client, BASE + "/users/maria", p.stranger)).json()
    assert "followers" in full and "name" in full
    assert "Spare crib" in (await get(client, post.uri, p.stranger)).text
    # The exceptions: the instance actor, WebFinger, NodeInfo.
    assert "publicKey" in (await client.get("/actor")).json()
    r = await client.get("/.well-known/webfinger",
                         params={"resource": "acct:maria@a.test"})
    assert r.status_code == 200
    assert (await client.get("/.well-known/nodeinfo")).status_code == 200
    nodeinfo = (await client.get("/.well-known/nodeinfo")).json()["links"][0]["href"]
    assert (await client.get(path_of(nodeinfo))).status_code == 200
    # A bad signature is 401; a blocked domain's signature 403.
    stale = p.stranger.signed_get(post.uri, now=time.time() - 3 * 86400)
    assert (await client.get(path_of(post.uri), headers=stale)).status_code == 401
    await rt.moderation.block_domain("strange.example")
    assert (await get(client, post.uri, p.stranger)).status_code == 403
    assert (await get(client, BASE + "/users/maria", p.stranger)).status_code == 403
    # Off again: public documents for anyone.
    await secure_mode(rt, "off")
    for uri in documents:
        r = await get(client, uri)
        assert r.status_code == 200, uri
        assert "private" not in r.headers.get("cache-control", ""), uri
    assert "name" in (await get(client, BASE + "/users/maria")).json()


async def test_secure_mode_is_shared_by_every_process(runtime: Runtime, tmp_path: object,
                                                      db_url: str) -> None:
    """The setting lives in the database and comes with the policy's snapshot."""
    from fediaid.services.federation_policy import FederationPolicy

    await secure_mode(runtime, "on")
    other = FederationPolicy(runtime)
    assert (await other.refresh()).secure_mode is True
    await secure_mode(runtime, "off")
    assert (await other.refresh()).secure_mode is False
