"""The context budget of a chat turn (SPEC §4, §12; docs/llm.md, "The context budget").

A turn's request fits a budget in tokens: ``llm.context_tokens``, else three quarters of the chat model's context
window once the reply's room is set aside (``default_budget``; windows in ``llm.base.MODEL_WINDOWS``).

Tokens are estimated, never counted by a tokenizer (no dependency, no network): one token per three bytes of
UTF-8, plus four per message or system block (``estimate``). Tokenizers give English prose about four characters
a token, so the estimate runs about a third high there and stays at or above the real count for code, JSON, logs
and non-Latin text: a request the estimate fits, fits.

What always goes whole: the system prompt, the ticket and branch context, and the new message with the session
state (every fact, every question and check with its state, the active fix): they are the session's truth. The
history gets what is left after a reserve for the summary. When it does not fit, its oldest turns are folded into
the branch's rolling summary (``ContextSummary``, in the store), until the history left takes at most half of its
share. Folds are therefore rare, and between two folds the request only grows at its end: the cached system
prompt is never touched, and the summary sits after it in the uncached system block, so the provider's prompt
cache keeps working. The summary is written by the model (``CONTEXT_SUMMARY_PROMPT``, one extra call) or, with no
model or when that call fails, offline from the session's structured record and the folded messages' first lines.

An engineer's message in the history longer than the paste limit (pasted output, a check's result) is sent cut
in the middle with a note saying how much was cut; the store keeps it whole. The new message is cut the same way
only if it alone would not fit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from itertools import chain
from dataclasses import dataclass

from sqlalchemy import func, select

from rfpilot.core.context import Ctx
from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider, Turn, default_budget
from rfpilot.core.text import one_line, truncate
from rfpilot.db.models import ContextSummary, LaneItem, Message, SessionBranch, SessionRow
from rfpilot.grammar import count

log = logging.getLogger("rfpilot.context")

BYTES_PER_TOKEN = 3
BLOCK_TOKENS = 4  # what a message or system block costs beyond its text (role, separators)
UNKNOWN_PROVIDER_WINDOW = 200_000  # a request built without a provider (tests, tools) is budgeted like Claude's
KEEP_SHARE = 0.5  # after a fold, the history left takes at most this share of its allowance
SUMMARY_MAX_TOKENS = 2_000  # the summary's size, at most (and a tenth of the budget at most)
PASTE_LIMIT_CHARS = 8_000  # an engineer's message in the history over this is sent cut (at most half the budget)
PASTE_MIN_CHARS = 1_000
SUMMARY_LINE_CHARS = 160  # one line of the offline summary
STRUCTURED_SHARE = 0.6  # of the offline summary's room, at most, for the structured record


# --- estimating -------------------------------------------------------------------------------------------------


def estimate(text: str) -> int:
    """Tokens ``text`` costs, estimated on the safe side: one per three bytes of UTF-8, rounded up."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return -(-size // BYTES_PER_TOKEN)


def request_tokens(request: LLMRequest) -> int:
    """The estimated size of a whole request: system blocks, history and the new message."""
    blocks = [request.system, request.volatile, *(t.content for t in request.history), request.message]
    return sum(estimate(b) + BLOCK_TOKENS for b in blocks)


def budget_for(ctx: Ctx, provider: Provider | None, reply_tokens: int) -> int:
    """The turn's budget: ``llm.context_tokens`` when set, else derived from the provider's chat model."""
    value = ctx.settings.get("llm.context_tokens") if ctx.settings is not None else None
    if value is not None:  # checked by the settings: a whole number of at least 4,000 (llm.base.MIN_BUDGET)
        return int(value)
    window = UNKNOWN_PROVIDER_WINDOW
    if provider is not None:
        try:
            window = provider.context_window("chat")
        except LLMCallError:  # no chat model configured: the call itself will say so
            pass
    return default_budget(window, reply_tokens)


