"""Developer aid for bench/inbox_apply.py: how fast ``fediaid serve`` applies a stored backlog.

Stores N ``Create(Note)`` activities (the same notes as inbox_apply.py, from M actors) straight
into ``inbox_items`` (no HTTP, no signatures: those are ingest's cost), starts the server and
times the drain: items/s, the server's CPU per item. A py-spy profile with ``--profile FILE``.

    .venv/bin/python bench/_drain.py [--postgres] [--activities 20000] [--actors 200]
        [--rounds 1] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    PY,
    Instance,
    Procs,
    RemoteActor,
    cpu_seconds,
    db_query,
    free_port,
    insert_remote_actors,
    pg_create,
    pg_drop,
    sqlite_url,
    workdir,
)


def payloads(n: int, actors: list[str], tag: str) -> list[tuple[str, str, str]]:
    filler = "Neighbors can pick up spare vegetables at the corner garden on Saturday. " * 16
    out = []
    for i in range(n):
        actor = actors[i % len(actors)]
        obj = {
            "id": f"{actor}/notes/{tag}-{i}", "type": "Note", "attributedTo": actor,
            "content": f"<p>Note {i}. {filler} <a href=\"{actor}/tags/garden\" "
                       f"class=\"mention hashtag\" rel=\"tag\">#<span>garden</span></a></p>",
            "published": "2026-11-23T12:00:00Z", "url": f"{actor}/notes/{tag}-{i}",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [f"{actor}/followers"],
            "tag": [{"type": "Hashtag", "href": f"{actor}/tags/garden", "name": "#garden"}],
        }
        act = {"@context": "https://www.w3.org/ns/activitystreams",
               "id": f"{actor}/activities/{tag}-{i}", "type": "Create", "actor": actor,
               "published": obj["published"], "to": obj["to"], "cc": obj["cc"], "object": obj}
        out.append((act["id"], actor, json.dumps(act, separators=(",", ":"))))
    return out


def store(db_url: str, rows: list[tuple[str, str, str]]) -> None:
    from fediaid.storage import inbox as inbox_repo
    from fediaid.storage.engine import Database

    async def go() -> None:
        db = Database(db_url)
        try:
            for s in range(0, len(rows), 1000):
                async with db.write() as conn:
                    await inbox_repo.insert_many(conn, [inbox_repo.new_row(
                        activity_uri=u, type_="Create", actor_uri=a, signer_key_id=f"{a}#main-key",
                        payload=p) for u, a, p in rows[s:s + 1000]])
        finally:
            await db.dispose()

    asyncio.run(go())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--postgres", action="store_true")
    ap.add_argument("--activities", type=int, default=20000)
    ap.add_argument("--actors", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--profile")
    args = ap.parse_args()
    base = f"http://{HOST}:9"
    remote = [RemoteActor(uri=f"{base}/users/a{i}", inbox=f"{base}/users/a{i}/inbox",
                          key_id=f"{base}/users/a{i}#main-key", public_key_pem="x")
              for i in range(args.actors)]
    rows = payloads(args.activities, [r.uri for r in remote], str(int(time.time())))
    with workdir("fediaid-bench-drain-") as tmp, Procs() as procs:
        for r in range(args.rounds):
            pg_name = f"bench_drain_{os.getpid()}"
            db_url = pg_create(pg_name) if args.postgres else sqlite_url(tmp / f"r{r}")
            try:
                inst = Instance(tmp / f"r{r}", free_port(), db_url)
                inst.data.mkdir()
                inst.init()
                insert_remote_actors(db_url, remote)
                inst.serve_args = ["--no-workers"]
                app = inst.serve(procs)  # start with the workers off, store, restart with
                procs.stop(app)
                store(db_url, rows)
                inst.serve_args = []
                t0 = time.monotonic()
                app = inst.serve(procs)
                cpu0 = cpu_seconds(app.pid)
                prof = None
                if args.profile:
                    prof = subprocess.Popen(
                        [str(Path(PY).with_name("py-spy")), "record", "-r", "200",
                         "--nonblocking", "-f", "raw", "-o", f"{args.profile}.{r}", "--pid",
                         str(app.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                sql = ("SELECT count(*) FROM inbox_items WHERE state IN ('done', 'failed')")
                while int(db_query(db_url, sql)[0][0]) < args.activities:
                    time.sleep(0.1)
                wall = time.monotonic() - t0
                cpu = cpu_seconds(app.pid) - cpu0
                if prof is not None:
                    prof.send_signal(2)
                    prof.wait(timeout=60)
                st = db_query(db_url, "SELECT state, count(*) FROM inbox_items GROUP BY state")
                ns = db_query(db_url, "SELECT count(*) FROM statuses WHERE NOT local")[0][0]
                procs.stop(app)
                print(f"round {r + 1}: {args.activities / wall:,.0f} items/s ({wall:.1f} s incl."
                      f" start), server CPU {cpu / wall:.2f} cores = "
                      f"{cpu / args.activities * 1e6:,.0f} us/item; states {dict(st)}, "
                      f"statuses {ns}", flush=True)
            finally:
                if args.postgres:
                    pg_drop(pg_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
