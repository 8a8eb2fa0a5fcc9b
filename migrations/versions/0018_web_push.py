"""web push: subscriptions per access token, the push queue, the instance's VAPID key

Mastodon's Web Push subscriptions (one per access token, gone with it), the durable queue
of pushes written with each notification, and ``instance_keys`` for keys that belong to no
actor (the VAPID key, made at first need). fediaid/services/push.py.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'instance_keys',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('private_key_pem', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_instance_keys')),
    )
    op.create_table(
        'push_subscriptions',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', BigId(), nullable=False),
        sa.Column('endpoint', sa.String(length=2048), nullable=False),
        sa.Column('key_p256dh', sa.String(length=128), nullable=False),
        sa.Column('key_auth', sa.String(length=64), nullable=False),
        sa.Column('standard', sa.Boolean(), nullable=False),
        sa.Column('alerts', sa.String(length=255), nullable=False),
        sa.Column('policy', sa.String(length=16), nullable=False),
        sa.Column('access_token_sealed', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['token_hash'], ['access_tokens.token_hash'],
                                name=op.f('fk_push_subscriptions_token_hash_access_tokens'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_push_subscriptions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_push_subscriptions_token_hash')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_push_subscriptions_user', 'push_subscriptions', ['user_id'],
                    unique=False)
    op.create_table(
        'push_messages',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('subscription_id', BigId(), nullable=False),
        sa.Column('notification_id', BigId(), nullable=False),
        sa.Column('attempts', sa.SmallInteger(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('leased_by', sa.String(length=64), nullable=True),
        sa.Column('last_status', sa.SmallInteger(), nullable=True),
        sa.Column('last_error', sa.String(length=1024), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['subscription_id'], ['push_subscriptions.id'],
                                name=op.f('fk_push_messages_subscription_id_push_subscriptions'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                                name=op.f('fk_push_messages_notification_id_notifications'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_messages')),
        sa.UniqueConstraint('subscription_id', 'notification_id',
                            name='uq_push_messages_pair'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_push_messages_due', 'push_messages', ['next_attempt_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_push_messages_due', table_name='push_messages')
    op.drop_table('push_messages')
    op.drop_index('ix_push_subscriptions_user', table_name='push_subscriptions')
    op.drop_table('push_subscriptions')
    op.drop_table('instance_keys')
