"""Shared helpers for the benchmarks: processes, instances, databases, statistics.

Everything here talks to 127.0.0.1 only. Every process a benchmark starts is registered with
``Procs`` and terminated (then killed) when the benchmark ends, also on errors and Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PY = sys.executable
FEDIAID = [PY, "-m", "fediaid"]
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
HOST = "127.0.0.1"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- processes ------------------------------------------------------------------------------
class Procs:
    """Owns the child processes of one benchmark; ``close`` stops them all (by pid)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], *, log: Path | None = None,
              env: dict[str, str] | None = None, cwd: Path | None = None
              ) -> subprocess.Popen[bytes]:
        out = log.open("ab") if log else subprocess.DEVNULL
        proc = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT if log else
                                subprocess.DEVNULL, env=env or os.environ.copy(), cwd=cwd)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc, timeout=10.0)

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (kept bound until all are chosen, so no duplicates)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    assert url.startswith(f"http://{HOST}:"), url  # loopback only
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0,
              interval: float = 0.01) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited."""
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} came up")
        try:
            if http_get(url, timeout=1.0)[0] == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{url} did not come up in {timeout}s")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- instances ------------------------------------------------------------------------------
@dataclass
class Instance:
    data: Path
    port: int
    database_url: str
    group: str = "elm"
    env: dict[str, str] = field(default_factory=dict)
    serve_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def domain(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def base(self) -> str:
        return f"http://{self.domain}"

    @property
    def group_uri(self) -> str:
        return f"{self.base}/groups/{self.group}"

    def full_env(self) -> dict[str, str]:
        env = {**os.environ, "FEDIAID_DATABASE_URL": self.database_url,
               "FEDIAID_LOG_LEVEL": "warning"}
        env.update(self.env)
        return env

    def init(self) -> None:
        subprocess.run([*FEDIAID, "init", "--data", str(self.data), "--domain", self.domain,
                        "--group", self.group, "--dev", "--database-url", self.database_url],
                       check=True, capture_output=True, env=self.full_env(), cwd=self.data.parent)

    def serve(self, procs: Procs, *, wait: bool = True) -> subprocess.Popen[bytes]:
        self.proc = procs.start([*FEDIAID, "serve", "--data", str(self.data), "--port",
                                 str(self.port), *self.serve_args],
                                log=self.data / "serve.log",
                                env=self.full_env(), cwd=self.data.parent)
        if wait:
            wait_http(f"{self.base}/healthz", self.proc)
        return self.proc

    def cli(self, *args: str) -> str:
        out = subprocess.run([*FEDIAID, *args, "--data", str(self.data)], check=True,
                             capture_output=True, env=self.full_env(), text=True,
                             cwd=self.data.parent)
        return out.stdout

    def log(self) -> str:
        path = self.data / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""


def sqlite_url(data: Path) -> str:
    return f"sqlite+aiosqlite:///{(data / 'fediaid.db').resolve()}"


# -- databases ------------------------------------------------------------------------------
def pg_available() -> bool:
    try:
        import asyncpg
    except ImportError:
        return False

    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception:
        return False
    return True


def pg_create(name: str) -> str:
    """Create database ``name`` (dropping a leftover one); return its SQLAlchemy URL."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(go())
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def pg_drop(name: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    with contextlib.suppress(Exception):
        asyncio.run(go())


def db_query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one read query against an instance's database from outside the server."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path, timeout=30)
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(go())


def db_exec(database_url: str, sql: str) -> None:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
        return
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"(kept {path})")


