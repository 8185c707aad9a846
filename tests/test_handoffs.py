"""Handoffs and the team queue (SPEC §10; seed-004 §4, §7.3 cases 14–18 adapted), on SQLite and Postgres."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rfpilot.config import load_settings
from rfpilot.core.session import branches, fixes, lane
from rfpilot.core.team import handoffs
from rfpilot.core.context import Workspace
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.session.sessions import abandon_session, create_session, set_status
from rfpilot.db.models import LLMUsage, SessionHandoff, SessionRow
from rfpilot.errors import ConflictError, UsageError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand (Workspace.open(settings, clock=...))."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def as_user(env: dict[str, str], email: str, name: str) -> dict[str, str]:
    return {**env, "RFPILOT_USER_EMAIL": email, "RFPILOT_USER_NAME": name}


@pytest.fixture
async def colleague(env):
    """A second engineer of the same account, on the same store."""
    ws = await Workspace.open(load_settings(env=as_user(env, "colleague@example.com", "Casey Colleague")))
    try:
        yield ws
    finally:
        await ws.close()


@pytest.fixture
async def third(env):
    ws = await Workspace.open(load_settings(env=as_user(env, "third@example.com", "Tam Third")))
    try:
        yield ws
    finally:
        await ws.close()


async def fresh(ws: Workspace, model, row_id: str):
    async with ws.ctx() as c:
        return await c.db.get(model, row_id)


async def handoff_rows(ws: Workspace, session_id: str) -> list[SessionHandoff]:
    async with ws.ctx() as c:
        stmt = select(SessionHandoff).where(SessionHandoff.session_id == session_id)
        return list((await c.db.execute(stmt)).scalars())


# --- park ------------------------------------------------------------------------------------------------


async def test_park_stores_notes_snapshot_and_pauses(ws, ctx, session) -> None:
    handoff = await handoffs.park(ctx, session, "Waiting for client to provide logs")
    assert handoff.intent == "park"
    assert handoff.engineer_notes == "Waiting for client to provide logs"
    assert handoff.priority == "normal"
    assert handoff.handed_off_by == ctx.engineer.id
    assert handoff.source_branch_id is None and handoff.ai_assessment is None
    assert session.status == "paused"
    assert session.handoff_count == 1
    snap = handoff.snapshot
    assert snap["status"] == "active"  # taken before the status change
    assert snap["waiting_on"] == "Waiting for client to provide logs"
    assert snap["problem"]["title"] and "Outlook" in snap["problem"]["summary"]
    assert snap["branch_map"] == [] and snap["watch_out"] == [] and snap["facts_count"] == 0
    stored = await fresh(ws, SessionHandoff, handoff.id)
    assert stored is not None and stored.snapshot["waiting_on"] == "Waiting for client to provide logs"
    row = await fresh(ws, SessionRow, session.id)
    assert row.status == "paused" and row.handoff_count == 1


async def test_handoff_ids_are_made_before_the_flush(ctx, session) -> None:
    draft = handoffs._new_handoff(ctx, session, "park", "normal", {}, "logs")
    assert str(uuid.UUID(draft.id)) == draft.id  # already a real id, not None as in the seed plan
    handoff = await handoffs.park(ctx, session, "the vendor's answer")
    assert uuid.UUID(handoff.id)


async def test_park_takes_the_branch_being_worked_on(ctx, session) -> None:
    _, children = await branches.fork(ctx, session, "two causes", [("Token cache", ""), ("MFA policy", "")])
    await branches.switch(ctx, session, children[1])
    handoff = await handoffs.park(ctx, session, "the tenant admin")
    assert handoff.source_branch_id == children[1].id
    assert handoff.snapshot["active_branch"] == "MFA policy"
    assert [b["label"] for b in handoff.snapshot["branch_map"]] == ["Root", "Token cache", "MFA policy"]


async def test_park_requires_what_it_waits_on(ws, ctx, session) -> None:
    with pytest.raises(UsageError, match="waiting on"):
        await handoffs.park(ctx, session, "   ")
    assert session.status == "active"
    assert await handoff_rows(ws, session.id) == []


async def test_park_refuses_elevated_priority(ws, ctx, session) -> None:
    with pytest.raises(UsageError, match="normal priority"):
        await handoffs.park(ctx, session, "the client", elevated=True)
    row = await fresh(ws, SessionRow, session.id)
    assert row.status == "active" and row.handoff_count == 0
    assert await handoff_rows(ws, session.id) == []


async def test_parking_twice_is_refused(ctx, session) -> None:
    await handoffs.park(ctx, session, "the client")
    with pytest.raises(ConflictError, match="already waits in the queue"):
        await handoffs.park(ctx, session, "something else")
    assert session.handoff_count == 1


async def test_a_session_paused_without_a_handoff_can_be_parked(ctx, session) -> None:
    async with ctx.tx():
        set_status(ctx, session, "paused")
    handoff = await handoffs.park(ctx, session, "the vendor")
    assert handoff.snapshot["status"] == "paused"
    assert [i["handoff_id"] for i in await handoffs.queue(ctx)] == [handoff.id]


async def test_only_the_owner_parks(ctx, session, colleague) -> None:
    async with colleague.ctx() as c:
        row = await c.db.get(SessionRow, session.id)
        with pytest.raises(ConflictError, match="belongs to"):
            await handoffs.park(c, row, "the client")


# --- escalate ------------------------------------------------------------------------------------------


async def _worked_session(ctx, session):
    """A session with two hypotheses (one a dead end), an open question, a failed fix and a proposed one."""
    _, children = await branches.fork(ctx, session, "two causes", [("Token cache", ""), ("MFA policy", "")])
    await branches.switch(ctx, session, children[0])
    await branches.mark(ctx, session, children[0], "dead_end", "Clearing the cache changed nothing")
    await branches.switch(ctx, session, children[1])
    await lane.add_question(ctx, session, "Did the user enrol a new phone?")
    failed = await fixes.suggest_fix(ctx, session, title="Reset the Outlook profile", confidence=60)
    await fixes.apply_fix(ctx, session, failed)
    await fixes.record_outcome(ctx, session, failed, "applied_failed", "prompt came back at once")
    await fixes.suggest_fix(ctx, session, title="Re-register the MFA method", confidence=85,
                            description="The MFA method on file is stale.")
    return children


async def test_escalate_moves_to_escalated_with_assessment_and_branch_map(ws, ctx, session) -> None:
    children = await _worked_session(ctx, session)
    handoff = await handoffs.escalate(ctx, session, "Need senior help", elevated=False, provider=None)
    assert handoff.intent == "escalate" and handoff.priority == "normal"
    assert session.status == "escalated" and session.handoff_count == 1
    assert session.escalation_reason == "Need senior help" and session.escalated_at is not None
    snap = handoff.snapshot
    assert snap["status"] == "active"
    assert [b["label"] for b in snap["branch_map"]] == ["Root", "Token cache", "MFA policy"]
    assert snap["active_branch"] == "MFA policy" and handoff.source_branch_id == children[1].id
    assert snap["waiting_on"] == "Need senior help"
    assert snap["next_step"] == "Answer the open question: Did the user enrol a new phone?"
    assert "ruled out: Token cache — Clearing the cache changed nothing" in snap["watch_out"]
    assert any('"Reset the Outlook profile" did not work' in line for line in snap["watch_out"])
    stored = await fresh(ws, SessionHandoff, handoff.id)
    assert set(stored.ai_assessment) == {"likely_cause", "suggested_steps", "confidence", "by", "model"}


async def test_offline_assessment_restates_the_stored_state(ctx, session) -> None:
    await _worked_session(ctx, session)
    await lane.add_check(ctx, session, "List the MFA methods", command="Get-MgUserAuthenticationMethod")
    handoff = await handoffs.escalate(ctx, session, None, elevated=True, provider=None)
    assessment = handoff.ai_assessment
    assert assessment["by"] == "offline" and assessment["model"] is None
    assert assessment["confidence"] == "high"  # the active fix says 85%
    assert assessment["likely_cause"].startswith('Suspected: "Re-register the MFA method" (85% confidence)')
    assert assessment["suggested_steps"][:2] == [
        "Answer the open question: Did the user enrol a new phone?",
        "Run the check: List the MFA methods (`Get-MgUserAuthenticationMethod`)",
    ]
    assert 'Decide on the proposed fix "Re-register the MFA method" (85% confidence).' in assessment["suggested_steps"]
    assert handoff.priority == "elevated"


async def test_offline_assessment_without_a_fix_is_low_confidence(ctx, session) -> None:
    handoff = await handoffs.escalate(ctx, session, "stuck", elevated=False, provider=None)
    assert handoff.ai_assessment["confidence"] == "low"
    assert "no fix has been proposed" in handoff.ai_assessment["likely_cause"]
    assert len(handoff.ai_assessment["suggested_steps"]) == 1


async def test_llm_assessment_is_parsed_from_one_call(ws, ctx, session) -> None:
    await _worked_session(ctx, session)
    reply = "Here you go:\n```json\n" + json.dumps({
        "likely_cause": "The MFA registration is stale after the phone change.",
        "suggested_steps": ["1. Ask the user about the phone", "- Re-register the method"],
        "confidence": "Medium",
    }) + "\n```"
    provider = ScriptedProvider([ScriptedReply(reply=reply, action=handoffs.LLM_ACTION)])
    handoff = await handoffs.escalate(ctx, session, "Need senior help", elevated=False, provider=provider)
    assert handoff.ai_assessment == {
        "likely_cause": "The MFA registration is stale after the phone change.",
        "suggested_steps": ["Ask the user about the phone", "Re-register the method"],
        "confidence": "medium", "by": "llm", "model": "scripted",
    }
    assert len(provider.calls) == 1
    sent = provider.calls[0]
    from rfpilot.core.llm.prompts import HANDOFF_ASSESSMENT_PROMPT

    assert sent.system == HANDOFF_ASSESSMENT_PROMPT
    assert "Re-register the MFA method" in sent.message and "Token cache [dead_end]" in sent.message
    async with ws.ctx() as c:
        used = (await c.db.execute(select(func.count()).select_from(LLMUsage)
                                   .where(LLMUsage.session_id == session.id, LLMUsage.action == "note"))).scalar()
    assert used == 1


@pytest.mark.parametrize("reply", [
    ScriptedReply(reply="It is probably MFA.", action="summary"),
    ScriptedReply(reply='{"suggested_steps": ["x"]}', action="summary"),
    ScriptedReply(reply="", error="overloaded", action="summary"),
])
async def test_an_unusable_model_reply_gives_the_offline_assessment(ctx, session, reply) -> None:
    handoff = await handoffs.escalate(ctx, session, "help", elevated=False, provider=ScriptedProvider([reply]))
    assert handoff.ai_assessment["by"] == "offline"
    assert session.status == "escalated"


async def test_escalate_refuses_a_closed_session(ws, ctx, session) -> None:
    await abandon_session(ctx, session, "duplicate ticket")
    with pytest.raises(ConflictError, match="cannot escalate a session that is abandoned"):
        await handoffs.escalate(ctx, session, "help", elevated=False)
    row = await fresh(ws, SessionRow, session.id)
    assert row.status == "abandoned" and row.handoff_count == 0
    assert await handoff_rows(ws, session.id) == []


async def test_escalating_a_parked_session_replaces_its_park_in_the_queue(ctx, session) -> None:
    parked = await handoffs.park(ctx, session, "the client")
    escalated = await handoffs.escalate(ctx, session, "the client never answered", elevated=False)
    assert [i["handoff_id"] for i in await handoffs.queue(ctx)] == [escalated.id]
    await ctx.db.refresh(parked)
    assert parked.withdrawn_at is not None
    assert session.handoff_count == 2 and escalated.snapshot["status"] == "paused"
    with pytest.raises(ConflictError, match="already escalated"):
        await handoffs.escalate(ctx, session, "again", elevated=True)


# --- queue ----------------------------------------------------------------------------------------------


async def test_the_queue_lists_an_escalation(ctx, session) -> None:
    handoff = await handoffs.escalate(ctx, session, "Need help", elevated=False)
    [item] = await handoffs.queue(ctx)
    assert item["handoff_id"] == handoff.id and item["intent"] == "escalate"
    assert item["session_title"] == session.title and item["handed_off_by_name"] == "Test Engineer"
    assert item["waiting_on"] == "Need help" and item["notes"] == "Need help" and item["branch_count"] == 0


async def test_queue_order_is_elevated_first_then_oldest(settings) -> None:
    clock = Clock()
    ws = await Workspace.open(settings, clock=clock)
    try:
        async with ws.ctx() as c:
            first = await create_session(c, "First: printer offline")
            second = await create_session(c, "Second: VPN drops")
            third = await create_session(c, "Third: mailbox full")
            _, _children = await branches.fork(c, second, "two causes", [("ISP", ""), ("Client", ""), ("MTU", "")])
            clock.advance(minutes=1)
            a = await handoffs.park(c, first, "the client")
            clock.advance(minutes=1)
            b = await handoffs.escalate(c, second, "routing", elevated=False)
            clock.advance(minutes=1)
            e = await handoffs.escalate(c, third, "VIP", elevated=True)
            items = await handoffs.queue(c)
        assert [i["handoff_id"] for i in items] == [e.id, a.id, b.id]
        assert [i["priority"] for i in items] == ["elevated", "normal", "normal"]
        assert [i["branch_count"] for i in items] == [0, 0, 3]
        assert items[1]["created_at"] == T0 + timedelta(minutes=1)
    finally:
        await ws.close()


# --- claim ------------------------------------------------------------------------------------------------


async def test_claim_transfers_reactivates_and_briefs(ws, ctx, session, colleague) -> None:
    handoff = await handoffs.escalate(ctx, session, "Need senior help", elevated=False)
    async with colleague.ctx() as c:
        result = await handoffs.claim(c, handoff.id[:8])
    assert result.handoff.claimed_by == colleague.engineer.id and result.handoff.claimed_at is not None
    assert result.session.status == "active" and result.session.owner_id == colleague.engineer.id
    assert result.handed_off_by_name == "Test Engineer" and result.briefing_by == "offline"
    assert "Escalated by Test Engineer" in result.briefing and "Why escalated: Need senior help" in result.briefing
    stored = await fresh(ws, SessionHandoff, handoff.id)
    assert stored.claimed_by == colleague.engineer.id and stored.briefing == result.briefing
    row = await fresh(ws, SessionRow, session.id)
    assert row.status == "active" and row.owner_id == colleague.engineer.id
    async with ws.ctx() as c:
        assert await handoffs.queue(c) == []


async def test_the_briefing_can_come_from_the_model(ws, ctx, session, colleague) -> None:
    handoff = await handoffs.park(ctx, session, "the client's event logs")
    provider = ScriptedProvider([ScriptedReply(reply="Outlook prompts again.\n- Ask for the logs first.",
                                               action="summary")])
    async with colleague.ctx() as c:
        result = await handoffs.claim(c, handoff.id, provider=provider)
    assert result.briefing_by == "llm" and result.briefing == "Outlook prompts again.\n- Ask for the logs first."
    assert "Waiting on: the client's event logs" in provider.calls[0].message
    assert (await fresh(ws, SessionHandoff, handoff.id)).briefing == result.briefing


async def test_timers_accrue_across_park_and_claim(env, settings) -> None:
    clock = Clock()
    owner = await Workspace.open(settings, clock=clock)
    other = await Workspace.open(load_settings(env=as_user(env, "c@example.com", "Casey")), clock=clock)
    try:
        async with owner.ctx() as c:
            session = await create_session(c, "Shared drive is slow")
            clock.advance(minutes=10)
            handoff = await handoffs.park(c, session, "the NAS vendor")
            assert handoff.snapshot["active_seconds"] == 600 and handoff.snapshot["parked_seconds"] == 0
            assert session.active_seconds == 600
        clock.advance(minutes=30)
        async with other.ctx() as c:
            result = await handoffs.claim(c, handoff.id)
        assert result.session.active_seconds == 600 and result.session.parked_seconds == 1800
        assert "10:00 active, 30:00 parked" in result.briefing
        clock.advance(minutes=5)
        row = await fresh(owner, SessionRow, session.id)
        assert (row.active_seconds, row.parked_seconds) == (600, 1800)
        assert row.status_changed_at == T0 + timedelta(minutes=40)
    finally:
        await owner.close()
        await other.close()


async def test_a_second_claim_is_refused_and_changes_nothing(ws, ctx, session, colleague, third) -> None:
    handoff = await handoffs.park(ctx, session, "the client")
    async with colleague.ctx() as c:
        await handoffs.claim(c, handoff.id)
    before = await fresh(ws, SessionHandoff, handoff.id)
    async with third.ctx() as c:
        with pytest.raises(ConflictError, match=r"already claimed by Casey Colleague at \d{4}-\d\d-\d\d"):
            await handoffs.claim(c, handoff.id)
    after = await fresh(ws, SessionHandoff, handoff.id)
    def state(h: SessionHandoff) -> tuple:
        return h.claimed_by, h.claimed_at, h.briefing

    assert state(after) == state(before)
    row = await fresh(ws, SessionRow, session.id)
    assert row.owner_id == colleague.engineer.id and row.status == "active"


async def test_claiming_an_unknown_handoff_is_not_found(ctx) -> None:
    from rfpilot.errors import NotFoundError

    with pytest.raises(NotFoundError):
        await handoffs.claim(ctx, "0000dead")


# --- withdrawing --------------------------------------------------------------------------------------------


async def _resume(ctx, session) -> None:
    """What sessions.resume_session does once the lead wires the withdrawal in."""
    async with ctx.tx():
        await handoffs.withdraw_open_handoffs(ctx, session)
        set_status(ctx, session, "active")


async def test_resuming_your_parked_session_takes_it_out_of_the_queue(ws, ctx, session, colleague) -> None:
    handoff = await handoffs.park(ctx, session, "the client")
    await _resume(ctx, session)
    assert session.status == "active"
    assert await handoffs.queue(ctx) == []
    assert (await fresh(ws, SessionHandoff, handoff.id)).withdrawn_at is not None
    async with colleague.ctx() as c:
        with pytest.raises(ConflictError, match="withdrawn"):
            await handoffs.claim(c, handoff.id)
    row = await fresh(ws, SessionRow, session.id)
    assert row.owner_id == ctx.engineer.id
    # Parked again later: a new item, the old one stays withdrawn in the history.
    again = await handoffs.park(ctx, session, "the vendor")
    assert [h.id for h in await handoffs.history(ctx, session)] == [again.id, handoff.id]


async def test_a_claim_that_got_there_first_wins_over_a_resume(ws, ctx, session, colleague) -> None:
    sid = session.id
    handoff = await handoffs.park(ctx, session, "the client")
    async with colleague.ctx() as c:
        await handoffs.claim(c, handoff.id)
    with pytest.raises(ConflictError, match="belongs to Casey Colleague"):
        await _resume(ctx, session)  # the owner's copy of the session is stale: the claim is seen under the lock
    row = await fresh(ws, SessionRow, sid)
    assert row.owner_id == colleague.engineer.id


# --- history and views -----------------------------------------------------------------------------------


async def test_history_is_newest_first_with_states(ctx, session, colleague) -> None:
    parked = await handoffs.park(ctx, session, "the client")
    async with colleague.ctx() as c:
        result = await handoffs.claim(c, parked.id)
        row = result.session
        escalated = await handoffs.escalate(c, row, "beyond me", elevated=True)
        views = await handoffs.history_views(c, row)
    assert [v["id"] for v in views] == [escalated.id, parked.id]
    assert [v["state"] for v in views] == ["waiting", "claimed"]
    assert views[1]["claimed_by_name"] == "Casey Colleague" and views[1]["handed_off_by_name"] == "Test Engineer"
    assert views[0]["handed_off_by_name"] == "Casey Colleague" and views[0]["priority"] == "elevated"
    json.dumps(views)  # JSON-ready


# --- parsing (no store) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('{"likely_cause": "A", "suggested_steps": ["s"], "confidence": "HIGH"}', ("A", ["s"], "high")),
    ('noise {"likely_cause": "A", "suggested_steps": "1) one\\n2) two", "confidence": 0.6} noise',
     ("A", ["one", "two"], "medium")),
    ('{"likely_cause": "A", "suggested_steps": ["2FA reset"], "confidence": "unsure"}', ("A", ["2FA reset"], "low")),
    ('{"cause": "A", "confidence": 90}', ("A", [], "high")),
])
def test_parse_assessment_is_tolerant(text, expected) -> None:
    parsed = handoffs.parse_assessment(text)
    assert (parsed["likely_cause"], parsed["suggested_steps"], parsed["confidence"]) == expected


@pytest.mark.parametrize("text", ["", "no json here", "[1, 2]", '{"likely_cause": ""}', "{broken"])
def test_parse_assessment_refuses_junk(text) -> None:
    assert handoffs.parse_assessment(text) is None


# --- Postgres: twenty engineers claim at once ---------------------------------------------------------------


@pytest.mark.postgres
async def test_twenty_concurrent_claims_have_exactly_one_winner(pg_url: str, tmp_path: Path) -> None:
    base = {
        "RFPILOT_HOME": str(tmp_path / "home"),
        "RFPILOT_DATABASE_URL": pg_url,
        "RFPILOT_ACCOUNT": f"race-{uuid.uuid4().hex[:10]}",
        "RFPILOT_LLM_PROVIDER": "offline",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    owner = await Workspace.open(load_settings(env=as_user(base, "owner@example.com", "Olive Owner")))
    claimers = [await Workspace.open(load_settings(env=as_user(base, f"e{i}@example.com", f"Engineer {i:02d}")))
                for i in range(20)]
    try:
        async with owner.ctx() as c:
            session = await create_session(c, "Everyone wants this ticket")
            handoff = await handoffs.escalate(c, session, "urgent", elevated=True)

        async def attempt(ws: Workspace):
            async with ws.ctx() as c:
                return await handoffs.claim(c, handoff.id)

        results = await asyncio.gather(*(attempt(ws) for ws in claimers), return_exceptions=True)
        winners = [r for r in results if isinstance(r, handoffs.ClaimResult)]
        losers = [r for r in results if not isinstance(r, handoffs.ClaimResult)]
        assert len(winners) == 1, results
        winner_id = winners[0].handoff.claimed_by
        winner = next(ws for ws in claimers if ws.engineer.id == winner_id)
        assert len(losers) == 19 and all(isinstance(e, ConflictError) for e in losers), losers
        for err in losers:
            assert f"already claimed by {winner.engineer.display_name} at " in err.message
        stored = await fresh(owner, SessionHandoff, handoff.id)
        assert stored.claimed_by == winner_id and stored.briefing == winners[0].briefing
        row = await fresh(owner, SessionRow, session.id)
        assert row.owner_id == winner_id and row.status == "active"
    finally:
        for ws in [owner, *claimers]:
            await ws.close()


async def test_a_handoff_made_after_the_session_was_read_is_withdrawn_by_the_close(ws, ctx, session) -> None:
    """A session never handed off is closed without writing to the queue; but one parked (elsewhere) after the
    closing command read it, with handoff_count still 0 in its hands, leaves the queue all the same."""
    from rfpilot.core.closeout import closing

    assert session.handoff_count == 0  # as this command read it
    async with ws.ctx() as other:
        parked = await handoffs.park(other, await other.db.get(SessionRow, session.id), "the client's logs")
    await closing.resolve_session(ctx, session, "## Problem\nx\n\n## What we confirmed\ny\n\n## Root cause\nz\n\n"
                                               "## Resolution\nw")
    assert (await fresh(ws, SessionHandoff, parked.id)).withdrawn_at is not None
    assert (await fresh(ws, SessionRow, session.id)).status == "resolved"
