"""Shared blocklists between two real instances (SQLite and PostgreSQL): B's group follows
A's group; B subscribes to A's published list; A blocks a domain; B's fetch turns it into a
proposal, which changes nothing until B's coordinator accepts it; then B refuses that
domain at its inbox. The list itself is refused to an unsigned fetch."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.helpers import Cluster
from tests.integration.test_federation import dumps, mutual_ready
from tests.support.instances import init_all, start_all, wait_for

SPAM = "spam.example"


def _inbox_status(inbox: str) -> int:
    actor = f"https://{SPAM}/users/x"
    body = dumps({"id": f"{actor}/follows/1", "type": "Follow", "actor": actor,
                  "object": inbox.rsplit("/inbox", 1)[0]})
    r = httpx.post(inbox, content=body, timeout=10,
                   headers={"Content-Type": "application/activity+json"})
    return r.status_code


def test_a_subscribed_list_proposes_and_the_coordinator_decides(cluster: Cluster,
                                                                 tmp_path: Path) -> None:
    a, b = cluster.new("a"), cluster.new("b")
    init_all(a, b)
    start_all(a, b)
    b.cli("admin", "follow", a.handle)
    mutual_ready(cluster, (b, a))

    # Unsigned, the published list is refused.
    url = a.group_uri + "/blocklist"
    r = httpx.get(url, headers={"Accept": "application/activity+json"}, timeout=10)
    assert r.status_code == 401

    out = b.cli("admin", "blocklist", "subscribe", a.handle)
    assert "Subscribed" in out and "0 proposals" in out, out

    csv_file = tmp_path / "a.csv"
    csv_file.write_text("#domain,#severity,#reject_media,#reject_reports,#public_comment,"
                        f"#obfuscate\n{SPAM},suspend,false,false,spam wave,false\n")
    out = a.cli("admin", "blocklist", "import", str(csv_file), "--apply")
    assert "Applied 1 changes" in out, out

    inbox = f"{b.group_uri}/inbox"
    before = _inbox_status(inbox)
    assert before != 403  # unsigned: refused for that, not for its domain

    out = b.cli("admin", "blocklist", "fetch")
    assert "1 new or changed" in out, out
    proposals = b.cli("admin", "blocklist", "proposals")
    assert SPAM in proposals and "spam wave" in proposals and "add" in proposals, proposals
    assert _inbox_status(inbox) == before  # nothing applied yet

    out = b.cli("admin", "blocklist", "accept", "all")
    assert "Accepted 1 proposals" in out, out
    # B's server picks the change up within its refresh (2 s): the domain is refused.
    wait_for(lambda: _inbox_status(inbox) == 403, timeout=15)
    assert b.cli("admin", "blocklist", "proposals").strip() == ""
    exported = b.cli("admin", "blocklist", "export")
    assert f"{SPAM},suspend" in exported and "spam wave" in exported
