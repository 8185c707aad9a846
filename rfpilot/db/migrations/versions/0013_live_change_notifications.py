"""live change notifications

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 23:50:00

Live team views (issue 17, part 4): on Postgres every statement that writes ``sessions`` or
``session_handoffs`` sends a notification on the channel ``rfpilot_changes`` (``rfpilot.db.changes``), delivered
to the listeners when its transaction commits and not at all when it rolls back.

Why these two tables are enough: every write a view shows touches the session's row in the same transaction —
facts, fixes and branch marks bump ``state_version`` (``Ctx.bump_state``), lane work and messages set
``updated_at`` (``Ctx.touch``), status changes set ``status``, and 0009's triggers update ``fact_count`` and
``message_count`` on every write to ``facts`` and ``messages`` whatever makes it. The queue's rows
(``session_handoffs``) are covered on their own: a model's briefing is stored after the claim's commit and
touches only the handoff.

Payload: ``"<account id> <session id> <status>"`` (handoffs: status ``*``), at most ~80 bytes. Statement-level
triggers with transition tables: a statement of more than BULK rows (an import, a bulk script) sends one
``"<account id> * *"`` per account instead of one per row, and Postgres folds identical notifications of one
transaction into one. A read sends nothing. Listening needs no privilege beyond connecting.

SQLite has no notifications: its feed asks ``PRAGMA data_version`` (nothing to create here).
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

CHANNEL = 'rfpilot_changes'
BULK = 50
TABLES = {'sessions': 'id', 'session_handoffs': 'session_id'}  # table -> the column naming the session
EVENTS = {'insert': 'NEW', 'update': 'NEW', 'delete': 'OLD'}

FUNCTION = f"""CREATE OR REPLACE FUNCTION rfpilot_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    n integer;
BEGIN
    SELECT count(*) INTO n FROM changed_rows;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF n > {BULK} THEN
        FOR r IN SELECT DISTINCT account_id FROM changed_rows LOOP
            PERFORM pg_notify('{CHANNEL}', r.account_id || ' * *');
        END LOOP;
    ELSIF TG_TABLE_NAME = 'sessions' THEN
        FOR r IN SELECT DISTINCT account_id, id, status FROM changed_rows LOOP
            PERFORM pg_notify('{CHANNEL}', r.account_id || ' ' || r.id || ' ' || r.status);
        END LOOP;
    ELSE
        FOR r IN SELECT DISTINCT account_id, session_id FROM changed_rows LOOP
            PERFORM pg_notify('{CHANNEL}', r.account_id || ' ' || r.session_id || ' *');
        END LOOP;
    END IF;
    RETURN NULL;
END $$"""


def _trigger(table: str, event: str) -> str:
    return (f"CREATE TRIGGER rfpilot_{table}_notify_{event} AFTER {event.upper()} ON {table} "
            f"REFERENCING {EVENTS[event]} TABLE AS changed_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION rfpilot_notify_changes()")


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(FUNCTION)
    for table in TABLES:
        for event in EVENTS:
            op.execute(_trigger(table, event))


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS rfpilot_{table}_notify_{event} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS rfpilot_notify_changes()")
