"""stream events for every process; PostgreSQL NOTIFY when work or stream rows are written

``stream_events``: the deletions and edits of statuses, one row each, read by the streaming
poller of every process (services/streaming.py), so a client streaming from one process
hears of a status deleted or edited through another. Ids are never reused (the poller reads
ids above the last one seen); rows are purged after an hour.

On PostgreSQL, statement-level triggers send ``NOTIFY`` in the transaction that inserts
rows: on channel ``fediaid_jobs`` (payload: the table) for the queues the workers claim
from, on ``fediaid_stream`` for what the streaming poller reads. PostgreSQL delivers a
notification only when the transaction commits and folds identical ones of one transaction
into one. SQLite has no triggers here: its processes keep their own wake-ups and polls.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

JOBS = ('inbox_items', 'deliveries', 'push_messages', 'email_outbox', 'sms_queue')
STREAM = ('statuses', 'notifications', 'stream_events')


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'stream_events',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('status_id', BigId(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stream_events')),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("""
        CREATE FUNCTION fediaid_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME);
            RETURN NULL;
        END
        $$""")
    for channel, tables in (('fediaid_jobs', JOBS), ('fediaid_stream', STREAM)):
        for table in tables:
            op.execute(f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION fediaid_notify('{channel}')")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in (*JOBS, *STREAM):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute("DROP FUNCTION IF EXISTS fediaid_notify()")
    op.drop_table('stream_events')
