"""Domain blocks with real processes: a blocked domain gets nothing from us and we take
nothing from it (docs/architecture.md, "Federation policy"), on SQLite and PostgreSQL.

Two sinks (tests/support/sink.py, their own processes) stand for two remote servers, each
with two followers of A's group: ``ok`` and ``blocked``. B is a real instance that is not
blocked and shares a note that lives on the blocked server.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select, update

from activitypub.keys import load_private_key
from activitypub.signatures import sign_cavage
from activitypub.vocab import ACTIVITY_JSON, AS_CONTEXT, PUBLIC
from fediaid.storage.tables import actors, deliveries, inbox_items, objects, statuses
from tests.integration.helpers import Cluster, group_key, post, signed_headers
from tests.integration.test_crash import ROOT, Sink, add_remote_followers, admin_post
from tests.integration.test_federation import dumps
from tests.support.instances import free_port, init_all, start_all, wait_for
from tests.support.remote import keypair


@contextmanager
def sink_process(tmp_path: Path, name: str, inboxes: int) -> Iterator[Sink]:
    port = free_port()
    sink = Sink(f"http://127.0.0.1:{port}", tmp_path / f"{name}.jsonl")
    with (tmp_path / f"{name}.out").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sink", "--port", str(port),
             "--inboxes", str(inboxes), "--log", str(sink.log)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(sink.up, timeout=20, interval=0.05)
        yield sink
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_blocked_domain_gets_nothing_and_gives_nothing(cluster: Cluster,
                                                          tmp_path: Path) -> None:
    """A note queued before `admin block` is cancelled for the blocked server (and its
    follows removed); after the block, a public note reaches the other server and nothing
    reaches the blocked one (a network-level status reaches neither: they are plain
    followers, not linked groups). An Announce by B (allowed) of a note on
    the blocked server is answered 202, never fetched (the sink records no GET), stored or
    shown. A fetch of our note signed by an actor of the blocked server gets 403."""
    a, b = cluster.new("a"), cluster.new("b")
    init_all(a, b)
    db = cluster.db(a)
    with ExitStack() as stack:
        ok = stack.enter_context(sink_process(tmp_path, "ok", 2))
        blocked = stack.enter_context(sink_process(tmp_path, "blocked", 2))
        blocked_domain = blocked.base.split("://", 1)[1]
        add_remote_followers(db, a.group_uri, ok.base, 2)
        add_remote_followers(db, a.group_uri, blocked.base, 2)
        spy = f"{blocked.base}/users/f0"
        db.run(lambda conn: conn.execute(update(actors).where(actors.c.uri == spy).values(
            public_key_pem=keypair(0).public_pem)))

        # Queued while A is down; then blocked: cancelled, and the follows are gone.
        admin_post(a, "Before the block.")

        def to_blocked(*states: str) -> list[str]:
            return [r.state for r in db.rows(select(deliveries.c.state).where(
                deliveries.c.domain == blocked_domain)) if not states or r.state in states]

        assert to_blocked() == ["pending", "pending"]
        out = a.cli("admin", "block", blocked_domain)
        assert "2 deliveries cancelled, 2 follows removed" in out, out
        assert to_blocked() == ["cancelled", "cancelled"]
        assert a.cli("admin", "status").strip().endswith("followers: 2")

        start_all(a, b)
        note_uri = admin_post(a, "After the block.")
        a.cli("admin", "create-user", "maria")
        token = a.cli("admin", "token", "maria").strip().splitlines()[-1]
        r = httpx.post(f"{a.base}/api/v1/statuses", timeout=10,
                       headers={"Authorization": f"Bearer {token}"},
                       json={"status": "Soup for the network", "visibility": "private"})
        assert r.status_code == 200, r.text
        assert r.json()["visibility"] == "private"

        # Everything for the ok server is delivered: two notes on two inboxes. The
        # network-level status is for linked groups only (docs/network.md): A has none.
        def ok_has_all() -> bool:
            got = {(e["path"], e["id"]) for e in ok.received() if "id" in e}
            return len(got) >= 4 and not db.rows(select(deliveries.c.id).where(
                deliveries.c.state.in_(["pending", "held"])))
        wait_for(ok_has_all, timeout=30)
        assert len({(e["path"], e["id"]) for e in ok.received() if "id" in e}) == 4
        assert blocked.received() == []
        assert to_blocked("pending", "held", "done", "failed") == []

        # B (not blocked) shares a note that lives on the blocked server.
        key_id, pem = group_key(cluster.db(b), b)
        inbox = f"{a.group_uri}/inbox"
        shared = f"{blocked.base}/notes/1"
        announce = {"@context": AS_CONTEXT, "id": f"{b.base}/activities/{uuid.uuid4()}",
                    "type": "Announce", "actor": b.group_uri, "object": shared,
                    "to": [PUBLIC]}
        body = dumps(announce)
        resp = post(inbox, body, signed_headers(inbox, body, key_id, pem))
        assert resp.status_code == 202, resp.text
        # A control: the same from B about one of B's own notes is kept.
        control = {**announce, "id": f"{b.base}/activities/{uuid.uuid4()}",
                   "object": f"{b.base}/objects/{uuid.uuid4()}"}
        body = dumps(control)
        assert post(inbox, body, signed_headers(inbox, body, key_id, pem)).status_code == 202
        wait_for(lambda: db.rows(select(inbox_items.c.state).where(
            inbox_items.c.activity_uri == control["id"], inbox_items.c.state != "pending")),
            timeout=20)
        assert not db.rows(select(inbox_items.c.id).where(
            inbox_items.c.activity_uri == announce["id"]))
        assert not db.rows(select(objects.c.id).where(objects.c.uri == shared))
        assert not db.rows(select(statuses.c.id).where(statuses.c.uri == shared))
        assert blocked.stats()["gets"] == 0 and blocked.received() == []

        # A signed fetch by an actor of the blocked server (its key is known here).
        headers = {"Accept": ACTIVITY_JSON} | sign_cavage(
            method="GET", url=note_uri, headers={}, body=None, key_id=f"{spy}#main-key",
            private_key=load_private_key(keypair(0).private_pem), now=time.time())
        r = httpx.get(note_uri, headers=headers, timeout=10)
        assert r.status_code == 403, (r.status_code, r.text)
        assert httpx.get(note_uri, headers={"Accept": ACTIVITY_JSON},
                         timeout=10).status_code == 200
