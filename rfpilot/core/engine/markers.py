"""The model-output marker protocol (SPEC §5, reference/seed-003.md §6).

A reply is prose followed by blocks ``[NAME]`` … ``[/NAME]`` holding JSON.
``parse_reply`` is a pure function: it never raises, every block (well-formed
or not) is removed from the display text, and malformed blocks are dropped
(their names are listed in ``ParsedReply.dropped`` for logging).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from rfpilot.core.inputs import clean_model_data, clean_model_text
from rfpilot.grammar import count

MARKERS = ("FORK", "ACTIONS", "QUESTIONS", "PROMOTE", "SUGGEST_FIX", "FIX_OUTCOME")
QUESTIONS_MAX = 3
ACTIONS_MAX = 4
PROMOTES_MAX = 50  # facts one reply may promote; the rest are reported as cut, never stored
FORK_OPTIONS_MIN, FORK_OPTIONS_MAX = 2, 4
TITLE_MAX = 200
PROMOTE_SOURCES = ("question", "diagnostic_check", "ai_synthesis")
OUTCOMES = ("success", "failure", "partial")

_OPEN_TAG = re.compile(r"\[(?:" + "|".join(MARKERS) + r")\]")
_CLOSE_TAG = re.compile(r"\[/(?:" + "|".join(MARKERS) + r")\]")
_EMPTY_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*```")
_BLANK_RUN = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Question:
    text: str
    context: str | None = None


@dataclass(frozen=True)
class Action:
    label: str
    command: str | None = None
    description: str = ""
    action_type: str | None = None


@dataclass(frozen=True)
class Promote:
    source_type: str
    text: str
    source_ref: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class SuggestFix:
    title: str
    description: str
    confidence: int
    script_template_slug: str | None = None
    ai_drafted_script: str | None = None
    ai_drafted_parameters: dict[str, Any] | None = None
    seen_before: str | None = None  # the earlier session it repeats, as the model named it ("#abcd1234")


@dataclass(frozen=True)
class FixOutcome:
    fix_id: str
    outcome: str  # success | failure | partial
    reason: str = ""


@dataclass(frozen=True)
class ForkOption:
    label: str
    description: str = ""


@dataclass(frozen=True)
class Fork:
    reason: str
    options: tuple[ForkOption, ...]


@dataclass
class ParsedReply:
    display: str
    questions: list[Question] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    promotes: list[Promote] = field(default_factory=list)
    suggest_fix: SuggestFix | None = None
    fix_outcome: FixOutcome | None = None
    fork: Fork | None = None
    found: list[str] = field(default_factory=list)  # marker names seen (valid or not)
    dropped: list[str] = field(default_factory=list)  # marker names whose payload was unusable
    capped: list[str] = field(default_factory=list)  # what was cut to the per-reply limits, in words

    @property
    def has_lane(self) -> bool:
        return bool(self.questions or self.actions)


# --- helpers ---------------------------------------------------------------


def _load_json(payload: str) -> Any:
    text = payload.strip()
    if text.startswith("```"):
        text = text[3:]
        if text[:4].lower() == "json":
            text = text[4:]
        text = text.lstrip()
    if text.endswith("```"):
        text = text[:-3].rstrip()
    try:
        return clean_model_data(json.loads(text))  # "\ud800" escapes decode to lone surrogates
    except (ValueError, RecursionError):
        return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = value.strip()
    return cleaned or None


def _uuid_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def _confidence(value: Any) -> int | None:
    if isinstance(value, str):  # "87" or "87%": models echo the schema's quoting
        try:
            value = float(value.strip().rstrip("%").strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return max(0, min(100, int(round(float(value)))))


def _extract(text: str, name: str) -> tuple[str, list[str]]:
    """Remove every closed block of ``name``; return the text and the payloads in order.

    Linear in the text (a lazy regex would rescan to the end for each unclosed tag): a block runs from an
    opening tag to the first closing tag after it; once an opening tag has no closing tag, none later can.
    """
    opening, closing = f"[{name}]", f"[/{name}]"
    payloads: list[str] = []
    parts: list[str] = []
    position = 0
    while True:
        start = text.find(opening, position)
        if start == -1:
            break
        end = text.find(closing, start + len(opening))
        if end == -1:
            break
        parts.append(text[position:start])
        parts.append("\n")
        payloads.append(text[start + len(opening) : end].strip())
        position = end + len(closing)
    if not payloads:
        return text, payloads
    parts.append(text[position:])
    return "".join(parts), payloads


def _as_list(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    return []


# --- one parser per marker ---------------------------------------------------


def _capped(items: list, limit: int, what: str, capped: list[str]) -> list:
    if len(items) > limit:
        capped.append(f"{len(items) - limit:,} of {len(items):,} {what} cut (at most {limit} per reply)")
    return items[:limit]


def _questions(payloads: list[str], capped: list[str]) -> list[Question] | None:
    items: list[Question] = []
    for payload in payloads:
        for entry in _as_list(_load_json(payload)):
            if isinstance(entry, dict) and (text := _text(entry.get("text"))):
                items.append(Question(text=text, context=_text(entry.get("context"))))
    return _capped(items, QUESTIONS_MAX, "questions", capped) if items else None


def _actions(payloads: list[str], capped: list[str]) -> list[Action] | None:
    items: list[Action] = []
    for payload in payloads:
        for entry in _as_list(_load_json(payload)):
            if not isinstance(entry, dict) or not (label := _text(entry.get("label"))):
                continue
            items.append(
                Action(
                    label=label,
                    command=_text(entry.get("command")),
                    description=_text(entry.get("description")) or "",
                    action_type=_text(entry.get("action_type")),
                )
            )
    return _capped(items, ACTIONS_MAX, "checks", capped) if items else None


def _promote(payload: str) -> Promote | None:
    data = _load_json(payload)
    if not isinstance(data, dict):
        return None
    source_type = data.get("source_type")
    text = _text(data.get("text"))
    if source_type not in PROMOTE_SOURCES or not text:
        return None
    ref = None if source_type == "ai_synthesis" else _uuid_or_none(data.get("source_ref"))
    return Promote(source_type=source_type, text=text, source_ref=ref, summary=_text(data.get("summary")))


def _suggest_fix(payload: str) -> SuggestFix | None:
    data = _load_json(payload)
    if not isinstance(data, dict):
        return None
    title = _text(data.get("title"))
    description = _text(data.get("description"))
    confidence = _confidence(data.get("confidence"))
    if not title or not description or confidence is None:
        return None
    params = data.get("ai_drafted_parameters")
    return SuggestFix(
        title=title[:TITLE_MAX],
        description=description,
        confidence=confidence,
        script_template_slug=_text(data.get("script_template_slug")),
        ai_drafted_script=_text(data.get("ai_drafted_script")),
        ai_drafted_parameters=params if isinstance(params, dict) else None,
        seen_before=_session_ref(data.get("seen_before")),
    )


def _session_ref(value: Any) -> str | None:
    """A seen-before session as the model names it: ``#`` and 4 to 36 characters of its id (hex digits and
    dashes), lower-cased with the ``#`` dropped; anything else is None (the fix is kept without it)."""
    if not isinstance(value, str):
        return None
    ref = value.strip().lstrip("#").strip().lower()
    if 4 <= len(ref) <= 36 and all(c in "0123456789abcdef-" for c in ref):
        return ref
    return None


