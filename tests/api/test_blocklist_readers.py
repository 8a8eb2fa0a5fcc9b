"""Who reads the shared blocklist (``/groups/<slug>/blocklist``), SQLite and PostgreSQL.

The list can tell who harassed the group, so it goes only to the linked group's own actor,
over an active link on which this group shares ``blocklists`` (``reads_share``, the same
rule as the needs picture): a member's account and the instance actor on that group's
server get the stranger's answer even while the two groups follow each other; a paused,
ended, proposed or not-sharing link gives nobody anything. Every fetch really signed and
verified. Subscribing to a linked group's list fetches it signed with our group actor's
key (a small real HTTP server on loopback records the requests; the signatures are
verified against our actors' published keys).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fediaid.domain.follows import FollowState
from fediaid.domain.links import LinkState, Share
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from tests.api.test_network_picture import link_with
from tests.support.fake_peer import FakePeer
from tests.support.remote import share_readers

AP = "application/activity+json"


async def test_only_the_linked_groups_own_actor_reads_the_blocklist(
        runtime: Runtime, client: httpx.AsyncClient) -> None:
    rt = runtime
    await rt.blocklists.set_rule(None, "harasser.example", "suspend", comment="harassment",
                                 reason="secret")
    group = rt.identity.group
    url = group.uri + "/blocklist"
    path = url.removeprefix(rt.settings.base_url)
    readers = await share_readers(rt)
    oak = readers.oak
    # A real link is a mutual follow between the groups: the domain is "followed" too.
    async with rt.db.write() as conn:
        oak_id = (await actors_repo.get_by_uri(conn, oak.uri)).id
        await follows_repo.create(conn, follower_id=group.id, followed_id=oak_id,
                                  uri=f"{group.uri}#follows/1", state=FollowState.ACCEPTED)
        await follows_repo.create(conn, follower_id=oak_id, followed_id=group.id,
                                  uri=f"{oak.uri}#follows/1", state=FollowState.ACCEPTED)

    async def answers() -> dict[str, tuple[int, str]]:
        return await readers.answers(client, path, url, "list")

    blocklists = frozenset({Share.BLOCKLISTS})
    await link_with(rt, oak.uri, oak.host, ours=blocklists)
    got = await answers()
    assert got["oak"] == (200, "list")
    refused = got["stranger"]
    assert refused[0] == 403
    assert got["member"] == refused and got["instance"] == refused  # as a stranger
    r = await client.get(path, headers=oak.signed_get(url))
    assert [i["domain"] for i in r.json()["items"]] == ["harasser.example"]
    assert "secret" not in r.text

    for state, ours in ((LinkState.PAUSED, blocklists), (LinkState.ENDED, blocklists),
                        (LinkState.ACTIVE, frozenset({Share.STATISTICS})),
                        (LinkState.PROPOSED_BY_THEM, blocklists),
                        (LinkState.PROPOSED_BY_US, blocklists)):
        await link_with(rt, oak.uri, oak.host, state=state, ours=ours)
        got = await answers()
        assert {name: status for name, (status, _) in got.items()} == dict.fromkeys(
            got, 403), (state, ours)

    await link_with(rt, oak.uri, oak.host, ours=blocklists)  # active and sharing again
    got = await answers()
    assert got["oak"] == (200, "list") and got["member"][0] == 403


class ListServer(FakePeer):
    """A linked group's server: its actor naming its blocklist, and the list."""

    def __init__(self) -> None:
        super().__init__()
        self.url = self.actor + "/blocklist"
        self.documents = {
            "/groups/g": {"id": self.actor, "type": "Group", "preferredUsername": "g",
                          "inbox": self.base + "/in", "blocklist": self.url},
            "/groups/g/blocklist": {
                "id": self.url, "type": "DomainBlocklist", "attributedTo": self.actor,
                "updated": "2026-12-06T06:00:00Z", "totalItems": 1,
                "items": [{"domain": "spam.example", "severity": "suspend",
                           "comment": "spam wave"}]}}


@pytest.fixture
def list_server() -> Iterator[ListServer]:
    s = ListServer()
    yield s
    s.close()


async def test_the_blocklist_is_fetched_signed_as_our_group(
        runtime: Runtime, list_server: ListServer) -> None:
    """Subscribing (by the group's actor URL, then by the list's URL) and the scheduled
    fetch: every GET of a linked group's list is signed with our group's key; a server we
    are not linked with gets the instance actor's signature (our group signs for linked
    groups only)."""
    rt = runtime
    group = rt.identity.group

    async def signers(path: str) -> list[str]:
        return await list_server.signers(path, rt)

    # Not linked (this fake server answers anyone; a fediaid one would refuse).
    unlinked, _ = await rt.blocklists.subscribe(None, list_server.url)
    assert await signers("/groups/g/blocklist") == [rt.identity.instance.uri]
    await rt.blocklists.unsubscribe(None, unlinked.id)
    list_server.requests.clear()
    await link_with(rt, list_server.actor, list_server.domain)

    sub, fresh = await rt.blocklists.subscribe(None, list_server.actor)
    assert fresh == 1 and sub.url == list_server.url
    assert await signers("/groups/g/blocklist") == [group.uri]
    await rt.blocklists.fetch(sub)
    assert await signers("/groups/g/blocklist") == [group.uri, group.uri]

    await rt.blocklists.unsubscribe(None, sub.id)
    await rt.blocklists.subscribe(None, list_server.url)  # the list's own address
    assert await signers("/groups/g/blocklist") == [group.uri] * 3
