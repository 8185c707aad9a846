"""Suggested fixes: the state machine of SPEC §7 and reference/seed-003.md §9.

``status`` says whether the fix worked; ``user_decision`` says which script
path the engineer took. Decisions and outcomes are separate on purpose.
Every refusal happens before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select

from rfpilot.core.context import Ctx
from rfpilot.core.lookup import find_one
from rfpilot.core.session.permissions import owner_action
from rfpilot.core.text import one_line
from rfpilot.core.view_types import OutcomeProposal
from rfpilot.db.enums import FIX_DECISIONS, FIX_OUTCOMES, FIX_PARKED, FIX_TERMINAL
from rfpilot.db import models
from rfpilot.db.models import SLUG_MAX, Message, SessionRow, SuggestedFix
from rfpilot.errors import ConflictError, NotFoundError, UsageError

if TYPE_CHECKING:  # mapped (with the script library) when a fix's script is queued as a draft, not on import
    from rfpilot.db.models import DraftTemplate

TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
NOTES_MAX = 500
SCRIPT_MAX = 50_000
NUDGE_AFTER_MESSAGES = 3

# Words people type for an outcome -> the stored status.
OUTCOME_ALIASES: dict[str, str] = {
    "success": "applied_success",
    "worked": "applied_success",
    "it-worked": "applied_success",
    "failed": "applied_failed",
    "failure": "applied_failed",
    "didnt-work": "applied_failed",
    "partial": "applied_partial",
    "pending": "applied_pending",
    "waiting": "applied_pending",
    "dismiss": "dismissed",
    "never": "dismissed",
    "never-applied": "dismissed",
    **{status: status for status in FIX_OUTCOMES},
}
NOTES_REQUIRED = {
    "applied_partial": "say what was done and what is left",
    "applied_pending": "say what you are waiting on",
}


def normalise_outcome(value: str) -> str:
    key = (value or "").strip().lower()
    outcome = (
        OUTCOME_ALIASES.get(key)
        or OUTCOME_ALIASES.get(key.replace("_", "-"))
        or OUTCOME_ALIASES.get(key.replace("-", "_"))
    )
    if outcome is None:
        allowed = ", ".join(FIX_OUTCOMES)
        raise UsageError(f"invalid outcome {value!r}", hint=f"one of: {allowed} (or worked, failed, partial, pending, never)")
    return outcome


def normalise_decision(value: str) -> str:
    decision = (value or "").strip().lower().replace("-", "_")
    if decision not in FIX_DECISIONS:
        raise UsageError(f"invalid decision {value!r}", hint="one of: " + ", ".join(FIX_DECISIONS))
    return decision


def is_active(fix: SuggestedFix) -> bool:
    return fix.superseded_at is None


def is_terminal(fix: SuggestedFix) -> bool:
    return fix.status in FIX_TERMINAL


def is_verifying(fix: SuggestedFix) -> bool:
    """Applied (the engineer committed to running it) and waiting for an outcome."""
    return is_active(fix) and fix.status == "proposed" and fix.applied_at is not None


def is_parked(fix: SuggestedFix) -> bool:
    return is_active(fix) and fix.status in FIX_PARKED


def _clean_notes(notes: str | None) -> str | None:
    cleaned = (notes or "").strip()
    if len(cleaned) > NOTES_MAX:
        raise UsageError(f"the notes are too long ({len(cleaned)} characters; the limit is {NOTES_MAX})")
    return cleaned or None


def _check_confidence(confidence: Any) -> int:
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise UsageError(f"confidence must be a number from 0 to 100, not {confidence!r}") from None
    if not 0 <= value <= 100:
        raise UsageError(f"confidence must be from 0 to 100, not {confidence}")
    return int(round(value))


# --- reading -------------------------------------------------------------


async def active_fix(ctx: Ctx, session: SessionRow) -> SuggestedFix | None:
    """The one non-superseded fix of the session, if any."""
    stmt = (
        select(SuggestedFix)
        .where(SuggestedFix.session_id == session.id, SuggestedFix.superseded_at.is_(None))
        .order_by(SuggestedFix.created_at.desc(), SuggestedFix.id.desc())  # ix_suggested_fixes_session_created
        .limit(1)
    )
    return (await ctx.db.execute(stmt)).scalar_one_or_none()


async def list_fixes(ctx: Ctx, session: SessionRow) -> list[SuggestedFix]:
    stmt = (select(SuggestedFix).where(SuggestedFix.session_id == session.id)
            .order_by(SuggestedFix.created_at, SuggestedFix.id))  # ix_suggested_fixes_session_created
    return list((await ctx.db.execute(stmt)).scalars())


async def get_fix(ctx: Ctx, session: SessionRow, ref: str | None = None) -> SuggestedFix:
    """A fix by id, or the active fix when ``ref`` is None."""
    if ref is None:
        fix = await active_fix(ctx, session)
        if fix is None:
            raise NotFoundError(
                "no active suggested fix for this session",
                hint="suggest one with: rfpilot fix suggest SESSION TITLE --confidence N",
            )
        return fix
    try:
        return await find_one(ctx, SuggestedFix, ref, "fix", SuggestedFix.session_id == session.id)
    except NotFoundError:
        raise NotFoundError("suggested fix not found") from None


# --- suggesting ----------------------------------------------------------


@owner_action("suggest a fix for")
async def suggest_fix(
    ctx: Ctx,
    session: SessionRow,
    title: str,
    *,
    description: str = "",
    confidence: Any,
    origin: str = "engineer",
    script: str | None = None,
    parameters: dict[str, Any] | None = None,
    template_slug: str | None = None,
    template_id: str | None = None,
    source_session_id: str | None = None,
) -> SuggestedFix:
    """Supersede the active fix and insert this one (+1 state_version). ``source_session_id``: the earlier session
    ("seen before", core.memory.seen_before) whose fix this one repeats, its provenance."""
    cleaned_title = one_line(title or "")
    if not cleaned_title:
        raise UsageError("the fix title is empty")
    if len(cleaned_title) > TITLE_MAX:
        raise UsageError(f"the fix title is too long ({len(cleaned_title)} characters; the limit is {TITLE_MAX})")
    cleaned_description = (description or "").strip()
    if len(cleaned_description) > DESCRIPTION_MAX:
        raise UsageError(f"the description is too long (limit {DESCRIPTION_MAX} characters)")
    pct = _check_confidence(confidence)
    cleaned_script = script if script and script.strip() else None  # byte for byte (CRLF, trailing newline)
    if cleaned_script and len(cleaned_script) > SCRIPT_MAX:
        raise UsageError(f"the script is too long (limit {SCRIPT_MAX} characters)")
    if parameters is not None and not isinstance(parameters, dict):
        raise UsageError("script parameters must be a JSON object")
    slug = (template_slug or "").strip() or None
    if slug and len(slug) > SLUG_MAX:  # SQLite would keep it; Postgres refuses it mid-transaction
        raise UsageError(f"the template slug is too long ({len(slug)} characters; the limit is {SLUG_MAX})")
    now = ctx.now()
    fix = SuggestedFix(
        account_id=ctx.account.id,
        session_id=session.id,
        origin=origin,
        title=cleaned_title,
        description=cleaned_description,
        confidence_pct=pct,
        script_template_slug=slug,
        script_template_id=template_id,
        ai_drafted_script=cleaned_script,
        ai_drafted_parameters=parameters,
        source_session_id=source_session_id,
        status="proposed",
        created_at=now,
        updated_at=now,
    )
    async with ctx.tx():
        # Through the ORM rather than a bulk UPDATE: a bulk UPDATE does not refresh
        # rows already loaded in this unit of work (an attribute never loaded is
        # skipped by synchronize_session), so a caller holding the old fix would
        # still see it as active and could record an outcome on it.
        superseded = await ctx.db.execute(
            select(SuggestedFix).where(SuggestedFix.session_id == session.id, SuggestedFix.superseded_at.is_(None))
        )
        for old in superseded.scalars():
            old.superseded_at = now
            old.updated_at = now
        ctx.db.add(fix)
        await ctx.db.flush()
        await ctx.bump_state(session)
    return fix


# --- guards --------------------------------------------------------------


def _require_own(session: SessionRow, fix: SuggestedFix) -> None:
    """A fix is changed only through its own session (seed §9.3)."""
    if fix.session_id != session.id:
        raise NotFoundError("suggested fix not found")


def _require_active(fix: SuggestedFix) -> None:
    if fix.status == "dismissed":
        raise ConflictError("this fix was dismissed", hint="suggest a new fix instead")
    if not is_active(fix):
        raise ConflictError("this fix is already superseded by a newer suggestion")


def _require_not_terminal(fix: SuggestedFix) -> None:
    if is_terminal(fix):
        raise ConflictError(f"fix is already in terminal status '{fix.status}'")


# --- applying, outcomes, decisions --------------------------------------


@owner_action("apply a fix of")
async def apply_fix(ctx: Ctx, session: SessionRow, fix: SuggestedFix) -> bool:
    """'I ran this': stamp applied_at (+1). Repeats are a no-op. Returns whether it changed."""
    _require_own(session, fix)
    _require_active(fix)
    if fix.status != "proposed":
        hint = "use `rfpilot fix finish` to return it to verifying" if fix.status in FIX_PARKED else None
        raise ConflictError(f"apply is only valid from 'proposed'; fix is already '{fix.status}'", hint=hint)
    if fix.applied_at is not None:
        return False
    async with ctx.tx():
        fix.applied_at = ctx.now()
        fix.updated_at = fix.applied_at
        await ctx.bump_state(session)
    return True


def _dismiss(ctx: Ctx, fix: SuggestedFix) -> None:
    """The one meaning of dismiss: status dismissed and no longer the active fix."""
    now = ctx.now()
    fix.status = "dismissed"
    fix.user_decision = "dismissed"
    fix.superseded_at = now
    fix.ai_outcome_proposal = None
    fix.updated_at = now


@owner_action("record a fix outcome of")
async def record_outcome(
    ctx: Ctx, session: SessionRow, fix: SuggestedFix, outcome: str, notes: str | None = None
) -> SuggestedFix:
    """Write an outcome (+1). Partial and pending need notes; terminal fixes refuse."""
    _require_own(session, fix)
    outcome = normalise_outcome(outcome)
    cleaned = _clean_notes(notes)
    if outcome in NOTES_REQUIRED and not cleaned:  # missing input: usage (1), not a state conflict
        raise UsageError(
            f"notes are required when outcome is {outcome}",
            hint=f"add --notes to {NOTES_REQUIRED[outcome]}",
        )
    _require_active(fix)
    _require_not_terminal(fix)
    now = ctx.now()
    async with ctx.tx():
        if outcome == "dismissed":
            _dismiss(ctx, fix)
        else:
            fix.status = outcome
            if outcome == "applied_partial":
                fix.partial_notes = cleaned
            elif outcome == "applied_pending":
                fix.pending_reason = cleaned
            elif outcome == "applied_failed":
                fix.failure_reason = cleaned
                fix.verified_at = now
            elif outcome == "applied_success":
                fix.verified_at = now
            if fix.applied_at is None:
                fix.applied_at = now
        fix.ai_outcome_proposal = None
        fix.updated_at = now
        await ctx.bump_state(session)
    return fix


@owner_action("finish a fix of")
async def finish_fix(ctx: Ctx, session: SessionRow, fix: SuggestedFix) -> SuggestedFix:
    """'Finish it': a partial or pending fix goes back to verifying (applied_at kept)."""
    _require_own(session, fix)
    _require_active(fix)
    if fix.status not in FIX_PARKED:
        raise ConflictError(f"only a partial or pending fix can be finished; this one is '{fix.status}'")
    async with ctx.tx():
        fix.status = "proposed"
        if fix.applied_at is None:
            fix.applied_at = ctx.now()
        fix.updated_at = ctx.now()
        await ctx.bump_state(session)
    return fix


# --- the model's outcome proposal (it proposes; the engineer confirms) ------

PROPOSAL_STATUS = {"success": "applied_success", "failure": "applied_failed", "partial": "applied_partial"}
# "The AI thinks it <words>": one wording for the banner, the CLI and `sessions show`.
PROPOSAL_WORDS = {"success": "worked", "failure": "didn't work", "partial": "was only partly applied"}


def proposal_words(proposal: OutcomeProposal | None) -> str:
    return PROPOSAL_WORDS.get(str(proposal.get("outcome") if proposal else None), "has an outcome")


def stored_proposal(fix: SuggestedFix) -> OutcomeProposal | None:
    """The fix's outcome proposal as the chat engine wrote it (a plain JSON document in the column)."""
    return cast("OutcomeProposal | None", fix.ai_outcome_proposal)


