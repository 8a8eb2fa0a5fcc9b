"""Inbox benchmark: signed activities accepted (202) and durably stored per second.

What it does (all on 127.0.0.1):
1. Creates an instance in a temp dir (SQLite, or PostgreSQL with ``--postgres``) and inserts
   4 remote actors with RSA-2048 keys (as if their actor documents had been fetched once).
2. Pre-signs distinct ``Create(Note)`` activities (~2 KB) with real draft-cavage
   ``rsa-sha256`` signatures over ``(request-target) host date digest content-type``, using a
   fresh ``Date`` (the verifier refuses Dates older than ~65 min), in 2 processes.
3. Runs ``fediaid serve`` (web server + background workers, as deployed) and the ceiling
   (bench/_ceiling_inbox.py: a bare Starlette endpoint that verifies the same signatures with
   the same code, ``activitypub.verify``, and stores with group commit), and replays the same
   requests to each with
   ``wrk -t1 -c50`` and bench/inbox.lua, alternating, for several rounds.
4. Per run: 202 count from wrk, rows added to ``inbox_items`` (durably stored), latency
   percentiles, server CPU and peak RSS; for fediaid also how long the inbox worker takes to
   process the backlog once the load stops (it must catch up).

Prints the figure, the ceiling from the same run, and PASS/FAIL against the targets:
>= 1,500 activities/s, >= 80 % of the ceiling, p99 < 100 ms (SQLite; PostgreSQL: figures only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BENCH,
    FEDIAID,
    HOST,
    PY,
    Instance,
    LoadMeter,
    Procs,
    RemoteActor,
    cpu_seconds,
    db_exec,
    db_query,
    emit_json,
    ensure_wrk,
    free_port,
    insert_remote_actors,
    med,
    pg_available,
    pg_create,
    pg_drop,
    rss_kib,
    spread,
    sqlite_url,
    verdict,
    wait_http,
    wait_quiet,
    workdir,
)

TARGET_RATE = 1500.0
TARGET_SHARE = 0.80
TARGET_P99_MS = 100.0
N_ACTORS = 4
CONNECTIONS = 50
# Remote actors live on a port nobody listens on: their keys are already known, so nothing
# is ever fetched from there.
REMOTE_BASE = f"http://{HOST}:9"

_KEYS: list[tuple[str, Any]] = []


def _init_signer(pems: list[tuple[str, str]]) -> None:
    from activitypub.keys import load_private_key

    _KEYS[:] = [(kid, load_private_key(pem)) for kid, pem in pems]


def _sign_range(args: tuple[int, int, str, float, str]) -> bytes:
    """Build raw HTTP requests ``start..start+count`` (runs in a worker process)."""
    from activitypub.signatures import sign_cavage

    start, count, host, now, tag = args
    url = f"http://{host}/inbox"
    filler = ("Neighbors can pick up spare vegetables at the corner garden on Saturday. " * 18)
    out = bytearray()
    for n in range(start, start + count):
        kid, key = _KEYS[n % len(_KEYS)]
        actor = kid.split("#")[0]
        obj = {
            "id": f"{actor}/notes/{tag}-{n}", "type": "Note", "attributedTo": actor,
            "content": f"<p>Note {n}. {filler}</p>", "published": "2026-11-23T12:00:00Z",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor}/followers"],
        }
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}/activities/{tag}-{n}", "type": "Create", "actor": actor,
            "to": obj["to"], "cc": obj["cc"], "object": obj,
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


def build_requests(path: Path, n: int, host: str, keys: list[tuple[str, str]]) -> float:
    """Write ``n`` signed requests to ``path``; return the seconds spent signing."""
    start = time.perf_counter()
    now = time.time()
    tag = f"{int(now)}"
    chunk = 500
    jobs = [(i, min(chunk, n - i), host, now, tag) for i in range(0, n, chunk)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2, initializer=_init_signer,
                             initargs=(keys,)) as pool, path.open("wb") as fh:
        for part in pool.map(_sign_range, jobs):
            fh.write(part)
    return time.perf_counter() - start


def run_wrk(url: str, reqfile: Path, duration: float, offset: int = 0) -> dict[str, Any]:
    assert url.startswith(f"http://{HOST}:")
    out = subprocess.run(
        [ensure_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{int(duration)}s", "--timeout", "10s",
         "-s", str(BENCH / "inbox.lua"), url, "--", str(reqfile), str(offset)],
        capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line[len("BENCH_JSON "):])
            return result
    raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")


class Sampler:
    """Samples a process's RSS every 50 ms in a thread (peak and mean)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(rss_kib(self.pid))
            except OSError:
                return
            self._stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def count(url: str, table: str, where: str = "") -> int:
    return int(db_query(url, f"SELECT count(*) FROM {table} {where}")[0][0])


