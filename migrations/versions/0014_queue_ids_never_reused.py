"""queue ids are never reused (SQLite)

SQLite gives a new row the largest id + 1, so when the newest rows of a table are deleted
their ids come back. The delivery worker holds claimed deliveries by id: a Delete queued
right after its post's Create/Update deliveries were removed (retention) took their ids,
was skipped as "already in hand", and the old attempt's result was recorded on it, so the
Delete was never sent. ``AUTOINCREMENT`` makes SQLite never reuse an id; PostgreSQL's
sequences never did. The two queue tables are leaves (nothing refers to them), so they are
rebuilt in place.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:05:00
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TABLES = ("deliveries", "inbox_items")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TABLES:
        with op.batch_alter_table(name, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TABLES:
        with op.batch_alter_table(name, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": False}):
            pass
