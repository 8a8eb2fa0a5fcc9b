"""forwarding unmet needs to linked groups: the asker's choice, and what was forwarded

Issue 12, "Forwarding unmet needs" (fediaid/domain/forwarding.py). ``need_forwarding``: one
row per need whose asker (or recording coordinator) opted in or out; no row: the group's
default. ``forwarded_needs``: our needs offered to a linked group (``outgoing``) and the
needs linked groups offered us (``shown`` within the daily cap), one row per need, group
and direction.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'need_forwarding',
        sa.Column('post_id', BigId(), nullable=False),
        sa.Column('forward', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE',
                                name=op.f('fk_need_forwarding_post_id_posts')),
        sa.PrimaryKeyConstraint('post_id', name=op.f('pk_need_forwarding')),
    )
    op.create_table(
        'forwarded_needs',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('post_id', BigId(), nullable=False),
        sa.Column('group_actor_id', BigId(), nullable=False),
        sa.Column('outgoing', sa.Boolean(), nullable=False),
        sa.Column('activity_uri', sa.String(2048), nullable=False),
        sa.Column('shown', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'], ondelete='CASCADE',
                                name=op.f('fk_forwarded_needs_post_id_posts')),
        sa.ForeignKeyConstraint(['group_actor_id'], ['actors.id'], ondelete='CASCADE',
                                name=op.f('fk_forwarded_needs_group_actor_id_actors')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forwarded_needs')),
        sa.UniqueConstraint('post_id', 'group_actor_id', 'outgoing',
                            name='uq_forwarded_needs_post_group'),
    )
    op.create_index('ix_forwarded_needs_created', 'forwarded_needs',
                    ['outgoing', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_forwarded_needs_created', table_name='forwarded_needs')
    op.drop_table('forwarded_needs')
    op.drop_table('need_forwarding')
