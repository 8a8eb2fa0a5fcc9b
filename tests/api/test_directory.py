"""The directory of groups (issue 12), SQLite and PostgreSQL: this group's entry as JSON
(and named in its actor); a refresh reads linked group B's entry (one hop) and the groups
B links with (two hops: C), served by small real HTTP servers on loopback; the page lists
them and searches by area name; a blocked server is never fetched nor listed; an oversized
or invalid entry is left out and changes nothing already listed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from fediaid.domain.actors import ActorType, RemoteActorData
from fediaid.domain.links import LinkState
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import links as links_repo
from fediaid.storage import posts as posts_repo
from tests.support.fake_peer import FakePeer

AP = "application/activity+json"


class Peer(FakePeer):
    """A group's server: its actor naming a directory, and the directory (or a body set
    by the test: too big, not JSON)."""

    def __init__(self, name: str, areas: list[str]) -> None:
        super().__init__()
        self.name, self.areas = name, areas
        self.links: list[str] = []
        self.body: bytes | None = None  # replaces the directory's when set
        self.documents = {
            "/groups/g": {"id": self.actor, "type": "Group", "preferredUsername": "g",
                          "inbox": self.base + "/in",
                          "directory": self.base + "/directory.json"},
            "/directory.json": lambda: self.body if self.body is not None else self.entry()}

    def entry(self, *, name: str | None = None, pad: int = 0) -> bytes:
        """A valid directory entry (``pad`` spaces more: too big, but still valid)."""
        return json.dumps({
            "id": self.base + "/directory.json", "type": "GroupDirectoryEntry",
            "attributedTo": self.actor, "name": name or self.name,
            "preferredUsername": f"@g@{self.domain}", "areaServed": self.areas,
            "knowsLanguage": ["en", "es"], "telephone": "+15550100",
            "hotlineHours": "Mon-Fri 9-5", "openNeeds": 7, "links": self.links,
            "surprise": "x" * 100}).encode() + b" " * pad


@pytest.fixture
def peers() -> Iterator[dict[str, Peer]]:
    made = {n: Peer(f"Group {n.upper()}", areas) for n, areas in (
        ("b", ["Oak Hill"]), ("c", ["Riverside", "Old Mill"]), ("d", ["Riverside"]),
        ("e", ["Riverside"]), ("f", ["Riverside"]))}
    yield made
    for p in made.values():
        p.close()


async def link_with(rt: Runtime, peer: Peer) -> None:
    async with rt.db.write() as conn:
        actor = await actors_repo.upsert_remote(conn, RemoteActorData(
            uri=peer.actor, type=ActorType.GROUP, username="g", domain=peer.domain,
            name=peer.name, summary=None, inbox=peer.base + "/in", shared_inbox=None,
            outbox=None, followers_url=None, following_url=None, url=None,
            key_id=peer.actor + "#main-key", public_key_pem="-----BEGIN PUBLIC KEY-----",
            icon_url=None, manually_approves_followers=False))
        await links_repo.save(conn, actor.id, LinkState.ACTIVE)


async def test_own_entry_as_json_and_named_in_the_actor(
        runtime: Runtime, client: httpx.AsyncClient, peers: dict[str, Peer]) -> None:
    rt = runtime
    async with rt.db.write() as conn:
        await posts_repo.set_areas(conn, [("elm", "Elm Street"), ("maple", "Maple Park")])
    r = await client.get("/directory.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith(AP)
    assert r.headers["access-control-allow-origin"] == "*"
    doc = r.json()
    assert doc["id"] == rt.settings.base_url + "/directory.json"
    assert doc["type"] == "GroupDirectoryEntry"
    assert doc["attributedTo"] == rt.identity.group.uri
    assert doc["areaServed"] == ["Elm Street", "Maple Park"]
    assert doc["openNeeds"] == "fewer than 5" and doc["links"] == []
    await link_with(rt, peers["b"])
    assert (await client.get("/directory.json")).json()["links"] == [peers["b"].actor]
    actor = (await client.get(rt.identity.group.uri, headers={"Accept": AP})).json()
    assert actor["directory"] == doc["id"]


async def test_two_hops_search_blocked_and_bad_entries(
        runtime: Runtime, client: httpx.AsyncClient, peers: dict[str, Peer]) -> None:
    rt = runtime
    b, c, d, e, f = (peers[n] for n in "bcdef")
    await rt.moderation.block_domain(d.domain)
    await link_with(rt, b)
    b.links = [c.actor, d.actor, e.actor, f.actor, rt.identity.group.uri]
    c.links = [b.actor]
    too_big = rt.settings.fetch_max_bytes + 10
    e.body = e.entry(pad=too_big)
    f.body = b"{not json"

    assert await rt.directory.refresh_due() == 2  # due: never refreshed
    groups = {g.actor_uri: g for g in await rt.directory.groups()}
    assert set(groups) == {b.actor, c.actor}
    assert groups[b.actor].hops == 1 and groups[c.actor].hops == 2
    assert groups[c.actor].entry["areaServed"] == ["Riverside", "Old Mill"]
    assert "surprise" not in groups[b.actor].entry  # only the known fields are kept
    assert d.requests == []  # blocked: never fetched
    assert await rt.directory.refresh_due() is None  # not due again today

    page = (await client.get("/directory")).text
    assert "Group B" in page and "Group C" in page and "Oak Hill" in page
    assert "Group D" not in page and "Group E" not in page and "Group F" not in page
    assert 'href="/directory"' in page  # the footer links to it
    found = (await client.get("/directory", params={"area": "river"})).text
    assert "Group C" in found and "Group B" not in found
    none = (await client.get("/directory", params={"area": "Nowhere"})).text
    assert "Group B" not in none and "Group C" not in none
    assert "No group here serves an area with that name." in none

    # B now publishes a body too big, then one that is not JSON: what was listed stays.
    for bad in (b.entry(name="Changed", pad=too_big), f.body):
        b.body = bad
        await rt.directory.refresh()
        assert {g.actor_uri: g.entry for g in await rt.directory.groups()} == {
            k: v.entry for k, v in groups.items()}

    # Blocked after it was listed: gone from the page at once, not fetched again.
    await rt.moderation.block_domain(c.domain)
    assert [g.actor_uri for g in await rt.directory.groups()] == [b.actor]
    before = len(c.requests)
    await rt.directory.refresh()
    assert len(c.requests) == before

    # A link ended (or started) makes a refresh due at once.
    async with rt.db.write() as conn:
        actor = await actors_repo.find_by_uri(conn, b.actor)
        assert actor is not None
        await links_repo.save(conn, actor.id, LinkState.ENDED)
    assert await rt.directory.refresh_due() == 0
    assert await rt.directory.groups() == []
