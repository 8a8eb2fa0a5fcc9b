"""A large instance for bench/memory.py: many members and statuses, loaded in bulk.

``build(home, members, statuses)`` makes an instance (``fediaid init``: the group and its
first admin, ``admin``) and writes straight into its SQLite database, in one transaction
with ``executemany``: ``members`` local members (accounts and their Person actors; one RSA
key pair shared by all of them: generating 20,000 would take a quarter of an hour and the
keys' contents change nothing here), 2,000 remote actors on 50 domains, ``statuses``
statuses over the last year (a fifth by members, the rest received; public, unlisted,
followers-only and direct with a recipient; a fifth with a hashtag, 1 in 50 #food), the
admin following 20 remote accounts, every member following 10 accounts and 500 remote
followers of the group. 20,000 members and 1,000,000 statuses load in about 2 minutes on
a quiet machine. The instance is kept (``~/.cache/fediaid-bench/memory/``) and reused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Instance, sqlite_url

GEN_VERSION = 1
CACHE = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "fediaid-bench")) / "memory"
REMOTE = 2000
DOMAINS = 50
TAGS = ["food", "garden", "rides", "housing", "kids", "meals", "tools", "books", "bikes",
        "repair"] + [f"topic{i}" for i in range(40)]


def _ts(d: datetime) -> str:
    return d.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _insert(conn: sqlite3.Connection, table: str, cols: list[str],
            rows: Iterator[tuple[Any, ...]]) -> int:
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    n = 0
    chunk: list[tuple[Any, ...]] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= 50_000:
            conn.executemany(sql, chunk)
            n += len(chunk)
            chunk = []
    conn.executemany(sql, chunk)
    return n + len(chunk)


def load(db_path: str, domain: str, members: int, statuses: int) -> dict[str, Any]:
    from activitypub.keys import generate_rsa_keypair

    rnd = random.Random(13)
    now = datetime.now(UTC).replace(microsecond=0)
    pair = generate_rsa_keypair()
    base = f"http://{domain}"
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        group_id, admin_actor = conn.execute(
            "SELECT (SELECT id FROM actors WHERE type = 'Group' AND local ORDER BY id LIMIT 1),"
            " (SELECT actor_id FROM users WHERE username = 'admin')").fetchone()
        actor0 = int(conn.execute("SELECT max(id) FROM actors").fetchone()[0]) + 1000
        user0 = int(conn.execute("SELECT max(id) FROM users").fetchone()[0]) + 1000
        ts = _ts(now)
        actor_cols = ["id", "uri", "type", "username", "domain", "local", "name", "inbox",
                      "outbox", "followers_url", "following_url", "url", "key_id",
                      "public_key_pem", "manually_approves_followers", "created_at",
                      "updated_at", "fetched_at"]

        def local_actors() -> Iterator[tuple[Any, ...]]:
            for i in range(members):
                uri = f"{base}/users/m{i}"
                yield (actor0 + i, uri, "Person", f"m{i}", domain, True, f"Member {i}",
                       f"{uri}/inbox", f"{uri}/outbox", f"{uri}/followers",
                       f"{uri}/following", f"{base}/@m{i}", f"{uri}#main-key",
                       pair.public_pem, False, ts, ts, None)

        remote0 = actor0 + members

        def remote_actors() -> Iterator[tuple[Any, ...]]:
            for i in range(REMOTE):
                d = f"server{i % DOMAINS}.example"
                uri = f"https://{d}/users/u{i}"
                yield (remote0 + i, uri, "Person", f"u{i}", d, False, f"Person {i}",
                       f"{uri}/inbox", None, f"{uri}/followers", None, f"https://{d}/@u{i}",
                       f"{uri}#main-key", pair.public_pem, False, ts, ts, ts)

        _insert(conn, "actors", actor_cols, local_actors())
        _insert(conn, "actors", actor_cols, remote_actors())
        _insert(conn, "actor_keys", ["actor_id", "private_key_pem", "created_at"],
                ((actor0 + i, pair.private_pem, ts) for i in range(members)))
        _insert(conn, "users", ["id", "actor_id", "username", "role", "password_hash",
                                "disabled", "created_at", "limited"],
                ((user0 + i, actor0 + i, f"m{i}", "member", None, False, ts, False)
                 for i in range(members)))
        remote = list(range(remote0, remote0 + REMOTE))

        def follows() -> Iterator[tuple[Any, ...]]:
            for a in remote[:20]:
                yield admin_actor, a, f"{base}/follows/admin-{a}", "accepted", ts, ts
            for a in remote[:500]:
                yield a, group_id, f"{base}/follows/g{a}", "accepted", ts, ts
            for i in range(members):
                targets = {rnd.choice(remote) if rnd.random() < 0.7
                           else actor0 + rnd.randrange(members) for _ in range(10)}
                targets.discard(actor0 + i)
                for t in targets:
                    yield (actor0 + i, t, f"{base}/follows/{i}-{t}", "accepted", ts, ts)

        n_follows = _insert(conn, "follows", ["follower_id", "followed_id", "uri", "state",
                                              "created_at", "accepted_at"], follows())
        status0 = int(conn.execute("SELECT coalesce(max(id), 0) FROM statuses").fetchone()[0]
                      ) + 1
        first_day = now - timedelta(days=360)
        step = timedelta(seconds=360 * 86400 / max(statuses, 1))
        filler = ("Neighbours can pick up spare vegetables at the corner garden on Saturday; "
                  "bring a bag.")
        tags: list[tuple[int, str]] = []
        recips: list[tuple[int, int, bool]] = []

        def status_rows() -> Iterator[tuple[Any, ...]]:
            for k in range(statuses):
                sid = status0 + k
                if rnd.random() < 0.2:
                    m = rnd.randrange(members)
                    account, user, local = actor0 + m, user0 + m, True
                    uri = f"{base}/statuses/{sid}"
                else:
                    account, user, local = rnd.choice(remote), None, False
                    uri = f"https://bench.example/statuses/{sid}"
                v = rnd.random()
                visibility, listed = "public", True
                if v < 0.10:
                    listed = False
                elif v < 0.20:
                    visibility = "followers"
                elif v < 0.25:
                    visibility = "direct"
                    recips.append((sid, admin_actor if rnd.random() < 0.05
                                   else rnd.choice(remote), True))
                if rnd.random() < 0.02:
                    tags.append((sid, "food"))
                elif rnd.random() < 0.2:
                    tags.append((sid, rnd.choice(TAGS[1:])))
                yield (sid, uri, account, user, visibility, listed, local,
                       f"<p>Status {k}. {filler}</p>", "", False, "en",
                       _ts(first_day + step * k), False)

        _insert(conn, "statuses", ["id", "uri", "account_id", "user_id", "visibility",
                                   "listed", "local", "content", "spoiler_text", "sensitive",
                                   "language", "created_at", "hidden"], status_rows())
        _insert(conn, "status_tags", ["status_id", "tag"], iter(tags))
        _insert(conn, "status_recipients", ["status_id", "actor_id", "mention"], iter(recips))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return {"members": members, "statuses": statuses, "follows": n_follows,
            "tags": len(tags), "first_member": f"m{members // 2}",
            "member_actor": actor0 + members // 2, "remote_actor": remote[len(remote) // 2]}


def build(port: int, members: int, statuses: int, *, say: Any = print
          ) -> tuple[Instance, dict[str, Any]]:
    """The cached instance of this size (built when missing): the instance, and facts about
    it (``admin_token``, a member's name and actor id, a remote actor's id)."""
    home = CACHE / f"sqlite-{members}-{statuses}-v{GEN_VERSION}"
    data = home / "data"
    info_path = home / "info.json"
    inst = Instance(data=data, port=port, database_url=sqlite_url(data),
                    env={"FEDIAID_RATE_LIMIT_SCALE": "0"})
    if info_path.exists():
        info: dict[str, Any] = json.loads(info_path.read_text())
        inst.port = info["port"]  # the domain the instance was made for
        return inst, info
    say(f"building an instance with {members:,} members and {statuses:,} statuses in {home}")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    t = time.perf_counter()
    inst.init()
    info = load(inst.database_url.split(":///", 1)[1], inst.domain, members, statuses)
    info["admin_token"] = inst.cli("admin", "token", "admin").strip().splitlines()[-1]
    info["port"] = port
    info["built_seconds"] = round(time.perf_counter() - t, 1)
    info_path.write_text(json.dumps(info))
    say(f"built in {info['built_seconds']:.0f} s")
    return inst, info
