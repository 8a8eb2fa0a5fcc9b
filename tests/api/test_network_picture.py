"""The network's picture (issue 12), SQLite and PostgreSQL.

Publishing: ``/picture.json`` goes only to a fetch signed by the actor of a group whose link
is active and over which this group shares its statistics; unsigned 401, anyone else 403,
other accounts on the linked group's server (a member, its instance actor) included; the
counts in it are numbers of 5 or more, else "fewer than 5"/"hidden".
Gathering: a linked group's picture is read from a small real HTTP server on loopback (its
actor names the picture; the picture's GET is signed with our group actor's key, checked
there), only when that group shares its statistics with us; the
network page adds its counts to ours, and a combined count with a hidden part stays
hidden; a peer's number below 5 is never shown; an ended link drops the group at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fediaid.domain.actors import ActorType, RemoteActorData, Role
from fediaid.domain.links import LinkState, Share
from fediaid.domain.users import User
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import links as links_repo
from tests.api.test_web_posts import Login
from tests.api.test_web_posts import login as login  # the fixture
from tests.support.fake_peer import FakePeer
from tests.support.remote import remote_actor, share_readers, store

AP = "application/activity+json"


class Peer(FakePeer):
    """A linked group's server: its actor naming a picture, and the picture."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.picture: dict[str, Any] = {}
        self.url = self.base + "/picture.json"
        self.documents = {
            "/groups/g": {"id": self.actor, "type": "Group", "preferredUsername": "g",
                          "inbox": self.base + "/in", "needsPicture": self.url},
            "/picture.json": lambda: self.picture}

    def publish(self, **counts: Any) -> None:
        self.picture = {
            "id": self.url, "type": "NeedsPicture", "attributedTo": self.actor,
            "name": self.name, "updated": "2026-12-06T06:00:00Z", "hideBelow": 5,
            "secret": "never kept", **counts}


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer("Oak Group")
    yield p
    p.close()


async def link_with(rt: Runtime, uri: str, domain: str, *, state: LinkState = LinkState.ACTIVE,
                    ours: frozenset[Share] = frozenset(),
                    theirs: frozenset[Share] = frozenset()) -> None:
    async with rt.db.write() as conn:
        actor = await actors_repo.find_by_uri(conn, uri)
        if actor is None:
            actor = await actors_repo.upsert_remote(conn, RemoteActorData(
                uri=uri, type=ActorType.GROUP, username="g", domain=domain, name="Oak Group",
                summary=None, inbox=uri + "/in", shared_inbox=None, outbox=None,
                followers_url=None, following_url=None, url=None, key_id=uri + "#main-key",
                public_key_pem="-----BEGIN PUBLIC KEY-----", icon_url=None,
                manually_approves_followers=False))
        await links_repo.save(conn, actor.id, state, our_shares=ours, their_shares=theirs)


async def needs(rt: Runtime, category: str, n: int, kind: str = "need") -> None:
    for i in range(n):
        user = await rt.accounts.create_user(f"{kind}{category}{i}".replace("-", ""))
        await rt.posts.create(user, {"kind": kind, "title": f"Something {i}",
                                     "category": category, "visibility": "public"},
                              confirm=True)


def numbers(doc: object) -> list[int]:
    """Every number in a JSON document."""
    if isinstance(doc, bool):
        return []
    if isinstance(doc, int):
        return [doc]
    if isinstance(doc, dict):
        return [n for v in doc.values() for n in numbers(v)]
    if isinstance(doc, list):
        return [n for v in doc for n in numbers(v)]
    return []


