"""Who may change what: one rule, in one place (SPEC §2 tenancy, §10 handoffs and queue).

* **Another account** sees nothing: every lookup is scoped to the acting account (core.lookup), and a row of
  another account that reaches a service anyway is "not found" (exit 2).
* **The session's owner** changes it: chat, facts, lane, fixes, branches, notes, park, escalate, resolve,
  abandon, outputs, share-update, and the outbox items of the session (retry, drop). After a claim the
  claimer is the owner and the previous owner is not.
* **A teammate** (same account, not the owner) reads everything and does only the team's explicit actions:
  claim a handoff from the queue, deliver the account's outbox (`outbox sync`: delivery is idempotent, every
  note is posted at most once, and it only carries out what the owner asked for), and work on what belongs to
  the account rather than to one session (the template library and draft review, PSA connections).
  Everything else is refused with exit 3, and nothing changes.

A mutating core service declares its rule with ``@owner_action("…")`` (checked before its body runs) or
``@team_action("…")`` (documented, no owner check); a service that re-checks under a row lock calls
``require_can_modify`` itself. The CLI matrix test (tests/test_ownership.py) runs every command as the owner,
a teammate and a user of another account, so a command that forgets the rule fails it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select

from rfpilot.core.context import Ctx
from rfpilot.core.text import short_id
from rfpilot.db.models import Engineer, SessionHandoff, SessionRow
from rfpilot.errors import ConflictError, NotFoundError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

# Every service that declared its rule, by qualified name: {"rfpilot.core.session.branches.fork": ("owner", "fork")}.
DECLARED: dict[str, tuple[str, str]] = {}


async def _name_of(ctx: Ctx, engineer_id: str | None) -> str:
    if not engineer_id:
        return "another engineer"
    if engineer_id == ctx.engineer.id:
        return ctx.engineer.display_name
    engineer = await ctx.db.get(Engineer, engineer_id)
    return engineer.display_name if engineer else "another engineer"


async def _hint(ctx: Ctx, session: SessionRow, owner: str) -> str:
    """What the refused engineer can do: claim it if it waits in the queue, else ask its owner."""
    rows = (await ctx.db.execute(
        select(SessionHandoff).where(SessionHandoff.session_id == session.id)
        .order_by(SessionHandoff.created_at.desc(), SessionHandoff.id.desc())
    )).scalars().all()
    waiting = [h for h in rows if h.claimed_by is None and h.withdrawn_at is None]
    if waiting and session.status in ("paused", "escalated"):
        return f"it waits in the team queue: take it over with `rfpilot queue claim {short_id(waiting[0].id)}`"
    taken = next((h for h in rows if h.claimed_by == session.owner_id and h.handed_off_by == ctx.engineer.id), None)
    if taken is not None:
        return f"{owner} claimed it from the queue after you handed it off; ask them to park it to take it back"
    return f"ask {owner} to park or escalate it to the team queue (`rfpilot park`), then claim it"


async def require_can_modify(ctx: Ctx, session: SessionRow, action: str = "change") -> None:
    """Raise (changing nothing) unless the acting engineer may ``action`` the session: NotFoundError for another
    account's session, ConflictError (exit 3) when it belongs to someone else."""
    if session.account_id != ctx.account.id:
        raise NotFoundError(f"no session matches {short_id(session.id)!r}")
    if session.owner_id == ctx.engineer.id:
        return
    owner = await _name_of(ctx, session.owner_id)
    raise ConflictError(
        f"cannot {action} session {short_id(session.id)}: it belongs to {owner} (you can read it, not change it)",
        hint=await _hint(ctx, session, owner),
    )


async def session_of_item(ctx: Ctx, item: Any) -> SessionRow:
    """The session an outbox item writes for: its owner decides on retrying or dropping it."""
    session = await ctx.db.get(SessionRow, item.session_id)
    if session is None:
        raise NotFoundError(f"the session of outbox item {short_id(item.id)} no longer exists")
    return session


def _declare(fn: Callable[..., Any], kind: str, action: str) -> None:
    DECLARED[f"{fn.__module__}.{fn.__qualname__}"] = (kind, action)


def owner_action(
    action: str, *, session_of: Callable[[Ctx, Any], Awaitable[SessionRow | None]] | None = None, arg: str = "session"
) -> Callable[[F], F]:
    """Only the owner of the session may run the decorated service. The session is the argument named ``arg``
    (``session_of(ctx, value)`` maps it to its session when it is, e.g., an outbox item); a None session (a
    service that may run without one) is not checked."""

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            ctx = bound.arguments["ctx"]
            value = bound.arguments.get(arg)
            session = await session_of(ctx, value) if session_of is not None and value is not None else value
            if session is not None:
                await require_can_modify(ctx, session, action)
            return await fn(*args, **kwargs)

        _declare(fn, "owner", action)
        checked.permission = ("owner", action)  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return wrap


def team_action(action: str) -> Callable[[F], F]:
    """A teammate may run the decorated service (account scoping still applies): declared, not checked."""

    def wrap(fn: F) -> F:
        _declare(fn, "team", action)
        fn.permission = ("team", action)  # type: ignore[attr-defined]
        return fn

    return wrap
