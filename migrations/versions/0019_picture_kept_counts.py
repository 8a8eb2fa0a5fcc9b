"""the needs picture's counts of deleted posts

When retention (or an author, or an erasure) deletes a post the picture counts, its counts
stay: per month created, kind, category, area and outcome, and for needs the time to be met
and to the first answer in fixed steps. No ids, titles, authors or exact times.
fediaid/services/retention.py (``keep_counts``), docs/needs-picture.md.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'picture_counts',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('area', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('posts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'kind', 'category', 'area', 'outcome',
                                name=op.f('pk_picture_counts')),
    )
    op.create_table(
        'picture_times',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('category', sa.String(length=64), nullable=False),
        sa.Column('measure', sa.String(length=16), nullable=False),
        sa.Column('within_seconds', sa.Integer(), nullable=False),
        sa.Column('needs', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'category', 'measure', 'within_seconds',
                                name=op.f('pk_picture_times')),
    )


def downgrade() -> None:
    op.drop_table('picture_times')
    op.drop_table('picture_counts')
