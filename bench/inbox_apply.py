"""Inbox burst benchmark: how fast a burst of signed activities is accepted AND applied.

What it does (all on 127.0.0.1), per round:
1. A fresh instance (SQLite, or a fresh PostgreSQL database with ``--postgres``) on the same
   port every round; ``--actors`` remote actors with RSA-2048 keys inserted into its
   database (as if their documents had been fetched once: nothing is fetched).
2. ``--activities`` distinct ``Create(Note)`` activities (~2 KB, public, a hashtag), spread
   round-robin over the actors and signed once before the first round (draft-cavage
   ``rsa-sha256``, as bench/inbox.py), are sent once each by bench/_burst.py over 50
   keep-alive connections to ``fediaid serve`` (web server and workers in one process, as
   deployed), as fast as it answers.
3. While the burst runs and afterwards, the database is polled (one connection, every
   0.1 s) until every inbox item is processed. Then: the items are all ``done``, one remote
   status exists per note, and the newest one is served by the public timeline API.

Per round it reports **accepted/s** (202s / burst seconds), **applied/s** (activities /
seconds from the first request to the last item's ``processed_at``: the moment its status is
committed, in the same transaction), how long after the burst the backlog was gone, how many
items were applied during the burst, and the inbox p50/p99 latency of the burst (and the
worst p99 of any one second). Targets: applied/s >= 1,000 on both databases; SQLite inbox
p99 < 100 ms in every round.

Request limits are 100 times higher for the server (``FEDIAID_RATE_LIMIT_SCALE=100``):
20,000 activities from one address would otherwise be refused after 6,000; they are still
counted.

    .venv/bin/python bench/inbox_apply.py [--postgres] [--activities 20000] [--actors 200]
        [--rounds 3] [--quick] [--profile DIR] [--json FILE]

``--profile DIR`` records a py-spy profile (raw collapsed stacks, 100 Hz, non-blocking) of the
server during the burst and, separately, during the drain after it, per round; summarise with
``bench/_profile_summary.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH,
    HOST,
    PY,
    Instance,
    LoadMeter,
    Procs,
    RemoteActor,
    cpu_seconds,
    emit_json,
    free_port,
    http_get,
    insert_remote_actors,
    machine,
    med,
    pg_available,
    pg_create,
    pg_drop,
    spread,
    sqlite_url,
    verdict,
    wait_quiet,
    workdir,
)

TARGET_APPLIED = 1000.0
TARGET_P99_MS = 100.0
CONNECTIONS = 50
REMOTE_BASE = f"http://{HOST}:9"  # nobody listens there: nothing is ever fetched
PYSPY = str(Path(PY).with_name("py-spy"))

_KEYS: list[tuple[str, Any]] = []


def _keypair(_: int) -> tuple[str, str]:
    from activitypub.keys import generate_rsa_keypair

    pair = generate_rsa_keypair()
    return pair.private_pem, pair.public_pem


def _init_signer(pems: list[tuple[str, str]]) -> None:
    from activitypub.keys import load_private_key

    _KEYS[:] = [(kid, load_private_key(pem)) for kid, pem in pems]


def _sign_range(args: tuple[int, int, str, float, str]) -> bytes:
    """Raw HTTP requests ``start..start+count``, actors round-robin (in a worker process)."""
    from activitypub.signatures import sign_cavage

    start, count, host, now, tag = args
    url = f"http://{host}/inbox"
    filler = "Neighbors can pick up spare vegetables at the corner garden on Saturday. " * 16
    out = bytearray()
    for n in range(start, start + count):
        kid, key = _KEYS[n % len(_KEYS)]
        actor = kid.split("#")[0]
        obj = {
            "id": f"{actor}/notes/{tag}-{n}", "type": "Note", "attributedTo": actor,
            "content": f"<p>Note {n}. {filler} <a href=\"{actor}/tags/garden\" "
                       f"class=\"mention hashtag\" rel=\"tag\">#<span>garden</span></a></p>",
            "published": "2026-11-23T12:00:00Z", "url": f"{actor}/notes/{tag}-{n}",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor}/followers"],
            "tag": [{"type": "Hashtag", "href": f"{actor}/tags/garden", "name": "#garden"}],
        }
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}/activities/{tag}-{n}", "type": "Create", "actor": actor,
            "published": obj["published"], "to": obj["to"], "cc": obj["cc"], "object": obj,
        }
        body = json.dumps(activity, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/activity+json"}
        signed = sign_cavage(method="POST", url=url, headers=headers, body=body, key_id=kid,
                             private_key=key, now=now)
        head = (f"POST /inbox HTTP/1.1\r\nHost: {signed['Host']}\r\n"
                f"Content-Type: application/activity+json\r\nDate: {signed['Date']}\r\n"
                f"Digest: {signed['Digest']}\r\nSignature: {signed['Signature']}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        raw = head + body
        out += f"{len(raw)}\n".encode() + raw
    return bytes(out)


def build(path: Path, n: int, host: str, keys: list[tuple[str, str]]) -> float:
    start = time.perf_counter()
    now = time.time()
    tag = f"{int(now)}"
    jobs = [(i, min(500, n - i), host, now, tag) for i in range(0, n, 500)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, initializer=_init_signer,
                             initargs=(keys,)) as pool, path.open("wb") as fh:
        for part in pool.map(_sign_range, jobs):
            fh.write(part)
    return time.perf_counter() - start


class Poller:
    """Polls the instance's database on one connection (in a thread) every ``interval``:
    items stored, items finished (both counted on indexes: the poller must cost the server
    next to nothing; statuses are counted once, at the end); keeps the time series."""

    SQL = ("SELECT (SELECT count(*) FROM inbox_items), "
           "(SELECT count(*) FROM inbox_items WHERE state IN ('done', 'failed'))")

    def __init__(self, url: str, interval: float = 0.1) -> None:
        self.url = url
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(self.url.split(":///", 1)[1], timeout=30)
            try:
                while not self._stop.is_set():
                    row = conn.execute(self.SQL).fetchone()
                    self.samples.append((time.time(), *row))
                    self._stop.wait(self.interval)
            finally:
                conn.close()
            return
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://",
                                                          "postgresql://"))
            try:
                while not self._stop.is_set():
                    row = await conn.fetchrow(self.SQL)
                    self.samples.append((time.time(), *row))
                    await asyncio.sleep(self.interval)
            finally:
                await conn.close()

        asyncio.run(go())

    def last(self) -> tuple[float, int, int]:
        return self.samples[-1] if self.samples else (time.time(), 0, 0)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    from _common import db_query

    return db_query(url, sql)


def _wall(value: Any) -> float:
    """A ``UTCDateTime`` value read outside SQLAlchemy (SQLite: naive ISO text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def _profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PYSPY, "record", "-r", "100", "--nonblocking", "-f", "raw",
                             "-o", str(out), "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_profile(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def one_round(*, r: int, tmp: Path, procs: Procs, postgres: bool, port: int, n: int,
              remote: list[RemoteActor], reqfile: Path, drain_timeout: float,
              profile: Path | None, say: Any) -> dict[str, Any]:
    pg_name = f"bench_apply_{os.getpid()}"
    db_url = pg_create(pg_name) if postgres else sqlite_url(tmp / f"round{r}")
    try:
        inst = Instance(tmp / f"round{r}", port, db_url,
                        env={"FEDIAID_RATE_LIMIT_SCALE": "100"})
        inst.data.mkdir()
        inst.init()
        insert_remote_actors(db_url, remote)
        app = inst.serve(procs)
        wait_quiet(max_wait=20.0, say=say)
        prof = _profile(app.pid, profile / f"burst.{r}.txt") if profile else None
        pg_user = "postgres" if postgres else None
        with Poller(db_url) as poll:
            burst_cpu0 = cpu_seconds(app.pid)
            with LoadMeter([app.pid], pg_user) as burst_load:
                out = subprocess.run([PY, str(BENCH / "_burst.py"), "--url", inst.base,
                                      "--requests", str(reqfile), "--connections",
                                      str(CONNECTIONS)], capture_output=True, text=True,
                                     timeout=600)
            burst_cpu = cpu_seconds(app.pid) - burst_cpu0
            _stop_profile(prof)
            line = next((x for x in out.stdout.splitlines() if x.startswith("BURST_JSON ")),
                        None)
            if line is None:
                raise RuntimeError(f"burst client failed: {out.stdout}\n{out.stderr}")
            burst = json.loads(line[len("BURST_JSON "):])
            at_end = poll.last()
            prof = _profile(app.pid, profile / f"drain.{r}.txt") if profile else None
            deadline = time.monotonic() + drain_timeout
            cpu0, t0 = cpu_seconds(app.pid), time.monotonic()
            with LoadMeter([app.pid], pg_user) as drain_load:
                while time.monotonic() < deadline:
                    _, stored, finished = poll.last()
                    if stored >= burst["c202"] and finished >= stored:
                        break
                    time.sleep(0.05)
            drain_cpu = cpu_seconds(app.pid) - cpu0
            drain_wall = time.monotonic() - t0
            _stop_profile(prof)
        rows = _query(db_url, "SELECT state, count(*), max(processed_at) FROM inbox_items "
                              "GROUP BY state")
        states = {s: int(c) for s, c, _ in rows}
        last_done = max((_wall(m) for _, _, m in rows if m is not None), default=time.time())
        statuses = int(_query(db_url, "SELECT count(*) FROM statuses WHERE NOT local")[0][0])
        newest = _query(db_url, "SELECT max(id) FROM statuses WHERE NOT local")[0][0]
        code, body = http_get(f"{inst.base}/api/v1/timelines/public?remote=true&limit=1")
        served = json.loads(body) if code == 200 else []
        visible = bool(served) and str(served[0].get("id")) == str(newest)
        procs.stop(app)
        if "Traceback" in inst.log():
            say("  (the server logged a traceback: see its serve.log with BENCH_KEEP=1)")
    finally:
        if postgres:
            pg_drop(pg_name)
    applied = states.get("done", 0)
    seconds = last_done - burst["start_wall"]
    res = {
        "round": r, "c202": burst["c202"], "statuses_http": burst["statuses"],
        "errors": burst["errors"], "burst_s": burst["duration_s"],
        "accepted_per_s": burst["c202"] / burst["duration_s"],
        "applied": applied, "failed": states.get("failed", 0),
        "pending": states.get("pending", 0), "remote_statuses": statuses,
        "newest_visible": visible, "apply_s": seconds,
        "applied_per_s": applied / seconds if seconds > 0 else 0.0,
        "drained_after_burst_s": last_done - burst["end_wall"],
        "applied_during_burst": at_end[2],
        "p50_ms": burst["p50_ms"], "p99_ms": burst["p99_ms"], "max_ms": burst["max_ms"],
        "worst_second_p99_ms": max(burst["p99_ms_by_second"] or [0.0]),
        "server_cpu_us_per_request_burst": burst_cpu / max(1, burst["c202"]) * 1e6,
        "server_cores_burst": burst_cpu / burst["duration_s"] if burst["duration_s"] else 0.0,
        "server_cores_drain": drain_cpu / drain_wall if drain_wall else 0.0,
        "server_cpu_us_per_item_drain": drain_cpu / max(1, applied - at_end[2]) * 1e6,
        "foreign_cores_burst": burst_load.foreign_cores,
        "foreign_cores_drain": drain_load.foreign_cores,
    }
    say(_line(res))
    return res