def _require_proposal(fix: SuggestedFix) -> OutcomeProposal:
    proposal = stored_proposal(fix)
    if not proposal or proposal.get("outcome") not in PROPOSAL_STATUS:
        raise ConflictError(
            "there is no outcome proposal on this fix",
            hint="record the outcome yourself with `rfpilot fix outcome`",
        )
    return proposal


@owner_action("confirm a fix outcome of")
async def confirm_outcome(
    ctx: Ctx, session: SessionRow, fix: SuggestedFix, notes: str | None = None
) -> SuggestedFix:
    """Write the outcome the model proposed (+1). Its reason becomes the notes unless ``notes`` is given."""
    _require_own(session, fix)
    proposal = _require_proposal(fix)
    status = PROPOSAL_STATUS[proposal["outcome"]]
    reason = (notes or "").strip() or None
    if reason is None:  # the model's words, cut to fit; the engineer's own notes are validated as given
        reason = str(proposal.get("reason") or "").strip() or None
        if reason and len(reason) > NOTES_MAX:
            reason = reason[: NOTES_MAX - 1].rstrip() + "…"
    return await record_outcome(ctx, session, fix, status, reason if status != "applied_success" else None)


@owner_action("reject a fix outcome of")
async def reject_outcome(ctx: Ctx, session: SessionRow, fix: SuggestedFix) -> SuggestedFix:
    """'Not yet': clear the proposal. Nothing a note says changes, so no state_version bump."""
    _require_own(session, fix)
    _require_proposal(fix)
    async with ctx.tx():
        fix.ai_outcome_proposal = None
        fix.updated_at = ctx.now()
    return fix


