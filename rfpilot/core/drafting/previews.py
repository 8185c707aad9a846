"""Note previews, cached in the database by (kind, session, state_version, drafter).

A hit costs no drafting at all; any write that changes what a note would say
bumps state_version, so the next preview is a miss. Two drafters share one
input bundle (notes.build_bundle): the LLM drafter and the offline drafter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select

from rfpilot.core.drafting import notes
from rfpilot.core.llm import usage as usage_service
from rfpilot.core.context import Ctx
from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider
from rfpilot.db.models import PreviewCache, SessionRow
from rfpilot.errors import UsageError

NOTE_MAX_TOKENS = {notes.RESOLUTION: 1200, notes.ESCALATION: 1400}

KIND_ALIASES = {
    "resolve": notes.RESOLUTION,
    "resolution": notes.RESOLUTION,
    notes.RESOLUTION: notes.RESOLUTION,
    "escalate": notes.ESCALATION,
    "escalation": notes.ESCALATION,
    notes.ESCALATION: notes.ESCALATION,
}


def normalise_kind(kind: str) -> str:
    try:
        return KIND_ALIASES[kind]
    except KeyError:
        raise UsageError(f"unknown note kind {kind!r}", hint="resolve or escalate") from None


@dataclass
class Preview:
    kind: str
    markdown: str
    drafter: str  # "llm" or "offline"
    from_cache: bool
    state_version: int
    target_ticket_ref: str | None
    created_at: datetime
    fallback_reason: str | None = None  # why the LLM drafter was not used, when it was wanted
    model: str | None = None
    # What the offline drafter drafted it from, when it drafted it now (not from the cache): a resolve hands
    # it on to the resolution outputs (core.team.outputs.build_bundle) instead of reading it all again.
    bundle: notes.Bundle | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        return describe(self.drafter, self.model, self.from_cache, self.state_version, self.fallback_reason)


def describe(drafter: str, model: str | None, from_cache: bool, state_version: int, fallback_reason: str | None) -> str:
    """One line saying which drafter wrote a preview and whether it came from the cache."""
    who = ("LLM drafter" + (f" ({model})" if model else "")) if drafter == "llm" else "offline drafter"
    line = f"{who} · {'cache hit' if from_cache else 'freshly drafted'} · state v{state_version}"
    return line + (f" · {fallback_reason}" if fallback_reason else "")


async def _cached(ctx: Ctx, session: SessionRow, kind: str, drafter: str) -> PreviewCache | None:
    stmt = select(PreviewCache).where(
        PreviewCache.session_id == session.id,
        PreviewCache.kind == kind,
        PreviewCache.state_version == session.state_version,
        PreviewCache.drafter == drafter,
    )
    return (await ctx.db.execute(stmt)).scalar_one_or_none()


async def _store(
    ctx: Ctx, session: SessionRow, kind: str, drafter: str, markdown: str, model: str | None = None
) -> PreviewCache:
    """Replace this session's cached preview of ``kind`` by ``drafter`` (older versions are dead)."""
    row = PreviewCache(
        account_id=ctx.account.id,
        session_id=session.id,
        kind=kind,
        state_version=session.state_version,
        drafter=drafter,
        markdown=markdown,
        target_ticket_ref=session.ticket_ref,
        model=model,
        created_at=ctx.now(),
    )
    async with ctx.tx():
        await ctx.db.execute(
            delete(PreviewCache).where(
                PreviewCache.session_id == session.id,
                PreviewCache.kind == kind,
                PreviewCache.drafter == drafter,
            )
        )
        ctx.db.add(row)
    return row


def _from_row(row: PreviewCache, from_cache: bool, fallback_reason: str | None = None) -> Preview:
    return Preview(
        row.kind,
        row.markdown,
        row.drafter,
        from_cache,
        row.state_version,
        row.target_ticket_ref,
        row.created_at,
        fallback_reason,
        row.model,
    )


