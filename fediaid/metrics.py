"""What this process counts for Prometheus (the official client library, ``prometheus_client``).

Counters and the request histogram live in this process: each ``fediaid serve`` or
``fediaid worker`` counts what it did itself, from its start. Figures that must be right
across processes (how many jobs wait in each queue, how old the oldest is) are read from the
database when ``/metrics`` is scraped (``StatusService.overview``, rendered by
``exposition``), never counted here.

Several processes: Prometheus should scrape each process on its own address (the usual
way; the counters of a process that restarts start again at 0, which ``rate()`` and
``increase()`` handle). When several processes share one port instead, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before they start: the client library's
multiprocess mode then keeps each process's counters in files there and a scrape adds them
all up (process figures such as memory are then left out: the library cannot add them
up). docs/deploy.md, "Metrics and status".

Labels never hold ids, names or addresses: requests are labelled by their route template
(``/@{name}``, not ``/@rosa``), a method and a status class.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

# The classic text format: every Prometheus reads it (2.x too), and our names need nothing
# newer. (The library's default, CONTENT_TYPE_LATEST, names format 1.0.0 since 0.22.)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# No ``*_created`` series beside each counter: a process's start is in process_start_time.
disable_created_metrics()  # type: ignore[no-untyped-call]


def _multiprocess_values() -> None:
    """In multiprocess mode, make sure the folder exists and name each process's files by
    host and pid: processes in several containers sharing one folder (Docker Compose's web
    and worker on the data volume) can have the same pid, and must never share a file."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if not folder:
        return
    os.makedirs(folder, mode=0o700, exist_ok=True)
    host = socket.gethostname().replace("_", "-")  # "_" separates parts of the file names
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
        lambda: f"{host}-{os.getpid()}")


_multiprocess_values()  # before the metrics below are made

REQUEST_SECONDS = Histogram(
    "fediaid_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DELIVERIES = Counter(
    "fediaid_deliveries",
    "Delivery attempts finished by this process, by outcome (delivered; retry: will be "
    "tried again; failed: given up).",
    ["outcome"],
)
INBOX_ACCEPTED = Counter(
    "fediaid_inbox_accepted",
    "Activities received in an inbox, checked and stored by this process (answered 202).",
)
INBOX_APPLIED = Counter(
    "fediaid_inbox_applied",
    "Stored activities this process's inbox worker finished, by result (done; failed; "
    "retry: put back for later).",
    ["result"],
)

# Each outcome shows from the first scrape (0), so rate() works before the first event.
for _outcome in ("delivered", "retry", "failed"):
    DELIVERIES.labels(_outcome)
for _result in ("done", "failed", "retry"):
    INBOX_APPLIED.labels(_result)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "none"


_timers: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # The labelled child, found once per (method, route, status): ``labels()`` takes a lock
    # and builds a key on every call, which the inbox's hot path need not pay each time.
    # Bounded: routes are the application's templates, methods and statuses few.
    key = (method, route, status)
    timer = _timers.get(key)
    if timer is None:
        timer = _timers[key] = REQUEST_SECONDS.labels(method, route, status_class(status))
    timer.observe(seconds)


class _Figures:
    """The figures read from the database for one scrape, as Prometheus metrics."""

    def __init__(self, figures: Mapping[str, Any]) -> None:
        self.figures = figures

    def collect(self) -> Iterable[Any]:
        f = self.figures
        info = InfoMetricFamily("fediaid", "This fediaid instance.")
        info.add_metric([], {"version": str(f["version"]), "database": str(f["database"]),
                             "schema": str(f["schema"] or "")})
        yield info
        jobs = GaugeMetricFamily(
            "fediaid_queue_jobs", "Jobs waiting in each durable queue, by state: pending, "
            "held (read from the database at scrape time: right across processes; finished "
            "jobs are counted by fediaid_deliveries_total and fediaid_inbox_applied_total).",
            labels=["queue", "state"])
        waiting = GaugeMetricFamily(
            "fediaid_queue_waiting", "Jobs waiting to be done in each queue (pending, or "
            "held for an unavailable domain).", labels=["queue"])
        oldest = GaugeMetricFamily(
            "fediaid_queue_oldest_waiting_seconds", "Age of the oldest job still waiting in "
            "each queue (0 when none waits).", labels=["queue"])
        for name, queue in f["queues"].items():
            for state, count in sorted(queue["states"].items()):
                jobs.add_metric([name, state], count)
            waiting.add_metric([name], queue["waiting"])
            oldest.add_metric([name], queue["oldest_waiting_seconds"] or 0.0)
        yield jobs
        yield waiting
        yield oldest
        failing = f["failing"]
        yield GaugeMetricFamily(
            "fediaid_delivery_domains_failing", "Domains with deliveries waiting for a retry.",
            value=failing["domains"])
        yield GaugeMetricFamily(
            "fediaid_delivery_domains_unavailable", "Domains marked unavailable (their "
            "deliveries are held until they answer).", value=failing["unavailable"])


def exposition(figures: Mapping[str, Any]) -> bytes:
    """The text Prometheus scrapes: this process's counters (or every process's, in
    multiprocess mode), the process collector's figures, and ``figures`` from the
    database."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Figures(figures))
    return generate_latest(counted) + generate_latest(scrape)
