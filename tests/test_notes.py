"""Resolution notes, escalation packages, previews and closing: SPEC §7–§9, seed-003 §12, §13.2–13.3."""

from __future__ import annotations

import re

import pytest

from rfpilot.core.closeout import closing
from rfpilot.core.session import facts, fixes, lane, sessions
from rfpilot.core.drafting import notes, previews
from rfpilot.core.context import Workspace
from rfpilot.core.text import markdown_section
from rfpilot.errors import ConflictError, UsageError

RES, ESC = notes.RESOLUTION, notes.ESCALATION
TITLE = "Clear cached Office credentials"
DESCRIPTION = "Stale credentials in Credential Manager made Outlook prompt for a password."
PROBLEM_FIRST = "Outlook prompts for a password after a reset."
NONE_YET = "No leading hypothesis yet — symptoms are still being narrowed."


async def draft(ctx, session, kind: str) -> str:
    return notes.offline_draft(await notes.build_bundle(ctx, session, kind))


def section(markdown: str, heading: str) -> str:
    body = markdown_section(markdown, heading)
    assert body is not None, f"no ## {heading} in:\n{markdown}"
    return body


def bullets(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("- ")]


def heading_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.lstrip().startswith("#")]


async def with_fix(ctx, session, status: str, *, confidence: int = 75, notes_text: str | None = None):
    """A session whose active fix is in ``status`` ('verifying' = applied, no outcome)."""
    fix = await fixes.suggest_fix(ctx, session, TITLE, description=DESCRIPTION, confidence=confidence)
    if status == "verifying":
        await fixes.apply_fix(ctx, session, fix)
    elif status != "proposed":
        await fixes.record_outcome(ctx, session, fix, status, notes=notes_text)
    await ctx.db.refresh(fix)
    return fix


# --- structure ----------------------------------------------------------------


@pytest.mark.parametrize("populated", [False, True])
async def test_resolution_note_has_exactly_four_headings(ctx, session, populated):
    """The resolution note has exactly the four `##` headings, in order, and no other heading."""
    if populated:
        await facts.add_note(ctx, session, "Password was reset on Friday")
        await with_fix(ctx, session, "applied_success")
    markdown = await draft(ctx, session, RES)
    assert heading_lines(markdown) == [f"## {h}" for h in notes.RESOLUTION_HEADINGS]
    assert notes.section_headings(markdown) == ["Problem", "What we confirmed", "Root cause", "Resolution"]
    assert "**" not in markdown and "---" not in markdown
    assert markdown == markdown.strip()
    assert "\n\n\n" not in markdown
    assert all(line == line.rstrip() for line in markdown.splitlines())


@pytest.mark.parametrize("populated", [False, True])
async def test_escalation_package_has_exactly_five_headings(ctx, session, populated):
    """The escalation package has exactly the five `##` headings, in order, and no other heading."""
    if populated:
        await facts.add_note(ctx, session, "Password was reset on Friday")
        await with_fix(ctx, session, "applied_failed", notes_text="still prompting")
    markdown = await draft(ctx, session, ESC)
    assert notes.section_headings(markdown) == [
        "Problem",
        "What we've confirmed",
        "What we've tried",
        "Current hypothesis",
        "Suggested next steps",
    ]
    assert heading_lines(markdown) == [f"## {h}" for h in notes.ESCALATION_HEADINGS]
    assert "\n\n\n" not in markdown
    assert all(line == line.rstrip() for line in markdown.splitlines())


async def test_problem_comes_from_the_intake(ctx, session):
    """The Problem section is the session's description."""
    for kind in (RES, ESC):
        problem = section(await draft(ctx, session, kind), "Problem")
        assert problem.startswith(PROBLEM_FIRST)


async def test_facts_are_bullets_oldest_first(ctx, session):
    """Confirmed facts appear as one bullet each, oldest first, deleted ones left out."""
    await facts.add_note(ctx, session, "Password was reset on Friday")
    gone = await facts.add_note(ctx, session, "This one was wrong")
    item = await lane.add_question(ctx, session, "Does OWA work?")
    await lane.answer_question(ctx, session, item, "OWA signs in fine", promote=True)
    await facts.delete_fact(ctx, session, gone)
    expected = ["- Password was reset on Friday.", "- OWA signs in fine."]
    assert bullets(section(await draft(ctx, session, RES), "What we confirmed")) == expected
    assert bullets(section(await draft(ctx, session, ESC), "What we've confirmed")) == expected


