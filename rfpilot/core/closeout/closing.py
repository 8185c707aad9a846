"""Resolve and escalate (SPEC §7 intercepts, §8 summary line, §9 local-only path).

The order is the same for the CLI and the TUI:
1. ``check_can_close`` refuses a wrong status before anything changes;
2. ``pending_fix_question`` says whether the engineer must first say what
   happened with the active fix, and ``record_close_outcome`` records it;
3. a preview (or the engineer's own markdown) is edited;
4. ``resolve_session`` / ``escalate_session`` store it and move the status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rfpilot.core.session import fixes as fix_service
from rfpilot.core.closeout.close_record import ESCALATE, RESOLVE, TARGET_STATUS, apply_close
from rfpilot.core.context import Ctx
from rfpilot.core.session.sessions import check_transition, require_editable
from rfpilot.core.text import CLOSE_SUMMARY_MAX, close_summary
from rfpilot.db.models import SessionRow, SuggestedFix
from rfpilot.errors import ConflictError, RfpilotError, UsageError
from rfpilot.grammar import with_article
from rfpilot.private import file_target, private_dir, write_private
from rfpilot.textsafe import inert

MARKDOWN_MAX = 20_000

# Intercept choices (escalate) and --fix-outcome values -> fix outcome.
CLOSE_CHOICES: dict[str, str] = {
    "failed": "applied_failed",
    "worked": "applied_success",
    "partial": "applied_partial",
    "pending": "applied_pending",
    "never": "dismissed",
}
ESCALATE_CHOICE_ORDER = ("failed", "partial", "pending", "worked", "never")
CHOICE_LABELS = {
    "failed": "The fix didn't work",
    "partial": "I applied some of it — partial",
    "pending": "Still waiting to verify it",
    "worked": "It worked — escalating for another reason",
    "never": "Never actually applied it",
}


@dataclass
class CloseResult:
    outcome: str  # resolved | escalated (posted to the PSA) | resolved_local | escalated_local
    session_status: str
    markdown: str
    summary: str
    external_id: str | None = None
    posted_at: datetime | None = None
    exported_to: Path | None = None
    ticket_ref: str | None = None
    verified_status: str | None = None  # the ticket's status, read back after the change
    status_skipped: str | None = None  # why the ticket's status was left alone
    adopted: bool = False  # an earlier attempt's note was found on the ticket and kept
    notice: str | None = None  # e.g. "the note was already posted; your edits are not sent"
    time_entry: dict | None = None  # {"hours": 0.75, "id": "…"} when time was logged
    # Outbox items stored by ``prepare_close`` that ``finish_close`` delivers (after the caller's commit).
    pending: tuple[Any, Any, Any] | None = field(default=None, repr=False)


def result_lines(result: CloseResult, session_id: str | None = None) -> list[str]:
    """What the engineer reads after a resolve or escalate (the CLI prints it; the TUI's editor shows it)."""
    who = f"session {session_id[:8]} " if session_id else "session "
    lines = []
    if result.outcome.endswith("_local"):
        where = "closed locally; nothing was posted" if result.ticket_ref else "local only: no PSA ticket linked"
        lines.append(f"{who}{result.session_status} ({where})")
    else:
        how = "found on the ticket from an earlier attempt" if result.adopted else "posted"
        lines.append(f"{who}{result.session_status}: note {result.external_id} {how} on {result.ticket_ref}")
        if result.verified_status:
            lines.append(f"ticket status is now {result.verified_status!r} (read back from the PSA)")
        elif result.status_skipped:
            lines.append(result.status_skipped)
    if result.notice:
        lines.append(f"note: {result.notice}")
    if result.time_entry:
        entry = result.time_entry
        if entry.get("error"):
            lines.append(f"time entry of {entry['hours']} h not logged yet: {entry['error']}")
        else:
            lines.append(f"logged {entry['hours']} h on the ticket (time entry {entry['id']})")
    if result.exported_to:
        lines.append(f"wrote {result.exported_to}")
    return lines


def check_can_close(session: SessionRow, action: str) -> None:
    check_transition(session, TARGET_STATUS[action])


def pending_fix_question(fix: SuggestedFix | None, action: str) -> SuggestedFix | None:
    """The active fix the engineer must say something about before closing, if any.

    Resolve asks only while the fix is verifying (and defaults to 'it worked');
    escalate asks while it is verifying or parked (partial / pending).
    """
    if fix is None:
        return None
    if fix_service.is_verifying(fix):
        return fix
    if action == ESCALATE and fix_service.is_parked(fix):
        return fix
    return None


KEEP = "keep"


def implicit_choice(fix: SuggestedFix, action: str) -> str | None:
    """What closing means for the fix when the engineer is not asked (``--yes``).

    Resolving while a fix is verifying records that it worked (the one-click
    resolve). Escalating a parked fix keeps the outcome already recorded
    (``KEEP``: partial notes or the pending reason tell the next engineer what
    was tried). Escalating a verifying fix assumes nothing: None, must ask.
    """
    if action == RESOLVE and fix_service.is_verifying(fix):
        return "worked"
    if action == ESCALATE and fix_service.is_parked(fix):
        return KEEP
    return None


def fix_to_settle(fix: SuggestedFix | None, action: str, choice_given: bool) -> SuggestedFix | None:
    """The fix whose outcome is recorded before closing, or None.

    An explicit choice (``--fix-outcome``) may also settle a parked fix on
    resolve; it is an error when no fix is waiting for an outcome at all.
    """
    waiting = pending_fix_question(fix, action)
    if choice_given and waiting is None:
        if fix is None or fix_service.is_terminal(fix):
            raise ConflictError("--fix-outcome given, but no fix is waiting for an outcome")
        return fix
    return waiting


def choice_labels(action: str) -> dict[str, str]:
    """The intercept's wording; resolving asks plainly whether it worked."""
    return {**CHOICE_LABELS, "worked": "It worked"} if action == RESOLVE else dict(CHOICE_LABELS)


def choices_for(fix: SuggestedFix, action: str) -> tuple[str, ...]:
    if action == RESOLVE:
        return ("worked", "failed", "partial", "pending", "never")
    # The partial choice is not offered again for a fix already recorded as partial.
    return tuple(c for c in ESCALATE_CHOICE_ORDER if not (c == "partial" and fix.status == "applied_partial"))


def normalise_choice(choice: str) -> str:
    key = (choice or "").strip().lower()
    if key in CLOSE_CHOICES:
        return key
    try:
        outcome = fix_service.normalise_outcome(key)
    except UsageError:
        raise UsageError(
            f"invalid fix outcome {choice!r}", hint="one of: " + ", ".join(CLOSE_CHOICES)
        ) from None
    return next(c for c, o in CLOSE_CHOICES.items() if o == outcome)


async def record_close_outcome(
    ctx: Ctx, session: SessionRow, fix: SuggestedFix, choice: str, notes: str | None = None
) -> SuggestedFix:
    """Record the intercept's answer as the fix outcome (same rules as `fix outcome`)."""
    key = normalise_choice(choice)
    return await fix_service.record_outcome(ctx, session, fix, CLOSE_CHOICES[key], notes)


def clean_markdown(markdown: str | None) -> str:
    cleaned = (markdown or "").strip()
    if not cleaned:
        raise UsageError("the note is empty", hint="nothing was posted; write the note or let rfpilot draft it")
    if len(cleaned) > MARKDOWN_MAX:
        raise UsageError(f"the note is too long ({len(cleaned)} characters; the limit is {MARKDOWN_MAX})")
    return cleaned


def _summary(markdown: str, given: str | None) -> str:
    if given is not None and given.strip():
        text = " ".join(given.split())
        if len(text) > CLOSE_SUMMARY_MAX:
            raise UsageError(f"the summary is too long ({len(text)} characters; the limit is {CLOSE_SUMMARY_MAX})")
        return text
    return close_summary(markdown)


def _export_target(path: Path | None) -> Path | None:
    """Check the --export path before anything changes."""
    if path is None:
        return None
    return file_target(path, "--export")


def _export(markdown: str, target: Path | None) -> Path | None:
    if target is None:
        return None
    try:
        write_private(private_dir(target.parent) / target.name, inert(markdown) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}; nothing was changed") from None
    return target


def validate_close_inputs(
    markdown: str | None = None, summary: str | None = None, export_path: Path | None = None
) -> None:
    """Refuse bad engineer input up front, before an intercept answer or a close is written."""
    if markdown is not None:
        clean_markdown(markdown)
    _summary("", summary)
    _export_target(export_path)


async def prepare_close(
    ctx: Ctx,
    session: SessionRow,
    action: str,
    markdown: str,
    summary: str | None = None,
    export_path: Path | None = None,
    local: bool = False,
    log_time: bool = False,
) -> CloseResult:
    """Store the close in ONE transaction (the caller's, when it has one open): the session closed locally, or
    the outbox items that post it. Nothing is sent yet: ``finish_close`` delivers, once this is committed, so
    a caller can record a fix outcome and the close together, all or nothing."""
    await require_editable(ctx, session)
    check_can_close(session, action)
    text = clean_markdown(markdown)
    line = _summary(text, summary)
    export_target = _export_target(export_path)
    if session.psa_ticket_id and session.psa_connection_id and not local:
        return await _enqueue_close(ctx, session, action, text, line, export_target, log_time)
    from rfpilot.core.session.handoff_lock import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # a closed session no longer waits in the team queue
        if session.psa_ticket_id:
            await _drop_queued_close(ctx, session, action)
        # The export is written inside the transaction: if it fails, nothing changes.
        exported = _export(text, export_target)
        apply_close(ctx, session, action, text, line)
    return CloseResult(
        outcome=f"{TARGET_STATUS[action]}_local",
        session_status=session.status,
        markdown=text,
        summary=line,
        exported_to=exported,
    )


async def _drop_queued_close(ctx: Ctx, session: SessionRow, action: str) -> None:
    """Closing locally replaces a queued post of the same kind, unless its note already reached the ticket."""
    from rfpilot.core.closeout import writeback

    for item in await writeback.open_items(ctx, session, action):
        if item.external_id or item.post_started_at:
            raise ConflictError(
                f"{with_article(action)} note for this ticket was already posted (or may have been): outbox item {item.id[:8]}",
                hint=f"finish it with `rfpilot outbox retry {item.id[:8]}` instead of closing locally",
            )
        await writeback.drop(ctx, item)


async def _enqueue_close(
    ctx: Ctx, session: SessionRow, action: str, text: str, line: str, export_target: Path | None, log_time: bool
) -> CloseResult:
    """Queue the post to the linked ticket (and the time entry) in one transaction; ``finish_close`` sends it."""
    from rfpilot.core.closeout import psa as psa_service
    from rfpilot.core.closeout import writeback

    conn = await psa_service.connection_by_id(ctx, session.psa_connection_id or "")
    board = (session.ticket_context or {}).get("board")
    target = psa_service.target_status(conn, action, board)
    from rfpilot.core.session.handoff_lock import withdraw_open_handoffs

    async with ctx.tx():
        await withdraw_open_handoffs(ctx, session)  # asked to close: it leaves the team queue now
        item, notice = await writeback.enqueue(ctx, session, action, text, summary=line, target_status=target)
        time_item = await writeback.enqueue_time_entry(ctx, session, action) if log_time else None
        exported = _export(item.text, export_target)
    return CloseResult(
        outcome=TARGET_STATUS[action],
        session_status=session.status,
        markdown=item.text,
        summary=line,
        exported_to=exported,
        ticket_ref=session.ticket_ref,
        notice=notice,
        pending=(session, item, time_item),
    )


async def finish_close(ctx: Ctx, result: CloseResult) -> CloseResult:
    """Deliver what ``prepare_close`` queued (after it was committed); the session closes once the PSA has
    the note and status. A local close has nothing to deliver (and does not import the PSA write-back)."""
    if result.pending is None:
        return result
    from rfpilot.core.closeout import writeback

    session, item, time_item = result.pending
    result.pending = None
    delivery = await writeback.attempt(ctx, item)
    result.external_id = delivery.note_id
    result.posted_at = item.posted_at
    result.verified_status = delivery.status
    result.status_skipped = delivery.status_skipped
    result.adopted = delivery.adopted
    result.session_status = session.status
    if time_item is not None:
        # The close is done; a time entry that cannot go now waits in the outbox (its error is reported).
        try:
            logged = await writeback.attempt(ctx, time_item)
            result.time_entry = {"hours": time_item.payload.get("hours"), "id": logged.note_id}
        except RfpilotError as err:
            result.time_entry = {"hours": time_item.payload.get("hours"), "error": err.message}
    return result


class _DraftOnly(Exception):
    """Carries a preview out of a transaction that must be rolled back."""


async def _settle(ctx: Ctx, session: SessionRow, action: str, choice: str | None, notes: str | None) -> None:
    """Record the engineer's answer about the waiting fix, in the caller's transaction (KEEP records nothing)."""
    if choice is None or choice == KEEP:
        return
    fix = fix_to_settle(await fix_service.active_fix(ctx, session), action, True)
    if fix is not None:
        await record_close_outcome(ctx, session, fix, choice, notes)


async def draft_for_close(
    ctx: Ctx, session: SessionRow, action: str, choice: str | None = None, notes: str | None = None, *,
    offline: bool = False, force: bool = False, fresh: bool = False,
):
    """The note as it will read once ``choice`` is recorded, for the engineer to review before anything is stored.

    With an answer to record, the answer and the draft happen in a transaction that is then rolled back: the
    engineer reads (and edits) the note with no transaction open, so a shared SQLite store is not locked meanwhile,
    and walking away records nothing. ``session`` is expired afterwards: load it again before using it.
    ``fresh``: ``session`` was just read in this Ctx (with no answer to record, it is not read again).
    An offline draft is not written to the preview cache (the close stores the note itself, and redrafting
    offline costs nothing; with an answer to record the cache write was rolled back with it anyway).
    """
    from rfpilot.core.drafting.previews import configured_preview

    if choice is None or choice == KEEP:
        return await configured_preview(ctx, session, action, offline=offline, force=force, fresh=fresh,
                                        cache_offline=False)
    if ctx._depth:
        raise RuntimeError("draft_for_close rolls back its transaction: call it with none open")
    try:
        async with ctx.tx():
            await _settle(ctx, session, action, choice, notes)
            raise _DraftOnly(await configured_preview(ctx, session, action, offline=offline, force=force))
    except _DraftOnly as drafted:
        return drafted.args[0]


async def close_with_outcome(
    ctx: Ctx, session: SessionRow, action: str, markdown: str, choice: str | None = None, notes: str | None = None, *,
    summary: str | None = None, export_path: Path | None = None, local: bool = False, log_time: bool = False,
) -> CloseResult:
    """Record the answer about the waiting fix and close, in ONE transaction (all or nothing); then deliver."""
    async with ctx.tx():
        await _settle(ctx, session, action, choice, notes)
        prepared = await prepare_close(ctx, session, action, markdown, summary, export_path, local, log_time)
    return await finish_close(ctx, prepared)


async def resolve_session(
    ctx: Ctx, session: SessionRow, markdown: str, *, summary: str | None = None, export_path: Path | None = None,
    local: bool = False, log_time: bool = False,
) -> CloseResult:
    """Resolve: local-only without a linked ticket (or with ``local``), else post and verify on the ticket."""
    return await close_with_outcome(ctx, session, RESOLVE, markdown, summary=summary, export_path=export_path,
                                    local=local, log_time=log_time)


async def escalate_session(
    ctx: Ctx, session: SessionRow, markdown: str, *, reason: str | None = None, export_path: Path | None = None,
    local: bool = False, log_time: bool = False,
) -> CloseResult:
    return await close_with_outcome(ctx, session, ESCALATE, markdown, summary=reason, export_path=export_path,
                                    local=local, log_time=log_time)
