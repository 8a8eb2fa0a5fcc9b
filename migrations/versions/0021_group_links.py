"""links between groups

A link is a mutual follow between two Group actors that both groups' coordinators approved,
with what each side shares (issue 12; fediaid/domain/links.py, docs/network.md).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'group_links',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('actor_id', BigId(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('our_shares', sa.String(length=200), nullable=False),
        sa.Column('their_shares', sa.String(length=200), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['actors.id'],
                                name=op.f('fk_group_links_actor_id_actors'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_group_links')),
        sa.UniqueConstraint('actor_id', name=op.f('uq_group_links_actor_id')),
    )


def downgrade() -> None:
    op.drop_table('group_links')
