"""The store: migrations match the models, pragmas, constraints, backups."""

from __future__ import annotations

import re
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from rfpilot.db import engine as db_engine
from rfpilot.db.models import TRIGRAM_INDEXES, load_all


def test_revisions_constant_matches_alembic_scripts() -> None:
    """REVISIONS (read without importing Alembic) lists the migration chain in order."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db_engine.MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    chain = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert tuple(chain) == db_engine.REVISIONS
    assert script.get_current_head() == db_engine.SCHEMA_HEAD


async def test_migrated_schema_matches_models(ws) -> None:
    """Alembic's autogenerate finds nothing to add: the migrations build exactly the models (the optional
    Postgres trigram indexes aside, as the migrations' own env does)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from rfpilot.db.models import include_in_autogenerate

    def diff(sync_conn):
        context = MigrationContext.configure(sync_conn, opts={"include_object": include_in_autogenerate})
        return compare_metadata(context, load_all())

    async with ws.store.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


@pytest.mark.fresh_store
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_first_open_makes_the_store_the_tests_copy(ws, sqlite_at_head) -> None:
    """tests/conftest.py starts a test user's SQLite store as a copy of one migrated once per run: a first open
    (this test's, marked fresh_store) makes the same schema, triggers and FTS table, at the same revision, 0600."""
    import os
    import stat

    made = db_engine.sqlite_file(ws.store.url)
    assert made is not None and made != sqlite_at_head

    def schema(path: Path) -> tuple[list[tuple], list[tuple]]:
        # A table Alembic's batch mode rebuilt lists its constraints in an order that differs from one run of the
        # migrations to the next: each statement is compared as the sorted list of its words.
        con = sqlite3.connect(path)
        try:
            objects = [(kind, name, table, sorted(re.split(r"[\s,()]+", sql or "")))
                       for kind, name, table, sql in con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                                                 "ORDER BY type, name")]
            return objects, con.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            con.close()

    objects, revision = schema(made)
    assert revision == [(db_engine.SCHEMA_HEAD,)] and any(o[0] == "trigger" for o in objects)
    assert (objects, revision) == schema(sqlite_at_head)
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o600


