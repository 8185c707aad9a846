"""HaloPSA client contract tests against the stateful fake in tests/fakes/halo.py (reference psa-llm.md §3)."""

from __future__ import annotations

import logging
from datetime import datetime

import httpx
import pytest

from rfpilot.psa import provider_module
from rfpilot.psa.errors import PSARequestError, PSAStatusNotFound, PSAUnavailableError
from rfpilot.psa.halo import DISPLAY_NAME, FIELDS, REF_PREFIX, HaloClient, build, halo_error_message
from rfpilot.psa.http import RetryPolicy
from tests.fakes.halo import FakeHalo


class Sleeps:
    """A RetryPolicy sleep that records the delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def fake() -> FakeHalo:
    fake = FakeHalo()
    fake.seed_ticket(
        4821, summary="Outlook keeps asking for a password", details="Since Monday, on the user's laptop.",
        status_id=2, team="1st Line Support", team_id=2, client_name="Contoso Ltd", user_name="Pat Smith",
        agent_id=7, priority_id=2, lastactiondate="2024-05-16T09:30:00",
    )
    fake.seed_action(4821, "Ticket logged by phone", hidden=False)
    fake.seed_action(4821, "SLA timer started", system=True, who="System")
    fake.seed_action(4821, "Checked the credential manager", hidden=True)
    fake.assets[4821] = [
        {"id": 301, "inventory_number": "LT-0042", "key_field": "CONTOSO-LT42", "assettype_name": "Laptop"},
        {"id": 302, "inventory_number": "", "key_field": "M365 E3", "assettype_name": "Licence"},
    ]
    return fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make(fake: FakeHalo, sleeps: Sleeps | None = None, **settings: str) -> HaloClient:
    values, secrets = fake.settings_and_secrets(**settings)
    policy = RetryPolicy(sleep=sleeps or Sleeps(), jitter=lambda: 0.5)
    return build(values, secrets, transport=fake.transport, policy=policy, clock=fake.clock)


# --- module surface ------------------------------------------------------------------------------------------


def test_module_surface_and_registry() -> None:
    module = provider_module("halo")
    assert module.DISPLAY_NAME == DISPLAY_NAME == "HaloPSA"
    assert module.REF_PREFIX == REF_PREFIX == "Halo"
    by_name = {f.name: f for f in FIELDS}
    assert set(by_name) == {"url", "tenant", "agent_id", "team", "outcome_public", "outcome_private",
                            "client_id", "client_secret"}
    assert by_name["client_secret"].secret and by_name["client_id"].secret
    assert not any(by_name[n].secret for n in ("url", "tenant", "agent_id", "team"))
    assert by_name["url"].required and not by_name["tenant"].required
    assert by_name["outcome_public"].default == "Note"
    assert by_name["outcome_private"].default == "Private Note"


async def test_build_strips_the_url_and_needs_credentials(fake: FakeHalo) -> None:
    client = build({"url": "https://acme.halopsa.com/", "tenant": ""}, {"client_id": "a", "client_secret": "b"})
    assert client.url == "https://acme.halopsa.com" and client.tenant is None
    await client.aclose()
    with pytest.raises(Exception, match="client ID and a client secret"):
        build({"url": "https://acme.halopsa.com"}, {"client_id": "a"})


# --- 1. auth -------------------------------------------------------------------------------------------------


async def test_client_credentials_flow_and_bearer_on_every_call(fake: FakeHalo) -> None:
    async with make(fake) as client:
        me = await client.whoami()
        await client.get_ticket("4821")
        await client.recent_notes("4821")
    assert (me.id, me.name, me.email) == ("7", "Jamie Doe", "jamie@acme.example")

    first, token = fake.requests[0], fake.requests[1]
    assert (first.method, first.path) == ("GET", "/api/authinfo")
    assert "authorization" not in first.headers
    assert (token.method, token.path, token.query) == ("POST", "/auth/token", {})
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.form == {"grant_type": "client_credentials", "client_id": fake.client_id,
                          "client_secret": fake.client_secret, "scope": "all"}
    api = fake.api_requests()
    assert api and all(r.headers["authorization"].startswith("Bearer tok-") for r in api)
    assert fake.tokens_issued == 1  # cached across calls


async def test_unauthenticated_requests_are_refused_by_the_fake(fake: FakeHalo) -> None:
    async with httpx.AsyncClient(transport=fake.transport, base_url=fake.url) as raw:
        assert (await raw.get("/api/Tickets/4821")).status_code == 401
        bad = await raw.get("/api/Tickets/4821", headers={"Authorization": "Bearer made-up"})
        assert bad.status_code == 401
        assert (await raw.get("/api/authinfo")).status_code == 200


async def test_tenant_goes_on_the_token_url(fake: FakeHalo) -> None:
    fake.tenant = "acme"
    async with make(fake) as client:
        await client.whoami()
    assert fake.token_requests[0].query == {"tenant": "acme"}


async def test_tenant_reported_by_authinfo_is_used_when_none_is_configured(fake: FakeHalo) -> None:
    fake.tenant = fake.authinfo_tenant = "acme-hosted"
    values, secrets = fake.settings_and_secrets()
    values.pop("tenant")
    async with build(values, secrets, transport=fake.transport, clock=fake.clock) as client:
        await client.whoami()
    assert fake.token_requests[0].query == {"tenant": "acme-hosted"}


async def test_falls_back_to_auth_token_when_authinfo_is_missing(fake: FakeHalo) -> None:
    fake.authinfo = False
    fake.tenant = "acme"
    async with make(fake) as client:
        await client.whoami()
    paths = [(r.method, r.path, r.query) for r in fake.requests[:3]]
    assert paths == [("GET", "/api/authinfo", {}), ("POST", "/auth/token", {"tenant": "acme"}),
                     ("GET", "/api/Agent/me", {})]


async def test_falls_back_when_authinfo_is_not_json(fake: FakeHalo) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/authinfo":
            return httpx.Response(200, text="<html>Halo</html>")
        return fake.handle(request)

    values, secrets = fake.settings_and_secrets()
    async with build(values, secrets, transport=httpx.MockTransport(handler), clock=fake.clock) as client:
        await client.whoami()
    assert fake.token_requests[0].path == "/auth/token"


async def test_token_is_renewed_before_it_expires(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.whoami()
        fake.now += 3550  # within the last minute of a 3600 s token
        await client.whoami()
        assert fake.tokens_issued == 2
        fake.now += 100
        await client.whoami()
    assert fake.tokens_issued == 2
    assert all(r.method != "GET" or r.path != "/api/authinfo" for r in fake.requests[1:])  # looked up once
    assert [r.path for r in fake.api_requests()] == ["/api/Agent/me"] * 3  # no 401 was ever needed


async def test_a_401_re_authenticates_once(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.whoami()
        fake.expire_tokens = True
        note = await client.post_note("4821", "Rebuilt the Outlook profile.", "internal")
    assert note.id
    assert fake.tokens_issued == 2
    assert len(fake.api_requests("POST", "/api/Actions")) == 2  # the refused one, then the real one
    assert len(fake.actions[4821]) == 4  # posted once


async def test_a_second_401_gives_up_with_a_clear_message(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.whoami()
        fake.error_next = (401, "Unauthorized")
        fake.expire_tokens = True
        with pytest.raises(PSARequestError) as caught:
            await client.get_ticket("4821")
    assert caught.value.status_code == 401
    assert "fresh access token" in caught.value.message
    assert "client ID and secret" in (caught.value.hint or "")


async def test_refused_credentials(fake: FakeHalo) -> None:
    values, secrets = fake.settings_and_secrets()
    secrets["client_secret"] = "wrong-secret-value-123"
    async with build(values, secrets, transport=fake.transport, policy=RetryPolicy(sleep=Sleeps())) as client:
        with pytest.raises(PSARequestError) as caught:
            await client.whoami()
    err = caught.value
    assert err.status_code == 401
    assert err.message == "HaloPSA refused the credentials: Client authentication failed (invalid_client)"
    assert "client ID and secret" in (err.hint or "")
    assert "wrong-secret-value-123" not in err.message + (err.hint or "")
    assert len(fake.token_requests) == 1 and not fake.api_requests()


# --- 2. paths and bodies ----------------------------------------------------------------------------------------


async def test_get_ticket(fake: FakeHalo) -> None:
    async with make(fake) as client:
        ticket = await client.get_ticket("4821")
    get = fake.api_requests("GET", "/api/Tickets/4821")
    assert len(get) == 1 and get[0].query == {"includedetails": "true"}
    assert ticket.id == "4821"
    assert ticket.summary == "Outlook keeps asking for a password"
    assert (ticket.status_id, ticket.status_name, ticket.closed) == ("2", "In Progress", False)
    assert (ticket.board_id, ticket.board_name) == ("2", "1st Line Support")
    assert (ticket.company, ticket.contact, ticket.priority) == ("Contoso Ltd", "Pat Smith", "2")
    assert ticket.owner == "Jamie Doe"
    assert ticket.description == "Since Monday, on the user's laptop."
    assert ticket.updated_at == datetime(2024, 5, 16, 9, 30)
    assert [r.path for r in fake.api_requests()] == ["/api/Tickets/4821", "/api/Status", "/api/Agent/7"]


async def test_get_ticket_is_never_cached_and_sees_closed(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.get_ticket("4821")
        fake.tickets[4821]["status_id"] = 9
        ticket = await client.get_ticket("4821")
    assert (ticket.status_name, ticket.closed) == ("Closed", True)
    assert len(fake.api_requests("GET", "/api/Tickets/4821")) == 2
    assert len(fake.api_requests("GET", "/api/Agent/7")) == 1  # agent names are looked up once


async def test_get_ticket_without_team_uses_the_ticket_type(fake: FakeHalo) -> None:
    fake.seed_ticket(77, team=None, team_id=None, tickettype_id=3, tickettype_name="Service Request")
    async with make(fake) as client:
        ticket = await client.get_ticket("77")
    assert (ticket.board_id, ticket.board_name) == ("3", "Service Request")


async def test_bad_ticket_ids(fake: FakeHalo) -> None:
    """A malformed id is usage (exit 1, nothing sent); a ticket Halo does not have is not found (exit 2), whether
    Halo answers 404 or an empty ticket."""
    from rfpilot.errors import UsageError
    from rfpilot.psa.errors import TicketNotFound

    async with make(fake) as client:
        for bad in ("abc", "0", "-3", "4.5"):
            with pytest.raises(UsageError, match="not a HaloPSA ticket number"):
                await client.get_ticket(bad)
        assert fake.api_requests("GET", "/api/Tickets/abc") == []
        with pytest.raises(TicketNotFound) as caught:
            await client.get_ticket("999")
        assert caught.value.exit_code == 2 and caught.value.message == "HaloPSA has no ticket 999"
        fake.error_next = (200, {"id": 0, "summary": None})
        with pytest.raises(TicketNotFound):
            await client.ticket_context("998")


async def test_ticket_context(fake: FakeHalo) -> None:
    async with make(fake) as client:
        context = await client.ticket_context("4821", notes=5)
    assert context.ticket.id == "4821"
    actions = fake.api_requests("GET", "/api/Actions")
    assert actions[0].query == {"ticket_id": "4821", "count": "5", "excludesys": "true"}
    assets = fake.api_requests("GET", "/api/Asset")
    assert assets[0].query == {"ticket_id": "4821"}
    assert [n.text for n in context.notes] == ["Checked the credential manager", "Ticket logged by phone"]
    assert context.configurations == ["LT-0042 / CONTOSO-LT42 (Laptop)", "M365 E3 (Licence)"]


async def test_ticket_context_without_asset_permission(fake: FakeHalo) -> None:
    fake.error_next = (403, {"message": "You do not have permission to view assets"}, "/api/Asset")
    async with make(fake) as client:
        context = await client.ticket_context("4821", notes=0)
    assert context.ticket.id == "4821" and context.notes == [] and context.configurations == []
    assert not fake.api_requests("GET", "/api/Actions")
    assert fake.error_next is None  # the asset call did get the 403


async def test_my_open_tickets_filters(fake: FakeHalo) -> None:
    fake.seed_ticket(5000, agent_id=7, status_id=9)  # closed: not listed
    fake.seed_ticket(5001, agent_id=5)  # someone else's
    fake.seed_ticket(5002, agent_id=7, team="2nd Line", team_id=3)
    async with make(fake) as client:
        tickets = await client.my_open_tickets(limit=10)
    listed = fake.api_requests("GET", "/api/Tickets")
    assert listed[0].query == {"agent_id": "7", "open_only": "true", "order": "id", "orderdesc": "true",
                               "pageinate": "true", "page_size": "10", "page_no": "1"}
    assert [t.id for t in tickets] == ["5002", "4821"]  # newest first
    assert [t.owner for t in tickets] == ["Jamie Doe", "Jamie Doe"]
    assert [t.board_name for t in tickets] == ["2nd Line", "1st Line Support"]
    assert len(fake.api_requests("GET", "/api/Agent/me")) == 1  # "my" = the API application's agent


async def test_my_open_tickets_with_settings_and_boards(fake: FakeHalo) -> None:
    fake.seed_ticket(5002, agent_id=5, team="2nd Line", team_id=3)
    fake.seed_ticket(5003, agent_id=5, team="1st Line Support", team_id=2)
    async with make(fake, agent_id="5", team="3") as client:
        tickets = await client.my_open_tickets()
        assert [t.id for t in tickets] == ["5002"]
        by_name = await client.my_open_tickets(boards=["1st line support"])
        assert [t.id for t in by_name] == ["5003"]
        other = await client.my_open_tickets(member="7", boards=[])
        assert [t.id for t in other] == ["4821"]
    queries = [r.query for r in fake.api_requests("GET", "/api/Tickets")]
    assert queries[0]["agent_id"] == "5" and queries[0]["team"] == "3" and queries[0]["page_size"] == "50"
    assert "team" not in queries[1]  # a team name is matched on the ticket's team
    assert queries[2]["agent_id"] == "7" and "team" not in queries[2]
    assert not fake.api_requests("GET", "/api/Agent/me")


async def test_statuses(fake: FakeHalo) -> None:
    async with make(fake) as client:
        ticket = await client.get_ticket("4821")
        statuses = await client.statuses(ticket)
    assert [(s.id, s.name, s.closed) for s in statuses] == [
        ("1", "New", False), ("2", "In Progress", False), ("4", "With User", False), ("9", "Closed", True),
        ("21", "Awaiting Parts", False)]
    assert len(fake.api_requests("GET", "/api/Status")) == 2  # statuses() always reads afresh


async def test_closed_by_name_or_type_not_by_id(fake: FakeHalo) -> None:
    fake.statuses = [{"id": 9, "name": "Waiting on parts"}, {"id": 21, "name": "Resolved"},
                     {"id": 22, "name": "Done", "type": "Closed"}]
    async with make(fake) as client:
        statuses = await client.statuses(await client.get_ticket("4821"))
    assert [s.closed for s in statuses] == [False, True, True]


@pytest.mark.parametrize(
    ("kind", "outcome", "hidden"),
    [("resolution", "Note", False), ("discussion", "Note", False), ("internal", "Private Note", True)],
)
async def test_post_note_bodies(fake: FakeHalo, kind: str, outcome: str, hidden: bool) -> None:
    async with make(fake) as client:
        text = "Rebuilt the Outlook profile; signed in fine."
        note = await client.post_note("4821", text, kind)  # type: ignore[arg-type]
    (post,) = fake.api_requests("POST", "/api/Actions")
    assert post.json == [{"ticket_id": 4821, "outcome": outcome, "note": "Rebuilt the Outlook profile; signed in fine.",
                          "hiddenfromuser": hidden, "sendemail": False}]
    stored = fake.actions[4821][-1]
    assert note.id == str(stored["id"]) == "4"
    assert note.kind == kind and note.text == "Rebuilt the Outlook profile; signed in fine."
    assert note.author == "7" and note.author_name == "Jamie Doe"


async def test_post_note_uses_the_configured_outcomes(fake: FakeHalo) -> None:
    async with make(fake, outcome_public="Update User", outcome_private="Tech Note") as client:
        await client.post_note("4821", "public", "resolution")
        await client.post_note("4821", "private", "internal")
    bodies = [r.json[0] for r in fake.api_requests("POST", "/api/Actions")]
    assert [(b["outcome"], b["hiddenfromuser"]) for b in bodies] == [("Update User", False), ("Tech Note", True)]


async def test_set_status_body(fake: FakeHalo) -> None:
    async with make(fake) as client:
        ticket = await client.get_ticket("4821")
        closed = await client.find_status(ticket, "closed")
        await client.set_status(ticket, closed)
        after = await client.get_ticket("4821")
    (post,) = fake.api_requests("POST", "/api/Tickets")
    assert post.json == [{"id": 4821, "status_id": 9}]
    assert (after.status_name, after.closed) == ("Closed", True)


async def test_set_status_does_not_verify(fake: FakeHalo) -> None:
    fake.keep_old_status = True
    async with make(fake) as client:
        ticket = await client.get_ticket("4821")
        await client.set_status(ticket, await client.find_status(ticket, "Closed"))  # no error
        after = await client.get_ticket("4821")
    assert after.status_name == "In Progress"


async def test_set_status_is_retried_after_a_500(fake: FakeHalo, sleeps: Sleeps) -> None:
    async with make(fake, sleeps) as client:
        ticket = await client.get_ticket("4821")
        with_user = await client.find_status(ticket, "With User")
        fake.error_next = (500, "Object reference not set to an instance of an object.")
        await client.set_status(ticket, with_user)
    assert len(fake.api_requests("POST", "/api/Tickets")) == 2
    assert fake.tickets[4821]["status_id"] == 4
    assert sleeps.delays == [0.25]


async def test_recent_notes(fake: FakeHalo) -> None:
    async with make(fake) as client:
        notes = await client.recent_notes("4821", limit=1)
        every = await client.recent_notes("4821")
    queries = [r.query for r in fake.api_requests("GET", "/api/Actions")]
    assert queries == [{"ticket_id": "4821", "count": "1", "excludesys": "true"},
                       {"ticket_id": "4821", "count": "25", "excludesys": "true"}]
    assert [(n.id, n.kind) for n in notes] == [("3", "internal")]
    assert [(n.id, n.kind, n.author_name) for n in every] == [("3", "internal", "Jamie Doe"),
                                                              ("1", "discussion", "Jamie Doe")]
    assert every[0].created_at is not None and every[0].created_at > every[1].created_at  # type: ignore[operator]


async def test_time_entry(fake: FakeHalo) -> None:
    async with make(fake) as client:
        entry = await client.create_time_entry("4821", datetime(2024, 5, 16, 10, 0), 1.25, "Troubleshooting Outlook")
    (post,) = fake.api_requests("POST", "/api/Actions")
    assert post.json == [{"ticket_id": 4821, "outcome": "Private Note", "note": "Troubleshooting Outlook",
                          "timetaken": 1.25, "hiddenfromuser": True, "sendemail": False}]
    assert (entry.id, entry.hours) == ("4", 1.25)
    assert fake.actions[4821][-1]["timetaken"] == 1.25


# --- 3. pagination -------------------------------------------------------------------------------------------------


async def test_my_open_tickets_follows_three_pages(fake: FakeHalo) -> None:
    for n in range(119):
        fake.seed_ticket(6000 + n, agent_id=7)
    async with make(fake) as client:
        tickets = await client.my_open_tickets(limit=500)
    pages = fake.api_requests("GET", "/api/Tickets")
    assert [(p.query["page_no"], p.query["page_size"]) for p in pages] == [("1", "50"), ("2", "50"), ("3", "50")]
    assert len(tickets) == 120
    assert tickets[0].id == "6118" and tickets[-1].id == "4821"


async def test_my_open_tickets_stops_at_the_limit(fake: FakeHalo) -> None:
    for n in range(119):
        fake.seed_ticket(6000 + n, agent_id=7)
    async with make(fake) as client:
        tickets = await client.my_open_tickets(limit=60)
        assert await client.my_open_tickets(limit=0) == []
    assert len(fake.api_requests("GET", "/api/Tickets")) == 2
    assert len(tickets) == 60


@pytest.mark.parametrize("cap", [40, 7])
async def test_my_open_tickets_pages_past_a_server_capped_page_size(fake: FakeHalo, cap: int) -> None:
    """The server caps page_size (40 on the instance that showed it): `-n 120` returned 40 of 144."""
    fake.max_page_size = cap
    for n in range(143):
        fake.seed_ticket(6000 + n, agent_id=7)
    async with make(fake) as client:
        tickets = await client.my_open_tickets(limit=120)
        every = await client.my_open_tickets(limit=500)
    assert [t.id for t in tickets] == [str(6142 - n) for n in range(120)]  # the newest 120, newest first
    assert len(every) == 144 and every[-1].id == "4821"
    pages = [int(p.query["page_no"]) for p in fake.api_requests("GET", "/api/Tickets")]
    first = -(-120 // cap)
    assert pages == list(range(1, first + 1)) + list(range(1, -(-144 // cap) + 1))  # stops at the limit, at the count


async def test_my_open_tickets_stop_when_pages_bring_nothing_new(fake: FakeHalo) -> None:
    for n in range(60):
        fake.seed_ticket(6000 + n, agent_id=7)
    fake.max_page_size = 20

    async def ignoring_page_no(request: httpx.Request) -> httpx.Response:
        if request.url.path.lower() == "/api/tickets":  # a server that ignores page_no and has no record_count
            request = httpx.Request(request.method, request.url.copy_set_param("page_no", "1"),
                                    headers=request.headers)
            body = fake.handle(request).json()
            return httpx.Response(200, json={"tickets": body["tickets"]})
        return fake.handle(request)

    values, secrets = fake.settings_and_secrets()
    async with build(values, secrets, transport=httpx.MockTransport(ignoring_page_no), clock=fake.clock) as client:
        tickets = await client.my_open_tickets(limit=100)
    assert [t.id for t in tickets] == [str(6059 - n) for n in range(20)]
    assert len(fake.api_requests("GET", "/api/Tickets")) == 2


async def test_pagination_stops_when_record_count_is_reached(fake: FakeHalo) -> None:
    for n in range(49):
        fake.seed_ticket(6000 + n, agent_id=7)  # exactly one full page
    async with make(fake) as client:
        tickets = await client.my_open_tickets()
    assert len(tickets) == 50
    assert len(fake.api_requests("GET", "/api/Tickets")) == 1


# --- 4-7. retries and errors -----------------------------------------------------------------------------------------


async def test_429_honours_retry_after(fake: FakeHalo, sleeps: Sleeps) -> None:
    fake.rate_limit_next = 7
    async with make(fake, sleeps) as client:
        ticket = await client.get_ticket("4821")
    assert ticket.id == "4821"
    assert sleeps.delays == [7.0]
    assert len(fake.api_requests("GET", "/api/Tickets/4821")) == 2


async def test_429_on_a_note_post_is_retried(fake: FakeHalo, sleeps: Sleeps) -> None:
    async with make(fake, sleeps) as client:
        await client.whoami()
        fake.rate_limit_next = 2
        await client.post_note("4821", "once", "internal")
    assert sleeps.delays == [2.0]
    assert len(fake.api_requests("POST", "/api/Actions")) == 2
    assert [a["note"] for a in fake.actions[4821]].count("once") == 1


async def test_500_then_success_on_a_get(fake: FakeHalo, sleeps: Sleeps) -> None:
    fake.error_next = (500, "Object reference not set to an instance of an object.")
    async with make(fake, sleeps) as client:
        notes = await client.recent_notes("4821")
    assert len(notes) == 2
    assert len(fake.api_requests("GET", "/api/Actions")) == 2
    assert sleeps.delays == [0.25]  # backoff: jitter 0.5 x base 0.5


async def test_500_on_note_post_is_ambiguous_and_not_retried(fake: FakeHalo, sleeps: Sleeps) -> None:
    async with make(fake, sleeps) as client:
        await client.whoami()
        fake.error_next = (500, "Object reference not set to an instance of an object.")
        with pytest.raises(PSAUnavailableError) as caught:
            await client.post_note("4821", "Fixed.", "resolution")
    assert caught.value.ambiguous is True
    assert "Object reference not set to an instance of an object." in caught.value.message
    assert len(fake.api_requests("POST", "/api/Actions")) == 1
    assert sleeps.delays == []


async def test_lost_reply_after_post_is_ambiguous_and_findable(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.whoami()
        fake.fail_after_post = True
        with pytest.raises(PSAUnavailableError) as caught:
            await client.post_note("4821", "Escalating to 2nd line.", "internal")
        assert caught.value.ambiguous is True
        latest = (await client.recent_notes("4821", limit=1))[0]
    assert len(fake.api_requests("POST", "/api/Actions")) == 1
    assert latest.text == "Escalating to 2nd line." and latest.author == "7"


async def test_time_entry_500_is_ambiguous(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.whoami()
        fake.error_next = (502, "Bad Gateway")
        with pytest.raises(PSAUnavailableError) as caught:
            await client.create_time_entry("4821", datetime(2024, 5, 16), 0.5, "x")
    assert caught.value.ambiguous is True
    assert len(fake.api_requests("POST", "/api/Actions")) == 1


async def test_down_is_unavailable_not_ambiguous(fake: FakeHalo, sleeps: Sleeps) -> None:
    fake.down = True
    async with make(fake, sleeps) as client:
        with pytest.raises(PSAUnavailableError) as caught:
            await client.post_note("4821", "x", "internal")
    assert caught.value.ambiguous is False
    assert "cannot connect to HaloPSA" in caught.value.message
    assert not fake.api_requests("POST", "/api/Actions")  # the token was never obtained


async def test_400_error_body_is_readable(fake: FakeHalo) -> None:
    async with make(fake) as client:
        await client.whoami()
        fake.error_next = (400, {"ClassName": "System.Exception", "Message": "Outcome 'Note' does not exist"})
        with pytest.raises(PSARequestError) as caught:
            await client.post_note("4821", "x", "discussion")
    err = caught.value
    assert err.status_code == 400
    assert err.message == "HaloPSA refused the request (400): Outcome 'Note' does not exist"
    assert "outcome_public" in (err.hint or "")
    assert len(fake.api_requests("POST", "/api/Actions")) == 1


async def test_400_plain_text_from_the_fake(fake: FakeHalo) -> None:
    async with make(fake) as client:
        with pytest.raises(PSARequestError) as caught:
            await client.post_note("99999", "x", "internal")
    assert caught.value.message == "HaloPSA refused the request (400): Please enter a valid Ticket ID"


def _response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("GET", "https://acme.halopsa.com/api/x")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_response(401, json={"error": "invalid_client", "error_description": "Client authentication failed"}),
         "Client authentication failed (invalid_client)"),
        (_response(400, json={"message": "Invalid ticket"}), "Invalid ticket"),
        (_response(500, json={"ClassName": "System.NullReferenceException",
                              "Message": "Object reference not set to an instance of an object."}),
         "Object reference not set to an instance of an object."),
        (_response(500, text="Object reference not set to an instance of an object."),
         "Object reference not set to an instance of an object."),
        (_response(400, json="Please enter a valid Ticket ID"), "Please enter a valid Ticket ID"),
        (_response(400, json=["Summary is required", "Client is required"]),
         "Summary is required; Client is required"),
        (_response(400, json={"title": "One or more validation errors occurred.",
                              "errors": {"status_id": ["The value is not valid."]}}),
         "One or more validation errors occurred.: status_id: The value is not valid."),
        (_response(502, text="<html><body>Bad gateway</body></html>"), "Bad Gateway"),
    ],
)
def test_error_message_shapes(response: httpx.Response, expected: str) -> None:
    assert halo_error_message(response) == expected


# --- 8. statuses by name ---------------------------------------------------------------------------------------------


async def test_unknown_status_name(fake: FakeHalo) -> None:
    async with make(fake) as client:
        ticket = await client.get_ticket("4821")
        with pytest.raises(PSAStatusNotFound) as caught:
            await client.find_status(ticket, "Resolved - Awaiting Customer")
    assert "Resolved - Awaiting Customer" in caught.value.message
    assert "New, In Progress, With User, Closed" in (caught.value.hint or "")


# --- 9. no secret anywhere -----------------------------------------------------------------------------------------


async def test_no_secret_in_errors_or_logs(fake: FakeHalo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rfpilot.psa")
    messages: list[str] = []
    fake.tenant = "acme"
    # Secrets echoed back by a (badly behaved) server are masked too.
    async with make(fake) as client:
        await client.whoami()
        await client.post_note("4821", "ok", "internal")
        fake.error_next = (400, f"bad request for {fake.client_secret}")
        with pytest.raises(PSARequestError) as caught:
            await client.get_ticket("4821")
        messages.append(caught.value.message + str(caught.value.hint))
        fake.error_next = (401, "no")
        fake.expire_tokens = True
        with pytest.raises(PSARequestError) as caught:
            await client.get_ticket("4821")
        messages.append(caught.value.message + str(caught.value.hint))
    values, secrets = fake.settings_and_secrets()
    secrets["client_secret"] = "another-WRONG-secret-42"
    async with build(values, secrets, transport=fake.transport, clock=fake.clock) as client:
        with pytest.raises(PSARequestError) as caught:
            await client.whoami()
        messages.append(caught.value.message + str(caught.value.hint))
    fake.down = True
    async with make(fake) as client:
        with pytest.raises(PSAUnavailableError) as caught2:
            await client.whoami()
        messages.append(caught2.value.message + str(caught2.value.hint))

    assert "***" in messages[0]
    logged = [r.getMessage() for r in caplog.records]
    assert logged  # the HTTP layer did log each attempt
    tokens = list(fake.tokens)
    assert tokens
    for text in messages + logged:
        for secret in (fake.client_secret, "another-WRONG-secret-42", *tokens):
            assert secret not in text