def _line(r: dict[str, Any]) -> str:
    ok = (r["applied"] == r["c202"] == r["remote_statuses"] and not r["failed"]
          and r["newest_visible"])
    return (f"  round {r['round'] + 1}: accepted {r['accepted_per_s']:,.0f}/s "
            f"({r['c202']:,} x 202 in {r['burst_s']:.1f} s, http {r['statuses_http']}), "
            f"applied {r['applied_per_s']:,.0f}/s ({r['applied']:,} in {r['apply_s']:.1f} s; "
            f"{r['applied_during_burst']:,} during the burst, the rest "
            f"{r['drained_after_burst_s']:.1f} s after it), p50 {r['p50_ms']:.1f} "
            f"p99 {r['p99_ms']:.1f} ms (worst second {r['worst_second_p99_ms']:.0f} ms, max "
            f"{r['max_ms']:.0f}), {r['failed']} failed, {r['pending']} pending, statuses "
            f"{r['remote_statuses']:,}, newest visible {r['newest_visible']}; server CPU "
            f"during the burst {r['server_cores_burst']:.2f} cores = "
            f"{r['server_cpu_us_per_request_burst']:,.0f} us per request, during the drain "
            f"{r['server_cores_drain']:.2f} cores = "
            f"{r['server_cpu_us_per_item_drain']:,.0f} us per item; other load "
            f"{r['foreign_cores_burst']:.2f}/{r['foreign_cores_drain']:.2f} cores "
            f"{'OK' if ok else 'INCOMPLETE'}")


