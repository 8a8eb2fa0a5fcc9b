"""Ids that leave the server are never given again. On SQLite a deleted newest row's id went
to the next row: an app that had cached the old status, notification or account by id saw the
new one as it (migration 0030; the queues were fixed by 0014, tests/fediaid/test_queue_ids.py).
The migration rebuilds tables on SQLite: every row, index, trigger and foreign key is as
before, and the references to the rebuilt tables still act."""

from __future__ import annotations

import importlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from fediaid.domain.statuses import Level
from fediaid.services.runtime import Runtime
from fediaid.storage import notifications as notifications_repo
from fediaid.storage import statuses as statuses_repo
from fediaid.storage.engine import Database
from fediaid.storage.migrate import current_revision, downgrade, upgrade
from fediaid.storage.tables import (
    SCHEMA_HEAD,
    favourites,
    metadata,
    notifications,
    picture_changes,
    posts,
    statuses,
)
from tests.support.databases import sqlite_url
from tests.support.instances import open_initialised_runtime

REBUILT = importlib.import_module("migrations.versions.0030_ids_never_reused").TABLES


async def _newest(rt: Runtime, table: Any) -> int:
    async with rt.db.read() as conn:
        return int((await conn.execute(select(func.max(table.c.id)))).scalar_one() or 0)


async def _note(rt: Runtime, actor_id: int, n: int) -> int:
    async with rt.db.write() as conn:
        sid = await statuses_repo.insert(
            conn, uri=f"https://{rt.settings.domain}/objects/note-{n}", account_id=actor_id,
            level=Level.PUBLIC, listed=True, local=True, content=f"<p>note {n}</p>")
    assert sid is not None
    return sid


