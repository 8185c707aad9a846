"""The store's change feed: another process (or connection) committed something, so what a view shows may be stale.

Two ways, one shape (``ChangeFeed``: ``pending()``/``take()`` for a caller that is woken by ``on_change``, or
``next()`` to await the next batch):

* **Postgres** — one raw asyncpg connection per feed LISTENs on ``rfpilot_changes``. Migration 0013's triggers
  send a notification from every statement that writes ``sessions`` (every write a view shows touches that row:
  ``state_version``, ``status``, ``updated_at``, and 0009's counts for facts and messages) or
  ``session_handoffs`` (the queue), committed with it: ``"<account id> <session id> <status>"`` (``*`` for
  what a statement of many rows does not name). A dropped connection is noticed (asyncpg's termination
  callback, or a ``SELECT 1`` every PING_SECONDS that fails) and opened again with backoff; what was missed
  meanwhile is reported as ``ANYTHING``.
* **SQLite** — one idle read-only connection kept for it asks ``PRAGMA data_version`` every CHECK_SECONDS: the
  number changes when any other connection (another process, or this one's pool) has committed. One call of
  a few microseconds whatever the store's size; a read changes nothing. SQLite cannot say what changed: the
  feed reports ``ANYTHING`` and the consumer asks which sessions changed (``core.session.live``).

Nothing here raises to the consumer once the feed runs: a store that cannot be followed is logged and retried.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rfpilot.db.engine import Store

log = logging.getLogger("rfpilot.changes")

CHANNEL = "rfpilot_changes"
CHECK_SECONDS = 0.25  # SQLite: how often data_version is asked
PING_SECONDS = 30.0  # Postgres: how often an idle listener checks that its connection is still there
PING_TIMEOUT = 10.0
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # seconds before each further attempt to reconnect (the last repeats)
MAX_PENDING = 1_000  # changes kept for a consumer that has not taken them; beyond, one ANYTHING stands for all
COALESCE_SECONDS = 0.03  # ``next`` waits this long after the first change, so a burst comes as one batch


@dataclass(frozen=True)
class Change:
    """One committed change: the account and session it names, and the session's status after it (None: not
    known, as for SQLite, a statement of many rows, or after a reconnect)."""

    account_id: str | None = None
    session_id: str | None = None
    status: str | None = None


ANYTHING = Change()


def parse_payload(payload: str) -> Change:
    """A notification's payload (``account session status``, ``*`` for unknown) as a Change; anything else (an
    older or newer sender) is ANYTHING, never an error."""
    parts = payload.split(" ")
    if len(parts) != 3 or not all(parts):
        return ANYTHING
    account, session, status = (None if p == "*" else p for p in parts)
    return Change(account, session, status) if account else ANYTHING


class ChangeFeed:
    """Changes as they are committed. ``on_change`` (if given) is called in the event loop each time one arrives;
    ``take()`` hands over what arrived since the last call; ``next()`` waits for the next batch."""

    precise = False  # True: each change names its session (Postgres); False: only "something changed"

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.on_change = on_change
        self._pending: list[Change] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def _push(self, change: Change) -> None:
        if self.closed:
            return
        if len(self._pending) >= MAX_PENDING:  # nobody took them for a long while: "anything" says as much
            self._pending = [ANYTHING]
        self._pending.append(change)
        self._arrived.set()
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - a consumer's bug must not stop the feed
                log.warning("a change callback failed", exc_info=True)

    def pending(self) -> bool:
        return bool(self._pending)

    def take(self) -> list[Change]:
        """What arrived since the last call, each change once, in order."""
        taken, self._pending = list(dict.fromkeys(self._pending)), []
        self._arrived.clear()
        return taken

    async def wait(self, timeout: float | None = None) -> bool:
        """Until something arrives (then a moment more, so a burst comes as one batch); False after ``timeout``
        seconds without a change. Nothing is taken."""
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except TimeoutError:
            return False
        await asyncio.sleep(COALESCE_SECONDS)
        return True

    async def next(self, timeout: float | None = None) -> list[Change]:
        """The next batch (empty after ``timeout`` seconds without a change)."""
        return self.take() if await self.wait(timeout) else []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=type(self).__name__)

    async def ready(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until changes from now on will be seen; False: not yet."""
        return True

    async def _run(self) -> None:  # pragma: no cover - each store's feed has its own
        raise NotImplementedError

    async def close(self) -> None:
        """Stop following (idempotent): the background task is cancelled and awaited, the connection closed."""
        self.closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> ChangeFeed:
        self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class PostgresFeed(ChangeFeed):
    precise = True

    def __init__(self, store: Store, on_change: Callable[[], None] | None = None) -> None:
        super().__init__(on_change)
        self.store = store
        self.backend_pid: int | None = None  # the listening connection's server process (tests end it)
        self.connects = 0  # connections made so far (the first, then each reconnect)
        self.listening = asyncio.Event()  # set while a connection listens

    async def ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.listening.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._push(parse_payload(payload))

    async def _run(self) -> None:
        attempt = 0
        while not self.closed:
            lost = asyncio.Event()
            conn = None
            try:
                conn = await self.store.engine.connect()
                raw: Any = (await conn.get_raw_connection()).driver_connection  # the asyncpg connection
                raw.add_termination_listener(lambda _c: lost.set())
                await raw.add_listener(CHANNEL, self._notified)
                self.backend_pid = raw.get_server_pid()
                self.connects += 1
                self.listening.set()
                if self.connects > 1:
                    self._push(ANYTHING)  # notifications sent while nobody listened are gone
                attempt = 0
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), PING_SECONDS)
                    except TimeoutError:
                        await asyncio.wait_for(raw.fetchval("SELECT 1"), PING_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the server went away, refused us, timed out…
                log.info("the change listener lost its connection (%s); reconnecting", type(exc).__name__)
            finally:
                self.listening.clear()
                if conn is not None:
                    await _discard(conn)
            if self.closed:
                return
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1


async def _discard(conn: Any) -> None:
    """Close the listener's pool connection for good (a LISTENing connection is never handed back to the pool)."""
    try:
        await conn.invalidate()
        await conn.close()
    except Exception:  # noqa: BLE001 - closing what may already be gone
        log.debug("closing the change listener's connection failed", exc_info=True)


class SqliteFeed(ChangeFeed):
    def __init__(self, path: str, on_change: Callable[[], None] | None = None,
                 interval: float = CHECK_SECONDS) -> None:
        super().__init__(on_change)
        self.path = path
        self.interval = interval
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self.checks = 0  # data_version asked so far

    def _open(self) -> None:
        # Read-only (never creates a file), autocommit (never holds a read transaction open between checks, which
        # would keep the WAL from being checkpointed), and no busy wait: a locked store is asked again next time.
        from pathlib import Path

        self._conn = sqlite3.connect(Path(self.path).absolute().as_uri() + "?mode=ro", uri=True, timeout=0, isolation_level=None,
                                     check_same_thread=False)
        self._version = self._read()

    def _read(self) -> int:
        assert self._conn is not None
        self.checks += 1
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        """Whether another connection committed since the last call (one PRAGMA; the first call only starts)."""
        if self._conn is None:
            self._open()
            return False
        version = self._read()
        changed, self._version = version != self._version, version
        return changed

    def start(self) -> None:
        try:
            self.changed()  # the starting point now: a commit from here on is reported
        except sqlite3.Error as exc:
            log.info("the change check cannot open the store yet (%s)", exc)
        super().start()

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self.closed:
                try:
                    if self.changed():
                        self._push(ANYTHING)
                    attempt = 0
                    await asyncio.sleep(self.interval)
                except sqlite3.Error as exc:
                    log.info("the change check failed (%s); trying again", exc)
                    self._close_conn()
                    await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    attempt += 1
        finally:
            self._close_conn()

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class SilentFeed(ChangeFeed):
    """A store nobody else can write (SQLite in memory): nothing ever arrives."""

    async def _run(self) -> None:
        await asyncio.Event().wait()


def open_feed(store: Store, on_change: Callable[[], None] | None = None) -> ChangeFeed:
    """The feed for ``store``, started (call ``close`` when done): Postgres LISTEN or SQLite's data_version."""
    from rfpilot.db.engine import sqlite_file

    feed: ChangeFeed
    if store.dialect == "postgresql":
        feed = PostgresFeed(store, on_change)
    else:
        path = sqlite_file(store.url)
        feed = SqliteFeed(str(path), on_change) if path is not None else SilentFeed(on_change)
    feed.start()
    return feed
