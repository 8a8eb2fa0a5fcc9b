"""/metrics over HTTP (in process, both databases): who may read it, and that its figures
follow what happens (a page served, an activity received and applied, a delivery queued)."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fediaid.jobs.inbox import InboxWorker
from fediaid.services.runtime import Runtime
from tests.support.remote import remote_actor, store

TOKEN = "a-long-random-token-for-prometheus"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def with_token(rt: Runtime, token: str = TOKEN) -> None:
    rt.settings = replace(rt.settings, metrics_token=token)


async def scrape(client: httpx.AsyncClient) -> Samples:
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(samples: Samples, route: str, method: str = "GET") -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "fediaid_http_request_duration_seconds_count"
               and ("route", route) in labels and ("method", method) in labels)


async def test_no_token_configured_is_404(client: httpx.AsyncClient, runtime: Runtime) -> None:
    assert runtime.settings.metrics_token == ""
    r = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 404
    assert "fediaid_" not in r.text


async def test_token_rules(client: httpx.AsyncClient, runtime: Runtime) -> None:
    with_token(runtime)
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": f"Bearer {TOKEN[:-1]}"},
                    {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}):
        r = await client.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "fediaid_" not in r.text
    # Not accepted in the address either (addresses end up in logs and histories).
    assert (await client.get(f"/metrics?token={TOKEN}")).status_code == 401
    r = await client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert r.headers["cache-control"] == "no-store"
    assert TOKEN not in r.text
    families = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"fediaid_info", "fediaid_queue_jobs", "fediaid_queue_waiting",
            "fediaid_queue_oldest_waiting_seconds", "fediaid_deliveries",
            "fediaid_inbox_accepted", "fediaid_inbox_applied",
            "fediaid_http_request_duration_seconds", "process_resident_memory_bytes",
            "python_info"} <= families


async def test_figures_follow_requests_inbox_and_deliveries(client: httpx.AsyncClient,
                                                            runtime: Runtime) -> None:
    rt = runtime
    with_token(rt)
    before = await scrape(client)
    info = next(labels for (name, labels) in before if name == "fediaid_info")
    assert dict(info)["database"] == rt.db.dialect
    assert value(before, "fediaid_queue_waiting", queue="inbox") == 0

    # A page: counted under its route template, never under the name in its path.
    assert (await client.get("/@admin")).status_code == 200
    assert (await client.get("/no/such/page/secret-ish")).status_code == 404
    # An activity to the group's inbox (the fast path in front of the router).
    bob = remote_actor("bob")
    await store(rt, bob)
    follow = {"id": f"{bob.uri}/follows/1", "type": "Follow", "actor": bob.uri,
              "object": rt.identity.group.uri}
    url = rt.identity.group.uri + "/inbox"
    body, headers = bob.signed_post(url, follow)
    path = url.split(rt.settings.domain, 1)[1]
    assert (await client.post(path, content=body, headers=headers)).status_code == 202

    after = await scrape(client)
    assert requests_of(after, "/@{name}") == requests_of(before, "/@{name}") + 1
    assert requests_of(after, "unmatched") == requests_of(before, "unmatched") + 1
    assert requests_of(after, "/groups/{name}/inbox", "POST") == \
        requests_of(before, "/groups/{name}/inbox", "POST") + 1
    routes = {dict(labels).get("route") for (name, labels) in after
              if name.startswith("fediaid_http_request_duration_seconds")}
    # Never the raw paths asked above (the counters are the process's: other tests' route
    # templates, such as /admin/members or /login/{secret}, may be there too).
    assert not {r for r in routes if r and ("/@admin" in r or "no/such" in r
                                            or "secret-ish" in r)}, routes
    assert value(after, "fediaid_inbox_accepted_total") == \
        value(before, "fediaid_inbox_accepted_total") + 1
    # Queue depths come from the database at scrape time.
    assert value(after, "fediaid_queue_waiting", queue="inbox") == 1
    assert value(after, "fediaid_queue_jobs", queue="inbox", state="pending") == 1
    assert value(after, "fediaid_queue_oldest_waiting_seconds", queue="inbox") >= 0

    # The inbox worker applies it: the Follow is accepted, so an Accept is queued for bob.
    assert await InboxWorker(rt, name="test-inbox").run_once() == 1
    applied = await scrape(client)
    assert value(applied, "fediaid_inbox_applied_total", result="done") == \
        value(after, "fediaid_inbox_applied_total", result="done") + 1
    assert value(applied, "fediaid_queue_waiting", queue="inbox") == 0
    assert value(applied, "fediaid_queue_jobs", queue="inbox", state="pending") == 0
    # Finished jobs are not counted at scrape time (that count grows with history).
    assert not [labels for (name, labels) in applied if name == "fediaid_queue_jobs"
                and dict(labels)["state"] not in ("pending", "held")]
    assert value(applied, "fediaid_queue_waiting", queue="deliveries") == 1
    assert value(applied, "fediaid_queue_jobs", queue="deliveries", state="pending") == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_metrics_requests_are_timed_too(client: httpx.AsyncClient,
                                              runtime: Runtime) -> None:
    """Scrapes and refusals are requests like any other (and the token is not a label)."""
    with_token(runtime)
    first = await scrape(client)
    await client.get("/metrics")  # 401
    second = await scrape(client)
    assert requests_of(second, "/metrics") == requests_of(first, "/metrics") + 2
    assert not any(TOKEN in v for (_, labels) in second for _, v in labels)