async def test_trigram_indexes_where_the_role_may_add_pg_trgm(ws) -> None:
    """Postgres (here as a superuser): 0007 adds pg_trgm and the list filter's trigram indexes; SQLite has none."""
    async with ws.store.engine.connect() as conn:
        if ws.store.dialect == "sqlite":
            made = (await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))).scalars()
            assert not set(made) & set(TRIGRAM_INDEXES)
            return
        made = (await conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions'"))).all()
    defs = dict(made)
    for name, (_, column) in TRIGRAM_INDEXES.items():
        assert f"USING gin ({column} gin_trgm_ops)" in defs[name]


async def test_sqlite_pragmas(tmp_path: Path) -> None:
    """Every SQLite connection has WAL, foreign keys and a busy timeout."""
    store = await db_engine.open_store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == db_engine.SQLITE_BUSY_TIMEOUT_MS
    finally:
        await store.dispose()


async def test_check_constraint_rejects_unknown_status(ctx, session) -> None:
    """Enums are CHECK constraints on both backends."""
    with pytest.raises(IntegrityError):
        await ctx.db.execute(text("UPDATE sessions SET status = 'bogus' WHERE id = :id"), {"id": session.id})
        await ctx.db.commit()
    await ctx.db.rollback()


async def test_foreign_keys_enforced(ctx) -> None:
    """A fact cannot point at a session that does not exist (foreign keys are on)."""
    with pytest.raises(IntegrityError):
        await ctx.db.execute(
            text(
                "INSERT INTO facts (id, account_id, session_id, text, source_type, created_by, created_at, updated_at) "
                "VALUES (:id, :acc, :sid, 'x', 'user_note', :eng, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": "00000000-0000-4000-8000-000000000001", "acc": ctx.account.id,
             "sid": "00000000-0000-4000-8000-000000000002", "eng": ctx.engineer.id},
        )
        await ctx.db.commit()
    await ctx.db.rollback()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database migrated by a newer rfpilot is not touched."""
    from rfpilot.errors import StoreError

    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = await db_engine.open_store(url)
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await store.dispose()
    with pytest.raises(StoreError, match="newer"):
        await db_engine.open_store(url)


async def test_existing_file_is_backed_up_before_migrating(tmp_path: Path) -> None:
    """A SQLite file at an older revision is copied, then really migrated to head."""
    db_file = tmp_path / "x.db"
    url = f"sqlite:///{db_file}"
    engine = db_engine.create_engine(url)
    async with engine.connect() as conn:  # a store as the previous release left it
        await conn.run_sync(lambda sync_conn: db_engine._run_alembic_upgrade(sync_conn, "0001"))
        await conn.execute(text("INSERT INTO accounts (id, name, created_at) VALUES ('00000000-0000-4000-8000-00000000000a', 'acme', CURRENT_TIMESTAMP)"))
        await conn.commit()
    await engine.dispose()

    backups = tmp_path / "backups"
    store = await db_engine.open_store(url, backup_dir=backups)
    try:
        assert await db_engine.current_revision(store.engine) == db_engine.SCHEMA_HEAD
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("SELECT name FROM accounts"))).scalars().all() == ["acme"]
            await conn.execute(text("SELECT count(*) FROM fork_points"))  # the 0002 table exists
    finally:
        await store.dispose()
    assert store.backup_path is not None and store.backup_path.parent == backups
    assert f"before-{db_engine.SCHEMA_HEAD}-from-0001" in store.backup_path.name
    copy = sqlite3.connect(store.backup_path)
    try:
        assert copy.execute("SELECT name FROM accounts").fetchall() == [("acme",)]
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    finally:
        copy.close()


async def test_fresh_file_is_not_backed_up(tmp_path: Path) -> None:
    """A brand-new store has nothing to back up."""
    store = await db_engine.open_store(f"sqlite:///{tmp_path / 'new.db'}", backup_dir=tmp_path / "backups")
    await store.dispose()
    assert store.backup_path is None
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    """Plain URLs people paste get the async driver."""
    assert db_engine.normalise_url(given) == expected


def test_unsupported_url_is_a_clear_error() -> None:
    from rfpilot.errors import StoreError

    with pytest.raises(StoreError, match="unsupported database URL"):
        db_engine.normalise_url("mysql://root@localhost/x")


def test_redact_url_hides_password() -> None:
    assert "s3cret" not in db_engine.redact_url("postgresql+asyncpg://u:s3cret@h/db")


@asynccontextmanager
async def store_at(db_url: str, revision: str):
    """An engine on a store of its own migrated to ``revision`` (Postgres: a scratch database, dropped after;
    the shared one is already at head)."""
    import uuid

    from rfpilot.db.engine import _run_alembic_upgrade, create_engine
    from tests.conftest import _admin

    scratch = None
    if db_url.startswith("postgresql"):
        scratch = f"rfpilot_mig_{uuid.uuid4().hex[:12]}"
        await _admin(f'CREATE DATABASE "{scratch}"')
        db_url = f"{db_url.rpartition('/')[0]}/{scratch}"
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: _run_alembic_upgrade(c, revision))
        yield engine
    finally:
        await engine.dispose()
        if scratch:
            await _admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


async def test_a_store_with_drafts_migrates_to_head(db_url: str) -> None:
    """0004 adds NOT NULL columns to draft_templates: existing rows must get values, on both stores."""
    import uuid
    from datetime import UTC, datetime

    from rfpilot.db.engine import current_revision, migrate

    async with store_at(db_url, "0003") as engine:
        now = datetime.now(UTC)
        ids = {k: str(uuid.uuid4()) for k in ("account", "engineer", "session", "draft")}
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (:a, :n, :t)"),
                               {"a": ids["account"], "n": f"mig-{ids['account'][:8]}", "t": now})
            await conn.execute(text(
                "INSERT INTO engineers (id, account_id, email, display_name, psa_member_ids, created_at) "
                "VALUES (:e, :a, 'm@example.com', 'M', '{}', :t)"), {"e": ids["engineer"], "a": ids["account"], "t": now})
            await conn.execute(text(
                "INSERT INTO sessions (id, account_id, owner_id, status, intake_type, state_version, active_seconds, "
                "parked_seconds, status_changed_at, created_at, updated_at) VALUES (:s, :a, :e, 'active', 'empty', 0, 0, 0, "
                ":t, :t, :t)"), {"s": ids["session"], "a": ids["account"], "e": ids["engineer"], "t": now})
            await conn.execute(text(
                "INSERT INTO draft_templates (id, account_id, source_session_id, source_engineer_id, script_body, "
                "proposed_parameters, status, created_at) VALUES (:d, :a, :s, :e, 'Restart-Service Spooler', '{}', "
                "'pending', :t)"),
                {"d": ids["draft"], "a": ids["account"], "s": ids["session"], "e": ids["engineer"], "t": now})
        await migrate(engine, backup_dir=None)
        assert await current_revision(engine) == db_engine.SCHEMA_HEAD
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT script_body, extraction, context FROM draft_templates"))).one()
        assert row[0] == "Restart-Service Spooler" and row[1] in ({}, "{}") and row[2] in ([], "[]")


async def test_0010_indexes_the_sessions_already_stored(db_url: str) -> None:
    """0010 on a store that holds sessions: SQLite's list filter index holds every one of them (and is kept by
    its triggers afterwards); Postgres's trigram indexes stop keeping a pending list."""
    import uuid
    from datetime import UTC, datetime

    from rfpilot.db.engine import migrate
    from rfpilot.db.models import LIST_FILTER_TABLE

    async with store_at(db_url, "0008") as engine:
        now, account, engineer = datetime.now(UTC), str(uuid.uuid4()), str(uuid.uuid4())
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (:a, 'mig', :t)"),
                               {"a": account, "t": now})
            await conn.execute(text(
                "INSERT INTO engineers (id, account_id, email, display_name, psa_member_ids, created_at) "
                "VALUES (:e, :a, 'm@example.com', 'M', '{}', :t)"), {"e": engineer, "a": account, "t": now})
            for i, (title, client) in enumerate([("Printer offline", "Northwind"), ("VPN drops", None)]):
                await conn.execute(text(
                    "INSERT INTO sessions (id, account_id, owner_id, title, client_name, ticket_ref, status, "
                    "intake_type, state_version, handoff_count, active_seconds, parked_seconds, status_changed_at, "
                    "created_at, updated_at) VALUES (:s, :a, :e, :title, :client, :ticket, 'active', 'empty', "
                    "0, 0, 0, 0, :t, :t, :t)"),
                    {"s": str(uuid.uuid4()), "a": account, "e": engineer, "title": title, "client": client,
                     "ticket": f"T-{i}", "t": now})
        await migrate(engine, backup_dir=None)
        async with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                def matches(needle: str):
                    return conn.execute(text(f"SELECT s.title FROM sessions s JOIN {LIST_FILTER_TABLE} f "
                                             f"ON f.rowid = s.rowid WHERE {LIST_FILTER_TABLE} MATCH :m ORDER BY 1"),
                                        {"m": f'"{needle}"'})

                assert (await matches("northwind")).scalars().all() == ["Printer offline"]
                assert (await matches("drops")).scalars().all() == ["VPN drops"]
                await conn.execute(text("UPDATE sessions SET title = 'VPN split tunnel' WHERE title = 'VPN drops'"))
                assert (await matches("split")).scalars().all() == ["VPN split tunnel"]
                assert (await matches("drops")).scalars().all() == []
                return
            options = dict((await conn.execute(text(
                "SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relname = ANY(:names)"),
                {"names": list(TRIGRAM_INDEXES)})).all())
        assert set(options) == set(TRIGRAM_INDEXES)  # the test server lets 0007 add pg_trgm
        assert all("fastupdate=off" in (opts or []) for opts in options.values()), options