def tidy_draft(text: str) -> str:
    """A model's note, normalised: no trailing spaces, no blank-line runs, no rules or fences."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    if lines and lines[0].startswith("```"):
        lines = lines[1:]
    if lines and lines[-1].startswith("```"):
        lines = lines[:-1]
    out: list[str] = []
    for line in lines:
        if line.strip() in ("---", "***", "___"):
            continue
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip()


def check_sections(kind: str, markdown: str) -> str | None:
    """None when the draft has exactly the note's sections in order; else what is wrong."""
    wanted = list(notes.HEADINGS[kind])
    found = notes.section_headings(markdown)
    if found == wanted:
        if not markdown.startswith("## "):
            return "the draft has text before its first section"
        return None
    return "the draft's sections were " + (", ".join(found) if found else "missing") + f", not {', '.join(wanted)}"


async def _llm_draft(ctx: Ctx, session: SessionRow, kind: str, provider: Provider) -> tuple[str, LLMResult]:
    """Ask the model for the note. Raises LLMCallError; a malformed draft counts as a failed call."""
    from rfpilot.core.llm import prompts

    bundle = await notes.build_bundle(ctx, session, kind)
    request = LLMRequest(
        action=kind,
        system=prompts.RESOLUTION_NOTE_PROMPT if kind == notes.RESOLUTION else prompts.ESCALATION_PACKAGE_PROMPT,
        message=notes.bundle_text(bundle),
        max_tokens=NOTE_MAX_TOKENS[kind],
    )
    result = await provider.complete(request)
    markdown = tidy_draft(result.text)
    problem = check_sections(kind, markdown)
    async with ctx.tx():
        usage_service.record(ctx, session, kind, provider, result)
    if problem:
        raise LLMCallError(f"the model's draft was unusable: {problem}", retryable=True)
    return notes.ensure_branch_map(markdown, bundle), result


async def preview(
    ctx: Ctx,
    session: SessionRow,
    kind: str,
    *,
    force: bool = False,
    provider: Provider | None = None,
    offline: bool = False,
    fresh: bool = False,
    cache_offline: bool = True,
) -> Preview:
    """The note for the session's current state, from the cache when possible. ``fresh``: ``session`` was just
    read in this Ctx (its state_version and ticket ref are not read again). ``cache_offline``: False when the
    note is drafted to be stored by a close right away (core.closeout.closing.draft_for_close): an offline draft, which
    costs nothing to make again, is then not written to the cache (a model's draft still is).

    With a provider that can draft (anything but offline) and not ``offline``,
    the LLM drafter writes it; when the model is unreachable or its draft is
    unusable, the offline drafter does, and ``fallback_reason`` says why.
    """
    kind = normalise_kind(kind)
    if not fresh:
        await ctx.db.refresh(session, ["state_version", "ticket_ref"])
    reason: str | None = None
    if offline:
        reason = "--offline was asked for"
    elif provider is None or not provider.can_chat:
        reason = "no model is configured"
    else:
        hit = None if force else await _cached(ctx, session, kind, "llm")
        if hit is not None:
            return _from_row(hit, True)
        try:
            markdown, result = await _llm_draft(ctx, session, kind, provider)
        except LLMCallError as err:
            reason = f"the model could not draft it: {err.message}"
        else:
            return _from_row(await _store(ctx, session, kind, "llm", markdown, result.model), False)
    hit = None if force else await _cached(ctx, session, kind, "offline")
    if hit is not None:
        return _from_row(hit, True, reason)
    bundle = await notes.build_bundle(ctx, session, kind)
    if cache_offline:
        drafted = _from_row(await _store(ctx, session, kind, "offline", notes.offline_draft(bundle)), False, reason)
    else:
        drafted = Preview(kind, notes.offline_draft(bundle), "offline", False, session.state_version,
                          session.ticket_ref, ctx.now(), reason)
    drafted.bundle = bundle
    return drafted


async def configured_preview(
    ctx: Ctx, session: SessionRow, kind: str, *, force: bool = False, offline: bool = False, fresh: bool = False,
    cache_offline: bool = True,
) -> Preview:
    """``preview`` with the provider the settings select (SPEC §12).

    A provider that cannot even be built (no key, no replies file) is not an
    error here: the offline drafter writes the note and the reason is given.
    """
    from rfpilot.core.llm import optional_provider

    async with optional_provider(ctx.settings, offline=offline) as (provider, problem):
        result = await preview(ctx, session, kind, force=force, provider=provider, offline=offline, fresh=fresh,
                               cache_offline=cache_offline)
    if problem and result.drafter == "offline":
        result.fallback_reason = problem
    return result
