"""Opening the store: engine, SQLite pragmas, automatic migrations, backups.

Alembic costs about 0.35 s to import, so it is loaded only when the schema is
behind: an up-to-date store is checked with one query against
``alembic_version`` and the revision constant below.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, overload

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from rfpilot.db.pgurl import connect_args, normalise_url, parse  # normalise_url: callers also name it here
from rfpilot.errors import StoreError
from rfpilot.grammar import count
from rfpilot.private import private_dir, private_file

if TYPE_CHECKING:
    import sqlite3

    from rfpilot.db.cancelsafe import CancelSafeSession

# Every migration in order; the last one is the head. A test asserts this
# matches Alembic's own view of rfpilot/db/migrations/versions.
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010", "0011", "0012",
             "0013")
SCHEMA_HEAD = REVISIONS[-1]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
_PG_MIGRATION_LOCK = 0x7266_7069  # "rfpi": one migrator at a time on a shared server


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


@dataclass
class Store:
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[CancelSafeSession]
    backup_path: Path | None = None  # set when opening took a pre-migration backup
    notices: list[str] = field(default_factory=list)  # what opening repaired, also written to stderr

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sqlite_folder(url: str, own_dir: Path | None) -> Path | None:
    """The folder of a SQLite ``url``'s file, made (0700) only when it is ``own_dir`` (rfpilot's data dir).

    rfpilot creates its own data dir; a folder named by an explicit ``database.url`` / ``RFPILOT_DATABASE_URL``
    must exist already: a typo there must not silently start an empty store in a new directory tree."""
    path = sqlite_file(url)
    if path is None:
        return None
    folder = path.parent
    if own_dir is not None and folder.expanduser().absolute() == Path(own_dir).expanduser().absolute():
        return private_dir(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise StoreError(
            f"the folder of the SQLite database {folder} {what}",
            hint=f"create it (mkdir -p {folder}), or fix database.url / RFPILOT_DATABASE_URL; "
                 "only rfpilot's own data dir is created for you",
        )
    return folder


def create_engine(url: str, *, password: str | None = None, own_dir: Path | None = None,
                  inline: bool = False) -> AsyncEngine:
    """The engine for ``url``; ``password`` is used when a Postgres URL has none (see ``rfpilot.db.pgurl``).
    ``own_dir``: the one folder a SQLite file's missing folder may be created as (``sqlite_folder``).
    ``inline``: SQLite's calls run on the event loop's thread (``rfpilot.db.inline``: a process whose loop has
    nothing else to do meanwhile, the CLI) rather than on aiosqlite's worker thread (the TUI)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        folder = sqlite_folder(url, own_dir)
        if folder is not None:
            path = sqlite_file(url)
            assert path is not None
            private_file(folder / path.name)  # 0600 before SQLite makes it (and -wal/-shm alike)
        options = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}

        async def connect_inline() -> object:  # called once the engine below exists: its dialect reads the URL
            from rfpilot.db.inline import connect

            database, kwargs = engine.dialect.create_connect_args(engine.url)
            return await connect(*database, **{**kwargs, **options})

        engine = create_async_engine(url, connect_args=options, async_creator=connect_inline if inline else None)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    parsed, args = connect_args(parse(url))
    if password and parsed.password is None:
        args["password"] = password
    engine = create_async_engine(parsed, pool_pre_ping=True, connect_args=args)
    event.listen(engine.sync_engine, "close", _terminate_postgres)
    if "plan_cache_mode" not in args.get("server_settings", {}):  # the URL's options=-c … has the last word
        event.listen(engine.sync_engine, "connect", _plan_every_call)
    return engine