async def test_empty_states(ctx, session):
    """With no facts and no fix every section says so instead of inventing content."""
    resolution = await draft(ctx, session, RES)
    assert section(resolution, "What we confirmed") == "Nothing was confirmed."
    assert section(resolution, "Root cause") == "Root cause not definitively isolated."
    assert section(resolution, "Resolution") == "No fix was recorded in this session."
    escalation = await draft(ctx, session, ESC)
    assert section(escalation, "What we've confirmed") == "Nothing confirmed yet."
    assert section(escalation, "What we've tried") == "No diagnostic actions run yet."
    assert section(escalation, "Current hypothesis") == NONE_YET
    assert 2 <= len(bullets(section(escalation, "Suggested next steps"))) <= 4


# --- outcome-aware wording (seed §12.2 / §12.3), one test per fix state --------


async def test_proposed_fix(ctx, session):
    """proposed: "Resolution not yet applied — fix proposed: <title>."; not listed as tried; it is the hypothesis."""
    await with_fix(ctx, session, "proposed", confidence=75)
    resolution = await draft(ctx, session, RES)
    assert section(resolution, "Resolution") == f"Resolution not yet applied — fix proposed: {TITLE}."
    escalation = await draft(ctx, session, ESC)
    assert section(escalation, "What we've tried") == "No diagnostic actions run yet."
    hypothesis = section(escalation, "Current hypothesis")
    assert TITLE in hypothesis and "75% confidence" in hypothesis


async def test_confident_proposed_fix_is_tried_first(ctx, session):
    """A proposed fix above 80 % confidence is the first next step."""
    await with_fix(ctx, session, "proposed", confidence=85)
    steps = bullets(section(await draft(ctx, session, ESC), "Suggested next steps"))
    assert steps[0] == f'- Try "{TITLE}" first (85% confidence).'


async def test_low_confidence_fix(ctx, session):
    """Below 60 %: root cause not isolated (suspected only) and no leading hypothesis."""
    await with_fix(ctx, session, "proposed", confidence=45)
    root = section(await draft(ctx, session, RES), "Root cause")
    assert root.startswith("Root cause not definitively isolated.")
    assert "Suspected" in root and TITLE in root
    hypothesis = section(await draft(ctx, session, ESC), "Current hypothesis")
    assert hypothesis.startswith(NONE_YET)


async def test_confident_fix_gives_the_root_cause(ctx, session):
    """At or above 60 % the root cause is the fix's description."""
    await with_fix(ctx, session, "proposed", confidence=60)
    assert section(await draft(ctx, session, RES), "Root cause") == DESCRIPTION


async def test_verifying_fix(ctx, session):
    """verifying (applied, no outcome): applied but unconfirmed; listed as tried; confirm it next."""
    await with_fix(ctx, session, "verifying")
    resolution = await draft(ctx, session, RES)
    assert section(resolution, "Resolution") == f'Applied "{TITLE}"; the outcome has not been confirmed yet.'
    escalation = await draft(ctx, session, ESC)
    tried = section(escalation, "What we've tried")
    assert TITLE in tried and "not confirmed" in tried
    steps = section(escalation, "Suggested next steps")
    assert f'Confirm whether "{TITLE}" resolved the issue.' in steps


async def test_success_fix(ctx, session):
    """success: "Applied <title>; confirmed working."; tried as applied and verified."""
    await with_fix(ctx, session, "applied_success")
    resolution = await draft(ctx, session, RES)
    assert section(resolution, "Resolution") == f'Applied "{TITLE}"; confirmed working.'
    assert section(resolution, "Root cause") == DESCRIPTION
    escalation = await draft(ctx, session, ESC)
    tried = section(escalation, "What we've tried")
    assert TITLE in tried and "verified working" in tried
    assert "fixed the original symptom" in section(escalation, "Current hypothesis")


