"""Forwarding unmet needs (issue 12) with three real instances on loopback and a
Mastodon-shaped peer, SQLite and PostgreSQL: A links B and B links C, each sharing
forwarded needs. A's need nobody answered is offered to B once the delay has passed (the
clock moved with ``fediaid admin forward-needs --at``), never before; B's members see it
"From linked groups", a member of B answers it, A's member accepts, they talk across the
two servers; A's member closes it and B's copy closes too. C never sees it (B never
forwards what it received). A members-only need and one whose asker said no are never
offered. A peer that is not fediaid gets the offer as an Announce of a readable Note; once
its domain is blocked it is offered nothing. Unlinking stops forwarding at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import actors, forwarded_needs, group_links, posts
from fediaid.storage.types import utcnow
from tests.integration.helpers import Cluster, Db
from tests.integration.test_crash import ROOT, Sink
from tests.integration.test_offers_needs import api
from tests.support.instances import Instance, finish_cli, free_port, init_all, wait_for

pytestmark = pytest.mark.slow


def state(cluster: Cluster, inst: Instance, other: Instance) -> str | None:
    """The link's state at ``inst`` (read from its database: no command to start)."""
    return cluster.db(inst).scalar(
        select(group_links.c.state).join(actors, actors.c.id == group_links.c.actor_id)
        .where(actors.c.uri == other.group_uri))


def link(cluster: Cluster, a: Instance, b: Instance) -> None:
    a.cli("admin", "link", b.handle, "--share", "forwardedNeeds")
    wait_for(lambda: state(cluster, b, a) == "proposed_by_them")
    b.cli("admin", "link", a.handle)  # accepts, sharing what A shares
    wait_for(lambda: state(cluster, a, b) == state(cluster, b, a) == "active")


def forward(inst: Instance, hours: float) -> int:
    at = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    out = inst.cli("admin", "forward-needs", "--at", at)
    return int(out.rsplit("Offered to linked groups:", 1)[1].split()[0])


def count(db: Db, *where: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(forwarded_needs).where(*where)))


def state_of(db: Db, uri: str) -> str | None:
    return db.scalar(select(posts.c.state).where(posts.c.uri == uri))


def add_peer_group(db: Db, sink: str) -> None:
    """A group actor on a server that is not fediaid (the sink), linked with us and sharing
    forwarded needs, as if the link had been made (the peer only records what it gets)."""
    async def insert(conn: AsyncConnection) -> None:
        now = utcnow()
        actor_id = (await conn.execute(actors.insert().values(
            uri=f"{sink}/users/neighbors", type="Group", username="neighbors",
            domain=sink.split("://", 1)[1], local=False, inbox=f"{sink}/inbox/0",
            shared_inbox=None, key_id=f"{sink}/users/neighbors#main-key",
            manually_approves_followers=False, fetched_at=now, created_at=now,
            updated_at=now).returning(actors.c.id))).scalar_one()
        await conn.execute(group_links.insert().values(
            actor_id=actor_id, state="active", our_shares="forwardedNeeds",
            their_shares="forwardedNeeds", created_at=now, updated_at=now))

    db.run(insert)


