"""invitations and join requests

Invitation links made by coordinators (SHA-256 of the secret only, uses left, expiry, a
note) and requests to join from the group's page, for fediaid/services/joining.py.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'invitations',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('max_uses', sa.Integer(), nullable=False),
        sa.Column('uses_left', sa.Integer(), nullable=False),
        sa.Column('created_by', BigId(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('revoked_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'],
                                name=op.f('fk_invitations_created_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash')),
    )
    op.create_table(
        'join_requests',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('contact', sa.String(length=255), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('decided_by', BigId(), nullable=True),
        sa.Column('decided_at', UTCDateTime(), nullable=True),
        sa.Column('user_id', BigId(), nullable=True),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'],
                                name=op.f('fk_join_requests_decided_by_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_join_requests_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_join_requests')),
    )
    op.create_index('ix_join_requests_state', 'join_requests', ['state', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_join_requests_state', table_name='join_requests')
    op.drop_table('join_requests')
    op.drop_table('invitations')
