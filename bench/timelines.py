"""Timelines as data grows: p50/p99 of the pages members read most, at 1,000, 100,000 and
1,000,000 statuses, on SQLite and PostgreSQL.

What it does (all on 127.0.0.1), per database size:
1. An instance (``fediaid init``), two members (``alice`` follows 20 remote accounts,
   ``bob`` follows nobody), their API tokens and a web session for alice.
2. Bulk data written straight into its database (as if received: nothing is fetched):
   remote actors on 50 domains, statuses (public, unlisted, followers-only, direct with a
   recipient; boosts, replies, hashtags, favourites, media), and the group's offers and
   needs (2 % of the statuses, each with its status) over the last 12 months. SQLite with
   ``executemany`` in one transaction, PostgreSQL with ``COPY`` (asyncpg); 1,000,000
   statuses load in a few minutes. The instance (data directory and, for PostgreSQL, its
   database ``bench_tl_<n>``) is kept in ``~/.cache/fediaid-bench/timelines/`` and reused by
   the next run with the same size (``--fresh`` rebuilds it); ``fediaid serve`` applies
   any newer migration to it when it starts.
3. ``fediaid serve --no-workers`` (request limits off), then, one request at a time over a
   keep-alive HTTP/1.1 connection (real HTTP, not in-process ASGI), ``--requests`` requests
   per path after 10 warm-up ones: half of them the first page, half a page further back
   (``max_id`` at a random point of the table: keyset pagination, no offset):

   - ``/api/v1/timelines/public?limit=20`` (alice's token)
   - ``/api/v1/timelines/home?limit=20`` as alice (follows 20) and as bob (follows nobody)
   - ``/api/v1/timelines/tag/food?limit=20`` (about 1 status in 50 has #food)
   - ``/api/v1/accounts/<id>/statuses?limit=20`` (a remote account with 1/N of the rows)
   - ``/`` the group's home page, and ``/picture`` the needs picture (alice's session;
     neither pages with ``max_id``)

Per path it reports p50/p99/max and the server process's CPU per request (SQLite's work
included, PostgreSQL's backends not), which other load on the machine changes far less
than latency. Target: p99 < 50 ms for every path at every size, on both databases.

    .venv/bin/python bench/timelines.py [--postgres] [--sizes 1000,100000,1000000]
        [--requests 200] [--fresh] [--plans] [--profile DIR] [--nice -10] [--json FILE]

``--nice -10`` (as root) runs the script, the server and its PostgreSQL backends ahead of
other suites sharing the machine; say so beside the figures (docs/benchmarks.md).

``--plans`` prints, for each path, the SQL statements one request runs and their plans
(``EXPLAIN QUERY PLAN`` / ``EXPLAIN``), taken in process over the same database (the
statements captured with a SQLAlchemy event listener). ``--profile DIR`` records a py-spy
profile of the server during the measured requests of each size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import json
import math
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    PG_ADMIN_DSN,
    PY,
    Instance,
    LoadMeter,
    Procs,
    cpu_seconds,
    emit_json,
    machine,
    pg_available,
    pg_create,
    sqlite_url,
    verdict,
    wait_quiet,
)

TARGET_P99_MS = 50.0
NICE = [0]  # --nice
GEN_VERSION = 1  # bump when the generated data changes: cached instances are rebuilt
CACHE = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "fediaid-bench")) / \
    "timelines"
PYSPY = str(Path(PY).with_name("py-spy"))
DOMAINS = 50
TAGS = ["food", "garden", "rides", "housing", "kids", "meals", "tools", "books", "bikes",
        "repair"] + [f"topic{i}" for i in range(40)]
CATEGORIES = ["food", "meals", "rent-bills", "housing", "transport", "childcare", "health",
              "clothing", "household", "furniture", "tools", "other"]
AREAS = ["north", "south", "east", "west", "centre", None]
POST_STATES = ["open"] * 4 + ["promised", "fulfilled", "fulfilled", "partly_fulfilled",
                              "withdrawn", "expired"]


# -- the instance ---------------------------------------------------------------------------
def _port_for(postgres: bool, n: int) -> int:
    """A fixed port per cached instance (its domain, written at init, names the port)."""
    h = int(hashlib.sha1(f"{postgres}-{n}".encode()).hexdigest(), 16)
    return 41000 + h % 2000


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def _pg_exists(name: str) -> bool:
    import asyncpg

    async def go() -> bool:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                            name))
        finally:
            await conn.close()

    return asyncio.run(go())


def prepare(postgres: bool, n: int, *, fresh: bool, say: Callable[[str], None]
            ) -> tuple[Instance, dict[str, Any]]:
    """The cached instance of this size (built when missing) and what the run needs."""
    name = f"{'pg' if postgres else 'sqlite'}-{n}-v{GEN_VERSION}"
    home = CACHE / name
    data = home / "data"
    info_path = home / "info.json"
    pg_name = f"bench_tl_{n}"
    port = _port_for(postgres, n)
    url = _pg_url(pg_name) if postgres else sqlite_url(data)
    inst = Instance(data=data, port=port, database_url=url,
                    env={"FEDIAID_RATE_LIMIT_SCALE": "0"}, serve_args=["--no-workers"])
    if not fresh and info_path.exists() and (not postgres or _pg_exists(pg_name)):
        return inst, json.loads(info_path.read_text())
    say(f"building the instance with {n:,} statuses ({name}) ...")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    if postgres:
        pg_create(pg_name)
    start = time.perf_counter()
    inst.init()
    inst.cli("admin", "create-user", "alice")
    inst.cli("admin", "create-user", "bob")
    info = {"alice_token": inst.cli("admin", "token", "alice").strip().splitlines()[-1],
            "bob_token": inst.cli("admin", "token", "bob").strip().splitlines()[-1]}
    info.update(generate(url, n))
    info["built_seconds"] = round(time.perf_counter() - start, 1)
    info_path.write_text(json.dumps(info))
    say(f"built in {info['built_seconds']:.0f} s")
    return inst, info


# -- bulk data ------------------------------------------------------------------------------
def _rows(n: int, ids: dict[str, Any]) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every generated row, by table: (columns, rows). Deterministic (seeded)."""
    rnd = random.Random(13)
    now = datetime.now(UTC).replace(microsecond=0)
    first_day = now - timedelta(days=360)
    n_actors = min(2000, 100 + n // 500)
    actor0, status0, post0 = ids["actor"], ids["status"], ids["post"]
    group_id, alice, bob = ids["group"], ids["alice"], ids["bob"]
    members = [alice, bob]

    actor_cols = ["id", "uri", "type", "username", "domain", "local", "name", "inbox",
                  "followers_url", "url", "manually_approves_followers", "created_at",
                  "updated_at", "fetched_at"]
    actor_rows = []
    remote = []
    for i in range(n_actors):
        aid = actor0 + i
        domain = f"server{i % DOMAINS}.example"
        uri = f"https://{domain}/users/u{i}"
        remote.append(aid)
        actor_rows.append((aid, uri, "Person", f"u{i}", domain, False, f"Person {i}",
                           f"{uri}/inbox", f"{uri}/followers", f"https://{domain}/@u{i}",
                           False, now, now, now))
    follow_cols = ["follower_id", "followed_id", "uri", "state", "created_at", "accepted_at"]
    followed = remote[:20]
    follow_rows = [(alice, a, f"http://bench/follows/{a}", "accepted", now, now)
                   for a in followed]
    # Remote accounts follow the group (its followers count).
    follow_rows += [(a, group_id, f"http://bench/follows/g{a}", "accepted", now, now)
                    for a in remote[:100]]

    status_cols = ["id", "uri", "account_id", "user_id", "post_id", "reblog_of_id",
                   "in_reply_to_id", "in_reply_to_uri", "in_reply_to_account_id",
                   "conversation", "visibility", "listed", "local", "content", "spoiler_text",
                   "sensitive", "language", "url", "created_at", "hidden"]
    post_cols = ["id", "uri", "kind", "title", "description", "category", "unit", "area",
                 "urgency", "visibility", "state", "local", "author_actor_id",
                 "creator_user_id", "anonymous", "proxy", "held", "hidden", "via_group",
                 "created_at", "updated_at", "closed_at"]
    status_rows: list[tuple[Any, ...]] = []
    post_rows: list[tuple[Any, ...]] = []
    tag_rows: list[tuple[Any, ...]] = []
    recip_rows: list[tuple[Any, ...]] = []
    fav_rows: list[tuple[Any, ...]] = []
    media_rows: list[tuple[Any, ...]] = []
    public_ids: list[int] = []
    user_of = {alice: ids["alice_user"], bob: ids["bob_user"]}
    filler = ("Neighbours can pick up spare vegetables at the corner garden on Saturday; "
              "bring a bag. ")
    step = timedelta(seconds=360 * 86400 / max(n, 1))
    fav_id = 1
    for k in range(n):
        sid = status0 + k
        created = first_day + step * k
        r = rnd.random()
        local = False
        post_id = user_id = reblog = reply = reply_uri = reply_account = None
        visibility, listed = "public", True
        if r < 0.02:  # an offer or need of the group
            pid = post0 + len(post_rows)
            author = rnd.choice(members)
            kind = "need" if rnd.random() < 0.6 else "offer"
            state = rnd.choice(POST_STATES) if created < now - timedelta(days=14) else "open"
            closed = (created + timedelta(hours=rnd.randint(1, 400))
                      if state in ("fulfilled", "partly_fulfilled") else None)
            pvis = "public" if rnd.random() < 0.7 else "members"
            post_rows.append((pid, f"{ids['base']}/posts/{pid}", kind,
                              f"{kind.title()} {k}: {rnd.choice(CATEGORIES)} help", filler,
                              rnd.choice(CATEGORIES), "one", rnd.choice(AREAS),
                              rnd.choice(["low", "normal", "normal", "urgent"]), pvis, state,
                              True, author, user_of[author], False, False, False, False,
                              False, created, created, closed))
            account, local, post_id, user_id = author, True, pid, user_of[author]
            visibility = "public" if pvis == "public" else "members"
            uri = f"{ids['base']}/posts/{pid}"
            content = ""
        else:
            if r < 0.05:
                account, local = rnd.choice(members), True
                user_id = user_of[account]
            else:
                account = remote[int(rnd.paretovariate(1.2)) % n_actors] if rnd.random() < .5 \
                    else rnd.choice(remote)
            v = rnd.random()
            if v < 0.10:
                listed = False
            elif v < 0.22:
                visibility = "followers"
            elif v < 0.26:
                visibility = "direct"
            uri = f"https://bench/statuses/{sid}"
            content = f"<p>Status {k}. {filler}</p>"
            if public_ids and visibility == "public" and listed and rnd.random() < 0.05:
                reblog = public_ids[-1 - rnd.randrange(min(len(public_ids), 500))]
                content = ""
            elif public_ids and rnd.random() < 0.15:
                reply = public_ids[-1 - rnd.randrange(min(len(public_ids), 200))]
                reply_uri = f"https://bench/statuses/{reply}"
                reply_account = remote[0]
        status_rows.append((sid, uri, account, user_id, post_id, reblog, reply, reply_uri,
                            reply_account, None, visibility, listed, local, content, "",
                            False, "en", None, created, False))
        if visibility == "public" and listed and reblog is None and post_id is None:
            public_ids.append(sid)
        if visibility == "direct":
            recip_rows.append((sid, alice if rnd.random() < 0.1 else rnd.choice(remote),
                               True))
        elif reblog is None and rnd.random() < 0.03:
            recip_rows.append((sid, rnd.choice(remote), True))  # a mention
        if reblog is None:
            if rnd.random() < 0.02:
                tag_rows.append((sid, "food"))
            if rnd.random() < 0.2:
                t = rnd.choice(TAGS[1:])
                tag_rows.append((sid, t))
            if rnd.random() < 0.1:
                for a in rnd.sample(remote, rnd.randint(1, 3)):
                    fav_rows.append((fav_id, a, sid, f"https://bench/likes/{fav_id}", created))
                    fav_id += 1
            if rnd.random() < 0.03:
                media_rows.append((account, sid, "image", f"https://bench/media/{sid}.jpg",
                                   "image/jpeg", "A photo", 640, 480, created))
    return {
        "actors": (actor_cols, actor_rows),
        "follows": (follow_cols, follow_rows),
        "posts": (post_cols, post_rows),
        "statuses": (status_cols, status_rows),
        "status_tags": (["status_id", "tag"], tag_rows),
        "status_recipients": (["status_id", "actor_id", "mention"], recip_rows),
        "favourites": (["id", "actor_id", "status_id", "uri", "created_at"], fav_rows),
        "media_attachments": (["account_id", "status_id", "type", "remote_url",
                               "content_type", "description", "width", "height",
                               "created_at"], media_rows),
    }


ORDER = ["actors", "follows", "posts", "statuses", "status_tags", "status_recipients",
         "favourites", "media_attachments"]


def generate(database_url: str, n: int) -> dict[str, Any]:
    """Write the generated rows into the instance's database; return what the run needs."""
    t0 = time.perf_counter()
    ids = _existing(database_url)
    tables = _rows(n, ids)
    t1 = time.perf_counter()
    if database_url.startswith("sqlite"):
        _load_sqlite(database_url.split(":///", 1)[1], tables)
    else:
        _load_pg(database_url, tables)
    t2 = time.perf_counter()
    status_rows = tables["statuses"][1]
    counts: dict[int, int] = {}
    for r in status_rows:
        counts[r[2]] = counts.get(r[2], 0) + 1
    # The account timeline: a remote account with about the median number of statuses.
    remote_counts = sorted((c, a) for a, c in counts.items() if a >= ids["actor"])
    account = remote_counts[len(remote_counts) // 2][1] if remote_counts else ids["group"]
    top = remote_counts[-1] if remote_counts else (0, ids["group"])
    return {"alice_actor": ids["alice"], "bob_actor": ids["bob"], "account": account,
            "account_statuses": counts.get(account, 0), "busiest_account": top[1],
            "busiest_statuses": top[0],
            "first_status": ids["status"], "last_status": ids["status"] + n - 1,
            "rows": {t: len(tables[t][1]) for t in ORDER},
            "generate_seconds": round(t1 - t0, 1), "load_seconds": round(t2 - t1, 1)}


def _existing(database_url: str) -> dict[str, Any]:
    from _common import db_query

    def one(sql: str) -> Any:
        return db_query(database_url, sql)[0][0]

    base = one("SELECT uri FROM actors WHERE type = 'Group' AND local = "
               + ("1" if database_url.startswith("sqlite") else "true"))
    base = "/".join(base.split("/")[:3])
    return {
        "group": one("SELECT id FROM actors WHERE type = 'Group' ORDER BY id LIMIT 1"),
        "alice": one("SELECT actor_id FROM users WHERE username = 'alice'"),
        "bob": one("SELECT actor_id FROM users WHERE username = 'bob'"),
        "alice_user": one("SELECT id FROM users WHERE username = 'alice'"),
        "bob_user": one("SELECT id FROM users WHERE username = 'bob'"),
        "actor": one("SELECT coalesce(max(id), 0) + 1000 FROM actors"),
        "status": one("SELECT coalesce(max(id), 0) + 1 FROM statuses"),
        "post": one("SELECT coalesce(max(id), 0) + 1 FROM posts"),
        "base": base,
    }


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return v


def _load_sqlite(path: str, tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
                 ) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table in ORDER:
            cols, rows = tables[table]
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
                   f"VALUES ({', '.join('?' for _ in cols)})")
            for i in range(0, len(rows), 50_000):
                conn.executemany(sql, [tuple(_sqlite_value(v) for v in r)
                                       for r in rows[i:i + 50_000]])
        conn.execute("COMMIT")
        # No ANALYZE: fediaid never runs it, so the planner works without statistics, as
        # on a real instance.
    finally:
        conn.close()


def _load_pg(url: str, tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            async with conn.transaction():
                for table in ORDER:
                    cols, rows = tables[table]
                    for i in range(0, len(rows), 100_000):
                        await conn.copy_records_to_table(table, records=rows[i:i + 100_000],
                                                         columns=cols)
                for table in ORDER:
                    if "id" in tables[table][0] or table == "media_attachments":
                        await conn.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM {table}))")
            # As autovacuum would after a while (PostgreSQL >= 13 vacuums tables that only
            # grow too): statistics, and the visibility map that index-only scans need.
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    asyncio.run(go())


