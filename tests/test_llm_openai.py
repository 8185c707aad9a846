"""The OpenAI-compatible provider, against httpx.MockTransport (no network)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Turn
from rfpilot.core.llm.openai_provider import OpenAIProvider
from rfpilot.errors import ConfigError

BASE = "https://llm.test/v1"
KEY = "sk-test-secret-4242"


def _request(**overrides: object) -> LLMRequest:
    fields: dict[str, object] = {
        "action": "chat",
        "system": "You are rfpilot.",
        "volatile": "Ticket #42: printer offline.",
        "history": (Turn("user", "hello"), Turn("assistant", "hi, what's wrong?")),
        "message": "the spooler keeps stopping",
        "max_tokens": 321,
    }
    fields.update(overrides)
    return LLMRequest(**fields)  # type: ignore[arg-type]


def _sse(*events: object, done: bool = True) -> bytes:
    lines = []
    for event in events:
        payload = event if isinstance(event, str) else json.dumps(event)
        lines.append(f"data: {payload}\n\n")
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _chunk(content: str | None = None, *, role: str | None = None, finish: str | None = None,
           model: str = "llama3.1:8b") -> dict:
    delta: dict[str, str] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "llama3.1:8b",
    "choices": [],
    "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129,
              "prompt_tokens_details": {"cached_tokens": 64}},
}


class Recorder:
    """A MockTransport handler that remembers requests and answers with ``respond``."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def body(self) -> dict:
        return json.loads(self.requests[-1].content)


def _provider(respond: Callable[[httpx.Request], httpx.Response], *, base: str = BASE, key: str | None = KEY,
              stream: bool = True) -> tuple[OpenAIProvider, Recorder]:
    recorder = Recorder(respond)
    provider = OpenAIProvider(base, "llama3.1:8b", key, timeout=5, stream=stream,
                              transport=httpx.MockTransport(recorder))
    return provider, recorder