async def test_published_only_to_linked_groups_that_we_share_statistics_with(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    await needs(rt, "food", 6)
    await needs(rt, "transport", 2)
    url = rt.settings.base_url + "/picture.json"
    oak = remote_actor("oak", "oak.example", type_="Group")
    stranger = remote_actor("someone", "elsewhere.example", key=1)
    for actor in (oak, stranger):
        await store(rt, actor)

    assert (await client.get("/picture.json")).status_code == 401  # unsigned

    async def fetch(actor: Any = oak) -> httpx.Response:
        return await client.get("/picture.json", headers=actor.signed_get(url))

    assert (await fetch()).status_code == 403  # not linked
    await link_with(rt, oak.uri, oak.host, ours=frozenset({Share.BLOCKLISTS}),
                    theirs=frozenset({Share.STATISTICS}))
    assert (await fetch()).status_code == 403  # linked, but we do not share statistics
    await link_with(rt, oak.uri, oak.host, state=LinkState.PAUSED,
                    ours=frozenset({Share.STATISTICS}))
    assert (await fetch()).status_code == 403  # paused
    await link_with(rt, oak.uri, oak.host, ours=frozenset({Share.STATISTICS}))
    r = await fetch()
    assert r.status_code == 200 and r.headers["content-type"].startswith(AP)
    assert "private" in r.headers["cache-control"]
    doc = r.json()
    assert doc["type"] == "NeedsPicture" and doc["id"] == url
    assert doc["attributedTo"] == rt.identity.group.uri
    rows = {c["key"]: c for c in doc["categories"]}
    assert rows["food"]["needs"] == 6 and rows["food"]["offers"] == "fewer than 5"
    assert rows["transport"]["needs"] in ("fewer than 5", "hidden")
    assert doc["needs"] in (8, "hidden")
    assert all(n >= 5 for n in numbers({k: v for k, v in doc.items() if k != "@context"}))
    assert (await fetch(stranger)).status_code == 403  # a server not linked
    await rt.moderation.block_domain(oak.host)
    assert (await fetch()).status_code in (401, 403)  # blocked: refused
    actor_doc = (await client.get(rt.identity.group.uri, headers={"Accept": AP})).json()
    assert actor_doc["needsPicture"] == url


async def test_only_the_linked_groups_own_actor_reads_the_picture(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    """The link is between two groups: another account on the linked group's server (a
    member's, its instance actor, anyone's on a server hosting many) is answered as a
    stranger is, and nobody on it gets the picture over a link paused, ended or not sharing
    statistics. Every fetch really signed, verified against the signer's published key."""
    rt = runtime
    await needs(rt, "food", 6)
    url = rt.settings.base_url + "/picture.json"
    readers = await share_readers(rt)
    oak = readers.oak

    async def answers() -> dict[str, tuple[int, str]]:
        return await readers.answers(client, "/picture.json", url, "picture")

    statistics = frozenset({Share.STATISTICS})
    await link_with(rt, oak.uri, oak.host, ours=statistics)
    got = await answers()
    assert got["oak"] == (200, "picture")
    refused = got["stranger"]
    assert refused[0] == 403
    assert got["member"] == refused and got["instance"] == refused  # as a stranger

    for state, ours in ((LinkState.PAUSED, statistics), (LinkState.ENDED, statistics),
                        (LinkState.ACTIVE, frozenset({Share.BLOCKLISTS})),
                        (LinkState.PROPOSED_BY_THEM, statistics)):
        await link_with(rt, oak.uri, oak.host, state=state, ours=ours)
        got = await answers()
        assert {name: status for name, (status, _) in got.items()} == dict.fromkeys(
            got, 403), (state, ours)

    await link_with(rt, oak.uri, oak.host, ours=statistics)  # active again
    got = await answers()
    assert got["oak"] == (200, "picture") and got["member"][0] == 403


async def test_the_picture_is_fetched_signed_as_our_group(runtime: Runtime,
                                                          peer: Peer) -> None:
    """A linked group gives its picture only to our group's own actor: the GET of the
    picture is signed with the group's key (the actor's GET with the instance actor's)."""
    rt = runtime
    peer.publish(needs=40, categories=[{"key": "food", "needs": 10, "offers": 5}])
    await link_with(rt, peer.actor, peer.domain, theirs=frozenset({Share.STATISTICS}))
    assert await rt.network_picture.refresh() == 1
    group = rt.identity.group

    async def signer(path: str) -> str:
        return (await peer.signers(path, rt))[-1]  # its last GET

    assert await signer("/picture.json") == group.uri
    assert await signer("/groups/g") == rt.identity.instance.uri


async def member(rt: Runtime) -> User:
    return await rt.accounts.create_user("netreader", role=Role.MEMBER)


async def test_network_adds_a_linked_groups_counts_and_hides_small_ones(
        runtime: Runtime, login: Login, peer: Peer) -> None:
    rt = runtime
    await needs(rt, "food", 6)
    await needs(rt, "tools", 5, kind="offer")
    await needs(rt, "transport", 2)
    peer.publish(
        needs=40, offers=12, openNeeds=9,
        categories=[
            {"key": "food", "name": "Groceries", "needs": 10, "offers": "fewer than 5"},
            {"key": "transport", "name": "Rides", "needs": "fewer than 5", "offers": 6},
            {"key": "housing", "name": "Housing", "needs": 3, "offers": "fewer than 5"},
            {"key": "tools", "name": "Tools", "needs": 7, "offers": "fewer than 5"},
            {"key": "(other)", "name": "", "needs": 20, "offers": 6}],
        areas=[{"key": "oak-hill", "name": "Oak Hill", "needs": 40, "offers": 12}],
        months=[{"key": "2026-12", "needs": 40, "offers": 12}, {"key": "bad", "needs": 5}],
        waiting=[{"key": "14+", "needs": 5}, {"key": "0-3", "needs": "fewer than 5"}],
        openByCategory=[{"key": "food", "name": "Groceries", "needs": 9}])

    # Linked, but they do not share their statistics: nothing fetched.
    await link_with(rt, peer.actor, peer.domain, theirs=frozenset({Share.BLOCKLISTS}))
    assert await rt.network_picture.refresh_due() == 0
    assert peer.requests == []
    # Now they do: a refresh is due at once.
    await link_with(rt, peer.actor, peer.domain, theirs=frozenset({Share.STATISTICS}))
    assert await rt.network_picture.refresh_due() == 1
    assert await rt.network_picture.refresh_due() is None  # not again today

    reader = await member(rt)
    net = await rt.network_picture.network(reader)
    assert [g.name for g in net.groups][1:] == ["Oak Group"]
    rows = {r.key: r for r in net.categories}
    assert rows["food"].cells[0].value == 16  # 6 here + 10 there
    food_offers = rows["food"].cells[1]  # two "fewer than 5": not shown, not "fewer than 5"
    assert food_offers.value is None and not food_offers.small
    transport = rows["transport"].cells  # ours 2 ("fewer than 5"), theirs 6 offers
    assert transport[0].value is None
    assert transport[1].value is None and transport[1].at_least == 6
    assert rows["housing"].cells[0].value is None  # their 3 is read as "fewer than 5"
    assert [r.key for r in net.requested][:1] == ["food"]
    assert [m.key for m in net.matches] == ["tools"]  # offered here, lacking there
    assert [r.key for r in net.months if r.key == "bad"] == []
    assert net.unmet[1].waited_long.value == 5
    assert net.needs.value is None or net.needs.value >= 40

    client = await login("reader")
    page = (await client.get("/picture/network")).text
    assert "Oak Group" in page and ">16<" in page
    assert "never kept" not in page and ">3<" not in page
    assert 'href="/picture/network"' in (await client.get("/picture")).text
    assert (await client.get("/picture/network", follow_redirects=False)).status_code == 200

    # A picture that cannot be read now: the one read last time is kept.
    peer.picture = {"type": "Note"}
    assert await rt.network_picture.refresh() == 1
    assert len((await rt.network_picture.network(reader)).groups) == 2

    # The link ends: the group is left out at once, and a refresh is due.
    await link_with(rt, peer.actor, peer.domain, state=LinkState.ENDED,
                    theirs=frozenset({Share.STATISTICS}))
    net = await rt.network_picture.network(reader)
    assert len(net.groups) == 1
    assert await rt.network_picture.refresh_due() == 0

    # Linked again, then its server blocked: left out at once, and never fetched.
    peer.publish(needs=40, categories=[{"key": "food", "needs": 10, "offers": 5}])
    await link_with(rt, peer.actor, peer.domain, theirs=frozenset({Share.STATISTICS}))
    assert await rt.network_picture.refresh_due() == 1
    await rt.moderation.block_domain(peer.domain)
    assert len((await rt.network_picture.network(reader)).groups) == 1
    before = len(peer.requests)
    await rt.network_picture.refresh()
    assert len(peer.requests) == before
