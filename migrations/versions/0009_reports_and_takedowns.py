"""reports and takedowns

Reports by members and from other servers (Flag), the posts they name, coordinators'
takedowns (hide or remove, with the reason for the author), suspended remote accounts;
``hidden`` on posts and statuses, ``limited`` on users.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

URL = sa.String(length=2048)


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    for table in ('posts', 'statuses'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('hidden', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limited', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        'reports',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('reporter_user_id', BigId(), nullable=True),
        sa.Column('reporter_actor_id', BigId(), nullable=True),
        sa.Column('reporter_domain', sa.String(length=255), nullable=True),
        sa.Column('activity_uri', URL, nullable=True),
        sa.Column('target_actor_id', BigId(), nullable=False),
        sa.Column('category', sa.String(length=16), nullable=False),
        sa.Column('comment', sa.Text(), nullable=False),
        sa.Column('rule_ids', sa.String(length=255), nullable=False),
        sa.Column('forward', sa.Boolean(), nullable=False),
        sa.Column('forwarded_at', UTCDateTime(), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('action', sa.String(length=24), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.Column('resolved_by_user_id', BigId(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('resolved_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['reporter_user_id'], ['users.id'],
                                name=op.f('fk_reports_reporter_user_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['reporter_actor_id'], ['actors.id'],
                                name=op.f('fk_reports_reporter_actor_id_actors'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['target_actor_id'], ['actors.id'],
                                name=op.f('fk_reports_target_actor_id_actors'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['resolved_by_user_id'], ['users.id'],
                                name=op.f('fk_reports_resolved_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
        sa.UniqueConstraint('activity_uri', name=op.f('uq_reports_activity_uri')),
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_state', ['state', 'id'], unique=False)
        batch_op.create_index('ix_reports_reporter', ['reporter_user_id', 'id'], unique=False)
    op.create_table(
        'report_items',
        sa.Column('report_id', BigId(), nullable=False),
        sa.Column('object_uri', URL, nullable=False),
        sa.Column('status_id', BigId(), nullable=True),
        sa.Column('post_id', BigId(), nullable=True),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'],
                                name=op.f('fk_report_items_report_id_reports'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['status_id'], ['statuses.id'],
                                name=op.f('fk_report_items_status_id_statuses'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'],
                                name=op.f('fk_report_items_post_id_posts'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('report_id', 'object_uri', name=op.f('pk_report_items')),
    )
    op.create_table(
        'takedowns',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('object_uri', URL, nullable=False),
        sa.Column('post_id', BigId(), nullable=True),
        sa.Column('status_id', BigId(), nullable=True),
        sa.Column('author_user_id', BigId(), nullable=True),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('posted_at', UTCDateTime(), nullable=True),
        sa.Column('action', sa.String(length=8), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('by_user_id', BigId(), nullable=True),
        sa.Column('report_id', BigId(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'],
                                name=op.f('fk_takedowns_post_id_posts'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['status_id'], ['statuses.id'],
                                name=op.f('fk_takedowns_status_id_statuses'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['author_user_id'], ['users.id'],
                                name=op.f('fk_takedowns_author_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['by_user_id'], ['users.id'],
                                name=op.f('fk_takedowns_by_user_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'],
                                name=op.f('fk_takedowns_report_id_reports'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_takedowns')),
    )
    with op.batch_alter_table('takedowns', schema=None) as batch_op:
        batch_op.create_index('ix_takedowns_author', ['author_user_id', 'id'], unique=False)
        batch_op.create_index('ix_takedowns_object', ['object_uri'], unique=False)
    op.create_table(
        'suspended_actors',
        sa.Column('uri', URL, nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('uri', name=op.f('pk_suspended_actors')),
    )


def downgrade() -> None:
    op.drop_table('suspended_actors')
    with op.batch_alter_table('takedowns', schema=None) as batch_op:
        batch_op.drop_index('ix_takedowns_object')
        batch_op.drop_index('ix_takedowns_author')
    op.drop_table('takedowns')
    op.drop_table('report_items')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_reporter')
        batch_op.drop_index('ix_reports_state')
    op.drop_table('reports')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('limited')
    for table in ('statuses', 'posts'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('hidden')
