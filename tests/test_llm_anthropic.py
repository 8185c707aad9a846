"""The Anthropic provider against a mocked API (httpx2.MockTransport; no network)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from rfpilot.core.llm.anthropic_provider import AnthropicProvider, build_params
from rfpilot.core.llm.base import LLMCallError, LLMRequest, LLMResult, Turn, Usage

KEY = "test-key"
MODELS = {
    "chat": "claude-chat-test",
    "note": "claude-note-test",
    "extraction": "claude-extract-test",
    "fact_synthesis": "claude-facts-test",
    "title": "claude-title-test",
}
REPLY_PARTS = ["Check ", "the DHCP ", "scope on ", "the router."]
SYSTEM = "You are rfpilot. " * 40
VOLATILE = "Ticket #4711: printer offline at site B."


def _sse(frames: list[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in frames).encode()


def _stream_frames(model: str, parts: list[str], usage: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    frames: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"output_tokens": 1, **usage},
                },
            },
        ),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    for part in parts:
        frames.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}})
        )
    frames += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 17}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return frames


class FakeAPI:
    """A MockTransport handler that streams a fixed reply and records every request."""

    def __init__(
        self,
        parts: list[str] | None = None,
        usage: dict[str, int] | None = None,
        respond: Callable[[httpx2.Request], httpx2.Response] | None = None,
    ) -> None:
        self.parts = parts or REPLY_PARTS
        self.usage = usage or {"input_tokens": 42, "cache_read_input_tokens": 1800, "cache_creation_input_tokens": 250}
        self.respond = respond
        self.requests: list[httpx2.Request] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.respond is not None:
            return self.respond(request)
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream", "request-id": "req_stream"},
            content=_sse(_stream_frames(body["model"], self.parts, self.usage)),
        )


def make_provider(api: FakeAPI, *, timeout: float = 60) -> AnthropicProvider:
    return AnthropicProvider(
        api_key=KEY,
        models=MODELS,
        timeout=timeout,
        max_retries=0,
        base_url="http://anthropic.test",
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(api)),
    )


async def drain(provider: AnthropicProvider, request: LLMRequest) -> tuple[list[str], LLMResult]:
    chunks: list[str] = []
    results: list[LLMResult] = []
    async for part in provider.stream(request):
        if isinstance(part, LLMResult):
            results.append(part)
        else:
            assert isinstance(part, str)
            assert not results, "text after the result"
            chunks.append(part)
    assert len(results) == 1
    return chunks, results[0]


def _blocks_with_cache(body: dict[str, Any]) -> list[tuple[int, int]]:
    """(message index, block index) of every message-level cache breakpoint."""
    return [
        (i, j)
        for i, message in enumerate(body["messages"])
        for j, block in enumerate(message["content"])
        if "cache_control" in block
    ]


def _contains_key(obj: Any, key: str) -> bool:
    if isinstance(obj, dict):
        return key in obj or any(_contains_key(v, key) for v in obj.values())
    if isinstance(obj, list):
        return any(_contains_key(v, key) for v in obj)
    return False


# -- 1. request shape ----------------------------------------------------------------


async def test_request_shape_and_headers() -> None:
    api = FakeAPI()
    provider = make_provider(api)
    history = (Turn("user", "printer is offline"), Turn("assistant", "Is it pingable?"))
    try:
        await drain(
            provider,
            LLMRequest(action="chat", system=SYSTEM, volatile=VOLATILE, history=history, message="no\n\n[reminder]", max_tokens=777),
        )
        await drain(provider, LLMRequest(action="fact_synthesis", system=SYSTEM, message="summarise"))
    finally:
        await provider.aclose()

    chat_req, facts_req = api.requests
    assert chat_req.method == "POST"
    assert chat_req.url.path == "/v1/messages"
    assert chat_req.headers["authorization"] == f"Bearer {KEY}"

    chat, facts = api.bodies
    assert chat["model"] == "claude-chat-test"
    assert facts["model"] == "claude-facts-test"
    assert chat["max_tokens"] == 777
    assert chat["stream"] is True and facts["stream"] is True
    for body in (chat, facts):
        assert not _contains_key(body, "temperature")
        assert not _contains_key(body, "top_p") and not _contains_key(body, "top_k")

    # system: cached stable block, then the uncached volatile block
    assert chat["system"] == [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": VOLATILE},
    ]
    assert facts["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]

    # messages: always block lists; the breakpoint sits on the last history message only
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "user"]
    assert all(isinstance(m["content"], list) for m in chat["messages"])
    assert _blocks_with_cache(chat) == [(1, 0)]
    assert chat["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert chat["messages"][-1] == {"role": "user", "content": [{"type": "text", "text": "no\n\n[reminder]"}]}
    # no history: a single uncached user message
    assert facts["messages"] == [{"role": "user", "content": [{"type": "text", "text": "summarise"}]}]


# -- 2. streaming ----------------------------------------------------------------------


async def test_stream_yields_chunks_then_result(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeAPI()
    provider = make_provider(api)
    caplog.set_level(logging.INFO, logger="rfpilot.llm")
    try:
        chunks, result = await drain(provider, LLMRequest(action="chat", system=SYSTEM, message="hi"))
    finally:
        await provider.aclose()

    assert len(chunks) > 1
    assert "".join(chunks) == "".join(REPLY_PARTS)
    assert result.text == "".join(REPLY_PARTS)
    assert result.provider == "anthropic"
    assert result.model == "claude-chat-test"
    assert result.stop_reason == "end_turn"
    assert result.usage == Usage(input_tokens=42, output_tokens=17, cache_read_tokens=1800, cache_write_tokens=250)

    cache_logs = [r for r in caplog.records if r.name == "rfpilot.llm" and "anthropic.cache" in r.getMessage()]
    assert len(cache_logs) == 1
    assert "read=1800" in cache_logs[0].getMessage() and "write=250" in cache_logs[0].getMessage()
    assert KEY not in cache_logs[0].getMessage() and "hi" not in cache_logs[0].getMessage().split()


async def test_no_cache_log_without_cache_tokens(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeAPI(usage={"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0})
    provider = make_provider(api)
    caplog.set_level(logging.DEBUG, logger="rfpilot.llm")
    try:
        _, result = await drain(provider, LLMRequest(action="title", system=SYSTEM, message="hi"))
    finally:
        await provider.aclose()
    assert result.usage.cache_read_tokens == 0 and result.usage.cache_write_tokens == 0
    assert result.model == "claude-title-test"
    assert not [r for r in caplog.records if "anthropic.cache" in r.getMessage()]


async def test_complete_drains_the_stream() -> None:
    provider = make_provider(FakeAPI())
    try:
        result = await provider.complete(LLMRequest(action="resolution_note", system=SYSTEM, message="write"))
    finally:
        await provider.aclose()
    assert result.text == "".join(REPLY_PARTS)
    assert result.model == "claude-note-test"


async def test_client_is_reused_and_describe_hides_key() -> None:
    api = FakeAPI()
    provider = make_provider(api)
    try:
        await drain(provider, LLMRequest(action="chat", system=SYSTEM, message="one"))
        first = provider._client
        await drain(provider, LLMRequest(action="chat", system=SYSTEM, message="two"))
        assert provider._client is first
    finally:
        await provider.aclose()
        await provider.aclose()  # safe twice
    assert provider.describe() == "anthropic (claude-chat-test) at http://anthropic.test"
    assert KEY not in provider.describe() and KEY not in repr(provider)
    assert provider.model_for("escalation_package") == "claude-note-test"
    assert provider.model_for("extraction") == "claude-extract-test"


# -- 3. errors -------------------------------------------------------------------------


def _error_response(status: int, err_type: str, message: str, headers: dict[str, str] | None = None):
    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status,
            headers=headers or {},
            json={"type": "error", "error": {"type": err_type, "message": message}, "request_id": "req_1"},
        )

    return respond


def _raise(exc_factory: Callable[[httpx2.Request], Exception]):
    def respond(request: httpx2.Request) -> httpx2.Response:
        raise exc_factory(request)

    return respond


ERROR_CASES = [
    pytest.param(
        _error_response(401, "authentication_error", "invalid x-api-key"),
        False,
        ["refused the key (401)", "invalid x-api-key", "req_1"],
        "ANTHROPIC_API_KEY",
        id="401",
    ),
    pytest.param(
        _error_response(403, "permission_error", "key lacks permission"),
        False,
        ["refused the key (403)", "key lacks permission"],
        "rfpilot keys set anthropic",
        id="403",
    ),
    pytest.param(
        _error_response(404, "not_found_error", "model: claude-chat-test"),
        False,
        ["claude-chat-test", "404"],
        "llm.models.chat",
        id="404",
    ),
    pytest.param(
        _error_response(400, "invalid_request_error", "max_tokens: too large"),
        False,
        ["400", "max_tokens: too large"],
        None,
        id="400",
    ),
    pytest.param(
        _error_response(429, "rate_limit_error", "slow down", {"retry-after": "0"}),
        True,
        ["rate-limited", "HTTP 429", "slow down", "req_1"],
        "try again",
        id="429",
    ),
    pytest.param(
        _error_response(529, "overloaded_error", "Overloaded"),
        True,
        ["overloaded or failing (5xx)", "HTTP 529"],
        "try again",
        id="529",
    ),
    pytest.param(
        _error_response(500, "api_error", "Internal server error"),
        True,
        ["overloaded or failing (5xx)", "HTTP 500"],
        "try again",
        id="500",
    ),
    pytest.param(
        _raise(lambda req: httpx2.ConnectError("[Errno 111] Connection refused", request=req)),
        True,
        ["cannot reach the Anthropic API", "Connection refused"],
        "`rfpilot resolve SESSION --offline`",
        id="connect",
    ),
    pytest.param(
        _raise(lambda req: httpx2.ReadTimeout("timed out", request=req)),
        True,
        ["no reply from Anthropic within 7 s"],
        "llm.timeout",
        id="timeout",
    ),
]


@pytest.mark.parametrize(("respond", "retryable", "fragments", "hint_fragment"), ERROR_CASES)
async def test_errors_map_to_llm_call_error(
    respond: Callable[[httpx2.Request], httpx2.Response],
    retryable: bool,
    fragments: list[str],
    hint_fragment: str | None,
) -> None:
    api = FakeAPI(respond=respond)
    provider = make_provider(api, timeout=7)
    chunks: list[str] = []
    try:
        with pytest.raises(LLMCallError) as info:
            async for part in provider.stream(LLMRequest(action="chat", system=SYSTEM, message="hi")):
                chunks.append(part)  # type: ignore[arg-type]
    finally:
        await provider.aclose()
    err = info.value
    assert chunks == []
    assert err.retryable is retryable
    for fragment in fragments:
        assert fragment in err.message
    if hint_fragment is not None:
        assert err.hint and hint_fragment in err.hint
    assert KEY not in err.message and KEY not in (err.hint or "")
    assert KEY not in str(err)
    assert len(api.requests) == 1  # max_retries=0: exactly one attempt


async def test_error_event_mid_stream_is_retryable() -> None:
    def respond(request: httpx2.Request) -> httpx2.Response:
        frames = _stream_frames("claude-chat-test", ["Partial "], {"input_tokens": 3})[:4]
        frames.append(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_sse(frames))

    provider = make_provider(FakeAPI(respond=respond))
    try:
        with pytest.raises(LLMCallError) as info:
            async for _ in provider.stream(LLMRequest(action="chat", system=SYSTEM, message="hi")):
                pass
    finally:
        await provider.aclose()
    assert info.value.retryable is True
    assert "overloaded" in info.value.message and "mid-stream" in info.value.message


async def test_timeout_mid_body_is_mapped() -> None:
    """A transport error after the headers arrives as a raw httpx2 exception, not an SDK one."""

    class Body(httpx2.AsyncByteStream):
        def __init__(self, request: httpx2.Request) -> None:
            self.request = request

        async def __aiter__(self):  # type: ignore[override]
            yield _sse(_stream_frames("claude-chat-test", ["Hel", "lo"], {"input_tokens": 1})[:5])
            raise httpx2.ReadTimeout("read timed out", request=self.request)

    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Body(request))

    provider = make_provider(FakeAPI(respond=respond), timeout=7)
    chunks: list[object] = []
    try:
        with pytest.raises(LLMCallError) as info:
            async for part in provider.stream(LLMRequest(action="chat", system=SYSTEM, message="hi")):
                chunks.append(part)
    finally:
        await provider.aclose()
    assert chunks == ["Hel", "lo"]  # partial text came through; the caller discards it
    assert info.value.retryable is True
    assert "no reply from Anthropic within 7 s" in info.value.message


async def test_key_never_leaks_even_if_echoed_by_the_api() -> None:
    provider = make_provider(FakeAPI(respond=_error_response(401, "authentication_error", f"bad key {KEY}")))
    try:
        with pytest.raises(LLMCallError) as info:
            await provider.complete(LLMRequest(action="chat", system=SYSTEM, message="hi"))
    finally:
        await provider.aclose()
    assert KEY not in info.value.message
    assert info.value.retryable is False


# -- 4. cache-prefix stability ---------------------------------------------------------


def _canonical(model: str, system: list[dict[str, Any]], messages: list[dict[str, Any]]) -> str:
    """Model, system and messages serialised canonically; message breakpoints removed."""
    stripped = [
        {**m, "content": [{k: v for k, v in block.items() if k != "cache_control"} for block in m["content"]]}
        for m in messages
    ]
    return json.dumps(
        {"model": model, "system": system, "messages": stripped}, sort_keys=True, separators=(",", ":")
    )


def _cacheable_prefix(body: dict[str, Any]) -> tuple[str, int]:
    """The canonical cacheable prefix of a body and how many messages it spans."""
    breakpoints = _blocks_with_cache(body)
    k = breakpoints[-1][0] + 1 if breakpoints else 0
    return _canonical(body["model"], body["system"], body["messages"][:k]), k


async def test_cache_prefix_is_stable_across_three_turns() -> None:
    replies = [["Is the ", "printer pingable?"], ["Then check ", "the switch port."], ["Good, ", "closing."]]
    engineer = ["printer offline at site B", "no, it does not answer ping", "port was disabled, re-enabled it"]
    suffix = "\n\n[reminder: answer in the usual format]"

    api = FakeAPI()
    provider = make_provider(api)
    history: tuple[Turn, ...] = ()
    try:
        for n in range(3):
            api.parts = replies[n]
            _, result = await drain(
                provider,
                LLMRequest(
                    action="chat",
                    system=SYSTEM,
                    volatile=VOLATILE,
                    history=history,
                    message=engineer[n] + suffix,
                    turn_index=n,
                    engineer_text=engineer[n],
                ),
            )
            history = history + (Turn("user", engineer[n]), Turn("assistant", result.text))
    finally:
        await provider.aclose()

    bodies = api.bodies
    assert len(bodies) == 3
    # turn 1 has no history: no message-level breakpoint; turns 2 and 3 have exactly one,
    # on their last history message (the one before the new user message)
    assert _blocks_with_cache(bodies[0]) == []
    for body in bodies[1:]:
        assert _blocks_with_cache(body) == [(len(body["messages"]) - 2, 0)]
        assert body["messages"][-2]["role"] == "assistant"
        assert "cache_control" not in body["messages"][-1]["content"][0]
        assert suffix not in json.dumps(body["messages"][:-1])
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}

    for n in (0, 1):
        current, following = bodies[n], bodies[n + 1]
        prefix, k = _cacheable_prefix(current)
        same_elements = _canonical(following["model"], following["system"], following["messages"][:k])
        assert prefix == same_elements, f"turn {n + 1} -> {n + 2}: cached prefix changed"
        # and the following turn's cached prefix strictly extends it
        next_prefix, next_k = _cacheable_prefix(following)
        assert next_k > k

    # the system prefix (model + system blocks) is byte-identical on all three turns
    systems = {_canonical(b["model"], b["system"], []) for b in bodies}
    assert len(systems) == 1


# -- 5. build_params -------------------------------------------------------------------


def test_build_params_is_deterministic_and_merges_same_role_turns() -> None:
    request = LLMRequest(
        action="chat",
        system="sys",
        volatile="vol",
        history=(
            Turn("user", "a"),
            Turn("user", "b"),
            Turn("assistant", "c"),
            Turn("assistant", "d"),
            Turn("user", "e"),
        ),
        message="f",
        max_tokens=100,
    )
    first = build_params(request, "m")
    second = build_params(request, "m")
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first == {
        "model": "m",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "vol"},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a\n\nb"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c\n\nd"}]},
            {"role": "user", "content": [{"type": "text", "text": "e", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [{"type": "text", "text": "f"}]},
        ],
    }
    assert "temperature" not in first


def test_build_params_without_volatile_or_history() -> None:
    params = build_params(LLMRequest(action="title", system="sys", message="hi"), "m")
    assert params["system"] == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    assert params["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_build_params_keeps_a_leading_assistant_turn() -> None:
    params = build_params(
        LLMRequest(action="chat", system="sys", message="q", history=(Turn("assistant", "hello"), Turn("user", "x"))),
        "m",
    )
    assert [m["role"] for m in params["messages"]] == ["assistant", "user", "user"]
    assert _blocks_with_cache(params) == [(1, 0)]


# -- 6. import cost --------------------------------------------------------------------


def test_importing_the_provider_does_not_import_anthropic() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import rfpilot.core.llm.anthropic_provider, sys; print('anthropic' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "False"
