"""Suggested fixes: SPEC §7, reference/seed-003.md §9, §10.1 and §19 items 27–31, 34–50, 68–71."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rfpilot.core.session import fixes
from rfpilot.core.session.sessions import create_session
from rfpilot.db.models import DraftTemplate, Engineer, Message, SuggestedFix
from rfpilot.errors import ConflictError, NotFoundError, UsageError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=10)
T2 = T0 + timedelta(minutes=25)
SCRIPT = "cmdkey /delete:MicrosoftOffice16_Data:SSPI:jdoe@contoso.com"
TERMINAL = ("applied_success", "applied_failed", "dismissed")
ALL_OUTCOMES = ("applied_success", "applied_failed", "applied_partial", "applied_pending", "dismissed")


def at(ctx, when: datetime) -> None:
    ctx.clock = lambda: when


async def version(ctx, session) -> int:
    await ctx.db.refresh(session)
    return session.state_version


async def reload(ctx, fix: SuggestedFix) -> SuggestedFix:
    await ctx.db.refresh(fix)
    return fix


async def suggest(ctx, session, title: str = "Clear cached Office credentials", **kw) -> SuggestedFix:
    kw.setdefault("confidence", 80)
    kw.setdefault("description", "Stale credentials in Credential Manager trigger the prompt.")
    return await fixes.suggest_fix(ctx, session, title, **kw)


async def active_rows(ctx, session) -> list[SuggestedFix]:
    stmt = select(SuggestedFix).where(SuggestedFix.session_id == session.id, SuggestedFix.superseded_at.is_(None))
    return list((await ctx.db.execute(stmt)).scalars())


async def drafts(ctx, session) -> list[DraftTemplate]:
    stmt = select(DraftTemplate).where(DraftTemplate.source_session_id == session.id)
    return list((await ctx.db.execute(stmt)).scalars())


def snapshot(fix: SuggestedFix) -> tuple:
    return (
        fix.status,
        fix.user_decision,
        fix.applied_at,
        fix.verified_at,
        fix.partial_notes,
        fix.failure_reason,
        fix.pending_reason,
        fix.superseded_at,
        fix.ai_drafted_script,
        fix.ai_outcome_proposal,
    )


async def to_status(ctx, session, fix: SuggestedFix, status: str) -> SuggestedFix:
    """Drive a fresh proposed fix into ``status`` through the service."""
    if status == "verifying":
        await fixes.apply_fix(ctx, session, fix)
    elif status != "proposed":
        await fixes.record_outcome(ctx, session, fix, status, notes="some notes")
    return await reload(ctx, fix)


# --- suggesting and the one active fix -------------------------------------


async def test_new_fix_is_proposed_and_active(ctx, session):
    """A suggestion starts proposed, undecided, unstamped and active (+1 state_version)."""
    fix = await suggest(ctx, session, confidence=72.4)
    await reload(ctx, fix)
    assert fix.status == "proposed"
    assert fix.confidence_pct == 72
    assert fix.user_decision is None
    assert fix.applied_at is None and fix.verified_at is None and fix.superseded_at is None
    assert await version(ctx, session) == 1
    active = await fixes.get_fix(ctx, session)
    assert active.id == fix.id


async def test_suggest_supersedes_the_active_fix(ctx, session):
    """A newer suggestion supersedes the active one: exactly one active row, +1 state_version."""
    at(ctx, T0)
    first = await suggest(ctx, session, "Clear cached credentials")
    assert await version(ctx, session) == 1
    at(ctx, T1)
    second = await suggest(ctx, session, "Reset the Office identity registry key")
    assert await version(ctx, session) == 2
    await reload(ctx, first)
    assert first.superseded_at == T1
    assert [f.id for f in await active_rows(ctx, session)] == [second.id]
    assert (await fixes.active_fix(ctx, session)).id == second.id
    assert len(await fixes.list_fixes(ctx, session)) == 2


async def test_no_active_fix_is_not_found(ctx, session):
    """Without a suggestion there is no active fix (None, or NotFoundError when asked for it)."""
    assert await fixes.active_fix(ctx, session) is None
    with pytest.raises(NotFoundError, match="no active suggested fix for this session"):
        await fixes.get_fix(ctx, session)


@pytest.mark.parametrize(
    ("title", "confidence", "message"),
    [("   ", 50, "the fix title is empty"), ("Fix", 101, "confidence"), ("Fix", "high", "confidence")],
)
async def test_suggest_validation(ctx, session, title, confidence, message):
    """A suggestion needs a title and a 0–100 confidence; a refused one writes nothing."""
    with pytest.raises(UsageError, match=message):
        await fixes.suggest_fix(ctx, session, title, confidence=confidence)
    assert await fixes.list_fixes(ctx, session) == []
    assert await version(ctx, session) == 0


# --- apply ("I ran this") ---------------------------------------------------------


async def test_apply_stamps_applied_at_and_keeps_proposed(ctx, session):
    """apply stamps applied_at, status stays proposed, +1 state_version (item 44)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    assert await fixes.apply_fix(ctx, session, fix) is True
    await reload(ctx, fix)
    assert fix.applied_at == T1
    assert fix.status == "proposed"
    assert fix.verified_at is None
    assert fixes.is_verifying(fix)
    assert await version(ctx, session) == 2


