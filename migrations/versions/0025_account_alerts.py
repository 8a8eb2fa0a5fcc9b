"""account alerts between linked groups: the alerts this group shared, those it received

Issue 12, "Accountability across the network" (fediaid/domain/alerts.py). ``alerts_sent``:
one row per alert shared (the account, the category of harm, the shared words, the groups
told), marked when retracted. ``alerts_received``: one row per alert from a linked group
(open, applied or dismissed); a retraction deletes it, or marks an applied one.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'alerts_sent',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('activity_uri', sa.String(2048), nullable=False),
        sa.Column('account_uri', sa.String(2048), nullable=False),
        sa.Column('account_handle', sa.String(300), nullable=False),
        sa.Column('harm', sa.String(20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('sent_to', sa.Text(), nullable=False),
        sa.Column('by_user_id', BigId()),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('retracted_at', UTCDateTime()),
        sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_alerts_sent_by_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts_sent')),
        sa.UniqueConstraint('activity_uri', name=op.f('uq_alerts_sent_activity_uri')),
    )
    op.create_index(op.f('ix_alerts_sent_account_uri'), 'alerts_sent', ['account_uri'])
    op.create_table(
        'alerts_received',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('activity_uri', sa.String(2048), nullable=False),
        sa.Column('from_actor_id', BigId(), nullable=False),
        sa.Column('account_uri', sa.String(2048), nullable=False),
        sa.Column('account_handle', sa.String(300), nullable=False),
        sa.Column('harm', sa.String(20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('state', sa.String(20), nullable=False),
        sa.Column('received_at', UTCDateTime(), nullable=False),
        sa.Column('decided_by_user_id', BigId()),
        sa.Column('decided_at', UTCDateTime()),
        sa.Column('retracted_at', UTCDateTime()),
        sa.ForeignKeyConstraint(['from_actor_id'], ['actors.id'], ondelete='CASCADE',
                                name=op.f('fk_alerts_received_from_actor_id_actors')),
        sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'], ondelete='SET NULL',
                                name=op.f('fk_alerts_received_decided_by_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts_received')),
        sa.UniqueConstraint('activity_uri', name=op.f('uq_alerts_received_activity_uri')),
    )


def downgrade() -> None:
    op.drop_table('alerts_received')
    op.drop_index(op.f('ix_alerts_sent_account_uri'), table_name='alerts_sent')
    op.drop_table('alerts_sent')
