"""OpenAI-compatible chat completions over plain httpx (Ollama, llama.cpp, vLLM, …).

One endpoint, ``POST {base_url}/chat/completions``, streamed as server-sent
events (``data: {chunk}`` lines ending in ``data: [DONE]``) or answered whole.
Local servers differ in the details (error bodies, whether usage is sent,
whether the stream ends in ``[DONE]``), so everything read from the wire is
parsed leniently, and every failure becomes an ``LLMCallError`` whose message
names the server but never the API key.

httpx is imported inside the methods: importing this module costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from rfpilot.core.llm import tls
from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Provider, Turn, Usage
from rfpilot.errors import ConfigError, LLMUnavailableError
from rfpilot.transport import model_server_refusal

BASE_URL_HINT = "is the server running? check llm.openai.base_url / RFPILOT_OPENAI_BASE_URL"
KEY_HINT = "set RFPILOT_OPENAI_API_KEY, or store one with `rfpilot keys set openai`"
ERROR_BODY_LIMIT = 300


class OpenAIProvider(Provider):
    """A provider for any server speaking the OpenAI ``/v1/chat/completions`` dialect."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        stream: bool = True,
        transport: Any = None,
    ) -> None:
        self.base_url = _normalise_base_url(base_url)
        self.model = str(model).strip()
        if not self.model:
            raise LLMUnavailableError(
                "the openai provider needs a model name",
                hint="set RFPILOT_OPENAI_MODEL or llm.openai.model (a model the server knows, e.g. llama3.1)",
            )
        self._api_key = api_key or None
        self.timeout = float(timeout)
        # Not ``self.stream``: that name is the method.
        self.streaming = bool(stream)
        self._transport = transport
        self._client: Any = None  # httpx.AsyncClient, created on first call

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    def model_for(self, action: str) -> str | None:
        return self.model

    def describe(self) -> str:
        return f"openai-compatible {self.model} at {self.base_url}"

    def __repr__(self) -> str:  # never the key
        key = "set" if self._api_key else "none"
        return f"OpenAIProvider(base_url={self.base_url!r}, model={self.model!r}, key={key})"

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- request -------------------------------------------------------------------------

    def build_body(self, request: LLMRequest) -> dict[str, Any]:
        """The JSON body for ``request`` (public so tests and ``doctor`` can look at it)."""
        messages: list[dict[str, str]] = []
        system = "\n\n".join(part for part in (request.system, request.volatile) if part)
        if system:
            messages.append({"role": "system", "content": system})
        turns = [*request.history, Turn("user", request.message)]
        for turn in turns:
            # Many chat templates (llama.cpp, vLLM with Mistral/Llama templates) refuse
            # two turns of the same role in a row, so consecutive ones are merged; this
            # includes a trailing user turn in the history and the new message.
            if len(messages) > 1 and messages[-1]["role"] == turn.role:
                messages[-1]["content"] += "\n\n" + turn.content
            else:
                messages.append({"role": turn.role, "content": turn.content})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "stream": self.streaming,
        }
        if self.streaming:
            body["stream_options"] = {"include_usage": True}
        return body

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            from rfpilot import __version__

            headers = {"User-Agent": f"rfpilot/{__version__}"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                headers=headers,
                transport=self._transport,
                verify=tls.for_url(self.base_url),  # the CA bundle once per process, none for plain http
            )
        return self._client

    # -- calls ---------------------------------------------------------------------------

    async def stream(self, request: LLMRequest) -> AsyncIterator[str | LLMResult]:
        import httpx

        client = self._http()
        body = self.build_body(request)
        accept = "text/event-stream" if self.streaming else "application/json"
        try:
            async with client.stream("POST", self.endpoint, json=body, headers={"Accept": accept}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                content_type = response.headers.get("content-type", "")
                if not self.streaming or "application/json" in content_type:
                    # Asked not to stream, or a server that ignored ``stream: true``.
                    await response.aread()
                    result = self._whole_result(response.content)
                    if result.text:
                        yield result.text
                    yield result
                    return
                async for part in self._read_events(response):
                    yield part
        except httpx.TimeoutException as exc:
            raise LLMCallError(
                self._redact(f"no reply from the model server at {self.base_url} within {self.timeout:g} s"
                             f" ({_cause(exc)})"),
                hint="a large local model may need longer: raise llm.timeout, or check the server's load",
                retryable=True,
            ) from None
        except httpx.ConnectError as exc:  # refused, DNS failure, unreachable network
            raise LLMCallError(
                self._redact(f"cannot reach the model server at {self.base_url} ({_cause(exc)})"),
                hint=BASE_URL_HINT,
                retryable=True,
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise LLMCallError(
                self._redact(f"the model server at {self.base_url} broke off the connection ({_cause(exc)})"),
                hint=BASE_URL_HINT,
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:  # anything else httpx can raise (proxy, protocol, …)
            raise LLMCallError(
                self._redact(f"the call to the model server at {self.base_url} failed ({_cause(exc)})"),
                hint=BASE_URL_HINT,
                retryable=True,
            ) from None

    async def _read_events(self, response: Any) -> AsyncIterator[str | LLMResult]:
        """Turn an SSE body into text chunks and one final result."""
        parts: list[str] = []
        model: str | None = None
        usage = Usage()
        finish_reason: str | None = None
        done = False
        saw_data = False
        pending: list[str] = []  # data lines of an event that is not complete JSON yet

        def decode(payload: str) -> Any:
            try:
                return json.loads(payload)
            except ValueError:
                return _INVALID

        async for raw in response.aiter_lines():
            line = raw.rstrip("\r")
            if not line:
                if pending:
                    # The event ended and its data is still not JSON. Not retryable: a server
                    # (or a proxy in front of it) that sends malformed frames will most likely
                    # send them again, and repeating the call would only hide the problem.
                    raise self._bad_frame("\n".join(pending))
                continue
            if line.startswith(":"):  # SSE comment / keep-alive
                continue
            field, sep, value = line.partition(":")
            if not sep:
                field, value = "", line
            value = value[1:] if value.startswith(" ") else value
            if field == "error":  # an `error: {...}` frame (some llama.cpp builds)
                parsed = decode(value)
                raise self._chunk_error(value if parsed is _INVALID else parsed)
            if field in ("event", "id", "retry"):
                continue
            if field != "data":
                if line.lstrip().startswith("{"):
                    value = line  # a bare JSON line (some proxies drop the `data:` prefix)
                else:
                    continue
            if value.strip() == "[DONE]":
                if pending:
                    raise self._bad_frame("\n".join(pending))
                done = True
                break
            saw_data = True
            pending.append(value)
            chunk = decode("\n".join(pending))
            if chunk is _INVALID:
                # Either a frame spread over several data lines (valid SSE) or garbage;
                # wait for more lines or the blank line that ends the event.
                if len(pending) == 1:
                    continue
                alone = decode(value)
                if alone is _INVALID:
                    continue
                # The earlier lines were garbage and this line stands alone.
                raise self._bad_frame(pending[0])
            pending.clear()
            if not isinstance(chunk, dict):
                raise self._bad_frame(value)
            if chunk.get("error"):
                raise self._chunk_error(chunk["error"])
            if isinstance(chunk.get("model"), str) and chunk["model"]:
                model = chunk["model"]
            if isinstance(chunk.get("usage"), dict):
                usage = _usage(chunk["usage"])
            choice = _first_choice(chunk.get("choices"))
            if choice is None:
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):  # a few servers send `message` in stream chunks
                delta = sent if isinstance(sent := choice.get("message"), dict) else {}
            fragment = delta.get("content")
            if isinstance(fragment, str) and fragment:
                parts.append(fragment)
                yield fragment
            if choice.get("finish_reason"):
                finish_reason = str(choice["finish_reason"])

        if not done and finish_reason is None:
            if not saw_data:
                raise LLMCallError(
                    f"the model server at {self.base_url} answered without a completion stream",
                    hint="the base URL should be the server's OpenAI-compatible root ending in /v1,"
                    " e.g. http://localhost:11434/v1",
                    retryable=True,
                )
            raise LLMCallError(
                f"the reply from the model server at {self.base_url} was cut off before it finished",
                hint=BASE_URL_HINT,
                retryable=True,
            )
        yield LLMResult("".join(parts), provider=self.name, model=model or self.model, usage=usage,
                        stop_reason=finish_reason)

    def _whole_result(self, content: bytes) -> LLMResult:
        """Parse a non-streamed ``chat.completion`` body."""
        try:
            data = json.loads(content)
        except ValueError:
            raise self._bad_frame(content.decode("utf-8", "replace")) from None
        if not isinstance(data, dict):
            raise self._bad_frame(content.decode("utf-8", "replace"))
        if data.get("error"):
            raise self._chunk_error(data["error"])
        choice = _first_choice(data.get("choices"))
        if choice is None:
            raise LLMCallError(
                f"the model server at {self.base_url} answered without any choices",
                hint="check that the model name exists on the server",
                retryable=True,
            )
        message = sent if isinstance(sent := choice.get("message"), dict) else {}
        text = message.get("content")
        finish = choice.get("finish_reason")
        model = data.get("model") if isinstance(data.get("model"), str) and data.get("model") else self.model
        usage = _usage(data["usage"]) if isinstance(data.get("usage"), dict) else Usage()
        return LLMResult(text if isinstance(text, str) else "", provider=self.name, model=model, usage=usage,
                         stop_reason=str(finish) if finish else None)

    # -- errors --------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        return text

    def _status_error(self, response: Any) -> LLMCallError:
        status = response.status_code
        detail = self._redact(_error_text(response.content))
        said = f": {detail}" if detail else ""
        where = f"the model server at {self.base_url}"
        if status in (401, 403):
            if self._api_key:
                message = f"{where} refused the API key ({status}){said}"
            else:
                message = f"{where} wants an API key ({status}){said}"
            return LLMCallError(message, hint=KEY_HINT, retryable=False)
        if status == 404:
            return LLMCallError(
                f"{where} answered 404 for {self.endpoint} (model {self.model!r}){said}",
                hint="the base URL should end in /v1 (e.g. http://localhost:11434/v1), and the model name"
                " must exist on the server (llm.openai.model / RFPILOT_OPENAI_MODEL)",
                retryable=False,
            )
        if status == 429:
            wait = response.headers.get("retry-after")
            after = f"; retry after {wait} s" if wait and wait.strip().isdigit() else ""
            return LLMCallError(f"{where} is rate limiting requests (429){said}{after}",
                                hint="wait a moment and try again", retryable=True)
        if status >= 500:
            return LLMCallError(f"{where} failed ({status}){said}",
                                hint="the server may be overloaded or still loading the model; try again",
                                retryable=True)
        if status == 408:
            return LLMCallError(f"{where} timed out the request (408){said}", hint=BASE_URL_HINT, retryable=True)
        return LLMCallError(
            f"{where} rejected the request ({status}){said}",
            hint="the conversation may be longer than the model's context window, or max_tokens too large",
            retryable=False,
        )

    def _chunk_error(self, error: Any) -> LLMCallError:
        """An ``{"error": …}`` object sent in place of a completion (mid-stream or whole)."""
        detail = self._redact(_describe_error(error)) or "unknown error"
        retryable = True
        if isinstance(error, dict):
            given: Any = error.get("code")  # a number, a numeric string, or anything else (no code)
            code: int | None
            try:
                code = int(given)
            except (TypeError, ValueError):
                code = None
            if code is not None and 400 <= code < 500 and code not in (408, 429):
                retryable = False
        return LLMCallError(f"the model server at {self.base_url} reported an error: {detail}",
                            hint="try again; if it persists, check the server's log", retryable=retryable)

    def _bad_frame(self, payload: str) -> LLMCallError:
        return LLMCallError(
            self._redact(f"the model server at {self.base_url} sent something that is not JSON:"
                         f" {_truncate(payload)!r}"),
            hint="the base URL should point at an OpenAI-compatible API ending in /v1",
            retryable=False,
        )


class _Invalid:
    pass


_INVALID = _Invalid()


def _normalise_base_url(base_url: str) -> str:
    url = str(base_url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"the openai provider's base URL must be an http(s) URL, not {url!r}",
            hint="set llm.openai.base_url / RFPILOT_OPENAI_BASE_URL to e.g. http://localhost:11434/v1",
        )
    if parts.username or parts.password:
        raise ConfigError(
            "the openai provider's base URL must not carry credentials",
            hint="put the key in RFPILOT_OPENAI_API_KEY or `rfpilot keys set openai`",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            f"the openai provider's base URL must not have a query or fragment: {url!r}",
            hint="use the server's API root, e.g. http://localhost:11434/v1",
        )
    refusal = model_server_refusal(url)  # the one rule of where a session's text may go (rfpilot.transport)
    if refusal is not None:
        raise ConfigError(refusal[0], hint=refusal[1])
    return url


def _first_choice(choices: Any) -> dict[str, Any] | None:
    if not isinstance(choices, list) or not choices:
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return choices[0] if isinstance(choices[0], dict) else None


def _int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _usage(raw: dict[str, Any]) -> Usage:
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=_int(raw.get("prompt_tokens")),
        output_tokens=_int(raw.get("completion_tokens")),
        cache_read_tokens=_int(cached),
    )


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > ERROR_BODY_LIMIT:
        return text[: ERROR_BODY_LIMIT - 1] + "…"
    return text


def _describe_error(error: Any) -> str:
    """The human part of an error object, whatever its shape."""
    if isinstance(error, str):
        return _truncate(error)
    if isinstance(error, dict):
        for key in ("message", "error", "detail", "msg"):
            if key in error and error[key]:
                return _describe_error(error[key])
        return _truncate(json.dumps(error))
    if isinstance(error, list):
        # FastAPI/pydantic validation errors: [{"loc": …, "msg": …}, …]
        return _truncate("; ".join(_describe_error(item) for item in error if item))
    if error is None:
        return ""
    return _truncate(str(error))


def _error_text(content: bytes) -> str:
    """An HTTP error body, reduced to one short line: JSON in any common shape, or text."""
    text = content.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return _truncate(text)
    return _describe_error(data)


def _cause(exc: BaseException) -> str:
    text = str(exc).strip()
    return _truncate(text) if text else type(exc).__name__