async def test_apply_is_idempotent(ctx, session):
    """A second apply changes nothing: same applied_at, no second bump (item 45)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.apply_fix(ctx, session, fix)
    at(ctx, T2)
    assert await fixes.apply_fix(ctx, session, fix) is False
    await reload(ctx, fix)
    assert fix.applied_at == T1
    assert await version(ctx, session) == 2


@pytest.mark.parametrize("status", ["applied_success", "applied_failed", "applied_partial", "applied_pending"])
async def test_apply_only_from_proposed(ctx, session, status):
    """apply after an outcome is refused with the seed's wording and changes nothing (items 46)."""
    fix = await to_status(ctx, session, await suggest(ctx, session), status)
    before, v = snapshot(fix), await version(ctx, session)
    with pytest.raises(ConflictError, match=f"apply is only valid from 'proposed'; fix is already '{status}'"):
        await fixes.apply_fix(ctx, session, fix)
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == v


async def test_apply_after_dismiss_is_refused(ctx, session):
    """apply on a dismissed fix is refused (item 47) and stamps nothing."""
    fix = await suggest(ctx, session)
    await fixes.decide(ctx, session, fix, "dismissed")
    v = await version(ctx, session)
    with pytest.raises(ConflictError):
        await fixes.apply_fix(ctx, session, fix)
    await reload(ctx, fix)
    assert fix.applied_at is None
    assert await version(ctx, session) == v


async def test_apply_on_superseded_fix_is_refused(ctx, session):
    """Only the active fix can be applied."""
    old = await suggest(ctx, session, "Old idea")
    await suggest(ctx, session, "New idea")
    with pytest.raises(ConflictError, match="superseded"):
        await fixes.apply_fix(ctx, session, old)
    await reload(ctx, old)
    assert old.applied_at is None


# --- outcomes ---------------------------------------------------------------------


async def test_success_stamps_verified_and_applied(ctx, session):
    """success sets verified_at and auto-stamps applied_at when unset, +1 (items 34, 40, 42)."""
    fix = await suggest(ctx, session)
    v = await version(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, "applied_success", notes="ignored")
    await reload(ctx, fix)
    assert fix.status == "applied_success"
    assert fix.verified_at == T1
    assert fix.applied_at == T1
    assert fix.failure_reason is None and fix.partial_notes is None
    assert await version(ctx, session) == v + 1
    assert fixes.is_terminal(fix)


