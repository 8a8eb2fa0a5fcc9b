"""the group's log in the reader's language

Each audit log entry also keeps its summary as marked words (JSON: the English text's
msgid and values, fediaid.i18n.to_json), so /audit says it in the reader's language; the
English ``summary`` stays as it was. NULL for entries written before this: they are shown
as they were written. Adding a column leaves the append-only triggers (0012) in place.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_log', sa.Column('summary_words', sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch mode: rebuilding the table on SQLite would drop its append-only triggers.
    op.execute('ALTER TABLE audit_log DROP COLUMN summary_words')
