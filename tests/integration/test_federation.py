"""Federation between real instances: separate `fediaid serve` processes on loopback ports,
real HTTP, real signatures, each on SQLite and (when reachable) PostgreSQL.

What is observed is what a peer or an operator can see: the followers collection over
HTTP, and each instance's own database (read directly with SQLAlchemy).
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from activitypub.vocab import ACTIVITY_JSON, AS_CONTEXT, PUBLIC
from fediaid.storage.tables import activities, deliveries, follows, inbox_items, objects
from fediaid.storage.tables import actors as actors_t
from tests.integration.helpers import (
    Cluster,
    Db,
    followers_total,
    group_key,
    post,
    signed_headers,
)
from tests.support.instances import (
    Instance,
    finish_cli,
    free_port,
    init_all,
    start_all,
    wait_for,
)

pytestmark = pytest.mark.slow


# -- observations ---------------------------------------------------------------------------
def follow_state(db: Db, follower: Instance, followed: Instance) -> str | None:
    """State of ``follower``'s group following ``followed``'s group, in ``db``."""
    a, b = aliased(actors_t), aliased(actors_t)
    rows = db.rows(
        select(follows.c.state)
        .select_from(follows.join(a, a.c.id == follows.c.follower_id)
                     .join(b, b.c.id == follows.c.followed_id))
        .where(a.c.uri == follower.group_uri, b.c.uri == followed.group_uri))
    return rows[0].state if rows else None


def stored_object(db: Db, uri: str) -> Any:
    rows = db.rows(select(objects).where(objects.c.uri == uri))
    return rows[0] if rows else None


def inbox_rows(db: Db, activity_uri: str) -> list[Any]:
    return db.rows(select(inbox_items).where(inbox_items.c.activity_uri == activity_uri))


def deliveries_of(db: Db, object_uri: str) -> list[Any]:
    """A's deliveries of the activities about ``object_uri`` (the Create of a note)."""
    return db.rows(
        select(deliveries, activities.c.uri.label("activity_uri"))
        .select_from(deliveries.join(activities, activities.c.id == deliveries.c.activity_id))
        .where(activities.c.object_uri == object_uri))


def admin_post(inst: Instance, text: str) -> str:
    """`fediaid admin post`; returns the note's URI (the command's last line)."""
    return inst.cli("admin", "post", text).strip().splitlines()[-1]


def mutual_ready(cluster: Cluster, *pairs: tuple[Instance, Instance], timeout: float = 20
                 ) -> None:
    """Wait until each (follower, followed) follow is accepted on both sides."""
    def done() -> bool:
        return all(
            follow_state(cluster.db(f), f, g) == "accepted"
            and follow_state(cluster.db(g), f, g) == "accepted"
            for f, g in pairs
        )

    wait_for(done, timeout=timeout)


def create_note_activity(author: Instance, text: str) -> dict[str, Any]:
    obj_id = f"{author.base}/objects/{uuid.uuid4()}"
    note = {"id": obj_id, "type": "Note", "attributedTo": author.group_uri,
            "content": f"<p>{text}</p>", "to": [PUBLIC],
            "published": "2026-01-01T12:00:00Z"}
    return {"@context": AS_CONTEXT, "id": f"{author.base}/activities/{uuid.uuid4()}",
            "type": "Create", "actor": author.group_uri, "to": [PUBLIC], "object": note}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


