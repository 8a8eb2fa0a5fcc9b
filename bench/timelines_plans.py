"""The SQL behind each path of bench/timelines.py and its plans: the same service calls as
the handlers, in process over the benchmark's instance, each statement captured (with its
parameters and time) by a SQLAlchemy event listener, then explained on the same database
(``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL). Run by
``bench/timelines.py --plans``; also on its own:

    .venv/bin/python -c "import asyncio, json; from bench.timelines_plans import main; \\
        asyncio.run(main(DATA_DIR, json.load(open(INFO_JSON))))"
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event


async def main(data_dir: str, info: dict[str, Any]) -> None:
    from api.mastodon.entities import status_entities
    from api.web.posts import PAGE_SIZE
    from fediaid.config import load_settings
    from fediaid.domain.paging import Page
    from fediaid.services.runtime import Runtime
    from fediaid.storage import users as users_repo
    from fediaid.storage.posts import Filters
    from fediaid.storage.types import utcnow

    rt = await Runtime.open(load_settings(Path(data_dir), os.environ))
    try:
        async with rt.db.read() as conn:
            alice = await users_repo.find_by_username(conn, "alice")
            bob = await users_repo.find_by_username(conn, "bob")
        page = Page(None, None, None, 20)

        async def api(user: Any, ids_of: Callable[[Any], Awaitable[list[int]]]) -> None:
            viewer = await rt.status_reading.viewer(user)
            ids = await ids_of(viewer)
            await status_entities(rt, user, ids, viewer=viewer)

        async def home_page() -> None:
            viewer = await rt.posts.viewer_for_user(alice)
            await rt.posts.search(viewer, Filters(limit=PAGE_SIZE))
            await rt.notes.recent_group_notes()

        paths: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("public", lambda: api(alice, lambda v: rt.status_reading.public_ids(
                v, page, local=None))),
            ("home (follows 20)", lambda: api(alice, lambda v: rt.status_reading.home_ids(
                alice, page))),
            ("home (follows nobody)", lambda: api(bob, lambda v: rt.status_reading.home_ids(
                bob, page))),
            ("tag #food", lambda: api(alice, lambda v: rt.status_reading.public_ids(
                v, page, local=None, tag="food"))),
            ("account", lambda: api(alice, lambda v: rt.status_reading.account_status_ids(
                v, info["account"], page))),
            ("group home page (posts and group notes)", home_page),
            ("needs picture (kept: nothing changed)", lambda: rt.needs_picture.picture(alice)),
            # With a time given it is counted afresh: what a request pays after a change.
            ("needs picture (made again)", lambda: rt.needs_picture.group_picture(
                now=utcnow())),
        ]
        engines = {rt.db.reader.sync_engine, rt.db.writer.sync_engine}
        for name, fn in paths:
            await fn()  # warm
            seen: list[list[Any]] = []

            def before(conn: Any, cursor: Any, statement: str, parameters: Any,
                       context: Any, executemany: bool, seen: list[list[Any]] = seen) -> None:
                seen.append([statement, parameters, time.perf_counter()])

            def after(conn: Any, cursor: Any, statement: str, parameters: Any,
                      context: Any, executemany: bool, seen: list[list[Any]] = seen) -> None:
                seen[-1][2] = time.perf_counter() - seen[-1][2]

            for e in engines:
                event.listen(e, "before_cursor_execute", before)
                event.listen(e, "after_cursor_execute", after)
            start = time.perf_counter()
            try:
                await fn()
            finally:
                for e in engines:
                    event.remove(e, "before_cursor_execute", before)
                    event.remove(e, "after_cursor_execute", after)
            total = (time.perf_counter() - start) * 1000
            in_sql = sum(s[2] for s in seen) * 1000
            print(f"\n=== {name}: {len(seen)} statements, {in_sql:.1f} ms in the database "
                  f"(cursor execute) of {total:.1f} ms in process")
            async with rt.db.read() as conn:
                for statement, params, secs in sorted(seen, key=lambda s: -s[2])[:6]:
                    if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                        continue
                    print(f"--- {secs * 1000:.2f} ms: " + " ".join(statement.split())[:600])
                    if rt.db.is_sqlite:
                        rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                          tuple(params))
                        for r in rows:
                            print(f"      {r[-1]}")
                    else:
                        rows = await conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) "
                            + statement, tuple(params))
                        for r in rows:
                            print(f"      {r[0]}")
    finally:
        await rt.close()
