"""profile images and focus

Avatars and headers set from apps (``actors.icon_url`` already holds the avatar; the header
gets a column) and the focal point of uploads (Mastodon's ``focus``, both in [-1, 1]).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:12:40.118203
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('actors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('header_url', sa.String(length=2048), nullable=True))

    with op.batch_alter_table('media_attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('focus_x', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('focus_y', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('media_attachments', schema=None) as batch_op:
        batch_op.drop_column('focus_y')
        batch_op.drop_column('focus_x')

    with op.batch_alter_table('actors', schema=None) as batch_op:
        batch_op.drop_column('header_url')