async def test_failed_fix_with_reason(ctx, session):
    """failed: did not resolve and was dropped (with reason); listed as tried with the reason."""
    reason = "Prompt came back after a reboot"
    await with_fix(ctx, session, "applied_failed", notes_text=reason)
    resolution = await draft(ctx, session, RES)
    res = section(resolution, "Resolution")
    assert f'"{TITLE}" did not resolve the issue and was dropped: {reason}.' in res
    assert section(resolution, "Root cause").startswith("Root cause not definitively isolated.")
    escalation = await draft(ctx, session, ESC)
    tried = bullets(section(escalation, "What we've tried"))
    assert tried == [f'- Applied "{TITLE}": it did not resolve the issue ({reason}).']
    hypothesis = section(escalation, "Current hypothesis")
    assert "did not hold" in hypothesis and reason in hypothesis
    assert reason in section(escalation, "Suggested next steps")


async def test_partial_fix_with_notes(ctx, session):
    """partial: partially applied with the notes, not fully completed or verified; complete it next."""
    partial = "Cleared two of three credential entries"
    await with_fix(ctx, session, "applied_partial", notes_text=partial)
    res = section(await draft(ctx, session, RES), "Resolution")
    assert f'"{TITLE}" was partially applied: {partial}.' in res
    assert "not fully completed or verified" in res
    escalation = await draft(ctx, session, ESC)
    tried = section(escalation, "What we've tried")
    assert "Partially applied" in tried and partial in tried
    assert "partially applied" in section(escalation, "Current hypothesis")
    assert bullets(section(escalation, "Suggested next steps"))[0].startswith(f'- Complete "{TITLE}"')


async def test_pending_fix_with_reason(ctx, session):
    """pending: provisional resolution; the leading hypothesis names what is waited on."""
    waiting = "the user signing in on Monday"
    await with_fix(ctx, session, "applied_pending", notes_text=waiting)
    res = section(await draft(ctx, session, RES), "Resolution")
    assert "provisional" in res and waiting in res and TITLE in res
    escalation = await draft(ctx, session, ESC)
    hypothesis = section(escalation, "Current hypothesis")
    assert hypothesis.startswith("Leading hypothesis:")
    assert TITLE in hypothesis and waiting in hypothesis
    assert waiting in section(escalation, "What we've tried")
    assert waiting in section(escalation, "Suggested next steps")


async def test_dismissed_fix(ctx, session):
    """dismissed: considered and set aside; not listed as tried; root cause not isolated."""
    await with_fix(ctx, session, "dismissed")
    resolution = await draft(ctx, session, RES)
    assert "considered and set aside" in section(resolution, "Resolution")
    assert section(resolution, "Root cause") == "Root cause not definitively isolated."
    escalation = await draft(ctx, session, ESC)
    assert section(escalation, "What we've tried") == "No diagnostic actions run yet."
    assert TITLE not in section(escalation, "What we've tried")
    assert "set aside" in section(escalation, "Current hypothesis")


async def test_no_fix(ctx, session):
    """No fix: nothing recorded, no leading hypothesis."""
    await facts.add_note(ctx, session, "Password was reset on Friday")
    assert section(await draft(ctx, session, RES), "Resolution") == "No fix was recorded in this session."
    assert section(await draft(ctx, session, ESC), "Current hypothesis") == NONE_YET


async def test_earlier_failed_fix_is_listed_as_tried(ctx, session):
    """A failed fix superseded by a new proposal is still listed as tried; the new one is the hypothesis."""
    await with_fix(ctx, session, "applied_failed", notes_text="still prompting")
    await fixes.suggest_fix(ctx, session, "Recreate the Outlook profile", confidence=70)
    escalation = await draft(ctx, session, ESC)
    tried = section(escalation, "What we've tried")
    assert TITLE in tried and "still prompting" in tried
    assert "Recreate the Outlook profile" not in tried
    assert "Recreate the Outlook profile" in section(escalation, "Current hypothesis")


async def test_checks_run_are_listed_as_tried(ctx, session):
    """Checks whose findings became facts appear under What we've tried (seed §12.4), once each."""
    check = await lane.add_check(ctx, session, "List stored credentials", command="cmdkey /list")
    await lane.mark_run(ctx, session, check, "MicrosoftOffice16 entry present", promote="A stale Office entry was cached")
    await facts.promote(ctx, session, source_type="diagnostic_check", source_ref=check.id, text="Only one entry")
    unpromoted = await lane.add_check(ctx, session, "Check the sign-in logs")
    await lane.mark_run(ctx, session, unpromoted, "nothing relevant")
    escalation = await draft(ctx, session, ESC)
    tried = bullets(section(escalation, "What we've tried"))
    assert tried == ["- Ran check: List stored credentials (`cmdkey /list`)."]


