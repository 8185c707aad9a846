"""The unit of work every service runs in: a database session, who is acting, a clock.

``Workspace`` owns the open store for a long-lived process (the TUI);
``open_context`` is the one-shot form the CLI uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from rfpilot.config import Settings, load_settings
from rfpilot.core.secrets import database_password
from rfpilot.db.engine import Store, open_store
from rfpilot.db.models import Account, Engineer, SessionRow
from rfpilot.db.types import utcnow
from rfpilot.errors import UsageError

log = logging.getLogger("rfpilot.store")

# How long a cancelled caller waits for its finishing write; the store waits the same again before closing.
FINISH_SECONDS = 0.4
_finishing: set[asyncio.Task] = set()


@dataclass
class Ctx:
    db: AsyncSession
    account: Account
    engineer: Engineer
    settings: Settings | None = None
    clock: Callable[[], datetime] = utcnow
    _depth: int = field(default=0, repr=False)

    def now(self) -> datetime:
        return self.clock()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[None]:
        """One transaction per mutation: commit at the outermost exit, roll back on error."""
        self._depth += 1
        try:
            yield
        except BaseException as exc:
            self._depth -= 1
            if self._depth == 0:
                await self.db.rollback()
            _raise_if_too_long(exc)
            raise
        self._depth -= 1
        if self._depth == 0:
            try:
                await self.db.commit()
            except DBAPIError as exc:
                await self.db.rollback()
                _raise_if_too_long(exc)
                raise

    async def bump_state(self, session: SessionRow) -> None:
        """+1 on state_version in the caller's transaction (the preview-cache key); the row in hand learns the
        new values from the same statement (RETURNING), not from a second read."""
        version, updated_at = (await self.db.execute(
            update(SessionRow)
            .where(SessionRow.id == session.id)
            .values(state_version=SessionRow.state_version + 1, updated_at=self.now())
            .returning(SessionRow.state_version, SessionRow.updated_at)
            .execution_options(synchronize_session=False)
        )).one()
        set_committed_value(session, "state_version", version)
        set_committed_value(session, "updated_at", updated_at)

    def touch(self, session: SessionRow) -> None:
        """Mark activity that does not change a note (lane work, messages)."""
        session.updated_at = self.now()

    async def finish_anyway(self, change: Callable[[Ctx], Awaitable[None]]) -> None:
        """Finish this short state change even if the caller is being cancelled (ctrl+q, ctrl+c).

        ``change(fresh)`` runs in one transaction of a fresh session, never this Ctx's (which may have been cut
        off half way through a transaction of its own), in a task of its own that a cancel does not reach. The
        caller waits for it, through any further cancel, for up to FINISH_SECONDS, then gets its cancel; a
        change that is still running then is waited for again by ``Workspace.close`` before the store closes.
        A failure is logged, never raised: the caller is already on its way out with its own exception."""
        from rfpilot.db.cancelsafe import uninterrupted

        async def run() -> None:
            try:
                async with type(self.db)(bind=self.db.bind, expire_on_commit=False) as db:
                    fresh = dataclasses.replace(self, db=db, _depth=0)
                    async with fresh.tx():
                        await change(fresh)
            except Exception:  # noqa: BLE001 - see the docstring
                log.warning("a finishing write failed", exc_info=True)

        task = asyncio.ensure_future(run())
        _finishing.add(task)
        task.add_done_callback(_finishing.discard)
        await uninterrupted(task, grace=FINISH_SECONDS)


async def drain_finishing(timeout: float = FINISH_SECONDS) -> None:
    """Wait (a bounded time) for the finishing writes still running: called before the store closes."""
    pending = [t for t in _finishing if not t.done() and t.get_loop() is asyncio.get_running_loop()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


async def _get_or_create(db: AsyncSession, stmt, make) -> object:
    row = (await db.execute(stmt)).scalar_one_or_none()
    if row is not None:
        return row
    row = make()
    db.add(row)
    try:
        await db.commit()
    except IntegrityError:  # another process created it first
        await db.rollback()
        row = (await db.execute(stmt)).scalar_one()
    return row


async def ensure_identity(db: AsyncSession, settings: Settings) -> tuple[Account, Engineer]:
    """The account (team) and engineer of this machine's config, created on first run. Both are read in one
    statement once they exist (every command after the first asks)."""
    name = settings.account_name
    email = settings.identity_email
    both = (await db.execute(
        select(Account, Engineer)
        .join(Engineer, and_(Engineer.account_id == Account.id, Engineer.email == email))
        .where(Account.name == name)
    )).first()
    if both is not None:
        return both[0], await _named(db, settings, both[1])
    account = await _get_or_create(
        db, select(Account).where(Account.name == name), lambda: Account(name=name)
    )
    assert isinstance(account, Account)
    engineer = await _get_or_create(
        db,
        select(Engineer).where(Engineer.account_id == account.id, Engineer.email == email),
        lambda: Engineer(account_id=account.id, email=email, display_name=settings.identity_name),
    )
    assert isinstance(engineer, Engineer)
    return account, await _named(db, settings, engineer)


async def _named(db: AsyncSession, settings: Settings, engineer: Engineer) -> Engineer:
    """The engineer's display name follows ``identity.name`` when the config sets one."""
    if settings.get("identity.name") and engineer.display_name != settings.identity_name:
        engineer.display_name = settings.identity_name
        await db.commit()
    return engineer


