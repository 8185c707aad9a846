"""Share an update: an interim internal note on the ticket, without changing its status (SPEC §9)."""

from __future__ import annotations

from collections.abc import Callable

from rfpilot.core.session import facts as fact_service
from rfpilot.core.session import fixes as fix_service
from rfpilot.core.session import lane as lane_service
from rfpilot.core.closeout import writeback
from rfpilot.core.closeout.closing import MARKDOWN_MAX
from rfpilot.core.context import Ctx
from rfpilot.core.session.permissions import owner_action
from rfpilot.core.session.sessions import intake_of
from rfpilot.core.text import one_line, paragraphs
from rfpilot.db.models import SessionRow
from rfpilot.errors import UsageError


async def draft_update(ctx: Ctx, session: SessionRow) -> str:
    """A progress note from the session's state, written without the model: it only restates what is stored."""
    facts = await fact_service.list_facts(ctx, session)
    items = await lane_service.list_items(ctx, session)
    fix = await fix_service.active_fix(ctx, session)
    headline = session.title or next(iter(paragraphs(intake_of(session))), "troubleshooting")  # never run together
    lines = [f"Progress update — {one_line(headline)}", ""]
    if facts:
        lines.append("Confirmed so far:")
        lines += [f"- {one_line(f.text)}" for f in facts]
    else:
        lines.append("Nothing confirmed yet.")
    if fix is not None:
        state = fix.status.replace("applied_", "").replace("_", " ")
        lines += ["", f"Current fix: {one_line(fix.title)} ({state})"]
        if fix.partial_notes:
            lines.append(f"Done so far: {one_line(fix.partial_notes)}")
        if fix.pending_reason:
            lines.append(f"Waiting on: {one_line(fix.pending_reason)}")
    still_open = [i for i in items if i.state == "open"]
    if still_open:
        lines += ["", "Next steps:"]
        lines += [f"- {one_line(i.text)}" for i in still_open[:8]]
    return "\n".join(lines)


@owner_action("share an update on")
async def share_update(ctx: Ctx, session: SessionRow, text: str | None = None,
                       confirm: Callable[[str | None], None] | None = None) -> writeback.Delivery:
    """Post ``text`` (or a drafted update) as an internal note. QueuedError (exit 6) if the PSA is unreachable.
    ``confirm`` (shown the update; raises to stop) is asked once every check has passed."""
    writeback.require_linked(session)
    body = (text if text is not None else await draft_update(ctx, session)).strip()
    if not body:
        raise UsageError("the update is empty; nothing was posted")
    if len(body) > MARKDOWN_MAX:
        raise UsageError(f"the update is too long ({len(body)} characters; the limit is {MARKDOWN_MAX})")
    if confirm is not None:
        confirm(body)
    item, _ = await writeback.enqueue(ctx, session, "update", body)
    return await writeback.attempt(ctx, item)
