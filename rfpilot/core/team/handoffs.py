"""Handoffs and the team queue (SPEC §10): park or escalate a session, and let a colleague claim it.

* **Park** asks what the engineer is waiting on (required) and pauses the session; **escalate** moves it to
  escalated with an assessment of where the diagnosis stands (``likely_cause``, ``suggested_steps``,
  ``confidence``), written by one model call when a model is configured, else restated from stored state.
  Escalating here only queues the session for a colleague: the escalation package and its PSA note stay with
  ``rfpilot escalate`` (core.closeout.closing).
* Both take a snapshot *before* the status changes: the problem, the status, the branch map, the next step, what
  is waited on, what was ruled out, the ticket, the timers and how many facts are recorded.
* The queue is the account's unclaimed, not withdrawn handoffs of sessions still waiting (paused or escalated):
  elevated first, then oldest first.
* A claim is one conditional UPDATE: the row lock it takes serialises competing claims and its WHERE clause is
  evaluated against the latest committed row, so exactly one claimer sees a row count of 1. The winner, in the
  same transaction, takes the session over, reactivates it and stores a briefing restated from the handoff; a
  model's briefing, when one is configured, replaces it after the commit (no row stays locked during a model
  call).
* An owner who resumes a parked session (``sessions resume``, or a message on a paused session) takes it back
  out of the queue: ``withdraw_open_handoffs`` in that transaction. Escalating, resolving and abandoning it do
  the same; a handoff whose session no longer waits the way it said (``WAITING_STATUS``) is neither listed nor
  claimable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import and_, case, func, or_, select, update

from rfpilot.core.session import branches as branch_service
from rfpilot.core.session import fixes as fix_service
from rfpilot.core.session import lane as lane_service
from rfpilot.core.context import Ctx
from rfpilot.core.session.handoff_lock import lock_session as _lock_session
from rfpilot.core.session.handoff_lock import withdraw_open_handoffs
from rfpilot.core.lookup import find_one
from rfpilot.core.session.permissions import owner_action, require_can_modify, team_action
from rfpilot.core.session.sessions import check_transition, intake_of, live_timers, set_status
from rfpilot.core.text import age, as_sentence, duration, one_line, problem_paragraphs, short_id, truncate
from rfpilot.core.view_types import (
    Assessment,
    ClaimedSession,
    ClaimView,
    HandoffAssessment,
    HandoffSnapshot,
    HandoffView,
    ProblemView,
    QueueItemView,
)
from rfpilot.grammar import count
from rfpilot.db.models import Engineer, LaneItem, SessionBranch, SessionHandoff, SessionRow, SuggestedFix
from rfpilot.db.types import new_id
from rfpilot.errors import ConflictError, NotFoundError, UsageError

if TYPE_CHECKING:
    from sqlalchemy import CursorResult  # an UPDATE's result: its rowcount

WAITING_MAX = 2_000
NOTES_MAX = 4_000
CONFIDENCES = ("low", "medium", "high")
# The model tier these calls use: short structured work, like the branch summaries (llm_usage.action "summary").
LLM_ACTION = "summary"
ASSESSMENT_MAX_TOKENS = 600
BRIEFING_MAX_TOKENS = 600
RECENT_MESSAGES = 10
STEPS_MAX = 5
HIGH_PCT = 75
MEDIUM_PCT = 50


# --- small helpers ----------------------------------------------------------------------------------


def _clean(text: str | None, what: str, limit: int, *, required: bool, hint: str | None = None) -> str | None:
    cleaned = (text or "").strip()
    if not cleaned:
        if required:
            raise UsageError(f"{what} is empty", hint=hint)
        return None
    if len(cleaned) > limit:
        raise UsageError(f"{what} is too long ({len(cleaned)} characters; the limit is {limit})")
    return cleaned


def _stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "an unknown time"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _q(title: str) -> str:
    return f'"{title}"'


async def _names(ctx: Ctx, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = await ctx.db.execute(select(Engineer.id, Engineer.display_name).where(Engineer.id.in_(wanted)))
    return {engineer_id: name for engineer_id, name in rows.all()}


async def open_handoffs(ctx: Ctx, session: SessionRow) -> list[SessionHandoff]:
    """The session's handoffs still waiting in the queue (neither claimed nor withdrawn)."""
    stmt = (select(SessionHandoff)
            .where(SessionHandoff.session_id == session.id, SessionHandoff.claimed_by.is_(None),
                   SessionHandoff.withdrawn_at.is_(None))
            .order_by(SessionHandoff.created_at, SessionHandoff.id))
    return list((await ctx.db.execute(stmt)).scalars())


