"""Sessions: creation, listing, and the status machine of SPEC §3."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Integer, String, bindparam, false, func, literal_column, or_, select, tuple_, union_all

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one, id_prefix, no_index
from rfpilot.core.permissions import owner_action, require_can_modify
from rfpilot.core.text import clip, one_line, short_id, title_from_text, truncate
from rfpilot.db.enums import SESSION_STATUSES
from rfpilot.db.models import Engineer, SessionRow
from rfpilot.errors import ConflictError, UsageError

T = TypeVar("T")

INTAKE_MAX = 20_000
REASON_MAX = 500

OPEN_STATUSES = ("active", "paused", "escalated")
CLOSED_STATUSES = ("resolved", "abandoned")
# Time in these statuses is parked time: waiting on the customer or on the next engineer.
PARKED_STATUSES = ("paused", "escalated")
# from-status -> statuses it may move to (SPEC §3). Anything else is refused.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "active": ("paused", "resolved", "escalated", "abandoned"),
    "paused": ("active", "resolved", "escalated", "abandoned"),
    "escalated": ("resolved", "abandoned"),
    "resolved": ("escalated", "active"),
    "abandoned": ("active",),
}
# Lifecycle verbs that move a session to a status, and where resume / reopen start from.
VERB_TARGETS = {"pause": "paused", "resolve": "resolved", "escalate": "escalated", "abandon": "abandoned"}
RESUMABLE = ("paused",)
REOPENABLE = ("resolved", "abandoned")


def valid_actions(status: str) -> set[str]:
    """The lifecycle verbs a session in ``status`` may take (what the TUI's palette offers), from TRANSITIONS."""
    targets = TRANSITIONS.get(status, ())
    verbs = {verb for verb, target in VERB_TARGETS.items() if target in targets}
    if status in RESUMABLE and "active" in targets:
        verbs.add("resume")
    if status in REOPENABLE and "active" in targets:
        verbs.add("reopen")
    return verbs


_VERB = {
    "active": "reactivate",
    "paused": "pause",
    "resolved": "resolve",
    "escalated": "escalate",
    "abandoned": "abandon",
}


def intake_from_ticket(summary: str | None, description: str | None) -> str | None:
    """A ticket session's intake: the summary, a blank line, then the description with its own paragraphs.
    Never folded into one line: the summary is a headline and must not run into the description's first words."""
    head = one_line(summary or "")
    body = clip(description or "", INTAKE_MAX)
    return clip("\n\n".join(part for part in (head, body) if part), INTAKE_MAX) or None


def intake_of(session: SessionRow) -> str | None:
    """The problem as reported. A ticket session's is rebuilt from its stored ticket (summary and description
    kept apart), so a session stored while the two were still run together reads right too."""
    doc = session.ticket_context or {}
    if session.intake_type == "psa_ticket" and isinstance(doc, dict) and doc.get("summary"):
        return intake_from_ticket(str(doc["summary"]), str(doc.get("description") or ""))
    return session.intake_text


async def create_session(
    ctx: Ctx,
    text: str | None = None,
    *,
    title: str | None = None,
    client: str | None = None,
) -> SessionRow:
    """A new active session from a free-text description (or an empty one)."""
    intake = (text or "").strip()
    if text is not None and not intake:
        raise UsageError("the problem description is empty", hint="describe the problem, or omit it for an empty session")
    if len(intake) > INTAKE_MAX:
        raise UsageError(f"the problem description is too long ({len(intake)} characters; the limit is {INTAKE_MAX})")
    chosen_title = one_line(title) if title is not None else (title_from_text(intake) if intake else None)
    if title is not None and not chosen_title:
        raise UsageError("the title is empty")
    now = ctx.now()
    row = SessionRow(
        account_id=ctx.account.id,
        owner_id=ctx.engineer.id,
        title=truncate(chosen_title, 200) if chosen_title else None,
        status="active",
        intake_type="free_text" if intake else "empty",
        intake_text=intake or None,
        client_name=one_line(client) or None if client else None,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    async with ctx.tx():
        ctx.db.add(row)
    return row


async def get_session(ctx: Ctx, ref: str) -> SessionRow:
    return await find_one(ctx, SessionRow, ref, "session")


async def adopt_row(ctx: Ctx, row: SessionRow) -> SessionRow | None:
    """``row``, committed by an earlier store session of this process with every column loaded, taken into
    ``ctx`` without reading it again; None when it is not that (read it instead)."""
    from sqlalchemy import inspect

    state = inspect(row)
    if not state.detached or state.unloaded or state.modified or row.account_id != ctx.account.id:
        return None
    return await ctx.db.merge(row, load=False)


@dataclass(frozen=True)
class ListCursor:
    """Where the next page of `session_page` starts: in the open part or the closed part, after this row."""

    open: bool
    updated_at: datetime | None = None
    id: str | None = None


@dataclass(frozen=True)
class SessionPage:
    sessions: list[SessionRow]
    cursor: ListCursor | None  # None: this was the last page


# An id prefix as the CLI prints it (8 characters) or longer: a shorter run of digits is a ticket number far
# more often than an id, and would match random ids.
_ID_PREFIX = re.compile(r"[0-9a-f-]{8,36}")
# The longest column a filter is matched against (title and client name are String(200)).
_LONGEST_MATCHED = max(SessionRow.title.type.length, SessionRow.client_name.type.length)


def _match_clause(match: str, dialect: str):
    """Case-insensitive substring of the title, client or ticket reference, a status the text is part of,
    or a prefix of the id.

    ILIKE on Postgres (a pg_trgm index on these columns serves it); plain LIKE on SQLite, which already ignores
    the case of ASCII letters (as lower() does there: neither folds other letters without ICU). The status is
    matched here, so the store sees `status IN (…)`, which its index serves: an OR branch no index can serve
    would make the whole match a scan. Without a text index each query reads every session of the account
    (docs/performance.md)."""
    needle = one_line(match).casefold()
    if len(needle) > _LONGEST_MATCHED:
        return false()  # longer than every column it is matched against (and past SQLite's LIKE pattern limit)
    # The pattern is built here, not in SQL, so Postgres's planner sees a plain ILIKE '%…%' constant. It is sent
    # as a literal (rendered and quoted by SQLAlchemy at execution): as a bound parameter of a prepared statement,
    # Postgres would switch to a generic plan after five runs, one that cannot know whether the trigram indexes
    # help, and walk the whole account instead (5 ms → 300–500 ms at 100,000 sessions).
    escaped = needle.replace("/", "//").replace("%", "/%").replace("_", "/_")
    columns = (SessionRow.title, SessionRow.client_name, SessionRow.ticket_ref)
    if dialect == "sqlite":
        clauses = [col.like(f"%{escaped}%", escape="/") for col in columns]
    else:
        pattern = bindparam(None, f"%{escaped}%", type_=String, literal_execute=True)
        clauses = [col.ilike(pattern, escape="/") for col in columns]
    statuses = [status for status in SESSION_STATUSES if needle in status]
    if statuses:
        clauses.append(SessionRow.status.in_(statuses))
    if _ID_PREFIX.fullmatch(needle):
        clauses.append(id_prefix(SessionRow.id, needle))  # as core.lookup.find_one
    return or_(*clauses)


def _part_query(base, wanted: tuple[str, ...], after: ListCursor | None, limit: int):
    """The first ``limit`` sessions of ``base`` in one of ``wanted`` statuses, after ``after``, newest first.

    One branch per status, each an equality on the status followed by the order, so an index on
    (account_id, [owner_id,] status, updated_at, id) returns it in order and it stops after ``limit`` rows; the
    branches' at most ``limit`` × statuses rows are then merged by one small sort. (``status IN (…)`` would
    read every session of those statuses and sort them all: the whole closed part of a big store.)"""
    # The limit is written into the SQL, not bound: a prepared statement's generic plan (Postgres, after five
    # runs) does not know a bound limit and plans for many rows, which walks the whole account for a rare filter.
    limit = bindparam(None, limit, type_=Integer, literal_execute=True)
    branches = []
    for status in wanted:
        branch = base.where(SessionRow.status == status)
        if after is not None and after.updated_at is not None:
            branch = branch.where(tuple_(SessionRow.updated_at, SessionRow.id) < (after.updated_at, after.id))
        branches.append(branch.order_by(SessionRow.updated_at.desc(), SessionRow.id.desc()).limit(limit))
    if len(branches) == 1:
        return branches[0]
    # The merge orders the union by its own columns' names and loads the rows as sessions (an aliased entity over
    # the union would cost ~20 ms of SQLAlchemy's column matching per call).
    merged = union_all(*(select(branch.subquery()) for branch in branches))
    merged = merged.order_by(literal_column("updated_at").desc(), literal_column("id").desc()).limit(limit)
    return select(SessionRow).from_statement(merged)


def session_list_query(
    account_id: str,
    dialect: str,
    is_open: bool,
    *,
    match: str | None = None,
    statuses: tuple[str, ...] | None = None,
    owner_id: str | None = None,
    after: ListCursor | None = None,
    limit: int = 100,
):
    """The statement reading the open (``is_open``) or closed part of a page of `session_page`: at most
    ``limit`` sessions after ``after`` (a cursor in this part), or None when ``statuses`` leave the part empty.
    Exposed so the query-plan tests check the very SQL the list runs."""
    wanted = tuple(s for s in (OPEN_STATUSES if is_open else CLOSED_STATUSES) if not statuses or s in statuses)
    if not wanted:
        return None
    after = after if after is not None and after.open == is_open else None
    if match and match.strip() and dialect == "sqlite":
        return _scan_query(account_id, _match_clause(match, dialect), wanted, owner_id, after, limit)
    base = select(SessionRow).where(SessionRow.account_id == account_id)
    if owner_id is not None:
        base = base.where(SessionRow.owner_id == owner_id)
    if match and match.strip():
        base = base.where(_match_clause(match, dialect))
    return _part_query(base, wanted, after, limit)


def _scan_query(account_id: str, match, wanted: tuple[str, ...], owner_id: str | None, after: ListCursor | None,
                limit: int):
    """A filtered part on SQLite, which has no text index: one pass over the table keeping the newest ``limit``
    matches (SQLite's bounded sorter). Walking the list's index instead finds a common text sooner (it stops at
    the page's end) but pays a row lookup per session for a rare one: 100,000 sessions cost ~110 ms that way
    against ~45 ms for the pass, and a key's worst case is what the TUI's filter has to meet. The unary plus
    keeps the planner off the indexes."""
    stmt = select(SessionRow).where(no_index(SessionRow.account_id) == account_id,
                                    no_index(SessionRow.status).in_(wanted), match)
    if owner_id is not None:
        stmt = stmt.where(no_index(SessionRow.owner_id) == owner_id)
    if after is not None and after.updated_at is not None:
        stmt = stmt.where(tuple_(SessionRow.updated_at, SessionRow.id) < (after.updated_at, after.id))
    return stmt.order_by(SessionRow.updated_at.desc(), SessionRow.id.desc()).limit(limit)


async def session_page(
    ctx: Ctx,
    *,
    match: str | None = None,
    statuses: tuple[str, ...] | None = None,
    mine: bool = False,
    after: ListCursor | None = None,
    limit: int = 100,
) -> SessionPage:
    """One page of the session list as every view shows it: open sessions first, then closed ones, each most
    recent activity first, optionally only those matching ``match`` (searched in the store, not in memory).

    Keyset-paged on (updated_at, id) within each part, so a page costs the same at any depth and at any store
    size: each status is read from the index on (account_id, [owner_id,] status, updated_at, id), newest first,
    stopping at the page's end (`session_list_query`). A filter is served by the trigram indexes on Postgres;
    on SQLite it reads the account's sessions once per part. Pass the returned cursor as ``after`` for the next
    page."""
    for status in statuses or ():
        if status not in SESSION_STATUSES:
            raise UsageError(f"unknown status {status!r}", hint="one of: " + ", ".join(SESSION_STATUSES))
    found: list[SessionRow] = []
    for is_open in (True, False):
        if after is not None and after.open != is_open and is_open:
            continue  # the cursor is already in the closed part
        remaining = limit - len(found)
        stmt = session_list_query(ctx.account.id, ctx.db.bind.dialect.name, is_open, match=match, statuses=statuses,
                                  owner_id=ctx.engineer.id if mine else None, after=after, limit=remaining + 1)
        if stmt is None:
            continue
        if remaining <= 0:
            return SessionPage(found, ListCursor(open=is_open))
        rows = list((await ctx.db.execute(stmt)).scalars())
        if len(rows) > remaining:
            found += rows[:remaining]
            last = found[-1]
            return SessionPage(found, ListCursor(open=is_open, updated_at=last.updated_at, id=last.id))
        found += rows
    return SessionPage(found, None)


def split_open(items: list[T], status: Callable[[T], str]) -> tuple[list[T], list[T]]:
    """(open, closed), each in the given order: one pass, whatever the number of items."""
    open_items: list[T] = []
    closed_items: list[T] = []
    for item in items:
        (open_items if status(item) in OPEN_STATUSES else closed_items).append(item)
    return open_items, closed_items


async def count_sessions(ctx: Ctx) -> int:
    stmt = select(func.count()).select_from(SessionRow).where(SessionRow.account_id == ctx.account.id)
    return int((await ctx.db.execute(stmt)).scalar_one())


async def owner_name(ctx: Ctx, session: SessionRow) -> str:
    if session.owner_id == ctx.engineer.id:
        return ctx.engineer.display_name
    eng = await ctx.db.get(Engineer, session.owner_id)
    return eng.display_name if eng else "another engineer"


async def require_editable(ctx: Ctx, session: SessionRow) -> None:
    """Only the owner (the engineer who claimed it, after a claim) changes a session: core.permissions."""
    await require_can_modify(ctx, session)


def check_transition(session: SessionRow, target: str) -> None:
    """Raise ConflictError (changing nothing) unless ``session`` may move to ``target``."""
    current = session.status
    if target in TRANSITIONS.get(current, ()):
        return
    if current == target:
        raise ConflictError(f"session is already {current}")
    hint = None
    if current in ("resolved", "abandoned") and target != "active":
        hint = f"reopen it first: rfpilot sessions reopen {short_id(session.id)}"
    raise ConflictError(f"cannot {_VERB[target]} a session that is {current}", hint=hint)


def accrue_timers(session: SessionRow, now: datetime) -> None:
    """Add the time spent in the current status to the active or parked counter."""
    elapsed = max(0, int((now - session.status_changed_at).total_seconds()))
    if session.status == "active":
        session.active_seconds += elapsed
    elif session.status in PARKED_STATUSES:
        session.parked_seconds += elapsed
    session.status_changed_at = now


@dataclass(frozen=True)
class Timers:
    active_seconds: int
    parked_seconds: int


def live_timers(session: SessionRow, now: datetime) -> Timers:
    elapsed = max(0, int((now - session.status_changed_at).total_seconds()))
    return timers_after(Timers(session.active_seconds, session.parked_seconds), session.status, elapsed)


def timers_after(timers: Timers, status: str, seconds: int) -> Timers:
    """The timers ``seconds`` after they were read while the session stayed in ``status`` (the TUI ticks its
    header with this rather than reading the store again)."""
    seconds = max(0, int(seconds))
    return Timers(timers.active_seconds + (seconds if status == "active" else 0),
                  timers.parked_seconds + (seconds if status in PARKED_STATUSES else 0))


def set_status(ctx: Ctx, session: SessionRow, target: str) -> None:
    """Move to ``target`` in the caller's transaction (transition already checked)."""
    now = ctx.now()
    accrue_timers(session, now)
    session.status = target
    session.updated_at = now


def _clean_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = one_line(reason)
    if len(reason) > REASON_MAX:
        raise UsageError(f"the reason is too long ({len(reason)} characters; the limit is {REASON_MAX})")
    return reason or None


@owner_action("pause")
async def pause_session(ctx: Ctx, session: SessionRow) -> SessionRow:
    check_transition(session, "paused")
    async with ctx.tx():
        set_status(ctx, session, "paused")
    return session


@owner_action("resume")
async def resume_session(ctx: Ctx, session: SessionRow) -> SessionRow:
    """paused → active (sending a message does the same)."""
    if session.status not in RESUMABLE:
        raise ConflictError(f"only a paused session can be resumed; this one is {session.status}")
    from rfpilot.core.handoff_lock import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # resuming it yourself takes it out of the queue
        set_status(ctx, session, "active")
    return session


@owner_action("abandon")
async def abandon_session(ctx: Ctx, session: SessionRow, reason: str | None = None) -> SessionRow:
    check_transition(session, "abandoned")
    cleaned = _clean_reason(reason)
    from rfpilot.core.handoff_lock import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # an abandoned session no longer waits in the queue
        set_status(ctx, session, "abandoned")
        session.abandoned_at = ctx.now()
        session.abandon_reason = cleaned
    return session


@owner_action("reopen")
async def reopen_session(ctx: Ctx, session: SessionRow) -> SessionRow:
    """resolved/abandoned → active, on explicit request only."""
    if session.status not in REOPENABLE:
        raise ConflictError(f"only a resolved or abandoned session can be reopened; this one is {session.status}")
    async with ctx.tx():
        set_status(ctx, session, "active")
    return session


@owner_action("rename")
async def rename_session(ctx: Ctx, session: SessionRow, title: str) -> SessionRow:
    cleaned = one_line(title or "")
    if not cleaned:
        raise UsageError("the title is empty")
    if len(cleaned) > 200:
        raise UsageError(f"the title is too long ({len(cleaned)} characters; the limit is 200)")
    async with ctx.tx():
        session.title = cleaned
        session.updated_at = ctx.now()
    return session
