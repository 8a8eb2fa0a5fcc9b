"""Account alerts with three real instances on loopback (issue 12, "Accountability across the
network"), SQLite and PostgreSQL: A and B are linked and share alerts; A suspends two members
for harm and tells linked groups; B's coordinators see both alerts and apply one (the
account is then suspended at B); A retracts both and lifts its own suspensions: the open one
is gone at B, the applied one stays at B, marked as retracted. The alert's JSON holds the
account, handle, category and shared words only. C, not linked with B, sends B a signed
alert: it is refused."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select

from fediaid.storage.tables import (
    activities,
    alerts_received,
    alerts_sent,
    group_links,
    inbox_items,
    suspended_actors,
    users,
)
from tests.integration.helpers import Cluster, group_key, post, signed_headers
from tests.integration.test_links import link_state
from tests.support.instances import Instance, finish_cli, init_all, start_all, wait_for

pytestmark = pytest.mark.slow


def link_sharing_alerts(cluster: Cluster, a: Instance, b: Instance) -> None:
    """A proposes, B accepts, both sharing account alerts (states read from the databases:
    polling with the command line would start a process each time)."""

    def state(inst: Instance) -> list[str]:
        return [r[0] for r in cluster.db(inst).rows(select(group_links.c.state))]

    a.cli("admin", "link", b.handle, "--share", "accountAlerts")
    wait_for(lambda: state(b) == ["proposed_by_them"])
    b.cli("admin", "link", a.handle, "--share", "accountAlerts")
    wait_for(lambda: state(a) == ["active"] and state(b) == ["active"])
    assert "we share: accountAlerts; they share: accountAlerts" in link_state(a, b)


def both(*procs: object) -> None:
    for p in procs:
        finish_cli(p)  # type: ignore[arg-type]


def test_alerts_shared_applied_retracted_and_refused_from_strangers(cluster: Cluster
                                                                     ) -> None:
    a, b, c = cluster.new("a"), cluster.new("b"), cluster.new("c")
    init_all(a, b, c)
    start_all(a, b)  # C later: three servers starting at once is slow on a busy machine
    both(a.cli_bg("admin", "create-user", "mallory"), a.cli_bg("admin", "create-user", "rex"))
    link_sharing_alerts(cluster, a, b)
    out = a.cli("admin", "alerts", "suspend", "mallory", "--harm", "harassment",
                "--reason", "Followed a volunteer home.", "--share")
    assert "1 linked groups told" in out, out
    a.cli("admin", "alerts", "suspend", "@rex", "--harm", "theft", "--share")

    db_a, db_b = cluster.db(a), cluster.db(b)
    mallory, rex = f"{a.base}/users/mallory", f"{a.base}/users/rex"

    def received() -> dict[str, tuple[int, str, object]]:
        rows = db_b.rows(select(alerts_received.c.account_uri, alerts_received.c.id,
                                alerts_received.c.state, alerts_received.c.retracted_at))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    wait_for(lambda: len(received()) == 2)
    # What left A: the account, its handle, the category and the shared words, to B only.
    [payload] = db_a.rows(select(activities.c.payload).where(
        activities.c.type == "AccountAlert", activities.c.object_uri.is_(None),
        activities.c.payload.contains("mallory")))
    alert = orjson.loads(payload[0]) if isinstance(payload[0], str | bytes) else payload[0]
    assert set(alert) == {"@context", "id", "type", "actor", "to", "object", "published",
                          "handle", "harm", "content"}
    assert (alert["actor"], alert["to"], alert["object"], alert["handle"], alert["harm"],
            alert["content"]) == (a.group_uri, [b.group_uri], mallory,
                                  f"@mallory@{a.domain}", "harassment",
                                  "Followed a volunteer home.")

    listing = b.cli("admin", "alerts")
    assert f"open from {a.handle}: @mallory@{a.domain} (harassment): Followed" in listing
    mallory_alert = received()[mallory][0]
    assert "is suspended here" in b.cli("admin", "alerts", "apply", str(mallory_alert))
    assert db_b.rows(select(suspended_actors.c.uri)) == [(mallory,)]

    # A retracts both: the open alert is gone at B; the applied one stays, marked.
    ids = [str(r[0]) for r in db_a.rows(select(alerts_sent.c.id))]
    assert len(ids) == 2, ids
    both(*(a.cli_bg("admin", "alerts", "retract", i, "--lift") for i in ids))
    wait_for(lambda: rex not in received() and received()[mallory][2] is not None)
    assert received()[mallory][1] == "applied"
    assert db_b.rows(select(suspended_actors.c.uri)) == [(mallory,)]  # B's own decision
    assert db_a.rows(select(users.c.disabled).where(  # lifted at A
        users.c.username.in_(["mallory", "rex"]))) == [(False,), (False,)]

    # C is not linked with B: its alert, properly signed by its group, is refused.
    c.start()
    key_id, pem = group_key(cluster.db(c), c)
    stranger = {"@context": alert["@context"], "id": f"{c.base}/activities/alert-1",
                "type": "AccountAlert", "actor": c.group_uri, "to": [b.group_uri],
                "object": f"{c.base}/users/someone", "handle": f"@someone@{c.domain}",
                "harm": "theft", "content": "Took the van."}
    body = orjson.dumps(stranger)
    r = post(f"{b.base}/inbox", body, signed_headers(f"{b.base}/inbox", body, key_id, pem))
    assert r.status_code == 202, r.text
    wait_for(lambda: db_b.rows(select(inbox_items.c.state).where(
        inbox_items.c.activity_uri == stranger["id"])) in ([("done",)], []))
    assert f"{c.base}/users/someone" not in received()
    assert set(received()) == {mallory}
