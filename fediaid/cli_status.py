"""``fediaid admin status``: what the instance is doing, in words (or ``--json``).

The figures are ``StatusService.overview`` (read from the database and the data directory
now, so they are right however many processes run); ``/metrics`` serves the same ones to
Prometheus. The last line stays ``followers: N`` for scripts; with ``--json`` the one line
is a JSON object.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from fediaid.services.status import Overview
from fediaid.storage.tables import SCHEMA_HEAD

_QUEUE_WORDS = {
    "deliveries": ("deliveries to other servers", "queued"),
    "inbox": ("received activities not yet applied (inbox backlog)", "received"),
    "email": ("e-mails to send", "queued"),
    "sms": ("text messages to send", "queued"),
    "push": ("Web Push notifications to send", "queued"),
}
_ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def duration(seconds: float) -> str:
    """``seconds`` in the largest whole unit: "40 seconds", "3 minutes", "2 days"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    n = int(seconds)
    return f"{n} second{'s' if n != 1 else ''}"


def size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def lines(o: Overview) -> list[str]:
    engine = _ENGINES.get(o.database, o.database)
    if o.schema_current:
        schema = f"schema {o.schema} (up to date)"
    elif o.schema and o.schema > SCHEMA_HEAD:
        schema = (f"schema {o.schema} (newer than this fediaid knows, {SCHEMA_HEAD}: "
                  "upgrade fediaid)")
    else:
        schema = (f"schema {o.schema or 'none'} (this fediaid expects {SCHEMA_HEAD}: run "
                  "`fediaid migrate`)")
    db = f"database: {engine} {o.database_version}, {schema}"
    if o.database_bytes is not None:
        db += f", {size(o.database_bytes)} on disk"
    out = [f"fediaid {o.version}; {db}"]
    # One line per queue, its rows by state (scripts read these; unchanged since 0.1).
    for name, queue in o.queues.items():
        out.append(name + ": " + (", ".join(f"{k} {v}" for k, v in sorted(queue.states.items()))
                                  or "empty"))
    out.append("Waiting now:")
    for name, queue in o.queues.items():
        words, verb = _QUEUE_WORDS.get(name, (name, "queued"))
        if queue.waiting:
            age = o.age(queue.oldest_waiting) or 0.0
            out.append(f"  {words}: {queue.waiting}, the oldest {verb} {duration(age)} ago")
        else:
            out.append(f"  {words}: none")
    if o.failing_domains:
        out.append(f"Deliveries failing: {o.failing_domains} "
                   f"domain{'s' if o.failing_domains != 1 else ''} with deliveries waiting "
                   f"for a retry; {o.unavailable_domains} marked unavailable (their "
                   "deliveries are held until they answer).")
        for d in o.failing:
            said = [f"{d.waiting} waiting", f"up to {d.attempts} attempts"]
            if d.failure_days:
                said.append(f"failing on {d.failure_days} separate "
                            f"day{'s' if d.failure_days != 1 else ''}")
            if d.unavailable:
                said.append("unavailable")
            if d.last_error:
                said.append(f"last error: {d.last_error[:120]}")
            out.append(f"  {d.domain}: " + "; ".join(said))
        if o.failing_domains > len(o.failing):
            out.append(f"  ... and {o.failing_domains - len(o.failing)} more")
    else:
        out.append("Deliveries failing: none"
                   + (f" ({o.unavailable_domains} domains marked unavailable)"
                      if o.unavailable_domains else ""))
    out.append(f"Media: {o.media_files} file{'s' if o.media_files != 1 else ''}, "
               f"{size(o.media_bytes)}")
    out.append(f"followers: {o.followers}")
    return out


async def run(rt: Any, args: argparse.Namespace) -> int:
    overview: Overview = await rt.status.overview()
    if getattr(args, "json", False):
        print(orjson.dumps(overview.as_dict()).decode())
    else:
        print("\n".join(lines(overview)))
    return 0
