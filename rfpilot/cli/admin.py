"""`config …`, `db …` and `doctor`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rfpilot.cli import output
from rfpilot.grammar import count

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")

config_app = typer.Typer(help="Read and change config.toml.", no_args_is_help=True)
db_app = typer.Typer(help="The store: migrations, backups, the search index, where it is.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
    app.command("doctor")(doctor)


# --- config --------------------------------------------------------------


@config_app.command("path")
def config_path(as_json: bool = JSON) -> None:
    """Where config.toml lives (it may not exist yet)."""
    from rfpilot.config import load_settings

    file = load_settings().paths.config_file
    output.emit({"path": str(file), "exists": file.exists()}, as_json, lambda: str(file))


@config_app.command("get")
def config_get(
    key: Optional[str] = typer.Argument(None, help="Dotted key, e.g. identity.email. Omit to list every setting."),
    as_json: bool = JSON,
) -> None:
    """The effective value of a setting (flags > env > config.toml > default) and where it came from. A value
    rfpilot refuses is an error (exit 1); the list shows it as written, marked (invalid)."""
    from rfpilot.config import KEYMAP, SETTINGS, load_settings
    from rfpilot.core.llm import shown_setting
    from rfpilot.db.engine import redact_url
    from rfpilot.errors import ConfigError

    settings = load_settings()

    def row(k: str) -> dict:
        err = settings.problem(k)
        if err is not None:  # as written, never as if it were used
            value, source = settings.given(k) or (None, settings.source_of(k))
            return {"key": k, "value": value, "source": source, "error": err.message}
        try:
            value, source = shown_setting(settings, k)
        except ConfigError:  # derived from another setting that is invalid (on its own row)
            value, source = settings.get(k), settings.source_of(k)
        if k == "database.url" and value:
            value = redact_url(value)
        return {"key": k, "value": value, "source": source}

    def shown(r: dict) -> str:
        value = r["value"]
        text = "(not set)" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return f"{text} (invalid)" if "error" in r else text

    if key is None:
        table = settings.file_data.get("keymap")
        keymap = [KEYMAP + b for b in table] if isinstance(table, dict) else [] if table is None else ["keymap"]
        rows = [row(k) for k in [*sorted(SETTINGS), *keymap]]
        output.emit(rows, as_json, lambda: output.table(("KEY", "VALUE", "SOURCE"),
                                                         [(r["key"], shown(r), r["source"]) for r in rows]))
        errors = [err for err in (settings.problem(r["key"]) for r in rows if "error" in r) if err is not None]
        for err in errors:
            output.info(f"error: {err.message}")
            output.info(f"hint: {err.hint}")
        if errors:
            raise typer.Exit(1)
        return
    if key not in SETTINGS and not key.startswith(KEYMAP):
        raise ConfigError(f"unknown setting {key!r}", hint="`rfpilot config get` lists them")
    problem = settings.problem(key)
    if problem is not None:
        raise problem
    one = row(key)
    output.emit(one, as_json, lambda: "" if one["value"] is None else shown(one))


# A value may start with '-' (`config set psa.time_rounding -5` must reach the range check, not Click's option
# parser): everything after KEY is the value, so no option is looked for there. `--unset` and `--help` right after
# KEY still work (`--help` there is refused, not taken as a value), and so does `--` before a value
# (`config set KEY -- -5`).
@config_app.command("set", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
def config_set(
    key: str = typer.Argument(..., help="Dotted key, e.g. identity.name."),
    value: Optional[list[str]] = typer.Argument(None, help="The value, checked against the setting's type and "
                                                "choices; omit with --unset. It may start with '-'."),
    unset: bool = typer.Option(False, "--unset", help="Remove the key from config.toml."),
) -> None:
    """Write one setting to config.toml (comments and layout are kept)."""
    from rfpilot.config import load_settings, parse_value, write_setting
    from rfpilot.errors import UsageError

    words = list(value or [])
    if words[:1] == ["--"]:
        words = words[1:]
    elif "--unset" in words:
        if unset or words != ["--unset"]:
            raise UsageError("give a value, or --unset (not both)")
        unset, words = True, []
    elif words[:1] in (["--help"], ["-h"]):  # not silently a value (identity.name would take it)
        raise UsageError(f"{words[0]} after KEY would be the value of {key}",
                         hint=f"`rfpilot config set --help` shows the help; `rfpilot config set {key} -- {words[0]}` "
                              "sets that value")
    if len(words) > 1:
        raise UsageError(f"{key} takes one value, not {len(words)}", hint="quote a value that has spaces")
    if unset == bool(words):
        raise UsageError("give a value, or --unset (not both)")
    settings = load_settings()
    write_setting(settings.paths, key, None if unset else parse_value(key, words[0]))
    output.info(f"{'unset' if unset else 'set'} {key} in {settings.paths.config_file}")


# --- db ------------------------------------------------------------------


def _settings_and_url():
    from rfpilot.config import load_settings

    settings = load_settings()
    return settings, settings.database_url


@db_app.command("path")
def db_path(as_json: bool = JSON) -> None:
    """The SQLite file in use, or the (password-redacted) database URL."""
    from rfpilot.db.engine import normalise_url, redact_url, sqlite_file

    settings, url = _settings_and_url()
    path = sqlite_file(normalise_url(url))
    data = {"path": str(path) if path else None, "url": redact_url(url), "source": settings.source_of("database.url"),
            "exists": path.exists() if path else None}
    output.emit(data, as_json, lambda: str(path) if path else redact_url(url))


@db_app.command("current")
def db_current(as_json: bool = JSON) -> None:
    """The schema revision of the store and the one this rfpilot expects."""
    from sqlalchemy.exc import DBAPIError

    from rfpilot.core.secrets import database_password
    from rfpilot.db.engine import SCHEMA_HEAD, create_engine, current_revision, open_failure, redact_url

    settings, url = _settings_and_url()

    async def go():
        engine = create_engine(url, password=database_password(url, settings.env), own_dir=settings.paths.data_dir)
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
def db_upgrade(as_json: bool = JSON) -> None:
    """Apply pending migrations now (rfpilot also does this whenever it opens the store)."""
    from rfpilot.core.secrets import database_password
    from rfpilot.db.engine import SCHEMA_HEAD, current_revision, open_store, redact_url

    settings, url = _settings_and_url()

    async def go():
        store = await open_store(url, backup_dir=settings.paths.backup_dir, password=database_password(url, settings.env),
                                 own_dir=settings.paths.data_dir)
        try:
            return store.backup_path, await current_revision(store.engine)
        finally:
            await store.dispose()

    import asyncio

    backup, current = asyncio.run(go())
    if backup:
        output.info(f"backed up the previous database to {backup}")
    output.info(f"schema at {current}")
    data = {"database": redact_url(url), "current": current, "head": SCHEMA_HEAD,
            "backup": str(backup) if backup else None}
    output.emit(data, as_json, lambda: None)  # the human report went to stderr above


@db_app.command("backup")
def db_backup(
    dest: Optional[Path] = typer.Argument(None, help="Backup file (default: a timestamped file in the data dir)."),
    as_json: bool = JSON,
) -> None:
    """A consistent copy of the SQLite store (for Postgres use pg_dump). Exit 3 if the file exists: a backup
    never replaces a file."""
    from rfpilot.db.engine import backup_sqlite, normalise_url, sqlite_file
    from rfpilot.errors import ConflictError, StoreError, UsageError

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
            raise ConflictError(f"{target} already exists; it was not overwritten",
                                hint="give a file name that does not exist yet (a backup never replaces a file)")
        made = backup_sqlite(path, target.parent, "manual")
        try:
            made.replace(target)
        except OSError as exc:
            made.unlink(missing_ok=True)
            raise UsageError(f"cannot write the backup to {target}: {exc.strerror or exc}") from None
    output.emit({"database": str(path), "backup": str(target), "bytes": target.stat().st_size}, as_json,
                lambda: str(target))


@db_app.command("reindex")
def db_reindex(as_json: bool = JSON) -> None:
    """Rebuild the search index from the store, in one transaction (the index is kept by the store as it is
    written: this is for a store restored or changed by hand)."""
    from rfpilot.cli.runtime import run

    async def go(ctx):
        from rfpilot.core.memory.index import reindex

        async with ctx.tx():
            return await reindex(ctx)

    counts = run(go)
    total = sum(counts.values())
    output.emit({"rows": total, "by_kind": counts}, as_json,
                lambda: f"reindexed: {count(total, 'row')} (" + ", ".join(f"{k.replace('_', ' ')} {n:,}"
                                                                for k, n in counts.items()) + ")")


# --- doctor --------------------------------------------------------------


def doctor(
    as_json: bool = JSON,
    no_network: bool = typer.Option(False, "--no-network", help="Skip the checks that contact the model server and "
                                    "the PSA (settings and secrets are still checked)."),
) -> None:
    """Check each part (config, store, identity, keyring, model, PSA connections, outbox) and say what to do
    about each failure. Exit 1 when any check fails (a warning does not); --json gives the whole report."""
    import asyncio

    from rfpilot.config import load_settings
    from rfpilot.core import doctor as checks

    output.guard_logging()
    report = asyncio.run(checks.run(load_settings(), network=not no_network))
    output.emit(report, as_json, lambda: checks.render(report))
    if not report["ok"]:
        raise typer.Exit(1)
