"""Template extraction: from the script that fixed one ticket to a reusable, parameterised template (SPEC §11).

The model proposes parameters (each with the literal text it stands for) and a body with ``{{ key }}``
placeholders. Nothing it proposes is trusted: the proposal is kept only when substituting every parameter's
value back into the templated body gives the original script character for character, every placeholder is
declared, every declared parameter is used and no password value is left in the body as plain text. Anything
else (no model, a failed call, an unreadable or unfaithful reply) falls back to a template with no parameters
and the script as it is, saying why.

Password values live in memory only: they are hidden from ``repr`` and left out of ``redacted_original`` (what
may be stored as the draft's body) and ``Extraction.safe_values``.

This module is light: the database (usage rows) is only imported when a context is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider
from rfpilot.core.llm.prompts import EXTRACTION_PROMPT
from rfpilot.core.library.render import FIELD_TYPES, KEY, PLACEHOLDER, REDACTED, Parameter, coerce, placeholders, render
from rfpilot.errors import UsageError

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.db.models import SessionRow

EXTRACTION_MAX_TOKENS = 3000
# The reply repeats the whole script (JSON-escaped) plus the parameter list: past this size it would not fit in
# EXTRACTION_MAX_TOKENS, so the model is not asked at all.
MAX_SCRIPT_CHARS = 7000
DEFAULT_INFERRED_FROM = "ai best-guess"
LLM, FALLBACK = "llm", "fallback"
OFFLINE = "offline"

_FENCED = re.compile(r"\A```[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)\r?\n?```\Z", re.DOTALL)
_BACKTICKS = re.compile(r"`+")


@dataclass(frozen=True, repr=False)
class ExtractedParameter:
    key: str
    label: str
    field_type: str
    value: str  # the literal text of the original script that the placeholder replaces
    inferred_from: str = DEFAULT_INFERRED_FROM

    @property
    def secret(self) -> bool:
        return self.field_type == "password"

    def as_parameter(self) -> Parameter:
        """The template parameter this proposes (required, no default: values are suggestions, not defaults)."""
        return Parameter(key=self.key, label=self.label, field_type=self.field_type)

    def __repr__(self) -> str:
        shown = REDACTED if self.secret and self.value else self.value
        return (
            f"ExtractedParameter(key={self.key!r}, label={self.label!r}, field_type={self.field_type!r}, "
            f"value={shown!r}, inferred_from={self.inferred_from!r})"
        )


@dataclass(frozen=True)
class Extraction:
    parameters: tuple[ExtractedParameter, ...]
    templated_body: str
    source: str  # LLM or FALLBACK
    reason: str | None = None  # why the fallback was used
    model: str | None = None  # the model whose proposal was kept

    @property
    def template_parameters(self) -> list[Parameter]:
        return [p.as_parameter() for p in self.parameters]

    def safe_values(self) -> dict[str, str]:
        """The suggested value of every non-password parameter: what may be stored or shown."""
        return {p.key: p.value for p in self.parameters if not p.secret}


# --- the request -----------------------------------------------------------------------------------------------


def _fence_for(text: str) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def build_message(script: str, facts: Iterable[str] = (), ticket_context: str | None = None) -> str:
    """The user message: the script in a fence, then the session's facts and the ticket context when there are any."""
    body = script.strip()
    fence = _fence_for(body)
    sections = [f"# Script that resolved the ticket\n{fence}\n{body}\n{fence}"]
    bullets = [" ".join(str(fact).split()) for fact in facts]
    bullets = [b for b in bullets if b]
    if bullets:
        sections.append("# Session context (confirmed facts)\n" + "\n".join(f"- {b}" for b in bullets))
    if ticket_context and ticket_context.strip():
        sections.append("# Ticket context\n" + ticket_context.strip())
    return "\n\n".join(sections)


# --- reading the reply -----------------------------------------------------------------------------------------


