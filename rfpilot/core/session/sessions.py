"""Sessions: creation, listing, and the status machine of SPEC §3."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import (Integer, String, and_, bindparam, false, func, literal_column, or_, select, table, text,
                        tuple_, union_all)

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one, id_prefix, no_index
from rfpilot.core.session.permissions import owner_action, require_can_modify
from rfpilot.core.text import clip, one_line, short_id, title_from_text, truncate
from rfpilot.db.enums import CLOSED_STATUSES, OPEN_STATUSES, SESSION_STATUSES, split_open  # noqa: F401
from rfpilot.db.models import LIST_FILTER_TABLE, Engineer, SessionRow
from rfpilot.errors import ConflictError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select

INTAKE_MAX = 20_000
REASON_MAX = 500

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
# SQLite's index of the filtered columns (migration 0010): an FTS5 table with the trigram tokenizer, one row
# per session under the session's rowid. It finds a text of at least TRIGRAM characters.
TRIGRAM = 3
# A text the filter index finds in at most this many sessions: those are read and sorted (a few ms), rather than
# the list's index walked for them (which reads every session of the account when the text is rare).
FEW_MATCHES = 2_000
# A filter the index cannot serve (a text shorter than a trigram, a store without the index) first looks at the
# part's newest sessions, at most this many per status (`window_start_query`); only when they hold fewer matches
# than the page does it read the rest.
WINDOW = 5_000
# Postgres: a text found in at most this many sessions of the account is read whole and sorted (FEW), not
# looked for along the list's index, whatever the planner's statistics say (`postgres_filter_plan`).
PG_FEW_MATCHES = 1_000
# How a filter reads a part (`sqlite_filter_plan`, `postgres_filter_plan`).
ROWIDS, WALK, WINDOWED, SCAN, FEW = "rowids", "walk", "windowed", "scan", "few"
_filter_index_seen: WeakKeyDictionary = WeakKeyDictionary()  # engine -> whether it has LIST_FILTER_TABLE


async def has_list_filter_index(ctx: Ctx) -> bool:
    """Whether this SQLite store has the list filter's index (0010 leaves it out where SQLite has no FTS5
    trigram tokenizer). Read once per engine; Postgres: False (its trigram indexes need nothing of the query)."""
    bind = ctx.db.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    key = getattr(bind, "sync_engine", bind)
    if key not in _filter_index_seen:
        found = await ctx.db.execute(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
                                     {"name": LIST_FILTER_TABLE})
        _filter_index_seen[key] = found.first() is not None
    return _filter_index_seen[key]


def _index_matches(needle: str):
    """The rowids of the sessions whose title, client or ticket reference holds ``needle`` in the filter index,
    case folded (a phrase of its trigrams)."""
    phrase = '"' + needle.replace('"', '""') + '"'
    return select(literal_column("rowid")).select_from(table(LIST_FILTER_TABLE)).where(
        literal_column(LIST_FILTER_TABLE).op("MATCH")(phrase))


def _filter_needle(match: str) -> str:
    return one_line(match).casefold()


async def sqlite_filter_plan(ctx: Ctx, match: str) -> str:
    """How an SQLite filter for ``match`` reads each part of the list:

    - ROWIDS: the index finds the text in at most FEW_MATCHES sessions: read those (by rowid) and keep the
      newest matches of the account (`_scan_query` over the index's rowids);
    - WALK: a text the index finds more often: walk each status's list index newest first, checking each rowid
      against the index's matches, until the page is full (`_part_query`);
    - WINDOWED: no index for this text (shorter than a trigram, or no index in this store): walk the part's
      newest WINDOW sessions; if they hold fewer matches than the page, one pass over the part (SCAN).
    """
    needle = _filter_needle(match)
    if len(needle) < TRIGRAM or not await has_list_filter_index(ctx):
        return WINDOWED
    if any(needle in status for status in SESSION_STATUSES):
        return WALK  # every session of that status matches: each status on its own index
    found = select(func.count()).select_from(_index_matches(needle).limit(FEW_MATCHES + 1).subquery())
    return ROWIDS if (await ctx.db.execute(found)).scalar_one() <= FEW_MATCHES else WALK


async def postgres_filter_plan(ctx: Ctx, match: str, owner_id: str | None) -> str:
    """How a Postgres filter for ``match`` reads each part: FEW when the account holds at most PG_FEW_MATCHES
    matching sessions (counted up to one more, through the trigram indexes for a rare text), else WALK.

    Left to itself the planner walks the list's index for any text it expects to find often enough to fill a
    page soon: wrong for a text whose matches are all old (a run of ticket numbers: 130-200 ms at 100,000
    sessions) and for every text of a freshly imported table that autovacuum has not analysed yet (300-470 ms).
    A text shorter than a trigram is walked (no index serves it, and short texts are common)."""
    if len(_filter_needle(match)) < TRIGRAM:
        return WALK
    found: Select[Any] = select(literal_column("1")).where(_pg_no_index(SessionRow.account_id) == ctx.account.id,
                                             _match_clause(match, "postgresql"))
    if owner_id is not None:
        found = found.where(_pg_no_index(SessionRow.owner_id) == owner_id)
    found = found.limit(bindparam(None, PG_FEW_MATCHES + 1, type_=Integer, literal_execute=True))
    count = (await ctx.db.execute(select(func.count()).select_from(found.subquery()))).scalar_one()
    return FEW if count <= PG_FEW_MATCHES else WALK


def _pg_no_index(column):
    """``column || ''``: a condition on it can use no index, so a plan for it must come from the text's trigram
    indexes (or read the table). Without statistics (a table not yet analysed) Postgres takes the account's
    condition for a rare one and walks every session of the account through the list's index."""
    return column.op("||")(literal_column("''"))


def _few_query(account_id: str, match: str, owner_id: str | None, wanted: tuple[str, ...],
               after: ListCursor | None, limit: int):
    """Postgres, FEW: every match of the part, found through the trigram indexes (the account and owner are
    written so no other index serves them) in a materialised CTE (so no plan can walk the list's index for
    them), then the newest ``limit``."""
    matches = select(SessionRow).where(_pg_no_index(SessionRow.account_id) == account_id,
                                       _match_clause(match, "postgresql"), SessionRow.status.in_(wanted))
    if owner_id is not None:
        matches = matches.where(_pg_no_index(SessionRow.owner_id) == owner_id)
    if after is not None and after.updated_at is not None:
        matches = matches.where(tuple_(SessionRow.updated_at, SessionRow.id) < (after.updated_at, after.id))
    found = matches.cte("matches").prefix_with("MATERIALIZED")
    newest = select(found).order_by(found.c.updated_at.desc(), found.c.id.desc()).limit(
        bindparam(None, limit, type_=Integer, literal_execute=True))
    return select(SessionRow).from_statement(newest)


def _match_clause(match: str, dialect: str, indexed: bool = False):
    """Case-insensitive substring of the title, client or ticket reference, a status the text is part of,
    or a prefix of the id.

    ILIKE on Postgres (a pg_trgm index on these columns serves it); plain LIKE on SQLite, which already ignores
    the case of ASCII letters (as lower() does there: neither folds other letters without ICU). The status is
    matched here, so the store sees `status IN (…)`, which its index serves: an OR branch no index can serve
    would make the whole match a scan. ``indexed`` (SQLite with the filter index, a text of 3 characters or
    more): the LIKE is checked only on the sessions the index names. The index folds case as much as LIKE does
    or more, so it names every session the LIKE matches; the LIKE decides."""
    needle = _filter_needle(match)
    if len(needle) > _LONGEST_MATCHED:
        return false()  # longer than every column it is matched against (and past SQLite's LIKE pattern limit)
    # The pattern is built here, not in SQL, so Postgres's planner sees a plain ILIKE '%…%' constant. It is sent
    # as a literal (rendered and quoted by SQLAlchemy at execution): as a bound parameter of a prepared statement,
    # Postgres would switch to a generic plan after five runs, one that cannot know whether the trigram indexes
    # help, and walk the whole account instead (5 ms → 300–500 ms at 100,000 sessions).
    escaped = needle.replace("/", "//").replace("%", "/%").replace("_", "/_")
    columns = (SessionRow.title, SessionRow.client_name, SessionRow.ticket_ref)
    if dialect == "sqlite":
        clauses: list[ColumnElement[bool]] = [col.like(f"%{escaped}%", escape="/") for col in columns]
    else:
        pattern = bindparam(None, f"%{escaped}%", type_=String, literal_execute=True)
        clauses = [col.ilike(pattern, escape="/") for col in columns]
    if indexed:
        clauses = [and_(literal_column("sessions.rowid").in_(_index_matches(needle)), or_(*clauses))]
    statuses = [status for status in SESSION_STATUSES if needle in status]
    if statuses:
        clauses.append(SessionRow.status.in_(statuses))
    if _ID_PREFIX.fullmatch(needle):
        clauses.append(id_prefix(SessionRow.id, needle))  # as core.lookup.find_one
    return or_(*clauses)


def _part_query(base, wanted: tuple[str, ...], after: ListCursor | None, limit: int, since=None):
    """The first ``limit`` sessions of ``base`` in one of ``wanted`` statuses, after ``after``, newest first
    (``since``: an (updated_at, id) they are all at or after).

    One branch per status, each an equality on the status followed by the order, so an index on
    (account_id, [owner_id,] status, updated_at, id) returns it in order and it stops after ``limit`` rows; the
    branches' at most ``limit`` × statuses rows are then merged by one small sort. (``status IN (…)`` would
    read every session of those statuses and sort them all: the whole closed part of a big store.)"""
    # The limit is written into the SQL, not bound: a prepared statement's generic plan (Postgres, after five
    # runs) does not know a bound limit and plans for many rows, which walks the whole account for a rare filter.
    limit_sql = bindparam(None, limit, type_=Integer, literal_execute=True)
    branches = []
    for status in wanted:
        branch = base.where(SessionRow.status == status)
        if after is not None and after.updated_at is not None:
            branch = branch.where(tuple_(SessionRow.updated_at, SessionRow.id) < (after.updated_at, after.id))
        if since is not None:
            branch = branch.where(tuple_(SessionRow.updated_at, SessionRow.id) >= tuple(since))
        branches.append(branch.order_by(SessionRow.updated_at.desc(), SessionRow.id.desc()).limit(limit))
    if len(branches) == 1:
        return branches[0]
    # The merge orders the union by its own columns' names and loads the rows as sessions (an aliased entity over
    # the union would cost ~20 ms of SQLAlchemy's column matching per call).
    merged = union_all(*(select(branch.subquery()) for branch in branches))
    merged = merged.order_by(literal_column("updated_at").desc(), literal_column("id").desc()).limit(limit_sql)
    return select(SessionRow).from_statement(merged)


def _wanted(is_open: bool, statuses: tuple[str, ...] | None) -> tuple[str, ...]:
    return tuple(s for s in (OPEN_STATUSES if is_open else CLOSED_STATUSES) if not statuses or s in statuses)


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
    sqlite_plan: str = WINDOWED,
    since=None,
    postgres_plan: str = WALK,
):
    """The statement reading the open (``is_open``) or closed part of a page of `session_page`: at most
    ``limit`` sessions after ``after`` (a cursor in this part), or None when ``statuses`` leave the part empty.
    A filter on SQLite reads as ``sqlite_plan`` says (`sqlite_filter_plan`); WINDOWED only sessions at or after
    ``since`` (`window_start_query`; None: the whole part, which is no bigger than the window). A filter on
    Postgres reads as ``postgres_plan`` says (`postgres_filter_plan`).
    Exposed so the query-plan tests check the very SQL the list runs."""
    wanted = _wanted(is_open, statuses)
    if not wanted:
        return None
    after = after if after is not None and after.open == is_open else None
    if not (match and match.strip()):
        match = None
    filtered = match is not None
    if match is not None and dialect == "sqlite" and sqlite_plan in (ROWIDS, SCAN):
        return _scan_query(account_id, _match_clause(match, dialect, indexed=sqlite_plan == ROWIDS), wanted,
                           owner_id, after, limit)
    base = select(SessionRow).where(SessionRow.account_id == account_id)
    if owner_id is not None:
        base = base.where(SessionRow.owner_id == owner_id)
    if match is not None and dialect != "sqlite" and postgres_plan == FEW:
        return _few_query(account_id, match, owner_id, wanted, after, limit)
    if match is not None:
        base = base.where(_match_clause(match, dialect, indexed=dialect == "sqlite" and sqlite_plan == WALK))
    return _part_query(base, wanted, after, limit, since if filtered and dialect == "sqlite" else None)


