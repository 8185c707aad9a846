"""Facts ("What we know"): SPEC §3 and §6, reference/seed-003.md §4.3, §8 and §19 items 10–16, 19–20."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rfpilot.core.session import facts, lane
from rfpilot.core.session.sessions import create_session
from rfpilot.db.models import Fact
from rfpilot.errors import ConflictError, NotFoundError, UsageError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def ticking_clock(start: datetime = T0, step: timedelta = timedelta(seconds=1)):
    """A clock that moves one step per call, so created_at values are distinct and ordered."""
    state = {"now": start}

    def clock() -> datetime:
        state["now"] += step
        return state["now"]

    return clock


async def stored_version(ctx, session) -> int:
    await ctx.db.refresh(session)
    return session.state_version


async def fact_count(ctx, session) -> int:
    await ctx.db.refresh(session)  # a rolled-back write leaves the row expired
    rows = (await ctx.db.execute(select(Fact).where(Fact.session_id == session.id))).scalars()
    return len(list(rows))


# --- create_fact validation ------------------------------------------------


async def test_create_fact_rejects_unknown_source_type(ctx, session):
    """create_fact refuses a source_type outside the four values ("invalid source_type")."""
    with pytest.raises(UsageError, match="invalid source_type"):
        await facts.create_fact(ctx, session, "Spooler was stopped", source_type="rumour")
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


@pytest.mark.parametrize("source_type", ["user_note", "ai_synthesis"])
async def test_create_fact_rejects_source_ref_for_non_lane_types(ctx, session, source_type):
    """user_note and ai_synthesis facts must have no source_ref ("source_ref must be None")."""
    item = await lane.add_question(ctx, session, "Does it happen on every device?")
    with pytest.raises(UsageError, match="source_ref must be None"):
        await facts.create_fact(ctx, session, "Only on laptops", source_type=source_type, source_ref=item.id)
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
async def test_create_fact_rejects_blank_text(ctx, session, text):
    """Fact text is stripped and must not be empty ("fact text cannot be empty")."""
    with pytest.raises(UsageError, match="fact text cannot be empty"):
        await facts.add_note(ctx, session, text)
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


async def test_add_note_is_an_editable_user_note(ctx, session):
    """A manual note is stored as user_note, stripped, with no ref, the engineer as author, editable."""
    fact = await facts.add_note(ctx, session, "  Password was reset on Friday  ", summary="  timeline  ")
    await ctx.db.refresh(fact)
    assert fact.text == "Password was reset on Friday"
    assert fact.source_summary == "timeline"
    assert fact.source_type == "user_note"
    assert fact.source_ref is None
    assert fact.created_by == ctx.engineer.id
    assert fact.deleted_at is None
    assert facts.is_editable(fact)


async def test_blank_summary_is_stored_as_none(ctx, session):
    """A whitespace-only summary is stored as NULL, not as an empty string."""
    fact = await facts.add_note(ctx, session, "Mailbox is on Exchange Online", summary="   ")
    await ctx.db.refresh(fact)
    assert fact.source_summary is None


# --- edit -----------------------------------------------------------------


async def test_user_note_can_be_edited(ctx, session):
    """user_note facts are editable: text and summary change and the row is updated."""
    fact = await facts.add_note(ctx, session, "Spooler was stoped", summary="typo")
    await facts.update_fact(ctx, session, fact, text=" Spooler was stopped ", summary="service state")
    await ctx.db.refresh(fact)
    assert fact.text == "Spooler was stopped"
    assert fact.source_summary == "service state"


async def test_edit_of_summary_only_keeps_text(ctx, session):
    """Editing only the summary leaves the text as it was."""
    fact = await facts.add_note(ctx, session, "MFA is enforced", summary="old")
    await facts.update_fact(ctx, session, fact, summary="rules out legacy auth")
    await ctx.db.refresh(fact)
    assert fact.text == "MFA is enforced"
    assert fact.source_summary == "rules out legacy auth"


async def test_ai_synthesis_fact_is_editable(ctx, session):
    """ai_synthesis facts are editable at the card level."""
    fact = await facts.promote(ctx, session, source_type="ai_synthesis", text="Only cached credentials fail")
    await facts.update_fact(ctx, session, fact, text="Only stale cached credentials fail")
    await ctx.db.refresh(fact)
    assert fact.text == "Only stale cached credentials fail"


@pytest.mark.parametrize("kind", ["question", "check"])
async def test_lane_sourced_fact_is_read_only(ctx, session, kind):
    """question / diagnostic_check facts cannot be edited (ConflictError), nothing changes."""
    if kind == "question":
        item = await lane.add_question(ctx, session, "Is it every device?")
        result = await lane.answer_question(ctx, session, item, "Only the laptop", promote=True)
        source_type = "question"
    else:
        item = await lane.add_check(ctx, session, "Credential Manager entries", command="cmdkey /list")
        result = await lane.mark_run(ctx, session, item, "MicrosoftOffice16 entry present", promote=True)
        source_type = "diagnostic_check"
    fact = result.fact
    assert fact is not None
    before = await stored_version(ctx, session)
    with pytest.raises(ConflictError, match=f"facts sourced from '{source_type}' are read-only"):
        await facts.update_fact(ctx, session, fact, text="Changed")
    await ctx.db.refresh(fact)
    assert fact.text == (result.item.response or "")
    assert await stored_version(ctx, session) == before


async def test_edit_needs_text_or_summary(ctx, session):
    """An edit with neither text nor summary is a usage error and bumps nothing."""
    fact = await facts.add_note(ctx, session, "Printer is on VLAN 20")
    before = await stored_version(ctx, session)
    with pytest.raises(UsageError, match="at least one of `text` or `summary` must be provided"):
        await facts.update_fact(ctx, session, fact)
    assert await stored_version(ctx, session) == before


async def test_edit_to_blank_text_is_refused(ctx, session):
    """An edit cannot blank the text; the stored text is unchanged."""
    fact = await facts.add_note(ctx, session, "Printer is on VLAN 20")
    with pytest.raises(UsageError, match="fact text cannot be empty"):
        await facts.update_fact(ctx, session, fact, text="  ")
    await ctx.db.refresh(fact)
    assert fact.text == "Printer is on VLAN 20"


async def test_deleted_fact_cannot_be_edited(ctx, session):
    """Editing a soft-deleted fact is "fact not found" (seed §8.2) and bumps nothing."""
    fact = await facts.add_note(ctx, session, "Printer is on VLAN 20")
    await facts.delete_fact(ctx, session, fact)
    before = await stored_version(ctx, session)
    with pytest.raises(NotFoundError, match="fact not found"):
        await facts.update_fact(ctx, session, fact, text="Printer is on VLAN 30")
    await ctx.db.refresh(fact)
    assert fact.text == "Printer is on VLAN 20"
    assert await stored_version(ctx, session) == before


async def test_fact_of_another_session_is_not_found(ctx, session):
    """A fact is only edited or deleted through its own session ("fact not found")."""
    other = await create_session(ctx, "VPN drops every hour.")
    fact = await facts.add_note(ctx, other, "Tunnel idles out at 60 minutes")
    with pytest.raises(NotFoundError, match="fact not found"):
        await facts.update_fact(ctx, session, fact, text="Changed")
    with pytest.raises(NotFoundError, match="fact not found"):
        await facts.delete_fact(ctx, session, fact)
    await ctx.db.refresh(fact)
    assert fact.text == "Tunnel idles out at 60 minutes"
    assert fact.deleted_at is None
    assert await stored_version(ctx, session) == 0
    with pytest.raises(NotFoundError, match="fact not found"):
        await facts.get_fact(ctx, session, fact.id)


# --- delete and list ---------------------------------------------------------


async def test_soft_delete_hides_fact_and_keeps_row(ctx, session):
    """Delete sets deleted_at, drops the fact from the list, and keeps the row."""
    keep = await facts.add_note(ctx, session, "Keep me")
    gone = await facts.add_note(ctx, session, "Delete me")
    await facts.delete_fact(ctx, session, gone)
    await ctx.db.refresh(gone)
    assert gone.deleted_at is not None
    assert [f.id for f in await facts.list_facts(ctx, session)] == [keep.id]
    assert await fact_count(ctx, session) == 2


async def test_delete_twice_is_not_found(ctx, session):
    """Deleting an already-deleted fact is "fact not found" and bumps nothing."""
    fact = await facts.add_note(ctx, session, "Delete me")
    await facts.delete_fact(ctx, session, fact)
    before = await stored_version(ctx, session)
    with pytest.raises(NotFoundError, match="fact not found"):
        await facts.delete_fact(ctx, session, fact)
    assert await stored_version(ctx, session) == before
    with pytest.raises(NotFoundError, match="fact not found"):
        await facts.get_fact(ctx, session, fact.id)


async def test_read_only_fact_can_be_deleted(ctx, session):
    """Even read-only (question) facts can be deleted (seed §8.1)."""
    item = await lane.add_question(ctx, session, "Which Office build?")
    result = await lane.answer_question(ctx, session, item, "16.0.17328", promote=True)
    assert result.fact is not None
    await facts.delete_fact(ctx, session, result.fact)
    await ctx.db.refresh(result.fact)
    assert result.fact.deleted_at is not None
    assert await facts.list_facts(ctx, session) == []


async def test_list_is_empty_for_a_new_session(ctx, session):
    """A session without facts lists none."""
    assert await facts.list_facts(ctx, session) == []


async def test_list_is_oldest_first_excluding_deleted(ctx, session):
    """Facts list in created_at order, oldest first, deleted ones left out."""
    ctx.clock = ticking_clock()
    first = await facts.add_note(ctx, session, "First")
    second = await facts.add_note(ctx, session, "Second")
    third = await facts.add_note(ctx, session, "Third")
    fourth = await facts.add_note(ctx, session, "Fourth")
    await facts.delete_fact(ctx, session, third)
    listed = await facts.list_facts(ctx, session)
    assert [f.text for f in listed] == ["First", "Second", "Fourth"]
    assert [f.id for f in listed] == [first.id, second.id, fourth.id]


async def test_get_fact_by_prefix(ctx, session):
    """A fact is found by a unique prefix of its id within the session."""
    fact = await facts.add_note(ctx, session, "Found by prefix")
    found = await facts.get_fact(ctx, session, fact.id[:8])
    assert found.id == fact.id


# --- promotion -----------------------------------------------------------------


async def test_promote_refuses_user_note(ctx, session):
    """promote() is for lane answers/outputs and syntheses; user_note is refused."""
    with pytest.raises(UsageError, match="cannot promote as 'user_note'"):
        await facts.promote(ctx, session, source_type="user_note", text="Sneaky note")
    assert await fact_count(ctx, session) == 0


async def test_promote_refuses_ai_synthesis_with_ref(ctx, session):
    """An ai_synthesis promotion with a source_ref is refused (seed §8.3)."""
    item = await lane.add_question(ctx, session, "Is MFA on?")
    with pytest.raises(UsageError, match="`source_ref` must be null for source_type=ai_synthesis"):
        await facts.promote(ctx, session, source_type="ai_synthesis", text="MFA is on", source_ref=item.id)
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


async def test_promote_direct_keeps_type_and_ref(ctx, session):
    """Direct promotion stores the given text with its type and lane ref; it is read-only."""
    item = await lane.add_question(ctx, session, "Does OWA work?")
    fact = await facts.promote(
        ctx, session, source_type="question", text="OWA signs in fine", source_ref=item.id, summary="rules out account"
    )
    await ctx.db.refresh(fact)
    assert fact.source_type == "question"
    assert fact.source_ref == item.id
    assert fact.text == "OWA signs in fine"
    assert fact.source_summary == "rules out account"
    assert not facts.is_editable(fact)


async def test_answer_with_promotion_links_fact_to_question(ctx, session):
    """Answering with promote=True stores the answer and a question fact pointing at the item."""
    item = await lane.add_question(ctx, session, "Does it happen in OWA too?")
    result = await lane.answer_question(ctx, session, item, "No, only the desktop client", promote=True)
    await ctx.db.refresh(item)
    assert item.state == "answered"
    assert item.response == "No, only the desktop client"
    fact = result.fact
    assert fact is not None
    await ctx.db.refresh(fact)
    assert fact.source_type == "question"
    assert fact.source_ref == item.id
    assert fact.text == "No, only the desktop client"


async def test_answer_promotion_with_own_text(ctx, session):
    """promote=<text> stores that text as the fact, not the raw answer."""
    item = await lane.add_question(ctx, session, "Does it happen in OWA too?")
    result = await lane.answer_question(
        ctx, session, item, "nope", promote="The problem is limited to the desktop client", summary="rules out account"
    )
    assert result.fact is not None
    await ctx.db.refresh(result.fact)
    assert result.fact.text == "The problem is limited to the desktop client"
    assert result.fact.source_summary == "rules out account"


async def test_mark_run_with_promotion_links_fact_to_check(ctx, session):
    """Marking a check run with promote=True stores a diagnostic_check fact pointing at the check."""
    item = await lane.add_check(ctx, session, "List stored credentials", command="cmdkey /list")
    result = await lane.mark_run(ctx, session, item, "Target: MicrosoftOffice16_Data:SSPI", promote=True)
    await ctx.db.refresh(item)
    assert item.state == "run"
    fact = result.fact
    assert fact is not None
    await ctx.db.refresh(fact)
    assert fact.source_type == "diagnostic_check"
    assert fact.source_ref == item.id
    assert fact.text == "Target: MicrosoftOffice16_Data:SSPI"


async def test_source_ref_to_another_sessions_item_is_refused(ctx, session):
    """A source_ref must name a lane item of this session; nothing is written otherwise."""
    other = await create_session(ctx, "Teams will not start.")
    foreign = await lane.add_question(ctx, other, "Which Teams version?")
    with pytest.raises(NotFoundError):
        await facts.promote(ctx, session, source_type="question", text="New Teams", source_ref=foreign.id)
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


async def test_source_ref_of_the_wrong_kind_is_refused(ctx, session):
    """A question fact cannot point at a check (and vice versa)."""
    check = await lane.add_check(ctx, session, "Ping the DC", command="ping dc01")
    question = await lane.add_question(ctx, session, "Is the laptop on VPN?")
    with pytest.raises(NotFoundError):
        await facts.promote(ctx, session, source_type="question", text="Replies", source_ref=check.id)
    with pytest.raises(NotFoundError):
        await facts.promote(ctx, session, source_type="diagnostic_check", text="Yes", source_ref=question.id)
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


async def test_source_ref_to_unknown_item_is_refused(ctx, session):
    """A source_ref to no lane item at all is not found."""
    with pytest.raises(NotFoundError):
        await facts.promote(ctx, session, source_type="question", text="Yes", source_ref=str(uuid.uuid4()))
    assert await fact_count(ctx, session) == 0


async def test_malformed_source_ref_is_a_usage_error(ctx, session):
    """A source_ref that is not an id is a clear usage error, not a database error."""
    with pytest.raises(UsageError, match="source_ref"):
        await facts.promote(ctx, session, source_type="question", text="Yes", source_ref="not-a-uuid")
    assert await fact_count(ctx, session) == 0


async def test_failed_promotion_leaves_the_answer_unrecorded(ctx, session):
    """Answer and promotion are one transaction: a refused promotion records no answer either."""
    item = await lane.add_question(ctx, session, "Which build?")
    with pytest.raises(UsageError, match="fact text cannot be empty"):
        await lane.answer_question(ctx, session, item, "16.0", promote="   ")
    await ctx.db.refresh(item)
    assert item.state == "open"
    assert item.response is None
    assert await fact_count(ctx, session) == 0
    assert await stored_version(ctx, session) == 0


# --- provenance ---------------------------------------------------------------


async def test_provenance_lines(ctx, session):
    """The provenance line names the source, the lane item when given, and the summary."""
    item = await lane.add_question(ctx, session, "Other users affected?")
    result = await lane.answer_question(
        ctx, session, item, "No", promote="Only this user is affected", summary="rules out tenant/license"
    )
    assert result.fact is not None
    assert facts.provenance(result.fact) == "from question · rules out tenant/license"
    assert facts.provenance(result.fact, item) == 'from question "Other users affected?" · rules out tenant/license'

    check = await lane.add_check(ctx, session, "Ping", command="ping dc01")
    run = await lane.mark_run(ctx, session, check, "Reply from 10.0.0.5", promote=True)
    assert run.fact is not None
    assert facts.provenance(run.fact) == "from check"

    note = await facts.add_note(ctx, session, "Called the user", summary="context")
    assert facts.provenance(note) == "your note · context"
    synth = await facts.promote(ctx, session, source_type="ai_synthesis", text="Only cached creds fail")
    assert facts.provenance(synth) == "synthesized by AI"
    # A lane item is ignored for sources that have none.
    assert facts.provenance(note, item) == "your note · context"


# --- state_version (seed §4.3) -------------------------------------------------


async def test_each_fact_write_bumps_state_version_by_one(ctx, session):
    """+1 per fact create, +1 per edit, +1 per delete."""
    assert await stored_version(ctx, session) == 0
    a = await facts.add_note(ctx, session, "A")
    assert await stored_version(ctx, session) == 1
    await facts.add_note(ctx, session, "B")
    assert await stored_version(ctx, session) == 2
    await facts.update_fact(ctx, session, a, text="A2")
    assert await stored_version(ctx, session) == 3
    await facts.update_fact(ctx, session, a, summary="s")
    assert await stored_version(ctx, session) == 4
    await facts.delete_fact(ctx, session, a)
    assert await stored_version(ctx, session) == 5


async def test_lane_work_without_promotion_does_not_bump(ctx, session):
    """Adding, answering and skipping lane items never bumps state_version."""
    question = await lane.add_question(ctx, session, "Which build?")
    skipped = await lane.add_question(ctx, session, "Any recent updates?")
    await lane.add_check(ctx, session, "Ping DC", command="ping dc01")
    await lane.answer_question(ctx, session, question, "16.0.17328")
    await lane.skip_item(ctx, session, skipped)
    assert await stored_version(ctx, session) == 0
    assert await fact_count(ctx, session) == 0


async def test_promotion_from_the_lane_bumps_once(ctx, session):
    """An answer promoted to a fact bumps exactly once (the fact), not for the answer."""
    question = await lane.add_question(ctx, session, "Which build?")
    await lane.answer_question(ctx, session, question, "16.0.17328", promote=True)
    assert await stored_version(ctx, session) == 1
    check = await lane.add_check(ctx, session, "Ping DC", command="ping dc01")
    await lane.mark_run(ctx, session, check, "Reply from 10.0.0.5", promote=True)
    assert await stored_version(ctx, session) == 2


async def test_refused_fact_writes_do_not_bump(ctx, session):
    """Refused creates and edits leave state_version where it was."""
    fact = await facts.add_note(ctx, session, "A")
    assert await stored_version(ctx, session) == 1
    with pytest.raises(UsageError):
        await facts.add_note(ctx, session, "")
    with pytest.raises(UsageError):
        await facts.update_fact(ctx, session, fact)
    with pytest.raises(UsageError):
        await facts.promote(ctx, session, source_type="user_note", text="x")
    assert await stored_version(ctx, session) == 1
