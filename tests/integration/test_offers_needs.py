"""Offers and needs between two real instances and a Mastodon-shaped follower, over loopback
with real signatures: the issue's "done when" scenario, end to end through the JSON API.

A's member posts a need; it reaches B's members (B's group follows A's group) and A's other
followers (a sink standing in for a Mastodon server). B's member answers with an FEP-0837
Offer; A's member accepts; the two converse privately across the servers; A's member marks
it fulfilled; after the retention window both instances have deleted it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fediaid.storage.tables import conversations, group_settings, messages, posts, responses
from tests.integration.helpers import Cluster
from tests.integration.test_crash import ROOT, Sink, add_remote_followers
from tests.support.instances import (
    Instance,
    finish_cli,
    free_port,
    init_all,
    start_all,
    wait_for,
)

pytestmark = pytest.mark.slow

API = "/api/fediaid/v1"


def token(inst: Instance, name: str) -> dict[str, str]:
    return tokens((inst, name))[0]


def tokens(*members: tuple[Instance, str]) -> list[dict[str, str]]:
    """A new member on each instance and an API token for each; the commands run side by
    side (each is a Python start)."""
    for proc in [inst.cli_bg("admin", "create-user", name) for inst, name in members]:
        finish_cli(proc)
    made = [inst.cli_bg("admin", "token", name, "--scopes", "read", "write")
            for inst, name in members]
    return [{"Authorization": f"Bearer {finish_cli(p).strip().splitlines()[-1]}"}
            for p in made]


def api(inst: Instance, method: str, path: str, auth: dict[str, str], **kw: Any) -> Any:
    r = httpx.request(method, inst.base + API + path, headers=auth, timeout=10, **kw)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r.json() if r.content else None


def count(cluster: Cluster, inst: Instance, table: Any, *where: Any) -> int:
    return int(cluster.db(inst).scalar(select(func.count()).select_from(table).where(*where)))


def test_a_need_travels_is_answered_fulfilled_and_deleted_everywhere(cluster: Cluster,
                                                                      tmp_path: Path) -> None:
    a = cluster.new("a", FEDIAID_LIFECYCLE_SECONDS="1")
    b = cluster.new("b", FEDIAID_LIFECYCLE_SECONDS="1")
    init_all(a, b)
    sink = Sink(f"http://127.0.0.1:{free_port()}", tmp_path / "sink.jsonl")
    add_remote_followers(cluster.db(a), a.group_uri, sink.base, 1)
    port = int(sink.base.rsplit(":", 1)[1])
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.sink", "--port", str(port),
                             "--inboxes", "1", "--log", str(sink.log)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        start_all(a, b)
        wait_for(sink.up)
        alice, bob = tokens((a, "alice"), (b, "bob"))
        # Neighboring groups link up: B's group follows A's group.
        assert ": pending" in b.cli("admin", "follow", a.handle)
        wait_for(lambda: httpx.get(a.group_uri + "/followers", headers={
            "Accept": "application/activity+json"}).json()["totalItems"] == 2)

        # A's member posts a need.
        need = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Groceries for a family of four", "category": "food",
            "quantity": "2", "unit": "bags", "area": "Northside"})
        uri = need["uri"]

        # It reaches B's members...
        def on_b() -> Any:
            found = [p for p in api(b, "GET", "/posts", bob) if p["uri"] == uri]
            return found[0] if found else None

        remote = wait_for(on_b)
        assert remote["kind"] == "need" and remote["title"] == "Groceries for a family of four"
        assert remote["quantity"] == "2" and remote["category"] == "food"
        # ...and A's other followers: the Mastodon-shaped follower gets the group's boost.
        wait_for(lambda: any(e["type"] == "Announce" for e in sink.received()))

        # B's member answers: an FEP-0837 Offer travels to A.
        api(b, "POST", f"/posts/{remote['id']}/responses", bob,
            json={"message": "I can bring them on Thursday", "quantity": "2"})
        answers = wait_for(lambda: api(a, "GET", f"/posts/{need['id']}/responses", alice))
        assert answers[0]["message"] == "I can bring them on Thursday"

        # A's member accepts: B learns it, and both sides have the private conversation.
        conv_a = api(a, "POST", f"/responses/{answers[0]['id']}/accept", alice, json={})
        conv_b = wait_for(lambda: api(b, "GET", "/conversations", bob))[0]
        api(a, "POST", f"/conversations/{conv_a['id']}/messages", alice,
            json={"body": "Thank you! After 5pm works best."})
        wait_for(lambda: [m["body"] for m in api(b, "GET", f"/conversations/{conv_b['id']}",
                                                bob)["messages"]]
                 == ["Thank you! After 5pm works best."])
        api(b, "POST", f"/conversations/{conv_b['id']}/messages", bob,
            json={"body": "See you Thursday at 6."})
        wait_for(lambda: len(api(a, "GET", f"/conversations/{conv_a['id']}", alice)
                             ["messages"]) == 2)
        # Nobody else can read it.
        carol = token(a, "carol")
        r = httpx.get(a.base + API + f"/conversations/{conv_a['id']}", headers=carol)
        assert r.status_code == 404

        # Fulfilled, with a retention window of zero days: both instances delete it all.
        cluster.db(a).run(lambda conn: conn.execute(
            group_settings.insert().values(key="retention_days", value="0")))
        closed = api(a, "POST", f"/posts/{need['id']}/close", alice,
                     json={"outcome": "fulfilled"})
        assert closed["state"] == "fulfilled"
        for inst in (a, b):
            wait_for(lambda inst=inst: count(cluster, inst, posts, posts.c.uri == uri) == 0,
                     timeout=30)
            assert count(cluster, inst, responses) == 0
            assert count(cluster, inst, conversations) == 0
            assert count(cluster, inst, messages) == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