@owner_action("edit the fix notes of")
async def edit_parked_notes(ctx: Ctx, session: SessionRow, fix: SuggestedFix, notes: str) -> SuggestedFix:
    """Change the partial notes or the pending reason of a parked fix (+1: the note says it)."""
    _require_own(session, fix)
    _require_active(fix)
    if fix.status not in FIX_PARKED:
        raise ConflictError(f"only a partial or pending fix has notes to edit; this one is '{fix.status}'")
    cleaned = _clean_notes(notes)
    if not cleaned:
        raise UsageError(f"notes are required when outcome is {fix.status}", hint=NOTES_REQUIRED[fix.status])
    async with ctx.tx():
        if fix.status == "applied_partial":
            fix.partial_notes = cleaned
        else:
            fix.pending_reason = cleaned
        fix.updated_at = ctx.now()
        await ctx.bump_state(session)
    return fix


@dataclass
class DecisionResult:
    fix: SuggestedFix
    rendered_script: str | None = None
    draft_template: DraftTemplate | None = None


@owner_action("decide on a fix of")
async def decide(
    ctx: Ctx,
    session: SessionRow,
    fix: SuggestedFix,
    decision: str,
    *,
    edited_script: str | None = None,
) -> DecisionResult:
    """Record which script path the engineer took (+1 for any decision).

    one_off and draft_template declare the script run (stamp applied_at);
    draft_template also queues a draft template for review after resolve;
    build_template stamps nothing (the template is built first).
    """
    decision = normalise_decision(decision)
    _require_own(session, fix)
    _require_active(fix)
    _require_not_terminal(fix)
    script = None
    if decision != "dismissed":
        # As given, byte for byte: line endings and a trailing newline are part of the script that ran.
        script = edited_script if edited_script is not None else fix.ai_drafted_script or ""
        if not script.strip():
            raise UsageError(  # the script is input the command did not get: usage (1)
                "this fix has no drafted script: give the script that ran",
                hint="pass it with --script FILE, or record the outcome directly",
            )
        if len(script) > SCRIPT_MAX:
            raise UsageError(f"the script is too long (limit {SCRIPT_MAX} characters)")
    now = ctx.now()
    draft = None
    async with ctx.tx():
        if decision == "dismissed":
            _dismiss(ctx, fix)
        else:
            fix.user_decision = decision
            fix.ai_drafted_script = script
            if decision in ("one_off", "draft_template") and fix.applied_at is None:
                fix.applied_at = now
            if decision in ("draft_template", "build_template"):
                # build_template: the draft is reviewed now rather than after resolve (same extraction).
                draft = await _queue_draft_template(ctx, session, fix, script or "")
        fix.updated_at = now
        await ctx.bump_state(session)
    return DecisionResult(fix=fix, rendered_script=script, draft_template=draft)