def measure(kind: str, base: str, db_url: str, table: str, reqfile: Path, duration: float,
            pid: int) -> dict[str, Any]:
    pg_user = None if db_url.startswith("sqlite") else "postgres"
    before = count(db_url, table)
    cpu0 = cpu_seconds(pid)
    profiler = None
    if os.environ.get("BENCH_PYSPY"):
        # Developer aid: BENCH_PYSPY=out.txt records a py-spy profile of the server.
        profiler = subprocess.Popen(
            ["py-spy", "record", "-r", "200", "-f", os.environ.get("BENCH_PYSPY_FORMAT", "raw"),
             "-o", f"{os.environ['BENCH_PYSPY']}.{kind}", "--pid", str(pid),
             "-d", str(int(duration))],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with Sampler(pid) as sampler, LoadMeter([pid], pg_user) as load:
        res = run_wrk(f"{base}/inbox", reqfile, duration)
    if profiler is not None:
        profiler.wait(timeout=60)
    res["server_cpu_s"] = cpu_seconds(pid) - cpu0
    res["foreign_cores"] = load.foreign_cores
    res["stored"] = count(db_url, table) - before
    seconds = res["duration_us"] / 1e6
    res["accepted_per_s"] = res["c202"] / seconds
    # Requests still in flight when wrk stops may be stored without being counted, never
    # the reverse: a 202 means committed.
    res["stored_per_s"] = min(res["stored"], res["c202"]) / seconds
    res["peak_rss_kib"] = max(sampler.samples or [0])
    res["kind"] = kind
    return res


def catch_up(db_url: str, timeout: float) -> dict[str, float]:
    """Watch the inbox worker process the stored backlog once the load has stopped (bounded
    by ``timeout``): seconds watched, items processed, rate, items left, items failed."""
    pending = "WHERE state = 'pending'"
    start = time.perf_counter()
    left0 = left = count(db_url, "inbox_items", pending)
    while left and time.perf_counter() - start < timeout:
        time.sleep(0.25)
        left = count(db_url, "inbox_items", pending)
    seconds = time.perf_counter() - start
    done = left0 - left
    return {"catch_up_s": seconds, "processed": done, "left": left,
            "processed_per_s": done / seconds if seconds else 0.0,
            "failed": count(db_url, "inbox_items", "WHERE state = 'failed'")}


def run(*, postgres: bool = False, quick: bool = False, rounds: int | None = None,
        duration: float | None = None, verbose: bool = True) -> dict[str, Any]:
    rounds = rounds or (1 if quick else 3)
    duration = duration or (4.0 if quick else 6.0)
    # Enough distinct requests for the fastest run (ceiling up to ~5.5k/s) without wrapping.
    n_requests = int(6500 * duration) + 1000
    say = print if verbose else (lambda *a, **k: None)
    ensure_wrk()
    from activitypub.keys import generate_rsa_keypair

    with workdir("fediaid-bench-inbox-") as tmp, Procs() as procs:
        suffix = f"{os.getpid()}"
        pg_names: list[str] = []
        if postgres:
            app_db = pg_create(f"bench_inbox_app_{suffix}")
            ceil_db = pg_create(f"bench_inbox_ceiling_{suffix}")
            pg_names = [f"bench_inbox_app_{suffix}", f"bench_inbox_ceiling_{suffix}"]
        else:
            app_db = sqlite_url(tmp / "app")
            ceil_db = f"sqlite+aiosqlite:///{tmp / 'ceiling.db'}"
        try:
            # Request limits 100 times higher: one load generator on one address sends
            # far more than the 6,000 per 5 minutes a sender may; they are still counted.
            inst = Instance(tmp / "app", free_port(), app_db,
                            env={"FEDIAID_RATE_LIMIT_SCALE": "100"})
            inst.data.mkdir()
            inst.init()
            pairs = [generate_rsa_keypair() for _ in range(N_ACTORS)]
            remote = [RemoteActor(uri=f"{REMOTE_BASE}/users/s{i}",
                                  inbox=f"{REMOTE_BASE}/users/s{i}/inbox",
                                  key_id=f"{REMOTE_BASE}/users/s{i}#main-key",
                                  public_key_pem=p.public_pem) for i, p in enumerate(pairs)]
            insert_remote_actors(app_db, remote)
            keys_file = tmp / "keys.json"
            keys_file.write_text(json.dumps({r.key_id: [r.public_key_pem, r.uri]
                                             for r in remote}))
            reqfile = tmp / "requests.bin"
            sign_s = build_requests(reqfile, n_requests, inst.domain,
                                    [(r.key_id or "", p.private_pem)
                                     for r, p in zip(remote, pairs, strict=True)])
            say(f"signed {n_requests:,} distinct requests in {sign_s:.1f}s "
                f"({reqfile.stat().st_size / n_requests:,.0f} bytes each)")

            if os.environ.get("BENCH_NO_WORKERS") == "1":
                # Diagnostic only: ingestion without the background workers.
                inst.serve_args = ["--no-workers"]
            app = inst.serve(procs)
            ceil_port = free_port()
            ceiling = procs.start([PY, str(BENCH / "_ceiling_inbox.py"), "--port",
                                   str(ceil_port), "--database-url", ceil_db, "--keys",
                                   str(keys_file), "--base-url", inst.base],
                                  log=tmp / "ceiling.log")
            wait_http(f"http://{HOST}:{ceil_port}/healthz", ceiling)
            ceil_base = f"http://{HOST}:{ceil_port}"

            wait_quiet(max_wait=15.0, say=say)
            app_runs: list[dict[str, Any]] = []
            ceil_runs: list[dict[str, Any]] = []
            for r in range(rounds):
                order = ["app", "ceiling"] if r % 2 == 0 else ["ceiling", "app"]
                for kind in order:
                    if kind == "ceiling":
                        res = measure("ceiling", ceil_base, ceil_db, "ceiling_inbox", reqfile,
                                      duration, ceiling.pid)
                        db_exec(ceil_db, "DELETE FROM ceiling_inbox")
                        ceil_runs.append(res)
                    else:
                        res = measure("fediaid", inst.base, app_db, "inbox_items", reqfile,
                                      duration, app.pid)
                        res["during_load"] = count(app_db, "inbox_items",
                                                   "WHERE state != 'pending'")
                        if r == rounds - 1:
                            # Processing must catch up after the burst: watch it (bounded;
                            # earlier rounds skip this to keep the run under 2 minutes).
                            res.update(catch_up(app_db, 10.0 if quick else 15.0))
                        res["objects"] = count(app_db, "objects", "WHERE NOT local")
                        db_exec(app_db, "DELETE FROM inbox_items")
                        db_exec(app_db, "DELETE FROM objects WHERE NOT local")
                        app_runs.append(res)
                    say(_line(res))
            idle_rss = rss_kib(app.pid)
            procs.stop(app)
            procs.stop(ceiling)
        finally:
            for name in pg_names:
                pg_drop(name)

    rate = med([r["stored_per_s"] for r in app_runs])
    ceil = med([r["stored_per_s"] for r in ceil_runs])
    p99 = med([r["p99_us"] / 1000 for r in app_runs])
    share = rate / ceil if ceil else 0.0
    # Each round's fediaid run and ceiling run are back to back: their ratio is less
    # exposed to the machine's drift than the ratio of the medians.
    paired = [a["stored_per_s"] / c["stored_per_s"] for a, c in zip(app_runs, ceil_runs,
                                                                     strict=True)]
    ok_rate, ok_share, ok_p99 = rate >= TARGET_RATE, share >= TARGET_SHARE, p99 < TARGET_P99_MS
    db = "PostgreSQL" if postgres else "SQLite"
    summary = {
        "bench": "inbox", "db": db, "rounds": rounds, "duration_s": duration,
        "stored_per_s": [round(r["stored_per_s"]) for r in app_runs],
        "ceiling_per_s": [round(r["stored_per_s"]) for r in ceil_runs],
        "p99_ms": [round(r["p99_us"] / 1000, 1) for r in app_runs],
        "ceiling_p99_ms": [round(r["p99_us"] / 1000, 1) for r in ceil_runs],
        "processed_during_load": [r["during_load"] for r in app_runs],
        "processed_per_s_after": round(app_runs[-1]["processed_per_s"]),
        "left_after_catch_up": app_runs[-1]["left"],
        "peak_rss_mib": max(r["peak_rss_kib"] for r in app_runs) / 1024,
        "foreign_cores": [round(r["foreign_cores"], 2) for r in app_runs + ceil_runs],
        "idle_rss_after_mib": idle_rss / 1024,
        "median_stored_per_s": rate, "median_ceiling_per_s": ceil, "share": share,
        "median_p99_ms": p99, "paired_shares": [round(x, 3) for x in paired],
        "pass": (ok_rate and ok_share and ok_p99) if not postgres else None,
    }
    last = app_runs[-1]
    say(f"\nfediaid inbox ({db}): {spread(summary['stored_per_s'])} activities/s stored; "
        f"p99 {spread(summary['p99_ms'], '{:.1f}')} ms")
    say(f"inbox worker: processed {spread(summary['processed_during_load'])} items during "
        f"each load (it yields to ingestion), then {last['processed_per_s']:,.0f} items/s once "
        f"the load stopped ({last['processed']:,} in {last['catch_up_s']:.0f} s watched, "
        f"{last['left']:,} left, {last['failed']} failed)")
    say(f"ceiling (bare verify + group commit, same requests): "
        f"{spread(summary['ceiling_per_s'])} /s; p99 {spread(summary['ceiling_p99_ms'], '{:.1f}')}"
        f" ms")
    say(f"per-round ratios fediaid/ceiling: {', '.join(f'{x:.0%}' for x in paired)} "
        f"(median {med(paired):.0%})")
    say(f"server peak RSS during load: {summary['peak_rss_mib']:.1f} MiB")
    if postgres:
        say(f"SUMMARY inbox {db}: {rate:,.0f}/s = {share:.0%} of ceiling {ceil:,.0f}/s, "
            f"p99 {p99:.1f} ms (no target on PostgreSQL)")
    else:
        say(f"SUMMARY inbox {db}: {rate:,.0f}/s [{verdict(ok_rate)} >= {TARGET_RATE:,.0f}] = "
            f"{share:.0%} of ceiling {ceil:,.0f}/s [{verdict(ok_share)} >= 80%], "
            f"p99 {p99:.1f} ms [{verdict(ok_p99)} < 100 ms] => "
            f"{verdict(bool(summary['pass']))}")
    return summary


def _line(r: dict[str, Any]) -> str:
    extra = ""
    if r["kind"] == "fediaid":
        extra = f", {r['during_load']:,} processed during the load"
        if "catch_up_s" in r:
            extra += (f", then {r['processed_per_s']:,.0f}/s after it ({r['left']:,} left "
                      f"after {r['catch_up_s']:.0f} s, {r['failed']} failed)")
    errors = r["c4xx"] + r["c5xx"] + r["cother"] + r["err_timeout"] + r["err_connect"]
    return (f"  {r['kind']:8s} {r['stored_per_s']:7,.0f}/s stored ({r['c202']:,} x 202, "
            f"{r['stored']:,} rows, {errors} errors, wrapped {r['wrapped']}), "
            f"p50 {r['p50_us'] / 1000:.1f} p99 {r['p99_us'] / 1000:.1f} ms, "
            f"server CPU {r['server_cpu_s'] / (r['duration_us'] / 1e6):.0%}, "
            f"peak RSS {r['peak_rss_kib'] / 1024:.0f} MiB, other load "
            f"{r['foreign_cores']:.2f} cores{extra}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round of 4 s")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float, help="seconds per wrk run")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    if args.postgres and not pg_available():
        print("SUMMARY inbox PostgreSQL: skipped (no server at 127.0.0.1:5432)")
        return 0
    summary = run(postgres=args.postgres, quick=args.quick, rounds=args.rounds,
                  duration=args.duration)
    emit_json(args.json, summary)
    return 0 if summary["pass"] in (True, None) else 1


if __name__ == "__main__":
    _ = FEDIAID
    sys.exit(main())
