"""What a chat turn costs the store, counted (no timings): the SQL statements and commits of one turn do not grow
with the turn number or the session's size, and the model's TLS set-up is not redone per turn.
Timings are in bench/turn.py."""

from __future__ import annotations

import json
import os
import ssl
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from rfpilot.core.engine import chat
from rfpilot.core.session import lane
from rfpilot.core.llm import tls
from rfpilot.core.llm.base import LLMRequest, LLMResult, Provider, Usage
from tests.fakes.bulk import fill

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))


class EveryTurn(Provider):
    """Replies with the same shape every turn: two questions and two checks (one of each new), a new fact."""

    name = "every-turn"

    def __init__(self) -> None:
        self.turns = 0

    def context_window(self, action: str = "chat") -> int:
        return 200_000  # room for every turn here: a fold (rare, counted in test_context_budget.py) is not a turn's cost

    async def stream(self, request: LLMRequest):
        if request.action == "title":
            text = "Outlook password prompt"
        else:
            self.turns += 1
            n = self.turns
            text = "\n".join([
                f"Reply {n}: the cached credential is the likely cause.",
                "[QUESTIONS]", json.dumps([{"text": "Is MFA on?"}, {"text": f"Does webmail prompt too ({n})?"}]),
                "[/QUESTIONS]",
                "[ACTIONS]", json.dumps([{"label": "List credentials", "command": "cmdkey /list", "description": "d"},
                                         {"label": f"Check the profile ({n})", "description": "d"}]), "[/ACTIONS]",
                "[PROMOTE]", json.dumps({"source_type": "ai_synthesis", "text": f"Observation {n}"}), "[/PROMOTE]",
            ])
        yield text
        yield LLMResult(text=text, provider=self.name, model="m", usage=Usage(10, 5), stop_reason="end_turn")


@contextmanager
def counting(ctx):
    """Statements sent to the store and commits, while the block runs."""
    seen = {"statements": 0, "commits": 0}
    engine = ctx.db.bind.sync_engine

    def statement(*_args) -> None:
        seen["statements"] += 1

    def commit(*_args) -> None:
        seen["commits"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


async def _turn(ctx, session, provider, text: str) -> dict[str, int]:
    with counting(ctx) as seen:
        await chat.send(ctx, session, text, provider)
    return dict(seen)


async def test_a_turn_costs_the_same_statements_at_turn_2_turn_50_and_in_a_big_session(ctx, session) -> None:
    provider = EveryTurn()
    first = await _turn(ctx, session, provider, "Outlook asks for the password again")
    second = await _turn(ctx, session, provider, "yes, after every restart")
    # The message is committed before the model call, the reply and everything it applies in one more commit.
    assert first["commits"] == second["commits"] == 2
    for n in range(3, 50):
        await _turn(ctx, session, provider, f"still the same ({n})")
    fiftieth = await _turn(ctx, session, provider, "and now?")
    assert fiftieth["commits"] == 2
    assert fiftieth["statements"] <= second["statements"], (second, fiftieth)
    # Rewriting the lane reads the live items and the retired ones the reply names again, not all 100 retired.
    everything = await lane.list_items(ctx, session, include_retired=True)
    assert len(everything) > 100
    emitted = [("question", [("Is MFA on?", None, None), ("Does webmail prompt too (3)?", None, None)], []),
               ("check", [("List credentials", None, "cmdkey /list")], [])]
    read = await chat._lane_items_to_rewrite(ctx, session, emitted)
    live = [i for i in everything if i.retired_at is None]
    assert {i.id for i in read} == {i.id for i in live} | {
        i.id for i in everything if i.kind == "question" and i.text == "Does webmail prompt too (3)?"}

    from rfpilot.core.session.sessions import create_session

    big = await create_session(ctx, "Printer offline after the driver update.")
    big.title = "printer"  # no title call: the comparison is turn with turn
    await fill(ctx, big, messages=1_000 * STRESS, facts=300 * STRESS)
    await _turn(ctx, big, provider, "the spooler is running")  # its lane starts empty: compare its second turn
    in_big = await _turn(ctx, big, provider, "the test page fails")
    assert in_big["commits"] == 2
    assert in_big["statements"] <= second["statements"], (second, in_big)
    # An upper bound, so a statement added to every turn is a decision: the message and the session's time (2),
    # the request's reads (4), the reply, its message's status and the lane (~5), a fact (3), usage (1).
    assert second["statements"] <= 17, second


def test_plain_http_model_servers_load_no_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    local = tls.for_url("http://127.0.0.1:11434/v1")
    assert local.cert_store_stats()["x509_ca"] == 0
    assert local.verify_mode == ssl.CERT_REQUIRED and local.check_hostname  # TLS, should it happen, fails closed
    remote = tls.for_url("https://api.example.com/v1")
    assert remote is tls.for_url("HTTPS://other.example.com/v1")  # loaded once per process
    assert remote.verify_mode == ssl.CERT_REQUIRED and remote.check_hostname
    monkeypatch.setenv("HTTP_PROXY", "https://proxy.example.com:3128")
    assert tls.for_url("http://127.0.0.1:11434/v1") is remote  # an https proxy: plain http goes over TLS


async def test_the_openai_provider_shares_the_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    from rfpilot.core.llm.openai_provider import OpenAIProvider

    built: list[object] = []
    import httpx

    real = httpx.AsyncClient

    def client(*args, **kwargs):
        built.append(kwargs.get("verify"))
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "AsyncClient", client)
    providers = [OpenAIProvider("https://models.example.com/v1", "m") for _ in range(2)]
    for provider in providers:
        provider._http()
        await provider.aclose()
    assert built[0] is built[1] is tls.verified()


@pytest.mark.parametrize("configured", ["openai", "anthropic", None])
def test_building_the_provider_reads_its_key_once(monkeypatch: pytest.MonkeyPatch, tmp_path, configured: str | None) -> None:
    """Every turn builds its provider; with the key in the OS keyring each read is a D-Bus call."""
    from rfpilot.config import load_settings
    from rfpilot.core import secrets
    from rfpilot.core.llm import get_provider

    env = {"RFPILOT_HOME": str(tmp_path), "RFPILOT_OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
           "RFPILOT_OPENAI_MODEL": "llama3.1"}
    if configured:
        env["RFPILOT_LLM_PROVIDER"] = configured
    reads: list[str] = []

    def lookup(name: str, _env=None) -> secrets.KeyLookup:
        reads.append(name)
        return secrets.KeyLookup("k-placeholder", "keyring (test)", None)

    monkeypatch.setattr(secrets, "lookup", lookup)
    provider = get_provider(load_settings(env=env))
    assert provider.name == (configured or "anthropic")
    assert reads == [provider.name]