def summary_cap(budget: int) -> int:
    return min(SUMMARY_MAX_TOKENS, budget // 10)


def paste_limit(budget: int) -> int:
    """Characters of an engineer's message sent whole in the history."""
    return max(PASTE_MIN_CHARS, min(PASTE_LIMIT_CHARS, budget // 2))


# --- cutting ----------------------------------------------------------------------------------------------------


def trim_paste(text: str, limit: int) -> str:
    """``text`` whole when it has at most ``limit`` characters; else its start and end around a note saying how
    much was cut (logs carry their errors at the end as often as at the start)."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    note = (f"[… rfpilot cut {count(cut, 'character')} of {len(text):,} here to save context; "
            "the whole text is stored in the session …]")
    return f"{text[:head]}\n{note}\n{text[len(text) - tail:]}" if tail else f"{text[:head]}\n{note}"


def cut_to_tokens(text: str, tokens: int) -> str:
    """``text`` cut (at its end) so that ``estimate`` gives at most ``tokens``."""
    if estimate(text) <= tokens:
        return text
    data = text.encode("utf-8", "surrogatepass")[: max(0, tokens * BYTES_PER_TOKEN - 3)]
    return data.decode("utf-8", "ignore").rstrip() + "…"


def _fit_new_text(text: str, room: int) -> str:
    """The new message cut in the middle until it fits ``room`` tokens (kept whole when it does)."""
    if estimate(text) <= room:
        return text
    limit = max(200, room * BYTES_PER_TOKEN - 200)
    trimmed = trim_paste(text, limit)
    while estimate(trimmed) > room and limit > 200:
        limit = max(200, limit * 3 // 4)
        trimmed = trim_paste(text, limit)
    return trimmed


# --- the summary ------------------------------------------------------------------------------------------------

SUMMARY_HEADING = "# Earlier in this conversation"
_NARRATIVE_HEADING = "The conversation before this point (first lines, oldest first):"


def summary_block(summary: ContextSummary, cap: int) -> str:
    """The summary as the request carries it, after the ticket context."""
    by = "by the model" if summary.drafter == "llm" else "by rfpilot, without a model"
    return (f"{SUMMARY_HEADING}\nThe oldest {count(summary.folded_messages, 'message')} of this conversation, "
            f"summarised {by} to keep within the context budget:\n{cut_to_tokens(summary.text, cap)}")


def _reserve(cap: int) -> int:
    """What the summary block may cost, at most (its heading with the largest count, and ``cap``)."""
    return estimate(SUMMARY_HEADING) + 40 + cap + 2


async def summary_for(ctx: Ctx, session: SessionRow, branch: SessionBranch | None) -> tuple[str, ContextSummary | None]:
    """The scope a fold on this branch writes to, and the summary its history starts from: the branch's own, else
    the latest of an ancestor's (or the session's from before it branched) that stops before this branch's
    history leaves that ancestor's."""
    scope = branch.id if branch is not None else ""
    stmt = select(ContextSummary).where(ContextSummary.session_id == session.id)
    rows = {row.scope: row for row in (await ctx.db.execute(stmt)).scalars()}
    if not rows or scope in rows:
        return scope, rows.get(scope)
    from rfpilot.core.session import branches

    by_id = {b.id: b for b in await branches.list_branches(ctx, session)}
    best: ContextSummary | None = None
    node, limit = branch, None
    while node is not None:
        keys: tuple[str, ...]
        if node.parent_branch_id is None:  # the root: its own summary, or the one from before the session branched
            keys = (node.id, "")
        else:
            keys = (node.id,)
        for key in keys:
            row = rows.get(key)
            if row is not None and (limit is None or row.through_seq <= limit) and (
                    best is None or row.through_seq > best.through_seq):
                best = row
        if node.fork_seq is not None:
            limit = node.fork_seq if limit is None else min(limit, node.fork_seq)
        node = by_id.get(node.parent_branch_id) if node.parent_branch_id else None
    return scope, best


def _line(message: Message, text: str) -> str:
    who = "engineer" if message.role == "user" else "assistant"
    first = next((one_line(part) for part in text.splitlines() if part.strip()), "")
    return f"- {who}: {truncate(first, SUMMARY_LINE_CHARS)}"


def _take(lines: Iterable[str], room: int) -> list[str]:
    """As many of ``lines`` as fit ``room`` tokens, in their order (lines are made only as far as they are read)."""
    taken: list[str] = []
    used = 0
    for line in lines:
        cost = estimate(line) + 1
        if used + cost > room:
            break
        taken.append(line)
        used += cost
    return taken


def _newest(lines: Iterable[str], room: int) -> list[str]:
    """``_take`` on lines given newest first, returned oldest first."""
    return list(reversed(_take(lines, room)))


_FIX_PHASES = {"applied_success": "worked", "applied_failed": "failed", "applied_partial": "partly worked",
               "applied_pending": "applied, result pending", "dismissed": "dismissed"}


def _fix_phase(fix) -> str:
    if fix.status != "proposed":
        return _FIX_PHASES.get(fix.status, fix.status)
    if fix.superseded_at is not None:
        return "applied, then superseded" if fix.applied_at else "superseded before it was applied"
    return "applied, being verified" if fix.applied_at else "proposed"


def offline_summary(prev: ContextSummary | None, folded: list[tuple[Message, str]], *, items: list[LaneItem],
                    fixes: list, branches: list[SessionBranch], active_fix_id: str | None, cap: int) -> str:
    """The summary without a model: what the structured record holds that the session state does not (fixes
    tried, answers and outputs, hypotheses), then the first line of each folded message, newest kept first."""
    structured: list[str] = []
    tried = [f for f in fixes if f.id != active_fix_id]
    if tried:
        structured.append("Fixes suggested before:")
        for fix in tried:
            why = fix.failure_reason or fix.partial_notes or fix.pending_reason or ""
            structured.append(truncate(f"- {fix.title} · {_fix_phase(fix)}" + (f" · {one_line(why)}" if why else ""),
                                       SUMMARY_LINE_CHARS))
    for kind, heading, done in (("question", "Questions answered:", "answered"), ("check", "Checks run:", "run")):
        finished = [i for i in items if i.kind == kind and i.state == done]
        if finished:
            structured.append(heading)
            structured += [truncate(f"- {i.text} → {one_line(i.response or '')}", SUMMARY_LINE_CHARS) for i in finished]
    explored = [b for b in branches if b.parent_branch_id is not None]
    if explored:
        structured.append("Hypotheses:")
        for b in explored:
            concluded = (b.context_summary or {}).get("concluded") or b.status_reason or ""
            structured.append(truncate(f"- {b.label} [{b.status.replace('_', ' ')}]"
                                       + (f": {one_line(concluded)}" if concluded else ""), SUMMARY_LINE_CHARS))
    lead = "Written by rfpilot without a model, from the session's record and the folded messages."
    room = cap - estimate(lead) - estimate(_NARRATIVE_HEADING) - 4
    kept = _take(structured, int(room * STRUCTURED_SHARE))
    if len(kept) < len(structured):
        kept.append(f"(and {count(len(structured) - len(kept), 'more line')})")
    room -= sum(estimate(line) + 1 for line in kept)

    earlier: list[str] = []
    if prev is not None:
        text = prev.text
        if prev.drafter == "offline" and _NARRATIVE_HEADING in text:
            earlier = [line for line in text.split(_NARRATIVE_HEADING, 1)[1].splitlines() if line.strip()]
        elif text.strip():
            earlier = [truncate(f"- summary so far: {one_line(text)}", max(SUMMARY_LINE_CHARS, room * 2))]
    narrative = _newest(chain((_line(m, text) for m, text in reversed(folded)), reversed(earlier)), room)
    parts = [lead, *kept, _NARRATIVE_HEADING, *narrative]
    return cut_to_tokens("\n".join(parts), cap)


async def model_summary(provider: Provider, prev: ContextSummary | None, folded: list[tuple[Message, str]], *,
                        budget: int, cap: int, limit: int) -> tuple[str, LLMResult]:
    """The summary written by the model: the summary so far and the folded messages (the newest that fit the
    budget), through ``CONTEXT_SUMMARY_PROMPT``. Raises ``LLMCallError`` when the call fails or says nothing."""
    from rfpilot.core.llm.prompts import CONTEXT_SUMMARY_PROMPT

    before = prev.text if prev is not None else "(none: these are the conversation's first turns)"
    lines = (("Engineer: " if m.role == "user" else "Assistant: ") + trim_paste(text, limit)
             for m, text in reversed(folded))
    room = budget - estimate(CONTEXT_SUMMARY_PROMPT) - estimate(before) - 200
    shown = _newest(lines, room)
    left_out = len(folded) - len(shown)
    intro = "The next stretch of the conversation, oldest first"
    if left_out:
        intro += f" (its first {count(left_out, 'message')} did not fit and are left out)"
    request = LLMRequest(
        action="context_summary",
        system=CONTEXT_SUMMARY_PROMPT,
        message=f"The summary so far:\n{before}\n\n{intro}:\n\n" + "\n\n".join(shown),
        max_tokens=max(256, cap * 3 // 4),
    )
    llm = await provider.complete(request)
    text = llm.text.strip()
    if not text:
        raise LLMCallError("the model's summary was empty")
    return cut_to_tokens(text, cap), llm


# --- assembling the request ---------------------------------------------------------------------------------------


@dataclass
class Window:
    """What of the conversation one turn's request carries."""

    volatile: str
    history: tuple[Turn, ...]
    message: str
    budget: int
    turn_index: int
    summary: ContextSummary | None = None
    folded: int = 0  # messages folded into the summary by this turn
    over_budget: bool = False  # the parts that always go whole did not fit on their own


Content = Callable[[Message, int | None], str | None]


def merge_turns(parts: list[tuple[Message, str]]) -> tuple[Turn, ...]:
    """The history's turns: each message's text, consecutive same-role ones joined."""
    turns: list[Turn] = []
    for message, text in parts:
        if turns and turns[-1].role == message.role:
            turns[-1] = Turn(message.role, turns[-1].content + "\n\n" + text)
        else:
            turns.append(Turn(message.role, text))
    return tuple(turns)


def fold_point(parts: list[tuple[Message, str]], target: int) -> int:
    """Where the kept history starts: the earliest engineer message from which the rest costs at most ``target``
    (``len(parts)``, nothing kept, when not even the last turn fits)."""
    start = len(parts)
    total = 0
    for k in range(len(parts) - 1, -1, -1):
        total += estimate(parts[k][1]) + BLOCK_TOKENS
        if total > target:
            break
        if parts[k][0].role == "user":
            start = k
    return start


async def assemble(
    ctx: Ctx,
    session: SessionRow,
    user_message: Message,
    provider: Provider | None,
    *,
    system: str,
    volatile: str,
    new_text: str,
    suffix: str,
    content: Content,
    reply_tokens: int,
    items: list[LaneItem],
) -> Window:
    """The request's volatile block, history and message within the budget, folding the oldest turns first
    when they do not fit (the fold is committed before the request is sent)."""
    from rfpilot.core.session import branches

    budget = budget_for(ctx, provider, reply_tokens)
    cap = summary_cap(budget)
    limit = paste_limit(budget)
    branch = await branches.active_branch(ctx, session) if session.active_branch_id else None
    scope, summary = await summary_for(ctx, session, branch)

    stmt = (await branches.history_statement(ctx, session, branch)).where(Message.seq < user_message.seq)
    replies_before = 0
    if summary is not None:
        counted = stmt.where(Message.seq <= summary.through_seq, Message.role == "assistant",
                             Message.status == "complete")
        replies_before = int((await ctx.db.execute(select(func.count()).select_from(counted.subquery()))).scalar_one())
        stmt = stmt.where(Message.seq > summary.through_seq)
    messages = list((await ctx.db.execute(stmt.order_by(Message.seq))).scalars())
    turn_index = replies_before + sum(1 for m in messages if m.role == "assistant" and m.status == "complete")
    parts = [(m, text) for m in messages if (text := content(m, limit)) is not None]

    fixed = (estimate(system) + BLOCK_TOKENS + estimate(volatile) + 1 + _reserve(cap) + BLOCK_TOKENS
             + estimate("\n\n" + suffix) + BLOCK_TOKENS)
    over_budget = False
    if fixed + estimate(new_text) > budget:
        new_text = _fit_new_text(new_text, budget - fixed)
        over_budget = fixed + estimate(new_text) > budget
    allowance = budget - fixed - estimate(new_text)
    history_cost = sum(estimate(text) + BLOCK_TOKENS for _, text in parts)

    folded_now = 0
    if history_cost > allowance and parts:
        start = fold_point(parts, int(allowance * KEEP_SHARE))
        first_kept = parts[start][0].seq if start < len(parts) else None
        folded_messages = [m for m in messages if first_kept is None or m.seq < first_kept]
        folded_parts = parts[:start]
        summary = await _fold(ctx, session, provider, scope, summary, folded_messages, folded_parts,
                              items=items, budget=budget, cap=cap, limit=limit)
        folded_now = len(folded_messages)
        parts = parts[start:]
        log.info("context fold", extra={"session": session.id, "folded": folded_now, "budget": budget,
                                        "drafter": summary.drafter})
    if over_budget:
        log.warning("the session state alone is over the context budget",
                    extra={"session": session.id, "budget": budget, "fixed": fixed})

    if summary is not None:
        block = summary_block(summary, cap)
        volatile = f"{volatile}\n\n{block}" if volatile else block
    return Window(volatile=volatile, history=merge_turns(parts), message=f"{new_text}\n\n{suffix}", budget=budget,
                  turn_index=turn_index, summary=summary, folded=folded_now, over_budget=over_budget)


async def _fold(ctx: Ctx, session: SessionRow, provider: Provider | None, scope: str, prev: ContextSummary | None,
                messages: list[Message], parts: list[tuple[Message, str]], *, items: list[LaneItem], budget: int,
                cap: int, limit: int) -> ContextSummary:
    """Fold ``messages`` into the scope's summary (model first, offline on any failure) and commit it."""
    from rfpilot.core.llm import usage as usage_service

    text: str | None = None
    llm: LLMResult | None = None
    failed = False
    if provider is not None and provider.can_chat and parts:
        try:
            text, llm = await model_summary(provider, prev, parts, budget=budget, cap=cap, limit=limit)
        except LLMCallError as err:
            failed = True
            log.info("context summary by the model failed; folding offline: %s", err.message)
    if text is None:
        from rfpilot.core.session import branches
        from rfpilot.core.session import fixes as fix_service

        active = await fix_service.active_fix(ctx, session)
        text = offline_summary(prev, parts, items=items, fixes=await fix_service.list_fixes(ctx, session),
                               branches=await branches.list_branches(ctx, session),
                               active_fix_id=active.id if active is not None else None, cap=cap)
    last = messages[-1]
    async with ctx.tx():
        row = prev if prev is not None and prev.scope == scope else None
        if row is None:
            row = ContextSummary(account_id=ctx.account.id, session_id=session.id, scope=scope, created_at=ctx.now())
            ctx.db.add(row)
        row.text = text
        row.through_seq = last.seq
        row.through_message_id = last.id
        row.through_created_at = last.created_at
        row.folded_messages = (prev.folded_messages if prev is not None else 0) + len(messages)
        row.folds = (prev.folds if prev is not None else 0) + 1
        row.drafter = "llm" if llm is not None else "offline"
        row.model = llm.model if llm is not None else None
        row.updated_at = ctx.now()
        if provider is not None and (llm is not None or failed):
            usage_service.record(ctx, session, "context_summary", provider, llm)
    return row
