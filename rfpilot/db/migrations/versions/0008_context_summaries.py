"""context summaries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:20:00

One table: the rolling summary a long conversation's oldest turns are folded into, so a chat turn's request
stays within the context budget. One row per session and branch (scope '' before the session branches).
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('context_summaries',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('scope', sa.String(length=36), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('through_seq', sa.Integer(), nullable=False),
    sa.Column('through_message_id', sa.String(length=36), nullable=True),
    sa.Column('through_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('folded_messages', sa.Integer(), nullable=False),
    sa.Column('folds', sa.Integer(), nullable=False),
    sa.Column('drafter', sa.String(length=20), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("drafter IN ('offline', 'llm')", name=op.f('ck_context_summaries_drafter')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_context_summaries_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_context_summaries_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_summaries')),
    sa.UniqueConstraint('session_id', 'scope', name='uq_context_summaries_session_scope')
    )
    with op.batch_alter_table('context_summaries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_context_summaries_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('context_summaries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_context_summaries_account_id'))
    op.drop_table('context_summaries')