# -- measuring ------------------------------------------------------------------------------
class Client:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes, float]:
        start = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=self.headers)
            resp = self.conn.getresponse()
            body = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            self.conn.request("GET", path, headers=self.headers)
            resp = self.conn.getresponse()
            body = resp.read()
        return resp.status, body, (time.perf_counter() - start) * 1000

    def close(self) -> None:
        self.conn.close()


def login(port: int, base: str, inst: Instance) -> str:
    """A web session for alice: her one-time login link, followed once."""
    link = inst.cli("admin", "login-link", "alice").strip().splitlines()[-1]
    path = urllib.parse.urlsplit(link).path
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie" and v.startswith("fediaid_session="):
                return v.split(";", 1)[0]
    finally:
        conn.close()
    raise RuntimeError(f"no session cookie from {base}{path}")


def _renice_backends(database_url: str, nice: int) -> None:
    """Give the server's PostgreSQL backends (its pool's connections) the same niceness."""
    from _common import db_query

    name = database_url.rsplit("/", 1)[1]
    for (pid,) in db_query(database_url, "SELECT pid FROM pg_stat_activity WHERE datname = "
                                         f"'{name}' AND pid <> pg_backend_pid()"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, int(pid), nice)


def percentile(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))  # nearest rank
    return s[k]


