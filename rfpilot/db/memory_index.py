"""The team memory's search index: its table, the triggers that keep it, and the statements that fill it.

One row per *source item* (not one per session), so a write costs one small index write: a session's own text
(title, problem, intake), its resolution (summary and note), its escalation (reason and package), each live fact,
each suggested fix, each approved knowledge-base article or client summary, each dead-end branch. Every row
carries its session, its account and its kind; the search (``core.memory.search``) joins ``sessions`` for the
rest (status, client, owner, dates).

- SQLite: ``memory_index``, an FTS5 table (``porter unicode61`` tokenizer, ranked with bm25). A row's rowid is
  its source row's rowid times 8 plus its kind's code, so every trigger finds its row by rowid alone (FTS5 has no
  index on its other columns). A migration that rebuilds one of the source tables (Alembic's batch mode copies it,
  new rowids, and drops its triggers) must call ``install`` again, which drops what is there and fills it anew.
- Postgres: ``memory_index``, a table keyed by (kind, source id) with a stored ``tsvector`` (english config) and a
  GIN index on it (ranked with ts_rank). Inserts and deletes are statement triggers over the transition table (a
  bulk insert of 20,000 facts is one INSERT … SELECT), updates row triggers limited to the indexed columns.

Both: kept by triggers in the transaction of the write it reflects; a write to a column the index does not hold
(``updated_at``, ``fact_count``, ``state_version``…) fires nothing. ``install`` is what migration 0011 runs;
``fill_statements`` is also what ``rfpilot db reindex`` (``core.memory.index``) runs. A body is cut at
``BODY_MAX`` characters (Postgres refuses a tsvector over 1 MB).

Changing a definition here means a new migration that calls ``install`` again.
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE = "memory_index"
# FTS5 keeps these beside its table (SQLite), named after it.
SQLITE_TABLES = (TABLE, *(f"{TABLE}_{shadow}" for shadow in ("config", "content", "data", "docsize", "idx")))
BODY_MAX = 100_000
TOKENIZER = "porter unicode61 remove_diacritics 2"
PG_CONFIG = "english"


@dataclass(frozen=True)
class Kind:
    name: str
    code: int  # SQLite: rowid = source rowid * 8 + code
    table: str
    fields: tuple[str, ...]  # SQL over the row alias {r}
    watched: tuple[str, ...]  # the columns whose update rewrites the row
    condition: str = "1 = 1"  # the source row is indexed only when this holds ({r})
    session_key: str = "session_id"  # the column naming the session ("id" for the session's own kinds)


_DEAD_END_SQLITE = (
    "CASE WHEN json_valid({r}.context_summary) THEN json_extract({r}.context_summary, '$.concluded') END",
    "CASE WHEN json_valid({r}.context_summary) THEN (SELECT group_concat(value, char(10)) "
    "FROM json_each({r}.context_summary, '$.tried')) END",
)
_DEAD_END_PG = (
    "({r}.context_summary ->> 'concluded')",
    "CASE WHEN jsonb_typeof({r}.context_summary -> 'tried') = 'array' THEN (SELECT string_agg(t, E'\\n') "
    "FROM jsonb_array_elements_text({r}.context_summary -> 'tried') AS t) END",
)
INDEXED_OUTPUTS = ("knowledge_base", "client_summary")
APPROVED_OUTPUTS = ("approved", "pushed")


def kinds(dialect: str) -> tuple[Kind, ...]:
    dead_end_extra = _DEAD_END_PG if dialect == "postgresql" else _DEAD_END_SQLITE
    outputs = ", ".join(f"'{t}'" for t in INDEXED_OUTPUTS)
    approved = ", ".join(f"'{s}'" for s in APPROVED_OUTPUTS)
    return (
        Kind("session", 0, "sessions", ("{r}.title", "{r}.problem_summary", "{r}.intake_text"),
             ("title", "problem_summary", "intake_text"), session_key="id"),
        Kind("resolution", 1, "sessions", ("{r}.resolution_summary", "{r}.resolution_note_markdown"),
             ("resolution_summary", "resolution_note_markdown"), session_key="id"),
        Kind("escalation", 2, "sessions", ("{r}.escalation_reason", "{r}.escalation_package_markdown"),
             ("escalation_reason", "escalation_package_markdown"), session_key="id"),
        Kind("fact", 3, "facts", ("{r}.text",), ("text", "deleted_at", "session_id"),
             condition="{r}.deleted_at IS NULL"),
        Kind("fix", 4, "suggested_fixes", ("{r}.title", "{r}.description", "{r}.failure_reason"),
             ("title", "description", "failure_reason", "session_id")),
        Kind("output", 5, "session_resolution_outputs", ("coalesce({r}.edited_content, {r}.generated_content)",),
             ("status", "output_type", "edited_content", "generated_content", "session_id"),
             condition=f"{{r}}.status IN ({approved}) AND {{r}}.output_type IN ({outputs})"),
        Kind("dead_end", 6, "session_branches",
             ("{r}.label", "{r}.description", "{r}.status_reason", *dead_end_extra),
             ("status", "label", "description", "status_reason", "context_summary", "session_id"),
             condition="{r}.status = 'dead_end'"),
    )


KIND_NAMES = ("session", "resolution", "escalation", "fact", "fix", "output", "dead_end")
SOURCE_TABLES = ("sessions", "facts", "suggested_fixes", "session_resolution_outputs", "session_branches")


def _body(kind: Kind, r: str, dialect: str) -> str:
    parts = [f.format(r=r) for f in kind.fields]
    if dialect == "postgresql":
        return f"btrim(left(concat_ws(E'\\n', {', '.join(parts)}), {BODY_MAX}))"
    # concat_ws's way: a NULL field is left out, its separator too
    joined = " || ".join(f"coalesce(char(10) || {p}, '')" for p in parts)
    return f"trim(substr({joined}, 1, {BODY_MAX}), ' ' || char(9) || char(10) || char(13))"


def _rows(kind: Kind, r: str, dialect: str, source: str = "") -> str:
    """SELECT of the index rows of ``kind`` for the source rows named ``r`` (a trigger's NEW, or a table alias
    with ``source`` its FROM), empty bodies left out."""
    body = _body(kind, r, dialect)
    where = kind.condition.format(r=r)
    if dialect == "postgresql":
        inner = (f"SELECT '{kind.name}' AS kind, {r}.id AS source_id, {r}.{kind.session_key} AS session_id, "
                 f"{r}.account_id AS account_id, {r}.created_at AS made, {body} AS body {source} WHERE {where}")
        return f"SELECT kind, source_id, session_id, account_id, body FROM ({inner}) AS i WHERE body <> ''"
    inner = (f"SELECT {r}.rowid * 8 + {kind.code} AS rid, {body} AS body, '{kind.name}' AS kind, "
             f"{r}.{kind.session_key} AS session_id, {r}.account_id AS account_id {source} WHERE {where}")
    return f"SELECT rid, body, kind, session_id, account_id FROM ({inner}) WHERE body <> ''"


def _insert(dialect: str) -> str:
    if dialect == "postgresql":
        return f"INSERT INTO {TABLE} (kind, source_id, session_id, account_id, body) "
    return f"INSERT INTO {TABLE} (rowid, body, kind, session_id, account_id) "


def fill_statements(dialect: str) -> list[str]:
    """Empty the index and fill it from the source tables: one statement per kind after the DELETE."""
    # Postgres numbers its rows (``seq``, the newest last) in the order they are inserted: oldest source row first.
    order = " ORDER BY i.made, i.source_id" if dialect == "postgresql" else ""
    return [f"DELETE FROM {TABLE}"] + [
        _insert(dialect) + _rows(k, "t", dialect, f"FROM {k.table} AS t") + order for k in kinds(dialect)]


def _by_table(dialect: str) -> dict[str, list[Kind]]:
    tables: dict[str, list[Kind]] = {}
    for kind in kinds(dialect):
        tables.setdefault(kind.table, []).append(kind)
    return tables


def _changed(kind: Kind) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in kind.watched)


def sqlite_statements() -> list[str]:
    create = [f"CREATE VIRTUAL TABLE {TABLE} USING fts5(body, kind UNINDEXED, session_id UNINDEXED, "
              f"account_id UNINDEXED, tokenize = '{TOKENIZER}')"]
    triggers = []
    for table, table_kinds in _by_table("sqlite").items():
        inserts = "; ".join(_insert("sqlite") + _rows(k, "new", "sqlite") for k in table_kinds)
        triggers.append(f"CREATE TRIGGER {TABLE}_{table}_insert AFTER INSERT ON {table} BEGIN {inserts}; END")
        rowids = ", ".join(f"old.rowid * 8 + {k.code}" for k in table_kinds)
        triggers.append(f"CREATE TRIGGER {TABLE}_{table}_delete AFTER DELETE ON {table} BEGIN "
                        f"DELETE FROM {TABLE} WHERE rowid IN ({rowids}); END")
        for k in table_kinds:
            changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in k.watched)
            triggers.append(
                f"CREATE TRIGGER {TABLE}_{k.name}_update AFTER UPDATE OF {', '.join(k.watched)} ON {table} "
                f"WHEN {changed} BEGIN DELETE FROM {TABLE} WHERE rowid = old.rowid * 8 + {k.code}; "
                f"{_insert('sqlite')}{_rows(k, 'new', 'sqlite')}; END")
    return create + triggers


def sqlite_trigger_names() -> list[str]:
    by_table = _by_table("sqlite")
    return ([f"{TABLE}_{t}_{op}" for t in by_table for op in ("insert", "delete")]
            + [f"{TABLE}_{k.name}_update" for k in kinds("sqlite")])


def postgres_statements() -> list[str]:
    out = [
        f"CREATE TABLE {TABLE} (seq bigint GENERATED ALWAYS AS IDENTITY, "
        f"kind varchar(16) NOT NULL, source_id varchar(36) NOT NULL, "
        f"session_id varchar(36) NOT NULL, account_id varchar(36) NOT NULL, body text NOT NULL, "
        f"tsv tsvector GENERATED ALWAYS AS (to_tsvector('{PG_CONFIG}', body)) STORED, "
        f"CONSTRAINT pk_{TABLE} PRIMARY KEY (kind, source_id))",
        f"CREATE INDEX ix_{TABLE}_tsv ON {TABLE} USING gin (tsv) WITH (fastupdate = off)",
        f"CREATE INDEX ix_{TABLE}_session ON {TABLE} (session_id)",
        # The newest matches of a common word (core.memory.index.item_hits' window) without sorting every match.
        f"CREATE INDEX ix_{TABLE}_account_seq ON {TABLE} (account_id, seq)",
    ]
    for table, table_kinds in _by_table("postgresql").items():
        names = ", ".join(f"'{k.name}'" for k in table_kinds)
        inserts = "; ".join(_insert("postgresql") + _rows(k, "n", "postgresql", "FROM index_new AS n")
                            for k in table_kinds)
        out.append(f"""CREATE OR REPLACE FUNCTION {TABLE}_{table}_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {inserts};
    ELSE
        DELETE FROM {TABLE} m USING index_old o WHERE m.kind IN ({names}) AND m.source_id = o.id;
    END IF;
    RETURN NULL;