class Workspace:
    """An open store plus the acting identity; hands out one Ctx per operation."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        account: Account,
        engineer: Engineer,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self.account = account
        self.engineer = engineer
        self.clock = clock  # tests and snapshots fix it

    @classmethod
    async def open(cls, settings: Settings | None = None, *, clock: Callable[[], datetime] = utcnow,
                   migrate: bool = True, inline: bool = False) -> Workspace:
        """``migrate=False``: a store whose schema is not at head is refused (StoreError), never upgraded.
        ``inline``: a SQLite store's calls run on this event loop's thread (``rfpilot.db.inline``), for a caller
        whose loop has nothing else to do while they run (a CLI command; never the TUI, whose screen must keep
        drawing while SQLite waits on a lock)."""
        settings = settings or load_settings()
        store = await open_store(settings.database_url, backup_dir=settings.paths.backup_dir,
                                 password=database_password(settings.database_url, settings.env),
                                 own_dir=settings.paths.data_dir, auto_migrate=migrate, inline=inline)
        try:
            async with store.sessionmaker() as db:
                account, engineer = await ensure_identity(db, settings)
        except BaseException:
            await store.dispose()
            raise
        return cls(store, settings, account, engineer, clock)

    async def close(self) -> None:
        await drain_finishing()
        await self.store.dispose()

    @asynccontextmanager
    async def ctx(self) -> AsyncIterator[Ctx]:
        async with self.store.sessionmaker() as db:
            yield Ctx(db=db, account=self.account, engineer=self.engineer, settings=self.settings, clock=self.clock)


@asynccontextmanager
async def open_context(settings: Settings | None = None, *, inline: bool = False) -> AsyncIterator[Ctx]:
    ws = await Workspace.open(settings, inline=inline)
    try:
        async with ws.ctx() as ctx:
            yield ctx
    finally:
        await ws.close()


def _raise_if_too_long(exc: BaseException) -> None:
    """A value longer than its column (Postgres enforces lengths, SQLite does not) is the user's input, not a
    crash: one usage error, after the rollback, for every service that forgot a length check."""
    if not isinstance(exc, DBAPIError):
        return
    if getattr(exc.orig, "sqlstate", None) == "22001" or "value too long for type" in str(exc.orig):
        raise UsageError(
            "a value is longer than the store allows; nothing was changed", hint="shorten it and try again"
        ) from None