async def test_outcome_keeps_an_earlier_applied_at(ctx, session):
    """An outcome after apply keeps the apply time; verified_at is the outcome time."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.apply_fix(ctx, session, fix)
    at(ctx, T2)
    await fixes.record_outcome(ctx, session, fix, "worked")
    await reload(ctx, fix)
    assert fix.applied_at == T1
    assert fix.verified_at == T2


@pytest.mark.parametrize("outcome", ["applied_partial", "applied_pending"])
@pytest.mark.parametrize("notes", [None, "", "   "])
async def test_parked_outcomes_need_notes(ctx, session, outcome, notes):
    """partial and pending without notes are refused; nothing changes (items 35, 68)."""
    fix = await suggest(ctx, session)
    before, v = snapshot(await reload(ctx, fix)), await version(ctx, session)
    with pytest.raises(UsageError, match=f"notes are required when outcome is {outcome}"):
        await fixes.record_outcome(ctx, session, fix, outcome, notes=notes)
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == v


async def test_partial_then_partial_updates_notes_then_success(ctx, session):
    """partial → partial updates the notes; partial → success is allowed (items 36, 38)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, "applied_partial", notes="  Cleared two of three entries  ")
    await reload(ctx, fix)
    assert fix.status == "applied_partial"
    assert fix.partial_notes == "Cleared two of three entries"
    assert fix.applied_at == T1
    assert fix.verified_at is None
    assert fixes.is_parked(fix)
    await fixes.record_outcome(ctx, session, fix, "partial", notes="Cleared all but the OneDrive entry")
    await reload(ctx, fix)
    assert fix.partial_notes == "Cleared all but the OneDrive entry"
    at(ctx, T2)
    await fixes.record_outcome(ctx, session, fix, "applied_success")
    await reload(ctx, fix)
    assert fix.status == "applied_success"
    assert fix.verified_at == T2
    assert fix.applied_at == T1


async def test_pending_stamps_applied_not_verified(ctx, session):
    """pending stores the reason, stamps applied_at, never verified_at (item 69)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, "pending", notes="user to sign in tomorrow")
    await reload(ctx, fix)
    assert fix.status == "applied_pending"
    assert fix.pending_reason == "user to sign in tomorrow"
    assert fix.applied_at == T1
    assert fix.verified_at is None


async def test_pending_again_updates_reason_then_success(ctx, session):
    """pending → pending updates the reason; pending → success is allowed (items 70, 71)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, "applied_pending", notes="user to sign in tomorrow")
    await fixes.record_outcome(ctx, session, fix, "applied_pending", notes="user is on leave until Monday")
    await reload(ctx, fix)
    assert fix.pending_reason == "user is on leave until Monday"
    at(ctx, T2)
    await fixes.record_outcome(ctx, session, fix, "applied_success")
    await reload(ctx, fix)
    assert fix.status == "applied_success"
    assert fix.applied_at == T1
    assert fix.verified_at == T2


