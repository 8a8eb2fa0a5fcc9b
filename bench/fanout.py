"""Fan-out benchmark: one post by the group, delivered to 2,000 distinct inboxes.

What it does (all on 127.0.0.1):
1. Starts 2 sink processes (bench/_sink.py) listening on 25 ports each: 50 "remote servers",
   answering 202 to any POST.
2. Creates an instance (SQLite, or PostgreSQL with ``--postgres``) and inserts 2,000 remote
   actors, each with its own inbox URL (40 per server), as accepted followers of the group.
3. Runs ``fediaid serve`` (web server + workers), then per round a member posts a status
   through the server (``POST /api/v1/statuses``, as from a Mastodon app; her 2,000
   followers are the inboxes), or with ``--via cli`` the group posts with ``fediaid admin
   post`` from another process: the app's own publish path stores the activity and its 2,000
   deliveries in one transaction.
   Measured: from the activity's ``created_at`` (enqueue) to the last delivery's
   ``finished_at`` with every delivery ``done``; the sinks confirm they received 2,000 signed
   requests on 2,000 distinct paths, and a sample of signatures is verified (RSA-2048).
4. The yardstick, same round: bench/_yardstick.py signs and POSTs the same activity to the
   same 2,000 URLs with no database (aiohttp inline signing, aiohttp with threaded signing,
   raw asyncio client with threaded signing); the best variant is the yardstick.

Target: >= 600 signed deliveries/s and >= 70 % of the yardstick (2 cores, sinks included).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
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
    db_query,
    emit_json,
    free_port,
    free_ports,
    http_get,
    insert_remote_actors,
    med,
    pg_available,
    pg_create,
    pg_drop,
    spread,
    sqlite_url,
    verdict,
    wait_http,
    wait_quiet,
    workdir,
)

TARGET_RATE = 600.0
TARGET_SHARE = 0.70
N_INBOXES = 2000
N_SINK_PROCS = 2
PORTS_PER_SINK = 25
YARDSTICK_MODES = ("aiohttp", "aiohttp-threads", "raw")


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def sink_stats(ports: list[int], path: str = "/__stats") -> list[Any]:
    return [json.loads(http_get(f"http://{HOST}:{p}{path}")[1]) for p in ports]


def verify_samples(samples: list[dict[str, Any]], key_id: str, public_pem: str) -> int:
    """Verify the kept requests' signatures with the group's public key; return how many."""
    from activitypub.keys import load_public_key
    from activitypub.verify import ResolvedKey, verify_request

    key = ResolvedKey(key_id=key_id, owner="group", public_key=load_public_key(public_pem))

    async def resolve(kid: str, refresh: bool) -> ResolvedKey:
        assert kid == key_id, kid
        return key

    async def go() -> int:
        for s in samples:
            await verify_request(method="POST", url=s["url"], headers=s["headers"],
                                 body=base64.b64decode(s["body"]), resolve_key=resolve,
                                 now=time.time())
        return len(samples)

    return asyncio.run(go())


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread of ``pid``, by thread name (developer aid)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[f"{name}:{task.name}"] = (int(fields[11]) + int(fields[12])) / tick
        try:  # time spent runnable but waiting for a CPU
            out[f"{name}:{task.name} runq"] = int(
                (task / "schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            pass
    return out


def _proc_cpu(pid: int) -> float:
    """CPU seconds a running process has used so far (10 ms resolution)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_cpu(proc: subprocess.Popen[bytes]) -> float:
    """Wait for ``proc`` (at most 60 s) and return the CPU seconds it used in all."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        time.sleep(0.005)
    raise TimeoutError("fediaid admin post did not exit")


def watch_commit(db_url: str, last_pk: int, cli: subprocess.Popen[bytes]
                 ) -> tuple[int, float]:
    """Poll (every ~5 ms) until the new activity's deliveries are visible, i.e. committed;
    return (activity id, commit time). Bounded by the CLI's life and 60 s."""
    deadline = time.monotonic() + 60
    sql = (f"SELECT activity_id, count(*) FROM deliveries WHERE activity_id > {last_pk} "
           f"GROUP BY activity_id")
    while time.monotonic() < deadline:
        rows = db_query(db_url, sql)
        if rows and rows[0][1] >= N_INBOXES:
            return int(rows[0][0]), time.time()
        if cli.poll() is not None and not rows:
            raise RuntimeError("fediaid admin post queued no deliveries")
        time.sleep(0.005)
    raise TimeoutError("the post's deliveries never appeared")


