"""list filter index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:30:00

The session list's filter (``core.session.sessions``: a case-insensitive substring of the title, client or ticket
reference) gets a text index on SQLite too, and Postgres's trigram indexes stop keeping a pending list.

- SQLite: ``session_list_filter``, an FTS5 table with the ``trigram`` tokenizer (SQLite 3.34+) holding the
  three filtered columns of every session under the session's rowid, kept by triggers in the same transaction
  as the write to ``sessions``. It is the list filter's only: issue 17's full-text search of the store
  (ranked, over many more fields) gets a table of its own. It holds its own copy of the three columns rather
  than reading ``sessions`` (an external-content table), so a row can always be removed by its rowid alone.
  Sessions' rowids are their implicit ones: a migration that rebuilds the ``sessions`` table must fill this
  table again (``fill_list_filter`` below). Where this SQLite has no FTS5 or no trigram tokenizer the table is
  not made: the filter reads the sessions as before (``core.session.sessions`` looks for the table once per process)
  and the upgrade says so.
- Postgres: ``fastupdate = off`` on the three trigram GIN indexes of 0007 (where they exist) and their pending
  lists flushed. With the pending list on, rows written since the last vacuum sit in an unsorted list that
  every filter query reads whole (measured: a rare text 0.5 → 3.4 ms with 20,000 rows pending; the list grows
  to 4 MB); off, each write updates the index at once (measured: ~0.16 ms more per session written, 20,000
  inserts 1.2 → 4.5 s). An index this role may not alter keeps its setting (the upgrade says so).
"""
import sys

from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

FILTER_TABLE = 'session_list_filter'
FILTERED = ('title', 'client_name', 'ticket_ref')
TRIGRAM = ('ix_sessions_title_trgm', 'ix_sessions_client_name_trgm', 'ix_sessions_ticket_ref_trgm')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_filter_table()
    else:
        _postgres_trigram_settings('off')


def _sqlite_filter_table() -> None:
    bind = op.get_bind()
    columns = ', '.join(FILTERED)
    new = ', '.join(f'new.{c}' for c in FILTERED)
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(f"CREATE VIRTUAL TABLE {FILTER_TABLE} USING fts5({columns}, tokenize = 'trigram')")
    except sa.exc.DBAPIError as exc:  # an SQLite built without FTS5, or older than 3.34 (no trigram tokenizer)
        reason = (str(getattr(exc, 'orig', exc)).strip().splitlines() or ['refused'])[0]
        sys.stderr.write(f"rfpilot: the session list's filter index was not made ({reason}): filtering works "
                         f"without it, only slower on a big store\n")
        return
    bind.exec_driver_sql(
        f"CREATE TRIGGER {FILTER_TABLE}_insert AFTER INSERT ON sessions BEGIN "
        f"INSERT INTO {FILTER_TABLE} (rowid, {columns}) VALUES (new.rowid, {new}); END")
    bind.exec_driver_sql(
        f"CREATE TRIGGER {FILTER_TABLE}_update AFTER UPDATE OF {columns} ON sessions BEGIN "
        f"UPDATE {FILTER_TABLE} SET " + ', '.join(f'{c} = new.{c}' for c in FILTERED) +
        f" WHERE rowid = old.rowid; END")
    bind.exec_driver_sql(
        f"CREATE TRIGGER {FILTER_TABLE}_delete AFTER DELETE ON sessions BEGIN "
        f"DELETE FROM {FILTER_TABLE} WHERE rowid = old.rowid; END")
    fill_list_filter(bind)


def fill_list_filter(bind) -> None:
    """(Re)fill the filter table from ``sessions`` (SQLite): after this migration, or a rebuild of sessions."""
    columns = ', '.join(FILTERED)
    bind.exec_driver_sql(f"DELETE FROM {FILTER_TABLE}")
    bind.exec_driver_sql(f"INSERT INTO {FILTER_TABLE} (rowid, {columns}) SELECT rowid, {columns} FROM sessions")


def _postgres_trigram_settings(fastupdate: str) -> None:
    bind = op.get_bind()
    for name in TRIGRAM:
        if bind.exec_driver_sql(f"SELECT to_regclass('{name}')").scalar() is None:
            continue  # 0007 could not make it (no pg_trgm): nothing to set
        try:
            with bind.begin_nested():  # an index an administrator made under another role cannot be altered
                bind.exec_driver_sql(f"ALTER INDEX {name} SET (fastupdate = {fastupdate})")
                if fastupdate == 'off':  # what is pending stays there until a vacuum: into the index now
                    bind.exec_driver_sql(f"SELECT gin_clean_pending_list('{name}'::regclass)")
        except sa.exc.DBAPIError as exc:
            reason = (str(getattr(exc, 'orig', exc)).strip().splitlines() or ['refused'])[0]
            sys.stderr.write(f"rfpilot: {name} keeps its pending list ({reason}): the list filter works, a little "
                             f"slower after many writes; its owner can run ALTER INDEX {name} SET (fastupdate = off)\n")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in ('insert', 'update', 'delete'):
            op.execute(f"DROP TRIGGER IF EXISTS {FILTER_TABLE}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FILTER_TABLE}")
    else:
        _postgres_trigram_settings('on')
