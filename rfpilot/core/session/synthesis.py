"""Promoting an answer or a check's output to a fact: directly, or synthesized by the model.

Synthesis is conservative (prompts.FACT_SYNTHESIS_PROMPT): "I don't know" or
an empty output is an answer, not a fact, and gives no fact at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rfpilot.core.session import facts as fact_service
from rfpilot.core.llm import usage as usage_service
from rfpilot.core.context import Ctx
from rfpilot.core.llm.base import LLMRequest, Provider
from rfpilot.core.llm.prompts import FACT_SYNTHESIS_PROMPT
from rfpilot.core.session.permissions import owner_action
from rfpilot.db.models import Fact, LaneItem, SessionRow
from rfpilot.errors import ConflictError, LLMUnavailableError, UsageError

SYNTHESIS_MAX_TOKENS = 200
RAW_MAX = 10_000
NOTHING_SUBSTANTIVE = (
    "the model found no substantive fact in that input (an answer like 'unknown' or an empty output is not a fact)"
)


@dataclass(frozen=True)
class FactDraft:
    text: str | None
    summary: str | None


def _string(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def parse_fact_json(text: str) -> FactDraft:
    """Read the model's JSON tolerantly: fences stripped; anything unusable is 'no fact'."""
    body = (text or "").strip()
    if body.startswith("```"):
        body = body[3:]
        if body[:4].lower() == "json":
            body = body[4:]
    if body.endswith("```"):
        body = body[:-3]
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return FactDraft(None, None)
    try:
        data = json.loads(body[start : end + 1])
    except ValueError:
        return FactDraft(None, None)
    if not isinstance(data, dict):
        return FactDraft(None, None)
    return FactDraft(_string(data.get("text")), _string(data.get("summary")))


def synthesis_input(source_type: str, label: str, raw: str) -> str:
    if source_type == "question":
        return f"Question asked: {label}\nEngineer's answer: {raw}"
    if source_type == "diagnostic_check":
        return f"Diagnostic check: {label}\nOutput:\n{raw}"
    return f"Engineer's summary of what is now known:\n{raw}"


async def synthesize(
    ctx: Ctx, session: SessionRow, provider: Provider, source_type: str, label: str, raw: str
) -> FactDraft:
    if not provider.can_chat:
        raise LLMUnavailableError(
            "synthesizing a fact needs a model, and rfpilot is running offline",
            hint="promote directly with --text instead",
        )
    request = LLMRequest(
        action="fact_synthesis",
        system=FACT_SYNTHESIS_PROMPT,
        message=synthesis_input(source_type, label, raw),
        max_tokens=SYNTHESIS_MAX_TOKENS,
        engineer_text=raw,
    )
    result = await provider.complete(request)
    async with ctx.tx():
        usage_service.record(ctx, session, "fact_synthesis", provider, result)
    return parse_fact_json(result.text)


@owner_action("promote a fact in")  # before the model is asked: a teammate's refusal costs no call and no tokens
async def promote(
    ctx: Ctx,
    session: SessionRow,
    item: LaneItem | None,
    *,
    text: str | None = None,
    summary: str | None = None,
    synthesize_with: Provider | None = None,
) -> Fact:
    """Promote ``item``'s answer/output (or, with no item, an engineer summary) to a fact.

    Direct: ``text`` (or the item's recorded response) is the fact as given.
    With ``synthesize_with``: the model drafts the fact from ``text`` or the
    item's response; ``summary`` still overrides the model's summary.
    """
    source_type = "ai_synthesis"
    label = ""
    if item is not None:
        if item.session_id != session.id:
            raise UsageError("that lane item belongs to another session")
        source_type = "question" if item.kind == "question" else "diagnostic_check"
        label = item.text
    given = (text or "").strip() or None
    raw = given or (item.response if item is not None else None)
    if not raw:
        if item is None:
            raise UsageError("give the text to promote (--text)")
        what = "answer" if item.kind == "question" else "recorded output"
        raise ConflictError(
            f"that {'question' if item.kind == 'question' else 'check'} has no {what} yet",
            hint="answer it (or mark it run with its output) first, or give the fact with --text",
        )
    if synthesize_with is None:
        if item is None:
            # The engineer's own words with no lane item: that is a note, not a promotion.
            return await fact_service.add_note(ctx, session, raw, summary=summary)
        return await fact_service.promote(
            ctx, session, source_type=source_type, text=raw, source_ref=item.id, summary=summary
        )
    if len(raw) > RAW_MAX:
        raise UsageError(f"the input is too long to synthesize ({len(raw)} characters; the limit is {RAW_MAX})")
    draft = await synthesize(ctx, session, synthesize_with, source_type, label, raw)
    if not draft.text:
        raise ConflictError(NOTHING_SUBSTANTIVE, hint="edit the input, or promote directly with --text")
    return await fact_service.promote(
        ctx,
        session,
        source_type=source_type,
        text=draft.text,
        source_ref=item.id if item is not None else None,
        summary=summary or draft.summary,
    )