def test_a_need_is_forwarded_answered_and_closed_across_linked_groups(
        cluster: Cluster, tmp_path: Path) -> None:
    a, b, c = cluster.new("a"), cluster.new("b"), cluster.new("c")
    init_all(a, b, c)
    sink = Sink(f"http://127.0.0.1:{free_port()}", tmp_path / "sink.jsonl")
    port = int(sink.base.rsplit(":", 1)[1])
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.sink", "--port", str(port),
                             "--inboxes", "1", "--bodies", "--log", str(sink.log)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for inst in (a, b, c):
            inst.launch()
        for inst in (a, b, c):
            inst.wait_up(timeout=60)  # three servers starting on a busy 2-core machine
        wait_for(sink.up)
        link(cluster, b, c)
        link(cluster, a, b)
        # B forwards too: what it received must never go on to C. (Commands run side by
        # side: each one is a Python start.)
        turning_on = [inst.cli_bg("admin", "forward-needs", "--after-hours", "6",
                                  "--settings-only") for inst in (a, b)]
        users = [a.cli_bg("admin", "create-user", "alice"), b.cli_bg("admin", "create-user", "bob")]
        for proc_ in turning_on:
            assert "after 6 hours" in finish_cli(proc_)
        for proc_ in users:
            finish_cli(proc_)
        tokens = [inst.cli_bg("admin", "token", name, "--scopes", "read", "write")
                  for inst, name in ((a, "alice"), (b, "bob"))]
        making_link = b.cli_bg("admin", "login-link", "bob")
        alice, bob = ({"Authorization": "Bearer " + finish_cli(p).strip().splitlines()[-1]}
                      for p in tokens)
        bob_cookie = finish_cli(making_link).strip().splitlines()[-1]
        db_a, db_b, db_c = cluster.db(a), cluster.db(b), cluster.db(c)

        need = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Firewood for the winter", "visibility": "network"})
        api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Members only soup", "visibility": "members"})
        api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Not beyond us", "forward": False})

        # Not before the delay; then once, only the one that may go.
        assert forward(a, 5) == 0
        assert forward(a, 7) == 1
        wait_for(lambda: count(db_b, forwarded_needs.c.outgoing.is_(False)) == 1)

        # B's members see it "From linked groups", with A named.
        with httpx.Client(base_url=b.base, timeout=10, follow_redirects=True) as web:
            web.get(bob_cookie.replace(b.base, ""))
            home = web.get("/").text
            section = home.split("From linked groups", 1)[1].split('id="posts"', 1)[0]
            assert "Firewood for the winter" in section and a.handle in section

            # A member of B answers it; A's member accepts; they talk across the servers.
            remote = wait_for(lambda: [p for p in api(b, "GET", "/posts", bob)
                                       if p["uri"] == need["uri"]])[0]
            api(b, "POST", f"/posts/{remote['id']}/responses", bob,
                json={"message": "I have a truck and wood"})
            answers = wait_for(lambda: api(a, "GET", f"/posts/{need['id']}/responses",
                                           alice))
            conv_a = api(a, "POST", f"/responses/{answers[0]['id']}/accept", alice, json={})
            conv_b = wait_for(lambda: api(b, "GET", "/conversations", bob))[0]
            api(a, "POST", f"/conversations/{conv_a['id']}/messages", alice,
                json={"body": "Saturday morning?"})
            wait_for(lambda: [m["body"] for m in api(
                b, "GET", f"/conversations/{conv_b['id']}", bob)["messages"]]
                == ["Saturday morning?"])

            # Closed at A: closed at B, gone from the section.
            api(a, "POST", f"/posts/{need['id']}/close", alice, json={"outcome": "fulfilled"})
            wait_for(lambda: state_of(db_b, need["uri"]) == "fulfilled")
            assert "Firewood for the winter" not in web.get("/").text.split(
                'id="posts"', 1)[0]

        # B never forwards what it received: C never sees it.
        assert forward(b, 30) == 0
        assert state_of(db_c, need["uri"]) is None
        assert count(db_c) == 0

        # A peer that is not fediaid gets a readable Note it may ignore.
        add_peer_group(db_a, sink.base)
        second = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "A ride to the clinic"})
        assert forward(a, 7) == 2  # B and the peer

        def offered() -> list[dict[str, Any]]:
            return [e["body"] for e in sink.received()
                    if e.get("type") == "Announce" and e["body"].get("forwardedNeed")]

        announce = wait_for(offered)[0]
        assert announce["to"] == [f"{sink.base}/users/neighbors"] and announce["cc"] == []
        note = announce["object"]
        assert note["type"] == "Note" and note["id"] == second["uri"]
        assert "A ride to the clinic" in note["content"]
        assert note["attributedTo"].startswith(a.base)
        assert any(isinstance(term, dict) and term.get("forwardedNeed") == (
            "fediaid:forwardedNeed") for term in announce["@context"])

        # Blocked: never offered anything again.
        a.cli("admin", "block", sink.base.split("://", 1)[1])
        third = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Winter coats", "visibility": "network"})
        assert forward(a, 7) == 1  # B only
        third_id = db_a.scalar(select(posts.c.id).where(posts.c.uri == third["uri"]))
        assert count(db_a, forwarded_needs.c.post_id == third_id) == 1

        # Unlinked: stops at once.
        assert "ended" in a.cli("admin", "unlink", b.handle)
        api(a, "POST", "/posts", alice, json={"kind": "need", "title": "Blankets"})
        assert forward(a, 7) == 0
        assert len(offered()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