async def test_lane_work_never_makes_a_cached_preview_stale(ctx, session):
    """Lane work does not bump state_version, so nothing a note says may come from it."""
    from rfpilot.core.drafting import previews

    await facts.add_note(ctx, session, "The reset happened on Monday")
    first = await previews.preview(ctx, session, ESC)
    question = await lane.add_question(ctx, session, "Is it every device?")
    await lane.answer_question(ctx, session, question, "Only the desktop")
    check = await lane.add_check(ctx, session, "List stored credentials", command="cmdkey /list")
    await lane.mark_run(ctx, session, check, "one entry")
    await lane.add_check(ctx, session, "Still open")
    cached = await previews.preview(ctx, session, ESC)
    redrafted = await previews.preview(ctx, session, ESC, force=True)
    assert cached.from_cache and cached.state_version == first.state_version
    assert cached.markdown == redrafted.markdown == first.markdown


@pytest.mark.parametrize(
    "state",
    ["none", "proposed", "proposed-85", "verifying", "applied_failed", "applied_partial", "applied_pending", "busy"],
)
async def test_two_to_four_next_steps(ctx, session, state):
    """Suggested next steps always has 2–4 bullets and nothing else."""
    if state == "busy":
        await with_fix(ctx, session, "verifying")
        for n in range(3):
            await lane.add_question(ctx, session, f"Open question {n}?")
            await lane.add_check(ctx, session, f"Open check {n}", command=f"cmd{n}")
    elif state == "proposed-85":
        await with_fix(ctx, session, "proposed", confidence=85)
    elif state != "none":
        await with_fix(ctx, session, state, notes_text="some notes")
    body = section(await draft(ctx, session, ESC), "Suggested next steps")
    steps = bullets(body)
    assert 2 <= len(steps) <= 4
    assert len(steps) == len(body.splitlines())
    assert all(len(s) > 3 for s in steps)


# --- the model's input bundle (seed §12.4) ----------------------------------------


async def test_bundle_text_carries_outcome_fields(ctx, session):
    """The bundle carries the outcome status and its reasons for both kinds (item 43)."""
    await facts.add_note(ctx, session, "Password was reset on Friday", summary="timeline")
    fix = await with_fix(ctx, session, "applied_partial", notes_text="two of three entries cleared")
    for kind in (RES, ESC):
        text = notes.bundle_text(await notes.build_bundle(ctx, session, kind))
        assert "Outcome status: applied_partial" in text
        assert "Partial notes: two of three entries cleared" in text
        assert "- [user_note] Password was reset on Friday — timeline" in text
        assert f"Title: {TITLE}" in text
    await fixes.record_outcome(ctx, session, fix, "applied_failed", notes="prompt returned after reboot")
    text = notes.bundle_text(await notes.build_bundle(ctx, session, ESC))
    assert "Outcome status: applied_failed" in text
    assert "Failure reason: prompt returned after reboot" in text
    assert "Engineer decision" not in text
    assert text.rstrip().endswith("Produce the five-section escalation handoff now. Use only the input above.")
    resolution_text = notes.bundle_text(await notes.build_bundle(ctx, session, RES))
    assert "Engineer decision: (none)" in resolution_text
    assert "Applied at: " in resolution_text and "Verified at: " in resolution_text


async def test_bundle_text_pending_reason_and_empty_state(ctx, session):
    """Pending carries what is waited on; an empty session says (none) / no active fix."""
    text = notes.bundle_text(await notes.build_bundle(ctx, session, RES))
    assert "# Confirmed facts (What we know)\n(none)" in text
    assert "(no active suggested fix)" in text
    await with_fix(ctx, session, "applied_pending", notes_text="user back Monday")
    text = notes.bundle_text(await notes.build_bundle(ctx, session, RES))
    assert "Outcome status: applied_pending" in text
    assert "Waiting on: user back Monday" in text


async def test_outcome_changes_the_preview(ctx, session):
    """Preview, then an outcome: the next preview is a miss at a higher version with new content (item 43)."""
    fix = await with_fix(ctx, session, "proposed")
    first = await previews.preview(ctx, session, "escalate")
    assert not first.from_cache
    reason = "Outlook kept prompting on the docking station"
    await fixes.record_outcome(ctx, session, fix, "applied_failed", notes=reason)
    second = await previews.preview(ctx, session, "escalate")
    assert not second.from_cache
    assert second.state_version == first.state_version + 1
    assert second.markdown != first.markdown
    assert reason in second.markdown
    text = notes.bundle_text(await notes.build_bundle(ctx, session, ESC))
    assert "applied_failed" in text and reason in text


