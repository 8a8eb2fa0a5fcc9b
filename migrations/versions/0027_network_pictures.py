"""the network's picture: linked groups' published needs pictures, cached

One row per linked group that shares its statistics with us (issue 12, "The network's
picture"): its actor URI, its needs picture as fetched from its ``/picture.json`` (JSON:
counts of 5 or more, else "fewer than 5" or "hidden") and when it was fetched. The refresh
replaces the whole table in one transaction.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 08:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'network_pictures',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('actor_uri', sa.String(2048), nullable=False),
        sa.Column('picture', sa.Text(), nullable=False),
        sa.Column('fetched_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_network_pictures')),
        sa.UniqueConstraint('actor_uri', name=op.f('uq_network_pictures_actor_uri')),
    )


def downgrade() -> None:
    op.drop_table('network_pictures')
