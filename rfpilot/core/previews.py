"""Note previews, cached in the database by (kind, session, state_version, drafter).

A hit costs no drafting at all; any write that changes what a note would say
bumps state_version, so the next preview is a miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from rfpilot.core import notes
from rfpilot.core.context import Ctx
from rfpilot.db.models import PreviewCache, SessionRow
from rfpilot.errors import UsageError

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
    drafter: str
    from_cache: bool
    state_version: int
    target_ticket_ref: str | None
    created_at: datetime
    fallback_reason: str | None = None  # why the LLM drafter was not used


async def _cached(ctx: Ctx, session: SessionRow, kind: str, drafter: str) -> PreviewCache | None:
    stmt = select(PreviewCache).where(
        PreviewCache.session_id == session.id,
        PreviewCache.kind == kind,
        PreviewCache.state_version == session.state_version,
        PreviewCache.drafter == drafter,
    )
    return (await ctx.db.execute(stmt)).scalar_one_or_none()


async def _store(ctx: Ctx, session: SessionRow, kind: str, drafter: str, markdown: str) -> PreviewCache:
    """Replace this session's cached preview of ``kind`` by ``drafter`` (older versions are dead)."""
    row = PreviewCache(
        account_id=ctx.account.id,
        session_id=session.id,
        kind=kind,
        state_version=session.state_version,
        drafter=drafter,
        markdown=markdown,
        target_ticket_ref=session.ticket_ref,
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


async def preview(ctx: Ctx, session: SessionRow, kind: str, *, force: bool = False) -> Preview:
    """The note for the session's current state, from the cache when possible.

    Only the offline drafter exists so far; the LLM drafter plugs in here with
    the same bundle and the same cache.
    """
    kind = normalise_kind(kind)
    drafter = "offline"
    await ctx.db.refresh(session, ["state_version", "ticket_ref"])
    hit = None if force else await _cached(ctx, session, kind, drafter)
    if hit is not None:
        return Preview(kind, hit.markdown, drafter, True, hit.state_version, hit.target_ticket_ref, hit.created_at)
    bundle = await notes.build_bundle(ctx, session, kind)
    markdown = notes.offline_draft(bundle)
    row = await _store(ctx, session, kind, drafter, markdown)
    return Preview(kind, markdown, drafter, False, row.state_version, row.target_ticket_ref, row.created_at)