# --- the snapshot -----------------------------------------------------------------------------------


def _problem_text(session: SessionRow) -> str | None:
    """One line: the problem summary, else the intake's (a ticket's summary as a sentence, then its description)."""
    if session.problem_summary and session.problem_summary.strip():
        return truncate(session.problem_summary, 500)
    parts = problem_paragraphs(intake_of(session), session.intake_type == "psa_ticket")
    return truncate(" ".join([as_sentence(p) for p in parts[:-1]] + parts[-1:]), 500) if parts else None


async def _open_lane_items(ctx: Ctx, session: SessionRow) -> list[LaneItem]:
    return [item for item in await lane_service.list_items(ctx, session) if item.state == "open"]


def _lane_step(item: LaneItem) -> str:
    if item.kind == "question":
        return f"Answer the open question: {one_line(item.text)}"
    command = one_line(item.command) if item.command and "\n" not in item.command.strip() else ""
    return f"Run the check: {one_line(item.text)}" + (f" (`{command}`)" if command and len(command) <= 120 else "")


def _fix_step(fix: SuggestedFix | None) -> str | None:
    """What the active fix still asks for, if anything."""
    if fix is None:
        return None
    title = _q(fix.title)
    if fix.status == "proposed" and fix.applied_at is not None:
        return f"Confirm whether {title} fixed it (applied; the outcome is not recorded yet)."
    if fix.status == "proposed":
        return f"Decide on the proposed fix {title} ({fix.confidence_pct}% confidence)."
    if fix.status == "applied_pending":
        what = one_line(fix.pending_reason).rstrip(".") if fix.pending_reason else "the pending verification"
        return f"Follow up on {what}, then confirm whether {title} fixed it."
    if fix.status == "applied_partial":
        notes = f" ({one_line(fix.partial_notes).rstrip('.')})" if fix.partial_notes else ""
        return f"Complete {title}{notes} and verify it."
    return None


async def next_step(ctx: Ctx, session: SessionRow) -> str | None:
    """The first open question or check; without one, what the active fix still needs."""
    items = await _open_lane_items(ctx, session)
    if items:
        return _lane_step(items[0])
    return _fix_step(await fix_service.active_fix(ctx, session))


async def watch_out(ctx: Ctx, session: SessionRow) -> list[str]:
    """What the next engineer should not try again: dead-end hypotheses and fixes that did not work."""
    lines = []
    for branch in await branch_service.dead_ends(ctx, session):
        reason = f" — {one_line(branch.status_reason)}" if branch.status_reason else ""
        lines.append(truncate(f"ruled out: {branch.label}{reason}", 300))
    for fix in await fix_service.list_fixes(ctx, session):
        if fix.status == "applied_failed":
            reason = f" — {one_line(fix.failure_reason)}" if fix.failure_reason else ""
            lines.append(truncate(f"ruled out: the fix {_q(fix.title)} did not work{reason}", 300))
    return lines


async def _facts_count(ctx: Ctx, session: SessionRow) -> int:
    from rfpilot.core.session.facts import count_facts

    return await count_facts(ctx, session)


async def build_snapshot(ctx: Ctx, session: SessionRow, waiting_on: str | None) -> HandoffSnapshot:
    """Where the session stands, for whoever picks it up (taken before the status changes)."""
    now = ctx.now()
    timers = live_timers(session, now)
    branch_map = await branch_service.branch_map(ctx, session)
    active = next((b for b in branch_map if b["active"]), None)
    return {
        "problem": ProblemView(title=session.title, summary=_problem_text(session), domain=session.problem_domain,
                               client=session.client_name),
        "status": session.status,
        "branch_map": branch_map,
        "active_branch": active["label"] if active else None,
        "next_step": await next_step(ctx, session),
        "waiting_on": waiting_on,
        "watch_out": await watch_out(ctx, session),
        "ticket_ref": session.ticket_ref,
        "active_seconds": timers.active_seconds,
        "parked_seconds": timers.parked_seconds,
        "facts_count": await _facts_count(ctx, session),
        "taken_at": now.isoformat(),
    }


