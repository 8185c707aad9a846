"""The LLM drafter (sharing the bundle and cache with the offline drafter), fact synthesis,
and the streaming display filter."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfpilot.core.session import facts, fixes, lane, synthesis
from rfpilot.core.drafting import notes, previews
from rfpilot.core.llm.base import LLMCallError, LLMRequest, Provider
from rfpilot.core.llm.offline import OfflineProvider
from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
from rfpilot.core.engine.markers import MARKERS, parse_reply
from rfpilot.core.llm.prompts import ESCALATION_PACKAGE_PROMPT, RESOLUTION_NOTE_PROMPT
from rfpilot.core.engine.streaming import DisplayStream
from rfpilot.errors import ConflictError, LLMUnavailableError

NOTE = """## Problem
Outlook prompted for a password after a reset.

## What we confirmed
- The cached credential was stale.

## Root cause
A stale cached credential.

## Resolution
Cleared the cached credential; confirmed working."""

PACKAGE = """## Problem
P.

## What we've confirmed
- F.

## What we've tried
- T.

## Current hypothesis
H.

## Suggested next steps
- N."""


def note_provider(*extra: ScriptedReply) -> ScriptedProvider:
    return ScriptedProvider([
        ScriptedReply(reply=NOTE, action="resolution_note"),
        ScriptedReply(reply=PACKAGE, action="escalation_package"),
        *extra,
    ])


class Unreachable(Provider):
    name = "unreachable"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, request: LLMRequest):
        self.calls += 1
        raise LLMCallError("cannot reach the model server at http://127.0.0.1:9/v1 (connection refused)")
        yield ""  # pragma: no cover


async def test_llm_drafter_uses_the_bundle_and_the_cache(ctx, session) -> None:
    await facts.add_note(ctx, session, "The cached credential was stale.")
    provider = note_provider()
    first = await previews.preview(ctx, session, "resolve", provider=provider)
    assert (first.drafter, first.from_cache, first.markdown, first.model) == ("llm", False, NOTE, "scripted")
    assert first.fallback_reason is None
    request = provider.calls[0]
    assert request.action == "resolution_note" and request.system == RESOLUTION_NOTE_PROMPT
    assert request.message == notes.bundle_text(await notes.build_bundle(ctx, session, notes.RESOLUTION))
    assert request.max_tokens == 1200
    again = await previews.preview(ctx, session, "resolve", provider=provider)
    assert again.from_cache and again.markdown == NOTE and len(provider.calls) == 1
    escalation = await previews.preview(ctx, session, "escalate", provider=provider)
    assert escalation.markdown == PACKAGE and provider.calls[-1].system == ESCALATION_PACKAGE_PROMPT
    await facts.add_note(ctx, session, "Another fact.")
    fresh = await previews.preview(ctx, session, "resolve", provider=provider)
    assert not fresh.from_cache and len(provider.calls) == 3


async def test_unreachable_model_falls_back_to_offline_and_says_so(ctx, session) -> None:
    provider = Unreachable()
    result = await previews.preview(ctx, session, "resolve", provider=provider)
    assert result.drafter == "offline" and provider.calls == 1
    assert result.fallback_reason.startswith("the model could not draft it: cannot reach the model server")
    assert notes.section_headings(result.markdown) == list(notes.RESOLUTION_HEADINGS)
    # The offline draft is cached; the model is asked again next time (it may be back).
    second = await previews.preview(ctx, session, "resolve", provider=provider)
    assert second.from_cache and second.drafter == "offline" and provider.calls == 2


async def test_a_draft_with_the_wrong_sections_is_not_used(ctx, session) -> None:
    provider = ScriptedProvider([ScriptedReply(reply="Sure! Here is your note:\n## Summary\nAll good.", action="resolution_note")])
    result = await previews.preview(ctx, session, "resolve", provider=provider)
    assert result.drafter == "offline" and "sections were Summary" in result.fallback_reason


async def test_offline_flag_and_offline_provider(ctx, session) -> None:
    provider = note_provider()
    forced = await previews.preview(ctx, session, "resolve", provider=provider, offline=True)
    assert forced.drafter == "offline" and forced.fallback_reason == "--offline was asked for" and provider.calls == []
    none = await previews.preview(ctx, session, "resolve", provider=OfflineProvider())
    assert none.drafter == "offline" and none.fallback_reason == "no model is configured"


def test_tidy_and_section_check() -> None:
    messy = "```markdown\n## Problem   \nP.\n\n\n\n---\n## What we confirmed\n- F.\n## Root cause\nR.\n## Resolution\nDone.\n```"
    tidy = previews.tidy_draft(messy)
    assert tidy == "## Problem\nP.\n\n## What we confirmed\n- F.\n## Root cause\nR.\n## Resolution\nDone."
    assert previews.check_sections(notes.RESOLUTION, tidy) is None
    assert "text before its first section" in previews.check_sections(notes.RESOLUTION, "Hi\n" + tidy)


# --- fact synthesis ------------------------------------------------------------


def synth(reply: str) -> ScriptedProvider:
    return ScriptedProvider([ScriptedReply(reply=reply, action="fact_synthesis")])


async def test_synthesized_promotion(ctx, session) -> None:
    item = await lane.add_question(ctx, session, "Does webmail prompt too?")
    await lane.answer_question(ctx, session, item, "no, webmail is fine, only the desktop app")
    provider = synth('```json\n{"text": "Webmail did not prompt for a password.", "summary": "rules out the account"}\n```')
    fact = await synthesis.promote(ctx, session, item, synthesize_with=provider)
    assert (fact.text, fact.source_type, fact.source_ref, fact.source_summary) == (
        "Webmail did not prompt for a password.", "question", item.id, "rules out the account")
    sent = provider.calls[0].message
    assert sent == "Question asked: Does webmail prompt too?\nEngineer's answer: no, webmail is fine, only the desktop app"


async def test_nothing_substantive_is_not_a_fact(ctx, session) -> None:
    item = await lane.add_check(ctx, session, "Check the event log")
    await lane.mark_run(ctx, session, item, "(no output)")
    version = session.state_version
    with pytest.raises(ConflictError, match="no substantive fact"):
        await synthesis.promote(ctx, session, item, synthesize_with=synth('{"text": null, "summary": null}'))
    assert session.state_version == version and await facts.list_facts(ctx, session) == []


async def test_direct_promotion_and_its_errors(ctx, session) -> None:
    item = await lane.add_question(ctx, session, "Which build?")
    with pytest.raises(ConflictError, match="has no answer yet"):
        await synthesis.promote(ctx, session, item)
    fact = await synthesis.promote(ctx, session, item, text="The client ran build 2410.", summary="rules out old builds")
    assert (fact.source_type, fact.source_ref) == ("question", item.id)
    with pytest.raises(LLMUnavailableError, match="offline"):
        await synthesis.promote(ctx, session, None, text="several things", synthesize_with=OfflineProvider())
    summary = await synthesis.promote(ctx, session, None, text="Both laptops fail the same way.",
                                      synthesize_with=synth('{"text": "Both laptops failed identically.", "summary": "s"}'))
    assert (summary.source_type, summary.source_ref) == ("ai_synthesis", None)


def test_parse_fact_json_is_tolerant() -> None:
    for raw in ("not json", "[1, 2]", '{"text": 5}', '{"text": "   "}', ""):
        assert synthesis.parse_fact_json(raw).text is None
    assert synthesis.parse_fact_json('Here: {"text": "A.", "summary": ""}') == synthesis.FactDraft("A.", None)


# --- what streams to the screen ----------------------------------------------------

marker_block = st.builds(
    lambda name, payload, fence: (f"```json\n[{name}]\n{payload}\n[/{name}]\n```" if fence else f"[{name}]\n{payload}\n[/{name}]"),
    st.sampled_from(MARKERS),
    st.one_of(st.just(json.dumps([{"text": "q?"}])), st.text(max_size=40)),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    prose=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200),
    blocks=st.lists(marker_block, max_size=3),
    cuts=st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=50),
)
def test_streamed_text_is_the_display_and_never_shows_markers(prose: str, blocks: list[str], cuts: list[int]) -> None:
    raw = prose + ("\n\n" + "\n".join(blocks) if blocks else "")
    stream, shown, position = DisplayStream(), "", 0
    for cut in cuts * (len(raw) // max(1, sum(cuts)) + 1):
        if position >= len(raw):
            break
        shown += stream.feed(raw[position : position + cut])
        position += cut
    display = parse_reply(raw).display
    if blocks:
        for name in MARKERS:
            assert f"[{name}]" not in shown and f"[/{name}]" not in shown
    assert display.startswith(shown)
    shown += stream.finish(display)
    assert shown == display