async def test_failed_notes_become_failure_reason(ctx, session):
    """failed stores the notes as failure_reason, stamps verified_at, leaves partial_notes empty (item 41)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, "failed", notes=" Prompt came back after reboot ")
    await reload(ctx, fix)
    assert fix.status == "applied_failed"
    assert fix.failure_reason == "Prompt came back after reboot"
    assert fix.partial_notes is None
    assert fix.verified_at == T1
    assert fix.applied_at == T1


@pytest.mark.parametrize("first", ["applied_success", "applied_failed"])
@pytest.mark.parametrize("second", ALL_OUTCOMES)
async def test_terminal_fix_refuses_outcomes(ctx, session, first, second):
    """From success or failed no outcome is accepted; nothing changes (item 37)."""
    fix = await to_status(ctx, session, await suggest(ctx, session), first)
    before, v = snapshot(fix), await version(ctx, session)
    with pytest.raises(ConflictError, match=f"fix is already in terminal status '{first}'"):
        await fixes.record_outcome(ctx, session, fix, second, notes="more notes")
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == v


async def test_dismiss_outcome_supersedes_without_stamps(ctx, session):
    """Outcome dismissed: status dismissed, superseded, decision dismissed, no stamps, +1 (item 39, SPEC §7)."""
    fix = await suggest(ctx, session)
    v = await version(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, "dismissed", notes="ignored")
    await reload(ctx, fix)
    assert fix.status == "dismissed"
    assert fix.user_decision == "dismissed"
    assert fix.superseded_at == T1
    assert fix.applied_at is None and fix.verified_at is None
    assert await fixes.active_fix(ctx, session) is None
    assert await version(ctx, session) == v + 1


async def test_dismiss_decision_is_the_same_dismiss(ctx, session):
    """Decision dismissed gives the same state as outcome dismissed (one meaning, item 30)."""
    fix = await suggest(ctx, session)
    v = await version(ctx, session)
    at(ctx, T1)
    result = await fixes.decide(ctx, session, fix, "dismissed")
    assert result.rendered_script is None and result.draft_template is None
    await reload(ctx, fix)
    assert fix.status == "dismissed"
    assert fix.user_decision == "dismissed"
    assert fix.superseded_at == T1
    assert fix.applied_at is None and fix.verified_at is None
    assert await fixes.active_fix(ctx, session) is None
    assert await version(ctx, session) == v + 1


async def test_outcome_on_dismissed_fix_is_refused(ctx, session):
    """A dismissed fix takes no further outcome."""
    fix = await suggest(ctx, session)
    await fixes.record_outcome(ctx, session, fix, "dismissed")
    before, v = snapshot(await reload(ctx, fix)), await version(ctx, session)
    with pytest.raises(ConflictError):
        await fixes.record_outcome(ctx, session, fix, "applied_success")
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == v


async def test_outcome_on_superseded_fix_is_refused(ctx, session):
    """Outcomes are only recorded on the active fix (SPEC §7)."""
    old = await suggest(ctx, session, "Old idea")
    await suggest(ctx, session, "New idea")
    before, v = snapshot(await reload(ctx, old)), await version(ctx, session)
    with pytest.raises(ConflictError, match="this fix is already superseded by a newer suggestion"):
        await fixes.record_outcome(ctx, session, old, "applied_failed", notes="did not help")
    assert snapshot(await reload(ctx, old)) == before
    assert old.status == "proposed"
    assert await version(ctx, session) == v


@pytest.mark.parametrize("outcome", ALL_OUTCOMES)
async def test_outcome_clears_ai_proposal(ctx, session, outcome):
    """Any outcome write clears ai_outcome_proposal (item 48)."""
    fix = await suggest(ctx, session)
    fix.ai_outcome_proposal = {"outcome": "success", "reason": "The user says Outlook stopped prompting"}
    await ctx.db.commit()
    assert fixes.banner_mode(await reload(ctx, fix)) == "ai_confirming"
    await fixes.record_outcome(ctx, session, fix, outcome, notes="notes")
    await reload(ctx, fix)
    assert fix.ai_outcome_proposal is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("success", "applied_success"),
        ("worked", "applied_success"),
        ("It-Worked", "applied_success"),
        ("failed", "applied_failed"),
        ("failure", "applied_failed"),
        ("didnt_work", "applied_failed"),
        ("partial", "applied_partial"),
        ("pending", "applied_pending"),
        ("waiting", "applied_pending"),
        ("dismiss", "dismissed"),
        ("never", "dismissed"),
        ("never_applied", "dismissed"),
        (" APPLIED-SUCCESS ", "applied_success"),
        ("applied_pending", "applied_pending"),
    ],
)
def test_normalise_outcome_aliases(typed, stored):
    """Typed outcome words map to the stored statuses."""
    assert fixes.normalise_outcome(typed) == stored


@pytest.mark.parametrize("typed", ["", "proposed", "maybe"])
def test_normalise_outcome_refuses_unknown(typed):
    """Unknown outcomes (and going back to proposed) are usage errors."""
    with pytest.raises(UsageError, match="invalid outcome"):
        fixes.normalise_outcome(typed)


# --- finish it ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["applied_partial", "applied_pending"])
async def test_finish_returns_parked_fix_to_verifying(ctx, session, status):
    """"Finish it": partial/pending → proposed with applied_at kept, +1 (SPEC §7)."""
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.record_outcome(ctx, session, fix, status, notes="half done")
    v = await version(ctx, session)
    at(ctx, T2)
    await fixes.finish_fix(ctx, session, fix)
    await reload(ctx, fix)
    assert fix.status == "proposed"
    assert fix.applied_at == T1
    assert fix.verified_at is None
    assert fixes.is_verifying(fix)
    assert fixes.banner_mode(fix) == "verifying"
    assert await version(ctx, session) == v + 1


@pytest.mark.parametrize("status", ["proposed", "verifying", "applied_success", "applied_failed", "dismissed"])
async def test_finish_refuses_other_states(ctx, session, status):
    """Only a partial or pending fix can be finished; others are refused unchanged."""
    fix = await to_status(ctx, session, await suggest(ctx, session), status)
    before, v = snapshot(fix), await version(ctx, session)
    with pytest.raises(ConflictError):
        await fixes.finish_fix(ctx, session, fix)
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == v


# --- decisions ------------------------------------------------------------------------


async def test_one_off_stamps_applied_and_returns_script(ctx, session):
    """one_off records the decision, stamps applied_at, returns the script, no draft (+1)."""
    fix = await suggest(ctx, session, script=SCRIPT)
    v = await version(ctx, session)
    at(ctx, T1)
    result = await fixes.decide(ctx, session, fix, "one_off")
    assert result.rendered_script == SCRIPT
    assert result.draft_template is None
    await reload(ctx, fix)
    assert fix.user_decision == "one_off"
    assert fix.applied_at == T1
    assert fix.status == "proposed"
    assert fix.verified_at is None
    assert await drafts(ctx, session) == []
    assert await version(ctx, session) == v + 1


async def test_draft_template_queues_a_pending_draft(ctx, session):
    """draft_template stamps applied_at and queues a pending draft named after the fix (+1, item 29)."""
    fix = await suggest(ctx, session, "Clear cached Office credentials", script=SCRIPT)
    v = await version(ctx, session)
    at(ctx, T1)
    result = await fixes.decide(ctx, session, fix, "draft-template")
    await reload(ctx, fix)
    assert fix.user_decision == "draft_template"
    assert fix.applied_at == T1
    rows = await drafts(ctx, session)
    assert len(rows) == 1
    draft = rows[0]
    assert result.draft_template is not None and result.draft_template.id == draft.id
    assert draft.status == "pending"
    assert draft.proposed_name == "Clear cached Office credentials"
    assert draft.script_body == SCRIPT
    assert draft.source_fix_id == fix.id
    assert draft.source_engineer_id == ctx.engineer.id
    assert draft.account_id == ctx.account.id
    assert await version(ctx, session) == v + 1


async def test_build_template_stamps_nothing(ctx, session):
    """build_template records the decision and queues the draft to build now, but stamps no applied_at (+1)."""
    fix = await suggest(ctx, session, script=SCRIPT)
    v = await version(ctx, session)
    result = await fixes.decide(ctx, session, fix, "build_template")
    assert result.rendered_script == SCRIPT
    await reload(ctx, fix)
    assert fix.user_decision == "build_template"
    assert fix.applied_at is None
    assert fixes.banner_mode(fix) == "proposed"
    assert [d.status for d in await drafts(ctx, session)] == ["pending"]  # reviewed now, not after resolve
    assert await version(ctx, session) == v + 1


@pytest.mark.parametrize("decision", ["one_off", "draft_template", "build_template"])
@pytest.mark.parametrize("edited", [None, "", "  \n"])
async def test_script_decisions_need_a_script(ctx, session, decision, edited):
    """Without a drafted (or edited) script a script decision is refused, nothing changed."""
    fix = await suggest(ctx, session)
    before, v = snapshot(await reload(ctx, fix)), await version(ctx, session)
    with pytest.raises(UsageError, match="this fix has no drafted script"):
        await fixes.decide(ctx, session, fix, decision, edited_script=edited)
    assert snapshot(await reload(ctx, fix)) == before
    assert await drafts(ctx, session) == []
    assert await version(ctx, session) == v


async def test_edited_script_overrides_and_is_stored(ctx, session):
    """edited_script wins over the drafted one, is returned verbatim and stored."""
    fix = await suggest(ctx, session, script=SCRIPT)
    result = await fixes.decide(ctx, session, fix, "one_off", edited_script="Get-Service -Name Dnscache")
    assert result.rendered_script == "Get-Service -Name Dnscache"
    await reload(ctx, fix)
    assert fix.ai_drafted_script == "Get-Service -Name Dnscache"


async def test_edited_script_supplies_a_missing_script(ctx, session):
    """A fix with no drafted script accepts the script that actually ran."""
    fix = await suggest(ctx, session)
    result = await fixes.decide(ctx, session, fix, "draft_template", edited_script="ipconfig /flushdns")
    assert result.rendered_script == "ipconfig /flushdns"
    [draft] = await drafts(ctx, session)
    assert draft.script_body == "ipconfig /flushdns"


async def test_decision_keeps_an_earlier_applied_at(ctx, session):
    """A run-declaring decision after apply keeps the first applied_at."""
    fix = await suggest(ctx, session, script=SCRIPT)
    at(ctx, T1)
    await fixes.apply_fix(ctx, session, fix)
    at(ctx, T2)
    await fixes.decide(ctx, session, fix, "one_off")
    await reload(ctx, fix)
    assert fix.applied_at == T1


async def test_each_decision_bumps_exactly_once(ctx, session):
    """Every decision bumps state_version by exactly one."""
    fix = await suggest(ctx, session, script=SCRIPT)
    v = await version(ctx, session)
    for decision in ("build_template", "one_off", "draft_template", "dismissed"):
        await fixes.decide(ctx, session, fix, decision)
        v += 1
        assert await version(ctx, session) == v


async def test_dismissing_a_superseded_fix_is_refused(ctx, session):
    """Dismissing an already-superseded fix is refused (item 31)."""
    old = await suggest(ctx, session, "Old idea", script=SCRIPT)
    await suggest(ctx, session, "New idea")
    before, v = snapshot(await reload(ctx, old)), await version(ctx, session)
    with pytest.raises(ConflictError, match="this fix is already superseded by a newer suggestion"):
        await fixes.decide(ctx, session, old, "dismissed")
    assert snapshot(await reload(ctx, old)) == before
    assert await version(ctx, session) == v


async def test_unknown_decision_is_a_usage_error(ctx, session):
    """Only the four decisions exist."""
    fix = await suggest(ctx, session, script=SCRIPT)
    with pytest.raises(UsageError, match="invalid decision"):
        await fixes.decide(ctx, session, fix, "run_twice")
    await reload(ctx, fix)
    assert fix.user_decision is None


# --- ownership ---------------------------------------------------------------------


async def test_fix_of_another_session_is_not_found(ctx, session):
    """A fix is only changed through its own session ("suggested fix not found")."""
    other = await create_session(ctx, "VPN drops every hour.")
    fix = await suggest(ctx, other, script=SCRIPT)
    before = snapshot(await reload(ctx, fix))
    with pytest.raises(NotFoundError, match="suggested fix not found"):
        await fixes.apply_fix(ctx, session, fix)
    with pytest.raises(NotFoundError, match="suggested fix not found"):
        await fixes.record_outcome(ctx, session, fix, "applied_success")
    with pytest.raises(NotFoundError, match="suggested fix not found"):
        await fixes.decide(ctx, session, fix, "one_off")
    with pytest.raises(NotFoundError, match="suggested fix not found"):
        await fixes.get_fix(ctx, session, fix.id)
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == 0


async def test_other_engineers_fix_cannot_be_changed(ctx, session):
    """Only the session's owner records outcomes on its fix."""
    fix = await suggest(ctx, session)
    other = Engineer(account_id=ctx.account.id, email="other@example.com", display_name="Other Engineer")
    ctx.db.add(other)
    await ctx.db.flush()
    session.owner_id = other.id
    await ctx.db.commit()
    before, v = snapshot(await reload(ctx, fix)), await version(ctx, session)
    with pytest.raises(ConflictError, match="belongs to Other Engineer"):
        await fixes.record_outcome(ctx, session, fix, "applied_success")
    assert snapshot(await reload(ctx, fix)) == before
    assert await version(ctx, session) == v