# -- tests ----------------------------------------------------------------------------------
def test_follow_publish_unfollow_redeliver(cluster: Cluster) -> None:
    """B and A follow each other, C follows A: every follow ends accepted on both sides. A's
    note reaches B and C, signed and verified. After B unfollows, A's next note goes to C
    only: A queues no delivery to B and B never stores it. Then C is stopped and A posts
    again: the delivery fails, is retried with the scaled backoff, and reaches C once C is
    back up. A's `fediaid init` runs every migration on its empty database, as a new
    installation does (the other instances of these tests start from a migrated copy)."""
    a, b, c = cluster.new("a", fresh_database=True), cluster.new("b"), cluster.new("c")
    init_all(a, b, c)
    start_all(a, b, c)
    outs = [finish_cli(p) for p in (b.cli_bg("admin", "follow", a.handle),
                                    c.cli_bg("admin", "follow", a.handle))]
    mutual_ready(cluster, (b, a))
    # A follows back once it knows B: starting both follows at the same moment races two
    # processes storing B's actor in A's database (see test_races.py).
    outs.append(a.cli("admin", "follow", b.handle))
    assert all(": pending" in out for out in outs), outs
    mutual_ready(cluster, (b, a), (a, b), (c, a))
    assert followers_total(a) == 2
    assert followers_total(b) == 1
    assert followers_total(c) == 0

    # A publishes: B and C receive, verify (signer = A's group key) and store the note.
    note1 = admin_post(a, "Soup kitchen at the church hall, 6pm.")
    for peer in (b, c):
        row = wait_for(lambda peer=peer: stored_object(cluster.db(peer), note1))
        assert row.type == "Note" and not row.local
        assert row.attributed_to == a.group_uri
        assert "Soup kitchen at the church hall, 6pm." in row.content
        creates = cluster.db(peer).rows(select(inbox_items).where(
            inbox_items.c.type == "Create", inbox_items.c.actor_uri == a.group_uri))
        assert len(creates) == 1
        assert creates[0].signer_key_id == f"{a.group_uri}#main-key"
        item_id = creates[0].id
        wait_for(lambda peer=peer, item_id=item_id: cluster.db(peer).scalar(
            select(inbox_items.c.state).where(inbox_items.c.id == item_id)) == "done")
    sent1 = wait_for(lambda: (rows := deliveries_of(cluster.db(a), note1))
                     and all(d.state == "done" for d in rows) and rows)
    assert sorted(d.domain for d in sent1) == sorted([b.domain, c.domain])

    # B unfollows A: A's follower count drops, the follow is gone on both sides.
    assert "no longer follows" in b.cli("admin", "unfollow", a.handle)
    assert follow_state(cluster.db(b), b, a) is None
    wait_for(lambda: followers_total(a) == 1)
    assert follow_state(cluster.db(a), b, a) is None
    assert follow_state(cluster.db(a), c, a) == "accepted"
    assert follow_state(cluster.db(b), a, b) == "accepted"  # the other direction is untouched

    # A publishes again: only C gets it.
    note2 = admin_post(a, "Second announcement: tool library opens Saturday.")
    wait_for(lambda: stored_object(cluster.db(c), note2))
    rows2 = deliveries_of(cluster.db(a), note2)
    assert [r.domain for r in rows2] == [c.domain]
    assert not any(r.inbox_url.startswith(b.base) for r in rows2)
    wait_for(lambda: all(r.state == "done" for r in deliveries_of(cluster.db(a), note2)))
    assert stored_object(cluster.db(b), note2) is None
    assert not cluster.db(b).rows(select(inbox_items.c.id).where(
        inbox_items.c.payload.contains(note2)))

    # C goes down; A publishes; the delivery fails and is retried with the (scaled) backoff
    # until C is back, which then receives and stores the note.
    c.stop()
    note3 = admin_post(a, "Power outage: phone chargers at the library.")

    def failed_once() -> Any:
        rows = deliveries_of(cluster.db(a), note3)
        return rows and rows[0].attempts >= 1 and rows[0].state == "pending" \
            and rows[0].last_error and rows[0]

    first = wait_for(failed_once, timeout=15)
    assert first.domain == c.domain
    assert first.last_status is None  # no HTTP answer: connection refused
    # Retry n waits (n**4 + 15 + jitter) s x FEDIAID_DELIVERY_RETRY_SCALE (0.02): well under
    # a second for the first retries, instead of 15 s and more.
    wait = (first.next_attempt_at - first.created_at).total_seconds()
    assert 0.3 <= wait < 10, wait
    c.start()
    row = wait_for(lambda: stored_object(cluster.db(c), note3), timeout=30)
    assert row.attributed_to == a.group_uri
    done = wait_for(lambda: [d for d in deliveries_of(cluster.db(a), note3)
                             if d.state == "done"], timeout=10)
    assert len(done) == 1 and done[0].attempts >= 2
    assert done[0].last_error is None and 200 <= done[0].last_status < 300


