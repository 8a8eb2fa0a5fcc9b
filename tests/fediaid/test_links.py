"""Links between groups (issue 12, "Linking"): the states, the wire, the federation policy,
and who a ``network`` post is sent to. In process, on SQLite and PostgreSQL; two real
instances on loopback: tests/integration/test_links.py."""

from __future__ import annotations

import orjson
import pytest

from fediaid.domain.follows import FollowState
from fediaid.domain.links import (
    LinkError,
    LinkEvent,
    LinkState,
    Share,
    allowed,
    next_state,
    parse_shares,
)
from fediaid.errors import Conflict, Forbidden, Invalid
from fediaid.services.runtime import Runtime
from fediaid.storage import actors as actors_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage import links as links_repo
from fediaid.storage.tables import deliveries
from tests.fediaid.test_inbox_processing import follow_of, outgoing, receive
from tests.support.remote import RemoteActor, remote_actor, store


def test_states_and_transitions() -> None:
    s = next_state(None, LinkEvent.PROPOSE)
    assert s is LinkState.PROPOSED_BY_US
    assert next_state(s, LinkEvent.CONFIRMED) is LinkState.ACTIVE
    assert next_state(LinkState.ACTIVE, LinkEvent.PAUSE) is LinkState.PAUSED
    assert next_state(LinkState.PAUSED, LinkEvent.RESUME) is LinkState.ACTIVE
    assert next_state(None, LinkEvent.RECEIVE) is LinkState.PROPOSED_BY_THEM
    assert next_state(LinkState.PROPOSED_BY_THEM, LinkEvent.ACCEPT) is LinkState.PROPOSED_BY_US
    for state in (LinkState.PROPOSED_BY_US, LinkState.PROPOSED_BY_THEM, LinkState.ACTIVE,
                  LinkState.PAUSED):
        assert next_state(state, LinkEvent.END) is LinkState.ENDED
    assert next_state(LinkState.ENDED, LinkEvent.PROPOSE) is LinkState.PROPOSED_BY_US
    # Nothing skips an approval: a proposal of ours cannot be "accepted" by us, a proposal
    # of theirs cannot become active without our acceptance, an ended link cannot resume.
    assert not allowed(LinkState.PROPOSED_BY_US, LinkEvent.ACCEPT)
    assert not allowed(LinkState.PROPOSED_BY_THEM, LinkEvent.CONFIRMED)
    assert not allowed(None, LinkEvent.CONFIRMED)
    with pytest.raises(LinkError):
        next_state(LinkState.ENDED, LinkEvent.RESUME)
    with pytest.raises(LinkError):
        next_state(LinkState.PROPOSED_BY_US, LinkEvent.PAUSE)
    assert parse_shares(["blocklists", "statistics", "nonsense", 3]) == {
        Share.BLOCKLISTS, Share.STATISTICS}
    assert parse_shares("accountAlerts") == {Share.ACCOUNT_ALERTS}
    assert parse_shares({"a": 1}) == frozenset()


def link_follow(group: RemoteActor, rt: Runtime, n: int = 1,
                shares: list[str] | None = None) -> dict:
    return {**follow_of(group, rt, n), "linkShares": shares or ["blocklists"]}


def accept_of_ours(group: RemoteActor, follow_uri: str, rt: Runtime, n: int = 1) -> dict:
    return {"id": f"{group.uri}/accepts/{n}", "type": "Accept", "actor": group.uri,
            "object": {"id": follow_uri, "type": "Follow", "actor": rt.identity.group.uri,
                       "object": group.uri}}


async def state_of(rt: Runtime, uri: str) -> LinkState | None:
    async with rt.db.read() as conn:
        actor = await actors_repo.get_by_uri(conn, uri)
        link = await links_repo.find(conn, actor.id)
    return link.state if link else None


async def follow_state(rt: Runtime, follower: str, followed: str) -> FollowState | None:
    async with rt.db.read() as conn:
        a = await actors_repo.get_by_uri(conn, follower)
        b = await actors_repo.get_by_uri(conn, followed)
        f = await follows_repo.find(conn, a.id, b.id)
    return f.state if f else None


async def clear(rt: Runtime) -> None:
    async with rt.db.write() as conn:
        await conn.execute(deliveries.delete())


