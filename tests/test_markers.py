"""The marker parser: the seed's cases (reference/seed-003.md §6) plus property tests."""

from __future__ import annotations

import json
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from rfpilot.core.engine.markers import MARKERS, parse_reply

REF = str(uuid.uuid4())


def block(name: str, payload) -> str:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f"[{name}]\n{body}\n[/{name}]"


# --- QUESTIONS / ACTIONS ---------------------------------------------------------


def test_questions_and_actions_parsed_and_stripped() -> None:
    raw = "Looks like a cached credential.\n" + block(
        "QUESTIONS", [{"text": "Does it happen on OWA?", "context": "rules out the mailbox"}]
    ) + "\n" + block("ACTIONS", [{"label": "List credentials", "command": "cmdkey /list", "description": "shows cached"}])
    r = parse_reply(raw)
    assert r.display == "Looks like a cached credential."
    assert [q.text for q in r.questions] == ["Does it happen on OWA?"]
    assert r.questions[0].context == "rules out the mailbox"
    assert r.actions[0].command == "cmdkey /list"
    assert r.has_lane


def test_gui_only_action_has_no_command() -> None:
    r = parse_reply(block("ACTIONS", [{"label": "Open Event Viewer", "description": "look for 4625"}]))
    assert r.actions[0].command is None


def test_code_fenced_payload_is_accepted() -> None:
    r = parse_reply("x\n[QUESTIONS]\n```json\n[{\"text\": \"q?\"}]\n```\n[/QUESTIONS]")
    assert [q.text for q in r.questions] == ["q?"] and r.display == "x"


def test_limits_on_questions_and_actions() -> None:
    r = parse_reply(block("QUESTIONS", [{"text": f"q{i}"} for i in range(5)]) + block(
        "ACTIONS", [{"label": f"a{i}"} for i in range(6)]))
    assert len(r.questions) == 3 and len(r.actions) == 4


def test_items_without_text_or_label_are_dropped() -> None:
    r = parse_reply(block("QUESTIONS", [{"text": "  "}, {"context": "x"}, {"text": "real?"}]))
    assert [q.text for q in r.questions] == ["real?"]


def test_malformed_block_is_dropped_but_stripped() -> None:
    r = parse_reply("Analysis.\n[QUESTIONS]\n[{not json\n[/QUESTIONS]")
    assert r.display == "Analysis." and r.questions == [] and "QUESTIONS" in r.dropped


def test_prose_only_reply_has_no_lane() -> None:
    r = parse_reply("Just prose, no markers.")
    assert r.display == "Just prose, no markers." and not r.has_lane and r.found == []


# --- PROMOTE ----------------------------------------------------------------------


def test_promote_no_marker() -> None:
    r = parse_reply("Some analysis.")
    assert r.promotes == [] and r.display == "Some analysis."


def test_promote_single_block() -> None:
    r = parse_reply("Some analysis.\n" + block(
        "PROMOTE", {"source_type": "question", "source_ref": REF, "text": "OWA works.", "summary": "rules out mailbox"}))
    assert r.display == "Some analysis."
    (p,) = r.promotes
    assert (p.source_type, p.source_ref, p.text, p.summary) == ("question", REF, "OWA works.", "rules out mailbox")


def test_promote_two_blocks_in_order() -> None:
    r = parse_reply(block("PROMOTE", {"source_type": "ai_synthesis", "text": "one"}) +
                    block("PROMOTE", {"source_type": "diagnostic_check", "source_ref": REF, "text": "two"}))
    assert [p.text for p in r.promotes] == ["one", "two"] and "[" not in r.display


def test_promote_ai_synthesis_ref_is_forced_to_none() -> None:
    r = parse_reply(block("PROMOTE", {"source_type": "ai_synthesis", "source_ref": REF, "text": "x"}))
    assert r.promotes[0].source_ref is None


def test_promote_bogus_source_type_dropped_sibling_kept() -> None:
    r = parse_reply(block("PROMOTE", {"source_type": "user_note", "text": "no"}) +
                    block("PROMOTE", {"source_type": "question", "text": "yes"}))
    assert [p.text for p in r.promotes] == ["yes"]


