"""A session's token use, summed over the usage rows ``core.llm.usage`` writes (one per model call, SPEC §12).

Read through a lightweight table of the few columns it sums, so a view of the session (`sessions show`, the
TUI's header) maps no usage model and imports no provider code: it only reads what the calls left behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import column, func, select, table

from rfpilot.core.view_types import UsageTotals

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.db.models import SessionRow

SUMMED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
USAGE = table("llm_usage", column("session_id"), *(column(name) for name in SUMMED))


async def session_totals(ctx: Ctx, session: SessionRow) -> UsageTotals:
    """How many model calls the session made and the tokens they used, by kind."""
    row = (await ctx.db.execute(
        select(func.count(), *(func.coalesce(func.sum(USAGE.c[name]), 0) for name in SUMMED))
        .where(USAGE.c.session_id == session.id)
    )).one()
    calls, inp, out, read, write = (int(v) for v in row)
    return {"calls": calls, "input_tokens": inp, "output_tokens": out, "cache_read_tokens": read,
            "cache_write_tokens": write}
