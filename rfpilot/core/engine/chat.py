"""The chat turn (SPEC §4): the engine the CLI and the TUI both drive.

1. ``store_message`` commits the engineer's message before any model call
   (a paused session becomes active; an answer to a lane item marks it).
2. ``run_turn`` builds the request (cached system prompt, uncached ticket
   context, the history as display text, the new message with the session
   state and the format reminder appended — never stored), streams the reply,
   parses the markers and applies everything in ONE transaction: the reply,
   the task lane with stable ids, promoted facts (after the lane), a suggested
   fix, an outcome proposal, a fork point, token usage.
3. A failed or interrupted call marks the engineer's message ``failed`` /
   ``interrupted`` (retryable with ``retry_turn``) and applies nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import set_committed_value

from rfpilot.core.engine import context_budget
from rfpilot.core.session import facts as fact_service
from rfpilot.core.session import fixes as fix_service
from rfpilot.core.session import lane as lane_service
from rfpilot.core.llm import usage as usage_service
from rfpilot.core.context import Ctx
from rfpilot.core.inputs import clean_model_text
from rfpilot.core.llm.base import CHAT_MAX_TOKENS, LLMCallError, LLMRequest, LLMResult, Provider, Usage
from rfpilot.core.llm.offline import OFFLINE_HINT
from rfpilot.core.engine.markers import ParsedReply, parse_reply
from rfpilot.core.llm.prompts import CHAT_REMINDER_PROMPT, CHAT_SYSTEM_PROMPT, TITLE_PROMPT
from rfpilot.core.session.permissions import owner_action, require_can_modify
from rfpilot.core.session.messages import (  # the reading half, re-exported: chat.list_messages etc.
    conversation as _conversation,
    count_messages,
    list_messages,
    message_page,
    pending_retry,
    recent_messages,
)
from rfpilot.core.session.sessions import check_transition, intake_of, set_status
from rfpilot.core.text import one_line, truncate
from rfpilot.core.view_types import OutcomeProposal
from rfpilot.db.models import Fact, ForkPoint, LaneItem, Message, SessionRow, SuggestedFix
from rfpilot.errors import ConflictError, LLMUnavailableError, RfpilotError, UsageError

log = logging.getLogger("rfpilot.chat")

MESSAGE_MAX = 100_000
REPLY_MAX_CHARS = 200_000  # default of llm.max_reply_chars
TITLE_MAX_TOKENS = 40
# Statuses in which the conversation can go on (a paused session resumes).
CHAT_STATUSES = ("active", "paused", "escalated")
OUTCOME_STATUS = {"success": "applied_success", "failure": "applied_failed", "partial": "applied_partial"}
_PROMOTE_KIND = {"question": "question", "diagnostic_check": "check"}

ChunkCallback = Callable[[str], Awaitable[None] | None]
StoredCallback = Callable[["Message"], Awaitable[None] | None]


@dataclass
class TurnResult:
    """What one turn produced, with the ids the engineer acts on."""

    user_message: Message
    reply: Message
    parsed: ParsedReply
    provider: str
    model: str | None
    usage: Usage
    questions: list[LaneItem] = field(default_factory=list)  # as emitted this turn, with stable ids
    checks: list[LaneItem] = field(default_factory=list)
    retired: list[LaneItem] = field(default_factory=list)
    promoted: list[Fact] = field(default_factory=list)
    suggested_fix: SuggestedFix | None = None
    outcome_proposal: OutcomeProposal | None = None
    fork: ForkPoint | None = None
    dropped: list[str] = field(default_factory=list)  # what was not applied, and why


# --- step 1: the engineer's message ------------------------------------------


def check_can_chat(session: SessionRow) -> None:
    if session.status not in CHAT_STATUSES:
        raise ConflictError(
            f"session is {session.status}; the conversation is closed",
            hint="`rfpilot sessions reopen` it to carry on",
        )


async def check_can_send(ctx: Ctx, session: SessionRow) -> None:
    """What refuses a message whatever the model: someone else's session (3), a closed conversation (3). Checked
    before the model is, so the engineer hears about the session first."""
    await require_can_modify(ctx, session, "chat in")
    check_can_chat(session)


async def prepare_turn(ctx: Ctx, session: SessionRow) -> None:
    """What a turn sends besides the history, brought up to date before the turn and never inside it (a turn
    only reads it): the session's "seen before" matches, searched again when its facts or the team's closed
    sessions changed since. Every front end calls it before ``send``/``retry_turn``."""
    from rfpilot.core.memory import seen_before

    if ctx.settings is not None:  # a bad hand-edited value stops the turn here, before the message is stored
        for key in ("llm.context_tokens", "llm.max_reply_chars"):
            ctx.settings.get(key)
    await seen_before.refresh_if_stale(ctx, session)


def require_chat_provider(provider: Provider) -> None:
    if not provider.can_chat:
        raise LLMUnavailableError("chat needs a model, and rfpilot is running offline", hint=OFFLINE_HINT)


async def _insert_message(ctx: Ctx, session: SessionRow, **values: Any) -> Message:
    """Insert a message of ``session`` with the next seq, computed by the INSERT itself and handed back with
    the row (RETURNING): one statement, not a read of max(seq) before it. The (session_id, seq) unique
    constraint still refuses a racing duplicate."""
    next_seq = (
        select(func.coalesce(func.max(Message.seq), -1) + 1).where(Message.session_id == session.id).scalar_subquery()
    )
    stmt = insert(Message).values(session_id=session.id, seq=next_seq, **values).returning(Message)
    return (await ctx.db.execute(stmt)).scalar_one()


@owner_action("chat in")
async def store_message(
    ctx: Ctx, session: SessionRow, text: str, *, lane_item: LaneItem | None = None, message_id: str | None = None
) -> Message:
    """Commit the engineer's message (status ``sent``) before anything talks to a model.

    With ``lane_item``, the message answers that question (or carries that
    check's output) and the item is marked answered / run in the same commit.
    """
    cleaned = (text or "").strip()
    if not cleaned:
        raise UsageError("the message is empty")
    if len(cleaned) > MESSAGE_MAX:
        raise UsageError(f"the message is too long ({len(cleaned)} characters; the limit is {MESSAGE_MAX})")
    check_can_chat(session)
    if lane_item is not None and lane_item.session_id != session.id:
        raise UsageError("that lane item belongs to another session")
    now = ctx.now()
    async with ctx.tx():
        if session.status == "paused":
            from rfpilot.core.session.handoff_lock import withdraw_open_handoffs

            check_transition(session, "active")
            await withdraw_open_handoffs(ctx, session)  # working on it again takes it out of the queue
            set_status(ctx, session, "active")
        if lane_item is not None:
            if lane_item.kind == "question":
                await lane_service.answer_question(ctx, session, lane_item, cleaned)
            else:
                await lane_service.mark_run(ctx, session, lane_item, cleaned)
        message = await _insert_message(
            ctx,
            session,
            id=message_id or str(uuid.uuid4()),
            account_id=ctx.account.id,
            role="user",
            status="sent",
            raw_content=cleaned,
            display_content=cleaned,
            lane_item_id=lane_item.id if lane_item is not None else None,
            branch_id=session.active_branch_id,
            author_id=ctx.engineer.id,
            created_at=now,
        )
        ctx.touch(session)
    return message


# --- step 2: the request -------------------------------------------------------


def ticket_context(session: SessionRow) -> str:
    """The uncached, per-session system block. Stable across a session's turns."""
    lines = ["# This ticket"]
    if session.client_name:
        lines.append(f"Client: {session.client_name}")
    if session.ticket_ref:
        lines.append(f"PSA ticket: {session.ticket_ref}")
    if session.problem_domain:
        lines.append(f"Domain: {session.problem_domain}")
    if session.problem_summary:
        lines.append(f"Problem summary: {session.problem_summary}")
    intake = intake_of(session)
    if intake:
        lines.append("Problem as reported on the ticket (its summary, a blank line, its description):"
                     if session.intake_type == "psa_ticket" else "Problem as the engineer first described it:")
        lines.append(intake)
    if session.ticket_context:
        lines.append("Ticket details from the PSA:")
        lines.append(json.dumps(session.ticket_context, sort_keys=True, ensure_ascii=False, default=str))
    return "\n".join(lines) if len(lines) > 1 else ""


def _framed(message: Message, items: dict[str, LaneItem], paste_limit: int | None = None) -> str:
    """An engineer message as the model sees it: answers name the item they answer; in the history, a long one
    (pasted output) is cut to ``paste_limit`` characters with a note (the store keeps it whole)."""
    text = message.display_content
    if paste_limit is not None:
        text = context_budget.trim_paste(text, paste_limit)
    item = items.get(message.lane_item_id or "")
    if item is None:
        return text
    if item.kind == "question":
        return f'(Answer to the question "{item.text}" [id {item.id}])\n{text}'
    return f'(Output of the check "{item.text}" [id {item.id}])\n{text}'


def _history_text(message: Message, items: dict[str, LaneItem], paste_limit: int | None = None) -> str | None:
    """What the history sends of a stored message: display content only, never raw markers (None: nothing;
    failed replies and notices are not sent). context_budget.merge_turns joins consecutive same-role ones."""
    if message.role == "user":
        return _framed(message, items, paste_limit)
    if message.role == "assistant" and message.status == "complete":
        return message.display_content or "(the reply held only task-lane items)"
    return None


def session_state(items: list[LaneItem], facts: list[Fact], fix: SuggestedFix | None) -> str:
    """The per-turn state block appended to the engineer's message (never stored)."""
    lines = ["[Session state from rfpilot, not written by the engineer]"]
    questions = [i for i in items if i.kind == "question" and i.retired_at is None]
    checks = [i for i in items if i.kind == "check" and i.retired_at is None]
    lines.append("Questions:" if questions else "Questions: none")
    for item in questions:
        state = "not yet completed" if item.state == "open" else item.state
        lines.append(f"- id {item.id} · {state} · {item.text}")
    lines.append("Diagnostic checks:" if checks else "Diagnostic checks: none")
    for item in checks:
        state = "not yet completed" if item.state == "open" else item.state
        lines.append(f"- id {item.id} · {state} · {item.text}")
    lines.append("What we know:" if facts else "What we know: nothing confirmed yet")
    for fact in facts:
        lines.append(f"- {fact.text}")
    if fix is None:
        lines.append("Active suggested fix: none")
    else:
        if fix.status == "proposed":
            phase = "applied, being verified" if fix.applied_at else "proposed, not applied yet"
        else:
            phase = fix.status
        lines.append(f"Active suggested fix: id {fix.id} · {phase} · {fix.title} ({fix.confidence_pct}%)")
    return "\n".join(lines)


def _refs(items: list[LaneItem], fix: SuggestedFix | None) -> dict[str, str]:
    refs = {f"{i.kind}:{i.text.strip()}": i.id for i in items}
    if fix is not None:
        refs["fix"] = fix.id
    return refs


async def _lane_items(ctx: Ctx, session: SessionRow) -> list[LaneItem]:
    return await lane_service.list_items(ctx, session, include_retired=True)


async def build_request(ctx: Ctx, session: SessionRow, user_message: Message,
                        provider: Provider | None = None) -> LLMRequest:
    """The turn's request within the context budget (core/engine/context_budget.py): the oldest turns may be folded
    into the branch's summary first (committed), by ``provider`` when it can, else offline."""
    items = await _lane_items(ctx, session)
    by_id = {i.id: i for i in items}
    facts = await fact_service.list_facts(ctx, session)
    fix = await fix_service.active_fix(ctx, session)
    new_text = _framed(user_message, by_id)
    from rfpilot.core.memory import seen_before
    from rfpilot.core.session import branches

    # "Seen before": after the last cache breakpoint (with the session state), never in a system block: the
    # matches change with the facts, and the cached prefix must stay byte-identical from one turn to the next.
    # As stored: the turn never waits on a search (the callers refresh them around the turn).
    seen_block, _ = await seen_before.for_model(ctx, session)

    # Branches: the other hypotheses go in the uncached block, never in the cached system prompt.
    across = await branches.cross_branch_context(ctx, session, await branches.active_branch(ctx, session))
    # Facts, the lane and the fix go whole every turn; the history gets what the budget leaves.
    window = await context_budget.assemble(
        ctx, session, user_message, provider,
        system=CHAT_SYSTEM_PROMPT,
        volatile="\n\n".join(part for part in (ticket_context(session), across) if part),
        new_text=new_text,
        suffix="\n\n".join(p for p in (seen_block, session_state(items, facts, fix), CHAT_REMINDER_PROMPT) if p),
        content=lambda message, limit: _history_text(message, by_id, limit),
        reply_tokens=CHAT_MAX_TOKENS,
        items=items,
    )
    return LLMRequest(
        action="chat",
        system=CHAT_SYSTEM_PROMPT,
        volatile=window.volatile,
        history=window.history,
        message=window.message,
        max_tokens=CHAT_MAX_TOKENS,
        turn_index=window.turn_index,
        engineer_text=user_message.display_content,
        refs=_refs(items, fix),
    )


# --- step 3: the reply, applied all at once --------------------------------------


def _match_key(text: str) -> str:
    return text.strip()


async def _lane_items_to_rewrite(ctx: Ctx, session: SessionRow, emitted_kinds: list) -> list[LaneItem]:
    """The live items of the emitted kinds, and the retired ones a re-emitted text brings back: not every item
    the session ever retired (two or more a turn), so the rewrite costs the same at turn 500 as at turn 2.
    Stored texts are kept stripped (``truncate``, the lane's own cleaning), so equality is ``_match_key``'s."""
    kinds = [kind for kind, _, _ in emitted_kinds]
    texts = {truncate(text, lane_service.TEXT_MAX) for _, emitted, _ in emitted_kinds for text, _, _ in emitted}
    stmt = select(LaneItem).where(
        LaneItem.session_id == session.id,
        LaneItem.kind.in_(kinds),
        or_(LaneItem.retired_at.is_(None), LaneItem.text.in_(sorted(texts))),
    )
    return list((await ctx.db.execute(stmt)).scalars())


async def _write_lane(ctx: Ctx, session: SessionRow, parsed: ParsedReply, result: TurnResult) -> None:
    """Rewrite the lane kinds the reply emitted, keeping ids of re-emitted items.

    A question keeps its id when re-emitted with the same text, a check when
    re-emitted with the same label (retired ones come back). Open AI items
    the reply dropped are retired; completed items and the engineer's own
    items stay. A kind the reply did not emit at all is left as it was.
    """
    now = ctx.now()
    emitted_kinds: list[tuple[str, list[tuple[str, str | None, str | None]], list[LaneItem]]] = []
    if "QUESTIONS" in parsed.found and parsed.questions:
        emitted_kinds.append(("question", [(q.text, q.context, None) for q in parsed.questions], result.questions))
    if "ACTIONS" in parsed.found and parsed.actions:
        emitted_kinds.append(("check", [(a.label, a.description or None, a.command) for a in parsed.actions], result.checks))
    if not emitted_kinds:
        return
    items = await _lane_items_to_rewrite(ctx, session, emitted_kinds)
    for kind, emitted, out in emitted_kinds:
        existing = [i for i in items if i.kind == kind]
        # Later wins: live items over retired ones, newer over older.
        by_key: dict[str, LaneItem] = {}
        for known in sorted(existing, key=lambda i: (i.retired_at is None, i.created_at)):
            by_key[_match_key(known.text)] = known
        kept: set[str] = set()
        seen: set[str] = set()
        position = -1
        for text, detail, command in emitted:
            text = truncate(text, lane_service.TEXT_MAX)
            if _match_key(text) in seen:  # the same item twice in one reply
                continue
            seen.add(_match_key(text))
            position += 1
            item = by_key.get(_match_key(text))
            if item is not None:
                item.retired_at = None
                item.position = position
                if item.origin == "ai":
                    item.detail = detail
                    if kind == "check":
                        item.command = command
            else:
                item = LaneItem(
                    id=str(uuid.uuid4()),
                    account_id=ctx.account.id,
                    session_id=session.id,
                    kind=kind,
                    origin="ai",
                    text=text,
                    detail=detail,
                    command=command if kind == "check" else None,
                    state="open",
                    position=position,
                    created_at=now,
                )
                ctx.db.add(item)
            kept.add(item.id)
            out.append(item)
        tail = position + 1
        for item in sorted(existing, key=lambda i: (i.position, i.created_at)):
            if item.id in kept or item.retired_at is not None:
                continue
            if item.origin == "ai" and item.state == "open":
                item.retired_at = now
                result.retired.append(item)
            else:
                item.position = tail
                tail += 1
    await ctx.db.flush()


async def _apply_promotes(
    ctx: Ctx, session: SessionRow, parsed: ParsedReply, user_message: Message, result: TurnResult
) -> None:
    if not parsed.promotes:
        return
    live = select(Fact.text).where(Fact.session_id == session.id, Fact.deleted_at.is_(None))
    known = {text.strip().casefold() for text in (await ctx.db.execute(live)).scalars()}  # the texts, not the rows
    for promote in parsed.promotes:
        if promote.text.strip().casefold() in known:
            result.dropped.append(f"PROMOTE: already known: {truncate(promote.text, 80)}")
            continue
        ref = promote.source_ref
        item = await ctx.db.get(LaneItem, ref) if ref else None
        if ref and (item is None or item.session_id != session.id or item.kind != _PROMOTE_KIND.get(promote.source_type)):
            result.dropped.append(f"PROMOTE: unknown source_ref {ref} (fact kept without it)")
            ref, item = None, None
        try:
            fact = await fact_service.promote(
                ctx, session, source_type=promote.source_type, text=promote.text, source_ref=ref, summary=promote.summary
            )
        except RfpilotError as err:
            result.dropped.append(f"PROMOTE: {err.message}")
            continue
        known.add(promote.text.strip().casefold())
        result.promoted.append(fact)
        if item is not None and item.state == "open":
            # The engineer answered it in prose: the lane should say so.
            item.state = "answered" if item.kind == "question" else "run"
            item.response = truncate(user_message.display_content, lane_service.RESPONSE_MAX)
            item.responded_at = ctx.now()


async def template_id_for_slug(ctx: Ctx, slug: str | None) -> str | None:
    """The script template with this slug in the caller's account, if one exists (exact slug, no guessing)."""
    from rfpilot.core.library.templates import find_by_slug

    found = await find_by_slug(ctx, slug)
    return found.id if found is not None else None


async def _apply_suggest_fix(ctx: Ctx, session: SessionRow, parsed: ParsedReply, result: TurnResult) -> None:
    proposal = parsed.suggest_fix
    if proposal is None:
        return
    current = await fix_service.active_fix(ctx, session)
    if current is not None and one_line(current.title).casefold() == one_line(proposal.title).casefold():
        # Models repeat their suggestion; a repeat must not reset an applied fix.
        result.dropped.append("SUGGEST_FIX: same as the active fix")
        return
    source, slug = await _provenance(ctx, session, proposal.seen_before, proposal.script_template_slug, result)
    try:
        result.suggested_fix = await fix_service.suggest_fix(
            ctx,
            session,
            proposal.title,
            description=proposal.description,
            confidence=proposal.confidence,
            origin="ai",
            script=proposal.ai_drafted_script,
            parameters=proposal.ai_drafted_parameters,
            template_slug=slug,
            template_id=await template_id_for_slug(ctx, slug),
            source_session_id=source,
        )
    except RfpilotError as err:
        result.dropped.append(f"SUGGEST_FIX: {err.message}")


async def _provenance(ctx: Ctx, session: SessionRow, ref: str | None, slug: str | None,
                      result: TurnResult) -> tuple[str | None, str | None]:
    """A proposed fix's ``seen_before``, when it names one of this session's matches (else dropped, the fix kept)."""
    if ref is None:
        return None, slug
    try:
        return await fix_provenance(ctx, session, ref, slug)
    except RfpilotError:
        result.dropped.append(f"SUGGEST_FIX: seen_before #{ref[:8]} is not one of this session's matches")
        return None, slug


async def fix_provenance(ctx: Ctx, session: SessionRow, ref: str, slug: str | None) -> tuple[str, str | None]:
    """The earlier session a fix repeats, named by ``ref`` among this session's seen-before matches (as stored:
    no search here), and the script template the fix uses: ``slug`` when given, else the one that earlier
    session's fix used, when the library still has it. NotFoundError/UsageError when ``ref`` names no match."""
    from rfpilot.core.memory import seen_before

    match = await seen_before.find_match(ctx, session, ref)
    detail = match.detail or {}
    earlier = detail.get("fix_template_slug")
    if not slug and isinstance(earlier, str) and earlier and await template_id_for_slug(ctx, earlier):
        slug = earlier
    return match.match_session_id, slug


async def _apply_outcome(
    ctx: Ctx, session: SessionRow, parsed: ParsedReply, reply: Message, result: TurnResult
) -> None:
    outcome = parsed.fix_outcome
    if outcome is None:
        return
    fix = await fix_service.active_fix(ctx, session)
    try:
        wanted = str(uuid.UUID(outcome.fix_id))
    except ValueError:
        wanted = None
    if fix is None or wanted != fix.id:
        result.dropped.append("FIX_OUTCOME: not about the active fix")
        return
    if fix_service.is_terminal(fix):
        result.dropped.append(f"FIX_OUTCOME: the fix is already {fix.status}")
        return
    proposal = OutcomeProposal(
        outcome=outcome.outcome,
        status=OUTCOME_STATUS[outcome.outcome],
        reason=truncate(outcome.reason, 1000),
        message_id=reply.id,
        proposed_at=ctx.now().isoformat(timespec="seconds"),
    )
    fix.ai_outcome_proposal = dict(proposal)
    result.outcome_proposal = proposal


async def _apply_fork(ctx: Ctx, session: SessionRow, parsed: ParsedReply, reply: Message, result: TurnResult) -> None:
    """A [FORK] records its fork point and makes the branches (untried; the engineer switches to one)."""
    if parsed.fork is None:
        return
    from rfpilot.core.session import branches

    fork = ForkPoint(
        account_id=ctx.account.id,
        session_id=session.id,
        message_id=reply.id,
        reason=parsed.fork.reason,
        options=[{"label": o.label, "description": o.description} for o in parsed.fork.options],
        created_at=ctx.now(),
    )
    ctx.db.add(fork)
    result.fork = fork
    try:
        await branches.fork(ctx, session, parsed.fork.reason or "competing hypotheses",
                            [(o.label, o.description) for o in parsed.fork.options],
                            fork_point=fork)
    except RfpilotError as err:  # over the limit, duplicate labels…: the fork point stays, without branches
        result.dropped.append(f"FORK: {err.message}")


def max_reply_chars(ctx: Ctx) -> int:
    """The llm.max_reply_chars setting (checked by the settings: at least 1,000)."""
    return int(ctx.settings.get("llm.max_reply_chars")) if ctx.settings is not None else REPLY_MAX_CHARS


async def _apply(
    ctx: Ctx, session: SessionRow, user_message: Message, provider: Provider, llm: LLMResult,
    notices: tuple[str, ...] = (),
) -> TurnResult:
    parsed = parse_reply(llm.text)
    now = ctx.now()
    version = session.state_version
    async with ctx.tx():
        reply = await _insert_message(
            ctx,
            session,
            id=str(uuid.uuid4()),
            account_id=ctx.account.id,
            branch_id=user_message.branch_id,
            role="assistant",
            status="complete",
            raw_content=llm.text,
            display_content=parsed.display,
            input_tokens=llm.usage.input_tokens,
            output_tokens=llm.usage.output_tokens,
            cache_read_tokens=llm.usage.cache_read_tokens,
            cache_write_tokens=llm.usage.cache_write_tokens,
            created_at=now,
        )
        user_message.status = "complete"
        user_message.error = None
        result = TurnResult(
            user_message=user_message,
            reply=reply,
            parsed=parsed,
            provider=provider.name,
            model=llm.model,
            usage=llm.usage,
            dropped=[*notices, *parsed.capped, *(f"{name}: malformed block" for name in parsed.dropped)],
        )
        await ctx.db.flush()
        await _write_lane(ctx, session, parsed, result)
        await _apply_promotes(ctx, session, parsed, user_message, result)  # after the lane (refs)
        await _apply_suggest_fix(ctx, session, parsed, result)
        await _apply_outcome(ctx, session, parsed, reply, result)
        await _apply_fork(ctx, session, parsed, reply, result)
        usage_service.record(ctx, session, "chat", provider, llm, message_id=reply.id)
        if session.state_version == version:  # else a fact or a fix already stamped updated_at with the version
            ctx.touch(session)
    if not parsed.has_lane:
        result.dropped.append("the reply had no [QUESTIONS] or [ACTIONS]; the task lane is unchanged")
    log.info(
        "chat turn",
        extra={"found": parsed.found, "dropped": result.dropped, "raw_len": len(llm.text), "display_len": len(parsed.display)},
    )
    return result


async def _mark_unanswered(ctx: Ctx, session: SessionRow, message: Message, status: str, error: str,
                           provider: Provider) -> None:
    async with ctx.tx():
        message.status = status
        message.error = truncate(error, 2000)
        usage_service.record(ctx, session, "chat", provider, None, message_id=message.id)


INTERRUPTED = "the reply was interrupted"


@asynccontextmanager
async def _until_answered(ctx: Ctx, session: SessionRow, message_id: str, provider: Provider) -> AsyncIterator[None]:
    """From storing the engineer's message to storing its reply: however this is left half way — a failed call,
    a cancel (ctrl+q, ctrl+c), a crash — the message ends ``failed`` or ``interrupted``, never ``sent``.

    A cancel may have cut ``ctx``'s session off in the middle of something, so ``interrupted`` is written in a
    fresh, short transaction that the cancel does not reach (``Ctx.finish_anyway``); only a message that is
    stored and still unanswered changes (a reply that was committed stays complete)."""
    session_id = session.id  # read now: after a rollback the row is expired and cannot be read back
    try:
        yield
    except LLMCallError as err:
        message = await ctx.db.get(Message, message_id)
        if message is not None:
            await _mark_unanswered(ctx, session, message, "failed", err.message, provider)
        raise
    except BaseException:
        changed: list[bool] = []

        async def interrupted(fresh: Ctx) -> None:
            message = await fresh.db.get(Message, message_id)
            if message is None or message.status == "complete":
                return
            message.status = "interrupted"
            message.error = INTERRUPTED
            usage_service.record(fresh, await fresh.db.get(SessionRow, session_id), "chat", provider, None,
                                 message_id=message_id)
            changed.append(True)

        try:
            await ctx.finish_anyway(interrupted)
        finally:
            mine = ctx.db.identity_map.get(identity_key(Message, message_id)) if changed else None
            if mine is not None:  # what the caller's session holds says what the store now says (no I/O)
                set_committed_value(mine, "status", "interrupted")
                set_committed_value(mine, "error", INTERRUPTED)
        raise


async def run_turn(
    ctx: Ctx,
    session: SessionRow,
    user_message: Message,
    provider: Provider,
    *,
    on_chunk: ChunkCallback | None = None,
    on_stored: StoredCallback | None = None,
) -> TurnResult:
    """Ask the model about ``user_message`` (already stored) and apply its reply."""
    async with _until_answered(ctx, session, user_message.id, provider):
        return await _answer(ctx, session, user_message, provider, on_chunk, on_stored)


async def _answer(
    ctx: Ctx,
    session: SessionRow,
    user_message: Message,
    provider: Provider,
    on_chunk: ChunkCallback | None,
    on_stored: StoredCallback | None,
) -> TurnResult:
    if on_stored is not None:
        shown = on_stored(user_message)
        if shown is not None:
            await shown
    require_chat_provider(provider)
    check_can_chat(session)
    request = await build_request(ctx, session, user_message, provider)
    llm: LLMResult | None = None
    limit = max_reply_chars(ctx)
    streamed = 0
    async for part in provider.stream(request):
        if isinstance(part, LLMResult):
            llm = part
        elif on_chunk is not None and streamed < limit:
            part = clean_model_text(part[: limit - streamed])  # nothing past the limit is shown
            streamed += len(part)
            shown = on_chunk(part)
            if shown is not None:
                await shown
    if llm is None:
        raise LLMCallError(f"the {provider.name} provider ended without a reply")
    notices: tuple[str, ...] = ()
    if len(llm.text) > limit:
        notices = (f"the reply was cut at {limit:,} of its {len(llm.text):,} characters (llm.max_reply_chars); "
                   "the rest was not shown or stored",)
        llm = dataclasses.replace(llm, text=llm.text[:limit])
    result = await _apply(ctx, session, user_message, provider, llm, notices)
    if session.title is None:
        await _maybe_title(ctx, session, provider, user_message, result)
    return result


async def send(
    ctx: Ctx,
    session: SessionRow,
    text: str,
    provider: Provider,
    *,
    lane_item: LaneItem | None = None,
    on_chunk: ChunkCallback | None = None,
    on_stored: StoredCallback | None = None,
) -> TurnResult:
    """One whole turn: store the engineer's message, then run it. ``on_stored(message)`` is called once the
    message is stored (the TUI shows it then); a cancel at any point leaves it ``interrupted``."""
    require_chat_provider(provider)
    message_id = str(uuid.uuid4())  # known before the commit: a cancel during the commit itself is covered too
    async with _until_answered(ctx, session, message_id, provider):
        message = await store_message(ctx, session, text, lane_item=lane_item, message_id=message_id)
        return await _answer(ctx, session, message, provider, on_chunk, on_stored)


async def require_retry(ctx: Ctx, session: SessionRow) -> Message:
    """The message a retry sends again, or a refusal when every message has its reply."""
    message = await pending_retry(ctx, session)
    if message is None:
        raise ConflictError("there is no unanswered message to retry", hint="send a new message instead")
    return message


async def retry_turn(
    ctx: Ctx, session: SessionRow, provider: Provider, *, on_chunk: ChunkCallback | None = None,
    on_stored: StoredCallback | None = None,
) -> TurnResult:
    """Run the engineer's last unanswered message again (no new message is stored)."""
    message = await require_retry(ctx, session)
    return await run_turn(ctx, session, message, provider, on_chunk=on_chunk, on_stored=on_stored)


async def _maybe_title(
    ctx: Ctx, session: SessionRow, provider: Provider, user_message: Message, result: TurnResult
) -> None:
    """Name an untitled session after its first reply. Best effort: failures leave it untitled."""
    request = LLMRequest(
        action="title",
        system=TITLE_PROMPT,
        message=f"Engineer: {user_message.display_content}\n\nAssistant: {result.parsed.display}",
        max_tokens=TITLE_MAX_TOKENS,
        engineer_text=user_message.display_content,
    )
    try:
        llm = await provider.complete(request)
    except LLMCallError as err:
        log.info("no title: %s", err.message)
        return
    title = one_line(llm.text).strip("\"'` .")
    async with ctx.tx():
        usage_service.record(ctx, session, "title", provider, llm)
        if title:
            session.title = truncate(title, 200)
