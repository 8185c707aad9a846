"""Each PSA's errors speak its own terms: no Autotask or HaloPSA hint talks of boards, sites or codebases (which
is what they did), and no ConnectWise hint talks of queues, zones or tenants.

The refusals are driven through each client against its fake (401, 403, 404, a status name that does not
exist, a ticket it does not have, and the ones only one PSA has), doctor's sign-in check is run against each PSA,
and the hints the core adds per PSA are checked as written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

import httpx
import pytest

from rfpilot.errors import RfpilotError
from rfpilot.psa import autotask, connectwise, halo, provider_module
from rfpilot.psa.base import PROVIDERS
from rfpilot.psa.http import RetryPolicy
from tests.fakes.autotask import FakeAutotask
from tests.fakes.connectwise import FakeConnectWise
from tests.fakes.halo import FakeHalo

# Words that belong to one PSA only (whole words, any case).
TERMS: dict[str, tuple[str, ...]] = {
    "connectwise": ("ConnectWise", "board", "boards", "site", "codebase", "company id", "member", "clientId",
                    "API keys?", "public key", "private key"),
    "autotask": ("Autotask", "queue", "queues", "zone", "zone URL", "integration code", "tracking identifier",
                 "API user", "resource", "security level", "picklist", "webservices"),
    "halo": ("HaloPSA", "Halo", "team", "teams", "tenant", "client id", "client secret", "agent", "outcome",
             "API application", "scopes?"),
}


def foreign_terms(provider: str, text: str) -> list[str]:
    return [term for other, terms in TERMS.items() if other != provider for term in terms
            if re.search(rf"\b{term}\b", text, re.IGNORECASE)]


def policy() -> RetryPolicy:
    async def sleep(delay: float) -> None:
        return None

    return RetryPolicy(sleep=sleep, jitter=lambda: 0.0)


async def collect(attempts: list[Callable[[], Awaitable[object]]]) -> list[str]:
    texts = []
    for attempt in attempts:
        with pytest.raises(RfpilotError) as caught:
            await attempt()
        texts.append(f"{caught.value.message}\nhint: {caught.value.hint or ''}")
    return texts


async def connectwise_texts() -> list[str]:
    fake = FakeConnectWise()
    fake.seed_ticket(48307)
    async with fake.build(policy(), member="jdoe") as client:
        ticket = await client.get_ticket("48307")

        def scripted(status: int) -> Callable[[], Awaitable[object]]:
            def go() -> Awaitable[object]:
                fake.error_next = (status, {"code": "Refused", "message": "refused"})
                return client.statuses(ticket)
            return go

        return await collect([scripted(401), scripted(403), scripted(404), scripted(400),
                              lambda: client.find_status(ticket, "No Such Status"),
                              lambda: client.get_ticket("99999")])


async def autotask_texts() -> list[str]:
    autotask.clear_zone_cache()
    fake = FakeAutotask()
    fake.add_ticket(42)
    values, secrets = fake.connection(resource_id="29682901")
    async with autotask.build(values, secrets, transport=fake.transport, policy=policy()) as client:
        ticket = await client.get_ticket("42")

        def scripted(status: int) -> Callable[[], Awaitable[object]]:
            def go() -> Awaitable[object]:
                fake.error_next(status, "refused", path="Tickets/query")
                return client.my_open_tickets()
            return go

        texts = await collect([scripted(401), scripted(403), scripted(404), scripted(400),
                               lambda: client.find_status(ticket, "No Such Status"),
                               lambda: client.my_open_tickets(boards=["No Such Queue"]),
                               lambda: client.get_ticket("99999")])
    autotask.clear_zone_cache()
    values["username"] = "nobody@example.com"
    async with autotask.build(values, secrets, transport=fake.transport, policy=policy()) as stranger:
        texts += await collect([stranger.whoami])
    autotask.clear_zone_cache()
    return texts


async def halo_texts() -> list[str]:
    fake = FakeHalo()
    fake.seed_ticket(4821)
    values, secrets = fake.settings_and_secrets()
    async with halo.build(values, secrets, transport=fake.transport, policy=policy(), clock=fake.clock) as client:
        ticket = await client.get_ticket("4821")

        def scripted(status: int) -> Callable[[], Awaitable[object]]:
            def go() -> Awaitable[object]:
                fake.error_next = (status, "refused", "/api/status")
                return client.statuses(ticket)
            return go

        def unknown_outcome() -> Awaitable[object]:
            fake.error_next = (400, "Outcome not found", "/api/actions")
            return client.post_note("4821", "text", "internal")

        # A single 401 only means the token expired (Halo fetches another): the refused secret is below.
        texts = await collect([scripted(403), scripted(404), scripted(400),
                               lambda: client.find_status(ticket, "No Such Status"), unknown_outcome,
                               lambda: client.get_ticket("99999")])
    wrong = dict(secrets, client_secret="wrong")
    async with halo.build(values, wrong, transport=fake.transport, policy=policy(), clock=fake.clock) as refused:
        texts += await collect([refused.whoami])
    return texts


DRIVERS = {"connectwise": connectwise_texts, "autotask": autotask_texts, "halo": halo_texts}


def test_every_psa_is_covered() -> None:
    assert set(DRIVERS) == set(TERMS) == set(PROVIDERS)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_errors_speak_only_their_own_psa(provider: str) -> None:
    texts = await DRIVERS[provider]()
    assert len(texts) >= 5
    for text in texts:
        assert foreign_terms(provider, text) == [], text
    assert any(re.search(rf"\b{term}\b", "\n".join(texts), re.IGNORECASE) for term in TERMS[provider][1:])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_hints_each_psa_declares_are_its_own(provider: str) -> None:
    hints = provider_module(provider).HINTS
    assert {401, 403, 404, "status_not_applied", "no_ticket", "no_answer"} <= set(hints)
    for hint in hints.values():
        assert foreign_terms(provider, hint) == [], hint


async def test_a_missing_ticket_names_who_may_lack_access_in_its_own_terms() -> None:
    """The "no ticket" hint was one for all PSAs and spoke of Autotask's API user on ConnectWise and HaloPSA."""
    texts = {provider: next(t for t in await DRIVERS[provider]() if " has no ticket 99999\n" in t)
             for provider in PROVIDERS}
    assert "the API member's security role may also lack access" in texts["connectwise"]
    assert "the API user may also lack access" in texts["autotask"]
    assert "the API application's agent may also lack access" in texts["halo"]


