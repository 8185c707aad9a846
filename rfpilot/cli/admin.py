"""`config …`, `db …` and `doctor`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rfpilot import __version__
from rfpilot.cli import output
from rfpilot.grammar import count

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")

config_app = typer.Typer(help="Read and change config.toml.", no_args_is_help=True)
db_app = typer.Typer(help="The store: migrations, backups, where it is.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
    app.command("doctor")(doctor)


# --- config --------------------------------------------------------------


@config_app.command("path")
def config_path() -> None:
    """Where config.toml lives (it may not exist yet)."""
    from rfpilot.config import load_settings

    output.data(str(load_settings().paths.config_file))


@config_app.command("get")
def config_get(
    key: Optional[str] = typer.Argument(None, help="Dotted key, e.g. identity.email. Omit to list every setting."),
    as_json: bool = JSON,
) -> None:
    """The effective value of a setting (flags > env > config.toml > default) and where it came from."""
    from rfpilot.config import KNOWN_SETTINGS, load_settings
    from rfpilot.db.engine import redact_url
    from rfpilot.errors import ConfigError

    settings = load_settings()

    def shown(k: str):
        value = settings.effective(k)
        return redact_url(value) if k == "database.url" and value else value

    if key is None:
        rows = [{"key": k, "value": shown(k), "source": settings.source_of(k)} for k in sorted(KNOWN_SETTINGS)]
        output.emit(rows, as_json, lambda: output.table(("KEY", "VALUE", "SOURCE"),
                                                         [(r["key"], "" if r["value"] is None else r["value"], r["source"]) for r in rows]))
        return
    if key not in KNOWN_SETTINGS and not key.startswith("keymap."):
        raise ConfigError(f"unknown setting {key!r}", hint="`rfpilot config get` lists them")
    value = shown(key)
    output.emit({"key": key, "value": value, "source": settings.source_of(key)}, as_json,
                lambda: "" if value is None else str(value))


@config_app.command("set")
def config_set(
    key: str = typer.Argument(..., help="Dotted key, e.g. identity.name."),
    value: Optional[str] = typer.Argument(None, help="The value; omit with --unset."),
    unset: bool = typer.Option(False, "--unset", help="Remove the key from config.toml."),
) -> None:
    """Write one setting to config.toml (comments and layout are kept)."""
    from rfpilot.config import load_settings, parse_value, write_setting
    from rfpilot.errors import UsageError

    if unset == (value is not None):
        raise UsageError("give a value, or --unset (not both)")
    settings = load_settings()
    write_setting(settings.paths, key, None if unset else parse_value(key, value or ""))
    output.info(f"{'unset' if unset else 'set'} {key} in {settings.paths.config_file}")


# --- db ------------------------------------------------------------------


def _settings_and_url():
    from rfpilot.config import load_settings

    settings = load_settings()
    return settings, settings.database_url


@db_app.command("path")
def db_path() -> None:
    """The SQLite file in use, or the (password-redacted) database URL."""
    from rfpilot.db.engine import normalise_url, redact_url, sqlite_file

    _, url = _settings_and_url()
    path = sqlite_file(normalise_url(url))
    output.data(str(path) if path else redact_url(url))


@db_app.command("current")
def db_current(as_json: bool = JSON) -> None:
    """The schema revision of the store and the one this rfpilot expects."""
    from sqlalchemy.exc import DBAPIError

    from rfpilot.core.secrets import database_password
    from rfpilot.db.engine import SCHEMA_HEAD, create_engine, current_revision, open_failure, redact_url

    settings, url = _settings_and_url()

    async def go():
        engine = create_engine(url, password=database_password(url, settings.env))
        try:
            return await current_revision(engine)
        except (DBAPIError, OSError) as exc:
            raise open_failure(url, exc) from None
        finally:
            await engine.dispose()

    import asyncio

    current = asyncio.run(go())
    data = {"database": redact_url(url), "current": current, "head": SCHEMA_HEAD, "up_to_date": current == SCHEMA_HEAD}
    output.emit(data, as_json, lambda: f"{current or '(empty)'} (head {SCHEMA_HEAD}{', up to date' if current == SCHEMA_HEAD else ''})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations now (rfpilot also does this whenever it opens the store)."""
    from rfpilot.core.secrets import database_password
    from rfpilot.db.engine import SCHEMA_HEAD, open_store

    settings, url = _settings_and_url()

    async def go():
        store = await open_store(url, backup_dir=settings.paths.backup_dir, password=database_password(url, settings.env))
        await store.dispose()
        return store.backup_path

    import asyncio

    backup = asyncio.run(go())
    if backup:
        output.info(f"backed up the previous database to {backup}")
    output.info(f"schema at {SCHEMA_HEAD}")


