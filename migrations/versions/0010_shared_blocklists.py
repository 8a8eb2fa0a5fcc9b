"""shared blocklists

Domain rules as coordinators see and share them (public comment, obfuscation, when set,
the subscribed list a rule came from), blocklists of linked groups we subscribe to, and
their proposals waiting for a coordinator (fediaid/services/blocklists.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

URL = sa.String(length=2048)


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_comment', sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column('obfuscate', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('rule_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('source_id', BigId(), nullable=True))
    op.create_table(
        'blocklist_subscriptions',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('url', URL, nullable=False),
        sa.Column('publisher', URL, nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('fetched_at', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=1024), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_blocklist_subscriptions')),
        sa.UniqueConstraint('url', name=op.f('uq_blocklist_subscriptions_url')),
    )
    op.create_table(
        'blocklist_proposals',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('subscription_id', BigId(), nullable=False),
        sa.Column('domain', sa.String(length=255), nullable=False),
        sa.Column('change', sa.String(length=16), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('comment', sa.String(length=1024), nullable=False),
        sa.Column('dismissed', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['subscription_id'], ['blocklist_subscriptions.id'],
            name=op.f('fk_blocklist_proposals_subscription_id_blocklist_subscriptions'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_blocklist_proposals')),
        sa.UniqueConstraint('subscription_id', 'domain',
                            name='uq_blocklist_proposals_sub_domain'),
    )


def downgrade() -> None:
    op.drop_table('blocklist_proposals')
    op.drop_table('blocklist_subscriptions')
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_column('source_id')
        batch_op.drop_column('rule_at')
        batch_op.drop_column('obfuscate')
        batch_op.drop_column('public_comment')
