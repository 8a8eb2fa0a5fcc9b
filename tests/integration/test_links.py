"""Links between groups with two real instances on loopback (issue 12, "Linking"), SQLite
and PostgreSQL: A's operator proposes from the command line, B's coordinators see the
proposal and accept it, the link is active on both; a ``network`` need reaches B's members
and never A's plain follower (a sink standing in for a Mastodon server); pausing stops it;
unlinking ends it on both sides; a blocked domain cannot be linked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fediaid.storage.tables import activities, actors, deliveries, group_links
from tests.integration.helpers import Cluster
from tests.integration.test_crash import ROOT, Sink, add_remote_followers
from tests.integration.test_offers_needs import api, tokens
from tests.support.instances import CliError, Instance, free_port, start_all, wait_for

pytestmark = pytest.mark.slow


def link_state(inst: Instance, other: Instance) -> str:
    for line in inst.cli("admin", "links").splitlines():
        if line.startswith(other.handle + " "):
            return line
    return ""


def stored_state(cluster: Cluster, inst: Instance, other: Instance) -> str | None:
    """The link's state at ``inst``, read from its database: what a test waits on (polling
    ``link_state`` started a Python process each time, ~1 s of CPU, while the servers did
    the work being waited for); the command's words are then checked once."""
    return cluster.db(inst).scalar(
        select(group_links.c.state).join(actors, actors.c.id == group_links.c.actor_id)
        .where(actors.c.uri == other.group_uri))


def wait_active(cluster: Cluster, a: Instance, b: Instance, timeout: float = 20.0) -> None:
    """Wait until the link is active on both sides; then `admin links` says so on both."""
    wait_for(lambda: stored_state(cluster, a, b) == stored_state(cluster, b, a) == "active",
             timeout=timeout)
    assert "active" in link_state(a, b) and "active" in link_state(b, a)


def sent_to(cluster: Cluster, inst: Instance, post_uri: str) -> set[str]:
    rows = cluster.db(inst).rows(
        select(deliveries.c.inbox_url).join(activities,
                                            activities.c.id == deliveries.c.activity_id)
        .where(activities.c.object_uri == post_uri))
    return {r[0] for r in rows}


def test_link_network_posts_pause_unlink_and_blocked(cluster: Cluster, tmp_path: Path
                                                     ) -> None:
    a, b = cluster.new("a"), cluster.new("b")
    a.init()
    b.init()
    sink = Sink(f"http://127.0.0.1:{free_port()}", tmp_path / "sink.jsonl")
    add_remote_followers(cluster.db(a), a.group_uri, sink.base, 1)  # a plain follower
    port = int(sink.base.rsplit(":", 1)[1])
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.sink", "--port", str(port),
                             "--inboxes", "1", "--log", str(sink.log)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        start_all(a, b)
        wait_for(sink.up)
        alice, bob = tokens((a, "alice"), (b, "bob"))

        out = a.cli("admin", "link", b.handle, "--share", "blocklists",
                    "--share", "statistics")
        assert "proposed by us" in out, out
        wait_for(lambda: stored_state(cluster, b, a) == "proposed_by_them")
        proposed = link_state(b, a)
        assert "proposed by them" in proposed, proposed
        assert "they share: blocklists, statistics" in proposed
        assert "active" not in link_state(a, b)  # nothing before B's coordinators decide
        assert "waiting for them" in b.cli("admin", "link", a.handle)  # B accepts
        wait_active(cluster, a, b)

        # A network need reaches B's members, and only B's server.
        need = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "A ride to the clinic", "visibility": "network"})

        def on_b() -> object:
            return [p for p in api(b, "GET", "/posts", bob) if p["uri"] == need["uri"]]

        found = wait_for(on_b)
        assert found[0]["title"] == "A ride to the clinic"
        # A public one goes to the plain follower too: once it is there, the network one
        # has had every chance to be, and was never queued for it.
        public = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Chairs for Saturday", "visibility": "public"})
        wait_for(lambda: sink.received())
        assert any(i.startswith(sink.base) for i in sent_to(cluster, a, public["uri"]))
        assert sent_to(cluster, a, need["uri"]) == {f"{b.base}/inbox"}
        r = httpx.get(f"{b.base}/api/fediaid/v1/posts", timeout=10)
        assert r.status_code != 200 or need["uri"] not in r.text  # B's members only

        # Paused: nothing goes over the link.
        assert "paused" in a.cli("admin", "link", b.handle, "--pause")
        paused = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "Soup while paused", "visibility": "network"})
        assert sent_to(cluster, a, paused["uri"]) == set()
        assert "active" in a.cli("admin", "link", b.handle, "--resume")

        # Unlinked by B: ended on both sides.
        assert "ended" in b.cli("admin", "unlink", a.handle)
        wait_for(lambda: stored_state(cluster, a, b) == "ended")
        assert "ended" in link_state(a, b)
        after = api(a, "POST", "/posts", alice, json={
            "kind": "need", "title": "After the end", "visibility": "network"})
        assert sent_to(cluster, a, after["uri"]) == set()

        # A blocked domain can never be linked.
        a.cli("admin", "block", b.domain)
        with pytest.raises(CliError) as refused:
            a.cli("admin", "link", b.handle)
        assert refused.value.returncode == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