def test_promote_empty_text_dropped() -> None:
    assert parse_reply(block("PROMOTE", {"source_type": "question", "text": " "})).promotes == []


def test_promote_invalid_uuid_ref_dropped_item_kept() -> None:
    r = parse_reply(block("PROMOTE", {"source_type": "question", "source_ref": "q-1", "text": "x"}))
    assert r.promotes[0].source_ref is None and r.promotes[0].text == "x"


def test_promote_malformed_json_dropped_and_stripped() -> None:
    r = parse_reply("a\n[PROMOTE]\n{oops\n[/PROMOTE]")
    assert r.promotes == [] and r.display == "a"


# --- SUGGEST_FIX -----------------------------------------------------------------


def test_suggest_fix_well_formed() -> None:
    r = parse_reply("Analysis sentence.\n" + block("SUGGEST_FIX", {
        "title": "Reset the profile", "description": "Stale cache.", "confidence": 87, "script_template_slug": "reset-profile"}))
    assert r.display == "Analysis sentence."
    f = r.suggest_fix
    assert (f.title, f.confidence, f.script_template_slug, f.ai_drafted_script) == ("Reset the profile", 87, "reset-profile", None)


def test_suggest_fix_confidence_is_clamped() -> None:
    high = parse_reply(block("SUGGEST_FIX", {"title": "t", "description": "d", "confidence": 120.7}))
    low = parse_reply(block("SUGGEST_FIX", {"title": "t", "description": "d", "confidence": -3}))
    assert (high.suggest_fix.confidence, low.suggest_fix.confidence) == (100, 0)


def test_suggest_fix_last_block_wins() -> None:
    r = parse_reply(block("SUGGEST_FIX", {"title": "old", "description": "d", "confidence": 50}) +
                    block("SUGGEST_FIX", {"title": "new", "description": "d", "confidence": 70}))
    assert r.suggest_fix.title == "new"


def test_suggest_fix_missing_field_dropped_but_stripped() -> None:
    r = parse_reply("x " + block("SUGGEST_FIX", {"title": "t", "confidence": 50}))
    assert r.suggest_fix is None and r.display == "x"


def test_suggest_fix_title_cut_and_params_only_when_object() -> None:
    r = parse_reply(block("SUGGEST_FIX", {"title": "t" * 300, "description": "d", "confidence": "high",
                                          "ai_drafted_parameters": ["not", "a", "dict"]}))
    assert r.suggest_fix is None  # a confidence that is not a number
    r = parse_reply(block("SUGGEST_FIX", {"title": "t", "description": "d", "confidence": 80,
                                          "ai_drafted_parameters": ["not", "a", "dict"]}))
    assert r.suggest_fix.ai_drafted_parameters is None
    r = parse_reply(block("SUGGEST_FIX", {"title": "t" * 300, "description": "d", "confidence": 80,
                                          "ai_drafted_parameters": {"user": "<x>"}, "ai_drafted_script": "Get-X"}))
    assert len(r.suggest_fix.title) == 200 and r.suggest_fix.ai_drafted_parameters == {"user": "<x>"}


# --- FIX_OUTCOME ------------------------------------------------------------------


def test_fix_outcome_success_keeps_preceding_text() -> None:
    r = parse_reply("Great, that did it.\n" + block("FIX_OUTCOME", {"fix_id": REF, "outcome": "SUCCESS", "reason": "works"}))
    assert r.display == "Great, that did it."
    assert (r.fix_outcome.fix_id, r.fix_outcome.outcome, r.fix_outcome.reason) == (REF, "success", "works")


def test_fix_outcome_failure_and_partial() -> None:
    assert parse_reply(block("FIX_OUTCOME", {"fix_id": REF, "outcome": "failure", "reason": ""})).fix_outcome.outcome == "failure"
    assert parse_reply(block("FIX_OUTCOME", {"fix_id": REF, "outcome": "partial", "reason": "r"})).fix_outcome.outcome == "partial"