def _new_handoff(
    ctx: Ctx, session: SessionRow, intent: str, priority: str, snapshot: HandoffSnapshot, notes: str | None,
    assessment: HandoffAssessment | None = None,
) -> SessionHandoff:
    """A handoff row whose id exists before the flush (the seed stored "None" for a lazily made id)."""
    return SessionHandoff(
        id=new_id(), account_id=ctx.account.id, session_id=session.id, handed_off_by=ctx.engineer.id,
        intent=intent, priority=priority, source_branch_id=session.active_branch_id, snapshot=snapshot,
        ai_assessment=assessment, engineer_notes=notes, created_at=ctx.now(),
    )


# --- park ---------------------------------------------------------------------------------------------


async def _refuse_if_waiting(ctx: Ctx, session: SessionRow) -> None:
    waiting = await open_handoffs(ctx, session)
    if waiting:
        raise ConflictError(
            f"session {short_id(session.id)} already waits in the queue (handoff {short_id(waiting[0].id)}, "
            f"{waiting[0].intent})",
            hint="resume it first (`rfpilot sessions resume`) to park it again with another reason",
        )


def _check_can_park(session: SessionRow) -> None:
    """Active sessions park; a paused one (paused without a handoff) may be put in the queue too."""
    if session.status == "paused":
        return
    if session.status == "escalated":
        raise ConflictError("cannot park a session that is escalated: it already waits for a colleague",
                            hint="a colleague claims it from `rfpilot queue list`")
    check_transition(session, "paused")


@owner_action("park")
async def park(ctx: Ctx, session: SessionRow, waiting_on: str, *, elevated: bool = False) -> SessionHandoff:
    """Set the session aside until something arrives; it waits in the team queue, normal priority."""
    text = _clean(waiting_on, "what you are waiting on", WAITING_MAX, required=True,
                  hint='say what the session waits for, e.g. --waiting-on "the client to send the event logs"')
    if elevated:
        raise UsageError("a parked session is always normal priority",
                         hint="elevated priority is for escalations: rfpilot escalate SESSION --handoff --elevated")
    # Checked before the transaction (a refusal there rolls nothing back, so the caller's objects stay loaded)
    # and again under the session's row lock, in case something changed in between.
    _check_can_park(session)
    await _refuse_if_waiting(ctx, session)
    async with ctx.tx():
        session = await _lock_session(ctx, session.id)
        await require_can_modify(ctx, session, "park")
        _check_can_park(session)
        await _refuse_if_waiting(ctx, session)
        snapshot = await build_snapshot(ctx, session, text)
        handoff = _new_handoff(ctx, session, "park", "normal", snapshot, text)
        ctx.db.add(handoff)
        set_status(ctx, session, "paused")
        session.handoff_count += 1
    return handoff


# --- escalate -----------------------------------------------------------------------------------------


def _check_can_escalate(session: SessionRow) -> None:
    """Active or paused sessions escalate; one escalated by `rfpilot escalate` may still join the queue."""
    if session.status == "escalated":
        return
    if session.status not in ("active", "paused"):
        raise ConflictError(f"cannot escalate a session that is {session.status}",
                            hint=f"reopen it first: rfpilot sessions reopen {short_id(session.id)}")
    check_transition(session, "escalated")


def _confidence_of(fix: SuggestedFix | None) -> str:
    if fix is None or fix.status in ("applied_failed", "dismissed"):
        return "low"
    if fix.confidence_pct >= HIGH_PCT:
        return "high"
    return "medium" if fix.confidence_pct >= MEDIUM_PCT else "low"


def _cause_of(fix: SuggestedFix | None) -> str:
    if fix is None:
        return "Not isolated yet: no fix has been proposed in this session."
    title = _q(fix.title)
    if fix.status == "applied_failed":
        reason = f" ({one_line(fix.failure_reason).rstrip('.')})" if fix.failure_reason else ""
        return f"Not isolated: {title} was tried and did not fix it{reason}."
    if fix.status == "dismissed":
        return f"Not isolated: {title} was considered and set aside."
    if fix.status == "applied_success":
        return f"{title} fixed the original symptom; the escalation concerns what remains."
    described = f": {truncate(fix.description, 300)}" if fix.description else ""
    return f"Suspected: {title} ({fix.confidence_pct}% confidence){described}"


async def offline_assessment(ctx: Ctx, session: SessionRow) -> HandoffAssessment:
    """The assessment restated from stored state: the active fix and its outcome, the open lane items."""
    fix = await fix_service.active_fix(ctx, session)
    steps = [_lane_step(item) for item in await _open_lane_items(ctx, session)]
    fix_step = _fix_step(fix)
    if fix_step:
        steps.append(fix_step)
    if not steps:
        steps = ["Confirm the symptom still reproduces, then review the recorded facts before changing anything."]
    return HandoffAssessment(likely_cause=_cause_of(fix), suggested_steps=steps[:STEPS_MAX],
                             confidence=_confidence_of(fix), by="offline", model=None)


