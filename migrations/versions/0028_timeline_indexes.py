"""timelines stay fast as data grows: indexes on statuses

``ix_statuses_reblog_of`` gains ``account_id``: which of a page's statuses the viewer
boosted (``storage/statuses.marks``) is looked up by both keys (SQLite chose to read all of
the viewer's own statuses instead). ``ix_statuses_public_authors`` (account_id, visibility,
hidden, id, post_id; partial: public and not hidden, ``storage/statuses.COUNTED``; the level
and flag in the index too, so that SQLite reads nothing else; the id, to count only the
statuses after a known one): accounts' statuses_count
(``storage/statuses.count_by_authors``) is counted on the index alone, not by reading every
status of each account. ``ix_statuses_local_posts`` (id, partial: offers and
needs posted here, ``storage/statuses.LOCAL_POST``): every member's home timeline reads the
newest of them first and stops after a page, instead of walking the whole table back to
find them. Figures and plans: docs/benchmarks.md, "Timelines".

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_statuses_reblog_of', table_name='statuses')
    op.create_index('ix_statuses_reblog_of', 'statuses', ['reblog_of_id', 'account_id'])
    op.create_index('ix_statuses_public_authors', 'statuses',
                    ['account_id', 'visibility', 'hidden', 'id', 'post_id'],
                    sqlite_where=sa.text("visibility = 'public' AND hidden IS 0"),
                    postgresql_where=sa.text("visibility = 'public' AND hidden IS false"))
    op.create_index('ix_statuses_local_posts', 'statuses', ['id'],
                    sqlite_where=sa.text('post_id IS NOT NULL AND local IS 1'),
                    postgresql_where=sa.text('post_id IS NOT NULL AND local IS true'))


def downgrade() -> None:
    op.drop_index('ix_statuses_local_posts', table_name='statuses')
    op.drop_index('ix_statuses_public_authors', table_name='statuses')
    op.drop_index('ix_statuses_reblog_of', table_name='statuses')
    op.create_index('ix_statuses_reblog_of', 'statuses', ['reblog_of_id'])