async def test_their_proposal_waits_for_our_coordinators_then_becomes_active(
        runtime: Runtime) -> None:
    rt = runtime
    group = rt.identity.group.uri
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await store(rt, oak)
    await receive(rt, oak, link_follow(oak, rt, shares=["blocklists", "statistics", "x"]))
    assert await state_of(rt, oak.uri) is LinkState.PROPOSED_BY_THEM
    assert await follow_state(rt, oak.uri, group) is FollowState.PENDING
    assert await outgoing(rt) == []  # nothing is answered before a coordinator decides
    async with rt.db.read() as conn:
        link = (await links_repo.all_links(conn))[0]
    assert link.their_shares == {Share.BLOCKLISTS, Share.STATISTICS}
    assert link.handle == "@oak@oak.example"

    member = await rt.accounts.create_user("pat")
    with pytest.raises(Forbidden):
        await rt.links.accept(member, oak.uri)
    coordinator = await rt.accounts.get_user("admin")
    state = await rt.links.accept(coordinator, oak.uri, frozenset({Share.BLOCKLISTS}))
    assert state is LinkState.PROPOSED_BY_US  # ours now waits for their server's Accept
    assert await follow_state(rt, oak.uri, group) is FollowState.ACCEPTED
    sent = [(t, inbox, orjson.loads(p)) for t, inbox, p in await outgoing(rt)]
    assert [(t, inbox) for t, inbox, _ in sent] == [("Accept", oak.shared_inbox),
                                                    ("Follow", oak.shared_inbox)]
    accept, follow = sent[0][2], sent[1][2]
    assert accept["object"]["id"] == f"{oak.uri}/follows/1"
    assert follow["actor"] == group and follow["object"] == oak.uri
    assert follow["linkShares"] == ["blocklists"]
    assert {"fediaid": "https://fediaid.org/ns#",
            "linkShares": {"@id": "fediaid:linkShares", "@container": "@set"}} in (
        follow["@context"])
    await receive(rt, oak, accept_of_ours(oak, follow["id"], rt))
    assert await state_of(rt, oak.uri) is LinkState.ACTIVE
    async with rt.db.read() as conn:
        assert await links_repo.active_domains(conn) == {"oak.example"}
    from fediaid.storage import audit as audit_repo

    async with rt.db.read() as conn:
        entries = await audit_repo.page(conn, before_id=None, limit=10, with_detail=True)
    assert any(e.action == "link_accepted" and "@oak@oak.example" in e.summary
               for e in entries)


async def test_our_proposal_their_confirmation_pause_and_unlink(runtime: Runtime) -> None:
    rt = runtime
    group = rt.identity.group.uri
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    await store(rt, oak)
    assert await rt.links.propose(None, oak.uri) is LinkState.PROPOSED_BY_US
    sent = [(t, orjson.loads(p)) for t, _, p in await outgoing(rt)]
    assert [t for t, _ in sent] == ["Follow"] and "linkShares" in sent[0][1]
    our_follow = sent[0][1]["id"]
    with pytest.raises(Conflict):
        await rt.links.propose(None, oak.uri)  # twice: already proposed
    with pytest.raises(Conflict):
        await rt.links.accept(None, oak.uri)  # ours, not theirs, to accept
    await clear(rt)
    # Their coordinators accept: an Accept of ours and their own link Follow, either order.
    await receive(rt, oak, link_follow(oak, rt))
    assert await state_of(rt, oak.uri) is LinkState.ACTIVE
    assert await follow_state(rt, group, oak.uri) is FollowState.ACCEPTED
    assert await follow_state(rt, oak.uri, group) is FollowState.ACCEPTED
    assert [t for t, _, _ in await outgoing(rt)] == ["Accept"]  # answered by itself
    await receive(rt, oak, accept_of_ours(oak, our_follow, rt))
    assert await state_of(rt, oak.uri) is LinkState.ACTIVE

    assert await rt.links.pause(None, oak.uri) is LinkState.PAUSED
    async with rt.db.read() as conn:
        assert await links_repo.active_domains(conn) == frozenset()
    assert await rt.links.pause(None, oak.uri, resume=True) is LinkState.ACTIVE

    # They unlink: Undo of their Follow; we end it and undo ours.
    await clear(rt)
    await receive(rt, oak, {"id": f"{oak.uri}/undo/1", "type": "Undo", "actor": oak.uri,
                            "object": follow_of(oak, rt)})
    assert await state_of(rt, oak.uri) is LinkState.ENDED
    assert await follow_state(rt, group, oak.uri) is None
    sent = [(t, orjson.loads(p)) for t, _, p in await outgoing(rt)]
    assert [t for t, _ in sent] == ["Undo"] and sent[0][1]["object"]["id"] == our_follow

    # Proposing again after an end starts over; ending it ourselves sends Undo.
    await rt.links.propose(None, oak.uri)
    await clear(rt)
    await rt.links.end(None, oak.uri)
    assert await state_of(rt, oak.uri) is LinkState.ENDED
    assert [t for t, _, _ in await outgoing(rt)] == ["Undo"]