def _fix_outcome(payload: str) -> FixOutcome | None:
    data = _load_json(payload)
    if not isinstance(data, dict):
        return None
    fix_id = _text(data.get("fix_id"))
    outcome = data.get("outcome")
    outcome = outcome.strip().lower() if isinstance(outcome, str) else None
    if not fix_id or outcome not in OUTCOMES:
        return None
    reason = data.get("reason")
    return FixOutcome(fix_id=fix_id, outcome=outcome, reason=reason.strip() if isinstance(reason, str) else "")


def _fork(payload: str) -> Fork | None:
    data = _load_json(payload)
    if not isinstance(data, dict):
        return None
    options = []
    given = data.get("options")
    for entry in given if isinstance(given, list) else []:
        if isinstance(entry, dict) and (label := _text(entry.get("label"))):
            options.append(ForkOption(label=label[:TITLE_MAX], description=_text(entry.get("description")) or ""))
    if len(options) < FORK_OPTIONS_MIN:
        return None
    return Fork(reason=_text(data.get("fork_reason")) or "", options=tuple(options[:FORK_OPTIONS_MAX]))


# --- the whole reply ----------------------------------------------------------


def _scrub(text: str) -> str:
    """Remove whatever marker syntax is left: an unclosed block runs to the end of the reply."""
    while True:
        before = text
        for name in MARKERS:
            text = _extract(text, name)[0]
        opening = _OPEN_TAG.search(text)
        if opening:
            text = text[: opening.start()]
        text = _CLOSE_TAG.sub("", text)
        if text == before:
            return text


def _tidy(text: str) -> str:
    text = _EMPTY_FENCE.sub("", text)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return _BLANK_RUN.sub("\n\n", text).strip()


def parse_reply(raw: str) -> ParsedReply:
    """Split a model reply into display text and structured results. Never raises."""
    if not isinstance(raw, str):
        return ParsedReply(display="")
    text = clean_model_text(raw)
    found: list[str] = []
    dropped: list[str] = []
    payloads: dict[str, list[str]] = {}
    for name in MARKERS:  # FORK, ACTIONS, QUESTIONS, PROMOTE, SUGGEST_FIX, FIX_OUTCOME
        text, blocks = _extract(text, name)
        payloads[name] = blocks
        if blocks:
            found.append(name)

    result = ParsedReply(display=_tidy(_scrub(text)), found=found, dropped=dropped)
    if payloads["FORK"]:
        result.fork = _fork(payloads["FORK"][-1])
    if payloads["ACTIONS"]:
        result.actions = _actions(payloads["ACTIONS"], result.capped) or []
    if payloads["QUESTIONS"]:
        result.questions = _questions(payloads["QUESTIONS"], result.capped) or []
    for index, payload in enumerate(payloads["PROMOTE"]):
        if len(result.promotes) == PROMOTES_MAX:
            left = len(payloads["PROMOTE"]) - index
            result.capped.append(f"{count(left, 'more [PROMOTE] block')} cut (at most {PROMOTES_MAX} facts per reply)")
            break
        item = _promote(payload)
        if item is None:
            dropped.append("PROMOTE")
        else:
            result.promotes.append(item)
    if payloads["SUGGEST_FIX"]:
        result.suggest_fix = _suggest_fix(payloads["SUGGEST_FIX"][-1])  # the last block wins
    if payloads["FIX_OUTCOME"]:
        result.fix_outcome = _fix_outcome(payloads["FIX_OUTCOME"][-1])  # the last block wins
    for name, value in (
        ("FORK", result.fork),
        ("ACTIONS", result.actions),
        ("QUESTIONS", result.questions),
        ("SUGGEST_FIX", result.suggest_fix),
        ("FIX_OUTCOME", result.fix_outcome),
    ):
        if payloads[name] and not value:
            dropped.append(name)
    return result