async def _queue_draft_template(ctx: Ctx, session: SessionRow, fix: SuggestedFix, script: str) -> DraftTemplate:
    # Stored as it ran with no parameters; core.library.templates.extract_draft then proposes parameters
    # (and rewrites the body with any password redacted).
    draft = models.DraftTemplate(
        account_id=ctx.account.id,
        source_session_id=session.id,
        source_fix_id=fix.id,
        source_engineer_id=ctx.engineer.id,
        script_body=script,
        proposed_parameters={"parameters": []},
        proposed_name=fix.title[:TITLE_MAX],
        status="pending",
        created_at=ctx.now(),
    )
    ctx.db.add(draft)
    await ctx.db.flush()
    return draft


# --- the proposal banner (derived, never stored) --------------------------


async def engineer_messages_since(ctx: Ctx, session: SessionRow, since, most: int = NUDGE_AFTER_MESSAGES) -> int:
    """How many messages the engineer sent after ``since``, counted up to ``most`` (all the banner needs). The
    session's messages are read back from the newest, a page at a time, until one is older than ``since``: a
    fix applied late in a long session never makes the banner read the whole transcript."""
    count, before, page_size = 0, None, 4 * most
    while True:
        stmt = select(Message.seq, Message.role, Message.created_at).where(Message.session_id == session.id)
        if before is not None:
            stmt = stmt.where(Message.seq < before)
        rows = (await ctx.db.execute(stmt.order_by(Message.seq.desc()).limit(page_size))).all()
        for _seq, role, created_at in rows:
            if created_at <= since:
                return count
            if role == "user":
                count += 1
                if count >= most:
                    return count
        if len(rows) < page_size:
            return count
        before = rows[-1].seq


