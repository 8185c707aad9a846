"""The scripted provider: replays replies from a file (tests, `rfpilot demo`, evaluation).

File format (YAML or JSON; docs/llm.md has the reference)::

    chunk_delay_ms: 0          # optional: pause between streamed chunks
    replies:
      - reply: |               # the model's whole reply, markers included
          ...
        action: chat           # optional: chat (default), resolution_note,
                               #   escalation_package, fact_synthesis, title
        match: vpn             # optional: case-insensitive text the engineer's
                               #   message must contain
        error: "..."           # optional: fail the call with this message instead
        usage: {input_tokens: 900, output_tokens: 120}   # optional

A top-level list is read as ``replies``. For one request, the first entry of
that action whose ``match`` occurs in the engineer's message wins; otherwise
the entries without ``match`` are taken by turn: the first for a session's
first reply, the second for its second, and so on (non-chat actions take the
first). ``{{question:<text>}}``, ``{{check:<label>}}`` and ``{{fix}}`` in a
reply become the ids of that question, check or active fix at run time.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rfpilot.core.llm.base import ACTIONS, LLMCallError, LLMRequest, LLMResult, Provider, Usage
from rfpilot.errors import ConfigError
from rfpilot.grammar import count

CHUNK_CHARS = 24
SCRIPTED_WINDOW = 200_000  # as large as the default Anthropic model's, so scripted turns are budgeted like real ones
_REF = re.compile(r"\{\{\s*(question|check|fix)\s*(?::\s*(.*?))?\s*\}\}", re.DOTALL)


@dataclass(frozen=True)
class ScriptedReply:
    reply: str
    action: str = "chat"
    match: str | None = None
    error: str | None = None
    usage: Usage | None = None


def _entry(index: int, raw: Any, source: str) -> ScriptedReply:
    where = f"{source}: reply {index + 1}"
    if isinstance(raw, str):
        return ScriptedReply(reply=raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with a `reply` (or a plain string)")
    unknown = set(raw) - {"reply", "action", "match", "error", "usage"}
    if unknown:
        raise ConfigError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    reply, error = raw.get("reply"), raw.get("error")
    if not isinstance(reply, str) and not isinstance(error, str):
        raise ConfigError(f"{where} needs `reply` text (or `error` to simulate a failure)")
    action = raw.get("action", "chat")
    if action not in ACTIONS:
        raise ConfigError(f"{where} has unknown action {action!r}", hint="one of: " + ", ".join(ACTIONS))
    match = raw.get("match")
    if match is not None and (not isinstance(match, str) or not match.strip()):
        raise ConfigError(f"{where}: `match` must be non-empty text")
    usage = raw.get("usage")
    parsed_usage = None
    if usage is not None:
        if not isinstance(usage, dict) or not all(isinstance(v, int) and v >= 0 for v in usage.values()):
            raise ConfigError(f"{where}: `usage` must map token fields to whole numbers")
        try:
            parsed_usage = Usage(**usage)
        except TypeError:
            raise ConfigError(
                f"{where}: `usage` takes input_tokens, output_tokens, cache_read_tokens, cache_write_tokens"
            ) from None
    return ScriptedReply(
        reply=reply if isinstance(reply, str) else "",
        action=action,
        match=match.strip() if isinstance(match, str) else None,
        error=error if isinstance(error, str) else None,
        usage=parsed_usage,
    )


def load_replies(text: str, source: str = "replies file") -> tuple[list[ScriptedReply], float]:
    """Parse a replies document (JSON, else YAML). Returns (replies, chunk delay in seconds)."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml is a dependency
            raise ConfigError(f"{source} is not JSON, and YAML support (pyyaml) is not installed") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source} is neither valid JSON nor valid YAML: {exc}") from None
    delay = 0.0
    if isinstance(data, dict):
        raw_delay = data.get("chunk_delay_ms", 0)
        if not isinstance(raw_delay, (int, float)) or raw_delay < 0:
            raise ConfigError(f"{source}: chunk_delay_ms must be a number of milliseconds")
        delay = float(raw_delay) / 1000
        data = data.get("replies")
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{source} holds no replies", hint="a list of replies, or a mapping with `replies:`")
    return [_entry(i, raw, source) for i, raw in enumerate(data)], delay


def fill_refs(reply: str, refs: dict[str, str] | Any) -> str:
    """Replace {{question:<text>}}, {{check:<label>}} and {{fix}} with run-time ids (unknown ones stay)."""

    def sub(match: re.Match[str]) -> str:
        kind, name = match.group(1), (match.group(2) or "").strip()
        key = kind if kind == "fix" else f"{kind}:{name}"
        return refs.get(key, match.group(0))

    return _REF.sub(sub, reply)


class ScriptedProvider(Provider):
    name = "scripted"

    def __init__(self, replies: list[ScriptedReply], *, chunk_delay: float = 0.0, source: str = "replies") -> None:
        self.replies = replies
        self.chunk_delay = chunk_delay
        self.source = source
        self.calls: list[LLMRequest] = []  # every request seen (tests inspect them)

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedProvider:
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the scripted replies file {file}: {getattr(exc, 'strerror', None) or exc}",
                hint="check RFPILOT_SCRIPTED_FILE / llm.scripted.file",
            ) from None
        replies, delay = load_replies(text, str(file))
        return cls(replies, chunk_delay=delay, source=str(file))

    def model_for(self, action: str) -> str:
        return "scripted"

    def context_window(self, action: str = "chat") -> int:
        return SCRIPTED_WINDOW

    def describe(self) -> str:
        return f"scripted ({count(len(self.replies), 'reply')} from {self.source})"

    def pick(self, request: LLMRequest) -> ScriptedReply:
        candidates = [r for r in self.replies if r.action == request.action]
        said = (request.engineer_text or request.message).lower()
        for entry in candidates:
            if entry.match and entry.match.lower() in said:
                return entry
        sequential = [r for r in candidates if not r.match]
        index = request.turn_index if request.action == "chat" else 0
        if index < len(sequential):
            return sequential[index]
        raise LLMCallError(
            f"the scripted replies ({self.source}) have no {request.action} reply for this request"
            + (f" (turn {request.turn_index + 1})" if request.action == "chat" else ""),
            hint="add a reply to the file, or give one a `match:` that this message contains",
            retryable=False,
        )

    async def stream(self, request: LLMRequest) -> AsyncIterator[str | LLMResult]:
        self.calls.append(request)
        entry = self.pick(request)
        if entry.error:
            raise LLMCallError(entry.error, hint="(a failure simulated by the scripted replies file)")
        text = fill_refs(entry.reply, request.refs).strip()
        for start in range(0, len(text), CHUNK_CHARS):
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            else:
                await asyncio.sleep(0)
            yield text[start : start + CHUNK_CHARS]
        usage = entry.usage or Usage(
            input_tokens=(len(request.system) + len(request.volatile) + len(request.message)) // 4,
            output_tokens=max(1, len(text) // 4),
        )
        yield LLMResult(text=text, provider=self.name, model="scripted", usage=usage, stop_reason="end_turn")
