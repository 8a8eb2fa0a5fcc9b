"""the directory of groups: what linked groups (and theirs) publish, cached

One row per group seen in the directory (issue 12, "A directory of groups"): its actor URI,
how many hops away (1: linked with us; 2: linked with a linked group), the actor URI of the
linked group it was found through, the entry as checked (JSON) and when it was fetched. The
refresh replaces the whole table in one transaction.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'directory_entries',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('actor_uri', sa.String(2048), nullable=False),
        sa.Column('hops', sa.SmallInteger(), nullable=False),
        sa.Column('via_uri', sa.String(2048)),
        sa.Column('entry', sa.Text(), nullable=False),
        sa.Column('fetched_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directory_entries')),
        sa.UniqueConstraint('actor_uri', name=op.f('uq_directory_entries_actor_uri')),
    )


def downgrade() -> None:
    op.drop_table('directory_entries')
