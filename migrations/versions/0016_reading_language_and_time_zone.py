"""a member's language and time zone

Each account may choose the language pages are shown in and its own time zone
(fediaid/i18n.py, docs/languages.md); NULL: the browser's language, the group's zone.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('language', sa.String(length=16), nullable=True))
    op.add_column('users', sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('time_zone')
        batch.drop_column('language')
