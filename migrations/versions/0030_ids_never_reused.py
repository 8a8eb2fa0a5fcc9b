"""ids that leave the server are never reused (SQLite)

SQLite gives a new row the largest id + 1, so when the newest rows of a table are deleted
their ids come back. Migration 0014 stopped that for the two queues; here for every table
whose ids leave the server (the client API, page URLs, e-mails, signed links) or are kept
by clients as page cursors, where a reused id shows a new object under an old one's id. A
Mastodon app caches statuses, accounts and notifications by id: a new private status under a
deleted public one's id could be shown, boosted or quoted as that old one, and markers and
``since_id``/``min_id`` polling skip a new row whose id is not above the last one seen.
``AUTOINCREMENT`` makes SQLite never reuse an id; PostgreSQL's sequences never did (no-op
there).

Rebuilt, and why:

- ``actors``: account ids in the client API (accounts, relationships, follow requests,
  mentions); remote actors are deleted. A reused id would show a new person as the old one.
- ``users``: the e-mail unsubscribe link is signed over the user id; a deleted member's old
  link must not work for the next member.
- ``posts``: ``/posts/{id}`` pages, e-mails that link to them, the JSON API, statuses' ``url``.
- ``responses``, ``conversations``, ``messages``: ids in page URLs (answers, the contact
  pages linked from e-mails) and in the JSON API.
- ``statuses``: status ids in the client API, timelines paged by id, the Mastodon
  conversation id (its oldest status), markers, ``conversation_marks``, stream events.
- ``notifications``: ids in the client API and Web Push, paged by id, the notifications
  marker.
- ``media_attachments``: ids in the client API (``media_ids`` when posting, ``/media/{id}``).
- ``favourites``, ``bookmarks``: their ids are the page cursors of the favourites and
  bookmarks lists and of "favourited by".
- ``reports``: ids in the client API and ``/admin/reports/{id}``.
- ``sms_threads``: ``/admin/texts/{id}``; threads are deleted.

Not rebuilt: tables already AUTOINCREMENT (the queues, push subscriptions and messages, the
e-mail and text queues, stream events); ``audit_log`` (rows are never deleted: a trigger
refuses it); tables keyed by something else (markers, keys, settings, tokens and sessions,
found by a random secret); and rows whose ids stay inside one coordinator's page form
(join requests, role proposals, alerts, invitations, hotline calls) or inside the server
(activities, objects, follows, blocks, status edits, intake records).

How (SQLite's "making other kinds of table schema changes", per table): the table's own
CREATE TABLE text with ``id INTEGER NOT NULL CONSTRAINT pk_<table> PRIMARY KEY
AUTOINCREMENT`` in place of the table-level primary key, everything else unchanged
(constraints, ``ON DELETE`` actions, defaults); the rows copied; the old table dropped and
the new one renamed; then its indexes (partial ones too, migration 0028) and triggers
(0029's picture triggers on ``posts`` and ``responses``) created again from their own
stored SQL, so they are exactly as before. Foreign keys are off while the tables are
swapped (dropping a referenced table with them on would delete or null every row that
refers to it): SQLite ignores that setting inside a transaction, so the work before is
committed first (Alembic's autocommit block) and foreign keys are on again after, checked
with ``PRAGMA foreign_key_check`` before the commit: only violations that were not there
before the rebuild stop it (older ones, from a database written with foreign keys off, are
logged as a warning and left as they are, so they do not keep the instance from starting).

Limit: ``sqlite_sequence`` starts at each table's highest id at the time of the migration, so
the ids of the newest rows deleted *before* it can still be given once more. Seeding it from
the ids that refer to a table would not help: foreign keys are enforced at run time, so a
deleted row's references were deleted or set to NULL with it; and ids kept outside the
database (by apps, in e-mails) cannot be seen from here. From the migration on, no id is
given twice.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from alembic import op
from sqlalchemy.engine import Connection

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TABLES = ('actors', 'users', 'posts', 'responses', 'conversations', 'messages', 'statuses',
          'notifications', 'media_attachments', 'favourites', 'bookmarks', 'reports',
          'sms_threads')


def _autoincrement(table: str, sql: str) -> str:
    pk = f"CONSTRAINT pk_{table} PRIMARY KEY"
    sql, columns = re.subn(r"(\n\s*id INTEGER NOT NULL),", rf"\1 {pk} AUTOINCREMENT,", sql,
                           count=1)
    sql, constraints = re.subn(rf",\s*{pk} \(id\)", "", sql)
    if columns != 1 or constraints != 1:
        raise RuntimeError(f"{table}: unexpected CREATE TABLE, not changed:\n{sql}")
    return sql


def _plain(table: str, sql: str) -> str:
    pk = f"CONSTRAINT pk_{table} PRIMARY KEY"
    sql, columns = re.subn(rf"(\n\s*id INTEGER NOT NULL) {pk} AUTOINCREMENT,", r"\1,", sql)
    sql, ends = re.subn(r"\n\)$", f", \n\t{pk} (id)\n)", sql)
    if columns != 1 or ends != 1:
        raise RuntimeError(f"{table}: unexpected CREATE TABLE, not changed:\n{sql}")
    return sql


def _rebuild(conn: Connection, table: str, change: Callable[[str, str], str]) -> None:
    old = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if ("AUTOINCREMENT" in old) == (change is _autoincrement):
        # Already done: the rebuild was committed, and the process stopped before Alembic
        # wrote the new version (the next start runs the migration again).
        return
    kept = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL ORDER BY rowid", (table,)).scalars().all()
    temp = f"_new_{table}"
    new, n = re.subn(rf'^CREATE TABLE "?{table}"? \(', f'CREATE TABLE "{temp}" (',
                     change(table, old))
    if n != 1:
        raise RuntimeError(f"{table}: unexpected CREATE TABLE:\n{old}")
    conn.exec_driver_sql(new)
    # The same columns in the same order (only the primary key's wording changed).
    conn.exec_driver_sql(f'INSERT INTO "{temp}" SELECT * FROM "{table}"')  # noqa: S608 (TABLES)
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() != 0:
        raise RuntimeError("foreign keys are on: dropping a table would delete rows")
    conn.exec_driver_sql(f'DROP TABLE "{table}"')  # its indexes and triggers with it
    conn.exec_driver_sql(f'ALTER TABLE "{temp}" RENAME TO "{table}"')
    for sql in kept:
        conn.exec_driver_sql(sql)


def _foreign_keys(conn: Connection, on: bool, *, end: str = "COMMIT") -> None:
    """SQLite ignores ``PRAGMA foreign_keys`` inside a transaction: end the migration's
    transaction, set it, and begin another (Alembic commits that one with the version)."""
    conn.exec_driver_sql(end)
    conn.exec_driver_sql(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() != int(on):
        raise RuntimeError("could not set PRAGMA foreign_keys")


def _violations(conn: Connection) -> set[tuple[str, int | None, str, int]]:
    return {(str(t), rowid, str(parent), int(fkid)) for t, rowid, parent, fkid
            in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()}


def _rebuild_all(change: Callable[[str, str], str]) -> None:
    conn = op.get_bind()
    _foreign_keys(conn, False)
    try:
        old = _violations(conn)
        if old:
            log.warning("%d foreign key violations were in the database before migration "
                        "0030 (left as they are; table, rowid, parent, fkid): %s",
                        len(old), sorted(old)[:10])
        for table in TABLES:
            _rebuild(conn, table, change)
        broken = _violations(conn) - old
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {sorted(broken)[:10]}")
    except BaseException:
        _foreign_keys(conn, True, end="ROLLBACK")  # nothing of the rebuild is kept
        raise
    _foreign_keys(conn, True)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild_all(_autoincrement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild_all(_plain)
