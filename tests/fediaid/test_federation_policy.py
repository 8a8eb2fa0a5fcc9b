"""The federation policy: the pure rule (fediaid/domain/federation.py) and every path that
asks it (services/federation_policy.py), in process, on SQLite and PostgreSQL.

A block stops everything both ways: nothing is queued for the domain (public and
network-level posts alike), what was queued is cancelled (also when the worker has already
claimed it), follows with its actors are removed, an allowed actor's Announce of a note on it
is neither fetched nor stored nor shown, and its signed fetches of our objects are refused.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fediaid.domain.federation import (
    Delivery,
    DomainRules,
    clean_domain,
    covers,
    delivery,
    hidden_from_public,
    host_key,
    matching_rule,
    may_exchange,
    may_show,
    refusal,
)
from fediaid.domain.follows import FollowState
from fediaid.domain.visibility import ANONYMOUS
from fediaid.jobs.delivery import DeliveryWorker
from fediaid.services.runtime import Runtime
from fediaid.storage import domains as domains_repo
from fediaid.storage import follows as follows_repo
from fediaid.storage.tables import actors, deliveries, objects, statuses
from tests.fediaid.test_inbox_processing import follow_of, receive
from tests.support.remote import RemoteActor, remote_actor, store

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


# -- the pure rule ---------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "uri", "covered"), [
    ("example.com", "https://example.com/users/a", True),
    ("example.com", "https://sub.example.com/users/a", True),
    ("example.com", "https://a.b.example.com:8443/inbox", True),  # any port, any depth
    ("example.com", "https://EXAMPLE.com./users/a", True),  # case, trailing dot
    ("example.com", "https://user@example.com/x", True),  # user info ignored
    ("example.com", "https://badexample.com/users/a", False),  # whole labels only
    ("example.com", "https://example.com.evil.net/users/a", False),
    ("example.com", "https://com/users/a", False),
    ("sub.example.com", "https://example.com/users/a", False),  # not upwards
    ("example.com:8443", "https://example.com:8443/inbox", True),
    ("example.com:8443", "https://eu.example.com:8443/inbox", True),
    ("example.com:8443", "https://example.com/inbox", False),  # another port, another server
    ("example.com:8443", "https://example.com:9000/inbox", False),
    ("127.0.0.1:8001", "http://127.0.0.1:8001/users/x", True),
    ("127.0.0.1:8001", "http://127.0.0.1:8002/users/x", False),
    ("127.0.0.1", "http://127.0.0.1:8002/users/x", True),
    ("[::1]", "http://[::1]:8000/x", True),
    ("example.com", "example.com:443", True),  # a bare host[:port]
])
def test_rule_coverage(rule: str, uri: str, covered: bool) -> None:
    assert covers(rule, uri) is covered


def test_matching_rule_finds_the_covering_entry_among_many() -> None:
    rules = frozenset({f"spam{i}.example" for i in range(1000)} | {"example.org:8443"})
    assert matching_rule(rules, "https://x.spam517.example/u") == "spam517.example"
    assert matching_rule(rules, "https://a.example.org:8443/u") == "example.org:8443"
    assert matching_rule(rules, "https://a.example.org/u") is None
    assert matching_rule(frozenset(), "https://x/") is None


@pytest.mark.parametrize(("text", "cleaned"), [
    ("Spam.Example", "spam.example"), (" spam.example. ", "spam.example"),
    ("spam.example:8443", "spam.example:8443"), ("127.0.0.1:8001", "127.0.0.1:8001"),
    ("[::1]:8000", "[::1]:8000"),
])
def test_clean_domain(text: str, cleaned: str) -> None:
    assert clean_domain(text) == cleaned


@pytest.mark.parametrize("text", ["", "https://spam.example", "spam.example/path", "a b",
                                  "spam..example", "spam.example:abc", "spam.example:0",
                                  "me@spam.example", "-"])
def test_clean_domain_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        clean_domain(text)


def test_host_key() -> None:
    assert host_key("https://Sub.Example.com:8443/x?y") == ("sub.example.com", 8443)
    assert host_key("example.com") == ("example.com", None)
    assert host_key("not a uri") == ("not a uri", None)
    assert host_key("") == ("", None)


def test_decisions() -> None:
    open_rules = DomainRules()
    assert open_rules.open and may_exchange(open_rules, "https://anything.example/")
    rules = DomainRules(suspended=frozenset({"spam.example"}),
                        silenced=frozenset({"loud.example"}),
                        unavailable=frozenset({"down.example", "up.example:8443"}))
    assert refusal(rules, "https://eu.spam.example/u") == "blocked"
    assert may_exchange(rules, "https://loud.example/u")  # silenced still federates
    assert delivery(rules, "https://spam.example/inbox") is Delivery.DROP
    assert delivery(rules, "https://down.example/inbox") is Delivery.HOLD
    assert delivery(rules, "https://sub.down.example/inbox") is Delivery.SEND  # exact only
    assert delivery(rules, "https://up.example:8443/inbox") is Delivery.HOLD
    assert delivery(rules, "https://up.example/inbox") is Delivery.SEND
    assert not may_show(rules, "https://loud.example/u", viewer_follows=False)
    assert may_show(rules, "https://a.loud.example/u", viewer_follows=True)
    assert not may_show(rules, "https://spam.example/u", viewer_follows=True)
    assert may_show(rules, "https://fine.example/u", viewer_follows=False)
    assert hidden_from_public(rules) == {"spam.example", "loud.example"}


def test_allow_list_decisions() -> None:
    rules = DomainRules(allowed=frozenset({"friends.example", "oak.example:8443"}),
                        suspended=frozenset({"bad.friends.example"}), allow_list_mode=True)
    assert not rules.open
    assert may_exchange(rules, "https://friends.example/u")
    assert may_exchange(rules, "https://eu.friends.example/u")
    assert may_exchange(rules, "https://oak.example:8443/u")
    assert refusal(rules, "https://oak.example/u") == "not on the allow-list"
    assert refusal(rules, "https://stranger.example/u") == "not on the allow-list"
    assert refusal(rules, "https://bad.friends.example/u") == "blocked"  # a block wins
    assert delivery(rules, "https://stranger.example/inbox") is Delivery.DROP
    assert refusal(rules, "urn:uuid:1") == "no host"
    # The allow-list counts only in allow-list mode.
    assert may_exchange(DomainRules(allowed=frozenset({"x.example"})), "https://y.example/")


async def test_sql_coverage_agrees_with_the_rule(runtime: Runtime) -> None:
    """``covered_by`` (deliveries, follows, timelines) covers exactly what matching_rule
    covers, LIKE wildcards in the data included."""
    rt = runtime
    hosts = ["spam.example", "eu.spam.example", "spam.example:8443", "eu.spam.example:99",
             "xspam.example", "spam.example.org", "spam_example", "127.0.0.1:8001",
             "127.0.0.1:8002", "a.b.c.example:1"]
    rules_list = [{"spam.example"}, {"spam.example:8443"}, {"spam_example"},
                  {"127.0.0.1:8001"}, {"c.example"}, {"spam.example", "127.0.0.1"}]
    async with rt.db.write() as conn:
        for i, h in enumerate(hosts):
            await conn.execute(actors.insert().values(
                uri=f"https://{h}/users/{i}", type="Person", username=f"u{i}", domain=h,
                local=False, created_at=utc(), updated_at=utc()))
    for rules in rules_list:
        async with rt.db.read() as conn:
            got = {r[0] for r in await conn.execute(
                select(actors.c.domain).where(actors.c.local.is_(False),
                                              domains_repo.covered_by(actors.c.domain, rules)))}
        assert got == {h for h in hosts if matching_rule(frozenset(rules), h)}, rules


def utc() -> Any:
    from fediaid.storage.types import utcnow

    return utcnow()


# -- the paths that ask it --------------------------------------------------------------------

SPAM = "spam.example"


async def queued_for(rt: Runtime, host: str, *, states: tuple[str, ...] = ("pending", "held")
                     ) -> list[tuple[str, str]]:
    async with rt.db.read() as conn:
        rows = await conn.execute(select(deliveries.c.inbox_url, deliveries.c.state))
        return [(u, s) for u, s in rows if covers(host, u) and s in states]


async def followers(rt: Runtime, *who: RemoteActor) -> None:
    for a in who:
        await store(rt, a)
        await receive(rt, a, follow_of(a, rt))


async def test_a_block_stops_every_post_and_cancels_what_was_queued(runtime: Runtime) -> None:
    rt = runtime
    bob, spammer, sub = (remote_actor("bob"), remote_actor("s", SPAM, key=1),
                         remote_actor("t", "eu." + SPAM, key=2))
    await followers(rt, bob, spammer, sub)
    maria = await rt.accounts.create_user("maria")
    await rt.posts.create(maria, {"kind": "need", "title": "Soup pot", "category": "food",
                                  "area": "Northside"})
    assert len(await queued_for(rt, SPAM)) >= 2  # Accepts and the post: not sent yet
    # The group also follows an account there (the other direction).
    async with rt.db.write() as conn:
        known = await _actor_id(conn, spammer.uri)
        await follows_repo.create(conn, follower_id=rt.identity.group.id, followed_id=known,
                                  uri="http://a.test/follows/x", state=FollowState.ACCEPTED)

    cancelled, removed = await rt.moderation.block_domain(SPAM)
    assert cancelled >= 2 and removed == 3  # two followers there, and our follow of one
    assert await queued_for(rt, SPAM) == []
    assert {s for _, s in await queued_for(rt, SPAM, states=("cancelled",))} == {"cancelled"}
    assert await rt.follows.list(rt.identity.group, "followers") == [bob.uri]
    assert await rt.follows.list(rt.identity.group, "following") == []

    # Public and network-level posts: nothing for the blocked domain; bob still gets both.
    before = len(await queued_for(rt, bob.host))
    await rt.notes.post_as_group("Public soup")
    for visibility in ("public", "network"):
        await rt.posts.create(maria, {"kind": "offer", "title": f"Bread {visibility}",
                                      "category": "food", "area": "Northside",
                                      "visibility": visibility})
    assert await queued_for(rt, SPAM, states=("pending", "held", "done", "failed")) == []
    assert len(await queued_for(rt, bob.host)) > before + 2


async def _actor_id(conn: Any, uri: str) -> int:
    return int((await conn.execute(select(actors.c.id).where(actors.c.uri == uri))
                ).scalar_one())


async def test_a_block_written_elsewhere_cancels_at_claim_and_send_time(runtime: Runtime
                                                                        ) -> None:
    """A block written by another process (the CLI): this process's worker must not send
    what it claims for the domain, nor what it already holds in memory."""
    rt = runtime
    spammer = remote_actor("s", SPAM, key=1)
    await followers(rt, spammer)
    await rt.notes.post_as_group("Soup")
    assert await queued_for(rt, SPAM)
    async with rt.db.write() as conn:  # as `fediaid admin block` in another process would,
        await domains_repo.set_rule(conn, SPAM, blocked=True)  # minus the cancelling
    await rt.policy.refresh()  # what the refresher loop does within REFRESH_SECONDS

    class Recorder:
        posts: list[str] = []

        async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Any:
            self.posts.append(url)
            raise AssertionError(f"sent to {url}")

        async def aclose(self) -> None:
            pass

    rt.set_transport(Recorder())  # type: ignore[arg-type]
    worker = DeliveryWorker(rt, name="test-delivery")
    assert await worker._claim(100) == []  # claimed and cancelled in the same transaction
    assert await queued_for(rt, SPAM) == []
    assert {s for _, s in await queued_for(rt, SPAM, states=("cancelled",))} == {"cancelled"}
    assert Recorder.posts == []
    # Held in memory before the block: dropped at send time.
    from fediaid.storage.outbox import DeliveryJob

    job = DeliveryJob(999, 1, f"https://{SPAM}/inbox", SPAM, 1)
    worker._held[job.id] = time.monotonic() + 60
    assert worker._may_send(job) is False


async def test_an_announce_of_a_note_on_a_blocked_domain_is_not_fetched_stored_or_shown(
        runtime: Runtime) -> None:
    rt = runtime
    bob = remote_actor("bob")
    await store(rt, bob)
    await rt.moderation.block_domain(SPAM)
    fetched: list[str] = []

    async def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return {"id": url, "type": "Note", "attributedTo": f"https://{SPAM}/users/s",
                "content": "spam", "to": [PUBLIC]}

    remote = await rt.remote()
    remote.fetch = fetch  # type: ignore[method-assign]
    note = f"https://{SPAM}/notes/1"
    announce = {"id": f"{bob.uri}/announces/1", "type": "Announce", "actor": bob.uri,
                "object": note, "to": [PUBLIC]}
    # At the inbox: accepted with 202 but not kept.
    body, headers = bob.signed_post("http://a.test/inbox", announce)
    assert await rt.inbox.accept(method="POST", url="http://a.test/inbox", headers=headers,
                                 body=body) is False
    # Stored before the block (or embedded): processing neither fetches nor stores it.
    await receive(rt, bob, announce)
    embedded = {**announce, "id": f"{bob.uri}/announces/2",
                "object": {"id": f"https://{SPAM}/notes/2", "type": "Note",
                           "attributedTo": f"https://{SPAM}/users/s", "content": "x"}}
    await receive(rt, bob, embedded)
    # A note on an allowed server by an author on the blocked one: fetched, then dropped.
    elsewhere = {**announce, "id": f"{bob.uri}/announces/3",
                 "object": "https://fine.example/notes/3"}
    await receive(rt, bob, elsewhere)
    assert fetched == ["https://fine.example/notes/3"]
    async with rt.db.read() as conn:
        assert (await conn.execute(select(objects.c.uri))).all() == []
        assert (await conn.execute(select(statuses.c.uri))).all() == []
    assert await rt.status_reading.public_ids(ANONYMOUS, _page(), local=None) == []


def _page() -> Any:
    from fediaid.domain.paging import Page

    return Page(limit=40)


async def test_fetches_from_a_blocked_domain_never_leave(runtime: Runtime) -> None:
    """The fetch client asks the policy before every request: no connection is attempted
    (the host does not even resolve)."""
    from fediaid.federation.remote import BlockedFetch

    rt = runtime
    await rt.moderation.block_domain("blocked.invalid")
    remote = await rt.remote()
    with pytest.raises(BlockedFetch):
        await remote.fetch("https://sub.blocked.invalid/users/x")
    with pytest.raises(BlockedFetch):
        await remote.webfinger("x@blocked.invalid")
    from fediaid.errors import FediaidError

    with pytest.raises(FediaidError):  # Unavailable, without any network
        await rt.follows.find_remote_actor("https://blocked.invalid/users/x")


async def test_a_signed_fetch_from_a_blocked_domain_is_refused(runtime: Runtime) -> None:
    from activitypub.keys import load_private_key
    from activitypub.signatures import sign_cavage
    from api.app import create_app

    rt = runtime
    spammer = remote_actor("s", SPAM, key=1)
    await store(rt, spammer)  # its key is known: verification alone would pass
    uri = await rt.notes.post_as_group("Soup on Friday")
    maria = await rt.accounts.create_user("maria")
    network = await rt.posts.create(maria, {"kind": "offer", "title": "Bread",
                                            "category": "food", "area": "Northside",
                                            "visibility": "network"})
    await rt.moderation.block_domain(SPAM)

    def signed(url: str) -> dict[str, str]:
        return {"Accept": "application/activity+json"} | sign_cavage(
            method="GET", url=url, headers={}, body=None, key_id=spammer.key_id,
            private_key=load_private_key(spammer.keys.private_pem), now=time.time())

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                 base_url=rt.settings.base_url) as client:
        for target in (uri, network.uri):
            path = target.removeprefix("http://a.test")
            r = await client.get(path, headers=signed(target))
            assert r.status_code == 403, (target, r.status_code, r.text)
        # Unsigned, the public note is still there for anyone.
        r = await client.get(uri.removeprefix("http://a.test"),
                             headers={"Accept": "application/activity+json"})
        assert r.status_code == 200


async def test_allow_list_mode(runtime: Runtime) -> None:
    rt = runtime
    friend, stranger = remote_actor("f", "friends.example", key=1), remote_actor("s", key=2)
    await followers(rt, friend, stranger)
    await rt.notes.post_as_group("Before")
    await rt.policy.allow("friends.example")
    cancelled = await rt.policy.set_allow_list_mode(True)
    assert cancelled >= 1 and await queued_for(rt, stranger.host) == []
    await rt.notes.post_as_group("After")
    assert await queued_for(rt, stranger.host) == []
    assert len(await queued_for(rt, friend.host)) >= 2
    body, headers = stranger.signed_post("http://a.test/inbox", follow_of(stranger, rt, 2))
    from fediaid.errors import Blocked

    with pytest.raises(Blocked):
        await rt.inbox.accept(method="POST", url="http://a.test/inbox", headers=headers,
                              body=body)
    # Taking a domain off the list cancels what waits for it.
    await rt.policy.allow("friends.example", False)
    assert await queued_for(rt, friend.host) == []
    await rt.policy.set_allow_list_mode(False)
    await rt.notes.post_as_group("Open again")
    assert await queued_for(rt, stranger.host)


async def test_silenced_domain(runtime: Runtime) -> None:
    """A silenced domain's content stays out of public timelines, and its accounts' follows
    of the group wait for a coordinator; it still federates."""
    rt = runtime
    loud = remote_actor("l", "loud.example", key=1)
    await store(rt, loud)
    await rt.policy.silence("loud.example")
    await receive(rt, loud, follow_of(loud, rt))
    assert await rt.follows.list(rt.identity.group, "followers",
                                 state=FollowState.PENDING) == [loud.uri]
    note = {"id": f"{loud.uri}/notes/1", "type": "Note", "attributedTo": loud.uri,
            "content": "hello", "to": [PUBLIC], "cc": []}
    await receive(rt, loud, {"id": f"{loud.uri}/creates/1", "type": "Create",
                             "actor": loud.uri, "object": note, "to": [PUBLIC]})
    async with rt.db.read() as conn:
        assert (await conn.execute(select(statuses.c.uri))).scalars().all() == [note["id"]]
    assert await rt.status_reading.public_ids(ANONYMOUS, _page(), local=None) == []
    await rt.policy.silence("loud.example", False)
    assert len(await rt.status_reading.public_ids(ANONYMOUS, _page(), local=None)) == 1


async def test_policy_changes_reach_the_snapshot_and_survive_a_restart(runtime: Runtime
                                                                       ) -> None:
    rt = runtime
    await rt.moderation.block_domain("Spam.Example:8443")
    await rt.policy.silence("loud.example")
    assert rt.policy.rules.suspended == {"spam.example:8443"}
    async with rt.db.read() as conn:
        stored = await domains_repo.load_rules(conn)
    assert stored.suspended == {"spam.example:8443"} and stored.silenced == {"loud.example"}
    await rt.moderation.unblock_domain("spam.example:8443")
    assert rt.policy.rules.open
    from fediaid.errors import Invalid

    with pytest.raises(Invalid):
        await rt.moderation.block_domain("https://spam.example")
