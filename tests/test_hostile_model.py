"""Hostile model output: lone surrogates and NUL, replies of megabytes, thousands of marker blocks.

Every turn completes and stores what it can (cleaned), a reply over llm.max_reply_chars is cut with a notice,
facts per reply are capped with the cut reported, and the streaming display does work linear in the reply
(counted, not timed: bench/stream.py times it). Runs on SQLite and Postgres (the ctx fixture).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

from sqlalchemy import select

from rfpilot.core.engine import chat
from rfpilot.core.session import facts, lane
from rfpilot.core.llm.base import LLMRequest, LLMResult, Provider, Usage
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply, load_replies
from rfpilot.core.engine.markers import PROMOTES_MAX, parse_reply
from rfpilot.core.engine.streaming import DisplayStream
from rfpilot.db.models import Message

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))
QUESTION = '[QUESTIONS]\n[{"text": "Does the \\ud800 drive map on the office network?"}]\n[/QUESTIONS]'


class BigProvider(Provider):
    """Streams a given reply in chunks of ``size`` characters (a model that does not stop)."""

    name = "big"

    def __init__(self, text: str, size: int = 4096) -> None:
        self.text, self.size, self.chunks = text, size, []

    async def stream(self, request: LLMRequest) -> AsyncIterator[str | LLMResult]:
        for start in range(0, len(self.text), self.size):
            self.chunks.append(self.text[start : start + self.size])
            yield self.chunks[-1]
        yield LLMResult(text=self.text, provider=self.name, model="big", usage=Usage(output_tokens=len(self.text) // 4))


async def _replies(ctx, session) -> list[Message]:
    rows = await ctx.db.execute(select(Message).where(Message.session_id == session.id, Message.role == "assistant"))
    return list(rows.scalars())


async def test_a_json_surrogate_escape_in_a_marker_block_completes_the_turn(ctx, session) -> None:
    """On main: UnicodeEncodeError at the commit, the whole reply lost, and the same on every retry."""
    reply = "Let us separate the VPN from the mapping.\n\n" + QUESTION
    result = await chat.send(ctx, session, "The S: drive drops on VPN.", ScriptedProvider([ScriptedReply(reply)]))
    assert [q.text for q in result.questions] == ["Does the \ufffd drive map on the office network?"]
    stored = await lane.list_items(ctx, session)
    assert [i.text for i in stored] == ["Does the \ufffd drive map on the office network?"]
    assert (await _replies(ctx, session))[0].raw_content == reply


async def test_lone_surrogates_and_nul_in_the_reply_itself_are_stored_cleaned(ctx, session) -> None:
    # A replies file in JSON decodes "\ud800" to a lone surrogate, as an SDK decoding the model's stream would.
    replies, _ = load_replies(json.dumps({"replies": [
        {"reply": "Odd bytes \ud800 and a NUL \u0000 here.\n\n[PROMOTE]\n"
                  '{"source_type": "ai_synthesis", "text": "The drive \udcff maps fine\u0000."}\n[/PROMOTE]\n' + QUESTION},
    ]}))
    shown: list[str] = []
    result = await chat.send(ctx, session, "Go on.", ScriptedProvider(replies), on_chunk=shown.append)
    raw = (await _replies(ctx, session))[0].raw_content
    assert "\ud800" not in raw and "\x00" not in raw and "Odd bytes \ufffd and a NUL  here." in raw
    assert [f.text for f in await facts.list_facts(ctx, session)] == ["The drive \ufffd maps fine."]
    assert result.reply.display_content == "Odd bytes \ufffd and a NUL  here."
    assert not any("\x00" in c or "\ud800" in c for c in shown)


async def test_ten_thousand_promotes_store_at_most_the_cap_and_report_the_cut(ctx, session) -> None:
    ctx.settings.overrides["llm.max_reply_chars"] = 2_000_000  # all 10,000 blocks arrive (1 MB)
    blocks = "\n".join(
        f'[PROMOTE]\n{{"source_type": "ai_synthesis", "text": "Fact number {n} was confirmed."}}\n[/PROMOTE]'
        for n in range(10_000)
    )
    result = await chat.send(ctx, session, "Tell me everything.", BigProvider("Many facts.\n\n" + blocks + "\n" + QUESTION))
    stored = await facts.list_facts(ctx, session)
    assert len(stored) == len(result.promoted) == PROMOTES_MAX
    assert any("9,950 more [PROMOTE] blocks cut" in note for note in result.dropped), result.dropped


async def test_a_reply_over_the_limit_is_cut_with_a_notice(ctx, session) -> None:
    ctx.settings.overrides["llm.max_reply_chars"] = 50_000
    text = "Long prose. " * (5_000_000 // 12) + "\n" + QUESTION  # 5 MB; the markers past the limit are lost
    provider = BigProvider(text)
    streamed: list[str] = []
    result = await chat.send(ctx, session, "Explain at length.", provider, on_chunk=streamed.append)
    assert sum(map(len, streamed)) == 50_000
    stored = (await _replies(ctx, session))[0]
    assert len(stored.raw_content) == 50_000 and result.reply.status == "complete"
    assert any("cut at 50,000 of its" in note and "llm.max_reply_chars" in note for note in result.dropped)


def test_streaming_a_5mb_reply_is_linear_work() -> None:
    """On main every chunk re-scanned the whole buffer: 5 MB in 24-character chunks did not finish in 600 s."""
    size = 5_000_000 * STRESS
    text = ("A sentence of prose, [not a tag] and some `code`.\n" * (size // 50))[:size] + "\n\n" + QUESTION
    stream, shown = DisplayStream(), []
    for start in range(0, len(text), 24):
        shown.append(stream.feed(text[start : start + 24]))
    assert stream.scanned <= 20 * len(text), stream.scanned / len(text)
    display = parse_reply(text).display
    assert display.startswith("".join(shown))
    assert "".join(shown) + stream.finish(display) == display
    assert sum(1 for part in shown if part) > 100  # it did stream, in many updates


def test_many_unclosed_tags_parse_in_linear_time() -> None:
    """A lazy regex rescanned to the end for every unclosed tag: 200 KB of them took minutes."""
    raw = "Prose first.\n" + "[PROMOTE] {" * 20_000 + "[/QUESTIONS]"
    parsed = parse_reply(raw)
    assert parsed.display == "Prose first." and parsed.promotes == []
