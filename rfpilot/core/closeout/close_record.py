"""What a close writes on the session: the note (resolution note or escalation package), its summary line, the
PSA's note id once it is on the ticket, and the new status.

One function, applied in the caller's transaction by both ways a session closes: a local close (core.closeout.closing),
and the delivery of a close through the PSA outbox (core.closeout.writeback, in the transaction that records the note as
delivered, so the session closes exactly when the ticket has the note). It lives below both, so neither imports
the other for it.
"""

from __future__ import annotations

from datetime import datetime

from rfpilot.core.context import Ctx
from rfpilot.core.session.sessions import set_status
from rfpilot.db.models import SessionRow

RESOLVE = "resolve"
ESCALATE = "escalate"
TARGET_STATUS = {RESOLVE: "resolved", ESCALATE: "escalated"}


def apply_close(
    ctx: Ctx, session: SessionRow, action: str, text: str, line: str, *,
    external_id: str | None = None, posted_at: datetime | None = None,
) -> None:
    """Store the note and move the session, in the caller's transaction."""
    set_status(ctx, session, TARGET_STATUS[action])
    if action == RESOLVE:
        session.resolution_note_markdown = text
        session.resolution_summary = line
        session.resolved_at = ctx.now()
        session.resolution_note_external_id = external_id
        session.resolution_note_posted_at = posted_at
    else:
        session.escalation_package_markdown = text
        session.escalation_reason = line
        session.escalated_at = ctx.now()
        session.escalation_package_external_id = external_id
        session.escalation_package_posted_at = posted_at