# --- the proposal banner (seed §10.1) ------------------------------------------------


async def add_messages(ctx, session, times: list[datetime], role: str = "user") -> None:
    existing = (await ctx.db.execute(select(Message.seq).where(Message.session_id == session.id))).scalars()
    seq = max(existing, default=0)
    for when in times:
        seq += 1
        ctx.db.add(
            Message(
                account_id=ctx.account.id,
                session_id=session.id,
                seq=seq,
                role=role,
                raw_content=f"message {seq}",
                display_content=f"message {seq}",
                created_at=when,
            )
        )
    await ctx.db.commit()


async def test_banner_none_without_fix(ctx, session):
    """No active fix: no banner."""
    mode, fix = await fixes.banner_state(ctx, session)
    assert (mode, fix) == ("none", None)
    assert fixes.banner_mode(None) == "none"


@pytest.mark.parametrize(
    ("status", "mode"),
    [
        ("proposed", "proposed"),
        ("verifying", "verifying"),
        ("applied_partial", "partial"),
        ("applied_pending", "pending"),
        ("applied_success", "none"),
        ("applied_failed", "none"),
        ("dismissed", "none"),
    ],
)
async def test_banner_mode_per_status(ctx, session, status, mode):
    """The banner follows the fix status (seed §10.1)."""
    fix = await to_status(ctx, session, await suggest(ctx, session), status)
    assert fixes.banner_mode(fix) == mode
    state, _ = await fixes.banner_state(ctx, session)
    assert state == mode


