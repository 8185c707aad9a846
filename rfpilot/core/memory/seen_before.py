""""Seen before" inside a live session (issue 17, part 2): the few closed sessions of the team most like this one,
kept per session so that reading them is one query, and dismissable for good.

- **When they are found.** Lazily, on read (``matches``, the model's ``model_block``): a session whose matches were
  never found (just started, from text or a ticket) or whose title, problem or live facts changed since is
  searched again (``core.memory.similar.similar_to_row``: the search index, offline, no model), and so is
  one whose search predates the latest change to the account's closed sessions (a case resolved since). The check
  is cheap: ``seen_before_runs`` keeps the session's ``state_version`` and a digest of the query the matches were
  found for; an unchanged state_version, title and closed-sessions mark mean no read of the facts at all. Nothing here runs inside the
  transaction that writes a fact: the facts change, the next read notices.
- **Where they are written.** Only the derived rows (``seen_before_runs``, ``seen_before_matches``), in a
  transaction of their own on a fresh database session, and only when the caller is between transactions: a
  read never holds up a write, a refresh that loses a race with another process's keeps the other's rows, and a
  refresh that fails keeps the matches found before (logged, never raised: seeing the session matters more).
- **Dismissing** a match (the owner only, through ``owner_action``) keeps its row with ``dismissed_at``: it is
  left out of every later search for this session, so it never comes back; the next read fills its place.
- **What is shown** of an earlier session: its title, client and status as the store says now; what fixed it (or
  why it was escalated), its dead ends and its active time to resolve as found. Text is stored and handed on as
  written: the CLI and the TUI make it inert on the way to a terminal, the model block folds it to single lines.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import id_prefix, normalise_ref
from rfpilot.core.session.permissions import owner_action
from rfpilot.core.text import iso, one_line, short_id, truncate
from rfpilot.core.view_types import SeenBeforeView
from rfpilot.db.models import Fact, SeenBeforeMatch, SeenBeforeRun, SessionRow
from rfpilot.db.types import utcnow
from rfpilot.errors import NotFoundError, UsageError
from rfpilot.textsafe import inert

if TYPE_CHECKING:  # only named in annotations: the search is imported when a refresh runs
    from rfpilot.core.memory.similar import Similar

log = logging.getLogger("rfpilot.memory")

LIMIT = 3  # matches shown per session
CLOSED = ("resolved", "escalated")
# The model block: at most this many bytes in all (~1,500 tokens at context_budget's 3 bytes a token), each match
# at most MATCH_BYTES of it.
BLOCK_BYTES = 4_500
MATCH_BYTES = 1_350
FIELD_CHARS = 300  # a title, fix or reason in the block
DEAD_ENDS = 3  # dead ends per match in the block
DEAD_END_CHARS = 160

MODEL_HEADER = ("# Seen before (earlier sessions of this team like this one; matched by rfpilot, not the engineer)\n"
                "Each starts with its id. To propose a fix that worked there, say so with its id and name it in "
                "the SUGGEST_FIX block's seen_before field.")


# --- reading -----------------------------------------------------------------------------------------------------


# Part of every stored query's digest: raising it makes every session's stored matches stale, so they are found
# (and their details written) again on the next read. 2: "fixed by" no longer falls back to a close's default
# summary line, which restates the problem (core.memory.outcome).
MATCHING_VERSION = 2


def _head_digest(session: SessionRow) -> str:
    """What the session's row itself puts in the query: a change here means a new search (no facts read)."""
    head = [session.title or "", session.problem_summary or "", session.intake_text or "", session.client_name or "",
            MATCHING_VERSION]
    return hashlib.sha256(json.dumps(head, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _latest_closed(ctx: Ctx) -> list[Any]:
    """When the account's closed sessions last changed (one was resolved, escalated, reopened, edited), per closed
    status: a change here means a new search too, so a live session learns of a case closed after its own search.
    Two index seeks (ix_sessions_account_status_updated), whatever the store's size."""
    return [select(func.max(SessionRow.updated_at))
            .where(SessionRow.account_id == ctx.account.id, SessionRow.status == status).scalar_subquery()
            for status in CLOSED]


def _closed_mark(latest: Sequence[Any]) -> str:
    return hashlib.sha256(repr(tuple(iso(v) for v in latest)).encode()).hexdigest()[:16]


async def _basis(ctx: Ctx, session: SessionRow, mark: str) -> str:
    """The query's digest, 64 hex characters: the session's head (16), the closed sessions' mark (16) and its live
    facts (32) as one aggregate row (how many, the latest written and changed): a fact added, edited or removed
    changes it, and no fact row is read, however many the session has."""
    row = (await ctx.db.execute(
        select(func.count(), func.max(Fact.created_at), func.max(Fact.updated_at))
        .where(Fact.session_id == session.id, Fact.deleted_at.is_(None))
    )).one()
    facts = hashlib.sha256(repr((int(row[0]), iso(row[1]), iso(row[2]))).encode()).hexdigest()[:32]
    return _head_digest(session) + mark + facts


async def _stored(ctx: Ctx, session: SessionRow, *, dismissed: bool = False) -> list[SeenBeforeView]:
    """The session's matches as stored, best first (dismissed ones only when asked, after the others)."""
    stmt = (
        select(SeenBeforeMatch, SessionRow.title, SessionRow.client_name, SessionRow.status)
        .join(SessionRow, SessionRow.id == SeenBeforeMatch.match_session_id)
        .where(SeenBeforeMatch.session_id == session.id, SessionRow.account_id == ctx.account.id)
        .order_by(SeenBeforeMatch.dismissed_at.is_not(None), SeenBeforeMatch.rank, SeenBeforeMatch.id)
    )
    if not dismissed:
        stmt = stmt.where(SeenBeforeMatch.dismissed_at.is_(None), SessionRow.status.in_(CLOSED))
    rows = (await ctx.db.execute(stmt)).all()
    return [_view(match, title, client, status) for match, title, client, status in rows]


def _view(match: SeenBeforeMatch, title: str | None, client: str | None, status: str) -> SeenBeforeView:
    detail: dict[str, Any] = match.detail or {}
    dead_ends = detail.get("dead_ends") or []
    return {
        "id": match.match_session_id,
        "ref": f"#{short_id(match.match_session_id)}",
        "rank": match.rank,
        "score": round(float(match.score), 4),
        "title": title or "(untitled)",
        "client_name": client,
        "status": status,
        "same_client": bool(detail.get("same_client")),
        "fixed_by": detail.get("fixed_by"),
        "fix_template_slug": detail.get("fix_template_slug"),
        "escalation_reason": detail.get("escalation_reason"),
        "dead_ends": [str(d) for d in dead_ends] if isinstance(dead_ends, list) else [],
        "active_seconds": int(detail.get("active_seconds") or 0),
        "closed_at": detail.get("closed_at"),
        "dismissed": match.dismissed_at is not None,
        "dismissed_at": iso(match.dismissed_at),
    }


async def matches(ctx: Ctx, session: SessionRow, *, refresh: bool = True,
                  dismissed: bool = False) -> list[SeenBeforeView]:
    """Up to three earlier sessions like this one, best first (found again first when the session changed and
    ``refresh``); ``dismissed``: the dismissed ones too, after them."""
    if refresh:
        await refresh_if_stale(ctx, session)
    return await _stored(ctx, session, dismissed=dismissed)


# --- finding ------------------------------------------------------------------------------------------------------


async def refresh_if_stale(ctx: Ctx, session: SessionRow, *, force: bool = False) -> bool:
    """Search again when the session changed since its matches were found; True when the stored matches changed.
    Only between transactions (a caller inside one reads what is stored); never raises for a failed search."""
    if ctx._depth:  # noqa: SLF001 - inside a caller's transaction: a second connection's write could wait on it
        return False
    # The stored run (None, None when the session has none yet), how many matches were dismissed and the closed
    # sessions' mark: one statement.
    def of_run(column: Any) -> Any:
        return select(column).where(SeenBeforeRun.session_id == session.id).scalar_subquery()

    dismissals = (select(func.count()).select_from(SeenBeforeMatch)
                  .where(SeenBeforeMatch.session_id == session.id, SeenBeforeMatch.dismissed_at.is_not(None))
                  .scalar_subquery())
    version, stored, dismissed_count, *latest = (await ctx.db.execute(
        select(of_run(SeenBeforeRun.state_version), of_run(SeenBeforeRun.basis), dismissals,
               *_latest_closed(ctx)))).one()
    mark = _closed_mark(latest)
    had_run = stored is not None
    if not force and had_run and version == session.state_version and stored[:32] == _head_digest(session) + mark:
        return False
    basis = await _basis(ctx, session, mark)
    if not force and had_run and stored == basis:
        await _write(ctx, session, basis, None, had_run=True)  # same query at a newer state_version: nothing to search
        return False
    try:
        from rfpilot.core.memory.similar import similar_to_row

        dismissed = set((await ctx.db.execute(
            select(SeenBeforeMatch.match_session_id)
            .where(SeenBeforeMatch.session_id == session.id, SeenBeforeMatch.dismissed_at.is_not(None))
        )).scalars()) if dismissed_count else set()
        found = [s for s in await similar_to_row(ctx, session, limit=LIMIT + len(dismissed))
                 if s.session_id not in dismissed and s.session_id != session.id][:LIMIT]
    except Exception:  # noqa: BLE001 - the module docstring: the matches found before stay
        log.warning("seen before: the search failed; the matches found before stay", exc_info=True,
                    extra={"session": session.id})
        return False
    return await _write(ctx, session, basis, found, had_run=had_run)


async def _write(ctx: Ctx, session: SessionRow, basis: str, found: Sequence[Similar] | None, *,
                 had_run: bool) -> bool:
    """Store the run (and ``found``, replacing the matches not dismissed) in a transaction of a fresh database
    session: the run inserted, or updated when ``had_run`` (the session had one when the check read it). A race
    lost to another process (its rows are there first) is no error: its rows stand."""
    from sqlalchemy.exc import IntegrityError

    # The wall clock, not ctx.now(): bookkeeping no one is shown, and a read must not move a test's stepping
    # clock (every snapshot's timers would shift by the searches made while seeding it).
    now = utcnow()
    try:
        async with type(ctx.db)(bind=ctx.db.bind, expire_on_commit=False) as db:
            fresh = dataclasses.replace(ctx, db=db, _depth=0)
            async with fresh.tx():
                if had_run:
                    await db.execute(update(SeenBeforeRun).where(SeenBeforeRun.session_id == session.id).values(
                        state_version=session.state_version, basis=basis, computed_at=now))
                else:
                    db.add(SeenBeforeRun(session_id=session.id, account_id=session.account_id,
                                         state_version=session.state_version, basis=basis, computed_at=now))
                if found is not None:
                    await db.execute(delete(SeenBeforeMatch).where(
                        SeenBeforeMatch.session_id == session.id, SeenBeforeMatch.dismissed_at.is_(None)))
                    for rank, similar in enumerate(found, start=1):
                        db.add(SeenBeforeMatch(
                            account_id=session.account_id, session_id=session.id,
                            match_session_id=similar.session_id, rank=rank, score=float(similar.score),
                            state_version=session.state_version, detail=_detail(similar), computed_at=now))
    except IntegrityError:
        log.info("seen before: another process stored this session's matches first", extra={"session": session.id})
        return False
    return found is not None


def _detail(similar: Similar) -> dict[str, Any]:
    return {
        "same_client": bool(similar.same_client),
        "fixed_by": similar.fixed_by,
        "fix_template_slug": similar.fix_template_slug,
        "escalation_reason": similar.escalation_reason,
        "dead_ends": [str(d) for d in similar.dead_ends],
        "active_seconds": int(similar.active_seconds or 0),
        "closed_at": iso(similar.closed_at),
    }


# --- dismissing -----------------------------------------------------------------------------------------------------


def _ref_key(ref: str) -> str:
    return normalise_ref((ref or "").strip().lstrip("#"), "seen-before match")


async def find_match(ctx: Ctx, session: SessionRow, ref: str, *, dismissed: bool = False) -> SeenBeforeMatch:
    """The session's match whose earlier session's id starts with ``ref`` (``#abcd1234``, a prefix or a whole id)."""
    key = _ref_key(ref)
    stmt = select(SeenBeforeMatch).where(SeenBeforeMatch.session_id == session.id,
                                         id_prefix(SeenBeforeMatch.match_session_id, key))
    if not dismissed:
        stmt = stmt.where(SeenBeforeMatch.dismissed_at.is_(None))
    found = list((await ctx.db.execute(stmt.order_by(SeenBeforeMatch.rank).limit(2))).scalars())
    if not found:
        raise NotFoundError(f"session {short_id(session.id)} has no seen-before match {ref.strip()!r}",
                            hint=f"`rfpilot sessions show {short_id(session.id)}` lists its matches")
    if len(found) > 1:
        raise UsageError(f"{ref.strip()!r} names more than one seen-before match", hint="give more of the id")
    return found[0]


@owner_action("dismiss a seen-before match of")
async def dismiss(ctx: Ctx, session: SessionRow, ref: str) -> SeenBeforeView:
    """Dismiss the match ``ref`` for this session: it never comes back for it (the next read finds another in its
    place). Dismissing one already dismissed changes nothing."""
    _ref_key(ref)
    await refresh_if_stale(ctx, session)
    match = await find_match(ctx, session, ref, dismissed=True)
    if match.dismissed_at is None:
        async with ctx.tx():
            match.dismissed_at = ctx.now()
            match.dismissed_by = ctx.engineer.id
            run = await ctx.db.get(SeenBeforeRun, session.id)
            if run is not None:
                run.basis = ""  # search again on the next read, for a match in its place
    row = await ctx.db.get(SessionRow, match.match_session_id)
    return _view(match, row.title if row else None, row.client_name if row else None, row.status if row else "")


# --- for the model -----------------------------------------------------------------------------------------------------


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore").rstrip() + "…"


def _field(text: str | None, limit: int = FIELD_CHARS) -> str:
    """One line of at most ``limit`` characters, its controls made visible (an earlier session's text is the
    team's, not rfpilot's: nothing in it reaches the model as an escape sequence or a fake line of the block)."""
    return truncate(inert(text), limit)


def match_lines(match: SeenBeforeView) -> str:
    """One match as the model reads it: single lines, each field cut, the whole at most MATCH_BYTES."""
    head = f"{match['ref']} · {match['status']} · {_field(match['title'])}"
    if match["client_name"]:
        head += f" · client {_field(match['client_name'], 100)}" + (" (this client)" if match["same_client"] else "")
    lines = [head]
    if match["fixed_by"]:
        lines.append(f"  Fixed by: {_field(match['fixed_by'])}"
                     + (f" (script template {_field(match['fix_template_slug'], 100)})"
                        if match["fix_template_slug"] else ""))
    if match["escalation_reason"]:
        lines.append(f"  Escalated: {_field(match['escalation_reason'])}")
    ends = [_field(d, DEAD_END_CHARS) for d in match["dead_ends"][:DEAD_ENDS] if one_line(d)]
    if ends:
        lines.append("  Dead ends: " + "; ".join(ends))
    if match["active_seconds"]:
        lines.append(f"  Time to resolve: {max(1, match['active_seconds'] // 60)} min of active work")
    return _cut_bytes("\n".join(lines), MATCH_BYTES)


def model_block(views: Sequence[SeenBeforeView]) -> str:
    """The uncached block the chat turn appends after the cached prefix ('' when there is no match)."""
    if not views:
        return ""
    return _cut_bytes("\n".join([MODEL_HEADER, *(match_lines(v) for v in views[:LIMIT])]), BLOCK_BYTES)


async def for_model(ctx: Ctx, session: SessionRow, *, refresh: bool = False) -> tuple[str, list[SeenBeforeView]]:
    """The block for this turn and the matches it names. As stored, unless ``refresh``: the chat turn itself never
    searches (one read, no commit: a turn costs the same statements whatever the facts did); the callers read the
    matches, which searches when stale, before a turn (the CLI's `chat`) and after it (the TUI's lane, `chat`'s
    output), so the next turn sees what the last one's facts changed."""
    views = await matches(ctx, session, refresh=refresh)
    return model_block(views), views