def _json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in a reply, tolerating code fences and words around it."""
    body = (text or "").strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(body[start:end + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _confidence_word(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        word = value.strip().lower().rstrip("%")
        for known in CONFIDENCES:
            if word.startswith(known):
                return known
        try:
            value = float(word)
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        pct = value * 100 if 0 <= value <= 1 else value
        return "high" if pct >= HIGH_PCT else "medium" if pct >= MEDIUM_PCT else "low"
    return None


_BULLET = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")


def _steps(value: Any) -> list[str]:
    raw = value.splitlines() if isinstance(value, str) else value if isinstance(value, list) else []
    steps = [truncate(_BULLET.sub("", one_line(str(s))), 240) for s in raw if not isinstance(s, (dict, list))]
    return [s for s in steps if s][:STEPS_MAX]


def parse_assessment(text: str) -> Assessment | None:
    """``{likely_cause, suggested_steps, confidence}`` from a model reply, or None when it is unusable."""
    data = _json_object(text)
    if data is None:
        return None
    cause = data.get("likely_cause") or data.get("most_likely_cause") or data.get("cause")
    if not isinstance(cause, str) or not one_line(cause):
        return None
    steps = _steps(data.get("suggested_steps", data.get("next_steps")))
    return Assessment(likely_cause=truncate(one_line(cause), 600), suggested_steps=steps,
                      confidence=_confidence_word(data.get("confidence")) or "low")


def _usable(provider: Any) -> bool:
    """A provider that can write text (the offline one cannot)."""
    if provider is None or getattr(provider, "name", "offline") == "offline":
        return False
    return bool(getattr(provider, "can_chat", True))


async def _record_usage(ctx: Ctx, session: SessionRow, provider: Any, result: Any) -> None:
    from rfpilot.core.llm import usage as usage_service
    from rfpilot.core.llm.base import LLMCallError

    try:
        async with ctx.tx():
            usage_service.record(ctx, session, LLM_ACTION, provider, result)
    except LLMCallError:  # a provider that cannot even name a model for the action: nothing to record
        pass


async def _state_text(ctx: Ctx, session: SessionRow, snapshot: HandoffSnapshot, notes: str | None) -> str:
    """The model's input: stored state only (facts, fixes, lane, hypotheses, the recent conversation)."""
    problem = snapshot["problem"]
    out = ["# Session", f"Title: {problem['title'] or '(untitled)'}"]
    for label, value in (("Problem", problem["summary"]), ("Domain", problem["domain"]),
                         ("Client", problem["client"]), ("Linked PSA ticket", snapshot["ticket_ref"]),
                         ("Status before the escalation", snapshot["status"]), ("Escalation notes", notes)):
        if value:
            out.append(f"{label}: {value}")
    from rfpilot.core.session.facts import facts_window
    from rfpilot.core.drafting.notes import NOTE_FACT_CHARS, NOTE_FACTS

    facts, total = await facts_window(ctx, session, NOTE_FACTS, chars=NOTE_FACT_CHARS)
    out += ["", "# Confirmed facts"] + ([f"- {one_line(f.text)}" for f in facts] or ["(none)"])
    if total > len(facts):
        out.append(f"(… and {count(total - len(facts), 'more fact')}, not listed here)")
    out += ["", "# Suggested fixes, oldest first"]
    fixes = await fix_service.list_fixes(ctx, session)
    for fix in fixes:
        line = f"- {fix.title} ({fix.confidence_pct}% confidence): {fix.status}"
        if fix.status == "proposed" and fix.applied_at is not None:
            line += ", applied, outcome not recorded"
        for label, value in (("failure", fix.failure_reason), ("partial", fix.partial_notes),
                             ("waiting on", fix.pending_reason)):
            if value:
                line += f"; {label}: {one_line(value)}"
        out.append(line)
    if not fixes:
        out.append("(none)")
    out += ["", "# Ruled out"] + ([f"- {line}" for line in snapshot["watch_out"]] or ["(nothing yet)"])
    items = await _open_lane_items(ctx, session)
    out += ["", "# Open questions and checks"] + ([f"- {_lane_step(i)}" for i in items] or ["(none)"])
    hypotheses = [b for b in snapshot["branch_map"] if not b["root"]]
    if hypotheses:
        out += ["", "# Hypotheses explored"]
        for b in hypotheses:
            summary = b["summary"]
            said = (summary["concluded"] if summary else None) or b["status_reason"] or ""
            out.append(f"- {b['label']} [{b['status']}]" + (f": {one_line(said)}" if said else ""))
    branch = await branch_service.active_branch(ctx, session)
    messages = await branch_service.latest_messages(ctx, session, branch, RECENT_MESSAGES, roles=("user", "assistant"))
    if messages:
        out += ["", "# Recent conversation"]
        out += [f"[{m.role}] {truncate(m.display_content, 400)}" for m in messages]
    return "\n".join(out)


