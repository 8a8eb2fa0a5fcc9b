"""member blocks and mutes

A member's (or a remote actor's) blocks of accounts, a member's mutes (with notifications
and an end), a member's own domain blocks.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

URL = sa.String(length=2048)


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'account_blocks',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('actor_id', BigId(), nullable=False),
        sa.Column('target_id', BigId(), nullable=False),
        sa.Column('uri', URL, nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['actors.id'],
                                name=op.f('fk_account_blocks_actor_id_actors'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['target_id'], ['actors.id'],
                                name=op.f('fk_account_blocks_target_id_actors'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_blocks')),
        sa.UniqueConstraint('actor_id', 'target_id', name='uq_account_blocks_pair'),
        sa.UniqueConstraint('uri', name=op.f('uq_account_blocks_uri')),
    )
    op.create_index('ix_account_blocks_target', 'account_blocks', ['target_id'])
    op.create_table(
        'account_mutes',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('actor_id', BigId(), nullable=False),
        sa.Column('target_id', BigId(), nullable=False),
        sa.Column('notifications', sa.Boolean(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['actors.id'],
                                name=op.f('fk_account_mutes_actor_id_actors'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['target_id'], ['actors.id'],
                                name=op.f('fk_account_mutes_target_id_actors'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_mutes')),
        sa.UniqueConstraint('actor_id', 'target_id', name='uq_account_mutes_pair'),
    )
    op.create_table(
        'account_domain_blocks',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('actor_id', BigId(), nullable=False),
        sa.Column('domain', sa.String(length=255), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['actors.id'],
                                name=op.f('fk_account_domain_blocks_actor_id_actors'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_domain_blocks')),
        sa.UniqueConstraint('actor_id', 'domain', name='uq_account_domain_blocks_pair'),
    )


def downgrade() -> None:
    op.drop_table('account_domain_blocks')
    op.drop_table('account_mutes')
    op.drop_index('ix_account_blocks_target', table_name='account_blocks')
    op.drop_table('account_blocks')