@pytest.mark.postgres
async def test_a_role_that_may_not_create_tables_is_told_which_privilege(pg_url: str, capsys) -> None:
    """A team Postgres set up without CREATE on the schema: the refusal names the privilege, not "report this";
    granted exactly what docs/operations.md lists (CONNECT, and USAGE+CREATE on the schema), the same role migrates."""
    import uuid

    import asyncpg

    from rfpilot.db.engine import create_engine, current_revision, migrate
    from rfpilot.errors import StoreError
    from tests.conftest import _admin, _asyncpg_dsn

    suffix = uuid.uuid4().hex[:12]
    scratch, role = f"rfpilot_priv_{suffix}", f"rfpilot_role_{suffix}"
    server = pg_url.rpartition("/")[0]

    async def in_scratch(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(f"{server}/{scratch}"), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await _admin(f'CREATE DATABASE "{scratch}"')
    await _admin(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
    engine = create_engine(f"{server.replace('postgres@', f'{role}@', 1)}/{scratch}")
    try:
        await in_scratch("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # as on Postgres 15+ (a no-op there)
        with pytest.raises(StoreError) as refused:
            await migrate(engine, backup_dir=None)
        assert "permission denied" in refused.value.message and "CREATE on the schema" in (refused.value.hint or "")
        assert await current_revision(engine) is None  # rolled back: nothing was made
        await in_scratch(f'GRANT CONNECT ON DATABASE "{scratch}" TO "{role}"; GRANT USAGE, CREATE ON SCHEMA public TO "{role}"')
        capsys.readouterr()
        await migrate(engine, backup_dir=None)
        assert await current_revision(engine) == db_engine.SCHEMA_HEAD
        # Without CREATE on the database it may not add pg_trgm: the list's trigram indexes are left out, saying so.
        assert "the list filter's trigram indexes were not made" in capsys.readouterr().err
        async with engine.connect() as conn:
            made = (await conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'sessions'"))).scalars()
            assert not set(made) & set(TRIGRAM_INDEXES)
    finally:
        await engine.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        await _admin(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
async def test_a_postgres_store_closes_its_connections_without_waiting_on_the_server(pg_url: str) -> None:
    """Disposing of a Postgres store terminates its idle connections (asyncpg's Terminate, then the socket closed)
    rather than waiting for each backend to exit; the server sees them go and the store can be opened again."""
    import asyncio

    from sqlalchemy import event

    store = await db_engine.open_store(pg_url)
    assert event.contains(store.engine.sync_engine, "close", db_engine._terminate_postgres)
    drivers = []
    async with store.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        drivers.append(raw.driver_connection)
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    await store.dispose()
    assert drivers and all(d.is_closed() for d in drivers)
    again = await db_engine.open_store(pg_url)
    try:
        async with again.engine.connect() as conn:
            for _ in range(100):  # the backend exits on its own time: the client did not wait for it
                gone = (await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                                           {"p": pid})).scalar_one() == 0
                if gone:
                    break
                await asyncio.sleep(0.05)
            assert gone, "the terminated connection's backend is still there after 5 s"
    finally:
        await again.dispose()


def test_terminating_a_broken_postgres_connection_never_raises() -> None:
    """The pool's close of a connection already broken (the server restarted) goes on to SQLAlchemy's own close."""

    class Broken:
        def is_closed(self) -> bool:
            return False

        def terminate(self) -> None:
            raise ConnectionResetError("the server went away")

    class Adapted:
        driver_connection = Broken()

    db_engine._terminate_postgres(Adapted(), None)  # no exception
    Adapted.driver_connection = None  # type: ignore[assignment]
    db_engine._terminate_postgres(Adapted(), None)


@pytest.mark.postgres
async def test_every_postgres_connection_plans_each_run_for_its_own_values(pg_url: str) -> None:
    """asyncpg keeps statements prepared, and after five runs Postgres may switch one to a generic plan: the
    preview's promoted-checks query then scanned every fact of the store on each call of a long-lived process
    (bench/scale.py, 0.4 -> 35 ms). Each connection of a store plans every run for its values, and keeps doing so
    after the pool rolls it back and hands it out again; a URL that sets plan_cache_mode itself keeps its own."""

    async def modes(url: str) -> list[str]:
        store = await db_engine.open_store(url)
        seen = []
        try:
            for _ in range(3):  # checked out, rolled back on return to the pool, checked out again
                async with store.engine.connect() as conn:
                    seen.append((await conn.execute(text("SHOW plan_cache_mode"))).scalar_one())
                    await conn.rollback()
            async with store.sessionmaker() as db:
                seen.append((await db.execute(text("SHOW plan_cache_mode"))).scalar_one())
        finally:
            await store.dispose()
        return seen

    assert await modes(pg_url) == ["force_custom_plan"] * 4
    own = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-c%20plan_cache_mode%3Dforce_generic_plan"
    assert await modes(own) == ["force_generic_plan"] * 4