async def assess(
    ctx: Ctx, session: SessionRow, snapshot: HandoffSnapshot, notes: str | None, provider: Any = None
) -> HandoffAssessment:
    """One model call for the assessment; the offline one when there is no model or its reply is unusable."""
    fallback = await offline_assessment(ctx, session)
    if not _usable(provider):
        return fallback
    from rfpilot.core.llm.base import LLMCallError, LLMRequest
    from rfpilot.core.llm.prompts import HANDOFF_ASSESSMENT_PROMPT

    request = LLMRequest(action=LLM_ACTION, system=HANDOFF_ASSESSMENT_PROMPT,
                         message=await _state_text(ctx, session, snapshot, notes), max_tokens=ASSESSMENT_MAX_TOKENS)
    try:
        result = await provider.complete(request)
    except LLMCallError:
        await _record_usage(ctx, session, provider, None)
        return fallback
    await _record_usage(ctx, session, provider, result)
    parsed = parse_assessment(result.text)
    if parsed is None:
        return fallback
    if not parsed["suggested_steps"]:
        parsed["suggested_steps"] = fallback["suggested_steps"]
    return HandoffAssessment(**parsed, by="llm", model=result.model)


@owner_action("escalate")
async def escalate(
    ctx: Ctx, session: SessionRow, notes: str | None = None, *, elevated: bool = False, provider: Any = None
) -> SessionHandoff:
    """Hand the session to a more senior colleague through the queue, with an assessment (no PSA post)."""
    cleaned = _clean(notes, "the escalation notes", NOTES_MAX, required=False)
    _check_can_escalate(session)
    if session.status == "escalated" and await open_handoffs(ctx, session):
        raise ConflictError(f"session {short_id(session.id)} is already escalated and waits in the queue")
    async with ctx.tx():  # reads only; committing ends them so no transaction stays open during the model call
        snapshot = await build_snapshot(ctx, session, cleaned)
    assessment = await assess(ctx, session, snapshot, cleaned, provider)
    async with ctx.tx():
        # Under the session's row lock: a park waiting in the queue gives way to the escalation.
        withdrawn = await withdraw_open_handoffs(ctx, session)
        _check_can_escalate(session)
        if session.status == "escalated" and withdrawn:
            raise ConflictError(f"session {short_id(session.id)} is already escalated and waits in the queue")
        handoff = _new_handoff(ctx, session, "escalate", "elevated" if elevated else "normal", snapshot, cleaned,
                               assessment)
        ctx.db.add(handoff)
        if session.status != "escalated":
            set_status(ctx, session, "escalated")
            session.escalated_at = ctx.now()
            if cleaned:
                session.escalation_reason = truncate(cleaned, 500)
        session.handoff_count += 1
    return handoff


# --- withdrawing ----------------------------------------------------------------------------------------


# --- the queue ------------------------------------------------------------------------------------------


# The status a session has while a handoff of each intent waits: a park waits while the session is paused, an
# escalation while it is escalated. Anything else (escalated after a park, resolved, abandoned, active) means
# the handoff no longer stands, even on a store written before closing withdrew handoffs.
WAITING_STATUS = {"park": "paused", "escalate": "escalated"}
# The one word for a session waiting in the queue, wherever it is shown (the TUI's header and queue, the CLI).
WAITING_WORD = {"park": "parked", "escalate": "escalated"}


def status_word(status: str, waiting_intent: str | None = None) -> str:
    """The word for a session's state: a session paused because it was parked is "parked", everywhere."""
    if waiting_intent is not None and WAITING_STATUS.get(waiting_intent) == status:
        return WAITING_WORD[waiting_intent]
    return status


async def session_status_word(ctx: Ctx, session: SessionRow) -> str:
    """``status_word`` for ``session``, from its handoff still waiting in the queue (if any)."""
    if session.status not in WAITING_STATUS.values():
        return session.status
    waiting = [h.intent for h in await open_handoffs(ctx, session)]
    return status_word(session.status, next((i for i in waiting if WAITING_STATUS.get(i) == session.status), None))