async def test_banner_none_for_superseded_fix(ctx, session):
    """A superseded fix shows no banner; the new one is proposed."""
    old = await suggest(ctx, session, "Old idea")
    await suggest(ctx, session, "New idea")
    assert fixes.banner_mode(await reload(ctx, old)) == "none"
    mode, active = await fixes.banner_state(ctx, session)
    assert mode == "proposed" and active is not None and active.title == "New idea"


@pytest.mark.parametrize("status", ["proposed", "verifying", "applied_partial", "applied_pending"])
async def test_ai_proposal_takes_precedence(ctx, session, status):
    """An AI outcome proposal on a non-terminal fix shows the AI-confirming banner."""
    fix = await to_status(ctx, session, await suggest(ctx, session), status)
    fix.ai_outcome_proposal = {"outcome": "failure", "reason": "still prompting"}
    await ctx.db.commit()
    assert fixes.banner_mode(await reload(ctx, fix)) == "ai_confirming"


async def test_ai_proposal_on_terminal_fix_shows_nothing(ctx, session):
    """A terminal fix shows no banner even with a stale AI proposal."""
    fix = await to_status(ctx, session, await suggest(ctx, session), "applied_failed")
    fix.ai_outcome_proposal = {"outcome": "success", "reason": "x"}
    assert fixes.banner_mode(fix) == "none"


