"""seen before

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:45:00

"Seen before" inside a live session (issue 17, part 2):

- ``seen_before_runs``: per session, the state_version and query digest its matches were last found at, so a read
  searches again only when the session's title, problem or facts changed.
- ``seen_before_matches``: the earlier sessions found like it, ranked, with what the lane and the model show of
  them; a dismissed match keeps its row (``dismissed_at``, ``dismissed_by``) and never comes back for that session.
- ``suggested_fixes.source_session_id``: the earlier session a fix repeats (its provenance), nullable.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seen_before_runs',
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('state_version', sa.Integer(), nullable=False),
    sa.Column('basis', sa.String(length=64), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_seen_before_runs_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_seen_before_runs_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_seen_before_runs'))
    )
    with op.batch_alter_table('seen_before_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_before_runs_account_id'), ['account_id'], unique=False)
    op.create_table('seen_before_matches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('match_session_id', sa.String(length=36), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('state_version', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dismissed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dismissed_by', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_seen_before_matches_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_seen_before_matches_session_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['match_session_id'], ['sessions.id'], name=op.f('fk_seen_before_matches_match_session_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dismissed_by'], ['engineers.id'], name=op.f('fk_seen_before_matches_dismissed_by_engineers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seen_before_matches')),
    sa.UniqueConstraint('session_id', 'match_session_id', name='uq_seen_before_matches_session_match')
    )
    with op.batch_alter_table('seen_before_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_before_matches_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_seen_before_matches_match_session_id'), ['match_session_id'], unique=False)
    # A plain ADD COLUMN on both stores (SQLite needs no table rebuild for a nullable column without a default).
    op.add_column('suggested_fixes', sa.Column('source_session_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('suggested_fixes', schema=None) as batch_op:
        batch_op.drop_column('source_session_id')
    with op.batch_alter_table('seen_before_matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_before_matches_match_session_id'))
        batch_op.drop_index(batch_op.f('ix_seen_before_matches_account_id'))
    op.drop_table('seen_before_matches')
    with op.batch_alter_table('seen_before_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_before_runs_account_id'))
    op.drop_table('seen_before_runs')
