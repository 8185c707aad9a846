"""A CLI command's SQLite calls run on its own thread (rfpilot.db.inline); the TUI's stay on aiosqlite's worker.

Both ways must behave alike: the same schema upgrade (which sets the driver's isolation level), the same rows,
the same errors (a constraint, another process's lock), and a connection that stays usable after an error.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from rfpilot.db import engine as engine_module
from rfpilot.db.engine import SCHEMA_HEAD, current_revision, open_store
from rfpilot.db.inline import InlineConnection

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
BOTH = pytest.mark.parametrize("inline", [False, True], ids=["worker-thread", "inline"])


def _no_worker(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """aiosqlite's connect (its worker thread) refused; returns what asked for it."""
    asked: list[str] = []

    def refuse(*args: object, **kwargs: object) -> object:
        asked.append(repr(args))
        raise AssertionError("a CLI command started aiosqlite's worker thread")

    monkeypatch.setattr(aiosqlite, "connect", refuse)
    return asked


@SQLITE
def test_cli_commands_run_sqlite_on_their_own_thread(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _no_worker(monkeypatch)
    code, out, err = cli("new", "Printer offline after the driver update", "--json")
    assert code == 0, err
    sid = json.loads(out)["id"]
    for args in (("facts", "add", sid, "The spooler was running"), ("sessions", "show", sid),
                 ("preview", "resolve", sid), ("resolve", sid, "--yes"), ("sessions", "list")):
        code, out, err = cli(*args)
        assert code == 0, (args, err)
    code, out, _ = cli("sessions", "show", sid)
    assert "The spooler was running" in out and "resolved" in out
    assert asked == []


@SQLITE
async def test_the_tuis_workspace_keeps_aiosqlites_worker(settings) -> None:
    from rfpilot.core.context import Workspace

    for inline, expected in ((False, aiosqlite.Connection), (True, InlineConnection)):
        ws = await Workspace.open(settings, inline=inline)
        try:
            async with ws.store.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert isinstance(raw.driver_connection, expected)
        finally:
            await ws.close()


@BOTH
async def test_a_new_store_is_upgraded_and_used_alike(tmp_path: Path, inline: bool) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    store = await open_store(url, backup_dir=tmp_path / "backups", inline=inline)
    try:
        assert await current_revision(store.engine) == SCHEMA_HEAD
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"))
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"row {n}"} for n in range(50)])
            await conn.commit()
            rows = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
            assert rows == [f"row {n}" for n in range(50)]
            streamed = [row async for row in await conn.stream(text("SELECT id FROM t ORDER BY id"))]
            assert len(streamed) == 50
            with pytest.raises(IntegrityError):
                await conn.execute(text("INSERT INTO t (v) VALUES ('row 1')"))
            await conn.rollback()
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 50  # usable after the error
    finally:
        await store.dispose()


@BOTH
async def test_another_processs_lock_is_the_same_error(tmp_path: Path, inline: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 150)
    path = tmp_path / "store.db"
    url = f"sqlite+aiosqlite:///{path}"
    store = await open_store(url, backup_dir=None, inline=inline)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        async with store.engine.connect() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
            await conn.commit()
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        loop = asyncio.get_running_loop()
        async with store.engine.connect() as conn:
            started = loop.time()
            with pytest.raises(OperationalError, match="database is locked"):
                await conn.execute(text("INSERT INTO t VALUES ('mine')"))
            assert loop.time() - started >= 0.1  # it waited for the lock first
            await conn.rollback()
            other.execute("COMMIT")
            await conn.execute(text("INSERT INTO t VALUES ('mine')"))
            await conn.commit()
            assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["mine"]
    finally:
        other.close()
        await store.dispose()