async def test_nudge_after_three_engineer_messages(ctx, session):
    """Verifying with ≥3 engineer messages since apply becomes the nudge (SPEC §7)."""
    await add_messages(ctx, session, [T0])  # before apply: not counted
    fix = await suggest(ctx, session)
    at(ctx, T1)
    await fixes.apply_fix(ctx, session, fix)
    await add_messages(ctx, session, [T1 + timedelta(minutes=1), T1 + timedelta(minutes=2)])
    await add_messages(ctx, session, [T1 + timedelta(minutes=3)], role="assistant")  # not the engineer's
    assert (await fixes.banner_state(ctx, session))[0] == "verifying"
    await add_messages(ctx, session, [T1 + timedelta(minutes=4)])
    mode, active = await fixes.banner_state(ctx, session)
    assert mode == "nudge"
    assert active is not None and active.id == fix.id
    assert fixes.banner_mode(fix, 2) == "verifying"
    assert fixes.banner_mode(fix, 3) == "nudge"


async def test_no_nudge_before_apply(ctx, session):
    """Messages never nudge a fix that is only proposed."""
    await suggest(ctx, session)
    await add_messages(ctx, session, [T1 + timedelta(minutes=i) for i in range(5)])
    assert (await fixes.banner_state(ctx, session))[0] == "proposed"


