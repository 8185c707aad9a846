"""The offline provider: no model at all. Chat is refused; notes use the offline drafter."""

from __future__ import annotations

from collections.abc import AsyncIterator

from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider

OFFLINE_HINT = (
    "set ANTHROPIC_API_KEY (or `rfpilot keys set anthropic`), or point llm.provider at an OpenAI-compatible "
    "server (docs/llm.md); facts, checks, fixes and offline notes all work without a model"
)


class OfflineProvider(Provider):
    name = "offline"
    can_chat = False

    def describe(self) -> str:
        return "offline (no model; notes use the offline drafter)"

    async def stream(self, request: LLMRequest) -> AsyncIterator[str | LLMResult]:
        raise LLMCallError("no model is configured: rfpilot is running offline", hint=OFFLINE_HINT, retryable=False)
        yield ""  # pragma: no cover - makes this an async generator