def run(*, postgres: bool, n: int, n_actors: int, rounds: int, drain_timeout: float,
        profile: Path | None, verbose: bool = True) -> dict[str, Any]:
    say = print if verbose else (lambda *a, **k: None)
    db = "PostgreSQL" if postgres else "SQLite"
    say(f"inbox burst, {db}: {n:,} Create(Note) from {n_actors} actors, {rounds} round(s); "
        f"machine {machine()}")
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    with workdir("fediaid-bench-apply-") as tmp, Procs() as procs:
        port = free_port()
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            pairs = list(pool.map(_keypair, range(n_actors)))
        remote = [RemoteActor(uri=f"{REMOTE_BASE}/users/a{i}",
                              inbox=f"{REMOTE_BASE}/users/a{i}/inbox",
                              key_id=f"{REMOTE_BASE}/users/a{i}#main-key",
                              public_key_pem=pub) for i, (_, pub) in enumerate(pairs)]
        reqfile = tmp / "requests.bin"
        sign_s = build(reqfile, n, f"{HOST}:{port}",
                       [(a.key_id or "", priv) for a, (priv, _) in zip(remote, pairs,
                                                                       strict=True)])
        say(f"{n_actors} keys and {n:,} signed requests in {time.perf_counter() - t:.1f} s "
            f"(signing {sign_s:.1f} s, {reqfile.stat().st_size / n:,.0f} bytes each)")
        runs = [one_round(r=r, tmp=tmp, procs=procs, postgres=postgres, port=port, n=n,
                          remote=remote, reqfile=reqfile, drain_timeout=drain_timeout,
                          profile=profile, say=say) for r in range(rounds)]
    accepted = med([x["accepted_per_s"] for x in runs])
    applied = med([x["applied_per_s"] for x in runs])
    p99s = [x["p99_ms"] for x in runs]
    complete = all(x["applied"] == x["c202"] == x["remote_statuses"] == n and not x["failed"]
                   and x["newest_visible"] for x in runs)
    ok_applied = applied >= TARGET_APPLIED
    ok_p99 = postgres or max(p99s) < TARGET_P99_MS
    summary = {
        "bench": "inbox_apply", "db": db, "activities": n, "actors": n_actors,
        "rounds": rounds, "machine": machine(),
        "accepted_per_s": [round(x["accepted_per_s"]) for x in runs],
        "applied_per_s": [round(x["applied_per_s"]) for x in runs],
        "p99_ms": [round(x, 1) for x in p99s],
        "worst_second_p99_ms": [round(x["worst_second_p99_ms"], 1) for x in runs],
        "drained_after_burst_s": [round(x["drained_after_burst_s"], 1) for x in runs],
        "applied_during_burst": [x["applied_during_burst"] for x in runs],
        "server_cores_drain": [round(x["server_cores_drain"], 2) for x in runs],
        "server_cpu_us_per_item_drain": [round(x["server_cpu_us_per_item_drain"])
                                         for x in runs],
        "server_cpu_us_per_request_burst": [round(x["server_cpu_us_per_request_burst"])
                                            for x in runs],
        "foreign_cores": [round(max(x["foreign_cores_burst"], x["foreign_cores_drain"]), 2)
                          for x in runs],
        "median_accepted_per_s": accepted, "median_applied_per_s": applied,
        "complete": complete, "pass": ok_applied and ok_p99 and complete,
    }
    say(f"\naccepted {spread(summary['accepted_per_s'])}/s; applied "
        f"{spread(summary['applied_per_s'])}/s; inbox p99 {spread(p99s, '{:.1f}')} ms; "
        f"drained {spread(summary['drained_after_burst_s'], '{:.1f}')} s after the burst")
    p99_part = ("" if postgres else
                f", p99 every round {max(p99s):.1f} ms [{verdict(ok_p99)} < 100 ms]")
    say(f"SUMMARY inbox_apply {db}: accepted {accepted:,.0f}/s, applied {applied:,.0f}/s "
        f"[{verdict(ok_applied)} >= {TARGET_APPLIED:,.0f}]{p99_part}, every activity applied "
        f"once and visible [{verdict(complete)}] => {verdict(bool(summary['pass']))}")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--activities", type=int, default=20000)
    ap.add_argument("--actors", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 round of 3,000 from 50 actors")
    ap.add_argument("--drain-timeout", type=float, default=600.0,
                    help="seconds to wait for the backlog after the burst")
    ap.add_argument("--profile", type=Path, help="py-spy profiles into this directory")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    if args.postgres and not pg_available():
        print("SUMMARY inbox_apply PostgreSQL: skipped (no server at 127.0.0.1:5432)")
        return 0
    n, actors, rounds = args.activities, args.actors, args.rounds
    if args.quick:
        n, actors, rounds = 3000, 50, 1
    summary = run(postgres=args.postgres, n=n, n_actors=actors, rounds=rounds,
                  drain_timeout=args.drain_timeout, profile=args.profile)
    emit_json(args.json, summary)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
