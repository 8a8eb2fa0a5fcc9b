"""Crash test: `kill -9` an instance in the middle of a 500-inbox fan-out, restart it, and
check that every inbox still gets the activity (at least once) and that every delivery row
ends `done`.

The followers are remote actors whose inboxes are distinct paths on a sink server
(tests/support/sink.py, its own process) that answers 202 after a short delay, so the
fan-out takes a few seconds, and checks each request's signature against A's group key.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fediaid.storage.tables import activities, actors, deliveries, follows
from fediaid.storage.types import utcnow
from tests.integration.helpers import Cluster, Db
from tests.support.instances import Instance, free_port, wait_for
from tests.support.sink import read_log

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def add_remote_followers(db: Db, group_uri: str, sink: str, n: int) -> None:
    """n remote Person actors on the sink's host, each with its own inbox and no shared
    inbox, all accepted followers of the group."""
    domain = sink.split("://", 1)[1]

    async def insert(conn: AsyncConnection) -> None:
        group_id = (await conn.execute(
            select(actors.c.id).where(actors.c.uri == group_uri))).scalar_one()
        now = utcnow()
        await conn.execute(actors.insert(), [
            {"uri": f"{sink}/users/f{i}", "type": "Person", "username": f"f{i}",
             "domain": domain, "local": False, "inbox": f"{sink}/inbox/{i}",
             "shared_inbox": None, "key_id": f"{sink}/users/f{i}#main-key",
             "manually_approves_followers": False, "fetched_at": now, "created_at": now,
             "updated_at": now}
            for i in range(n)])
        ids = (await conn.execute(select(actors.c.id).where(actors.c.domain == domain))
               ).scalars().all()
        await conn.execute(follows.insert(), [
            {"follower_id": actor_id, "followed_id": group_id,
             "uri": f"{sink}/follows/{actor_id}", "state": "accepted", "created_at": now,
             "accepted_at": now}
            for actor_id in ids])

    db.run(insert)


def delivery_states(db: Db) -> dict[str, int]:
    rows = db.rows(select(deliveries.c.state, func.count()).group_by(deliveries.c.state))
    return {state: int(count) for state, count in rows}


@dataclass
class Sink:
    base: str
    log: Path

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base}/_stats", timeout=5).json())

    def received(self) -> list[dict[str, Any]]:
        return read_log(self.log)

    def up(self) -> bool:
        try:
            return httpx.get(f"{self.base}/_stats", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


@contextmanager
def fan_out_setup(cluster: Cluster, tmp_path: Path, *, followers: int, delay: float,
                  lease: float) -> Iterator[tuple[Instance, Sink]]:
    """An initialised A with ``followers`` remote followers on a sink (each its own inbox),
    both running; the sink process is stopped on exit."""
    a = cluster.new("a", FEDIAID_DELIVERY_LEASE_SECONDS=str(lease))
    a.init()
    db = cluster.db(a)
    port = free_port()
    sink = Sink(f"http://127.0.0.1:{port}", tmp_path / "sink.jsonl")
    add_remote_followers(db, a.group_uri, sink.base, followers)
    key_pem = tmp_path / "a-group.pem"
    key_pem.write_text(db.scalar(select(actors.c.public_key_pem)
                                 .where(actors.c.uri == a.group_uri)))
    with (tmp_path / "sink.out").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sink", "--port", str(port),
             "--inboxes", str(followers), "--delay", str(delay), "--log", str(sink.log),
             "--key-id", f"{a.group_uri}#main-key", "--key-pem", str(key_pem)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        a.launch()
        wait_for(sink.up, timeout=20, interval=0.05)
        a.wait_up()
        yield a, sink
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def admin_post(a: Instance, text: str) -> str:
    return a.cli("admin", "post", text).strip().splitlines()[-1]


FOLLOWERS = 500
SINK_DELAY = 0.04  # seconds per request; A opens at most 8 connections per host
KILL_AFTER = 100  # inboxes reached before A is killed


def test_kill_9_during_fan_out_loses_no_delivery(cluster: Cluster, tmp_path: Path) -> None:
    """500 followers, lease 2 s. A is killed with SIGKILL once 100 inboxes have the note,
    then restarted: every inbox receives it (correctly signed), and A ends with exactly 500
    delivery rows, all done. Duplicates are allowed and reported."""
    with fan_out_setup(cluster, tmp_path, followers=FOLLOWERS, delay=SINK_DELAY,
                       lease=2) as (a, sink):
        db = cluster.db(a)
        assert a.cli("admin", "status").strip().endswith(f"followers: {FOLLOWERS}")
        note = admin_post(a, "Fan-out under fire.")
        t0 = time.monotonic()
        before = wait_for(lambda: (s := sink.stats())["inboxes"] >= KILL_AFTER and s,
                          timeout=30, interval=0.02)
        a.stop(kill=True)
        at_kill = sink.stats()
        states_at_kill = delivery_states(db)
        assert at_kill["inboxes"] < FOLLOWERS, (
            f"the fan-out finished before the kill ({at_kill}); raise SINK_DELAY")
        leased = db.scalar(select(func.count()).select_from(deliveries).where(
            deliveries.c.state == "pending", deliveries.c.leased_by.is_not(None)))

        a.start()
        after = wait_for(
            lambda: (s := sink.stats())["inboxes"] == FOLLOWERS
            and delivery_states(db) == {"done": FOLLOWERS} and s,
            timeout=60, interval=0.1)
        elapsed = time.monotonic() - t0
        a.stop()
        final = sink.stats()

    activity_uri = db.scalar(select(activities.c.uri).where(activities.c.object_uri == note))
    received = sink.received()
    assert len(received) == final["requests"]
    assert {r["path"] for r in received} == {f"/inbox/{i}" for i in range(FOLLOWERS)}
    assert {r["id"] for r in received} == {activity_uri}
    assert {r["type"] for r in received} == {"Create"}
    assert {r["sig"] for r in received} == {"valid"}
    rows = db.rows(select(deliveries))
    assert len(rows) == FOLLOWERS
    assert {r.inbox_url for r in rows} == {f"{sink.base}/inbox/{i}" for i in range(FOLLOWERS)}
    assert all(r.state == "done" and r.leased_by is None and r.finished_at for r in rows)
    duplicates = len(received) - FOLLOWERS
    attempts = Counter(r.attempts for r in rows)
    print(f"\n[{a.database_url.split(':', 1)[0]}] killed after {before['inboxes']} inboxes "
          f"(sink had {at_kill['inboxes']} at kill; A's rows {states_at_kill}, {leased} "
          f"leased); all {FOLLOWERS} delivered {elapsed:.1f}s after the post; "
          f"{duplicates} duplicate POSTs, {final['requests'] - after['requests']} of them "
          f"after every row was done; rows by attempts {dict(sorted(attempts.items()))}")


def test_slow_inboxes_get_each_delivery_once_without_a_crash(cluster: Cluster,
                                                            tmp_path: Path) -> None:
    """Without a crash, each delivery is sent once (jobs/delivery.py: duplicates only come
    from a killed worker). 150 followers on one slow host (0.1 s per POST, at most 8
    connections: ~80 POSTs/s) and a 1 s lease: the worker leases all 150 at once, so the
    last ones wait ~2 s in its queue, longer than their lease."""
    with fan_out_setup(cluster, tmp_path, followers=150, delay=0.1, lease=1) as (a, sink):
        db = cluster.db(a)
        admin_post(a, "Slow but steady.")
        wait_for(lambda: delivery_states(db) == {"done": 150}, timeout=30)
        time.sleep(0.5)  # anything still in flight
        stats = sink.stats()
        attempts = Counter(r.attempts for r in db.rows(select(deliveries.c.attempts)))
    assert stats["inboxes"] == 150
    assert (stats["duplicates"], dict(attempts)) == (0, {1: 150})