# --- preview cache (SPEC §8) ------------------------------------------------------


async def test_second_preview_is_a_cache_hit(ctx, session):
    """With no change the second preview comes from the cache with the same markdown."""
    await facts.add_note(ctx, session, "Password was reset on Friday")
    first = await previews.preview(ctx, session, "resolve")
    second = await previews.preview(ctx, session, "resolve")
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.markdown == first.markdown
    assert second.state_version == first.state_version == 1
    assert first.drafter == second.drafter == "offline"
    assert first.kind == RES


async def test_kinds_are_cached_separately(ctx, session):
    """Resolve and escalate previews of the same state are separate entries."""
    await previews.preview(ctx, session, "resolve")
    escalate = await previews.preview(ctx, session, "escalate")
    assert not escalate.from_cache
    assert notes.section_headings(escalate.markdown)[2] == "What we've tried"
    assert (await previews.preview(ctx, session, "resolve")).from_cache
    assert (await previews.preview(ctx, session, "escalate")).from_cache


@pytest.mark.parametrize("write", ["add", "edit", "delete"])
async def test_fact_write_makes_the_next_preview_a_miss(ctx, session, write):
    """Any fact write bumps state_version, so the next preview is redrafted."""
    fact = await facts.add_note(ctx, session, "Password was reset on Friday")
    first = await previews.preview(ctx, session, "resolve")
    assert (await previews.preview(ctx, session, "resolve")).from_cache
    if write == "add":
        await facts.add_note(ctx, session, "MFA is enforced")
    elif write == "edit":
        await facts.update_fact(ctx, session, fact, text="Password was reset on Thursday")
    else:
        await facts.delete_fact(ctx, session, fact)
    second = await previews.preview(ctx, session, "resolve")
    assert not second.from_cache
    assert second.state_version == first.state_version + 1
    assert second.markdown != first.markdown


async def test_force_redrafts(ctx, session):
    """force=True skips the cache (and the redraft is then cached)."""
    await previews.preview(ctx, session, "resolve")
    forced = await previews.preview(ctx, session, "resolve", force=True)
    assert not forced.from_cache
    again = await previews.preview(ctx, session, "resolve")
    assert again.from_cache and again.markdown == forced.markdown


async def test_cache_survives_a_new_workspace(ctx, session, settings):
    """Previews are cached in the store: a new Workspace on the same store gets a hit."""
    await facts.add_note(ctx, session, "Password was reset on Friday")
    first = await previews.preview(ctx, session, "escalate")
    other = await Workspace.open(settings)
    try:
        async with other.ctx() as ctx2:
            same = await sessions.get_session(ctx2, session.id)
            hit = await previews.preview(ctx2, same, "escalate")
    finally:
        await other.close()
    assert hit.from_cache
    assert hit.markdown == first.markdown
    assert hit.state_version == first.state_version


def test_unknown_preview_kind():
    """Only resolve and escalate previews exist."""
    assert previews.normalise_kind("resolve") == RES
    assert previews.normalise_kind("escalation_package") == ESC
    with pytest.raises(UsageError, match="unknown note kind"):
        previews.normalise_kind("kb_article")


# --- resolve and escalate (local-only, seed §13.2–13.3) --------------------------------


async def test_resolve_local(ctx, session):
    """Local resolve stores the stripped markdown, the Problem's first sentence as summary, resolved_local."""
    markdown = await draft(ctx, session, RES)
    result = await closing.resolve_session(ctx, session, f"\n\n  {markdown}  \n\n")
    assert result.outcome == "resolved_local"
    assert result.session_status == "resolved"
    assert result.summary == PROBLEM_FIRST
    await ctx.db.refresh(session)
    assert session.status == "resolved"
    assert session.resolution_note_markdown == markdown
    assert session.resolution_summary == PROBLEM_FIRST
    assert not session.resolution_summary.startswith("#")
    assert session.resolved_at is not None
    assert session.resolution_note_external_id is None