def _plan_every_call(dbapi_connection, _record) -> None:
    """Postgres plans each run of a statement for its own values (``plan_cache_mode``), as a fresh process does.

    asyncpg keeps its statements prepared for the life of a connection, and after five runs Postgres may switch
    a prepared statement to one generic plan made for no value in particular. In a long-lived process (the TUI,
    a conversation) that plan can read the whole table where the values' own plan reads a few rows by an index:
    the preview's promoted-checks query went from 0.4 ms to 35 ms on every call from its sixth on, in a store of
    280,000 facts (bench/scale.py). Planning every run costs well under a millisecond for rfpilot's statements,
    and makes the plans the query-plan tests check the ones every process runs. Set after connecting, not in the
    startup packet, which a pooler such as PgBouncer refuses for a setting it does not know."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.close()
    dbapi_connection.commit()  # the driver opened a transaction for it: a rollback would undo the setting


def _terminate_postgres(dbapi_connection, _record) -> None:
    """A Postgres connection the pool closes (every one, when a command disposes of its store) says goodbye to the
    server (asyncpg sends Terminate) and drops the socket, without waiting for the server's backend to exit and
    close its end: that wait cost every command ~8 ms. The pool closes only idle connections (rolled back when
    they came back to it) or broken ones (where a graceful close would wait for its timeout); SQLAlchemy's close
    that follows finds the connection closed."""
    driver = dbapi_connection.driver_connection
    if driver is None or driver.is_closed():
        return
    try:
        driver.terminate()
    except Exception:  # noqa: BLE001 - a connection already broken: SQLAlchemy's own close follows and copes
        pass


_REVISION = "SELECT version_num FROM alembic_version"


def _read_revision(sync_conn, *, alone: bool = False) -> str | None:
    """The schema's revision, None when the store has none yet. One cheap query on the hot path; the inspector is
    only needed when it fails. Inside a transaction (a migration's) the read runs in a savepoint; ``alone`` (a
    connection of its own) reads without one, two round trips fewer on every open of a Postgres store, and a failed
    read is rolled back before the inspector looks."""
    try:
        with nullcontext() if alone else sync_conn.begin_nested():
            return sync_conn.execute(text(_REVISION)).scalar()
    except DBAPIError:
        if alone:
            sync_conn.rollback()
        if inspect(sync_conn).has_table("alembic_version"):
            raise
        return None


def _run_alembic_upgrade(sync_conn, target: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, target)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_read_revision, alone=True)


@overload
def backup_sqlite(db_file: Path, backup_dir: Path, label: str, *, stamped: bool = True,
                  expect_revision: None = None) -> Path: ...
@overload
def backup_sqlite(db_file: Path, backup_dir: Path, label: str, *, stamped: bool = True,
                  expect_revision: str) -> Path | None: ...
def backup_sqlite(db_file: Path, backup_dir: Path, label: str, *, stamped: bool = True,
                  expect_revision: str | None = None) -> Path | None:
    """A consistent copy through SQLite's backup API (safe with WAL and readers), 0600.

    ``stamped=False`` names the copy by its label alone, so taking it again replaces it
    (one pre-migration backup per from-revision, however often an open fails). With
    ``expect_revision`` a copy at another revision (a migrator ran meanwhile) is discarded
    and None returned, so it never replaces the good one.
    """
    private_dir(backup_dir)
    name = f"rfpilot-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{label}" if stamped else f"rfpilot-{label}"
    target = backup_dir / f"{name}.db"
    _remove_orphan_copies(backup_dir, f".{name}.db.")
    tmp = private_file(backup_dir / f".{name}.db.{os.getpid()}.tmp")  # two processes may copy at once
    import sqlite3  # here: a Postgres command need not import it

    try:
        src = sqlite3.connect(str(db_file))
        try:
            dst = sqlite3.connect(str(tmp))
            try:
                src.backup(dst)
                copied = _read_revision_sqlite3(dst) if expect_revision is not None else None
            finally:
                dst.close()
        finally:
            src.close()
        if copied != expect_revision:
            tmp.unlink()
            return None
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _remove_orphan_copies(backup_dir: Path, prefix: str) -> None:
    """Delete the half-written copies of processes that were killed while copying."""
    for tmp in backup_dir.glob(f"{prefix}*.tmp"):
        try:
            os.kill(int(tmp.name[len(prefix):-len(".tmp")]), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, OSError):
            continue


def _read_revision_sqlite3(conn: sqlite3.Connection) -> str | None:
    import sqlite3

    try:
        row = conn.execute(_REVISION).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


@dataclass
class _SchemaDiff:
    """Objects of a later revision found in a store that says it is at an earlier one."""

    tables: list[str]
    columns: list[tuple[str, str]]
    indexes: list[tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(self.tables or self.columns or self.indexes)

    def describe(self) -> str:
        parts = [f"table {t}" for t in self.tables] + [f"column {t}.{c}" for t, c in self.columns]
        parts += [f"index {i}" for _, i in self.indexes]
        return ", ".join(parts)


def _schema_at(revision: str | None) -> dict[str, tuple[set[str], set[str]]]:
    """Table -> (columns, index names) that the migrations up to ``revision`` build (a scratch SQLite)."""
    if revision is None:
        return {}
    from sqlalchemy import create_engine as create_sync_engine

    scratch = create_sync_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            _run_alembic_upgrade(conn, revision)
            return _live_schema(conn)
    finally:
        scratch.dispose()


def _live_schema(sync_conn) -> dict[str, tuple[set[str], set[str]]]:
    inspector = inspect(sync_conn)
    return {
        table: ({c["name"] for c in inspector.get_columns(table)},
                {i["name"] for i in inspector.get_indexes(table) if i.get("name")})
        for table in inspector.get_table_names() if table != "alembic_version"
    }


def _half_migration(sync_conn, current: str | None) -> _SchemaDiff:
    """What an interrupted upgrade from ``current`` left behind: rfpilot's own tables, columns and
    indexes of later revisions (tables rfpilot does not know are never touched)."""
    live = _live_schema(sync_conn)
    at, head = _schema_at(current), _schema_at(SCHEMA_HEAD)
    diff = _SchemaDiff([], [], [])
    for table, (columns, indexes) in sorted(live.items()):
        if table not in at:
            if table in head or table.startswith("_alembic_tmp_"):
                diff.tables.append(table)
            continue
        later_columns = head.get(table, (set(), set()))[0] - at[table][0]
        later_indexes = head.get(table, (set(), set()))[1] - at[table][1]
        diff.columns += [(table, c) for c in sorted(columns & later_columns)]
        diff.indexes += [(table, i) for i in sorted(indexes & later_indexes)]
    return diff


def _repair_half_migration(sync_conn, current: str | None, diff: _SchemaDiff, backup: Path | None) -> None:
    """Take the store back to exactly ``current`` by removing what the interrupted upgrade added.
    Only empty tables are dropped: rows mean this is not a leftover, and nothing is guessed."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    quote = sync_conn.dialect.identifier_preparer.quote
    full = [t for t in diff.tables if sync_conn.execute(text(f"SELECT 1 FROM {quote(t)} LIMIT 1")).first()]
    if full:
        folder = backup.parent if backup else "the backups folder of rfpilot's data dir"
        raise StoreError(
            f"the database says schema {current or '(none)'} but also holds rows in {', '.join(full)} of a later "
            "schema: it was left half-migrated and cannot be repaired safely; nothing was changed",
            hint=f"restore the copy taken before that upgrade (the oldest rfpilot-*-from-{current}.db in {folder}), "
                 "or report this",
        )
    ops = Operations(MigrationContext.configure(sync_conn))
    for table, index in diff.indexes:
        ops.drop_index(index, table_name=table)
    by_table: dict[str, list[str]] = {}
    for table, column in diff.columns:
        by_table.setdefault(table, []).append(column)
    for table, columns in by_table.items():
        with ops.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
    cascade = " CASCADE" if sync_conn.dialect.name == "postgresql" else ""
    for table in diff.tables:
        sync_conn.execute(text(f"DROP TABLE {quote(table)}{cascade}"))