def _stream_response(body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


GOOD_STREAM = _sse(
    _chunk(role="assistant", content=""),
    _chunk("Restart "),
    _chunk("the spooler"),
    _chunk(" service."),
    _chunk(finish="stop"),
    USAGE_CHUNK,
)


async def _collect(provider: OpenAIProvider, request: LLMRequest | None = None) -> tuple[list[str], LLMResult]:
    chunks: list[str] = []
    results: list[LLMResult] = []
    async for part in provider.stream(request or _request()):
        if isinstance(part, LLMResult):
            results.append(part)
        else:
            chunks.append(part)
    assert len(results) == 1
    return chunks, results[0]


async def _failure(provider: OpenAIProvider) -> LLMCallError:
    with pytest.raises(LLMCallError) as info:
        await _collect(provider)
    await provider.aclose()
    return info.value


def _no_key(err: LLMCallError) -> None:
    assert KEY not in err.message
    assert KEY not in (err.hint or "")
    assert KEY not in str(err)


# -- request shape ----------------------------------------------------------------------


@pytest.mark.parametrize("base", ["https://llm.test/v1", "https://llm.test/v1/", "  https://llm.test/v1//  "])
async def test_request_shape_streaming(base: str) -> None:
    provider, rec = _provider(_stream_response(GOOD_STREAM), base=base)
    await _collect(provider)
    await provider.aclose()

    sent = rec.requests[-1]
    assert sent.method == "POST"
    assert str(sent.url) == "https://llm.test/v1/chat/completions"
    assert sent.url.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    body = rec.body
    assert body["model"] == "llama3.1:8b"
    assert body["max_tokens"] == 321
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "tools" not in body
    assert body["messages"] == [
        {"role": "system", "content": "You are rfpilot.\n\nTicket #42: printer offline."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi, what's wrong?"},
        {"role": "user", "content": "the spooler keeps stopping"},
    ]


async def test_request_without_key_or_volatile_and_not_streaming() -> None:
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    provider, rec = _provider(lambda r: httpx.Response(200, json=reply), key=None, stream=False)
    await _collect(provider, _request(volatile="", history=()))
    await provider.aclose()

    sent = rec.requests[-1]
    assert "authorization" not in sent.headers
    body = rec.body
    assert body["stream"] is False
    assert "stream_options" not in body
    assert body["messages"] == [
        {"role": "system", "content": "You are rfpilot."},
        {"role": "user", "content": "the spooler keeps stopping"},
    ]


async def test_consecutive_same_role_turns_are_merged() -> None:
    history = (
        Turn("user", "a"),
        Turn("user", "b"),
        Turn("assistant", "c"),
        Turn("assistant", "d"),
        Turn("user", "e"),
    )
    provider, rec = _provider(_stream_response(GOOD_STREAM))
    await _collect(provider, _request(history=history, volatile=""))
    await provider.aclose()
    messages = rec.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "a\n\nb"
    assert messages[2]["content"] == "c\n\nd"
    # A trailing user turn and the new message would be two user turns in a row.
    assert messages[-1]["content"] == "e\n\nthe spooler keeps stopping"
    assert messages[-1]["content"].endswith(_request().message)


def test_model_describe_and_repr_never_show_the_key() -> None:
    provider = OpenAIProvider("http://localhost:11434/v1/", "qwen2.5", KEY)
    assert provider.name == "openai"
    assert provider.model_for("chat") == "qwen2.5"
    assert provider.model_for("title") == "qwen2.5"
    assert provider.describe() == "openai-compatible qwen2.5 at http://localhost:11434/v1"
    assert KEY not in provider.describe()
    assert KEY not in repr(provider)


@pytest.mark.parametrize("base", ["localhost:11434/v1", "ftp://llm.test/v1", "", "http://", "file:///tmp/x"])
def test_non_http_base_url_is_refused(base: str) -> None:
    with pytest.raises(ConfigError) as info:
        OpenAIProvider(base, "llama3.1")
    assert "http(s)" in info.value.message
    assert "RFPILOT_OPENAI_BASE_URL" in (info.value.hint or "")


@pytest.mark.parametrize("base", ["http://gpu-box:11434/v1", "http://10.0.0.5:8000/v1", "http://[2001:db8::1]/v1",
                                  "HTTP://Ollama.LAN/v1", "http://localhost.example/v1"])
def test_plain_http_to_another_machine_is_refused_before_anything_is_sent(base: str) -> None:
    """The session's text and any key would cross the network in clear (SPEC: plain http only to loopback)."""
    with pytest.raises(ConfigError) as info:
        _provider(lambda request: pytest.fail(f"a request went out: {request.url}"), base=base)
    assert info.value.message.startswith("refused plain http:// to ")
    assert "in clear" in info.value.message and KEY not in info.value.message
    assert "ssh -N -L" in (info.value.hint or "") and "http://localhost:" in (info.value.hint or "")


@pytest.mark.parametrize("base", ["http://localhost:11434/v1", "http://127.0.0.1:8080/v1", "http://127.9.9.9/v1",
                                  "http://[::1]:11434/v1", "https://gpu-box:11434/v1", "https://10.0.0.5/v1"])
async def test_plain_http_to_this_machine_and_https_anywhere_are_taken(base: str) -> None:
    provider, rec = _provider(_stream_response(GOOD_STREAM), base=base)
    await _collect(provider)
    await provider.aclose()
    assert str(rec.requests[-1].url) == f"{base}/chat/completions"


def test_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as info:
        OpenAIProvider(f"https://user:{KEY}@llm.test/v1", "llama3.1")
    assert KEY not in info.value.message


# -- streaming --------------------------------------------------------------------------


async def test_streaming_reply_chunks_text_and_usage() -> None:
    provider, _ = _provider(_stream_response(GOOD_STREAM))
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert chunks == ["Restart ", "the spooler", " service."]
    assert result.text == "".join(chunks) == "Restart the spooler service."
    assert result.provider == "openai"
    assert result.model == "llama3.1:8b"
    assert result.stop_reason == "stop"
    assert result.usage.input_tokens == 120
    assert result.usage.output_tokens == 9
    assert result.usage.cache_read_tokens == 64
    assert result.usage.cache_write_tokens == 0


async def test_stream_tolerates_comments_events_crlf_and_missing_usage() -> None:
    body = (
        ": keep-alive\r\n\r\n"
        "event: message\r\n"
        f"data: {json.dumps(_chunk('Hel', role='assistant', model='served-name'))}\r\n\r\n"
        f"data:{json.dumps(_chunk('lo', finish='length', model='served-name'))}\r\n\r\n"
        "data: [DONE]\r\n\r\n"
    ).encode()
    provider, _ = _provider(_stream_response(body))
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert chunks == ["Hel", "lo"]
    assert result.text == "Hello"
    assert result.model == "served-name"
    assert result.stop_reason == "length"
    assert result.usage.input_tokens == 0


async def test_stream_with_finish_reason_but_no_done_is_complete() -> None:
    provider, _ = _provider(_stream_response(_sse(_chunk("done."), _chunk(finish="stop"), done=False)))
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert result.text == "done."
    assert result.stop_reason == "stop"


async def test_complete_drains_the_stream() -> None:
    provider, _ = _provider(_stream_response(GOOD_STREAM))
    result = await provider.complete(_request())
    await provider.aclose()
    assert result.text == "Restart the spooler service."


async def test_one_client_per_provider_and_aclose_twice() -> None:
    provider, rec = _provider(_stream_response(GOOD_STREAM))
    await _collect(provider)
    first = provider._client
    await _collect(provider)
    assert provider._client is first
    assert len(rec.requests) == 2
    await provider.aclose()
    await provider.aclose()
    assert provider._client is None


async def test_server_ignoring_stream_true_answers_with_json() -> None:
    reply = {"model": "m", "choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}]}
    provider, _ = _provider(lambda r: httpx.Response(200, json=reply))
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert chunks == ["whole"]
    assert result.text == "whole"


async def test_mid_stream_error_chunk() -> None:
    body = _sse(_chunk("Restart "), {"error": {"message": "model crashed: out of memory", "type": "server_error"}})
    provider, _ = _provider(_stream_response(body))
    err = await _failure(provider)
    assert "out of memory" in err.message
    assert err.retryable is True


async def test_mid_stream_error_string() -> None:
    provider, _ = _provider(_stream_response(_sse(_chunk("x"), {"error": "context overflow"})))
    err = await _failure(provider)
    assert "context overflow" in err.message


async def test_llamacpp_style_error_frame() -> None:
    body = b'error: {"code": 400, "message": "the request exceeds the available context size"}\n\n'
    provider, _ = _provider(_stream_response(body))
    err = await _failure(provider)
    assert "context size" in err.message
    assert err.retryable is False


async def test_stream_cut_off_without_done_or_finish_reason() -> None:
    provider, _ = _provider(_stream_response(_sse(_chunk("Restart "), _chunk("the"), done=False)))
    err = await _failure(provider)
    assert "cut off" in err.message
    assert err.retryable is True


class _BrokenStream(httpx.AsyncByteStream):
    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


async def test_connection_dropped_mid_stream() -> None:
    body = _sse(_chunk("Restart "), done=False)
    provider, _ = _provider(
        lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_BrokenStream(body))
    )
    err = await _failure(provider)
    assert "broke off" in err.message
    assert err.retryable is True


async def test_invalid_json_chunk() -> None:
    provider, _ = _provider(_stream_response(_sse(_chunk("a"), "{not json", _chunk(finish="stop"))))
    err = await _failure(provider)
    assert "not JSON" in err.message
    assert err.retryable is False


async def test_html_page_instead_of_stream() -> None:
    page = b"<html><body>Open WebUI</body></html>"
    provider, _ = _provider(lambda r: httpx.Response(200, headers={"content-type": "text/html"}, content=page))
    err = await _failure(provider)
    assert "/v1" in (err.hint or "")


# -- non-streaming ----------------------------------------------------------------------


async def test_non_stream_reply() -> None:
    reply = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1,
        "model": "llama3.1:8b-instruct",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Check the spooler."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 4, "total_tokens": 54,
                  "prompt_tokens_details": {"cached_tokens": 32}},
    }
    provider, rec = _provider(lambda r: httpx.Response(200, json=reply), stream=False)
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert chunks == ["Check the spooler."]
    assert result.text == "Check the spooler."
    assert result.model == "llama3.1:8b-instruct"
    assert result.stop_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cache_read_tokens) == (50, 4, 32)
    assert rec.requests[-1].headers["accept"] == "application/json"