async def test_summary_line_never_a_heading(ctx, session):
    """The summary is the first sentence of the Problem section even when other text comes first."""
    markdown = (
        "## Problem\n\nVPN dropped every hour for the whole office. Started Monday.\n\n"
        "## Resolution\nRenewed the lease."
    )
    result = await closing.resolve_session(ctx, session, markdown)
    assert result.summary == "VPN dropped every hour for the whole office."
    await ctx.db.refresh(session)
    assert session.resolution_summary == "VPN dropped every hour for the whole office."


async def test_explicit_summary_wins(ctx, session):
    """An explicit summary replaces the derived one."""
    markdown = await draft(ctx, session, RES)
    result = await closing.resolve_session(ctx, session, markdown, summary="  Cleared   cached creds ")
    assert result.summary == "Cleared cached creds"
    await ctx.db.refresh(session)
    assert session.resolution_summary == "Cleared cached creds"


async def test_resolve_twice_is_refused(ctx, session):
    """A resolved session cannot be resolved again ("session is already resolved"); nothing changes."""
    await closing.resolve_session(ctx, session, "## Problem\nFirst note.")
    await ctx.db.refresh(session)
    before = (session.resolution_note_markdown, session.resolution_summary, session.resolved_at)
    with pytest.raises(ConflictError, match="session is already resolved"):
        await closing.resolve_session(ctx, session, "## Problem\nSecond note.")
    await ctx.db.refresh(session)
    assert (session.resolution_note_markdown, session.resolution_summary, session.resolved_at) == before


async def test_escalate_local_and_from_resolved(ctx, session):
    """Escalating a resolved session is allowed (local: escalated_local, package and reason stored)."""
    await closing.resolve_session(ctx, session, "## Problem\nFirst note.")
    markdown = await draft(ctx, session, ESC)
    result = await closing.escalate_session(ctx, session, markdown)
    assert result.outcome == "escalated_local"
    assert result.session_status == "escalated"
    await ctx.db.refresh(session)
    assert session.status == "escalated"
    assert session.escalation_package_markdown == markdown
    assert session.escalation_reason == PROBLEM_FIRST
    assert session.escalated_at is not None


async def test_escalate_reason_wins(ctx, session):
    """An explicit escalation reason replaces the derived one."""
    await closing.escalate_session(ctx, session, "## Problem\nX.", reason="Needs Exchange admin rights")
    await ctx.db.refresh(session)
    assert session.escalation_reason == "Needs Exchange admin rights"


@pytest.mark.parametrize("action", ["resolve", "escalate"])
async def test_abandoned_session_cannot_be_closed(ctx, session, action):
    """Resolve and escalate are refused on an abandoned session and change nothing."""
    await sessions.abandon_session(ctx, session, "duplicate")
    with pytest.raises(ConflictError, match="abandoned"):
        if action == "resolve":
            await closing.resolve_session(ctx, session, "## Problem\nX.")
        else:
            await closing.escalate_session(ctx, session, "## Problem\nX.")
    await ctx.db.refresh(session)
    assert session.status == "abandoned"
    assert session.resolution_note_markdown is None and session.escalation_package_markdown is None


@pytest.mark.parametrize("markdown", ["", "   \n\n  ", None])
@pytest.mark.parametrize("action", ["resolve", "escalate"])
async def test_empty_markdown_is_refused(ctx, session, action, markdown):
    """An empty note is refused and nothing changes."""
    with pytest.raises(UsageError, match="the note is empty"):
        if action == "resolve":
            await closing.resolve_session(ctx, session, markdown)
        else:
            await closing.escalate_session(ctx, session, markdown)
    await ctx.db.refresh(session)
    assert session.status == "active"
    assert session.resolution_note_markdown is None and session.resolution_summary is None
    assert session.escalation_package_markdown is None and session.escalation_reason is None
    assert session.resolved_at is None and session.escalated_at is None


async def test_export_writes_the_markdown(ctx, session, tmp_path):
    """--export writes the stored markdown to the file."""
    target = tmp_path / "out" / "note.md"
    result = await closing.resolve_session(ctx, session, "## Problem\nX happened.\n", export_path=target)
    assert result.exported_to == target
    assert target.read_text(encoding="utf-8") == "## Problem\nX happened.\n"


# --- the fix question before closing (SPEC §7 intercepts) ----------------------------