def _unfence(text: str) -> str:
    body = (text or "").strip()
    match = _FENCED.match(body)
    return match.group(1) if match else body


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _field_type(raw: Any, value: str) -> str:
    """The proposed type, or text when it is unknown or would not render the value back as itself.

    (A select has no options here, a boolean turns ``$true`` into ``true``, a number strips spaces: with any of
    those the template could not reproduce the script, so the parameter is plain text instead.)
    """
    field_type = raw.strip().lower() if isinstance(raw, str) else "text"
    if field_type not in FIELD_TYPES:
        return "text"
    try:
        rendered = coerce(Parameter(key="value", label="value", field_type=field_type), value)
    except UsageError:
        return "text"
    return field_type if rendered == value else "text"


def _parameter(item: Any) -> ExtractedParameter | None:
    if not isinstance(item, dict):
        return None
    key = item.get("key")
    if not isinstance(key, str) or not KEY.fullmatch(key.strip()):
        return None
    key = key.strip()
    value = item.get("value")
    value = value if isinstance(value, str) else ""
    label = _text(item.get("label")) or key.replace("_", " ").title()
    return ExtractedParameter(
        key=key,
        label=label[:200],
        field_type=_field_type(item.get("type", item.get("field_type")), value),
        value=value,
        inferred_from=_text(item.get("inferred_from")) or DEFAULT_INFERRED_FROM,
    )


def parse_response(text: str) -> Extraction | None:
    """The model's proposal, read tolerantly; None when it is not a usable JSON object.

    A code fence around the JSON is ignored. A parameter that is not an object or has an unusable key is
    dropped (validation then catches a body that still uses it); an unknown type becomes text; a missing label
    is derived from the key; a missing value is empty (and validation then fails unless the placeholder really
    stood for nothing).
    """
    try:
        data = json.loads(_unfence(text), strict=False)  # strict=False: raw tabs/newlines inside strings
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    raw_parameters, body = data.get("parameters"), data.get("templated_body")
    if not isinstance(raw_parameters, list) or not isinstance(body, str):
        return None
    parameters = tuple(p for p in map(_parameter, raw_parameters) if p is not None)
    return Extraction(parameters=parameters, templated_body=body, source=LLM)


# --- checking it -----------------------------------------------------------------------------------------------


def _first_difference(rendered: str, original: str) -> str:
    for number, (got, wanted) in enumerate(zip(rendered.split("\n"), original.split("\n"), strict=False), 1):
        if got != wanted:
            return f"line {number}"
    return "its length" if len(rendered) != len(original) else "its line endings"


def validate(extraction: Extraction, original: str) -> str | None:
    """Why the extraction cannot be used for ``original``, or None when it can."""
    keys = [p.key for p in extraction.parameters]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        return "the model declared the same parameter more than once: " + ", ".join(twice)
    used = placeholders(extraction.templated_body)
    undeclared = [k for k in used if k not in keys]
    if undeclared:
        return "the templated body uses placeholders no parameter declares: " + ", ".join(undeclared)
    unused = [k for k in keys if k not in used]
    if unused:
        return "the model declared parameters the templated body never uses: " + ", ".join(unused)
    as_text = [Parameter(key=p.key, label=p.label, field_type="text", required=False) for p in extraction.parameters]
    try:
        rendered = render(extraction.templated_body, as_text, {p.key: p.value for p in extraction.parameters})
    except UsageError as err:  # pragma: no cover - the checks above leave render nothing to refuse
        return f"the templated body does not render: {err.message}"
    if rendered != original:
        return (
            "the templated body does not reproduce the original script once its values are filled in "
            f"(first difference: {_first_difference(rendered, original)})"
        )
    secrets = [p for p in extraction.parameters if p.secret and p.value]
    shown = [extraction.templated_body, *(p.value for p in extraction.parameters if not p.secret)]
    if any(s.value in text for s in secrets for text in shown):
        return "a password value is still written out in the templated body"
    return None