async def test_non_stream_without_usage_uses_configured_model() -> None:
    reply = {"choices": [{"message": {"content": None}, "finish_reason": "length"}]}
    provider, _ = _provider(lambda r: httpx.Response(200, json=reply), stream=False)
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert chunks == []
    assert result.text == ""
    assert result.model == "llama3.1:8b"
    assert result.stop_reason == "length"
    assert result.usage.input_tokens == 0


# -- HTTP and transport errors ----------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_are_not_retryable_and_never_echo_the_key(status: int, stream: bool) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}}
    provider, _ = _provider(lambda r: httpx.Response(status, json=body), stream=stream)
    err = await _failure(provider)
    assert err.retryable is False
    assert str(status) in err.message
    assert "Incorrect API key" in err.message
    assert "RFPILOT_OPENAI_API_KEY" in (err.hint or "")
    assert "rfpilot keys set openai" in (err.hint or "")
    _no_key(err)


async def test_401_without_a_key_says_one_is_wanted() -> None:
    provider, _ = _provider(lambda r: httpx.Response(401, json={"error": "Unauthorized"}), key=None)
    err = await _failure(provider)
    assert "wants an API key" in err.message
    assert err.retryable is False


async def test_404_hints_at_v1_and_model() -> None:
    body = {"error": {"message": "model \"llama9\" not found, try pulling it first", "type": "api_error"}}
    provider, _ = _provider(lambda r: httpx.Response(404, json=body))
    err = await _failure(provider)
    assert err.retryable is False
    assert "404" in err.message
    assert "not found, try pulling it first" in err.message
    assert "/v1" in (err.hint or "")
    assert "model" in (err.hint or "")
    _no_key(err)


