"""Observability against real `fediaid serve` processes (both databases): /metrics follows
real federation (a follow delivered and applied both ways, then deliveries failing to a
server that went away), `fediaid admin status` says the same in words and in JSON, and a
server started with JSON logs writes one JSON object per line."""

from __future__ import annotations

import io
import json
import socket
import subprocess
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import Cluster
from tests.support.instances import FEDIAID, init_all, wait_for, wait_until_up

pytestmark = pytest.mark.slow
TOKEN = "metrics-token-for-the-test-0123456789"


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def status_json(inst: Any) -> dict[str, Any]:
    return dict(json.loads(inst.cli("admin", "status", "--json").strip().splitlines()[-1]))


def test_metrics_status_and_json_logs_follow_real_federation(cluster: Cluster) -> None:
    a = cluster.new("a", FEDIAID_METRICS_TOKEN=TOKEN, FEDIAID_LOG_FORMAT="json")
    b = cluster.new("b", FEDIAID_METRICS_TOKEN=TOKEN)
    init_all(a, b)
    for inst in (a, b):
        inst.launch()
    for inst in (a, b):
        inst.wait_up(timeout=60)  # a loaded machine can take more than the usual 20 s
    assert httpx.get(a.base + "/metrics", timeout=5).status_code == 401

    # b follows a: b delivers the Follow, a applies it and delivers its Accept.
    b.cli("admin", "follow", a.handle)
    wait_for(lambda: value(scrape(a.base), "fediaid_deliveries_total", outcome="delivered") >= 1
             and value(scrape(b.base), "fediaid_inbox_applied_total", result="done") >= 1)
    seen = scrape(a.base)
    assert value(seen, "fediaid_inbox_accepted_total") >= 1
    assert value(seen, "fediaid_inbox_applied_total", result="done") >= 1
    inbox_posts = sum(v for (name, labels), v in seen.items()
                      if name == "fediaid_http_request_duration_seconds_count"
                      and ("method", "POST") in labels
                      and dict(labels)["route"] in ("/inbox", "/groups/{name}/inbox"))
    assert inbox_posts >= 1
    labels = {v for (_, ls) in seen for _, v in ls}
    assert not any(b.domain in v or "127.0.0.1" in v for v in labels), labels
    assert value(seen, "process_resident_memory_bytes") > 0

    # Populate a: a picture uploaded by the coordinator (media on disk).
    token = a.cli("admin", "token", "admin").strip().splitlines()[-1]
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(picture, "PNG")
    r = httpx.post(a.base + "/api/v2/media", headers={"Authorization": f"Bearer {token}"},
                   files={"file": ("p.png", picture.getvalue(), "image/png")}, timeout=10)
    assert r.status_code in (200, 202), r.text

    # b goes away; a's post to its followers cannot be delivered and waits for a retry.
    b.stop()
    a.cli("admin", "post", "Soup at the corner, 6 pm.")
    wait_for(lambda: value(scrape(a.base), "fediaid_delivery_domains_failing") == 1)
    failing = status_json(a)
    assert failing["failing"]["domains"] == 1
    assert failing["failing"]["worst"][0]["domain"] == b.domain
    assert failing["failing"]["worst"][0]["attempts"] >= 1
    assert failing["queues"]["deliveries"]["waiting"] >= 1
    assert failing["queues"]["deliveries"]["oldest_waiting_seconds"] >= 0
    assert failing["queues"]["inbox"]["waiting"] == 0
    assert failing["queues"]["deliveries"]["states"]["done"] >= 1
    assert failing["queues"]["inbox"]["states"]["done"] >= 1
    assert failing["database"] == ("postgresql" if cluster.postgres else "sqlite")
    assert failing["schema"] == failing["schema_head"]
    assert failing["media"]["files"] >= 1 and failing["media"]["bytes"] > 0
    assert failing["followers"] == 1
    now = scrape(a.base)
    assert value(now, "fediaid_deliveries_total", outcome="retry") >= 1
    assert value(now, "fediaid_delivery_domains_failing") == 1
    assert value(now, "fediaid_queue_waiting", queue="deliveries") >= 1

    words = a.cli("admin", "status")
    lines = words.strip().splitlines()
    assert lines[-1] == "followers: 1"
    assert ("database: PostgreSQL" if cluster.postgres else "database: SQLite") in lines[0]
    assert "(up to date)" in lines[0]
    assert any(line.startswith("deliveries: ") and "done" in line for line in lines)
    assert "Deliveries failing: 1 domain with deliveries waiting for a retry" in words
    assert any(line.strip().startswith(f"{b.domain}: ") and "waiting" in line
               for line in lines)
    assert "deliveries to other servers: " in words and ", the oldest queued " in words
    assert "received activities not yet applied (inbox backlog): none" in words
    assert "Media: " in words and "Media: 0 files" not in words

    # a's log: JSON lines (its own start-up words on stdout are plain prints).
    a.stop()
    logged = [line for line in a.log().splitlines() if line.startswith("{")]
    assert logged
    for line in logged:
        event = json.loads(line)
        assert {"time", "level", "logger", "message"} <= event.keys(), event
    plain = [line for line in a.log().splitlines()
             if line and not line.startswith("{") and not line.startswith(("fediaid ", "Log in"))]
    assert not plain, plain[:5]


def test_counters_add_up_across_processes(cluster: Cluster) -> None:
    """`serve --processes 2` (PostgreSQL): whichever web process answers a scrape, it
    shows the requests every web process served and the worker process's deliveries
    (prometheus_client's multiprocess mode, the folder set up by the supervisor)."""
    if not cluster.postgres:
        pytest.skip("several processes share one database only on PostgreSQL")
    a = cluster.new("a", FEDIAID_METRICS_TOKEN=TOKEN)
    b = cluster.new("b")
    init_all(a, b)
    b.launch()
    b.wait_up(timeout=60)
    with (a.data / "serve.log").open("ab") as log:
        supervisor = subprocess.Popen(
            [*FEDIAID, "serve", "--data", str(a.data), "--port", str(a.port),
             "--processes", "2"], env=a._env(), stdout=log, stderr=log)
    try:
        wait_until_up(a.base, supervisor, timeout=60)
        with httpx.Client(base_url=a.base, timeout=10) as http:  # new connections: both
            for _ in range(20):                                     # processes answer some
                assert http.get("/healthz", headers={"Connection": "close"}).status_code == 200
        a.cli("admin", "follow", b.handle)  # the worker process delivers the Follow
        wait_for(lambda: value(scrape(a.base), "fediaid_deliveries_total",
                               outcome="delivered") >= 1)
        for _ in range(6):  # each scrape may reach either web process: all see the sums
            seen = scrape(a.base)
            healthz = sum(v for (name, labels), v in seen.items()
                          if name == "fediaid_http_request_duration_seconds_count"
                          and ("route", "/healthz") in labels)
            assert healthz >= 20
            assert value(seen, "fediaid_deliveries_total", outcome="delivered") >= 1
        # One file per process and kind, named by host and pid (containers sharing the
        # folder can have equal pids): the two web processes and the worker at least.
        files = [f.name for f in (a.data / "metrics").iterdir()]
        counting = {f.rsplit("-", 1)[1] for f in files if f.startswith("counter_")}
        assert all(socket.gethostname() in f for f in files) and len(counting) >= 3, files
    finally:
        supervisor.terminate()
        try:
            supervisor.wait(timeout=20)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            supervisor.wait()
