"""Live team views: which of the account's sessions a teammate (another process) changed, as it happens.

``LiveViews`` follows the store's change feed (``rfpilot.db.changes``: Postgres LISTEN/NOTIFY, one connection
per app; SQLite ``PRAGMA data_version`` on one idle connection) and turns it into ``LiveUpdate``s for the
acting account: the sessions that changed, or ``everything`` when which is not known (a bulk statement, a
listener that reconnected). A front end re-reads only what it shows when an update names it: the list page, the
queue, the open session when its ``SessionMark`` moved.

Postgres names the session in each notification. SQLite only says "something was committed": then one indexed
query asks which of the account's sessions were written since the newest ``updated_at`` seen (less SLACK, as a
transaction commits a little after it stamps its rows), and only those whose mark differs from the one seen
are reported — a change elsewhere in the file (the outbox, another account, a read) reports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from rfpilot.db.changes import ChangeFeed, open_feed
from rfpilot.db.enums import SESSION_STATUSES
from rfpilot.db.models import SessionRow

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx, Workspace

SLACK = timedelta(seconds=5)
READY_SECONDS = 5.0  # how long opening waits for Postgres's LISTEN to be in place (it goes on trying after)


@dataclass(frozen=True)
class SessionMark:
    """What changes on a session's row with every write a view shows."""

    state_version: int
    updated_at: datetime | None
    status: str
    fact_count: int
    message_count: int
    owner_id: str

    @classmethod
    def of(cls, row: SessionRow) -> SessionMark:
        return cls(row.state_version, row.updated_at, row.status, row.fact_count, row.message_count, row.owner_id)


_MARK_COLUMNS = (SessionRow.id, SessionRow.state_version, SessionRow.updated_at, SessionRow.status,
                 SessionRow.fact_count, SessionRow.message_count, SessionRow.owner_id)


async def session_mark(ctx: Ctx, session_id: str) -> SessionMark | None:
    """The session's mark now (one read by its key); None when the account has no such session."""
    row = (await ctx.db.execute(select(*_MARK_COLUMNS[1:]).where(
        SessionRow.id == session_id, SessionRow.account_id == ctx.account.id))).first()
    return SessionMark(*row) if row is not None else None


@dataclass(frozen=True)
class LiveUpdate:
    sessions: frozenset[str]
    everything: bool = False  # which sessions is not known: re-read whatever is shown

    def touches(self, session_id: str | None) -> bool:
        return session_id is not None and (self.everything or session_id in self.sessions)

    def merged(self, other: LiveUpdate) -> LiveUpdate:
        return LiveUpdate(self.sessions | other.sessions, self.everything or other.everything)


class LiveViews:
    """The account's side of the change feed. ``updates()`` returns what changed since the last call (None:
    nothing for this account); ``next()`` waits for it. ``on_change`` is called in the event loop when the feed
    has something (then call ``updates``)."""

    def __init__(self, ws: Workspace, feed: ChangeFeed) -> None:
        self.ws = ws
        self.feed = feed
        self._seen: dict[str, SessionMark] = {}  # SQLite: the recent sessions' marks, to report only what moved
        self._high: datetime | None = None  # SQLite: the newest updated_at seen

    @classmethod
    async def open(cls, ws: Workspace, on_change: Callable[[], None] | None = None) -> LiveViews:
        live = cls(ws, open_feed(ws.store, on_change))
        try:
            await live.feed.ready(READY_SECONDS)
            if not live.feed.precise:
                await live._baseline()
        except BaseException:
            await live.close()
            raise
        return live

    @property
    def precise(self) -> bool:
        return self.feed.precise

    def pending(self) -> bool:
        return self.feed.pending()

    async def updates(self) -> LiveUpdate | None:
        changes = self.feed.take()
        if not changes:
            return None
        if self.feed.precise:
            mine = [c for c in changes if c.account_id in (None, self.ws.account.id)]
            if not mine:
                return None
            everything = any(c.session_id is None for c in mine)
            return LiveUpdate(frozenset(c.session_id for c in mine if c.session_id), everything)
        changed = await self._changed_sessions()
        return LiveUpdate(frozenset(changed)) if changed else None

    async def next(self, timeout: float | None = None) -> LiveUpdate | None:
        """The next update for this account (None after ``timeout`` seconds without one)."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            if not self.feed.pending() and not await self.feed.wait(left):
                return None
            update = await self.updates()
            if update is not None:
                return update
            if deadline is not None and loop.time() >= deadline:
                return None

    async def _baseline(self) -> None:
        """SQLite: the starting point, nothing reported: the newest ``updated_at`` (one index lookup per status)
        and the marks of the sessions written in the SLACK before it."""
        from sqlalchemy import func

        async with self.ws.ctx() as ctx:
            for status in SESSION_STATUSES:
                newest = (await ctx.db.execute(select(func.max(SessionRow.updated_at)).where(
                    SessionRow.account_id == self.ws.account.id, SessionRow.status == status))).scalar()
                if newest is not None and (self._high is None or newest > self._high):
                    self._high = newest
        if self._high is not None:
            await self._changed_sessions()

    async def _changed_sessions(self) -> list[str]:
        """SQLite: the account's sessions written since the newest ``updated_at`` seen (less SLACK) whose mark
        is not the one seen. One query on (account_id, status, updated_at): a few rows, at any store size
        (with no session seen yet — an account that was empty — all of them, which are few)."""
        stmt = select(*_MARK_COLUMNS).where(SessionRow.account_id == self.ws.account.id,
                                            SessionRow.status.in_(SESSION_STATUSES))
        if self._high is not None:
            stmt = stmt.where(SessionRow.updated_at >= self._high - SLACK)
        async with self.ws.ctx() as ctx:
            rows = (await ctx.db.execute(stmt)).all()
        changed = []
        for row in rows:
            mark = SessionMark(row.state_version, row.updated_at, row.status, row.fact_count, row.message_count,
                               row.owner_id)
            if self._seen.get(row.id) != mark:
                changed.append(row.id)
            self._seen[row.id] = mark
            if mark.updated_at is not None and (self._high is None or mark.updated_at > self._high):
                self._high = mark.updated_at
        if self._high is not None:
            floor = self._high - SLACK
            self._seen = {k: m for k, m in self._seen.items() if m.updated_at is None or m.updated_at >= floor}
        return changed

    async def close(self) -> None:
        await self.feed.close()