async def test_429_is_retryable() -> None:
    provider, _ = _provider(
        lambda r: httpx.Response(429, headers={"retry-after": "7"}, json={"message": "slow down"})
    )
    err = await _failure(provider)
    assert err.retryable is True
    assert "429" in err.message
    assert "slow down" in err.message
    assert "7 s" in err.message


async def test_500_is_retryable_with_detail_body() -> None:
    provider, _ = _provider(lambda r: httpx.Response(500, json={"detail": "CUDA out of memory"}))
    err = await _failure(provider)
    assert err.retryable is True
    assert "500" in err.message
    assert "CUDA out of memory" in err.message


async def test_vllm_style_flat_error_body() -> None:
    body = {"object": "error", "message": "This model's maximum context length is 8192 tokens", "code": 400}
    provider, _ = _provider(lambda r: httpx.Response(400, json=body))
    err = await _failure(provider)
    assert err.retryable is False
    assert "maximum context length" in err.message


async def test_plain_text_error_body_is_truncated() -> None:
    text = "Bad Gateway " + "x" * 1000
    provider, _ = _provider(lambda r: httpx.Response(502, text=text))
    err = await _failure(provider)
    assert err.retryable is True
    assert "Bad Gateway" in err.message
    assert len(err.message) < 450


async def test_empty_error_body() -> None:
    provider, _ = _provider(lambda r: httpx.Response(503))
    err = await _failure(provider)
    assert err.retryable is True
    assert "503" in err.message


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize("stream", [True, False])
async def test_connection_refused(stream: bool) -> None:
    provider, _ = _provider(_raise(httpx.ConnectError("[Errno 111] Connection refused")), stream=stream)
    err = await _failure(provider)
    assert err.message == f"cannot reach the model server at {BASE} ([Errno 111] Connection refused)"
    assert err.hint == "is the server running? check llm.openai.base_url / RFPILOT_OPENAI_BASE_URL"
    assert err.retryable is True
    _no_key(err)


async def test_dns_failure() -> None:
    provider, _ = _provider(_raise(httpx.ConnectError("[Errno -2] Name or service not known")))
    err = await _failure(provider)
    assert err.message.startswith("cannot reach the model server at https://llm.test/v1")
    assert "Name or service not known" in err.message


async def test_timeout() -> None:
    provider, _ = _provider(_raise(httpx.ReadTimeout("timed out")))
    err = await _failure(provider)
    assert err.retryable is True
    assert "no reply from the model server" in err.message
    assert "5 s" in err.message


async def test_real_refused_connection_without_mock() -> None:
    """A closed local port: the real transport's error maps the same way."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(f"http://127.0.0.1:{port}/v1", "m", KEY, timeout=5)
    err = await _failure(provider)
    assert err.message.startswith(f"cannot reach the model server at http://127.0.0.1:{port}/v1 (")
    assert err.retryable is True
    _no_key(err)


# -- import cost ------------------------------------------------------------------------


def test_module_import_does_not_import_httpx() -> None:
    code = (
        "import sys, rfpilot.core.llm.openai_provider\n"
        "heavy = sorted(m for m in sys.modules if m == 'httpx' or m.startswith(('httpx.', 'httpcore', 'anthropic')))\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


async def test_event_whose_json_spans_several_data_lines() -> None:
    body = (
        'data: {"model": "m", "choices": [{"index": 0,\n'
        'data:  "delta": {"content": "split"}, "finish_reason": "stop"}]}\n\n'
        "data: [DONE]\n\n"
    ).encode()
    provider, _ = _provider(_stream_response(body))
    chunks, result = await _collect(provider)
    await provider.aclose()
    assert chunks == ["split"]
    assert result.stop_reason == "stop"
