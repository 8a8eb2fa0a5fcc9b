"""Memory benchmark: resident memory of ``fediaid serve`` (web server + workers).

1. Idle: starts a fresh instance several times, waits until it has answered /healthz and
   settled (3 s, the workers have polled), and reads VmRSS (and Pss) of the process.
2. Under load: runs bench/inbox.py (quick) and reports the peak RSS of the server sampled
   every 50 ms during the signed-inbox load (skip with --no-load).
3. Where it goes: which imports a serving process has loaded, and what each candidate for
   deferral costs, measured as the RSS an import adds in a fresh interpreter on top of what
   ``serve`` needs anyway (uvicorn, Starlette, SQLAlchemy async, aiosqlite, cryptography,
   orjson), plus the Python heap it allocates (tracemalloc).

4. At scale (``--large``): an instance with 20,000 members and 1,000,000 statuses
   (bench/_bigdata.py, loaded in bulk once and kept), ``fediaid serve`` with its workers,
   then the pages and timelines members and coordinators read most, each requested
   ``--requests`` times (API timelines a page further back each time, keyset
   pagination): RSS sampled every 50 ms while they run (peak) and after (settled), per
   round, a fresh server each round.

Targets: idle <= 80 MB, <= 120 MB during the inbox benchmark, <= 150 MB at scale.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    FEDIAID,
    HOST,
    PY,
    ROOT,
    Instance,
    Procs,
    emit_json,
    free_port,
    med,
    rss_kib,
    spread,
    sqlite_url,
    verdict,
    wait_http,
    workdir,
)

IDLE_TARGET_MB = 80.0
LOAD_TARGET_MB = 120.0
LARGE_TARGET_MB = 150.0
LARGE_PORT = 18613  # the cached large instance's domain is 127.0.0.1:LARGE_PORT

# Imported before measuring a candidate: what `fediaid serve` needs whatever we defer.
BASE = ["asyncio", "uvloop", "uvicorn", "starlette.applications", "starlette.routing",
        "sqlalchemy.ext.asyncio", "aiosqlite", "cryptography.hazmat.primitives.asymmetric.rsa",
        "orjson", "fediaid.storage.tables"]
# Candidates for deferral, with where they are imported today.
CANDIDATES = {
    "aiohttp": "activitypub/net.py, under httpx (imported on the first delivery or fetch)",
    "httpx": "activitypub/net.py, activitypub/client.py, activitypub/auth.py, "
             "activitypub/webfinger.py, fediaid/federation/remote.py",
    "jinja2": "api/web/render.py / api/web/pages.py (templates)",
    "argon2": "fediaid/services/accounts.py (password hashing)",
    "sqlalchemy.dialects.postgresql": "fediaid/storage/dialect.py (insert_ignore)",
    "alembic.command": "fediaid/storage/migrate.py (only when the schema is behind)",
    "asyncpg": "SQLAlchemy's asyncpg dialect (PostgreSQL instances only)",
    "python_multipart": "Starlette form parsing (web forms)",
}

_PROBE = """
import importlib, json, sys, tracemalloc
def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
for m in {base!r}:
    importlib.import_module(m)
before = set(sys.modules)
r0 = rss()
if {heap!r}:
    tracemalloc.start()  # costs RSS itself: measured in a separate run
for m in {mods!r}:
    importlib.import_module(m)
heap = tracemalloc.get_traced_memory()[0]
print(json.dumps({{"rss_kib": rss() - r0, "heap_kib": heap // 1024,
                   "modules": len(set(sys.modules) - before)}}))
