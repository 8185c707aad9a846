"""query indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:20:00

Indexes so that the hot queries cost the same at any store size (issue 15):

- sessions: the list reads one status at a time, newest first (``core.session.sessions.session_page``), from
  (account_id, status, updated_at, id), and ``--mine`` from (account_id, owner_id, status, updated_at, id).
  The old (account_id) and (account_id, status) indexes are prefixes of the first one and go.
- facts and suggested fixes: (session_id, created_at, id), their order; the lane: (session_id, kind DESC,
  position, created_at, id), its order (a page of one kind is a keyset on the last three).
- Postgres only: trigram (pg_trgm) GIN indexes on sessions.title, client_name and ticket_ref, which serve the
  list's ``ILIKE '%…%'`` filter. pg_trgm is a trusted extension (Postgres 13+): a role with CREATE on the
  database may add it. A role that may not is not stopped: the migration goes on without these three indexes,
  says so on stderr, and an administrator can add them later (docs/operations.md).

Index builds need no table rebuild on SQLite.
"""
import sys

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TRIGRAM = (
    ('ix_sessions_title_trgm', 'title'),
    ('ix_sessions_client_name_trgm', 'client_name'),
    ('ix_sessions_ticket_ref_trgm', 'ticket_ref'),
)


def upgrade() -> None:
    op.create_index('ix_sessions_account_status_updated', 'sessions',
                    ['account_id', 'status', 'updated_at', 'id'])
    op.create_index('ix_sessions_account_owner_status_updated', 'sessions',
                    ['account_id', 'owner_id', 'status', 'updated_at', 'id'])
    op.drop_index('ix_sessions_account_status', table_name='sessions')
    op.drop_index('ix_sessions_account_id', table_name='sessions')

    op.create_index('ix_facts_session_created', 'facts', ['session_id', 'created_at', 'id'])
    op.drop_index('ix_facts_session', table_name='facts')
    op.create_index('ix_suggested_fixes_session_created', 'suggested_fixes', ['session_id', 'created_at', 'id'])
    op.drop_index('ix_suggested_fixes_session', table_name='suggested_fixes')
    op.create_index('ix_task_lane_items_session_order', 'task_lane_items',
                    ['session_id', sa.text('kind DESC'), 'position', 'created_at', 'id'])
    op.drop_index('ix_task_lane_items_session', table_name='task_lane_items')

    if op.get_bind().dialect.name == 'postgresql':
        _trigram_indexes()


def _trigram_indexes() -> None:
    bind = op.get_bind()
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS pg_trgm')
            for name, column in TRIGRAM:
                bind.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS {name} ON sessions USING gin ({column} gin_trgm_ops)')
    except sa.exc.DBAPIError as exc:  # no privilege, no pg_trgm on the server, the extension outside search_path
        reason = (str(getattr(exc, 'orig', exc)).strip().splitlines() or ['refused'])[0]
        sys.stderr.write(
            f"rfpilot: the list filter's trigram indexes were not made ({reason}): filtering works without them, "
            f"only slower on a big store; an administrator can add them (docs/operations.md, \"Trigram indexes\")\n")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name, _ in TRIGRAM:
            op.execute(f'DROP INDEX IF EXISTS {name}')
    op.create_index('ix_task_lane_items_session', 'task_lane_items', ['session_id', 'position'])
    op.drop_index('ix_task_lane_items_session_order', table_name='task_lane_items')
    op.create_index('ix_suggested_fixes_session', 'suggested_fixes', ['session_id', 'created_at'])
    op.drop_index('ix_suggested_fixes_session_created', table_name='suggested_fixes')
    op.create_index('ix_facts_session', 'facts', ['session_id', 'created_at'])
    op.drop_index('ix_facts_session_created', table_name='facts')
    op.create_index('ix_sessions_account_id', 'sessions', ['account_id'])
    op.create_index('ix_sessions_account_status', 'sessions', ['account_id', 'status'])
    op.drop_index('ix_sessions_account_owner_status_updated', table_name='sessions')
    op.drop_index('ix_sessions_account_status_updated', table_name='sessions')
