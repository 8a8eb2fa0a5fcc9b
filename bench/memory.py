"""Memory benchmark: resident memory of ``fediaid serve`` (web server + workers).

1. Idle: starts a fresh instance several times, waits until it has answered /healthz and
   settled (3 s, the workers have polled), and reads VmRSS (and Pss) of the process.
2. Under load: runs bench/inbox.py (quick) and reports the peak RSS of the server sampled
   every 50 ms during the signed-inbox load (skip with --no-load).
3. Where it goes: which imports a serving process has loaded, and what each candidate for
   deferral costs, measured as the RSS an import adds in a fresh interpreter on top of what
   ``serve`` needs anyway (uvicorn, Starlette, SQLAlchemy async, aiosqlite, cryptography,
   orjson), plus the Python heap it allocates (tracemalloc).

Targets: idle <= 80 MB, <= 120 MB during the inbox benchmark.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    FEDIAID,
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 idle starts instead of 3")
    ap.add_argument("--no-load", action="store_true", help="skip the RSS-under-load part")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    args = ap.parse_args()
    summary = run(quick=args.quick, load=not args.no_load)
    emit_json(args.json, summary)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