# -- statistics and output --------------------------------------------------------------------
def med(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """'median (min-max, n=N)'."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(med(values))} ({fmt.format(min(values))}-{fmt.format(max(values))},"
            f" n={len(values)})")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def machine() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        mem = f"{int(fh.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    return {"nproc": str(os.cpu_count()), "cpu": model, "ram": mem,
            "python": platform.python_version(), "kernel": platform.release()}


def emit_json(path: str | None, payload: dict[str, Any]) -> None:
    """Append one result record (JSON line) to ``path`` when the caller asked for it."""
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(payload) + "\n")


def ensure_wrk() -> str:
    """Return the path of ``wrk``, installing Debian's package if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get (Debian package 'wrk')...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                   capture_output=True)
    found = shutil.which("wrk")
    if not found:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                       capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is required: apt-get install -y wrk")
    return found


# -- remote actors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteActor:
    uri: str
    inbox: str
    key_id: str | None = None
    public_key_pem: str | None = None


def insert_remote_actors(database_url: str, remote: Sequence[RemoteActor], *,
                         followers_of: str | None = None) -> None:
    """Insert remote actors with bulk SQL (as if their documents had been fetched), and make
    each an accepted follower of the local actor ``followers_of`` when given."""
    from sqlalchemy import select

    from fediaid.domain.follows import FollowState
    from fediaid.storage.engine import Database
    from fediaid.storage.tables import actors, follows
    from fediaid.storage.types import utcnow

    async def go() -> None:
        db = Database(database_url)
        try:
            now = utcnow()
            rows = []
            for i, a in enumerate(remote):
                domain = a.uri.split("/")[2]
                rows.append({
                    "uri": a.uri, "type": "Person", "username": f"r{i}", "domain": domain,
                    "local": False, "name": f"Remote {i}", "summary": None, "inbox": a.inbox,
                    "shared_inbox": None, "outbox": None, "followers_url": None,
                    "following_url": None, "url": None, "key_id": a.key_id,
                    "public_key_pem": a.public_key_pem, "icon_url": None,
                    "manually_approves_followers": False, "fetched_at": now,
                    "created_at": now, "updated_at": now,
                })
            async with db.write() as conn:
                await conn.execute(actors.insert(), rows)
                if followers_of:
                    target = (await conn.execute(
                        select(actors.c.id).where(actors.c.uri == followers_of))).scalar_one()
                    ids = dict((await conn.execute(select(actors.c.uri, actors.c.id).where(
                        actors.c.local.is_(False)))).all())
                    await conn.execute(follows.insert(), [
                        {"follower_id": ids[a.uri], "followed_id": target,
                         "uri": f"{a.uri}#follow", "state": FollowState.ACCEPTED.value,
                         "created_at": now, "accepted_at": now} for a in remote])
        finally:
            await db.dispose()

    asyncio.run(go())


# -- machine load ---------------------------------------------------------------------------
def _cpu_busy_total() -> tuple[float, float]:
    """(busy seconds, total seconds) summed over all CPUs, from /proc/stat."""
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts) - idle) / ticks, sum(parts) / ticks


def tree_cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds used so far by these processes and their live children."""
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
            with open(f"/proc/{pid}/task/{pid}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
    return total


def pids_of_user(user: str) -> list[int]:
    """Processes owned by ``user`` (e.g. the PostgreSQL server's, which work for us)."""
    import pwd

    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    out.append(int(entry))
    return out


class LoadMeter:
    """Measures, over a block, how much CPU the whole machine used and how much of it was
    ours (the given process trees, and the processes of ``also_user``, e.g. "postgres"):
    the rest is other load that skews the figures."""

    def __init__(self, pids: Sequence[int], also_user: str | None = None) -> None:
        self.pids = list(pids)
        self.also_user = also_user
        self.foreign_cores = 0.0
        self.busy_cores = 0.0

    def _ours(self) -> float:
        # This process and the children it has waited for (wrk, CLI commands) via os.times,
        # plus the live process trees we were given.
        t = os.times()
        pids = self.pids + (pids_of_user(self.also_user) if self.also_user else [])
        return t.user + t.system + t.children_user + t.children_system + tree_cpu_seconds(pids)

    def __enter__(self) -> LoadMeter:
        self._busy0, self._total0 = _cpu_busy_total()
        self._ours0 = self._ours()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, _total = _cpu_busy_total()
        ours = self._ours()
        wall = time.perf_counter() - self._t0
        self.busy_cores = (busy - self._busy0) / wall
        self.foreign_cores = max(0.0, (busy - self._busy0) - (ours - self._ours0)) / wall


def wait_quiet(max_wait: float = 60.0, threshold: float = 0.25, say: Any = print) -> float:
    """Wait (bounded) until the machine's other load is below ``threshold`` cores for a
    second; return the load seen last. Benchmarks share the box with whatever else runs."""
    deadline = time.monotonic() + max_wait
    warned = False
    while True:
        b0, _ = _cpu_busy_total()
        time.sleep(1.0)
        b1, _ = _cpu_busy_total()
        load = b1 - b0
        if load < threshold or time.monotonic() > deadline:
            if load >= threshold:
                say(f"(machine still busy: {load:.2f} cores used by other processes; "
                    f"figures will be lower than on a quiet machine)")
            return load
        if not warned:
            say(f"(waiting for the machine to quieten: {load:.2f} cores busy elsewhere)")
            warned = True