def test_fix_outcome_invalid_cases() -> None:
    assert parse_reply("nothing").fix_outcome is None
    assert parse_reply("[FIX_OUTCOME]\n{bad\n[/FIX_OUTCOME]").fix_outcome is None
    assert parse_reply(block("FIX_OUTCOME", {"fix_id": REF, "outcome": "maybe"})).fix_outcome is None
    assert parse_reply(block("FIX_OUTCOME", {"outcome": "success"})).fix_outcome is None


def test_fix_outcome_last_block_wins() -> None:
    r = parse_reply(block("FIX_OUTCOME", {"fix_id": REF, "outcome": "failure"}) +
                    block("FIX_OUTCOME", {"fix_id": REF, "outcome": "success"}))
    assert r.fix_outcome.outcome == "success"


# --- FORK ------------------------------------------------------------------------


def test_fork_needs_two_to_four_options() -> None:
    ok = parse_reply(block("FORK", {"fork_reason": "endpoint or tenant", "options": [
        {"label": "Endpoint", "description": "d"}, {"label": "Tenant", "description": "d"}]}))
    assert [o.label for o in ok.fork.options] == ["Endpoint", "Tenant"] and ok.fork.reason == "endpoint or tenant"
    one = parse_reply(block("FORK", {"fork_reason": "r", "options": [{"label": "only"}]}))
    assert one.fork is None and "FORK" in one.dropped
    many = parse_reply(block("FORK", {"fork_reason": "r", "options": [{"label": str(i)} for i in range(6)]}))
    assert len(many.fork.options) == 4


# --- robustness ---------------------------------------------------------------------


def test_unclosed_block_is_cut_from_display() -> None:
    r = parse_reply("Analysis.\n[QUESTIONS]\n[{\"text\": \"half")
    assert r.display == "Analysis." and r.questions == []


def test_block_inside_a_code_fence_leaves_no_empty_fence() -> None:
    r = parse_reply("Analysis.\n```\n" + block("ACTIONS", [{"label": "a"}]) + "\n```")
    assert r.display == "Analysis." and r.actions[0].label == "a"


def test_non_string_input_never_raises() -> None:
    assert parse_reply(None).display == ""  # type: ignore[arg-type]


TAGS = [f"[{m}]" for m in MARKERS] + [f"[/{m}]" for m in MARKERS]
fragments = st.one_of(
    st.sampled_from(TAGS),
    st.text(max_size=30),
    st.sampled_from(["{", "}", "[", "]", '"text"', ":", ",", "```", "```json", "\n", '{"text": "q"}', "null", "1e999"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(fragments, max_size=40).map("".join))
def test_never_raises_and_never_leaks_marker_syntax(raw: str) -> None:
    """Random and adversarial input: no exception, and no [NAME] / [/NAME] tag in the display."""
    result = parse_reply(raw)
    for tag in TAGS:
        assert tag not in result.display


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200).filter(lambda s: "[" not in s and "`" not in s))
def test_plain_prose_survives(prose: str) -> None:
    """Text without markers keeps every word: only trailing spaces, extra blank lines and NUL bytes go."""
    import re

    kept = prose.replace("\x00", "")
    expected = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in kept.splitlines())).strip()
    assert parse_reply(prose).display == expected


def test_suggest_fix_confidence_as_numeric_text() -> None:
    """The prompt shows confidence as a quoted placeholder; "87" and "87%" are read as numbers."""
    for given, expected in (('"87"', 87), ('"87%"', 87), ('"120.7"', 100)):
        raw = f'Text.\n[SUGGEST_FIX]\n{{"title": "t", "description": "d", "confidence": {given}}}\n[/SUGGEST_FIX]'
        assert parse_reply(raw).suggest_fix.confidence == expected
    raw = 'Text.\n[SUGGEST_FIX]\n{"title": "t", "description": "d", "confidence": "high"}\n[/SUGGEST_FIX]'
    assert parse_reply(raw).suggest_fix is None
