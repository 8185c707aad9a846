"""The provider interface every model backend implements.

A provider turns one ``LLMRequest`` into a stream of text chunks followed by
one final ``LLMResult`` (the whole text, the model, token usage). Providers
know nothing about sessions or the database; the chat engine and the drafters
build requests and store what comes back.

This module is light (no SDK, no HTTP client): importing it costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from rfpilot.core.view_types import TokenUsage
from rfpilot.errors import LLMUnavailableError

# What a request is for; each action has a model tier (SPEC §12).
ACTIONS = (
    "chat",
    "resolution_note",
    "escalation_package",
    "fact_synthesis",
    "title",
    "extraction",
    "summary",
    "context_summary",
)
# action -> tier name in config (`llm.models.<tier>`)
ACTION_TIERS = {
    "chat": "chat",
    "resolution_note": "note",
    "escalation_package": "note",
    "fact_synthesis": "fact_synthesis",
    "title": "title",
    "extraction": "extraction",
    # Branch summaries, handoff assessments and briefings, resolution outputs: written like notes.
    "summary": "note",
    # Folding a long conversation's oldest turns into its rolling summary (core/engine/context_budget.py).
    "context_summary": "note",
}
TIERS = ("chat", "note", "fact_synthesis", "title", "extraction")


# Context windows (prompt and reply together, in tokens) of the models rfpilot knows, matched by the longest prefix
# of the model name (lower case, without an ``org/`` prefix or an Ollama ``:tag``). The default context budget of a
# chat turn is derived from it (core/engine/context_budget.py); ``llm.context_tokens`` overrides the budget for a model
# that is not here or is served with a smaller window (Ollama's ``num_ctx``).
MODEL_WINDOWS: dict[str, int] = {
    "claude-": 200_000,
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "llama3.1": 131_072,
    "llama3.2": 131_072,
    "llama3.3": 131_072,
    "llama-3.1": 131_072,
    "llama-3.2": 131_072,
    "llama-3.3": 131_072,
    "llama3": 8_192,
    "llama2": 4_096,
    "mistral-nemo": 128_000,
    "mistral-small": 32_768,
    "mistral": 32_768,
    "mixtral": 32_768,
    "qwen2.5": 32_768,
    "qwen3": 40_960,
    "gemma3": 131_072,
    "gemma2": 8_192,
    "phi4": 16_384,
    "phi3": 4_096,
    "deepseek-r1": 131_072,
    "deepseek-v3": 131_072,
    "codellama": 16_384,
}
# A model not in the table: assume a small local one, so the budget errs on the side of fitting.
FALLBACK_WINDOW = 8_192
CHAT_MAX_TOKENS = 2048  # a chat reply's room in the window
BUDGET_SHARE = 0.75  # of the window left after the reply: a chat turn's default context budget
MIN_BUDGET = 4_000  # below this the system prompt and the session state leave no room (llm.context_tokens minimum)


def context_window(model: str | None) -> int:
    """The context window of ``model`` from MODEL_WINDOWS (longest matching prefix), else FALLBACK_WINDOW."""
    name = (model or "").strip().lower().rsplit("/", 1)[-1].split(":", 1)[0]
    best = ""
    for prefix in MODEL_WINDOWS:
        if name.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return MODEL_WINDOWS[best] if best else FALLBACK_WINDOW


def default_budget(window: int, reply_tokens: int = CHAT_MAX_TOKENS) -> int:
    """A chat turn's default context budget: three quarters of what the window leaves once the reply has its room
    (the rest is slack for the estimate's error and the provider's own framing)."""
    return max(MIN_BUDGET, int((window - reply_tokens) * BUDGET_SHARE))


@dataclass(frozen=True)
class Turn:
    """One message of history as the model sees it (display content, never raw)."""

    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """Everything a provider needs for one call.

    ``system`` is stable across turns and sessions (cached by providers that can);
    ``volatile`` is per-session system context (ticket context, cross-branch
    context) sent uncached after it; ``history`` is the conversation so far;
    ``message`` is the new user message, already carrying any invisible suffix
    (format reminder, session state) — it is never stored as such.
    ``refs`` maps symbolic names to ids of the current session (``question:<text>``,
    ``check:<label>``, ``fix``); only the scripted provider reads it, to let a
    replies file refer to ids that only exist at run time.
    """

    action: str
    system: str
    message: str
    history: tuple[Turn, ...] = ()
    volatile: str = ""
    max_tokens: int = 1024
    turn_index: int = 0  # how many assistant replies the conversation already has
    engineer_text: str = ""  # the engineer's own words (message without suffixes)
    refs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def as_dict(self) -> TokenUsage:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


@dataclass(frozen=True)
class LLMResult:
    text: str
    provider: str
    model: str | None
    usage: Usage = Usage()
    stop_reason: str | None = None

    def __post_init__(self) -> None:
        # Whatever the provider decoded (a JSON "\ud800" escape, a NUL), the text stored and parsed is clean.
        from rfpilot.core.inputs import clean_model_text

        object.__setattr__(self, "text", clean_model_text(self.text))


class LLMCallError(LLMUnavailableError):
    """A call that did not produce a reply: unreachable, refused, or cut off.

    ``retryable`` says whether trying the same request again may work (network,
    rate limit, overload) as opposed to a configuration problem (bad key,
    unknown model).
    """

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class Provider:
    """Base class: subclasses implement ``stream``; ``complete`` drains it."""

    name = "base"
    can_chat = True

    def model_for(self, action: str) -> str | None:
        return None

    def describe(self) -> str:
        """One line for `rfpilot doctor` (no secrets)."""
        return self.name

    def context_window(self, action: str = "chat") -> int:
        """The context window (tokens) of the model this provider uses for ``action``."""
        return context_window(self.model_for(action))

    def stream(self, request: LLMRequest) -> AsyncIterator[str | LLMResult]:
        """Yield text chunks (``str``) as they arrive, then exactly one ``LLMResult``.

        Raises ``LLMCallError`` when the call fails; chunks already yielded are
        then worthless and the caller discards them.
        """
        raise NotImplementedError

    async def complete(self, request: LLMRequest) -> LLMResult:
        result: LLMResult | None = None
        async for part in self.stream(request):
            if isinstance(part, LLMResult):
                result = part
        if result is None:
            raise LLMCallError(f"the {self.name} provider ended without a result")
        return result

    async def aclose(self) -> None:
        """Release connections (HTTP clients); safe to call twice."""
