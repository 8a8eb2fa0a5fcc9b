"""The group's profile between real instances: B's group follows A's; A's coordinator
changes the description on A's web page (a real browser session over HTTP, its CSRF
token), and B receives the signed Update of A's group and stores the new summary. Both
servers answer gzip'd (httpx asks for it): the deliveries, the key fetch B makes to verify
them, and the web pages all go through it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from fediaid.storage.tables import actors as actors_t
from tests.api.test_web_posts import form
from tests.integration.helpers import Cluster
from tests.integration.test_federation import mutual_ready
from tests.support.instances import finish_cli, init_all, start_all, wait_for

pytestmark = pytest.mark.slow

DESCRIPTION = "Elm St neighbors share food, rides & tools.\n\nMeetings on Tuesdays."


def test_a_new_description_reaches_a_following_group(cluster: Cluster) -> None:
    a, b = cluster.new("a"), cluster.new("b")
    init_all(a, b)
    start_all(a, b)
    making_link = a.cli_bg("admin", "login-link", "admin")
    assert ": pending" in b.cli("admin", "follow", a.handle)
    mutual_ready(cluster, (b, a))

    with httpx.Client(base_url=a.base, timeout=10) as browser:
        r = browser.get(finish_cli(making_link).strip().splitlines()[-1])
        assert r.status_code in (302, 303)
        page = browser.get("/admin/profile")
        assert page.headers.get("content-encoding") == "gzip"
        values = form(page.text, "/admin/profile") | {"description": DESCRIPTION}
        r = browser.post("/admin/profile", data=values)
        assert r.status_code == 303, r.text

    def summary_on_b() -> str | None:
        rows = cluster.db(b).rows(select(actors_t.c.summary).where(
            actors_t.c.uri == a.group_uri))
        return rows[0].summary if rows else None

    stored = wait_for(lambda: "Meetings on Tuesdays" in (summary_on_b() or "")
                      and summary_on_b())
    assert stored == ("<p>Elm St neighbors share food, rides &amp; tools.</p>"
                      "<p>Meetings on Tuesdays.</p>")
    # A's own actor document and NodeInfo say the same.
    doc = httpx.get(a.group_uri, headers={"Accept": "application/activity+json"},
                    timeout=10).json()
    assert doc["summary"] == stored
    info = httpx.get(f"{a.base}/nodeinfo/2.1", timeout=10).json()
    assert info["metadata"]["nodeDescription"] == DESCRIPTION
