"""The network's picture with two real instances on loopback (issue 12), SQLite and
PostgreSQL: before any link, B refuses A's signed fetch of its picture (and an unsigned
one); A proposes a link sharing only its blocklist, B accepts sharing its statistics; A's
worker fetches B's picture by itself when the link starts, and A's network page adds B's
counts to its own and hides the small ones (that fetch signed as A's group); other actors
on A's server, a member and the instance actor, are refused as strangers are; B's fetch of
A's picture stays refused, since A does not share its statistics."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlalchemy import select

from activitypub.keys import load_private_key
from activitypub.signatures import sign_cavage
from fediaid.storage.tables import actor_keys, actors
from tests.integration.helpers import Cluster, Db, group_key
from tests.integration.test_links import link_state, stored_state, wait_active
from tests.integration.test_offers_needs import api
from tests.support.instances import Instance, finish_cli, init_all, wait_for

pytestmark = pytest.mark.slow


def signed_get(url: str, key: tuple[str, str]) -> httpx.Response:
    key_id, pem = key
    headers = {"Accept": "application/activity+json"} | sign_cavage(
        method="GET", url=url, headers={}, body=None, key_id=key_id,
        private_key=load_private_key(pem), now=time.time())
    return httpx.get(url, headers=headers, timeout=10)


def actor_key(db: Db, uri: str) -> tuple[str, str]:
    """(key id, private key PEM) of one of an instance's actors."""
    row = db.rows(select(actors.c.key_id, actor_keys.c.private_key_pem)
                  .select_from(actors.join(actor_keys, actor_keys.c.actor_id == actors.c.id))
                  .where(actors.c.uri == uri))[0]
    return row.key_id, row.private_key_pem


def admin_token(inst: Instance) -> dict[str, str]:
    secret = inst.cli("admin", "token", "admin", "--scopes", "read", "write")
    return {"Authorization": f"Bearer {secret.strip().splitlines()[-1]}"}


def post_needs(inst: Instance, auth: dict[str, str], category: str, n: int) -> None:
    for i in range(n):
        api(inst, "POST", "/posts", auth, json={
            "kind": "need", "title": f"Need {i} of {category}", "category": category,
            "visibility": "members"})


def test_a_adds_bs_counts_and_others_are_refused(cluster: Cluster) -> None:
    fast = {"FEDIAID_LIFECYCLE_SECONDS": "1"}
    a, b = cluster.new("a", **fast), cluster.new("b", **fast)
    init_all(a, b)
    for inst in (a, b):
        inst.launch()
    for inst in (a, b):
        inst.wait_up(timeout=60)  # the 20 s of start_all is too short at load 15 and more
    making_link = a.cli_bg("admin", "login-link", "admin")
    post_needs(a, admin_token(a), "food", 5)
    tb = admin_token(b)
    post_needs(b, tb, "food", 6)
    post_needs(b, tb, "transport", 2)

    b_url, a_url = f"{b.base}/picture.json", f"{a.base}/picture.json"
    a_key, b_key = group_key(cluster.db(a), a), group_key(cluster.db(b), b)
    assert httpx.get(b_url, timeout=10).status_code == 401  # unsigned
    assert signed_get(b_url, a_key).status_code == 403  # not linked

    a.cli("admin", "link", b.handle, "--share", "blocklists")
    wait_for(lambda: stored_state(cluster, b, a) == "proposed_by_them", timeout=60)
    assert "proposed by them" in link_state(b, a)
    b.cli("admin", "link", a.handle, "--share", "statistics")
    wait_active(cluster, a, b, timeout=60)

    doc = signed_get(b_url, a_key).json()  # B shares its statistics with A
    rows = {r["key"]: r for r in doc["categories"]}
    assert rows["food"]["needs"] == 6 and rows["transport"]["needs"] == "fewer than 5"
    assert signed_get(a_url, b_key).status_code == 403  # A shares no statistics
    # The link is with A's group, not with every actor on A's server.
    for other in (f"{a.base}/users/admin", f"{a.base}/actor"):
        refused = signed_get(b_url, actor_key(cluster.db(a), other))
        assert refused.status_code == 403, (other, refused.text)

    with httpx.Client(base_url=a.base, timeout=10) as browser:
        r = browser.get(finish_cli(making_link).strip().splitlines()[-1])
        assert r.status_code in (302, 303)

        def counted() -> str:
            page = browser.get("/picture/network").text
            return page if "Food and groceries</th><td class=\"n\">11<" in page else ""

        page = wait_for(counted, timeout=60)  # A's worker fetched B's picture when the link started
    # A's 5 and B's 6 needs of food are added; 2 of transport at B (and 0 at A) are not
    # shown, nor is the row.
    assert "Transport and rides</th>" not in page
    counted_groups = re.search(r"<ul>(.*?)</ul>", page.split("Groups counted")[1], re.S)
    assert counted_groups is not None and counted_groups.group(1).count("<li>") == 2