def _still_waiting():
    return or_(*(and_(SessionHandoff.intent == intent, SessionRow.status == status)
                 for intent, status in WAITING_STATUS.items()))


async def queue(ctx: Ctx) -> list[QueueItemView]:
    """The account's handoffs waiting for someone: elevated first, then oldest first; one item per handoff."""
    hypotheses = (
        select(SessionBranch.session_id, func.count().label("n"))
        .where(SessionBranch.account_id == ctx.account.id, SessionBranch.parent_branch_id.is_not(None))
        .group_by(SessionBranch.session_id)
        .subquery()
    )
    stmt = (
        select(SessionHandoff, SessionRow, Engineer.display_name, func.coalesce(hypotheses.c.n, 0))
        .join(SessionRow, SessionRow.id == SessionHandoff.session_id)
        .join(Engineer, Engineer.id == SessionHandoff.handed_off_by)
        .outerjoin(hypotheses, hypotheses.c.session_id == SessionHandoff.session_id)
        .where(SessionHandoff.account_id == ctx.account.id, SessionHandoff.claimed_by.is_(None),
               SessionHandoff.withdrawn_at.is_(None), _still_waiting())
        .order_by(case((SessionHandoff.priority == "elevated", 0), else_=1), SessionHandoff.created_at,
                  SessionHandoff.id)
    )
    items: list[QueueItemView] = []
    for handoff, session, by_name, branch_count in (await ctx.db.execute(stmt)).all():
        items.append({
            "handoff_id": handoff.id,
            "session_id": session.id,
            "session_title": session.title,
            "session_status": session.status,
            "ticket_ref": session.ticket_ref,
            "intent": handoff.intent,
            "status_word": status_word(session.status, handoff.intent),
            "priority": handoff.priority,
            "handed_off_by": handoff.handed_off_by,
            "handed_off_by_name": by_name,
            "created_at": handoff.created_at,
            "waiting_on": (handoff.snapshot or {}).get("waiting_on"),
            "notes": handoff.engineer_notes,
            "branch_count": int(branch_count),
        })
    return items


# --- claim --------------------------------------------------------------------------------------------


@dataclass
class ClaimResult:
    handoff: SessionHandoff
    session: SessionRow
    briefing: str
    handed_off_by_name: str
    briefing_by: str  # "llm" or "offline"


async def get_handoff(ctx: Ctx, ref: str) -> SessionHandoff:
    return await find_one(ctx, SessionHandoff, ref, "handoff")


async def _refusal(ctx: Ctx, handoff_id: str) -> Exception:
    """Why a claim's UPDATE matched no row, read after it (so after any competing claim committed)."""
    stmt = select(SessionHandoff).where(SessionHandoff.id == handoff_id).execution_options(populate_existing=True)
    row = (await ctx.db.execute(stmt)).scalar_one_or_none()
    if row is None or row.account_id != ctx.account.id:
        return NotFoundError(f"no handoff matches {short_id(handoff_id)!r}", hint="see `rfpilot queue list`")
    if row.claimed_by is not None:
        name = (await _names(ctx, {row.claimed_by})).get(row.claimed_by, "another engineer")
        return ConflictError(f"handoff {short_id(row.id)} is already claimed by {name} at {_stamp(row.claimed_at)}",
                             hint="see `rfpilot queue list` for what is still waiting")
    session = await ctx.db.get(SessionRow, row.session_id)
    status = session.status if session is not None else "deleted"
    why = "its owner took the session back" if status in ("active", "paused") else f"the session is {status} now"
    return ConflictError(f"handoff {short_id(row.id)} was withdrawn at {_stamp(row.withdrawn_at)}: {why}",
                         hint="see `rfpilot queue list` for what is still waiting")


