"""The context budget of a chat turn (docs/llm.md, "The context budget"), on both stores.

A turn's request fits ``llm.context_tokens`` at any session length; the oldest turns fold into a persisted
rolling summary (by the model, else offline); facts, open questions and the fix always go whole; the cached system
prompt is byte-identical on every turn and the whole prefix between folds; long pastes go trimmed.
RFPILOT_STRESS=N runs the length sweep at more and longer lengths.
"""

from __future__ import annotations

import json
import os
import random

import pytest
from sqlalchemy import select

from fakes.bulk import fill
from rfpilot.core.engine import chat, context_budget
from rfpilot.core.session import facts, fixes, lane
from rfpilot.core.engine.context_budget import estimate, request_tokens
from rfpilot.core.llm.anthropic_provider import build_params
from rfpilot.core.llm.base import LLMRequest, Turn, context_window, default_budget
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.llm.prompts import CHAT_SYSTEM_PROMPT
from rfpilot.db.models import ContextSummary, LLMUsage, Message

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))
REPLY = '<analysis>\n\n[QUESTIONS]\n[{"text": "Is it still failing?"}]\n[/QUESTIONS]'


def provider(*extra: ScriptedReply) -> ScriptedProvider:
    """Answers every chat turn (each message says "turn"), and whatever ``extra`` adds (a summary reply)."""
    return ScriptedProvider([ScriptedReply(reply=REPLY, match="turn"), *extra])


def chat_calls(p: ScriptedProvider) -> list[LLMRequest]:
    return [r for r in p.calls if r.action == "chat"]


def budget(ctx, tokens: int) -> None:
    ctx.settings.overrides["llm.context_tokens"] = tokens


async def summary_row(ctx, session) -> ContextSummary | None:
    stmt = select(ContextSummary).where(ContextSummary.session_id == session.id)
    rows = (await ctx.db.execute(stmt.execution_options(populate_existing=True))).scalars()
    rows = list(rows)
    assert len(rows) <= 1
    return rows[0] if rows else None