"""


def _probe(mods: list[str], heap: bool) -> dict[str, Any]:
    out = subprocess.run([PY, "-c", _PROBE.format(base=BASE, mods=mods, heap=heap)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def import_cost(mods: list[str]) -> dict[str, Any]:
    """RSS added by importing ``mods`` after BASE (median of 3 fresh interpreters), and the
    Python heap it allocates (tracemalloc, separate run)."""
    rss = sorted(_probe(mods, heap=False)["rss_kib"] for _ in range(3))[1]
    with_heap = _probe(mods, heap=True)
    return {"rss_kib": rss, "heap_kib": with_heap["heap_kib"], "modules": with_heap["modules"]}


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loaded_packages(inst: Instance, procs: Procs) -> list[tuple[str, int, float]]:
    """Top-level packages a serving process has imported: (name, modules, import seconds
    spent in the package's own modules, from -X importtime)."""
    log = inst.data / "importtime.log"
    env = {**inst.full_env(), "PYTHONPROFILEIMPORTTIME": "1"}
    with log.open("w") as fh:
        proc = subprocess.Popen([*FEDIAID, "serve", "--data", str(inst.data), "--port",
                                 str(inst.port)], stdout=subprocess.DEVNULL, stderr=fh, env=env)
        procs.procs.append(proc)
        try:
            wait_http(f"{inst.base}/healthz", proc)
            time.sleep(1.0)
        finally:
            procs.stop(proc)
    packages: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _cumulative, name = line.split("|")
        own = own.replace("import time:", "").strip()
        if not own.isdigit():
            continue
        top = name.strip().split(".")[0]
        entry = packages.setdefault(top, [0, 0.0])
        entry[0] += 1
        entry[1] += int(own) / 1e6
    rows = [(k, int(v[0]), v[1]) for k, v in packages.items()]
    return sorted(rows, key=lambda r: -r[1])


def run(*, quick: bool = False, load: bool = True, verbose: bool = True) -> dict[str, Any]:
    say = print if verbose else (lambda *a, **k: None)
    starts = 2 if quick else 3
    idle: list[float] = []
    idle_pss: list[float] = []
    with workdir("fediaid-bench-memory-") as tmp, Procs() as procs:
        inst = Instance(tmp / "app", free_port(), sqlite_url(tmp / "app"))
        inst.data.mkdir()
        inst.init()
        for i in range(starts):
            proc = inst.serve(procs)
            time.sleep(3.0)  # let the workers poll, caches fill, allocations settle
            samples = []
            for _ in range(10):
                samples.append(rss_kib(proc.pid))
                time.sleep(0.1)
            idle.append(max(samples) / 1024)
            idle_pss.append(pss_kib(proc.pid) / 1024)
            say(f"  idle start {i + 1}: RSS {idle[-1]:.1f} MiB (PSS {idle_pss[-1]:.1f} MiB)")
            procs.stop(proc)
        packages = loaded_packages(inst, procs)
    say("\nheaviest packages imported by a serving process (modules, own import time under "
        "-X importtime, which inflates it):")
    say("  " + ", ".join(f"{n} ({m}, {s:.2f}s)" for n, m, s in packages[:14]))
    say("\nwhat each candidate adds on top of serve's base stack (fresh interpreter):")
    costs = {}
    for mod, where in CANDIDATES.items():
        try:
            c = import_cost([mod])
        except subprocess.CalledProcessError:
            continue
        costs[mod] = c
        say(f"  {mod:32s} +{c['rss_kib'] / 1024:5.1f} MiB RSS, {c['heap_kib'] / 1024:5.1f} MiB "
            f"Python heap, {c['modules']:3d} modules  [{where}]")
    peak = None
    if load:
        import inbox

        say("\nrunning bench/inbox.py --quick to sample RSS under load...")
        res = inbox.run(quick=True, verbose=False)
        peak = res["peak_rss_mib"]
        say(f"  peak RSS during the inbox load: {peak:.1f} MiB "
            f"({res['median_stored_per_s']:,.0f} activities/s)")
    ok_idle = med(idle) <= IDLE_TARGET_MB
    ok_load = peak is None or peak <= LOAD_TARGET_MB
    summary = {
        "bench": "memory", "idle_rss_mib": [round(x, 1) for x in idle],
        "idle_pss_mib": [round(x, 1) for x in idle_pss], "median_idle_rss_mib": med(idle),
        "peak_load_rss_mib": peak, "imports": costs,
        "pass": ok_idle and ok_load,
    }
    load_txt = (f"; peak under inbox load {peak:.1f} MiB [{verdict(ok_load)} <= "
                f"{LOAD_TARGET_MB:.0f}]" if peak is not None else "")
    say(f"SUMMARY memory: idle RSS {spread(idle, '{:.1f}')} MiB [{verdict(ok_idle)} <= "
        f"{IDLE_TARGET_MB:.0f}]{load_txt}")
    return summary


class _Rss:
    """Samples a process's RSS every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples = pid, [rss_kib(pid)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.samples.append(rss_kib(self.pid))
            except OSError:
                return

    def __enter__(self) -> _Rss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _session(inst: Instance) -> str:
    link = inst.cli("admin", "login-link", "admin").strip().splitlines()[-1]
    conn = http.client.HTTPConnection(HOST, inst.port, timeout=60)
    try:
        conn.request("GET", urllib.parse.urlsplit(link).path)
        resp = conn.getresponse()
        resp.read()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie" and v.startswith("fediaid_session="):
                return v.split(";", 1)[0]
    finally:
        conn.close()
    raise RuntimeError("no session cookie")


def _large_paths(info: dict[str, Any]) -> list[tuple[str, bool]]:
    """(path, paged): the API timelines are read a page further back on each request."""
    member, actor = info["first_member"], info["member_actor"]
    return [
        ("/api/v1/timelines/public?limit=40", True),
        ("/api/v1/timelines/public?local=true&limit=40", True),
        ("/api/v1/timelines/home?limit=40", True),
        ("/api/v1/timelines/tag/food?limit=40", True),
        (f"/api/v1/accounts/{actor}/statuses?limit=40", True),
        (f"/api/v1/accounts/{actor}", False),
        ("/api/v1/instance", False),
        ("/api/v2/instance", False),
        ("/", False),
        ("/picture", False),
        ("/directory", False),
        ("/notifications", False),
        ("/my/posts", False),
        ("/admin", False),
        ("/admin/members", False),
        ("/audit", False),
        (f"/@{member}", False),
        ("/groups/elm", False),
        ("/groups/elm/outbox", False),
        ("/groups/elm/followers", False),
        (f"/.well-known/webfinger?resource=acct:{member}@{HOST}:{LARGE_PORT}", False),
        ("/nodeinfo/2.0", False),
    ]


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]
         ) -> tuple[int, bytes, float]:
    t = time.perf_counter()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    return resp.status, body, time.perf_counter() - t


def run_large(*, members: int, statuses: int, rounds: int, requests: int,
              verbose: bool = True) -> dict[str, Any]:
    """RSS of ``fediaid serve`` at scale (see the module docstring, part 4)."""
    import _bigdata

    say = print if verbose else (lambda *a, **k: None)
    inst, info = _bigdata.build(LARGE_PORT, members, statuses, say=say)
    rnd = random.Random(7)
    peaks: list[float] = []
    after: list[float] = []
    started: list[float] = []
    slow: dict[str, float] = {}
    codes: dict[str, int] = {}
    with Procs() as procs:
        for r in range(rounds):
            proc = inst.serve(procs)
            time.sleep(2.0)
            started.append(rss_kib(proc.pid) / 1024)
            cookie = _session(inst)
            api = {"Authorization": f"Bearer {info['admin_token']}"}
            web = {"Cookie": cookie}
            conn = http.client.HTTPConnection(HOST, inst.port, timeout=120)
            with _Rss(proc.pid) as rss:
                for path, paged in _large_paths(info):
                    headers = api if path.startswith("/api/") else web
                    if path.startswith("/groups/"):
                        headers = {"Accept": "application/activity+json"}
                    worst = 0.0
                    max_id: str | None = None
                    for _ in range(requests):
                        p = path
                        if paged and max_id:
                            p += f"&max_id={max_id}"
                        code, body, seconds = _get(conn, p, headers)
                        worst = max(worst, seconds)
                        codes[path] = code
                        if paged and code == 200:
                            page = json.loads(body)
                            max_id = (str(page[-1]["id"]) if page and rnd.random() < 0.8
                                      else None)
                    slow[path] = max(slow.get(path, 0.0), worst)
            conn.close()
            time.sleep(2.0)
            after.append(rss_kib(proc.pid) / 1024)
            peaks.append(max(rss.samples) / 1024)
            procs.stop(proc)
            say(f"  round {r + 1}: RSS after start {started[-1]:.1f} MiB, peak while reading "
                f"{peaks[-1]:.1f} MiB, after {after[-1]:.1f} MiB")
    bad = {p: c for p, c in codes.items() if c != 200}
    say("  slowest request per path: " + ", ".join(
        f"{p.split('?')[0]} {s * 1000:.0f} ms" for p, s in sorted(slow.items(),
                                                                   key=lambda x: -x[1])[:8]))
    if bad:
        say(f"  paths not answering 200: {bad}")
    ok = max(peaks) <= LARGE_TARGET_MB
    summary = {"bench": "memory_large", "members": members, "statuses": statuses,
               "rounds": rounds, "requests_per_path": requests,
               "rss_started_mib": [round(x, 1) for x in started],
               "rss_peak_mib": [round(x, 1) for x in peaks],
               "rss_after_mib": [round(x, 1) for x in after],
               "slowest_ms": {p: round(s * 1000) for p, s in slow.items()},
               "not_200": bad, "pass": ok}
    say(f"SUMMARY memory at scale ({members:,} members, {statuses:,} statuses): peak RSS "
        f"{spread(peaks, '{:.1f}')} MiB [{verdict(ok)} <= {LARGE_TARGET_MB:.0f}], after "
        f"{spread(after, '{:.1f}')} MiB")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 idle starts instead of 3")
    ap.add_argument("--no-load", action="store_true", help="skip the RSS-under-load part")
    ap.add_argument("--large", action="store_true",
                    help="only the RSS at scale (20,000 members, 1,000,000 statuses)")
    ap.add_argument("--members", type=int, default=20000)
    ap.add_argument("--statuses", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=10, help="per path, at scale")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    if args.large:
        summary = run_large(members=args.members, statuses=args.statuses, rounds=args.rounds,
                            requests=args.requests)
        emit_json(args.json, summary)
        return 0 if summary["pass"] else 1
    summary = run(quick=args.quick, load=not args.no_load)
    emit_json(args.json, summary)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
