"""e-mail: members' addresses and choices, confirmation links, the e-mail queue

A member's e-mail address (confirmed by a link) with what they want to get (answers, messages,
a digest filtered by categories and neighborhoods), confirmation links (SHA-256 only), and
the durable queue the e-mail worker sends from (fediaid/services/email*.py). The SMTP
settings are keys in group_settings (the password encrypted).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'email_addresses',
        sa.Column('user_id', BigId(), nullable=False),
        sa.Column('address', sa.String(length=254), nullable=True),
        sa.Column('confirmed_at', UTCDateTime(), nullable=True),
        sa.Column('pending', sa.String(length=254), nullable=True),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('answers', sa.Boolean(), nullable=False),
        sa.Column('messages', sa.Boolean(), nullable=False),
        sa.Column('digest', sa.String(length=8), nullable=False),
        sa.Column('digest_categories', sa.String(length=1024), nullable=False),
        sa.Column('digest_areas', sa.String(length=1024), nullable=False),
        sa.Column('digest_until', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_email_addresses_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_email_addresses')),
    )
    op.create_index('ix_email_addresses_address', 'email_addresses', ['address'],
                    unique=False)
    op.create_table(
        'email_confirmations',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', BigId(), nullable=False),
        sa.Column('address', sa.String(length=254), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_email_confirmations_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_email_confirmations')),
    )
    op.create_table(
        'email_outbox',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('user_id', BigId(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('ref', sa.Text(), nullable=True),
        sa.Column('to_address', sa.String(length=254), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.SmallInteger(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('leased_by', sa.String(length=64), nullable=True),
        sa.Column('last_error', sa.String(length=1024), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_email_outbox_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_outbox')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_email_outbox_due', 'email_outbox', ['state', 'next_attempt_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_email_outbox_due', table_name='email_outbox')
    op.drop_table('email_outbox')
    op.drop_table('email_confirmations')
    op.drop_index('ix_email_addresses_address', table_name='email_addresses')
    op.drop_table('email_addresses')
