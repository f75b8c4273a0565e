"""job leases, edit revisions, subjects; per-account rate overrides

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('edit_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index('ix_jobs_account_created', ['account_id', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('account_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('per_minute', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('account_plans', schema=None) as batch_op:
        batch_op.drop_column('per_minute')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_account_created')
        batch_op.drop_index(batch_op.f('ix_jobs_subject_id'))
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('edit_until')
        batch_op.drop_column('revision')
        batch_op.drop_column('subject_id')