# The words for a fix's state, by banner mode: the banner and the task lane both say these (never the raw status).
STATE_WORDS = {
    "proposed": "proposed",
    "verifying": "verifying",
    "nudge": "verifying",
    "partial": "partly applied",
    "pending": "waiting to verify",
    "ai_confirming": "outcome to confirm",
}


def state_word(mode: str, fix: SuggestedFix | None = None) -> str:
    """The fix's state in words, from its banner mode (a settled fix: its status)."""
    if mode in STATE_WORDS:
        return STATE_WORDS[mode]
    return fix.status.replace("_", " ") if fix is not None else ""


def view_state_word(status: str, verifying: bool, mode: str | None = None) -> str:
    """The state in words of a fix known by its view (the command line's text): its banner mode's words when it
    has one, else from the view. A fix applied and waiting for an outcome is ``verifying`` although its stored
    status stays ``proposed`` until the outcome (``status`` says whether it worked; ``applied_at`` that it ran)."""
    if mode in STATE_WORDS:
        return STATE_WORDS[mode]
    if verifying:
        return STATE_WORDS["verifying"]
    parked = {"applied_partial": "partial", "applied_pending": "pending"}.get(status)
    return STATE_WORDS[parked] if parked else status.replace("_", " ")


def banner_mode(fix: SuggestedFix | None, messages_since_apply: int = 0) -> str:
    """none · proposed · verifying · partial · pending · ai_confirming · nudge."""
    if fix is None or not is_active(fix) or is_terminal(fix):
        return "none"
    if fix.ai_outcome_proposal:
        return "ai_confirming"
    if fix.status == "applied_partial":
        return "partial"
    if fix.status == "applied_pending":
        return "pending"
    if fix.applied_at is None:
        return "proposed"
    if messages_since_apply >= NUDGE_AFTER_MESSAGES:
        return "nudge"
    return "verifying"


async def banner_state(ctx: Ctx, session: SessionRow) -> tuple[str, SuggestedFix | None]:
    fix = await active_fix(ctx, session)
    count = 0
    if fix is not None and is_verifying(fix):
        count = await engineer_messages_since(ctx, session, fix.applied_at)
    return banner_mode(fix, count), fix