def paths(info: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(name, path, who, pages with max_id)."""
    acc = info["account"]
    return [
        ("public", "/api/v1/timelines/public?limit=20", "alice", True),
        ("home (follows 20)", "/api/v1/timelines/home?limit=20", "alice", True),
        ("home (follows nobody)", "/api/v1/timelines/home?limit=20", "bob", True),
        ("tag #food", "/api/v1/timelines/tag/food?limit=20", "alice", True),
        (f"account ({info['account_statuses']:,} statuses)",
         f"/api/v1/accounts/{acc}/statuses?limit=20", "alice", True),
        ("group home page", "/", "web", False),
        ("needs picture", "/picture", "web", False),
    ]


def measure(inst: Instance, info: dict[str, Any], requests: int,
            say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Per path: latency percentiles, and the server process's CPU per request (which
    other load on the machine changes far less than latency)."""
    assert inst.proc is not None
    pid = inst.proc.pid
    cookie = login(inst.port, inst.base, inst)
    if NICE[0] and not inst.database_url.startswith("sqlite"):
        _renice_backends(inst.database_url, NICE[0])
    clients = {
        "alice": Client(inst.port, {"Authorization": f"Bearer {info['alice_token']}"}),
        "bob": Client(inst.port, {"Authorization": f"Bearer {info['bob_token']}"}),
        "web": Client(inst.port, {"Cookie": cookie, "Accept-Language": "en"}),
    }
    rnd = random.Random(7)
    lo, hi = info["first_status"], info["last_status"]
    out = []
    try:
        for name, path, who, deep in paths(info):
            c = clients[who]
            for _ in range(10):
                status, body, _ms = c.get(path)
                if status != 200:
                    raise RuntimeError(f"{path}: {status} {body[:200]!r}")
            if NICE[0] and not inst.database_url.startswith("sqlite"):
                _renice_backends(inst.database_url, NICE[0])
            first: list[float] = []
            back: list[float] = []
            sizes: list[int] = []
            cpu0 = cpu_seconds(pid)
            for i in range(requests):
                if deep and i % 2:
                    status, body, ms = c.get(f"{path}&max_id={rnd.randint(lo, hi)}")
                    back.append(ms)
                else:
                    status, body, ms = c.get(path)
                    first.append(ms)
                    if path.startswith("/api/"):
                        sizes.append(len(json.loads(body)))
                if status != 200:
                    raise RuntimeError(f"{path}: {status}")
            cpu_ms = (cpu_seconds(pid) - cpu0) * 1000 / requests
            both = first + back
            row = {"path": name, "n": len(both), "cpu_ms": cpu_ms, "p50": percentile(both, 50),
                   "p99": percentile(both, 99), "max": max(both),
                   "first_p50": percentile(first, 50),
                   "back_p50": percentile(back, 50) if back else None,
                   "page": min(sizes) if sizes else None}
            out.append(row)
            say(f"  {name:<32} p50 {row['p50']:7.1f} ms  p99 {row['p99']:7.1f} ms  "
                f"max {row['max']:7.1f}  server CPU {cpu_ms:5.1f} ms/request"
                f"  (first page p50 {row['first_p50']:.1f}"
                + (f", further back {row['back_p50']:.1f}" if back else "")
                + (f"; {row['page']} statuses a page" if sizes else "") + ")")
    finally:
        for c in clients.values():
            c.close()
    return out


# -- query plans ------------------------------------------------------------------------------
def plans(inst: Instance, info: dict[str, Any], say: Callable[[str], None]) -> None:
    """Each path's SQL statements (one request, in process) and their plans."""
    env = inst.full_env()
    code = f"""
import asyncio, json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from bench.timelines_plans import main
asyncio.run(main({str(inst.data)!r}, json.loads({json.dumps(json.dumps(info))})))
"""
    out = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True,
                         cwd=inst.data.parent)
    say(out.stdout)
    if out.returncode:
        say(out.stderr[-3000:])


