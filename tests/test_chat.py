"""The chat turn (SPEC §4) with the scripted provider, on both stores."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select

from rfpilot.core.engine import chat
from rfpilot.core.session import facts, fixes, lane
from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider, Usage
from rfpilot.core.llm.offline import OfflineProvider
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.llm.prompts import CHAT_REMINDER_PROMPT, CHAT_SYSTEM_PROMPT
from rfpilot.core.session.sessions import pause_session
from rfpilot.db.models import ForkPoint, LLMUsage, Message
from rfpilot.errors import ConflictError, LLMUnavailableError, UsageError


def block(name: str, payload) -> str:
    return f"[{name}]\n{json.dumps(payload)}\n[/{name}]"


def lane_reply(prose: str, questions=(), actions=(), *extra: str) -> str:
    parts = [prose]
    if questions:
        parts.append(block("QUESTIONS", [{"text": q} for q in questions]))
    if actions:
        parts.append(block("ACTIONS", [{"label": a, "command": f"run {i}", "description": "why"} for i, a in enumerate(actions)]))
    return "\n\n".join([*parts, *extra])


def scripted(*replies: str, usage: Usage | None = None) -> ScriptedProvider:
    return ScriptedProvider([ScriptedReply(reply=r, usage=usage) for r in replies])


class FailingProvider(Provider):
    """Streams a little, then fails like a dropped connection."""

    name = "failing"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def stream(self, request: LLMRequest):
        yield "Partial text that must not be kept"
        raise self.exc


async def messages(ctx, session) -> list[Message]:
    return await chat.list_messages(ctx, session)


async def test_a_turn_stores_the_reply_and_builds_the_lane(ctx, session) -> None:
    provider = scripted(
        lane_reply("The prompt after a reset points at cached credentials.", ["Which client version?", "Is MFA on?"],
                   ["Check the credential manager"]),
        usage=Usage(100, 20, 80, 5),
    )
    chunks: list[str] = []
    result = await chat.send(ctx, session, "Outlook keeps asking for the password", provider, on_chunk=chunks.append)
    assert len(chunks) > 1
    assert "".join(chunks).startswith("The prompt after a reset")
    stored = await messages(ctx, session)
    assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    reply = stored[1]
    assert reply.display_content == "The prompt after a reset points at cached credentials."
    assert "[QUESTIONS]" in reply.raw_content and "[QUESTIONS]" not in reply.display_content
    assert (reply.input_tokens, reply.output_tokens, reply.cache_read_tokens, reply.cache_write_tokens) == (100, 20, 80, 5)
    assert [q.text for q in result.questions] == ["Which client version?", "Is MFA on?"]
    assert [c.text for c in result.checks] == ["Check the credential manager"]
    assert result.checks[0].command == "run 0" and result.checks[0].detail == "why"
    items = await lane.list_items(ctx, session)
    assert {i.id for i in items} == {i.id for i in result.questions + result.checks}
    assert all(i.origin == "ai" and i.state == "open" for i in items)
    usage = (await ctx.db.execute(select(LLMUsage).where(LLMUsage.session_id == session.id))).scalars().all()
    assert [(u.action, u.ok, u.input_tokens, u.cache_read_tokens) for u in usage] == [("chat", True, 100, 80)]


async def test_the_request_shape(ctx, session) -> None:
    provider = scripted(lane_reply("One.", ["First question?"]), lane_reply("Two.", ["First question?"]))
    await chat.send(ctx, session, "first message", provider)
    await chat.send(ctx, session, "second message", provider)
    first, second = provider.calls
    assert first.system == CHAT_SYSTEM_PROMPT and second.system == CHAT_SYSTEM_PROMPT
    assert session.intake_text in first.volatile and first.volatile == second.volatile
    assert first.history == ()
    # History is display content: no markers, no reminder, no session state.
    assert [(t.role, t.content) for t in second.history] == [("user", "first message"), ("assistant", "One.")]
    assert second.message.startswith("second message\n\n[Session state")
    assert second.message.endswith(CHAT_REMINDER_PROMPT)
    question = (await lane.list_items(ctx, session))[0]
    assert f"id {question.id}" in second.message and second.refs[f"question:{question.text}"] == question.id
    assert (first.turn_index, second.turn_index) == (0, 1)
    stored = await messages(ctx, session)
    assert all(CHAT_REMINDER_PROMPT not in m.raw_content and "Session state" not in m.raw_content for m in stored)


async def test_stable_ids_retire_dropped_items_and_keep_completed_ones(ctx, session) -> None:
    provider = scripted(
        lane_reply("One.", ["Keep me?", "Drop me?", "Answer me?"], ["Check A"]),
        lane_reply("Two.", ["Keep me?", "New one?"]),  # no [ACTIONS]: checks untouched
        lane_reply("Three.", ["Drop me?"], ["Check B"]),
    )
    first = await chat.send(ctx, session, "start", provider)
    ids = {q.text: q.id for q in first.questions}
    answered = next(q for q in first.questions if q.text == "Answer me?")
    mine = await lane.add_question(ctx, session, "My own question?")
    second = await chat.send(ctx, session, "it is yes", provider, lane_item=answered)
    assert {q.text: q.id for q in second.questions} == {"Keep me?": ids["Keep me?"], "New one?": second.questions[1].id}
    assert second.questions[1].id not in ids.values()
    assert [i.text for i in second.retired] == ["Drop me?"]
    live = {i.text: i for i in await lane.list_items(ctx, session)}
    assert set(live) == {"Keep me?", "New one?", "Answer me?", "My own question?", "Check A"}
    assert live["Answer me?"].state == "answered" and live["Answer me?"].response == "it is yes"
    assert live["My own question?"].id == mine.id
    # A retired item re-emitted comes back with its old id.
    third = await chat.send(ctx, session, "next", provider)
    assert third.questions[0].id == ids["Drop me?"]
    live = {i.text: i for i in await lane.list_items(ctx, session)}
    assert "Check A" not in live and "Check B" in live and "Keep me?" not in live


async def test_an_answer_is_framed_for_the_model(ctx, session) -> None:
    provider = scripted(lane_reply("One.", ["Which version?"]), lane_reply("Two.", ["Which version?"]))
    first = await chat.send(ctx, session, "start", provider)
    question = first.questions[0]
    await chat.send(ctx, session, "16.0.1", provider, lane_item=question)
    request = provider.calls[1]
    assert request.message.startswith(f'(Answer to the question "Which version?" [id {question.id}])\n16.0.1')
    assert request.engineer_text == "16.0.1"


async def test_promote_after_lane_with_refs_checked(ctx, session) -> None:
    provider = scripted(
        lane_reply("One.", ["Did the password change?"], ["Run the test"]),
        lane_reply(
            "Two.",
            ["Did the password change?"],
            (),
            block("PROMOTE", {"source_type": "question", "source_ref": "{{question:Did the password change?}}",
                              "text": "The password changed last night.", "summary": "points at stale credentials"}),
            block("PROMOTE", {"source_type": "diagnostic_check", "source_ref": "{{question:Did the password change?}}",
                              "text": "The check used the wrong ref kind.", "summary": None}),
            block("PROMOTE", {"source_type": "question", "source_ref": "5b0c7c1e-3b7e-4b8e-9a66-2f0c3f7d9d11",
                              "text": "A fact about an item that does not exist."}),
            block("PROMOTE", {"source_type": "ai_synthesis", "text": "The password changed last night."}),
        ),
    )
    first = await chat.send(ctx, session, "start", provider)
    question = first.questions[0]
    before = session.state_version
    result = await chat.send(ctx, session, "yes, it was rotated last night", provider)
    by_text = {f.text: f for f in result.promoted}
    assert set(by_text) == {
        "The password changed last night.",
        "The check used the wrong ref kind.",
        "A fact about an item that does not exist.",
    }
    fact = by_text["The password changed last night."]
    assert (fact.source_type, fact.source_ref, fact.source_summary) == ("question", question.id, "points at stale credentials")
    assert by_text["The check used the wrong ref kind."].source_ref is None
    assert by_text["A fact about an item that does not exist."].source_ref is None
    assert any("already known" in d for d in result.dropped)
    assert session.state_version == before + 3
    # The question the engineer answered in prose is marked answered with their words.
    item = await lane.get_item(ctx, session, question.id)
    assert item.state == "answered" and item.response == "yes, it was rotated last night"


async def test_suggest_fix_supersedes_and_a_repeat_does_not_reset_an_applied_fix(ctx, session) -> None:
    fix_a = block("SUGGEST_FIX", {"title": "Reset the profile", "description": "Because.", "confidence": 70})
    fix_b = block("SUGGEST_FIX", {"title": "Clear cached credentials", "description": "Stale.", "confidence": "85",
                                  "script_template_slug": "no-such-template", "ai_drafted_parameters": {"user": "<u>"}})
    provider = scripted(lane_reply("A.", ["q?"], (), fix_a), lane_reply("B.", ["q?"], (), fix_b),
                        lane_reply("B again.", ["q?"], (), fix_b))
    first = await chat.send(ctx, session, "one", provider)
    assert first.suggested_fix.title == "Reset the profile" and first.suggested_fix.origin == "ai"
    version = session.state_version
    second = await chat.send(ctx, session, "two", provider)
    new = second.suggested_fix
    assert session.state_version == version + 1
    assert (new.confidence_pct, new.script_template_slug, new.script_template_id) == (85, "no-such-template", None)
    assert new.ai_drafted_parameters == {"user": "<u>"}
    assert (await fixes.active_fix(ctx, session)).id == new.id
    await ctx.db.refresh(first.suggested_fix)
    assert first.suggested_fix.superseded_at is not None
    await fixes.apply_fix(ctx, session, new)
    third = await chat.send(ctx, session, "three", provider)
    assert third.suggested_fix is None and "SUGGEST_FIX: same as the active fix" in third.dropped
    active = await fixes.active_fix(ctx, session)
    assert active.id == new.id and active.applied_at is not None


async def test_fix_outcome_proposes_and_the_engineer_decides(ctx, session) -> None:
    suggest = block("SUGGEST_FIX", {"title": "Clear cached credentials", "description": "Stale.", "confidence": 85})
    worked = block("FIX_OUTCOME", {"fix_id": "{{fix}}", "outcome": "success", "reason": "It stopped prompting."})
    other = block("FIX_OUTCOME", {"fix_id": "5b0c7c1e-3b7e-4b8e-9a66-2f0c3f7d9d11", "outcome": "failure", "reason": "x"})
    provider = scripted(lane_reply("A.", ["q?"], (), suggest), lane_reply("B.", ["q?"], (), other),
                        lane_reply("C.", ["q?"], (), worked), lane_reply("D.", ["q?"], (), worked))
    fix = (await chat.send(ctx, session, "one", provider)).suggested_fix
    wrong = await chat.send(ctx, session, "two", provider)
    assert wrong.outcome_proposal is None and "FIX_OUTCOME: not about the active fix" in wrong.dropped
    version = session.state_version
    result = await chat.send(ctx, session, "it worked!", provider)
    assert result.outcome_proposal["outcome"] == "success"
    assert result.outcome_proposal["message_id"] == result.reply.id
    await ctx.db.refresh(fix)
    assert fix.status == "proposed" and fix.ai_outcome_proposal["reason"] == "It stopped prompting."
    assert session.state_version == version  # a proposal is not an outcome
    assert (await fixes.banner_state(ctx, session))[0] == "ai_confirming"
    await fixes.reject_outcome(ctx, session, fix)
    assert fix.ai_outcome_proposal is None and fix.status == "proposed"
    with pytest.raises(ConflictError, match="no outcome proposal"):
        await fixes.confirm_outcome(ctx, session, fix)
    await chat.send(ctx, session, "it really worked", provider)
    await ctx.db.refresh(fix)
    await fixes.confirm_outcome(ctx, session, fix)
    assert fix.status == "applied_success" and fix.verified_at is not None and fix.applied_at is not None
    assert fix.ai_outcome_proposal is None and session.state_version == version + 1


async def test_partial_proposal_uses_the_reason_as_notes(ctx, session) -> None:
    suggest = block("SUGGEST_FIX", {"title": "Fix it", "description": "d", "confidence": 80})
    partial = block("FIX_OUTCOME", {"fix_id": "{{fix}}", "outcome": "partial", "reason": "Done on two of five PCs."})
    provider = scripted(lane_reply("A.", ["q?"], (), suggest), lane_reply("B.", ["q?"], (), partial))
    fix = (await chat.send(ctx, session, "one", provider)).suggested_fix
    await chat.send(ctx, session, "did two of five", provider)
    await ctx.db.refresh(fix)
    await fixes.confirm_outcome(ctx, session, fix)
    assert (fix.status, fix.partial_notes) == ("applied_partial", "Done on two of five PCs.")


async def test_outcome_for_a_terminal_fix_is_dropped(ctx, session) -> None:
    fix = await fixes.suggest_fix(ctx, session, "Fix it", confidence=80)
    await fixes.record_outcome(ctx, session, fix, "applied_failed", "no change")
    provider = scripted(lane_reply("A.", ["q?"], (), block("FIX_OUTCOME", {"fix_id": fix.id, "outcome": "success", "reason": "r"})))
    result = await chat.send(ctx, session, "it worked", provider)
    assert result.outcome_proposal is None and any("already applied_failed" in d for d in result.dropped)


async def test_fork_is_recorded(ctx, session) -> None:
    fork = block("FORK", {"fork_reason": "Endpoint or server?", "options": [
        {"label": "Endpoint", "description": "Check the laptop"}, {"label": "Server", "description": "Check the server"}]})
    result = await chat.send(ctx, session, "one", scripted(lane_reply("A.", ["q?"], (), fork)))
    rows = (await ctx.db.execute(select(ForkPoint).where(ForkPoint.session_id == session.id))).scalars().all()
    assert [r.id for r in rows] == [result.fork.id]
    assert rows[0].message_id == result.reply.id and [o["label"] for o in rows[0].options] == ["Endpoint", "Server"]


async def test_a_failed_call_keeps_the_message_and_applies_nothing(ctx, session) -> None:
    version = session.state_version
    with pytest.raises(LLMCallError, match="connection reset"):
        await chat.send(ctx, session, "Please help", FailingProvider(LLMCallError("connection reset")))
    stored = await messages(ctx, session)
    assert [(m.role, m.status, m.raw_content) for m in stored] == [("user", "failed", "Please help")]
    assert stored[0].error == "connection reset"
    assert await lane.list_items(ctx, session) == [] and await facts.list_facts(ctx, session) == []
    assert session.state_version == version
    usage = (await ctx.db.execute(select(LLMUsage).where(LLMUsage.session_id == session.id))).scalars().all()
    assert [u.ok for u in usage] == [False]
    # Retrying sends the same message; no second copy is stored.
    provider = scripted(lane_reply("Now it works.", ["q?"]))
    result = await chat.retry_turn(ctx, session, provider)
    assert result.user_message.id == stored[0].id
    assert [(m.role, m.status) for m in await messages(ctx, session)] == [("user", "complete"), ("assistant", "complete")]
    assert provider.calls[0].engineer_text == "Please help" and provider.calls[0].history == ()
    with pytest.raises(ConflictError, match="no unanswered message"):
        await chat.retry_turn(ctx, session, provider)


async def test_an_interrupted_call_is_marked_interrupted(ctx, session) -> None:
    with pytest.raises(asyncio.CancelledError):
        await chat.send(ctx, session, "Please help", FailingProvider(asyncio.CancelledError()))
    stored = await messages(ctx, session)
    assert [(m.role, m.status) for m in stored] == [("user", "interrupted")]
    assert (await chat.pending_retry(ctx, session)).id == stored[0].id


async def test_a_new_message_after_a_failed_one_merges_them_in_history(ctx, session) -> None:
    with pytest.raises(LLMCallError):
        await chat.send(ctx, session, "first try", FailingProvider(LLMCallError("down")))
    provider = scripted(lane_reply("Got both.", ["q?"]))
    await chat.send(ctx, session, "second try", provider)
    assert [(t.role, t.content) for t in provider.calls[0].history] == [("user", "first try")]


async def test_offline_refuses_before_storing_anything(ctx, session) -> None:
    with pytest.raises(LLMUnavailableError, match="offline"):
        await chat.send(ctx, session, "hello", OfflineProvider())
    assert await messages(ctx, session) == []


async def test_closed_sessions_refuse_and_paused_ones_resume(ctx, session) -> None:
    await pause_session(ctx, session)
    await chat.send(ctx, session, "back at it", scripted(lane_reply("A.", ["q?"])))
    assert session.status == "active"
    session.status = "resolved"
    await ctx.db.commit()
    with pytest.raises(ConflictError, match="session is resolved"):
        await chat.send(ctx, session, "more", scripted(lane_reply("A.", ["q?"])))
    assert len(await messages(ctx, session)) == 2


async def test_bad_messages_are_refused(ctx, session) -> None:
    for text in ("", "   ", "x" * (chat.MESSAGE_MAX + 1)):
        with pytest.raises(UsageError):
            await chat.send(ctx, session, text, scripted("x"))
    assert await messages(ctx, session) == []


async def test_a_reply_without_markers_leaves_the_lane_alone(ctx, session) -> None:
    provider = scripted(lane_reply("A.", ["q?"]), "Just prose, and a broken [ACTIONS]\n[{oops\n[/ACTIONS] block.")
    await chat.send(ctx, session, "one", provider)
    result = await chat.send(ctx, session, "two", provider)
    display = result.reply.display_content
    assert display.startswith("Just prose, and a broken") and display.endswith("block.") and "oops" not in display
    assert "ACTIONS: malformed block" in result.dropped
    assert [i.text for i in await lane.list_items(ctx, session)] == ["q?"]


async def test_an_untitled_session_gets_a_title(ctx) -> None:
    from rfpilot.core.session.sessions import create_session

    untitled = await create_session(ctx)
    provider = ScriptedProvider([ScriptedReply(reply=lane_reply("A.", ["q?"])),
                                 ScriptedReply(reply="  \"Printer offline after driver update.\"  ", action="title")])
    await chat.send(ctx, untitled, "The printer went offline after a driver update", provider)
    assert untitled.title == "Printer offline after driver update"
    assert [c.action for c in provider.calls] == ["chat", "title"]


async def test_apply_is_atomic(ctx, session, monkeypatch) -> None:
    """An error while applying the reply rolls the whole reply back; the message is marked interrupted (never
    left `sent`) and stays retryable."""

    async def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(chat, "_apply_outcome", boom)
    provider = scripted(lane_reply("A.", ["q?"], (), block("SUGGEST_FIX", {"title": "t", "description": "d", "confidence": 90})))
    version = session.state_version
    with pytest.raises(RuntimeError):
        await chat.send(ctx, session, "one", provider)
    await ctx.db.refresh(session)
    assert session.state_version == version
    assert await lane.list_items(ctx, session) == [] and await fixes.active_fix(ctx, session) is None
    stored = await messages(ctx, session)
    assert [(m.role, m.status) for m in stored] == [("user", "interrupted")]
    assert (await chat.pending_retry(ctx, session)).id == stored[0].id


def test_scripted_reply_selection() -> None:
    provider = ScriptedProvider([
        ScriptedReply(reply="first"),
        ScriptedReply(reply="about vpn", match="VPN"),
        ScriptedReply(reply="second"),
        ScriptedReply(reply="note", action="resolution_note"),
    ])

    def pick(**kw):
        return provider.pick(LLMRequest(system="s", **{"action": "chat", "message": "m", **kw})).reply

    assert pick(turn_index=0) == "first" and pick(turn_index=1) == "second"
    assert pick(turn_index=0, engineer_text="the vpn drops") == "about vpn"
    assert pick(action="resolution_note") == "note"
    with pytest.raises(LLMCallError, match="no chat reply"):
        pick(turn_index=2)
    with pytest.raises(LLMCallError, match="no title reply"):
        pick(action="title")


async def test_scripted_streams_in_chunks_and_fills_refs() -> None:
    provider = ScriptedProvider([ScriptedReply(reply="Fix {{fix}} and {{question: Is it on?}} and {{check:unknown}}" * 3)])
    request = LLMRequest(action="chat", system="s", message="m", refs={"fix": "F-ID", "question:Is it on?": "Q-ID"})
    parts = [p async for p in provider.stream(request)]
    chunks, result = parts[:-1], parts[-1]
    assert isinstance(result, LLMResult) and len(chunks) > 1 and "".join(chunks) == result.text
    assert result.text.startswith("Fix F-ID and Q-ID and {{check:unknown}}")


def test_scripted_file_errors(tmp_path) -> None:
    from rfpilot.core.llm.scripted import load_replies
    from rfpilot.errors import ConfigError

    for text, message in (
        ("[]", "holds no replies"),
        ("replies: [{reply: x, colour: red}]", "unknown keys: colour"),
        ("replies: [{action: chat}]", "needs `reply` text"),
        ("replies: [{reply: x, action: poem}]", "unknown action 'poem'"),
        ("replies: [{reply: x, usage: {input_tokens: -1}}]", "whole numbers"),
        ("replies: [x]\nchunk_delay_ms: fast", "chunk_delay_ms"),
        ("{bad yaml: [", "neither valid JSON nor valid YAML"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_replies(text)
    with pytest.raises(ConfigError, match="cannot read the scripted replies file"):
        ScriptedProvider.from_file(tmp_path / "missing.yaml")
    replies, delay = load_replies(json.dumps({"chunk_delay_ms": 5, "replies": ["plain string reply"]}))
    assert replies[0].reply == "plain string reply" and delay == 0.005


async def test_an_item_emitted_twice_in_one_reply_is_one_item(ctx, session) -> None:
    result = await chat.send(ctx, session, "one", scripted(lane_reply("A.", ["Same?", "Same?", "Other?"])))
    assert [q.text for q in result.questions] == ["Same?", "Other?"]
    assert [(i.text, i.position) for i in await lane.list_items(ctx, session)] == [("Same?", 0), ("Other?", 1)]


# --- the real Anthropic provider behind the engine (httpx2.MockTransport, no network) ---


def _anthropic(parts_per_turn: list[list[str]], fail_on: int | None = None):
    import httpx2

    from rfpilot.core.llm.anthropic_provider import AnthropicProvider
    from test_llm_anthropic import MODELS, _sse, _stream_frames

    bodies: list[dict] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if fail_on is not None and len(bodies) == fail_on:
            return httpx2.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        parts = parts_per_turn[len(bodies) - 1]
        usage = {"input_tokens": 30, "cache_read_input_tokens": 1000 * (len(bodies) - 1), "cache_creation_input_tokens": 400}
        return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               content=_sse(_stream_frames(body["model"], parts, usage)))

    provider = AnthropicProvider(api_key="test-key", models=MODELS, max_retries=0, base_url="http://anthropic.test",
                                 http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    return provider, bodies


def _cacheable_prefix(body: dict, upto: int) -> str:
    """model + system + the first ``upto`` messages, with the movable message breakpoint removed."""
    from test_llm_anthropic import _canonical

    return _canonical(body["model"], body["system"], body["messages"][:upto])


async def test_three_real_turns_keep_the_cached_prefix_byte_identical(ctx, session) -> None:
    turns = [
        ["The symptoms point at ", "stale credentials.\n", '[QUESTIONS]\n[{"text": "Was the password reset?"}]\n[/QUESTIONS]'],
        ["A reset explains it.\n", '[QUESTIONS]\n[{"text": "Was the password reset?"}]\n[/QUESTIONS]'],
        ["Try clearing them.\n", '[ACTIONS]\n[{"label": "List stored credentials", "command": "cmdkey /list"}]\n[/ACTIONS]'],
    ]
    provider, bodies = _anthropic(turns)
    try:
        for text in ("It prompts for a password", "Yes, on Monday", "What next?"):
            await chat.send(ctx, session, text, provider)
    finally:
        await provider.aclose()
    assert len(bodies) == 3
    for body in bodies:
        assert "temperature" not in body and body["stream"] is True and body["model"] == "claude-chat-test"
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in body["system"][1]
        assert session.intake_text in body["system"][1]["text"]
        assert "cache_control" not in json.dumps(body["messages"][-1])
    for earlier, later in zip(bodies, bodies[1:]):
        breakpoints = [i for i, m in enumerate(earlier["messages"]) if "cache_control" in json.dumps(m)]
        upto = (breakpoints[-1] + 1) if breakpoints else 0
        assert _cacheable_prefix(earlier, upto) == _cacheable_prefix(later, upto)
    assert [len(b["messages"]) for b in bodies] == [1, 3, 5]
    stored = await chat.list_messages(ctx, session)
    replies = [m for m in stored if m.role == "assistant"]
    assert [(m.input_tokens, m.cache_read_tokens, m.cache_write_tokens, m.output_tokens) for m in replies] == [
        (30, 0, 400, 17), (30, 1000, 400, 17), (30, 2000, 400, 17)]
    rows = (await ctx.db.execute(select(LLMUsage).where(LLMUsage.session_id == session.id))).scalars().all()
    assert sorted((u.provider, u.model, u.cache_read_tokens) for u in rows) == [
        ("anthropic", "claude-chat-test", 0), ("anthropic", "claude-chat-test", 1000), ("anthropic", "claude-chat-test", 2000)]


async def test_an_anthropic_error_keeps_the_message(ctx, session) -> None:
    provider, bodies = _anthropic([["fine\n[QUESTIONS]\n[{\"text\": \"q?\"}]\n[/QUESTIONS]"]], fail_on=2)
    try:
        await chat.send(ctx, session, "first", provider)
        with pytest.raises(LLMCallError, match="overloaded") as caught:
            await chat.send(ctx, session, "second", provider)
    finally:
        await provider.aclose()
    assert caught.value.retryable and "test-key" not in caught.value.message
    last = (await chat.list_messages(ctx, session))[-1]
    assert (last.role, last.status, last.raw_content) == ("user", "failed", "second")
    assert "overloaded" in last.error.lower()