def test_inbox_checks_deduplicates_and_blocks(cluster: Cluster) -> None:
    """A's inbox: a tampered body (with the old or a recomputed digest) 401, an activity
    signed by someone other than its actor 401, an unsigned one 401, an expired signature
    401, 2 MiB 413 (declared or streamed), a wrong content type 415, malformed JSON with a
    valid signature 400. None of them stores anything; the untampered original then gets
    202 and is stored as sent.

    The same signed Follow POSTed twice, then four more times at once: every POST gets
    202, one inbox row, processed once (one follow, one Accept). After `admin block` of B's
    host:port (and a restart), B's activities get 403 and nothing is stored, while an actor
    on another port of the same IP is not blocked."""
    a, b = cluster.new("a"), cluster.new("b")
    init_all(a, b)
    start_all(a, b)
    key_id, pem = group_key(cluster.db(b), b)
    inbox = f"{a.group_uri}/inbox"
    activity = create_note_activity(b, "Offering: two bags of apples.")
    body = dumps(activity)
    good = signed_headers(inbox, body, key_id, pem)

    def refused(status: int, resp: httpx.Response) -> None:
        assert resp.status_code == status, (resp.status_code, resp.text)
        assert "error" in resp.json()

    tampered = body.replace(b"two bags", b"ten bags")
    assert tampered != body and len(tampered) == len(body)
    refused(401, post(inbox, tampered, good))  # digest no longer matches

    forged = dict(good)
    forged.update({k: v for k, v in signed_headers(inbox, tampered, key_id, pem).items()
                   if k == "Digest"})
    refused(401, post(inbox, tampered, forged))  # digest fixed, signature does not match

    impostor = dumps({**activity, "actor": a.group_uri, "id": activity["id"] + "-x"})
    refused(401, post(inbox, impostor, signed_headers(inbox, impostor, key_id, pem)))
    refused(401, post(inbox, body, {"Content-Type": ACTIVITY_JSON}))  # unsigned
    refused(401, post(inbox, body, signed_headers(inbox, body, key_id, pem,
                                                  now=time.time() - 3 * 3600)))

    huge = b'{"type":"Create","actor":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    refused(413, post(inbox, huge, {"Content-Type": ACTIVITY_JSON}))

    def chunks() -> Any:
        for i in range(0, len(huge), 64 * 1024):
            yield huge[i:i + 64 * 1024]

    try:
        streamed = httpx.post(inbox, content=chunks(), timeout=10,
                              headers={"Content-Type": ACTIVITY_JSON})
    except httpx.HTTPError as exc:  # the server may close before the client finished
        pytest.fail(f"streamed 2 MiB body: no 413 answer ({exc!r})")
    refused(413, streamed)

    refused(415, post(inbox, body, signed_headers(inbox, body, key_id, pem,
                                                  content_type="text/plain")))
    broken = body[:-7]
    refused(400, post(inbox, broken, signed_headers(inbox, broken, key_id, pem)))
    listed = dumps([activity])
    refused(400, post(inbox, listed, signed_headers(inbox, listed, key_id, pem)))

    db = cluster.db(a)
    assert db.scalar(select(func.count()).select_from(inbox_items)) == 0
    assert stored_object(db, activity["object"]["id"]) is None

    # Positive control: the same activity, untampered and properly signed, goes through.
    resp = post(inbox, body, signed_headers(inbox, body, key_id, pem))
    assert resp.status_code == 202, resp.text
    [row] = inbox_rows(db, activity["id"])
    assert json.loads(row.payload) == activity
    note = wait_for(lambda: stored_object(db, activity["object"]["id"]))
    assert "two bags" in note.content

    # Idempotency.
    follow = {"@context": AS_CONTEXT, "id": f"{b.base}/activities/{uuid.uuid4()}",
              "type": "Follow", "actor": b.group_uri, "object": a.group_uri}
    body = dumps(follow)
    headers = signed_headers(inbox, body, key_id, pem)

    assert post(inbox, body, headers).status_code == 202
    assert post(inbox, body, headers).status_code == 202
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: post(inbox, body, headers).status_code, range(4)))
    assert statuses == [202] * 4
    wait_for(lambda: [r for r in inbox_rows(db, follow["id"]) if r.state == "done"])
    [row] = inbox_rows(db, follow["id"])
    assert row.attempts == 1 and row.processed_at is not None
    assert follow_state(db, b, a) == "accepted"
    accepts = db.rows(select(activities.c.payload).where(activities.c.type == "Accept"))
    assert len(accepts) == 1
    assert json.loads(accepts[0].payload)["object"]["id"] == follow["id"]

    # Block B's host:port. The running server reloads the federation policy every 2 s
    # (services/federation_policy.py REFRESH_SECONDS); a restart applies it at once.
    assert b.domain in a.cli("admin", "block", b.domain)
    a.stop()
    a.start()
    activity = create_note_activity(b, "Blocked domain speaking.")
    blocked_body = dumps(activity)
    resp = post(inbox, blocked_body, signed_headers(inbox, blocked_body, key_id, pem))
    assert resp.status_code == 403, resp.text
    assert not inbox_rows(db, activity["id"])
    # Refused before the signature is even looked at; another port is another domain.
    other = f"http://127.0.0.1:{b.port + 1 if b.port < 65535 else b.port - 1}"
    unsigned = {"Content-Type": ACTIVITY_JSON}
    assert post(inbox, blocked_body, unsigned).status_code == 403
    elsewhere = dumps({**activity, "actor": f"{other}/users/x", "id": f"{other}/a/1"})
    assert post(inbox, elsewhere, unsigned).status_code == 401
    assert db.scalar(select(func.count()).select_from(inbox_items)) == 2


def test_domain_block_applies_to_a_running_server(cluster: Cluster) -> None:
    """`admin block` on a running instance refuses the domain's activities within 3 s."""
    a = cluster.new("a")
    a.init()
    a.start()
    spammer = f"http://127.0.0.1:{free_port()}"
    activity = {"@context": AS_CONTEXT, "id": f"{spammer}/activities/1", "type": "Create",
                "actor": f"{spammer}/users/spam", "object": f"{spammer}/objects/1"}
    body, headers = dumps(activity), {"Content-Type": ACTIVITY_JSON}
    inbox = f"{a.group_uri}/inbox"
    assert post(inbox, body, headers).status_code == 401  # unsigned, not blocked
    a.cli("admin", "block", spammer.split("://", 1)[1])
    wait_for(lambda: post(inbox, body, headers).status_code == 403, timeout=3)