# -- the run ----------------------------------------------------------------------------------
def run(postgres: bool, sizes: Sequence[int], requests: int, *, fresh: bool,
        show_plans: bool, profile: Path | None) -> dict[str, Any]:
    db = "PostgreSQL" if postgres else "SQLite"
    say = lambda s: print(s, flush=True)  # noqa: E731
    results: dict[str, Any] = {"db": db, "machine": machine(), "sizes": {}}
    ok = True
    for n in sizes:
        inst, info = prepare(postgres, n, fresh=fresh, say=say)
        with Procs() as procs:
            inst.serve(procs)
            assert inst.proc is not None
            try:
                say(f"{db}, {n:,} statuses ({info['rows']}); niceness {NICE[0]}; uptime: "
                    f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
                    f"{os.getloadavg()[2]:.2f}")
                wait_quiet(max_wait=30.0, say=say)
                spy = None
                if profile:
                    profile.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(
                        [PYSPY, "record", "--raw", "--nonblocking", "-r", "200", "-p",
                         str(inst.proc.pid), "-o", str(profile / f"{db.lower()}-{n}.txt")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)
                with LoadMeter([inst.proc.pid],
                               also_user="postgres" if postgres else None) as load:
                    rows = measure(inst, info, requests, say)
                if spy is not None:
                    spy.send_signal(2)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        spy.wait(timeout=30)
                say(f"  other load during the run: {load.foreign_cores:.2f} cores; "
                    f"uptime after: {os.getloadavg()[0]:.2f}")
                if show_plans:
                    plans(inst, info, say)
            except Exception:
                say(inst.log()[-3000:])
                raise
        worst = max(r["p99"] for r in rows)
        ok = ok and worst < TARGET_P99_MS
        results["sizes"][str(n)] = {"paths": rows, "other_load": load.foreign_cores,
                                    "loadavg": os.getloadavg()[0], "info": info}
    worst_all = {n: max(r["p99"] for r in v["paths"]) for n, v in results["sizes"].items()}
    results["pass"] = ok
    say(f"SUMMARY timelines {db}: worst p99 by size "
        + ", ".join(f"{int(n):,}: {w:.1f} ms" for n, w in worst_all.items())
        + f" (target < {TARGET_P99_MS:.0f} ms) {verdict(ok)}")
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--sizes", default="1000,100000,1000000",
                    help="comma-separated numbers of statuses")
    ap.add_argument("--requests", type=int, default=200, help="measured requests per path")
    ap.add_argument("--quick", action="store_true", help="1,000 and 100,000; 60 requests")
    ap.add_argument("--fresh", action="store_true", help="rebuild the cached instances")
    ap.add_argument("--plans", action="store_true", help="print the query plans")
    ap.add_argument("--profile", type=Path, help="py-spy profiles into this directory")
    ap.add_argument("--json", help="append the summary as a JSON line to this file")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the benchmark, its server and (PostgreSQL) the server's "
                         "backends at this niceness (e.g. -10, as root) when other suites "
                         "saturate the machine; reported with the figures")
    args = ap.parse_args()
    if args.nice:
        os.nice(args.nice)  # the server started later inherits it
        NICE[0] = args.nice
    if args.postgres and not pg_available():
        print("SUMMARY timelines PostgreSQL: skipped (no server at 127.0.0.1:5432)")
        return 0
    sizes = [int(s.replace("_", "").replace(",", "")) for s in re.split(r"[ ,]+",
                                                                         args.sizes) if s]
    requests = args.requests
    if args.quick:
        sizes, requests = [1000, 100000], 60
    summary = run(args.postgres, sizes, requests, fresh=args.fresh, show_plans=args.plans,
                  profile=args.profile)
    emit_json(args.json, summary)
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