def _upgrade_in_transaction(sync_conn, notices: list[str], backup: Path | None) -> None:
    """Repair a half-migrated store if need be, then run every pending migration; the caller commits
    once at the end, so a kill anywhere leaves the store at its old revision."""
    current = _read_revision(sync_conn)  # again, under the lock: another process may have migrated
    if current == SCHEMA_HEAD:
        return
    try:
        with sync_conn.begin_nested():
            _run_alembic_upgrade(sync_conn)
    except DBAPIError:
        # A store half-migrated by an earlier release (whose sqlite3 driver committed DDL statement by
        # statement) fails on the first object the interrupted upgrade had already made.
        diff = _half_migration(sync_conn, current)
        if not diff:
            raise
        _repair_half_migration(sync_conn, current, diff, backup)
        notices.append(
            f"repaired a half-applied migration: the store said schema {current or '(none)'} but held "
            f"{diff.describe()} from an interrupted upgrade; removed them and upgraded again"
        )
        _run_alembic_upgrade(sync_conn)
    if sync_conn.dialect.name == "sqlite":
        broken = sync_conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:  # raised inside the transaction: nothing is committed
            raise StoreError(f"the migration would leave {count(len(broken), 'row')} pointing at missing rows; nothing was changed",
                             hint=f"report this{f' (the backup {backup} holds the store as it was)' if backup else ''}")


def _driver_isolation(sync_conn, level: str | None) -> str | None:
    """Set the sqlite3 driver's isolation_level (None: autocommit, BEGIN is ours); returns the old one."""
    driver = sync_conn.connection.dbapi_connection
    old = driver.isolation_level
    driver.isolation_level = level
    return old