@db_app.command("backup")
def db_backup(dest: Optional[Path] = typer.Argument(None, help="Backup file (default: a timestamped file in the data dir).")) -> None:
    """A consistent copy of the SQLite store (for Postgres use pg_dump)."""
    from rfpilot.db.engine import backup_sqlite, normalise_url, sqlite_file
    from rfpilot.errors import StoreError, UsageError

    settings, url = _settings_and_url()
    path = sqlite_file(normalise_url(url))
    if path is None:
        raise UsageError("the store is not a SQLite file; back up Postgres with pg_dump")
    if not path.exists():
        raise StoreError(f"no database at {path} yet")
    if dest is None:
        target = backup_sqlite(path, settings.paths.backup_dir, "manual")
    else:
        target = dest.expanduser()
        if target.exists():
            raise UsageError(f"{target} exists; choose a new file name")
        made = backup_sqlite(path, target.parent, "manual")
        try:
            made.replace(target)
        except OSError as exc:
            made.unlink(missing_ok=True)
            raise UsageError(f"cannot write the backup to {target}: {exc.strerror or exc}") from None
    output.data(str(target))


# --- doctor --------------------------------------------------------------


def doctor(as_json: bool = JSON) -> None:
    """Paths, store, identity and versions: what to paste into a bug report."""
    import asyncio
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from rfpilot.config import load_settings
    from rfpilot.db.engine import SCHEMA_HEAD, redact_url

    settings = load_settings()
    versions = {}
    for name in ("textual", "typer", "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "anthropic", "httpx", "keyring"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    report = {
        "rfpilot": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "paths": {
            "config": str(settings.paths.config_file),
            "data": str(settings.paths.data_dir),
            "cache": str(settings.paths.cache_dir),
        },
        "database": {"url": redact_url(settings.database_url), "source": settings.source_of("database.url"), "head": SCHEMA_HEAD},
        "identity": {"email": settings.identity_email, "name": settings.identity_name, "account": settings.account_name},
        "llm": {},
        "keyring": {},
        "versions": versions,
    }

    from rfpilot.core import secrets

    try:  # a report, not a crash: an unknown provider shows as NOT OK
        from rfpilot.core.llm import selection

        chosen = selection(settings)
        report["llm"] = {"provider": chosen.provider, "reason": chosen.reason, "key_source": chosen.key_source,
                         "detail": chosen.detail, "ok": True}
    except Exception as exc:
        report["llm"] = {"provider": None, "reason": None, "key_source": None, "detail": None, "ok": False,
                         "error": str(exc), "hint": getattr(exc, "hint", None)}
    ring = secrets.backend_status()
    report["keyring"] = {"backend": ring.name, "usable": ring.usable, "reason": ring.reason}

    async def probe():
        from rfpilot.core.context import open_context
        from rfpilot.core.sessions import count_sessions
        from rfpilot.db.engine import current_revision

        async with open_context(settings) as ctx:
            return {
                "revision": await current_revision(ctx.db.bind),  # type: ignore[arg-type]
                "sessions": await count_sessions(ctx),
                "dialect": ctx.db.bind.dialect.name,
            }

    try:
        report["database"].update(asyncio.run(probe()), ok=True)
    except Exception as exc:  # a report, not a crash: say what failed
        report["database"].update(ok=False, error=str(exc))

    def human() -> str:
        db = report["database"]
        lines = [
            f"rfpilot {report['rfpilot']} · Python {report['python']} · {report['platform']}",
            f"config    {report['paths']['config']}",
            f"data      {report['paths']['data']}",
            f"database  {db['url']} ({db['source']})",
        ]
        if db.get("ok"):
            lines.append(f"          {db['dialect']} · schema {db['revision']} (head {db['head']}) · {count(db['sessions'], 'session')}")
        else:
            lines.append(f"          NOT OK: {db.get('error')}")
        ident = report["identity"]
        lines.append(f"identity  {ident['name']} <{ident['email']}> · account {ident['account']}")
        llm = report["llm"]
        if not llm["ok"]:
            lines.append(f"llm       NOT OK: {llm['error']}")
            if llm.get("hint"):
                lines.append(f"          hint: {llm['hint']}")
        else:
            head = llm["provider"]
            if not (llm["key_source"] and llm["key_source"] in llm["reason"]):  # skip a reason that repeats the key source
                head += f" ({llm['reason']})"
            parts = [head]
            if llm["key_source"]:
                parts.append(f"key from {llm['key_source']}")
            elif llm["provider"] in secrets.KEYS:
                parts.append(f"no key found ({secrets.KEYS[llm['provider']]} or `rfpilot keys set {llm['provider']}`)")
            if llm["detail"]:
                parts.append(llm["detail"])
            if llm["provider"] == "offline":
                parts.append("notes use the offline drafter")
            lines.append("llm       " + " · ".join(parts))
        ring = report["keyring"]
        if ring["usable"]:
            lines.append(f"keyring   {ring['backend']} (usable)")
        else:
            lines.append(f"keyring   {ring['backend']} (not usable: {ring['reason']}) · keys come from "
                         + " / ".join(secrets.KEYS.values()) + " only")
        lines.append("versions  " + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
        return "\n".join(lines)

    output.emit(report, as_json, human)
    if not report["database"].get("ok") or not report["llm"]["ok"]:
        raise typer.Exit(1)
