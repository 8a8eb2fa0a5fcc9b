"""two-factor login

TOTP secrets (encrypted with a key derived from the instance secret; the last time step
used, so a code is good once) and recovery codes (SHA-256 only), for
fediaid/services/two_factor.py.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'two_factor',
        sa.Column('user_id', BigId(), nullable=False),
        sa.Column('secret', sa.String(length=255), nullable=False),
        sa.Column('confirmed_at', UTCDateTime(), nullable=True),
        sa.Column('last_step', BigId(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_two_factor_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_two_factor')),
    )
    op.create_table(
        'recovery_codes',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('user_id', BigId(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_recovery_codes_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    )
    op.create_index('ix_recovery_codes_user', 'recovery_codes', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_recovery_codes_user', table_name='recovery_codes')
    op.drop_table('recovery_codes')
    op.drop_table('two_factor')