async def _take_over(ctx: Ctx, handoff_id: str, now: datetime) -> tuple[SessionHandoff, SessionRow, str]:
    """The winner's half of a claim, in its transaction: the session changes hands and becomes active."""
    handoff = (await ctx.db.execute(
        select(SessionHandoff).where(SessionHandoff.id == handoff_id).execution_options(populate_existing=True)
    )).scalar_one()
    session = await _lock_session(ctx, handoff.session_id)
    if session.status != WAITING_STATUS[handoff.intent]:  # only if something skipped the withdrawal: undone
        raise ConflictError(
            f"session {short_id(session.id)} is {session.status} now, not {WAITING_STATUS[handoff.intent]}, so "
            f"handoff {short_id(handoff_id)} ({handoff.intent}) cannot be claimed",
            hint="see `rfpilot queue list` for what is still waiting",
        )
    by_name = (await _names(ctx, {handoff.handed_off_by})).get(handoff.handed_off_by, "another engineer")
    # Claiming is the way out of escalated (SPEC §10), so the status machine's table is not consulted here.
    session.owner_id = ctx.engineer.id
    set_status(ctx, session, "active")
    handoff.briefing = offline_briefing(handoff, session, by_name, now)
    return handoff, session, by_name


@team_action("claim a handoff from the queue")
async def claim(ctx: Ctx, ref: str, *, provider: Any = None) -> ClaimResult:
    """Take a waiting session over: of several simultaneous claimers exactly one wins; the others get a
    ConflictError naming the winner, and nothing changes for them."""
    async with ctx.tx():  # resolving the id is a read; committing it makes the UPDATE the claim's first statement
        handoff_id = (await get_handoff(ctx, ref)).id
    refusal: Exception | None = None
    async with ctx.tx():
        now = ctx.now()
        won = await ctx.db.execute(
            update(SessionHandoff)
            .where(SessionHandoff.id == handoff_id, SessionHandoff.account_id == ctx.account.id,
                   SessionHandoff.claimed_by.is_(None), SessionHandoff.withdrawn_at.is_(None))
            .values(claimed_by=ctx.engineer.id, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", won).rowcount == 1:
            handoff, session, by_name = await _take_over(ctx, handoff_id, now)
        else:
            # Nothing was changed, so the transaction ends normally (a rollback would expire the caller's objects).
            refusal = await _refusal(ctx, handoff_id)
    if refusal is not None:
        raise refusal
    briefing, by = handoff.briefing or "", "offline"
    if _usable(provider):
        drafted = await llm_briefing(ctx, session, handoff, provider)
        if drafted:
            async with ctx.tx():
                handoff.briefing = drafted
            briefing, by = drafted, "llm"
    return ClaimResult(handoff, session, briefing, by_name, by)


# --- briefing -----------------------------------------------------------------------------------------


_INTENT = {"park": "Parked", "escalate": "Escalated"}


def offline_briefing(handoff: SessionHandoff, session: SessionRow, by_name: str, now: datetime) -> str:
    """The briefing restated from the handoff (snapshot, notes, assessment): nothing invented."""
    snap = handoff.snapshot or {}
    problem = snap.get("problem") or {}
    title = problem.get("title") or session.title or "(untitled session)"
    ticket = f" · ticket {snap['ticket_ref']}" if snap.get("ticket_ref") else ""
    lines = [f"{title}{ticket}"]
    waited = f" {age(handoff.created_at, now)} ago" if handoff.created_at else ""
    lines.append(f"{_INTENT.get(handoff.intent, handoff.intent)} by {by_name}{waited}"
                 + (" · elevated priority" if handoff.priority == "elevated" else ""))
    summary = problem.get("summary")
    if summary and summary.rstrip(".") != title.rstrip("."):
        lines.append(f"Problem: {summary}")
    if handoff.engineer_notes:
        label = "Waiting on" if handoff.intent == "park" else "Why escalated"
        lines.append(f"{label}: {one_line(handoff.engineer_notes)}")
    lines.append(f"Time so far: {duration(session.active_seconds)} active, {duration(session.parked_seconds)} parked; "
                 f"{count(snap.get('facts_count', 0), 'fact')} recorded")
    if snap.get("active_branch"):
        lines.append(f"Hypothesis being worked: {snap['active_branch']}")
    for line in snap.get("watch_out") or []:
        lines.append(f"- {line}")
    assessment = handoff.ai_assessment or {}
    if assessment.get("likely_cause"):
        lines.append(f"Likely cause ({assessment.get('confidence', 'low')} confidence): {assessment['likely_cause']}")
        lines += [f"- {step}" for step in assessment.get("suggested_steps") or []]
    if snap.get("next_step"):
        lines.append(f"Next: {snap['next_step']}")
    return "\n".join(lines)


async def llm_briefing(ctx: Ctx, session: SessionRow, handoff: SessionHandoff, provider: Any) -> str | None:
    """The model's briefing from the handoff, or None (the stored offline one stays) when it fails."""
    from rfpilot.core.llm.base import LLMCallError, LLMRequest
    from rfpilot.core.llm.prompts import HANDOFF_BRIEFING_PROMPT

    snap = handoff.snapshot or {}
    lines = ["# Handoff", handoff.briefing or ""]
    hypotheses = [b for b in snap.get("branch_map") or [] if not b.get("root")]
    if hypotheses:
        lines += ["", "# Hypotheses"]
        for b in hypotheses:
            summary = b.get("summary") or {}
            tried = "; ".join(summary.get("tried") or [])
            said = summary.get("concluded") or b.get("status_reason") or ""
            lines.append(f"- {b['label']} [{b['status']}]" + (f" tried: {tried}." if tried else "")
                         + (f" {said}" if said else ""))
    request = LLMRequest(action=LLM_ACTION, system=HANDOFF_BRIEFING_PROMPT, message="\n".join(lines),
                         max_tokens=BRIEFING_MAX_TOKENS)
    try:
        result = await provider.complete(request)
    except LLMCallError:
        await _record_usage(ctx, session, provider, None)
        return None
    await _record_usage(ctx, session, provider, result)
    text = "\n".join(line.rstrip() for line in (result.text or "").strip().splitlines()).strip()
    text = text.removeprefix("```").removesuffix("```").strip()
    return text or None


# --- history and views --------------------------------------------------------------------------------


async def history(ctx: Ctx, session: SessionRow) -> list[SessionHandoff]:
    """The session's handoffs, newest first."""
    stmt = (select(SessionHandoff).where(SessionHandoff.session_id == session.id)
            .order_by(SessionHandoff.created_at.desc(), SessionHandoff.id.desc()))
    return list((await ctx.db.execute(stmt)).scalars())


def handoff_state(handoff: SessionHandoff) -> str:
    if handoff.claimed_by is not None:
        return "claimed"
    return "withdrawn" if handoff.withdrawn_at is not None else "waiting"


def stored_snapshot(handoff: SessionHandoff) -> HandoffSnapshot:
    """The handoff's snapshot as ``build_snapshot`` wrote it (a plain JSON document in the column)."""
    return cast(HandoffSnapshot, handoff.snapshot)


def stored_assessment(handoff: SessionHandoff) -> HandoffAssessment | None:
    """The escalation's assessment as ``assess`` wrote it (a plain JSON document in the column)."""
    return cast("HandoffAssessment | None", handoff.ai_assessment)


def handoff_view(handoff: SessionHandoff, names: dict[str, str] | None = None) -> HandoffView:
    """A stable, JSON-ready shape; ``names`` maps engineer ids to display names when known."""
    names = names or {}
    return {
        "id": handoff.id,
        "session_id": handoff.session_id,
        "intent": handoff.intent,
        "priority": handoff.priority,
        "state": handoff_state(handoff),
        "handed_off_by": handoff.handed_off_by,
        "handed_off_by_name": names.get(handoff.handed_off_by),
        "created_at": _iso(handoff.created_at),
        "waiting_on": (handoff.snapshot or {}).get("waiting_on"),
        "notes": handoff.engineer_notes,
        "source_branch_id": handoff.source_branch_id,
        "snapshot": stored_snapshot(handoff),
        "assessment": stored_assessment(handoff),
        "claimed_by": handoff.claimed_by,
        "claimed_by_name": names.get(handoff.claimed_by) if handoff.claimed_by else None,
        "claimed_at": _iso(handoff.claimed_at),
        "withdrawn_at": _iso(handoff.withdrawn_at),
        "briefing": handoff.briefing,
    }


def claim_view(result: ClaimResult, names: dict[str, str] | None = None) -> ClaimView:
    """A claimed handoff for `queue claim --json`: its view, the session as it is now, what wrote the briefing."""
    return {**handoff_view(result.handoff, names), "session_title": result.session.title,
            "session_status": result.session.status, "owner_id": result.session.owner_id,
            "briefing_by": result.briefing_by}


def claimed_session(result: ClaimResult) -> ClaimedSession:
    return ClaimedSession(session_id=result.session.id, briefing=result.briefing)


async def history_views(ctx: Ctx, session: SessionRow) -> list[HandoffView]:
    rows = await history(ctx, session)
    names = await _names(ctx, {h.handed_off_by for h in rows} | {h.claimed_by for h in rows})
    return [handoff_view(h, names) for h in rows]


async def names_for(ctx: Ctx, handoffs: list[SessionHandoff]) -> dict[str, str]:
    return await _names(ctx, {h.handed_off_by for h in handoffs} | {h.claimed_by for h in handoffs})