def prose(i: int, size: int = 300) -> str:
    words = f"line {i} of the troubleshooting conversation with some detail about the printer and the share "
    return (words * (size // len(words) + 1))[:size]


# --- the pieces ------------------------------------------------------------------------------------------------


def test_each_model_has_a_window_and_the_budget_leaves_room_for_the_reply() -> None:
    assert context_window("claude-sonnet-4-6") == 200_000
    assert context_window("claude-haiku-4-5") == 200_000
    assert context_window("gpt-4o-mini") == 128_000
    assert context_window("gpt-4") == 8_192  # the longest prefix wins: gpt-4 is not gpt-4o
    assert context_window("llama3.1:8b") == 131_072  # an Ollama tag is ignored
    assert context_window("meta-llama/Llama-3.1-70B-Instruct") == 131_072
    assert context_window("some-internal-model") == 8_192  # unknown: assume small
    assert context_window(None) == 8_192
    assert default_budget(200_000) == 148_464
    assert default_budget(8_192) == 4_608
    assert default_budget(4_096) == 4_000  # never below the minimum
    assert provider().context_window() == 200_000


def test_the_estimate_errs_high() -> None:
    """At least one token per four characters (English prose), and one per character of CJK text."""
    for text in ("", "a", "hello world " * 100, "Get-Service | Where-Object {$_.Status -eq 'Stopped'}", "é" * 99,
                 "打印机无法扫描到文件夹" * 10, "🖨️" * 40):
        assert estimate(text) >= len(text) / 4
    assert estimate("打印机" * 100) >= 300
    request = LLMRequest(action="chat", system="s" * 30, volatile="v" * 30, message="m" * 30,
                         history=(Turn("user", "u" * 30), Turn("assistant", "a" * 30)))
    assert request_tokens(request) == 5 * (10 + context_budget.BLOCK_TOKENS)


def test_a_long_paste_keeps_its_start_and_end_and_says_what_was_cut() -> None:
    assert context_budget.trim_paste("short", 100) == "short"
    text = "FIRST " + "x" * 50_000 + " LAST"
    cut = context_budget.trim_paste(text, 8_000)
    assert cut.startswith("FIRST ") and cut.endswith(" LAST")
    assert f"of {len(text):,} here" in cut and "the whole text is stored in the session" in cut
    assert f"cut {len(text) - 8_000:,} characters" in cut
    assert len(cut) < 8_200


# --- a long session ---------------------------------------------------------------------------------------------


async def test_a_20000_message_session_fits_the_budget(ctx, session) -> None:
    await fill(ctx, session, messages=20_000, facts=30, body=prose)
    question = await lane.add_question(ctx, session, "Which firmware is the printer on?")
    p = provider()
    result = await chat.send(ctx, session, "next turn: it still fails", p)
    request = chat_calls(p)[-1]
    limit = default_budget(200_000)
    assert request_tokens(request) <= limit
    assert request_tokens(request) > limit // 3  # the history is used, not thrown away
    row = await summary_row(ctx, session)
    assert row is not None and row.drafter == "offline" and row.folds == 1  # the scripted file has no summary
    assert row.through_seq < 20_000 and row.folded_messages == row.through_seq + 1
    assert request.history[0].role == "user" and request.history[0].content.startswith(f"line {row.through_seq + 1} ")
    assert request.history[-1].content.startswith("line 19999 ")
    assert "# Earlier in this conversation" in request.volatile and request.system == CHAT_SYSTEM_PROMPT
    for n in range(30):
        assert f"- fact {n}\n" in request.message + "\n"
    assert f"id {question.id} · not yet completed · Which firmware" in request.message
    assert request.turn_index == 10_000  # every reply counts, folded or not
    assert result.reply.status == "complete"


async def test_the_cached_prefix_is_identical_between_folds(ctx, session) -> None:
    budget(ctx, 6_000)
    p = provider()
    bodies, folds = [], []
    for n in range(14):
        await chat.send(ctx, session, f"turn {n}: " + prose(n, 1_200), p)
        bodies.append(build_params(chat_calls(p)[-1], "claude-test"))
        row = await summary_row(ctx, session)
        folds.append(row.folds if row else 0)
    assert folds[-1] >= 2, folds  # the sweep crosses folds...
    steady = [(a, b) for i, (a, b) in enumerate(zip(bodies, bodies[1:])) if folds[i] == folds[i + 1]]
    assert len(steady) >= 4  # ...and stretches between them
    for body in bodies:
        assert body["system"][0] == {"type": "text", "text": CHAT_SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
        assert request_tokens(LLMRequest(action="chat", system=body["system"][0]["text"],
                                         volatile=body["system"][1]["text"],
                                         history=tuple(Turn(m["role"], m["content"][0]["text"])
                                                       for m in body["messages"][:-1]),
                                         message=body["messages"][-1]["content"][0]["text"])) <= 6_000
    for earlier, later in steady:
        assert json.dumps(earlier["system"]) == json.dumps(later["system"])
        k = len(earlier["messages"]) - 1  # the history up to the cached breakpoint
        strip = lambda ms: [{"role": m["role"], "text": m["content"][0]["text"]} for m in ms]  # noqa: E731
        assert json.dumps(strip(earlier["messages"][:k])) == json.dumps(strip(later["messages"][:k]))


async def test_a_fold_never_drops_a_fact_or_an_unanswered_question(ctx, session) -> None:
    budget(ctx, 5_000)
    known = [await facts.add_note(ctx, session, f"confirmed fact number {i}: " + prose(i, 80)) for i in range(12)]
    open_questions = [await lane.add_question(ctx, session, f"open question {i}?") for i in range(5)]
    answered = await lane.add_question(ctx, session, "Which share path?")
    await lane.answer_question(ctx, session, answered, "the scans share")
    check = await lane.add_check(ctx, session, "Test the SMB login", command="<command>")
    fix = await fixes.suggest_fix(ctx, session, "Re-enter the scan credentials", confidence=60)
    await fill(ctx, session, messages=400, body=prose)
    p = provider()
    for n in range(3):
        await chat.send(ctx, session, f"turn {n}: " + prose(n, 2_000), p)
        request = chat_calls(p)[-1]
        assert request_tokens(request) <= 5_000
        for fact in known:
            assert f"- {fact.text}\n" in request.message
        for q in [*open_questions, check]:
            assert f"id {q.id} · not yet completed · {q.text}" in request.message
        assert f"Active suggested fix: id {fix.id}" in request.message
    row = await summary_row(ctx, session)
    assert row is not None and row.drafter == "offline"
    assert "Which share path? → the scans share" in row.text  # the offline fold keeps the record the state lacks


async def test_the_model_writes_the_summary_when_it_can(ctx, session) -> None:
    budget(ctx, 5_000)
    await fill(ctx, session, messages=300, body=prose)
    p = provider(ScriptedReply(reply="The engineer checked the share and the credentials.", action="context_summary"))
    await chat.send(ctx, session, "turn one", p)
    fold = next(r for r in p.calls if r.action == "context_summary")
    assert fold.system.startswith("You keep the running summary") and request_tokens(fold) <= 5_000
    row = await summary_row(ctx, session)
    last = row.through_seq  # the newest folded message is shown to the model; the kept ones are not
    assert f"{'Engineer' if last % 2 == 0 else 'Assistant'}: line {last} " in fold.message
    assert f": line {last + 1} " not in fold.message
    assert (row.drafter, row.model, row.text) == ("llm", "scripted", "The engineer checked the share and the credentials.")
    request = chat_calls(p)[-1]
    assert "summarised by the model" in request.volatile and row.text in request.volatile
    actions = (await ctx.db.execute(select(LLMUsage.action, LLMUsage.ok).where(LLMUsage.session_id == session.id))).all()
    assert sorted(actions) == [("chat", True), ("note", True)]


async def test_a_failed_summary_call_folds_offline(ctx, session) -> None:
    budget(ctx, 5_000)
    await fill(ctx, session, messages=300, body=prose)
    p = provider(ScriptedReply(reply="", error="simulated outage", action="context_summary"))
    result = await chat.send(ctx, session, "turn one", p)
    assert result.reply.status == "complete"
    row = await summary_row(ctx, session)
    assert row.drafter == "offline" and row.text.startswith("Written by rfpilot without a model")
    last = row.through_seq
    assert f"- {'engineer' if last % 2 == 0 else 'assistant'}: line {last} " in row.text  # the newest folded lines
    failed = (await ctx.db.execute(select(LLMUsage.ok).where(LLMUsage.action == "note",
                                                                LLMUsage.session_id == session.id))).scalars().all()
    assert failed == [False]


async def test_the_offline_fold_needs_no_model(ctx, session) -> None:
    budget(ctx, 4_000)
    await fixes.suggest_fix(ctx, session, "Reset the scan password", confidence=40)
    active = await fixes.suggest_fix(ctx, session, "Re-enable SMB1 on the NAS", confidence=70)
    await fill(ctx, session, messages=200, body=prose, first_seq=0)
    message = await chat.store_message(ctx, session, "what now?")
    request = await chat.build_request(ctx, session, message)  # no provider at all
    assert request_tokens(request) <= 4_000
    row = await summary_row(ctx, session)
    assert row.drafter == "offline" and row.model is None
    assert "Reset the scan password · superseded before it was applied" in row.text and "Re-enable SMB1" not in row.text  # active: in state
    assert f"Active suggested fix: id {active.id}" in request.message


async def test_the_summary_survives_reopen(ctx, session, settings) -> None:
    from rfpilot.core.context import Workspace

    settings.overrides["llm.context_tokens"] = 5_000
    await fill(ctx, session, messages=300, body=prose)
    p = provider()
    await chat.send(ctx, session, "turn one", p)
    first = await summary_row(ctx, session)
    assert first is not None
    before = chat_calls(p)[-1]
    ws = await Workspace.open(settings)
    try:
        async with ws.ctx() as other:
            row = (await other.db.execute(select(ContextSummary).where(ContextSummary.session_id == session.id))).scalar_one()
            assert (row.text, row.through_seq, row.folds) == (first.text, first.through_seq, 1)
            again = provider()
            from rfpilot.core.session.sessions import get_session

            await chat.send(other, await get_session(other, session.id), "turn two", again)
            after = chat_calls(again)[-1]
            row = (await other.db.execute(select(ContextSummary).where(ContextSummary.session_id == session.id))).scalar_one()
            assert row.folds == 1  # no second fold: the stored summary was used as it was
            assert after.volatile == before.volatile
            assert [t.content for t in after.history[: len(before.history)]] == [t.content for t in before.history]
    finally:
        await ws.close()


async def test_a_pasted_output_is_stored_whole_and_sent_trimmed(ctx, session) -> None:
    check = await lane.add_check(ctx, session, "Collect the scanner log", command="<command>")
    log_text = "BEGIN\n" + "\n".join(f"2026-12-01 scan attempt {i} failed: access denied" for i in range(1_500)) + "\nEND"
    p = provider()
    await chat.send(ctx, session, "turn: here is the log\n" + log_text, p, lane_item=check)
    assert "END" in chat_calls(p)[-1].message  # the new message goes whole while it fits
    await chat.send(ctx, session, "turn: and now?", p)
    sent = chat_calls(p)[-1].history[0].content
    assert sent.startswith(f'(Output of the check "Collect the scanner log" [id {check.id}])\nturn: here is the log')
    assert sent.rstrip().endswith("END") and "the whole text is stored in the session" in sent
    assert len(sent) < context_budget.PASTE_LIMIT_CHARS + 300
    stored = (await ctx.db.execute(select(Message).where(Message.session_id == session.id).order_by(Message.seq))).scalars().first()
    assert stored.display_content.endswith(log_text)


async def test_a_branch_starts_from_the_summary_before_the_fork(ctx, session) -> None:
    from rfpilot.core.session import branches

    budget(ctx, 5_000)
    await fill(ctx, session, messages=300, body=prose)
    p = provider()
    await chat.send(ctx, session, "turn one", p)
    trunk = await summary_row(ctx, session)
    _, children = await branches.fork(ctx, session, "two causes", [("Credentials", "<d>"), ("Firmware", "<d>")])
    await branches.switch(ctx, session, children[0])
    await chat.send(ctx, session, "turn on the branch", p)
    request = chat_calls(p)[-1]
    assert trunk.text in request.volatile and request_tokens(request) <= 5_000
    assert request.history[-1].content.startswith("<analysis>") or request.history[-1].role == "assistant"


# --- any length ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [4_000, 9_000])
async def test_the_request_never_exceeds_the_budget(ctx, session, tokens) -> None:
    """Sessions of many lengths, with prose, pastes and huge messages mixed in: every turn fits."""
    rng = random.Random(tokens)
    budget(ctx, tokens)
    lengths = [0, 1, 2, 7, 60, 333, 1_500] + ([5_000, 20_000] if STRESS > 1 else [])
    seq = 0
    p = provider()
    cut_new = 0
    for length in lengths:
        grow = length - seq
        if grow > 0:
            sizes = {i: rng.choices([20, 300, 2_000, 30_000], weights=[40, 40, 15, 5])[0] for i in range(seq, length)}
            await fill(ctx, session, messages=grow, body=lambda i: prose(i, sizes[i]), first_seq=seq)
            seq = length
        text = "turn " + "x" * rng.choice([10, 5_000, chat.MESSAGE_MAX - 10])
        await chat.send(ctx, session, text, p)
        seq += 2
        request = chat_calls(p)[-1]
        assert request_tokens(request) <= tokens, (length, request_tokens(request))
        assert request.message.endswith(chat.CHAT_REMINDER_PROMPT)
        cut_new += "rfpilot cut" in request.message.split("[Session state", 1)[0]
    row = await summary_row(ctx, session)
    assert row is not None and row.folds >= 2
    assert cut_new  # a message too big for the budget on its own went cut (the sweep did reach that case)
