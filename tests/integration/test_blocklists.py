"""Shared blocklists between two real instances (SQLite and PostgreSQL): A and B link, A
sharing its blocklist; B subscribes to A's published list (fetched signed as B's group);
A blocks a domain; B's fetch turns it into a proposal, which changes nothing until B's
coordinator accepts it; then B refuses that domain at its inbox. The list itself is
refused to an unsigned fetch, and to other actors on B's server (a member, the instance
actor) as to strangers."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.integration.helpers import Cluster, group_key
from tests.integration.test_federation import dumps
from tests.integration.test_links import stored_state, wait_active
from tests.integration.test_network_picture import actor_key, signed_get
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
    a.cli("admin", "link", b.handle, "--share", "blocklists")
    wait_for(lambda: stored_state(cluster, b, a) == "proposed_by_them", timeout=60)
    b.cli("admin", "link", a.handle)
    wait_active(cluster, a, b, timeout=60)

    # Unsigned, the published list is refused.
    url = a.group_uri + "/blocklist"
    r = httpx.get(url, headers={"Accept": "application/activity+json"}, timeout=10)
    assert r.status_code == 401
    # The link is with B's group, not with every actor on B's server.
    for other in (f"{b.base}/users/admin", f"{b.base}/actor"):
        refused = signed_get(url, actor_key(cluster.db(b), other))
        assert refused.status_code == 403, (other, refused.text)
    assert signed_get(url, group_key(cluster.db(b), b)).status_code == 200

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
