"""text messages and the hotline

The SMS gateway's texts both ways (a durable queue), texts conversations for coordinators,
the opt-out list (digests of numbers, not numbers), calls to return noted on a hotline shift,
and three columns of intake records: the channel a need came by, the neighbor's agreement to
be texted a helper's contact, and when a coordinator last called them back.
fediaid/services/sms*.py, hotline.py; docs/reach.md.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('intake_records') as batch:
        batch.add_column(sa.Column('channel', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('consent', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('told_at', UTCDateTime(), nullable=True))
    op.create_table(
        'sms_threads',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('post_id', BigId(), nullable=True),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('unread', sa.Boolean(), nullable=False),
        sa.Column('done', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'],
                                name=op.f('fk_sms_threads_post_id_posts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_threads')),
    )
    op.create_index('ix_sms_threads_number', 'sms_threads', ['number'], unique=False)
    op.create_index('ix_sms_threads_post', 'sms_threads', ['post_id'], unique=False)
    op.create_table(
        'sms_texts',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('thread_id', BigId(), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('by_user_id', BigId(), nullable=True),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['thread_id'], ['sms_threads.id'],
                                name=op.f('fk_sms_texts_thread_id_sms_threads'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['by_user_id'], ['users.id'],
                                name=op.f('fk_sms_texts_by_user_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_texts')),
    )
    op.create_index('ix_sms_texts_thread', 'sms_texts', ['thread_id', 'id'], unique=False)
    op.create_table(
        'sms_queue',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('ref', sa.String(length=64), nullable=True),
        sa.Column('thread_id', BigId(), nullable=True),
        sa.Column('text_id', BigId(), nullable=True),
        sa.Column('post_id', BigId(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.SmallInteger(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('leased_by', sa.String(length=64), nullable=True),
        sa.Column('last_error', sa.String(length=1024), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['thread_id'], ['sms_threads.id'],
                                name=op.f('fk_sms_queue_thread_id_sms_threads'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['text_id'], ['sms_texts.id'],
                                name=op.f('fk_sms_queue_text_id_sms_texts'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'],
                                name=op.f('fk_sms_queue_post_id_posts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_queue')),
        sa.UniqueConstraint('ref', name=op.f('uq_sms_queue_ref')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_sms_queue_due', 'sms_queue', ['state', 'next_attempt_at'], unique=False)
    op.create_table(
        'sms_opt_outs',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('digest', name=op.f('pk_sms_opt_outs')),
    )
    op.create_table(
        'hotline_calls',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('created_by_user_id', BigId(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('returned_at', UTCDateTime(), nullable=True),
        sa.Column('returned_by_user_id', BigId(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                                name=op.f('fk_hotline_calls_created_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['returned_by_user_id'], ['users.id'],
                                name=op.f('fk_hotline_calls_returned_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_calls')),
    )


def downgrade() -> None:
    op.drop_table('hotline_calls')
    op.drop_table('sms_opt_outs')
    op.drop_index('ix_sms_queue_due', table_name='sms_queue')
    op.drop_table('sms_queue')
    op.drop_index('ix_sms_texts_thread', table_name='sms_texts')
    op.drop_table('sms_texts')
    op.drop_index('ix_sms_threads_post', table_name='sms_threads')
    op.drop_index('ix_sms_threads_number', table_name='sms_threads')
    op.drop_table('sms_threads')
    with op.batch_alter_table('intake_records') as batch:
        batch.drop_column('told_at')
        batch.drop_column('consent')
        batch.drop_column('channel')
