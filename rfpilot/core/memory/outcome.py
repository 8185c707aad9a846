"""What an earlier session's outcome may say, for the search results and the "seen before" matches.

A resolved session was fixed by the last fix that worked; failing that, by what the engineer wrote when resolving
(`resolve --summary`). An escalated one was escalated for the reason the engineer gave (`escalate --reason`). A
close without either keeps a summary line taken from its note's Problem section (``core.text.close_summary``):
that line restates the problem, so it is never shown as what fixed it or why it was escalated.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select

from rfpilot.core.context import Ctx
from rfpilot.core.text import written_summary
from rfpilot.db.models import SessionRow

# The start of a note that holds its Problem section's first sentence (all close_summary reads).
NOTE_HEAD = 4_000


@dataclass(frozen=True)
class Written:
    resolution: str | None  # what the engineer wrote when resolving
    escalation: str | None  # why the engineer escalated


async def written(ctx: Ctx, ids: Collection[str]) -> dict[str, Written]:
    """For these sessions of the account: the close summaries the engineer wrote (None where rfpilot took one from
    the note). One query, reading the head of each note only."""
    if not ids:
        return {}
    rows = (await ctx.db.execute(
        select(SessionRow.id, SessionRow.resolution_summary,
               func.substr(SessionRow.resolution_note_markdown, 1, NOTE_HEAD).label("note"),
               SessionRow.escalation_reason,
               func.substr(SessionRow.escalation_package_markdown, 1, NOTE_HEAD).label("package"))
        .where(SessionRow.id.in_(list(ids)), SessionRow.account_id == ctx.account.id))).all()
    return {r.id: Written(written_summary(r.resolution_summary, r.note), written_summary(r.escalation_reason, r.package))
            for r in rows}