async def migrate(engine: AsyncEngine, *, backup_dir: Path | None, notices: list[str] | None = None) -> Path | None:
    """Bring the schema to head in one transaction. Returns the backup taken first, if any.

    SQLite has transactional DDL, but Python's sqlite3 driver commits each DDL statement on
    its own unless a transaction was opened explicitly: the driver is put in autocommit mode
    and the migration runs between our own BEGIN IMMEDIATE and COMMIT. On Postgres the whole
    upgrade is one transaction under an advisory lock.
    """
    notices = [] if notices is None else notices
    current = await current_revision(engine)
    if current == SCHEMA_HEAD:
        return None
    if current is not None and current not in REVISIONS:
        raise StoreError(
            f"the database schema ({current}) is newer than this rfpilot knows (head {SCHEMA_HEAD})",
            hint="upgrade rfpilot on this machine before opening that database",
        )
    backup = None
    db_file = sqlite_file(engine.url.render_as_string(hide_password=False))
    if db_file is not None and current is not None and db_file.exists() and backup_dir is not None:
        backup = backup_sqlite(db_file, backup_dir, f"before-{SCHEMA_HEAD}-from-{current}", stamped=False,
                               expect_revision=current)
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as conn:
        if sqlite:
            isolation = await conn.run_sync(_driver_isolation, None)  # no implicit BEGIN/COMMIT around ours
            # SQLite alters a table by copying it and dropping the old one: with foreign keys on, dropping
            # a parent (sessions) would cascade-delete its children. Off for the migration (a no-op inside
            # a transaction, so before BEGIN), checked before COMMIT.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock for the whole upgrade
        else:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        try:
            await conn.run_sync(_upgrade_in_transaction, notices, backup)
            await conn.commit()
        except BaseException as exc:
            await conn.rollback()
            if isinstance(exc, DBAPIError):
                hint = f"report this{f'; a copy of the database as it was is at {backup}' if backup else ''}"
                if _refused_privilege(exc):
                    hint = ("the database role may not create or change rfpilot's tables: connect as the role that "
                            "owns them, or grant it CREATE on the schema (docs/operations.md, \"A team's Postgres\")")
                raise StoreError(
                    f"upgrading the database schema from {current or '(none)'} to {SCHEMA_HEAD} failed and was "
                    f"rolled back, the database is unchanged: {_first_line(exc)}",
                    hint=hint,
                ) from exc
            raise
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()
                await conn.run_sync(_driver_isolation, isolation)
            else:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                await conn.commit()
    return backup


async def open_store(url: str, *, backup_dir: Path | None = None, auto_migrate: bool = True,
                     password: str | None = None, own_dir: Path | None = None, inline: bool = False) -> Store:
    """The store at ``url``, its schema brought to head first; ``auto_migrate=False``: a store not already at head
    is refused (StoreError) and left as it is. ``inline``: see ``create_engine``."""
    engine = create_engine(url, password=password, own_dir=own_dir, inline=inline)
    notices: list[str] = []
    try:
        if auto_migrate:
            backup = await migrate(engine, backup_dir=backup_dir, notices=notices)
        else:
            backup = None
            current = await current_revision(engine)
            if current != SCHEMA_HEAD:
                raise StoreError(f"the database schema is at {current or '(none)'}, not {SCHEMA_HEAD}",
                                 hint="open it once with upgrades allowed")
    except StoreError:
        await engine.dispose()
        raise
    except (DBAPIError, OSError) as exc:
        await engine.dispose()
        raise open_failure(url, exc) from exc
    for notice in notices:
        sys.stderr.write(f"rfpilot: {notice}\n")
    from rfpilot.db.cancelsafe import CancelSafeSession

    maker = async_sessionmaker(engine, class_=CancelSafeSession, expire_on_commit=False)
    return Store(url=normalise_url(url), engine=engine, sessionmaker=maker, backup_path=backup, notices=notices)


def open_failure(url: str, exc: BaseException) -> StoreError:
    """The one-line error for a store that cannot be reached or refuses us (the password is never shown)."""
    reason = _first_line(exc)
    hint = "check database.url / RFPILOT_DATABASE_URL and that the server is reachable"
    if "SSL" in reason:
        hint = "the server does not accept SSL here: use sslmode=prefer or sslmode=disable in the URL, or enable SSL on it"
    return StoreError(f"cannot open the database at {redact_url(url)}: {reason}", hint=hint)


def _refused_privilege(exc: BaseException) -> bool:
    """Postgres said the role lacks a privilege (SQLSTATE 42501) or does not own the object."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state == "42501" or "permission denied" in str(orig) or "must be owner of" in str(orig)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]
