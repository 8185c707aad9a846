"""The Anthropic provider: streams replies through the official SDK (SPEC §12).

Importing this module is cheap: the ``anthropic`` SDK (seconds to import) is
loaded only when the first request is sent, and its exception classes only
when a call fails.

Prompt caching: the stable ``system`` text carries a cache breakpoint; the
per-session ``volatile`` text follows it uncached; the last history message
carries a second breakpoint, so each turn reads the previous turn's prefix
from the cache. For that to work the request must serialise identically for
identical inputs: every message is a list of text blocks (never a bare
string), and nothing that changes between calls (time, randomness,
temperature) goes into the parameters.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from rfpilot.core.llm.base import ACTION_TIERS, LLMCallError, LLMRequest, LLMResult, Provider, Turn, Usage

if TYPE_CHECKING:  # pragma: no cover - typing only
    import anthropic

log = logging.getLogger("rfpilot.llm")

_EPHEMERAL = {"type": "ephemeral"}
_KEY_HINT = "check ANTHROPIC_API_KEY or `rfpilot keys set anthropic`"
_RETRY_HINT = "wait a moment and try again"


def _text_block(text: str, *, cached: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cached:
        block["cache_control"] = dict(_EPHEMERAL)
    return block


def _merged_history(history: tuple[Turn, ...] | list[Turn]) -> list[tuple[str, str]]:
    """History as (role, text) pairs with consecutive same-role turns joined.

    Blank turns are dropped: the API rejects empty text blocks.
    """
    merged: list[tuple[str, str]] = []
    for turn in history:
        if not turn.content.strip():
            continue
        if merged and merged[-1][0] == turn.role:
            merged[-1] = (turn.role, merged[-1][1] + "\n\n" + turn.content)
        else:
            merged.append((turn.role, turn.content))
    return merged


def build_params(request: LLMRequest, model: str) -> dict[str, Any]:
    """The keyword arguments for ``messages.stream`` (pure; no SDK needed).

    Same request and model in, equal dict out: the cached prefix (model,
    system blocks, history messages) must not vary between calls.
    """
    system: list[dict[str, Any]] = []
    if request.system.strip():
        system.append(_text_block(request.system, cached=True))
    if request.volatile.strip():
        system.append(_text_block(request.volatile))

    history = _merged_history(request.history)
    messages: list[dict[str, Any]] = []
    for i, (role, text) in enumerate(history):
        last = i == len(history) - 1
        messages.append({"role": role, "content": [_text_block(text, cached=last)]})
    # The new message is never cached: it carries per-turn suffixes that
    # history never does. If history ends with a user turn, the API joins the
    # two consecutive user messages itself; merging them here would change
    # the cached block.
    messages.append({"role": "user", "content": [_text_block(request.message)]})

    params: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens, "messages": messages}
    if system:
        params["system"] = system
    return params


class AnthropicProvider(Provider):
    """Claude through the ``anthropic`` SDK (async, streaming)."""

    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        models: Mapping[str, str],
        *,
        timeout: float = 60,
        max_retries: int = 1,
        base_url: str | None = None,
        http_client: Any = None,
    ) -> None:
        self._api_key = api_key
        self.models = dict(models)
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.base_url = base_url
        self._http_client = http_client
        self._client: anthropic.AsyncAnthropic | None = None

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicProvider(models={self.models!r}, base_url={self.base_url!r})"

    def model_for(self, action: str) -> str | None:
        tier = ACTION_TIERS.get(action)
        if tier is None:
            raise LLMCallError(f"unknown LLM action {action!r}", retryable=False)
        model = self.models.get(tier)
        if not model:
            raise LLMCallError(
                f"no Anthropic model configured for the {tier!r} tier",
                hint=f"set llm.models.{tier} (e.g. `rfpilot config set llm.models.{tier} claude-sonnet-4-6`)",
                retryable=False,
            )
        return model

    def describe(self) -> str:
        chat = self.models.get("chat") or "no chat model"
        where = f" at {self.base_url}" if self.base_url else ""
        return f"anthropic ({chat}){where}"

    def _get_client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            import anthropic

            kwargs: dict[str, Any] = {
                "api_key": self._api_key,
                "timeout": self.timeout,
                "max_retries": self.max_retries,
            }
            if self.base_url:
                kwargs["base_url"] = self.base_url
            if self._http_client is not None:
                kwargs["http_client"] = self._http_client
            self._client = anthropic.AsyncAnthropic(**kwargs)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        elif self._http_client is not None:
            # Never built a client, but we were handed one: release it anyway.
            aclose = getattr(self._http_client, "aclose", None)
            if aclose is not None and not getattr(self._http_client, "is_closed", False):
                await aclose()

    async def stream(self, request: LLMRequest) -> AsyncIterator[str | LLMResult]:
        model = self.model_for(request.action)
        assert model is not None
        params = build_params(request, model)
        client = self._get_client()
        try:
            async with client.messages.stream(**params) as stream:
                async for text in stream.text_stream:
                    if text:
                        yield text
                final = await stream.get_final_message()
                request_id = stream.request_id
        except LLMCallError:
            raise
        except Exception as err:  # mapped below; anything unknown is re-raised as is
            mapped = self._map_error(err, request.action)
            if mapped is None:
                raise
            raise mapped from err

        text = "".join(block.text for block in final.content if block.type == "text")
        u = final.usage
        usage = Usage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cache_read_tokens=u.cache_read_input_tokens or 0,
            cache_write_tokens=u.cache_creation_input_tokens or 0,
        )
        if usage.cache_read_tokens or usage.cache_write_tokens:
            log.info(
                "anthropic.cache action=%s model=%s read=%d write=%d input=%d request_id=%s",
                request.action,
                final.model,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
                usage.input_tokens,
                request_id,
            )
        yield LLMResult(
            text=text,
            provider=self.name,
            model=final.model or model,
            usage=usage,
            stop_reason=final.stop_reason,
        )

    # -- errors ---------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return text

    def _error(self, message: str, *, hint: str | None, retryable: bool, request_id: str | None = None) -> LLMCallError:
        if request_id:
            message += f" [request {request_id}]"
        return LLMCallError(
            self._scrub(message), hint=self._scrub(hint) if hint else None, retryable=retryable
        )

    def _map_error(self, err: BaseException, action: str) -> LLMCallError | None:
        """An ``LLMCallError`` for an SDK or transport failure, or None if unknown."""
        import anthropic
        import httpx2

        if isinstance(err, anthropic.APITimeoutError) or isinstance(err, httpx2.TimeoutException):
            return self._error(
                f"no reply from Anthropic within {self.timeout:g} s",
                hint="try again, or raise llm.timeout",
                retryable=True,
            )
        if isinstance(err, anthropic.APIConnectionError) or isinstance(err, httpx2.TransportError):
            cause = err.__cause__ if isinstance(err, anthropic.APIConnectionError) and err.__cause__ else err
            return self._error(
                f"cannot reach the Anthropic API ({_short_cause(cause)})",
                hint="check the network or proxy (HTTPS_PROXY); without a model, facts, checks and fixes still work, "
                     "and `rfpilot resolve SESSION --offline` drafts the note from the session's state",
                retryable=True,
            )
        if not isinstance(err, anthropic.APIStatusError):
            return None

        status = err.status_code
        api_message = _api_message(err)
        request_id = err.request_id or _body_request_id(err.body)
        err_type = err.type or ""
        tier = ACTION_TIERS.get(action, action)

        if isinstance(err, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
            return self._error(
                f"the Anthropic API refused the key ({status}): {api_message}",
                hint=_KEY_HINT,
                retryable=False,
                request_id=request_id,
            )
        if isinstance(err, anthropic.NotFoundError):
            model = self.models.get(tier, "?")
            return self._error(
                f"the Anthropic API does not know the model {model!r} ({status}): {api_message}",
                hint=f"check the llm.models.{tier} setting (`rfpilot config set llm.models.{tier} MODEL`)",
                retryable=False,
                request_id=request_id,
            )
        if isinstance(err, anthropic.RateLimitError) or err_type == "rate_limit_error":
            where = f"HTTP {status}" if status >= 400 else "error event mid-stream"
            return self._error(
                f"rate-limited by the Anthropic API ({where}): {api_message}",
                hint=_RETRY_HINT,
                retryable=True,
                request_id=request_id,
            )
        if isinstance(err, anthropic.InternalServerError) or err_type in ("overloaded_error", "api_error"):
            where = f"HTTP {status}" if status >= 400 else "error event mid-stream"
            return self._error(
                f"Anthropic is overloaded or failing (5xx): {api_message} ({where})",
                hint=_RETRY_HINT,
                retryable=True,
                request_id=request_id,
            )
        if isinstance(err, anthropic.BadRequestError):
            return self._error(
                f"the Anthropic API rejected the request ({status}): {api_message}",
                hint=None,
                retryable=False,
                request_id=request_id,
            )
        retryable = status in (408, 409)
        return self._error(
            f"the Anthropic API answered {status}: {api_message}",
            hint=_RETRY_HINT if retryable else None,
            retryable=retryable,
            request_id=request_id,
        )


def _api_message(err: Any) -> str:
    message = getattr(err, "api_message", None)
    if isinstance(message, str) and message.strip():
        return message.strip()
    body = getattr(err, "body", None)
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return "no details"


def _body_request_id(body: object) -> str | None:
    if isinstance(body, Mapping):
        rid = body.get("request_id")
        if isinstance(rid, str) and rid:
            return rid
    return None


def _short_cause(cause: BaseException) -> str:
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    name = type(cause).__name__
    if not text:
        return name
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{name}: {text}"
