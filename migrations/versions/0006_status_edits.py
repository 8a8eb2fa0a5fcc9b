"""status edits

Earlier versions of edited statuses, for ``GET /api/v1/statuses/:id/history``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('status_edits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('spoiler_text', sa.String(length=512), nullable=False),
    sa.Column('sensitive', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['status_id'], ['statuses.id'], name=op.f('fk_status_edits_status_id_statuses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_edits'))
    )
    with op.batch_alter_table('status_edits', schema=None) as batch_op:
        batch_op.create_index('ix_status_edits_status', ['status_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('status_edits', schema=None) as batch_op:
        batch_op.drop_index('ix_status_edits_status')
    op.drop_table('status_edits')
