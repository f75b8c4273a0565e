"""story records: SleeperHit sources, plans and artifacts; richer projects

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(_ts('disabled_at', True))
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('elevated', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('meta', sa.JSON(), nullable=True))
        batch_op.add_column(_ts('updated_at', True))
        batch_op.add_column(_ts('archived_at', True))
        batch_op.add_column(_ts('deleted_at', True))
    op.create_table('story_sources',
    sa.Column('id', _S(length=64), nullable=False),
    sa.Column('account_id', _S(length=40), nullable=False),
    sa.Column('project_id', _S(length=64), nullable=False),
    sa.Column('type', _S(length=10), nullable=False),
    sa.Column('label', _S(length=200), nullable=True),
    sa.Column('uri', sa.Text(), nullable=True),
    sa.Column('retention', _S(length=20), nullable=False),
    sa.Column('meta', sa.JSON(), nullable=True),
    sa.Column('extraction', sa.JSON(), nullable=True),
    sa.Column('job_id', _S(length=64), nullable=True),
    _ts('created_at'),
    _ts('updated_at'),
    _ts('deleted_at', True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('story_sources', schema=None) as batch_op:
        batch_op.create_index('ix_story_sources_project', ['project_id', 'created_at', 'id'], unique=False)
    op.create_table('story_plans',
    sa.Column('id', _S(length=64), nullable=False),
    sa.Column('account_id', _S(length=40), nullable=False),
    sa.Column('project_id', _S(length=64), nullable=False),
    sa.Column('decision', _S(length=12), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    _ts('approved_at', True),
    _ts('rejected_at', True),
    _ts('created_at'),
    _ts('updated_at'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('story_plans', schema=None) as batch_op:
        batch_op.create_index('ix_story_plans_project', ['project_id', 'created_at', 'id'], unique=False)
    op.create_table('story_artifacts',
    sa.Column('id', _S(length=64), nullable=False),
    sa.Column('account_id', _S(length=40), nullable=False),
    sa.Column('job_id', _S(length=64), nullable=False),
    sa.Column('project_id', _S(length=64), nullable=False),
    sa.Column('type', _S(length=30), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    _ts('created_at'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('story_artifacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_story_artifacts_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('story_artifacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_story_artifacts_job_id'))
    op.drop_table('story_artifacts')
    with op.batch_alter_table('story_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_story_plans_project')
    op.drop_table('story_plans')
    with op.batch_alter_table('story_sources', schema=None) as batch_op:
        batch_op.drop_index('ix_story_sources_project')
    op.drop_table('story_sources')
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('archived_at')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('meta')
        batch_op.drop_column('description')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('elevated')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('disabled_at')