async def test_a_blocked_domain_is_never_linked(runtime: Runtime) -> None:
    rt = runtime
    bad = remote_actor("bad", "bad.example", key=2, type_="Group")
    person = remote_actor("pam", "pam.example", key=3)
    await store(rt, bad)
    await store(rt, person)
    await rt.blocklists.set_rule(None, "bad.example", "suspend")
    with pytest.raises(Forbidden):
        await rt.links.propose(None, bad.uri)
    await receive(rt, bad, link_follow(bad, rt))
    async with rt.db.read() as conn:
        assert await links_repo.all_links(conn) == []
    with pytest.raises(Invalid):
        await rt.links.propose(None, person.uri)  # only groups link
    # A person's "link" Follow is refused: no link, a Reject.
    await receive(rt, person, link_follow(person, rt))
    async with rt.db.read() as conn:
        assert await links_repo.all_links(conn) == []
    assert [t for t, _, _ in await outgoing(rt)] == ["Reject"]


async def test_network_posts_go_to_linked_groups_only(runtime: Runtime) -> None:
    rt = runtime
    oak = remote_actor("oak", "oak.example", key=1, type_="Group")
    fan = remote_actor("fan", "fan.example", key=4)
    for a in (oak, fan):
        await store(rt, a)
    await receive(rt, fan, follow_of(fan, rt))  # a plain follower of the group
    await rt.links.propose(None, oak.uri)
    await receive(rt, oak, link_follow(oak, rt))
    assert await state_of(rt, oak.uri) is LinkState.ACTIVE
    author = await rt.accounts.create_user("ana")

    async def inboxes_for(visibility: str) -> set[str]:
        await clear(rt)
        post = await rt.posts.create(author, {"kind": "need", "title": "A ladder",
                                              "visibility": visibility})
        return {inbox for _, inbox, p in await outgoing(rt) if post.uri in p}

    assert await inboxes_for("network") == {oak.shared_inbox}
    assert await inboxes_for("public") == {oak.shared_inbox, fan.shared_inbox}
    # Signed fetches: an account on the linked group's server is in the network, the
    # plain follower is not.
    await clear(rt)
    post = await rt.posts.create(author, {"kind": "need", "title": "Soup",
                                          "visibility": "network"})
    neighbor = remote_actor("nia", "oak.example", key=5)
    await store(rt, neighbor)
    from fediaid.errors import NotFound

    assert (await rt.discovery.object_document(post.uri, neighbor.uri))["id"] == post.uri
    with pytest.raises(NotFound):
        await rt.discovery.object_document(post.uri, fan.uri)
    await rt.links.pause(None, oak.uri)
    assert await inboxes_for("network") == set()
    with pytest.raises(NotFound):
        await rt.discovery.object_document(post.uri, neighbor.uri)


async def make_linked(rt: Runtime, group: RemoteActor) -> None:
    """An active link with ``group`` (stored already), through the real steps: their
    proposal, our acceptance, their server's Accept."""
    await receive(rt, group, link_follow(group, rt, n=900))
    await rt.links.accept(None, group.uri)
    follow = next(orjson.loads(p) for t, _, p in reversed(await outgoing(rt))
                  if t == "Follow" and group.uri in p)
    await receive(rt, group, accept_of_ours(group, follow["id"], rt, n=900))
    assert await state_of(rt, group.uri) is LinkState.ACTIVE