@pytest.mark.parametrize(
    ("status", "resolve_asks", "escalate_asks"),
    [
        ("none", False, False),
        ("proposed", False, False),
        ("verifying", True, True),
        ("applied_partial", False, True),
        ("applied_pending", False, True),
        ("applied_success", False, False),
        ("applied_failed", False, False),
    ],
)
async def test_pending_fix_question(ctx, session, status, resolve_asks, escalate_asks):
    """Resolve asks only while verifying; escalate asks while verifying or parked."""
    fix = None if status == "none" else await with_fix(ctx, session, status, notes_text="some notes")
    asked = closing.pending_fix_question(fix, closing.RESOLVE)
    assert (asked is not None) == resolve_asks
    asked = closing.pending_fix_question(fix, closing.ESCALATE)
    assert (asked is not None) == escalate_asks
    if escalate_asks:
        assert asked is fix


async def test_implicit_choices(ctx, session):
    """Resolve while verifying means "worked"; escalate keeps a parked outcome; escalate verifying must ask."""
    fix = await with_fix(ctx, session, "verifying")
    assert closing.implicit_choice(fix, closing.RESOLVE) == "worked"
    assert closing.implicit_choice(fix, closing.ESCALATE) is None
    await fixes.record_outcome(ctx, session, fix, "applied_partial", notes="half done")
    await ctx.db.refresh(fix)
    assert closing.implicit_choice(fix, closing.ESCALATE) == closing.KEEP
    assert closing.implicit_choice(fix, closing.RESOLVE) is None


async def test_partial_choice_hidden_for_partial_fix(ctx, session):
    """The escalate intercept offers partial unless the fix is already partial; "didn't work" comes first."""
    fix = await with_fix(ctx, session, "verifying")
    assert closing.choices_for(fix, closing.ESCALATE) == ("failed", "partial", "pending", "worked", "never")
    await fixes.record_outcome(ctx, session, fix, "applied_partial", notes="half done")
    await ctx.db.refresh(fix)
    choices = closing.choices_for(fix, closing.ESCALATE)
    assert "partial" not in choices
    assert choices[0] == "failed"
    assert closing.choices_for(fix, closing.RESOLVE)[0] == "worked"


@pytest.mark.parametrize(
    ("choice", "status"),
    [
        ("worked", "applied_success"),
        ("failed", "applied_failed"),
        ("never", "dismissed"),
        ("success", "applied_success"),
    ],
)
async def test_record_close_outcome(ctx, session, choice, status):
    """The intercept's answer is recorded as the fix outcome."""
    fix = await with_fix(ctx, session, "verifying")
    await closing.record_close_outcome(ctx, session, fix, choice)
    await ctx.db.refresh(fix)
    assert fix.status == status


async def test_record_close_partial_needs_notes(ctx, session):
    """A partial intercept answer without notes is refused and the fix stays verifying."""
    fix = await with_fix(ctx, session, "verifying")
    with pytest.raises(UsageError, match="notes are required"):
        await closing.record_close_outcome(ctx, session, fix, "partial")
    await ctx.db.refresh(fix)
    assert fixes.is_verifying(fix)
    with pytest.raises(UsageError, match="invalid fix outcome"):
        await closing.record_close_outcome(ctx, session, fix, "shrug")


async def test_resolve_while_verifying_flow(ctx, session):
    """Resolving a verifying fix: record success first, then the note says it worked."""
    fix = await with_fix(ctx, session, "verifying")
    asked = closing.pending_fix_question(fix, closing.RESOLVE)
    assert asked is fix
    await closing.record_close_outcome(ctx, session, fix, closing.implicit_choice(fix, closing.RESOLVE))
    preview = await previews.preview(ctx, session, "resolve")
    assert section(preview.markdown, "Resolution") == f'Applied "{TITLE}"; confirmed working.'
    result = await closing.resolve_session(ctx, session, preview.markdown)
    assert result.summary == PROBLEM_FIRST
    assert not re.match(r"^#", result.summary)


async def test_unwritable_export_changes_nothing(ctx, session, tmp_path):
    """If the --export file cannot be written, the session is not resolved."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot write|not a directory"):
        await closing.resolve_session(ctx, session, "## Problem\nX.", export_path=blocker / "sub" / "note.md")
    await ctx.db.refresh(session)
    assert session.status == "active" and session.resolution_note_markdown is None
