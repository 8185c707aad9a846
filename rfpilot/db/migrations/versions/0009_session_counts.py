"""session counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:20:00

The counts a view of a long session shows, kept on the session row so that reading them costs the same at 100
and at 20,000 rows (issue 15):

- ``sessions.fact_count``: the session's live facts (``deleted_at IS NULL``);
- ``sessions.message_count``: every message of the session (all branches).

The store keeps them itself, with triggers, in the transaction of every write to ``facts`` and ``messages``:
no code path (a service, a bulk insert, a cascade, a hand-written statement) can leave them behind. SQLite: a
row trigger per insert, delete and the updates that move a fact in or out of the count. Postgres: a statement
trigger per insert and delete, which adds a whole batch with one update of each session row it touches (a bulk
insert of 20,000 facts updates its session once), and a row trigger for those updates. Existing stores are
counted once here (the backfill). Neither count changes ``updated_at`` (the session list's order).

On SQLite a later migration that rebuilds ``facts`` or ``messages`` (Alembic's batch mode copies a table and
drops the old one, and its triggers with it) or ``sessions`` must create these triggers again:
``tests/test_session_counts.py`` compares the counts with COUNT(*) on a store migrated to head.

Also ``ix_facts_source_ref``: the checks whose findings became facts (``core.drafting.notes._promoted_checks``) are looked
up from the session's checks through it, instead of reading the session's facts.
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    """CREATE TRIGGER rfpilot_facts_count_insert AFTER INSERT ON facts WHEN NEW.deleted_at IS NULL
    BEGIN UPDATE sessions SET fact_count = fact_count + 1 WHERE id = NEW.session_id; END""",
    """CREATE TRIGGER rfpilot_facts_count_delete AFTER DELETE ON facts WHEN OLD.deleted_at IS NULL
    BEGIN UPDATE sessions SET fact_count = fact_count - 1 WHERE id = OLD.session_id; END""",
    """CREATE TRIGGER rfpilot_facts_count_update AFTER UPDATE OF deleted_at, session_id ON facts
    WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) OR OLD.session_id <> NEW.session_id
    BEGIN
        UPDATE sessions SET fact_count = fact_count - 1 WHERE id = OLD.session_id AND OLD.deleted_at IS NULL;
        UPDATE sessions SET fact_count = fact_count + 1 WHERE id = NEW.session_id AND NEW.deleted_at IS NULL;
    END""",
    """CREATE TRIGGER rfpilot_messages_count_insert AFTER INSERT ON messages
    BEGIN UPDATE sessions SET message_count = message_count + 1 WHERE id = NEW.session_id; END""",
    """CREATE TRIGGER rfpilot_messages_count_delete AFTER DELETE ON messages
    BEGIN UPDATE sessions SET message_count = message_count - 1 WHERE id = OLD.session_id; END""",
    """CREATE TRIGGER rfpilot_messages_count_update AFTER UPDATE OF session_id ON messages
    WHEN OLD.session_id <> NEW.session_id
    BEGIN
        UPDATE sessions SET message_count = message_count - 1 WHERE id = OLD.session_id;
        UPDATE sessions SET message_count = message_count + 1 WHERE id = NEW.session_id;
    END""",
]
SQLITE_TRIGGER_NAMES = [f"rfpilot_{t}_count_{op_}" for t in ("facts", "messages") for op_ in ("insert", "delete", "update")]

# Postgres: {table: (count column, the condition a row is counted under)}.
PG_COUNTS = {"facts": ("fact_count", "deleted_at IS NULL"), "messages": ("message_count", "TRUE")}


def _pg_functions(table: str) -> list[str]:
    column, counted = PG_COUNTS[table]
    batch = f"""CREATE OR REPLACE FUNCTION rfpilot_{table}_count_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE sessions s SET {column} = s.{column} + d.n
        FROM (SELECT session_id, count(*) AS n FROM counted_rows WHERE {counted} GROUP BY session_id) d
        WHERE s.id = d.session_id;
    ELSE
        UPDATE sessions s SET {column} = s.{column} - d.n
        FROM (SELECT session_id, count(*) AS n FROM counted_rows WHERE {counted} GROUP BY session_id) d
        WHERE s.id = d.session_id;
    END IF;
    RETURN NULL;
END $$"""
    old_counted = counted.replace("deleted_at", "OLD.deleted_at")
    new_counted = counted.replace("deleted_at", "NEW.deleted_at")
    row = f"""CREATE OR REPLACE FUNCTION rfpilot_{table}_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF {old_counted} THEN
        UPDATE sessions SET {column} = {column} - 1 WHERE id = OLD.session_id;
    END IF;
    IF {new_counted} THEN
        UPDATE sessions SET {column} = {column} + 1 WHERE id = NEW.session_id;
    END IF;
    RETURN NULL;
END $$"""
    return [batch, row]


def _pg_triggers(table: str) -> list[str]:
    moved = ("(OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) OR OLD.session_id <> NEW.session_id"
             if table == "facts" else "OLD.session_id <> NEW.session_id")
    columns = "deleted_at, session_id" if table == "facts" else "session_id"
    return [
        f"""CREATE TRIGGER rfpilot_{table}_count_insert AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS counted_rows FOR EACH STATEMENT EXECUTE FUNCTION rfpilot_{table}_count_batch()""",
        f"""CREATE TRIGGER rfpilot_{table}_count_delete AFTER DELETE ON {table}
        REFERENCING OLD TABLE AS counted_rows FOR EACH STATEMENT EXECUTE FUNCTION rfpilot_{table}_count_batch()""",
        f"""CREATE TRIGGER rfpilot_{table}_count_update AFTER UPDATE OF {columns} ON {table}
        FOR EACH ROW WHEN ({moved}) EXECUTE FUNCTION rfpilot_{table}_count_move()""",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column('sessions', sa.Column('fact_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
    op.add_column('sessions', sa.Column('message_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
    op.create_index('ix_facts_source_ref', 'facts', ['source_ref'], unique=False)
    # The backfill, before the triggers exist, in the same transaction as everything else here.
    op.execute("UPDATE sessions SET "
               "fact_count = (SELECT count(*) FROM facts WHERE facts.session_id = sessions.id "
               "AND facts.deleted_at IS NULL), "
               "message_count = (SELECT count(*) FROM messages WHERE messages.session_id = sessions.id)")
    if dialect == "postgresql":
        for table in PG_COUNTS:
            for statement in _pg_functions(table) + _pg_triggers(table):
                op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in PG_COUNTS:
            for kind in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS rfpilot_{table}_count_{kind} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS rfpilot_{table}_count_batch()")
            op.execute(f"DROP FUNCTION IF EXISTS rfpilot_{table}_count_move()")
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index('ix_facts_source_ref', table_name='facts')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('message_count')
        batch_op.drop_column('fact_count')
