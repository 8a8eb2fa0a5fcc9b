"""The directory of groups with three real instances on loopback (issue 12), SQLite and
PostgreSQL: B links C, then A links B; A's worker refreshes its directory by itself when
the link starts, and A's Directory page lists B (linked) and C (linked with B)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.helpers import Cluster
from tests.integration.test_links import link_state, stored_state, wait_active
from tests.support.instances import Instance, init_all, start_all, wait_for

pytestmark = pytest.mark.slow


def link(cluster: Cluster, a: Instance, b: Instance) -> None:
    a.cli("admin", "link", b.handle)
    wait_for(lambda: stored_state(cluster, b, a) == "proposed_by_them")
    assert "proposed by them" in link_state(b, a)
    b.cli("admin", "link", a.handle)
    wait_active(cluster, a, b)


def test_a_lists_b_and_c(cluster: Cluster) -> None:
    fast = {"FEDIAID_LIFECYCLE_SECONDS": "1"}
    a, b, c = cluster.new("a", **fast), cluster.new("b", **fast), cluster.new("c", **fast)
    init_all(a, b, c)
    start_all(a, b, c)
    link(cluster, b, c)
    assert httpx.get(f"{b.base}/directory.json", timeout=10).json()["links"] == [c.group_uri]
    link(cluster, a, b)

    def listed() -> str:
        page = httpx.get(f"{a.base}/directory", timeout=10).text
        return page if b.handle in page and c.handle in page else ""

    page = wait_for(listed)
    assert page.index(b.handle) < page.index(c.handle)  # one hop, then two
    assert a.handle not in page.split("This group")[0]  # A itself is not listed as a peer
