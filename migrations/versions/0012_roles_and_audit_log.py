"""roles and the audit log

The admin role (the lowest-id coordinator, i.e. the one ``fediaid init`` made, becomes admin;
other coordinators stay coordinators), the append-only audit log (the database refuses
UPDATE and DELETE on it: triggers on SQLite and PostgreSQL), and role changes waiting for a
second coordinator.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def BigId() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def UTCDateTime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


REFUSAL = 'audit_log is append-only'

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log
        BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"""
    for what in ('UPDATE', 'DELETE')
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('actor_user_id', BigId(), nullable=True),
        sa.Column('actor_label', sa.String(length=128), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('target_kind', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=255), nullable=True),
        sa.Column('summary', sa.String(length=1024), nullable=False),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_table(
        'role_proposals',
        sa.Column('id', BigId(), nullable=False),
        sa.Column('user_id', BigId(), nullable=False),
        sa.Column('old_role', sa.String(length=16), nullable=False),
        sa.Column('new_role', sa.String(length=16), nullable=False),
        sa.Column('proposed_by', BigId(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('decided_by', BigId(), nullable=True),
        sa.Column('decided_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_role_proposals_user_id_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['proposed_by'], ['users.id'],
                                name=op.f('fk_role_proposals_proposed_by_users'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'],
                                name=op.f('fk_role_proposals_decided_by_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_role_proposals')),
    )
    op.create_index('ix_role_proposals_state', 'role_proposals', ['state', 'id'],
                    unique=False)
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_TRIGGERS if dialect == 'postgresql' else SQLITE_TRIGGERS:
        op.execute(statement)
    # The first coordinator (the one `fediaid init` made) becomes the admin.
    op.execute("UPDATE users SET role = 'admin' WHERE id = (SELECT MIN(id) FROM users "
               "WHERE role = 'coordinator')")


def downgrade() -> None:
    op.execute("UPDATE users SET role = 'coordinator' WHERE role = 'admin'")
    op.drop_index('ix_role_proposals_state', table_name='role_proposals')
    op.drop_table('role_proposals')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log')
        op.execute('DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log')
        op.drop_table('audit_log')
        op.execute('DROP FUNCTION IF EXISTS audit_log_append_only()')
    else:
        op.drop_table('audit_log')
