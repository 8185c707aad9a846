"""Prompt hygiene (SPEC §4, reference/seed-003.md §7.4): prompts show shape, never payloads.

Every uppercase string constant named *_PROMPT, *_SCHEMA, *_PROTOCOL, *_FORMAT
or *_CONTEXT in any rfpilot module is checked. Adding a token to FORBIDDEN
after a leak in production is how this test grows: the list is the audit trail.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import rfpilot

SUFFIXES = ("_PROMPT", "_SCHEMA", "_PROTOCOL", "_FORMAT", "_CONTEXT")
# Literal payloads that once leaked from example prompts into unrelated tickets.
FORBIDDEN = ("jsmith", "DC01", "ADSync", "Dnscache", "google.com", "Outlook keeps", "Teams drops")
MARKER_BLOCK = re.compile(
    r"(?:^|\n)\[(QUESTIONS|ACTIONS|SUGGEST_FIX|FIX_OUTCOME|PROMOTE|FORK)\]\s*\n(\s*[\[{][\s\S]*?)\s*\n\[/\1\]"
)
QUOTED_VALUE = re.compile(r'"([^"<>][^"<>]{2,}?)"\s*(?=[,\]}])')
PLACEHOLDER_HINTS = ("...", "snake_case", "kebab-case", "<", "TODO")
ENUM_WORDS = {
    "text", "password", "select", "boolean", "number", "textarea", "multi_text", "powershell", "bash", "cmd",
    "python", "question", "diagnostic_check", "user_note", "ai_synthesis", "success", "failure", "partial",
}


def prompt_constants() -> dict[str, str]:
    found: dict[str, str] = {}
    for info in pkgutil.walk_packages(rfpilot.__path__, "rfpilot."):
        if info.name.startswith(("rfpilot.tui", "rfpilot.db.migrations")) or info.name.endswith("__main__"):
            continue  # no prompts there; importing them runs things (Textual, Alembic, the CLI)
        try:
            module = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - a module that cannot import holds no checked prompt
            continue
        for name, value in vars(module).items():
            if name.isupper() and name.endswith(SUFFIXES) and isinstance(value, str):
                found[f"{info.name}.{name}"] = value
    return found


def literal_payloads(text: str) -> list[str]:
    """Quoted values inside marker blocks that are not placeholders or enum words."""
    bad = []
    for match in MARKER_BLOCK.finditer(text):
        for value in QUOTED_VALUE.findall(match.group(2)):
            if any(hint in value for hint in PLACEHOLDER_HINTS) or "|" in value:
                continue
            if value in ENUM_WORDS or set(value) <= {".", "_"}:
                continue
            bad.append(f"[{match.group(1)}] block contains literal payload string {value!r}")
    return bad


PROMPTS = prompt_constants()


def test_the_prompts_are_collected() -> None:
    """Guard against a test that passes because it checks nothing."""
    for name in ("CHAT_SYSTEM_PROMPT", "CHAT_REMINDER_PROMPT", "FACT_SYNTHESIS_PROMPT", "TITLE_PROMPT",
                 "RESOLUTION_NOTE_PROMPT", "ESCALATION_PACKAGE_PROMPT"):
        assert f"rfpilot.core.llm.prompts.{name}" in PROMPTS
    assert len(MARKER_BLOCK.findall(PROMPTS["rfpilot.core.llm.prompts.CHAT_SYSTEM_PROMPT"])) == 6


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_no_forbidden_literal_tokens(name: str) -> None:
    leaked = [token for token in FORBIDDEN if token.lower() in PROMPTS[name].lower()]
    assert not leaked, f"{name} contains {leaked}"


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_marker_blocks_hold_placeholders_only(name: str) -> None:
    assert literal_payloads(PROMPTS[name]) == [], name


def test_the_checker_catches_a_literal_example() -> None:
    bad = '[QUESTIONS]\n[{"text": "Is the user on the VPN?", "context": "<why>"}]\n[/QUESTIONS]'
    assert literal_payloads(bad) == ["[QUESTIONS] block contains literal payload string 'Is the user on the VPN?'"]
    assert literal_payloads("Mention [QUESTIONS] markers in prose.") == []
    good = '[FIX_OUTCOME]\n{"fix_id": "<id>", "outcome": "success|failure|partial", "reason": "<why>"}\n[/FIX_OUTCOME]'
    assert literal_payloads(good) == []


def test_chat_prompt_states_the_rules() -> None:
    prompt = PROMPTS["rfpilot.core.llm.prompts.CHAT_SYSTEM_PROMPT"]
    assert "ANTI-PARROT RULE" in prompt
    assert "GUI" in prompt and "script" in prompt
    assert "at least one of" in prompt
    for marker in ("QUESTIONS", "ACTIONS", "PROMOTE", "SUGGEST_FIX", "FIX_OUTCOME", "FORK"):
        assert f"[{marker}]" in prompt and f"[/{marker}]" in prompt


def test_prompts_do_not_vary() -> None:
    """The cached prefix must be byte-identical between calls: no dates, no ids."""
    prompt = PROMPTS["rfpilot.core.llm.prompts.CHAT_SYSTEM_PROMPT"]
    assert not re.search(r"\d{4}-\d{2}-\d{2}", prompt)
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", prompt)