def _never_answer_connection(provider: str) -> tuple[SimpleNamespace, dict[str, str]]:
    """A connection named main to ``provider``'s fake (its settings and its secrets, as environment variables)."""
    from rfpilot.core.closeout.psa import env_var

    if provider == "connectwise":
        fake = FakeConnectWise()
        values, secrets = fake.connection()
    elif provider == "autotask":
        values, secrets = FakeAutotask().connection()
    else:
        values, secrets = FakeHalo().settings_and_secrets()
    conn = SimpleNamespace(id="conn-1", name="main", provider=provider, settings=values, is_default=True)
    return conn, {env_var("main", k): v for k, v in secrets.items()}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_doctor_speaks_of_each_psa_in_its_own_terms(provider: str, monkeypatch) -> None:
    """doctor's sign-in timeout hint said "the connection's site" (ConnectWise's word) for every PSA."""
    from rfpilot.core import doctor
    from rfpilot.core.closeout import psa

    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    conn, env = _never_answer_connection(provider)
    monkeypatch.setattr(psa, "TRANSPORTS", {provider: httpx.MockTransport(never)})
    monkeypatch.setattr(doctor, "TIMEOUT", 0.05)
    autotask.clear_zone_cache()
    part = await doctor._connection(SimpleNamespace(settings=SimpleNamespace(env=env)), conn, True)
    assert part["status"] == "fail" and "did not answer a sign-in" in (part["error"] or ""), part
    text = f"{part['error']}\nhint: {part['hint']}"
    assert foreign_terms(provider, text) == [], text
    assert provider_module(provider).HINTS["no_answer"] in text


def test_the_term_check_catches_the_old_hints() -> None:
    """What Autotask and Halo errors said before: the check must have refused it."""
    old = "check the id; a wrong site, codebase or credentials can also answer 404"
    assert foreign_terms("autotask", old) == ["site", "codebase"]
    assert foreign_terms("halo", "check the network and the connection's site") == ["site"]
    assert foreign_terms("halo", "the API user may also lack access to it") == ["API user"]
    assert foreign_terms("halo", "ticket 4821 has no status named 'X' on board '1st Line'") == ["board"]
    assert foreign_terms("connectwise", old) == []
    assert connectwise.HINTS[404] != autotask.HINTS[404] != halo.HINTS[404]
