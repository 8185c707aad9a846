"""What an earlier session's outcome may say, for the search results and the "seen before" matches.

A resolved session was fixed by the last fix that worked; failing that, by what the engineer wrote when resolving
(`resolve --summary`). An escalated one was escalated for the reason the engineer gave (`escalate --reason`). A
close without either keeps a summary line taken from its note's Problem section (``core.text.close_summary``):
that line restates the problem, so it is never shown as what fixed it or why it was escalated.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

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


def columns() -> tuple[Any, ...]:
    """What ``of_row`` reads, for a SELECT of sessions: the summaries and the head of each note."""
    return (SessionRow.resolution_summary, func.substr(SessionRow.resolution_note_markdown, 1, NOTE_HEAD).label("note"),
            SessionRow.escalation_reason,
            func.substr(SessionRow.escalation_package_markdown, 1, NOTE_HEAD).label("package"))


def of_row(row: Any) -> Written:
    """The close summaries the engineer wrote, from a row that has ``columns()`` (None where rfpilot took the
    line from the note)."""
    return Written(written_summary(row.resolution_summary, row.note), written_summary(row.escalation_reason, row.package))


async def written(ctx: Ctx, ids: Collection[str]) -> dict[str, Written]:
    """For these sessions of the account: ``of_row`` of each. One query, reading the head of each note only."""
    if not ids:
        return {}
    rows = (await ctx.db.execute(
        select(SessionRow.id, *columns())
        .where(SessionRow.id.in_(list(ids)), SessionRow.account_id == ctx.account.id))).all()
    return {r.id: of_row(r) for r in rows}