def fallback(script: str, reason: str) -> Extraction:
    """No parameters, the script as it is, and why."""
    return Extraction(parameters=(), templated_body=script, source=FALLBACK, reason=reason)


def redacted_original(extraction: Extraction) -> str:
    """The original script with password values left as ``{{ key }}``: what may be stored as the draft's body."""
    secret = {p.key for p in extraction.parameters if p.secret}
    values = extraction.safe_values()

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in secret:
            return f"{{{{ {key} }}}}"
        return values.get(key, match.group(0))

    return PLACEHOLDER.sub(fill, extraction.templated_body)


# --- the call --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Framing:
    """What is taken off the script before the model sees it, and put back on its proposal."""

    lead: str
    trail: str
    crlf: bool

    def restore(self, text: str) -> str:
        return text.replace("\r\n", "\n").replace("\n", "\r\n") if self.crlf else text


def _frame(script: str) -> tuple[str, _Framing]:
    """The script without outer whitespace and, when it uses CRLF throughout, with plain newlines.

    Models drop a leading/trailing newline or a carriage return readily; those are not worth losing the
    parameters over, so they are put back afterwards (and the final check is still against the real script).
    """
    core = script.strip()
    lead = script[: len(script) - len(script.lstrip())]
    trail = script[len(lead) + len(core):]
    lone = core.replace("\r\n", "")
    crlf = "\r\n" in core and "\n" not in lone and "\r" not in lone
    return (core.replace("\r\n", "\n") if crlf else core), _Framing(lead, trail, crlf)


def _unframe(extraction: Extraction, framing: _Framing) -> Extraction:
    body = framing.lead + framing.restore(extraction.templated_body.strip()) + framing.trail
    parameters = tuple(replace(p, value=framing.restore(p.value)) for p in extraction.parameters)
    return replace(extraction, templated_body=body, parameters=parameters)


async def _record(ctx: Ctx | None, session: SessionRow | None, provider: Provider, result: LLMResult | None) -> None:
    if ctx is None:
        return
    from rfpilot.core.llm import usage as usage_service

    async with ctx.tx():
        usage_service.record(ctx, session, "extraction", provider, result)


def is_offline(provider: Provider | None) -> bool:
    return provider is None or provider.name == OFFLINE or not provider.can_chat


async def extract(
    ctx: Ctx | None,
    provider: Provider | None,
    script: str,
    facts: Iterable[str] = (),
    ticket_context: str | None = None,
    *,
    session: SessionRow | None = None,
) -> Extraction:
    """Propose a template for ``script``; never raises for a model problem (the fallback says what happened).

    ``facts`` (the session's confirmed facts) and ``ticket_context`` only help the model name the parameters.
    With ``ctx``, the call's token usage is recorded (against ``session`` when given), failed calls included.
    """
    if is_offline(provider):
        return fallback(script, OFFLINE)
    assert provider is not None
    core, framing = _frame(script)
    if not core:
        return fallback(script, "the script is empty")
    if len(core) > MAX_SCRIPT_CHARS:
        size = f"{len(core)} characters; the limit is {MAX_SCRIPT_CHARS}"
        return fallback(script, f"the script is too long to templatize automatically ({size})")
    request = LLMRequest(
        action="extraction",
        system=EXTRACTION_PROMPT,
        message=build_message(core, facts, ticket_context),
        max_tokens=EXTRACTION_MAX_TOKENS,
    )
    try:
        result = await provider.complete(request)
    except LLMCallError as err:
        await _record(ctx, session, provider, None)
        return fallback(script, f"the model could not be asked: {err.message}")
    await _record(ctx, session, provider, result)
    proposal = parse_response(result.text)
    if proposal is None:
        return fallback(script, "the model's reply was not the JSON object asked for")
    proposal = _unframe(proposal, framing)
    problem = validate(proposal, script)
    if problem:
        return fallback(script, problem)
    return replace(proposal, model=result.model)
