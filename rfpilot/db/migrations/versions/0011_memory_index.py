"""memory index

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:40:00

The team memory's search index (issue 17): one row per source item of every session (its own text, resolution,
escalation, each live fact, suggested fix, approved KB article or client summary, dead-end branch), kept by
triggers in the transaction of each write, and filled here from what the store already holds. SQLite: an FTS5
table (porter unicode61); Postgres: a table with a stored english ``tsvector`` and a GIN index. The definitions
are in ``rfpilot.db.memory_index`` (``rfpilot db reindex`` fills the same table with the same statements).

Where this SQLite has no FTS5 the index is not made: the upgrade says so, and ``rfpilot search`` explains.
"""
import sys

from alembic import op
import sqlalchemy as sa

from rfpilot.db import memory_index

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    statements = memory_index.install_statements(bind.dialect.name)
    if bind.dialect.name == 'sqlite':
        try:
            with bind.begin_nested():
                bind.exec_driver_sql(f"CREATE VIRTUAL TABLE rfpilot_fts5_probe USING fts5(x, tokenize = "
                                     f"'{memory_index.TOKENIZER}')")
                bind.exec_driver_sql("DROP TABLE rfpilot_fts5_probe")
        except sa.exc.DBAPIError as exc:  # an SQLite built without FTS5
            reason = (str(getattr(exc, 'orig', exc)).strip().splitlines() or ['refused'])[0]
            sys.stderr.write(f"rfpilot: the search index was not made ({reason}): `rfpilot search` and "
                             f"\"seen before\" need an SQLite with FTS5\n")
            return
    for statement in statements:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in memory_index.drop_statements(bind.dialect.name):
        bind.exec_driver_sql(statement)
