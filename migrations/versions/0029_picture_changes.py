"""the needs picture knows it still holds by reading one row

``picture_changes`` (one row, id 1): ``changes`` grows in every transaction that inserts,
updates or deletes a row of what the needs picture counts or names: ``posts``,
``responses``, ``picture_counts``, ``picture_times``, ``categories``, ``areas``. Triggers
write it, so every writer (web, client API, inbox, retention, CLI, SQL by hand) moves it,
in the writing transaction: a reader sees the change and the new number together. The
picture (fediaid/services/needs_picture.py) is kept while the number holds, instead of
scanning the group's posts for a stamp on every request (docs/benchmarks.md, "Timelines").

SQLite: a trigger per table and statement kind, one UPDATE per row changed (SQLite has one
writer at a time). PostgreSQL: deferred constraint triggers, run at COMMIT, which add 1 once
per transaction (a transaction-local setting remembers it): the row is locked only while
the transaction commits, after every other lock it takes, so writers of posts and answers
wait for each other's commit at most and cannot deadlock on it.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

WATCHED = ('posts', 'responses', 'picture_counts', 'picture_times', 'categories', 'areas')
EVENTS = ('INSERT', 'UPDATE', 'DELETE')
BUMP = "UPDATE picture_changes SET changes = changes + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        'picture_changes',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('changes', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_picture_changes')),
    )
    op.execute("INSERT INTO picture_changes (id, changes) VALUES (1, 0)")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION fediaid_picture_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF current_setting('fediaid.picture_changed', true) IS DISTINCT FROM 'yes'
                THEN
                    {BUMP};
                    PERFORM set_config('fediaid.picture_changed', 'yes', true);
                END IF;
                RETURN NULL;
            END
            $$""")
        for table in WATCHED:
            op.execute(f"CREATE CONSTRAINT TRIGGER {table}_picture_changed "
                       f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       "EXECUTE FUNCTION fediaid_picture_changed()")
        return
    for table in WATCHED:
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER {table}_picture_{event.lower()} AFTER {event} "
                       f"ON {table} BEGIN {BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_picture_changed ON {table}")
        op.execute("DROP FUNCTION IF EXISTS fediaid_picture_changed()")
    else:
        for table in WATCHED:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_picture_{event.lower()}")
    op.drop_table('picture_changes')
