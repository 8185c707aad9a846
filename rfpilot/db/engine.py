"""Opening the store: engine, SQLite pragmas, automatic migrations, backups.

Alembic costs about 0.35 s to import, so it is loaded only when the schema is
behind: an up-to-date store is checked with one query against
``alembic_version`` and the revision constant below.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from rfpilot.errors import StoreError

# Every migration in order; the last one is the head. A test asserts this
# matches Alembic's own view of rfpilot/db/migrations/versions.
REVISIONS = ("0001", "0002", "0003", "0004", "0005")
SCHEMA_HEAD = REVISIONS[-1]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
_PG_MIGRATION_LOCK = 0x7266_7069  # "rfpi": one migrator at a time on a shared server


def normalise_url(url: str) -> str:
    """Accept the URLs people paste and pick the async driver for them."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    elif url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if not (url.startswith("postgresql+asyncpg://") or url.startswith("sqlite+aiosqlite://")):
        import re

        scheme = re.match(r"([a-z][a-z0-9+.-]{0,30})://", url, flags=re.IGNORECASE)
        raise StoreError(
            f"unsupported database URL scheme {scheme.group(1)!r}" if scheme
            else "the database URL is not valid: it does not start with a scheme such as postgresql://",
            hint="use a SQLite file (sqlite:///path/rfpilot.db) or Postgres (postgresql://user@host/db)",
        )
    from rfpilot.db.pgurl import check

    check(url)  # a bad port, an unknown parameter, an unreadable URL: StoreError now, not a traceback later
    return url


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
    sessionmaker: async_sessionmaker[AsyncSession]
    backup_path: Path | None = None  # set when opening took a pre-migration backup

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


def create_engine(url: str, *, password: str | None = None) -> AsyncEngine:
    """The engine for ``url``; ``password`` is used when a Postgres URL has none (see ``rfpilot.db.pgurl``)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    from rfpilot.db.pgurl import connect_args, parse

    parsed, args = connect_args(parse(url))
    if password and parsed.password is None:
        args["password"] = password
    return create_async_engine(parsed, pool_pre_ping=True, connect_args=args)


def _read_revision(sync_conn) -> str | None:
    # One cheap query on the hot path; the inspector is only needed when it fails.
    try:
        with sync_conn.begin_nested():
            return sync_conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
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
        return await conn.run_sync(_read_revision)


def backup_sqlite(db_file: Path, backup_dir: Path, label: str) -> Path:
    """A consistent copy through SQLite's backup API (safe with WAL and readers)."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"rfpilot-{stamp}-{label}.db"
    src = sqlite3.connect(str(db_file))
    try:
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


async def migrate(engine: AsyncEngine, *, backup_dir: Path | None) -> Path | None:
    """Bring the schema to head. Returns the backup taken first, if any."""
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
        backup = backup_sqlite(db_file, backup_dir, f"before-{SCHEMA_HEAD}-from-{current}")
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one: with foreign keys on, dropping
            # a parent (sessions) would cascade-delete its children. Off for the migration, checked after.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            await conn.run_sync(_run_alembic_upgrade)
            await conn.commit()
            if sqlite:
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise StoreError(f"the migration left {len(broken)} rows pointing at missing rows",
                                     hint=f"restore the backup{f' {backup}' if backup else ''} and report this")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                await conn.commit()
    return backup


async def open_store(url: str, *, backup_dir: Path | None = None, auto_migrate: bool = True,
                     password: str | None = None) -> Store:
    engine = create_engine(url, password=password)
    try:
        backup = await migrate(engine, backup_dir=backup_dir) if auto_migrate else None
    except StoreError:
        await engine.dispose()
        raise
    except (DBAPIError, OSError) as exc:
        await engine.dispose()
        raise open_failure(url, exc) from exc
    maker = async_sessionmaker(engine, expire_on_commit=False)
    return Store(url=normalise_url(url), engine=engine, sessionmaker=maker, backup_path=backup)


def open_failure(url: str, exc: BaseException) -> StoreError:
    """The one-line error for a store that cannot be reached or refuses us (the password is never shown)."""
    reason = _first_line(exc)
    hint = "check database.url / RFPILOT_DATABASE_URL and that the server is reachable"
    if "SSL" in reason:
        hint = "the server does not accept SSL here: use sslmode=prefer or sslmode=disable in the URL, or enable SSL on it"
    return StoreError(f"cannot open the database at {redact_url(url)}: {reason}", hint=hint)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]
