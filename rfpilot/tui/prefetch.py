"""The session list's first page, read from the store by a short-lived child process while the app starts.

Importing SQLAlchemy and the models and opening the store take more CPU than Textual's own start-up, and Python
runs one thread at a time: in the app's process they can only come after its first frame. Forked before Textual
is imported, a child does that work on another core meanwhile: it opens the store (never upgrading it: a store
not at the current schema is left to the app), reads the first page of the list with the query the app uses
(``core.session.sessions.session_page``), writes it to a pipe as plain values and exits. The app paints those rows as soon
as its first frame is up, then opens its own store and reads the list again (``SessionList.reload``), so what
stays on screen is always the app's own answer; the child's is the store's list as of this launch, never a cache.

Nothing here imports Textual or SQLAlchemy at module level: the parent imports this before either.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import threading
from datetime import datetime
from typing import Any

from rfpilot.config import Settings

# The child's niceness where the idle scheduling class is unknown (see _below_the_app).
NICE = 19
# Once it has answered, the child closes its store and exits: looked for this often, this many times, then ended.
REAP_EVERY, REAP_TRIES = 0.05, 60

# One row of the list as plain values: id, title, status, client, ticket reference, updated_at.
RowFields = tuple[str, "str | None", str, "str | None", "str | None", "datetime | None"]


def cursor_token(cursor: Any) -> tuple[bool, datetime | None, str | None] | None:
    """A ``core.session.sessions.ListCursor`` as the plain tuple the TUI keeps (and a child can hand over)."""
    return None if cursor is None else (cursor.open, cursor.updated_at, cursor.id)


def row_fields(row: Any) -> RowFields:
    return (row.id, row.title, row.status, row.client_name, row.ticket_ref, row.updated_at)


class FirstPage:
    """The parent's end: the child's pid and the pipe its answer comes through."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.answered = False
        self._reaped = False

    async def rows(self) -> tuple[list[RowFields], Any] | None:
        """(rows, cursor token) from the child, or None (it found no store at the current schema, or failed).
        The app races this against its own imports: cancelled, it leaves the pipe closed."""
        loop = asyncio.get_running_loop()
        fd = self.fd
        done: asyncio.Future[bytes] = loop.create_future()
        chunks: list[bytes] = []

        def readable() -> None:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if chunk:
                chunks.append(chunk)
            elif not done.done():
                done.set_result(b"".join(chunks))

        os.set_blocking(fd, False)
        loop.add_reader(fd, readable)
        try:
            data = await done
        finally:
            loop.remove_reader(fd)
            self._close_pipe()
        if not data:
            self.close()
            return None
        try:
            rows, cursor = pickle.loads(data)  # noqa: S301 - our own child's answer, through our own pipe
        except Exception:  # noqa: BLE001 - a truncated answer: the app reads the list itself
            return None
        self.answered = True
        self._reap_later(loop, REAP_TRIES)  # it is closing its store now: collected when it has
        return rows, cursor

    def _reap_later(self, loop: asyncio.AbstractEventLoop, tries: int) -> None:
        self.reap()
        if self._reaped:
            return
        if tries <= 0:
            self._kill()
            return
        loop.call_later(REAP_EVERY, self._reap_later, loop, tries - 1)

    def reap(self) -> None:
        """Collect the child if it has exited (it exits right after writing)."""
        if self._reaped:
            return
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            done = self.pid
        self._reaped = done == self.pid

    def _close_pipe(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        """Done with the child. Unanswered (still working, or failed), it is of no more use: ended (it only reads)
        and collected. Answered, it is closing its store: collected once it exits (``rows`` arranged that)."""
        self._close_pipe()
        if not self.answered:
            self._kill()

    def _kill(self) -> None:
        self.reap()
        if self._reaped:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._reaped = True


def idle_core() -> bool:
    """Whether another core is likely free for the child: more than one core for this process and a load average
    below their number less a half. On a busy machine the child would only split the app's share of the CPU (the
    kernel groups a terminal's processes) and lose the race to the app's own imports: measured 2026-12-01 at a
    load of 6-10 on 2 cores, first frame and list were both slower with it."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return cores > 1 and os.getloadavg()[0] < cores - 0.5


def start(settings: Settings, limit: int) -> FirstPage | None:
    """Fork the child that reads the list's first ``limit`` sessions. None where there is no fork, where the
    process already runs threads (a fork would not carry them over safely), when ``ui.early_list`` is `off`, or,
    when it is `auto`, when no core is idle."""
    wanted = settings.get("ui.early_list")  # auto, on or off (the settings check it)
    if wanted == "off" or not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    if wanted != "on" and not idle_core():
        return None
    read, write = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        return None
    if pid:
        os.close(write)
        return FirstPage(pid, read)
    # The child: nothing of it reaches the terminal, and it always ends here, whatever happens.
    code = 1
    try:
        os.close(read)
        _below_the_app()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        asyncio.run(_first_page(settings, limit, write))
        code = 0
    finally:
        os._exit(code)


def _below_the_app() -> None:
    """The child runs only on a core the app leaves idle, never taking a moment of the app's own start-up: Linux's
    idle scheduling class; under a real-time class (the app's, or a bench's), the priority just below it."""
    try:
        policy = os.sched_getscheduler(0)
        if policy in (os.SCHED_FIFO, os.SCHED_RR) and os.sched_getparam(0).sched_priority > 1:
            os.sched_setscheduler(0, policy, os.sched_param(os.sched_getparam(0).sched_priority - 1))
        else:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(NICE)


async def _first_page(settings: Settings, limit: int, fd: int) -> None:
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import session_page
    from rfpilot.db.engine import normalise_url, sqlite_file

    db_file = sqlite_file(normalise_url(settings.database_url))
    if db_file is not None and not db_file.exists():
        return  # a first run: the app creates the store (opening it here would leave an empty file behind)
    workspace = await Workspace.open(settings, migrate=False)
    try:
        async with workspace.ctx() as ctx:
            page = await session_page(ctx, limit=limit)
        data = pickle.dumps(([row_fields(row) for row in page.sessions], cursor_token(page.cursor)))
        with os.fdopen(fd, "wb") as out:  # the answer first: the parent waits for it, not for the close below
            out.write(data)
    finally:
        await workspace.close()