END $$""")
        out.append(f"CREATE TRIGGER {TABLE}_{table}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS "
                   f"index_new FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_{table}_batch()")
        out.append(f"CREATE TRIGGER {TABLE}_{table}_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS "
                   f"index_old FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_{table}_batch()")
        for k in table_kinds:
            out.append(f"""CREATE OR REPLACE FUNCTION {TABLE}_{k.name}_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {TABLE} WHERE kind = '{k.name}' AND source_id = OLD.id;
    {_insert('postgresql')}{_rows(k, 'NEW', 'postgresql')};
    RETURN NULL;
END $$""")
            out.append(f"CREATE TRIGGER {TABLE}_{k.name}_update AFTER UPDATE OF {', '.join(k.watched)} ON {table} "
                       f"FOR EACH ROW WHEN ({_changed(k)}) "
                       f"EXECUTE FUNCTION {TABLE}_{k.name}_row()")
    return out


def postgres_drop_statements() -> list[str]:
    by_table = _by_table("postgresql")
    out = [f"DROP TRIGGER IF EXISTS {TABLE}_{t}_{op} ON {t}" for t in by_table for op in ("insert", "delete")]
    out += [f"DROP TRIGGER IF EXISTS {TABLE}_{k.name}_update ON {k.table}" for k in kinds("postgresql")]
    out += [f"DROP FUNCTION IF EXISTS {TABLE}_{t}_batch()" for t in by_table]
    out += [f"DROP FUNCTION IF EXISTS {TABLE}_{k.name}_row()" for k in kinds("postgresql")]
    return out + [f"DROP TABLE IF EXISTS {TABLE}"]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return postgres_drop_statements()
    return [f"DROP TRIGGER IF EXISTS {name}" for name in sqlite_trigger_names()] + [f"DROP TABLE IF EXISTS {TABLE}"]


def install_statements(dialect: str) -> list[str]:
    """Drop what is there, create the table and its triggers, fill it (one transaction: the caller's)."""
    made = postgres_statements() if dialect == "postgresql" else sqlite_statements()
    return drop_statements(dialect) + made + fill_statements(dialect)[1:]