async def test_edit_parked_notes(ctx, session) -> None:
    """The notes of a partial or pending fix are edited in place (+1); other states refuse."""
    import pytest

    from rfpilot.core.session import fixes as svc
    from rfpilot.errors import ConflictError, UsageError

    fix = await svc.suggest_fix(ctx, session, "Fix it", confidence=80)
    with pytest.raises(ConflictError, match="only a partial or pending fix"):
        await svc.edit_parked_notes(ctx, session, fix, "x")
    await svc.record_outcome(ctx, session, fix, "applied_partial", "half done")
    version = session.state_version
    await svc.edit_parked_notes(ctx, session, fix, "two of five PCs done")
    assert (fix.status, fix.partial_notes, session.state_version) == ("applied_partial", "two of five PCs done", version + 1)
    with pytest.raises(UsageError, match="notes are required"):
        await svc.edit_parked_notes(ctx, session, fix, "  ")
    await svc.finish_fix(ctx, session, fix)
    await svc.record_outcome(ctx, session, fix, "applied_pending", "user tests at noon")
    await svc.edit_parked_notes(ctx, session, fix, "user tests tomorrow")
    assert fix.pending_reason == "user tests tomorrow" and fix.status == "applied_pending"


def test_the_cli_names_a_fix_by_its_state_not_its_stored_status(cli) -> None:
    """`fix apply` printed `status proposed` beside `banner Verifying — did it work?`: not stale (the view is read
    after the apply), but the stored status, which stays `proposed` until an outcome. The text says the state as
    the banner and the lane do; `--json` keeps the stored status and says `verifying`."""
    import json

    sid = cli("new", "Outlook prompts for a password after the reset")[1].strip()
    code, out, err = cli("fix", "suggest", sid, "Clear cached credentials", "-c", "80")
    assert code == 0, err
    assert "  state       proposed\n" in out
    code, out, err = cli("fix", "apply", sid)
    assert code == 0, err
    assert "  state       verifying\n" in out and "Verifying — did it work?" in out and "proposed" not in out
    assert "Clear cached credentials — 80% · verifying\n" in cli("sessions", "show", sid)[1]
    data = json.loads(cli("fix", "show", sid, "--json")[1])
    assert data["fix"]["status"] == "proposed" and data["fix"]["verifying"] and data["banner"] == "verifying"
    code, out, err = cli("fix", "outcome", sid, "partial", "--notes", "Cleared Credential Manager")
    assert code == 0 and "  state       partly applied\n" in out, err
    assert "  state       verifying\n" in cli("fix", "finish", sid)[1]
    assert "  state       applied success\n" in cli("fix", "outcome", sid, "worked")[1]
    assert cli("fix", "suggest", sid, "Rebuild the profile", "-c", "40")[0] == 0
    listed = cli("fix", "show", sid, "--all")[1]
    assert "  state       applied success (superseded)\n" in listed and "  state       proposed\n" in listed