def window_start_query(account_id: str, is_open: bool, *, statuses: tuple[str, ...] | None = None,
                       owner_id: str | None = None, after: ListCursor | None = None):
    """For each status of the part that has more than WINDOW sessions after ``after``: the (updated_at, id) of
    its WINDOW-th newest, read from the list's index alone. A WINDOWED filter looks first at the sessions newer
    than the latest of these (every status's, so the window is a span of time: its matches are the newest
    ones), at most WINDOW per status."""
    wanted = _wanted(is_open, statuses)
    after = after if after is not None and after.open == is_open else None
    branches = []
    for status in wanted:
        branch = select(SessionRow.updated_at, SessionRow.id).where(SessionRow.account_id == account_id,
                                                                     SessionRow.status == status)
        if owner_id is not None:
            branch = branch.where(SessionRow.owner_id == owner_id)
        if after is not None and after.updated_at is not None:
            branch = branch.where(tuple_(SessionRow.updated_at, SessionRow.id) < (after.updated_at, after.id))
        branch = branch.order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
        branches.append(branch.offset(bindparam(None, WINDOW - 1, type_=Integer, literal_execute=True)).limit(1))
    if len(branches) == 1:
        return branches[0]
    return union_all(*(select(branch.subquery()) for branch in branches))


def _scan_query(account_id: str, match, wanted: tuple[str, ...], owner_id: str | None, after: ListCursor | None,
                limit: int):
    """A filtered part on SQLite read in one pass, keeping the newest ``limit`` matches (SQLite's bounded
    sorter): over the filter index's few matches (ROWIDS), or, when the newest WINDOW sessions of a part held
    fewer matches than the page, over the whole table (SCAN). Walking the list's index instead would pay a row
    lookup per session for a rare text: 100,000 sessions cost ~110 ms that way against ~45 ms for the pass.
    The unary plus keeps the planner off the list's indexes."""
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
    stopping at the page's end (`session_list_query`). A filter is served by the trigram indexes on Postgres
    (`postgres_filter_plan`), and on SQLite by the filter index (0010) as `sqlite_filter_plan` chooses. Pass
    the returned cursor as ``after`` for the next page."""
    for status in statuses or ():
        if status not in SESSION_STATUSES:
            raise UsageError(f"unknown status {status!r}", hint="one of: " + ", ".join(SESSION_STATUSES))
    found: list[SessionRow] = []
    dialect = ctx.db.get_bind().dialect.name
    owner_id = ctx.engineer.id if mine else None
    if match and len(_filter_needle(match)) > _LONGEST_MATCHED:
        return SessionPage([], None)  # longer than every field it is matched against: nothing to ask the store
    plan = pg_plan = None
    if match and match.strip() and dialect == "sqlite":
        plan = await sqlite_filter_plan(ctx, match)
    elif match and match.strip():
        pg_plan = await postgres_filter_plan(ctx, match, owner_id)
    for is_open in (True, False):
        if after is not None and after.open != is_open and is_open:
            continue  # the cursor is already in the closed part
        if not _wanted(is_open, statuses):
            continue
        remaining = limit - len(found)
        if remaining <= 0:
            return SessionPage(found, ListCursor(open=is_open))
        since = None
        if plan == WINDOWED:
            start = window_start_query(ctx.account.id, is_open, statuses=statuses, owner_id=owner_id, after=after)
            since = max((tuple(row) for row in await ctx.db.execute(start)), default=None)
        stmt = session_list_query(ctx.account.id, dialect, is_open, sqlite_plan=plan or WINDOWED, since=since,
                                  postgres_plan=pg_plan or WALK, match=match, statuses=statuses,
                                  owner_id=owner_id, after=after, limit=remaining + 1)
        rows = list((await ctx.db.execute(stmt)).scalars())
        if since is not None and len(rows) <= remaining:
            # The window held fewer matches than the rest of the page: the whole part, in one pass.
            stmt = session_list_query(ctx.account.id, dialect, is_open, sqlite_plan=SCAN, match=match,
                                      statuses=statuses, owner_id=owner_id, after=after, limit=remaining + 1)
            rows = list((await ctx.db.execute(stmt)).scalars())
        if len(rows) > remaining:
            found += rows[:remaining]
            last = found[-1]
            return SessionPage(found, ListCursor(open=is_open, updated_at=last.updated_at, id=last.id))
        found += rows
    return SessionPage(found, None)


async def count_sessions(ctx: Ctx) -> int:
    stmt = select(func.count()).select_from(SessionRow).where(SessionRow.account_id == ctx.account.id)
    return int((await ctx.db.execute(stmt)).scalar_one())


async def owner_name(ctx: Ctx, session: SessionRow) -> str:
    if session.owner_id == ctx.engineer.id:
        return ctx.engineer.display_name
    eng = await ctx.db.get(Engineer, session.owner_id)
    return eng.display_name if eng else "another engineer"


async def require_editable(ctx: Ctx, session: SessionRow) -> None:
    """Only the owner (the engineer who claimed it, after a claim) changes a session: core.session.permissions."""
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
    from rfpilot.core.session.handoff_lock import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # resuming it yourself takes it out of the queue
        set_status(ctx, session, "active")
    return session


@owner_action("abandon")
async def abandon_session(ctx: Ctx, session: SessionRow, reason: str | None = None) -> SessionRow:
    check_transition(session, "abandoned")
    cleaned = _clean_reason(reason)
    from rfpilot.core.session.handoff_lock import withdraw_open_handoffs

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