async def test_a_deleted_newest_status_id_is_not_given_again(runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    first = await _note(rt, maria.actor_id, 1)
    async with rt.db.write() as conn:
        await statuses_repo.delete_status(conn, first)
    assert await _newest(rt, statuses) < first  # it was the newest
    assert await _note(rt, maria.actor_id, 2) > first


async def test_a_deleted_newest_notification_id_is_not_given_again(runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    sam = await rt.accounts.create_user("sam")

    async def notify() -> int:
        async with rt.db.write() as conn:
            return await notifications_repo.add(conn, user_id=maria.id, type_="follow",
                                                from_actor_id=sam.actor_id)

    first = await notify()
    async with rt.db.write() as conn:
        await conn.execute(delete(notifications).where(notifications.c.id == first))
    assert await notify() > first


async def test_a_deleted_newest_post_and_its_status_ids_are_not_given_again(
        runtime: Runtime) -> None:
    rt = runtime
    maria = await rt.accounts.create_user("maria")
    need = {"kind": "need", "description": "Groceries for a family of four this week."}
    first = await rt.posts.create(maria, need)
    first_status = await _newest(rt, statuses)
    async with rt.db.write() as conn:  # its status goes with it (ON DELETE CASCADE)
        await conn.execute(delete(posts).where(posts.c.id == first.id))
    assert await _newest(rt, statuses) < first_status
    second = await rt.posts.create(maria, need)
    assert second.id > first.id
    assert await _newest(rt, statuses) > first_status


async def test_the_tables_say_what_the_database_has(runtime: Runtime) -> None:
    """tables.py marks exactly the AUTOINCREMENT tables of the migrated database."""
    rt = runtime
    if rt.db.dialect != "sqlite":
        pytest.skip("PostgreSQL's sequences never reuse ids")
    async with rt.db.read() as conn:
        rows: list[Any] = list(await conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    in_database = {r[0] for r in rows if "AUTOINCREMENT" in r[1]}
    declared = {t.name for t in metadata.tables.values()
                if t.dialect_options["sqlite"]["autoincrement"]}
    assert declared == in_database
    assert set(REBUILT) <= in_database


# -- the rebuild keeps everything (SQLite) ------------------------------------------------

def _schema(path: Path) -> dict[str, Any]:
    """Everything the rebuild must keep: each index's and trigger's SQL, each table's
    columns, foreign keys and unique indexes, and the number of rows of every table."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT IN ('sqlite_sequence', 'alembic_version')")]
        out: dict[str, Any] = {
            "indexes_and_triggers": sorted(conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE type IN ('index', 'trigger') AND sql IS NOT NULL")),
            "views": conn.execute("SELECT * FROM sqlite_master WHERE type = 'view'").fetchall(),
        }
        for t in tables:
            out[t] = {
                "columns": conn.execute(f'PRAGMA table_xinfo("{t}")').fetchall(),
                "foreign_keys": sorted(conn.execute(f'PRAGMA foreign_key_list("{t}")')),
                "indexes": sorted((r[2], r[3], r[4], tuple(
                    c[2] for c in conn.execute(f'PRAGMA index_info("{r[1]}")')))
                    for r in conn.execute(f'PRAGMA index_list("{t}")')),
                "rows": conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0],
            }
        return out
    finally:
        conn.close()


def _write(path: Path, statement: str) -> None:
    """One statement on the file itself (sqlite3: foreign keys off, as SQLite's default)."""
    raw = sqlite3.connect(path)
    try:
        raw.execute(statement)
        raw.commit()
    finally:
        raw.close()


async def _upgrade_to_head(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
    finally:
        await db.dispose()


def _check(path: Path) -> tuple[list[Any], list[Any]]:
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("PRAGMA integrity_check").fetchall(),
                conn.execute("PRAGMA foreign_key_check").fetchall())
    finally:
        conn.close()


async def test_the_rebuild_keeps_rows_indexes_triggers_and_foreign_keys(tmp_path: Path
                                                                         ) -> None:
    url = sqlite_url(tmp_path)
    path = tmp_path / "fediaid.db"
    rt = await open_initialised_runtime(tmp_path, url)
    try:
        maria = await rt.accounts.create_user("maria")
        sam = await rt.accounts.create_user("sam")
        post = await rt.posts.create(maria, {"kind": "offer",
                                             "description": "A bag of apples, today only."})
        async with rt.db.read() as conn:
            post_status = (await conn.execute(select(statuses.c.id).where(
                statuses.c.post_id == post.id))).scalar_one()
        note = await _note(rt, sam.actor_id, 1)
        async with rt.db.write() as conn:
            await statuses_repo.add_favourite(conn, actor_id=sam.actor_id,
                                              status_id=post_status,
                                              uri="https://a.test/likes/1")
            await statuses_repo.add_bookmark(conn, user_id=sam.id, status_id=note)
            await notifications_repo.add(conn, user_id=maria.id, type_="favourite",
                                         from_actor_id=sam.actor_id, status_id=post_status)
    finally:
        await rt.close()

    db = Database(url)
    try:
        await downgrade(db, "0029")
        assert await current_revision(db) == "0029"
        before = _schema(path)
        await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
    finally:
        await db.dispose()
    after = _schema(path)
    assert after == before
    assert before["statuses"]["rows"] == 2 and before["notifications"]["rows"] >= 1
    assert any(sql and "picture_changes" in sql
               for kind, _, table, sql in after["indexes_and_triggers"]
               if kind == "trigger" and table == "posts")
    assert any(name == "ix_statuses_local_posts" and "WHERE" in sql
               for _, name, _, sql in after["indexes_and_triggers"])
    assert _check(path) == ([("ok",)], [])
    raw = sqlite3.connect(path)
    try:
        autoincrement = {name for name, sql in raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            if "AUTOINCREMENT" in sql}
        assert set(REBUILT) <= autoincrement
        # The next id goes on from the newest row that was copied.
        seq = dict(raw.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        assert seq["statuses"] == raw.execute("SELECT max(id) FROM statuses").fetchone()[0]
    finally:
        raw.close()

    # Foreign keys on, references to and from the rebuilt tables act, and the triggers fire.
    db = Database(url)
    try:
        async with db.write() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1
            changes = (await conn.execute(select(picture_changes.c.changes))).scalar_one()
            await conn.execute(delete(posts).where(posts.c.id == post.id))
        async with db.read() as conn:
            assert (await conn.execute(select(picture_changes.c.changes))).scalar_one() > changes
            left = (await conn.execute(select(statuses.c.id))).scalars().all()
            assert left == [note]  # the offer's status went with it
            assert (await conn.execute(select(func.count()).select_from(favourites))
                    ).scalar_one() == 0
            assert (await conn.execute(select(func.count()).select_from(notifications).where(
                notifications.c.status_id.is_not(None)))).scalar_one() == 0
    finally:
        await db.dispose()

    # And back: the downgrade keeps everything too (ids are then reusable again).
    db = Database(url)
    try:
        middle = _schema(path)
        await downgrade(db, "0029")
        assert _schema(path) == middle
        assert _check(path) == ([("ok",)], [])
    finally:
        await db.dispose()


async def test_the_rebuild_runs_again_after_a_stop_before_the_version_was_written(
        tmp_path: Path) -> None:
    """The rebuild commits before Alembic writes the new version: a process stopped in
    between leaves the tables rebuilt and the version at 0029; the next start runs 0030
    again, which finds the tables done and leaves them as they are."""
    url = sqlite_url(tmp_path)
    path = tmp_path / "fediaid.db"
    rt = await open_initialised_runtime(tmp_path, url)
    try:
        await _note(rt, (await rt.accounts.create_user("maria")).actor_id, 1)
    finally:
        await rt.close()
    done = _schema(path)
    _write(path, "UPDATE alembic_version SET version_num = '0029'")
    await _upgrade_to_head(url)
    assert _schema(path) == done
    assert _check(path) == ([("ok",)], [])


async def test_old_foreign_key_violations_do_not_stop_the_rebuild_new_ones_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A database may hold a violation from long ago (written with foreign keys off): the
    rebuild goes on and logs it. One the rebuild itself made stops it, and nothing of the
    rebuild is kept."""
    url = sqlite_url(tmp_path)
    path = tmp_path / "fediaid.db"
    rt = await open_initialised_runtime(tmp_path, url)
    try:
        sam = await rt.accounts.create_user("sam")
        note = await _note(rt, sam.actor_id, 1)
        async with rt.db.write() as conn:
            await statuses_repo.add_bookmark(conn, user_id=sam.id, status_id=note)
            await statuses_repo.add_favourite(conn, actor_id=sam.actor_id, status_id=note,
                                              uri="https://a.test/likes/1")
    finally:
        await rt.close()
    db = Database(url)
    try:
        await downgrade(db, "0029")
    finally:
        await db.dispose()
    _write(path, "UPDATE bookmarks SET status_id = 999999")  # foreign keys off: an old violation
    old = _check(path)[1]
    assert old and old[0][0] == "bookmarks"
    plain = _schema(path)

    # A rebuild that breaks a reference (a status row lost on the way) is stopped.
    real = Connection.exec_driver_sql

    def losing_a_row(self: Connection, statement: str, *args: Any, **kw: Any) -> Any:
        result = real(self, statement, *args, **kw)
        if statement == 'ALTER TABLE "_new_statuses" RENAME TO "statuses"':
            real(self, "UPDATE favourites SET status_id = 888888")
        return result

    monkeypatch.setattr(Connection, "exec_driver_sql", losing_a_row)
    db = Database(url)
    try:
        with pytest.raises(RuntimeError, match=r"foreign keys broken by the rebuild.*favourites"):
            await upgrade(db)
    finally:
        await db.dispose()
    monkeypatch.undo()
    assert _schema(path) == plain and _check(path)[1] == old

    with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
        await _upgrade_to_head(url)
    assert "1 foreign key violations were in the database before" in caplog.text
    assert _check(path) == ([("ok",)], old)