def wait_done(db_url: str, activity_pk: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = dict(db_query(db_url, f"SELECT state, count(*) FROM deliveries WHERE "
                                     f"activity_id = {activity_pk} GROUP BY state"))
        if rows.get("done", 0) + rows.get("failed", 0) >= N_INBOXES or \
                time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


class _ApiPost:
    """A member's status posted through the running server (``POST /api/v1/statuses``, as
    from a Mastodon app), in a thread, so the commit can be watched while it runs. Looks
    like a finished process to ``watch_commit``/``_wait_cpu`` callers."""

    def __init__(self, base: str, token: str, text: str) -> None:
        import threading

        import httpx

        self.returncode: int | None = None
        self.pid = os.getpid()

        def go() -> None:
            r = httpx.post(f"{base}/api/v1/statuses", data={"status": text},
                           headers={"Authorization": f"Bearer {token}"}, timeout=60)
            self.returncode = 0 if r.status_code == 200 else r.status_code

        self._thread = threading.Thread(target=go, daemon=True)
        self._thread.start()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self) -> None:
        self._thread.join(60)


def run(*, postgres: bool = False, quick: bool = False, rounds: int | None = None,
        transport: str | None = None, verbose: bool = True, via: str = "api"
        ) -> dict[str, Any]:
    rounds = rounds or (1 if quick else 3)
    say = print if verbose else (lambda *a, **k: None)
    with workdir("fediaid-bench-fanout-") as tmp, Procs() as procs:
        name = f"bench_fanout_{os.getpid()}"
        db_url = pg_create(name) if postgres else sqlite_url(tmp / "app")
        try:
            ports = free_ports(N_SINK_PROCS * PORTS_PER_SINK)
            sinks = [procs.start([PY, str(BENCH / "_sink.py"),
                                  *map(str, ports[i::N_SINK_PROCS])], log=tmp / f"sink{i}.log")
                     for i in range(N_SINK_PROCS)]
            for p in ports:  # every sink port is bound before we pick the app's port
                wait_http(f"http://{HOST}:{p}/__stats", timeout=20.0)
            inst = Instance(tmp / "app", free_port(), db_url, transport=transport)
            inst.data.mkdir()
            inst.init()
            remote = []
            for i in range(N_INBOXES):
                base = f"http://{HOST}:{ports[i % len(ports)]}"
                remote.append(RemoteActor(uri=f"{base}/users/f{i}",
                                          inbox=f"{base}/users/f{i}/inbox"))
            poster_uri = inst.group_uri
            token = ""
            if via == "api":
                # A member posting from an app: her followers are the 2,000 inboxes.
                inst.cli("admin", "create-user", "poster")
                token = inst.cli("admin", "token", "poster", "--scopes", "write"
                                 ).strip().splitlines()[-1]
                poster_uri = f"{inst.base}/users/poster"
            insert_remote_actors(db_url, remote, followers_of=poster_uri)
            group_id, key_id, public_pem = db_query(
                db_url, f"SELECT id, key_id, public_key_pem FROM actors "
                        f"WHERE uri = '{poster_uri}'")[0]
            private_pem = db_query(
                db_url, f"SELECT private_key_pem FROM actor_keys WHERE actor_id = {group_id}"
            )[0][0]
            (tmp / "key.pem").write_text(private_pem)
            (tmp / "urls.txt").write_text("\n".join(r.inbox for r in remote))
            for s in sinks:
                assert s.poll() is None, "sink died"
            app = inst.serve(procs)

            app_runs: list[dict[str, Any]] = []
            yard_runs: list[dict[str, Any]] = []
            for r in range(rounds):
                sink_stats(ports[:N_SINK_PROCS], "/__reset")
                wait_quiet(max_wait=8.0, say=say)
                meter = LoadMeter([app.pid, *(s.pid for s in sinks)],
                                  None if not postgres else "postgres")
                meter.__enter__()
                profiler = None
                if os.environ.get("BENCH_PYSPY"):
                    # Developer aid: BENCH_PYSPY=out records a py-spy profile of the server.
                    profiler = subprocess.Popen(
                        ["py-spy", "record", *os.environ.get(
                            "BENCH_PYSPY_ARGS", "--nonblocking -r 250").split(), "-f", "raw", "-o",
                         f"{os.environ['BENCH_PYSPY']}.{r}", "--pid", str(app.pid), "-d", "4"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                threads_before = thread_cpu(app.pid) if os.environ.get("BENCH_THREADS") else {}
                last_pk = db_query(db_url, "SELECT coalesce(max(id), 0) FROM activities")[0][0]
                text = f"Round {r}: soup kitchen needs volunteers on Saturday."
                if via == "api":
                    api = _ApiPost(inst.base, token, text)
                    act_pk, committed = watch_commit(db_url, last_pk, api)  # type: ignore[arg-type]
                    api.wait()
                    cli_cpu_at_commit = cli_cpu_total = 0.0
                    cli_returned = time.time()
                    if api.returncode != 0:
                        raise RuntimeError(f"POST /api/v1/statuses failed ({api.returncode})")
                else:
                    cli = procs.start([*FEDIAID, "admin", "post", "--data", str(inst.data),
                                       text], env=inst.full_env(), cwd=tmp)
                    act_pk, committed = watch_commit(db_url, last_pk, cli)
                    cli_cpu_at_commit = _proc_cpu(cli.pid)
                    cli_cpu_total = _wait_cpu(cli)
                    cli_returned = time.time()
                    procs.procs.remove(cli)
                    if cli.returncode != 0:
                        raise RuntimeError(f"fediaid admin post failed ({cli.returncode})")
                created = db_query(db_url, f"SELECT created_at FROM activities "
                                           f"WHERE id = {act_pk}")[0][0]
                states = wait_done(db_url, act_pk, 90.0)
                meter.__exit__(None, None, None)
                if threads_before:
                    used = {k: v - threads_before.get(k, 0.0)
                            for k, v in thread_cpu(app.pid).items()}
                    say("  server threads' CPU (s): " + ", ".join(
                        f"{k} {v:.2f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1])
                        if v > 0))
                if profiler is not None:
                    profiler.wait(timeout=30)
                last_fin = db_query(
                    db_url, f"SELECT max(finished_at) FROM deliveries "
                            f"WHERE activity_id = {act_pk}")[0][0]
                stats = sink_stats(ports[:N_SINK_PROCS])
                samples = [s for part in sink_stats(ports[:N_SINK_PROCS], "/__samples")
                           for s in part]
                verified = verify_samples(samples, key_id, public_pem)
                seconds = _ts(last_fin) - committed
                res = {
                    "kind": "fediaid", "seconds": seconds, "per_s": N_INBOXES / seconds,
                    "per_s_from_created": N_INBOXES / (_ts(last_fin) - _ts(created)),
                    "enqueue_txn_s": committed - _ts(created),
                    "states": states, "received": sum(s["requests"] for s in stats),
                    "signed": sum(s["signed"] for s in stats),
                    "paths": sum(s["paths"] for s in stats), "verified": verified,
                    "first_post_after_s": min(s["first_at"] for s in stats) - committed,
                    "cli_exit_after_s": cli_returned - committed,
                    "cli_cpu_after_commit_s": max(0.0, cli_cpu_total - cli_cpu_at_commit),
                    "foreign_cores": meter.foreign_cores,
                    "drain_per_s": N_INBOXES / max(1e-9, max(s["last_at"] for s in stats)
                                                   - min(s["first_at"] for s in stats)),
                }
                app_runs.append(res)
                say(f"  fediaid   {res['per_s']:7,.0f}/s enqueue->all done in "
                    f"{seconds:.2f}s (publishing transaction took {res['enqueue_txn_s']:.2f}s "
                    f"before that: {res['per_s_from_created']:,.0f}/s counting it; first POST "
                    f"{res['first_post_after_s']:.2f}s after the commit, the CLI exited "
                    f"{res['cli_exit_after_s']:.2f}s after it, using "
                    f"{res['cli_cpu_after_commit_s']:.2f}s of CPU meanwhile; "
                    f"{res['drain_per_s']:,.0f}/s while sending); states {states}; "
                    f"sinks got {res['received']} ({res['signed']} signed, {res['paths']} "
                    f"distinct inboxes), {verified} signatures verified; other load "
                    f"{res['foreign_cores']:.2f} cores")
                (tmp / "body.json").write_text(db_query(
                    db_url, f"SELECT payload FROM activities WHERE id = {act_pk}")[0][0])
                for mode in YARDSTICK_MODES:
                    sink_stats(ports[:N_SINK_PROCS], "/__reset")
                    ymeter = LoadMeter([s.pid for s in sinks])
                    ymeter.__enter__()
                    out = subprocess.run(
                        [PY, str(BENCH / "_yardstick.py"), "--key", str(tmp / "key.pem"),
                         "--key-id", key_id, "--body", str(tmp / "body.json"), "--urls",
                         str(tmp / "urls.txt"), "--mode", mode],
                        capture_output=True, text=True, timeout=120, check=True)
                    ymeter.__exit__(None, None, None)
                    y = json.loads(out.stdout.strip().splitlines()[-1])
                    stats = sink_stats(ports[:N_SINK_PROCS])
                    y["signed"] = sum(s["signed"] for s in stats)
                    say(f"  yardstick {y['per_s']:7,.0f}/s ({mode}: {y['n']} in "
                        f"{y['seconds']:.2f}s, statuses {y['statuses']}, sinks saw "
                        f"{y['signed']} signed; other load {ymeter.foreign_cores:.2f} cores)")
                    yard_runs.append(y)
            procs.stop(app)
        finally:
            if postgres:
                pg_drop(name)

    rate = med([r["per_s"] for r in app_runs])
    # The yardstick is the fastest client variant (by its median over the rounds).
    by_mode = {m: [y["per_s"] for y in yard_runs if y["mode"] == m] for m in YARDSTICK_MODES}
    best_mode = max(by_mode, key=lambda m: med(by_mode[m]))
    yard = med(by_mode[best_mode])
    share = rate / yard if yard else 0.0
    complete = all(r["states"].get("done") == N_INBOXES and r["signed"] == N_INBOXES
                   and r["paths"] == N_INBOXES for r in app_runs)
    ok_rate, ok_share = rate >= TARGET_RATE, share >= TARGET_SHARE
    db = "PostgreSQL" if postgres else "SQLite"
    summary = {
        "bench": "fanout", "db": db, "rounds": rounds, "inboxes": N_INBOXES,
        "transport": transport or "runtime default",
        "per_s": [round(r["per_s"]) for r in app_runs],
        "per_s_from_created": [round(r["per_s_from_created"]) for r in app_runs],
        "enqueue_txn_s": [round(r["enqueue_txn_s"], 2) for r in app_runs],
        "drain_per_s": [round(r["drain_per_s"]) for r in app_runs],
        "first_post_after_s": [round(r["first_post_after_s"], 2) for r in app_runs],
        "cli_cpu_after_commit_s": [round(r["cli_cpu_after_commit_s"], 2) for r in app_runs],
        "yardstick_per_s": [round(x) for x in by_mode[best_mode]],
        "yardstick_mode": best_mode,
        "yardstick_by_mode": {m: [round(x) for x in v] for m, v in by_mode.items()},
        "foreign_cores": [round(r["foreign_cores"], 2) for r in app_runs],
        "median_per_s": rate, "median_yardstick_per_s": yard, "share": share,
        "complete": complete,
        "pass": (ok_rate and ok_share and complete) if not postgres else None,
    }
    say(f"\nfediaid fan-out ({db}, transport: {summary['transport']}): "
        f"{spread(summary['per_s'])} deliveries/s from enqueue to all done ({N_INBOXES} "
        f"inboxes); {spread(summary['drain_per_s'])}/s while sending")
    for m, v in by_mode.items():
        say(f"yardstick {m:16s} {spread(v)}/s" + ("  <- fastest: the yardstick"
                                                  if m == best_mode else ""))
    if postgres:
        say(f"SUMMARY fanout {db}: {rate:,.0f}/s = {share:.0%} of yardstick {yard:,.0f}/s "
            f"(no target on PostgreSQL); all delivered and signed: {complete}")
    else:
        say(f"SUMMARY fanout {db}: {rate:,.0f}/s [{verdict(ok_rate)} >= {TARGET_RATE:,.0f}] = "
            f"{share:.0%} of yardstick {yard:,.0f}/s [{verdict(ok_share)} >= 70%]; all "
            f"delivered and signed [{verdict(complete)}] => {verdict(bool(summary['pass']))}")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round")
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--transport", choices=["http", "aiohttp"],
                    help="make the server use this delivery transport (bench/_serve.py); "
                         "default: whatever fediaid's runtime builds")
    ap.add_argument("--via", choices=["api", "cli"], default="api",
                    help="how the post is made: api (default) = a member's status through "
                         "the running server (POST /api/v1/statuses, as from an app); cli = "
                         "the group's note from `fediaid admin post` in another process")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    if args.postgres and not pg_available():
        print("SUMMARY fanout PostgreSQL: skipped (no server at 127.0.0.1:5432)")
        return 0
    summary = run(postgres=args.postgres, quick=args.quick, rounds=args.rounds,
                  transport=args.transport, via=args.via)
    emit_json(args.json, summary)
    return 0 if summary["pass"] in (True, None) else 1


if __name__ == "__main__":
    sys.exit(main())
