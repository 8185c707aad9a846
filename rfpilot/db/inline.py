"""SQLite on the event loop's own thread, for a process whose loop has nothing else to do meanwhile (a CLI command).

aiosqlite runs every SQLite call on a worker thread and hands the result back through the event loop: four such
trips per statement (a cursor, the execute, the fetch, the close), each two thread wake-ups. The TUI needs that:
its screen must keep drawing while SQLite waits on another process's lock. A CLI command does not: it waits for
each statement anyway. There the trips cost more than the statements (a first `sessions show` runs about thirty,
20-25 ms of trips for under 5 ms of SQLite), so the CLI's store runs its calls inline through this connection,
which answers SQLAlchemy's aiosqlite dialect as aiosqlite's own connection does, through the dialect's documented
``async_creator`` hook (``rfpilot.db.engine.create_engine``). Every coroutine here finishes without suspending.

What stays the same: the dialect, its SQL, its errors (sqlite3's own classes, which aiosqlite passes on too), the
busy timeout and the pragmas. What differs: while SQLite waits on a lock the loop waits with it. A ctrl+c is then
taken when the call returns, as it already is with the worker thread (``rfpilot.db.cancelsafe``: a cancel lands
between operations, never inside one).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any


def _closed() -> ValueError:
    return ValueError("no active connection")  # aiosqlite's words: the dialect maps them to a disconnect


class InlineCursor:
    """An aiosqlite-style cursor whose coroutines run the sqlite3 call at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany() if size is None else self._cursor.fetchmany(size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        async def rows() -> AsyncIterator[Any]:
            while (row := self._cursor.fetchone()) is not None:
                yield row

        return rows()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Queue:
    """The dialect sets isolation_level by queueing ``(future, function)`` for aiosqlite's thread: done at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the future, as aiosqlite does
            future.set_exception(exc)


class InlineConnection:
    """An aiosqlite-style connection over a sqlite3 connection, used on the thread that opened it."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._tx = _Queue()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise _closed()
        return self._connection

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (the dialect's terminate); a second close is no error."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:  # None, "DEFERRED", "IMMEDIATE" or "EXCLUSIVE"
        self._conn.isolation_level = value


async def connect(database: str, **kwargs: Any) -> InlineConnection:
    """``sqlite3.connect(database, **kwargs)``, answering as an aiosqlite connection (the engine's async_creator)."""
    return InlineConnection(sqlite3.connect(database, **kwargs))
