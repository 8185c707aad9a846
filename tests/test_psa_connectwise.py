"""Contract tests of the ConnectWise client against the stateful fake (tests/fakes/connectwise.py)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from rfpilot.psa import connectwise, provider_module
from rfpilot.psa.base import Status, Ticket
from rfpilot.psa.connectwise import ConnectWiseClient, next_link, queue_conditions, quote_value
from rfpilot.psa.errors import PSARequestError, PSAStatusNotFound, PSAUnavailableError
from rfpilot.psa.http import RetryPolicy
from tests.fakes.connectwise import FakeConnectWise, parse_conditions

TICKET = 48307


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def policy(sleeps: list[float]) -> RetryPolicy:
    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    return RetryPolicy(sleep=sleep, jitter=lambda: 0.5)


@pytest.fixture
def fake() -> FakeConnectWise:
    cw = FakeConnectWise()
    cw.seed_ticket(TICKET, description="Outlook prompts for credentials every few minutes since Monday.")
    return cw


@pytest.fixture
async def client(fake: FakeConnectWise, policy: RetryPolicy) -> AsyncIterator[ConnectWiseClient]:
    async with fake.build(policy, member="jdoe") as cw:
        yield cw


def body(request: httpx.Request) -> object:
    return json.loads(request.content)


# -- module contract, settings, auth ------------------------------------------------------------------------


def test_module_contract() -> None:
    module = provider_module("connectwise")
    assert module is connectwise
    assert (module.DISPLAY_NAME, module.REF_PREFIX) == ("ConnectWise", "CW")
    fields = {f.name: f for f in module.FIELDS}
    assert list(fields) == [
        "site", "company_id", "codebase", "member", "boards", "base_url", "public_key", "private_key", "client_id"
    ]
    assert {n for n, f in fields.items() if f.secret} == {"public_key", "private_key", "client_id"}
    assert {n for n, f in fields.items() if not f.required} == {"codebase", "member", "boards", "base_url"}


def test_build_names_missing_settings(fake: FakeConnectWise) -> None:
    with pytest.raises(PSARequestError) as err:
        connectwise.build({"site": fake.site}, {"public_key": "x"})
    assert "company_id" in err.value.message and "private_key" in err.value.message
    assert "client_id" in err.value.message and "rfpilot psa connect" in (err.value.hint or "")


async def test_auth_headers_exactly_as_documented(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    await client.get_ticket(str(TICKET))
    await client.recent_notes(str(TICKET))
    token = base64.b64encode(b"acmemsp+PubKey7f3a9c:PrivSecret-9d41e2b8").decode()
    assert len(fake.requests) == 2
    for request in fake.requests:
        assert request.headers["Authorization"] == f"Basic {token}"
        assert request.headers["clientId"] == "5c1d9e0a-client-guid-3f7b"
        assert request.headers["Accept"] == "application/json"
        assert request.url.scheme == "https" and request.url.host == "api-na.myconnectwise.net"
        assert request.url.path.startswith("/v2025_1/apis/3.0/")


async def test_fake_rejects_requests_without_auth(fake: FakeConnectWise) -> None:
    async with httpx.AsyncClient(transport=fake.transport, base_url=f"https://{fake.site}") as raw:
        bare = await raw.get(f"{fake.api_prefix}/service/tickets/{TICKET}")
        no_client_id = await raw.get(
            f"{fake.api_prefix}/service/tickets/{TICKET}",
            headers={"Authorization": _basic(fake)},
        )
        unknown = await raw.get(f"{fake.api_prefix}/no/such/thing", headers=_headers(fake))
    assert bare.status_code == 401 and bare.json()["code"] == "Unauthorized"
    assert no_client_id.status_code == 401
    assert unknown.status_code == 404


def _basic(fake: FakeConnectWise) -> str:
    pair = f"{fake.company_id}+{fake.public_key}:{fake.private_key}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _headers(fake: FakeConnectWise) -> dict[str, str]:
    return {"Authorization": _basic(fake), "clientId": fake.client_id}


async def test_refused_credentials_say_so(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    settings, secrets = fake.connection()
    secrets["private_key"] = "wrong-private-key"
    async with connectwise.build(settings, secrets, transport=fake.transport, policy=policy) as cw:
        with pytest.raises(PSARequestError) as err:
            await cw.get_ticket(str(TICKET))
    assert err.value.status_code == 401
    assert "refused the credentials" in err.value.message
    assert len(fake.requests) == 1  # a 401 is final


async def test_codebase_is_discovered_and_site_normalised(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    async with fake.build(policy, discover=True, site="https://API-NA.myconnectwise.net/") as cw:
        assert cw.codebase is None
        ticket = await cw.get_ticket(str(TICKET))
        await cw.get_ticket(str(TICKET))
        assert cw.codebase == "v2025_1"
    assert ticket.id == str(TICKET)
    paths = [r.url.path for r in fake.requests]
    assert paths == [
        "/login/companyinfo/acmemsp",
        f"/v2025_1/apis/3.0/service/tickets/{TICKET}",
        f"/v2025_1/apis/3.0/service/tickets/{TICKET}",
    ]


async def test_unknown_company_cannot_discover_codebase(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    settings, secrets = fake.connection(discover=True, company_id="nosuchco")
    async with connectwise.build(settings, secrets, transport=fake.transport, policy=policy) as cw:
        with pytest.raises(PSARequestError) as err:
            await cw.get_ticket(str(TICKET))
    assert "did not report a codebase" in err.value.message and "nosuchco" in err.value.message
    assert "codebase" in (err.value.hint or "")


# -- reads -----------------------------------------------------------------------------------------------------


async def test_get_ticket_maps_the_ticket(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    ticket = await client.get_ticket(str(TICKET))
    (request,) = fake.requests
    assert (request.method, fake.api_path(request)) == ("GET", f"/service/tickets/{TICKET}")
    board_new = fake.board_statuses[1][0]
    assert ticket.id == "48307" and ticket.summary == "Outlook keeps asking for the password"
    assert (ticket.status_id, ticket.status_name) == (str(board_new["id"]), "New")
    assert (ticket.board_id, ticket.board_name) == ("1", "Help Desk")
    assert ticket.company == "Contoso Ltd" and ticket.contact == "Dana Whitfield"
    assert ticket.priority == "Priority 3 - Normal Response" and ticket.owner == "jdoe"
    assert ticket.closed is False
    assert ticket.updated_at is not None and ticket.updated_at.tzinfo is not None


@pytest.mark.parametrize("bad", ["abc", "12a", "", "-5", "4.5", "T20240516.0012", "０１"])
async def test_ticket_ids_must_be_numbers(fake: FakeConnectWise, client: ConnectWiseClient, bad: str) -> None:
    """A malformed id is the user's mistake (exit 1), refused before any request."""
    from rfpilot.errors import UsageError

    with pytest.raises(UsageError) as err:
        await client.get_ticket(bad)
    assert err.value.exit_code == 1 and "is not a ConnectWise ticket id" in err.value.message
    assert "numbers" in (err.value.hint or "")
    assert fake.requests == []


async def test_missing_ticket_is_not_found(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    """ConnectWise answers 404 {"code": "NotFound"} for a ticket it does not have: not found (exit 2), not a PSA
    failure (exit 4); the message names the PSA and the ticket."""
    from rfpilot.psa.errors import TicketNotFound

    with pytest.raises(TicketNotFound) as err:
        await client.get_ticket("#999")
    assert err.value.exit_code == 2 and err.value.message == "ConnectWise has no ticket 999"
    [request] = [r for r in fake.requests if r.url.path.endswith("/service/tickets/999")]
    fake.error_next = (404, {"code": "NotFound", "message": "Ticket recId 999 not found."})
    with pytest.raises(TicketNotFound):
        await client.ticket_context("999")


async def test_ticket_context(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    fake.add_note(TICKET, "Reset the Outlook profile, no change.", internal=True, author="jdoe")
    fake.add_note(TICKET, "Asked the user to try OWA.", detail=True, author="jdoe")
    fake.add_configuration(TICKET, "SRV-EXCH01", "Server")
    fake.add_configuration(TICKET, "LT-DANA", "Laptop")

    context = await client.ticket_context(str(TICKET), notes=10)

    assert [(r.method, fake.api_path(r)) for r in fake.requests] == [
        ("GET", f"/service/tickets/{TICKET}"),
        ("GET", f"/service/tickets/{TICKET}/notes"),
        ("GET", f"/service/tickets/{TICKET}/configurations"),
        ("GET", "/company/configurations"),
    ]
    notes_query = fake.requests[1].url.params
    assert notes_query["orderBy"] == "id desc" and notes_query["pageSize"] == "10"
    lookup = fake.requests[3].url.params
    ids = ",".join(str(i) for i in fake.ticket_configurations[TICKET])
    assert lookup["conditions"] == f"id in ({ids})" and lookup["fields"] == "id,name,type"

    assert context.ticket.description == "Outlook prompts for credentials every few minutes since Monday."
    assert [n.text for n in context.notes] == [
        "Asked the user to try OWA.",
        "Reset the Outlook profile, no change.",
        "Outlook prompts for credentials every few minutes since Monday.",
    ]
    assert [n.kind for n in context.notes] == ["discussion", "internal", "discussion"]
    assert context.configurations == ["SRV-EXCH01 (Server)", "LT-DANA (Laptop)"]


async def test_ticket_context_asks_for_the_description_when_notes_are_cut(
    fake: FakeConnectWise, client: ConnectWiseClient
) -> None:
    for n in range(3):
        fake.add_note(TICKET, f"internal {n}", internal=True)
    context = await client.ticket_context(str(TICKET), notes=2)
    assert [n.text for n in context.notes] == ["internal 2", "internal 1"]
    assert context.ticket.description == "Outlook prompts for credentials every few minutes since Monday."
    query = fake.calls("GET", f"/service/tickets/{TICKET}/notes")[1].url.params
    assert query["conditions"] == "detailDescriptionFlag = true"
    assert query["orderBy"] == "id asc" and query["pageSize"] == "1"
    assert context.configurations == [] and not fake.calls("GET", "/company/configurations")


async def test_recent_notes_newest_first(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    for n in range(4):
        fake.add_note(TICKET, f"note {n}", detail=True, author="jdoe")
    notes = await client.recent_notes(str(TICKET), limit=3)
    (request,) = fake.requests
    assert fake.api_path(request) == f"/service/tickets/{TICKET}/notes"
    assert dict(request.url.params) == {"orderBy": "id desc", "pageSize": "3"}
    assert [n.text for n in notes] == ["note 3", "note 2", "note 1"]
    assert int(notes[0].id) > int(notes[1].id) > int(notes[2].id)
    assert notes[0].author == "jdoe" and notes[0].author_name == "John Doe"
    assert notes[0].created_at is not None


async def test_whoami_with_a_configured_member(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    me = await client.whoami()
    (request,) = fake.requests
    assert fake.api_path(request) == "/system/members"
    assert request.url.params["conditions"] == 'identifier = "jdoe"'
    assert (me.id, me.identifier, me.name, me.email) == ("149", "jdoe", "John Doe", "jdoe@acmemsp.example")


async def test_whoami_without_member_is_the_keys_member(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    async with fake.build(policy) as cw:
        me = await cw.whoami()
    assert [fake.api_path(r) for r in fake.requests] == ["/system/myAccount"]
    assert me.identifier == "rfpilot-api"


async def test_whoami_unknown_member(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    async with fake.build(policy, member="nobody") as cw:
        with pytest.raises(PSARequestError) as err:
            await cw.whoami()
    assert "no member with identifier 'nobody'" in err.value.message


# -- the queue -------------------------------------------------------------------------------------------------


async def test_my_open_tickets_sends_the_conditions(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    fake.seed_ticket(50001, owner="asmith", resources="asmith,jdoe", summary="Printer offline")
    fake.seed_ticket(50002, owner="asmith", summary="Not mine")
    fake.seed_ticket(50003, owner="jdoe", status="Resolved", summary="Closed already")
    fake.seed_ticket(50004, owner="jdoe", board_id=4, board_name="Projects", summary="Other board")
    async with fake.build(policy, member="jdoe", boards="Help Desk, 7") as cw:
        tickets = await cw.my_open_tickets(limit=20)
    (request,) = fake.requests
    assert fake.api_path(request) == "/service/tickets"
    params = request.url.params
    assert params["conditions"] == (
        'closedFlag = false and (owner/identifier = "jdoe" or resources contains "jdoe")'
        ' and (board/id in (7) or board/name in ("Help Desk"))'
    )
    assert (params["orderBy"], params["pageSize"], params["page"]) == ("id desc", "20", "1")
    assert [t.id for t in tickets] == ["50001", str(TICKET)]


async def test_my_open_tickets_board_forms(client: ConnectWiseClient) -> None:
    assert queue_conditions("jdoe", ["1", "4"]).endswith(" and board/id in (1,4)")
    assert queue_conditions("jdoe", ["Help Desk", "NOC"]).endswith(' and board/name in ("Help Desk","NOC")')
    assert queue_conditions("jdoe", []) == (
        'closedFlag = false and (owner/identifier = "jdoe" or resources contains "jdoe")'
    )


async def test_quotes_in_values_cannot_break_the_conditions(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    fake.seed_ticket(50010, board_id=9, board_name='The "Big" Board\\', owner="jdoe")
    assert quote_value('a"b\\c') == '"a\\"b\\\\c"'
    async with fake.build(policy, member="jdoe") as cw:
        tickets = await cw.my_open_tickets(boards=['The "Big" Board\\'])
        injected = await cw.my_open_tickets(member='x" or closedFlag = false or owner/identifier = "y')
    assert [t.id for t in tickets] == ["50010"]
    assert injected == []  # the whole string was one value, so nothing matched
    for request in fake.requests:  # and the fake parsed every condition it was sent
        parse_conditions(request.url.params["conditions"])


async def test_my_open_tickets_defaults_to_the_keys_member(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    fake.seed_ticket(50020, owner="rfpilot-api")
    fake.seed_ticket(50021, owner="jdoe", resources="jdoe,rfpilot-apiX")  # a substring, not an assignment
    async with fake.build(policy) as cw:
        tickets = await cw.my_open_tickets()
        again = await cw.my_open_tickets()
    assert [t.id for t in tickets] == [t.id for t in again] == ["50020"]
    assert [fake.api_path(r) for r in fake.requests] == ["/system/myAccount", "/service/tickets", "/service/tickets"]


async def test_my_open_tickets_follows_three_pages(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    for n in range(24):
        fake.seed_ticket(60000 + n, owner="jdoe", summary=f"ticket {n}")
    fake.max_page_size = 10  # 25 tickets of jdoe's: pages of 10, 10 and 5
    tickets = await client.my_open_tickets(limit=100)
    requests = fake.calls("GET", "/service/tickets")
    assert [r.url.params["page"] for r in requests] == ["1", "2", "3"]
    assert all(r.url.params["conditions"] == requests[0].url.params["conditions"] for r in requests)
    assert all(r.url.params["orderBy"] == "id desc" for r in requests)
    assert len(tickets) == 25 and len({t.id for t in tickets}) == 25
    assert [int(t.id) for t in tickets] == sorted((int(t.id) for t in tickets), reverse=True)


async def test_my_open_tickets_stops_at_the_limit(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    for n in range(24):
        fake.seed_ticket(60000 + n, owner="jdoe")
    fake.max_page_size = 10
    tickets = await client.my_open_tickets(limit=15)
    assert len(tickets) == 15
    assert [r.url.params["page"] for r in fake.calls("GET", "/service/tickets")] == ["1", "2"]
    assert fake.calls("GET", "/service/tickets")[0].url.params["pageSize"] == "15"


async def test_my_open_tickets_are_the_newest_past_a_capped_page_size(
    fake: FakeConnectWise, client: ConnectWiseClient
) -> None:
    """The same class as Autotask's and Halo's: a server that lists oldest first by default and caps pageSize
    below what was asked must still give the newest N, across pages."""
    for n in (7, 3, 11, 0, 9, 5, 1, 10, 2, 8, 4, 6):  # created in no particular id order
        fake.seed_ticket(60000 + n, owner="jdoe")
    fake.seed_ticket(59000, owner="asmith", resources="jdoe")  # jdoe as a resource, not the owner
    fake.max_page_size = 4
    tickets = await client.my_open_tickets(limit=10)
    assert [t.id for t in tickets] == [str(60000 + n) for n in range(11, 1, -1)]
    everything = await client.my_open_tickets(limit=100)
    assert [t.id for t in everything][-2:] == ["59000", str(TICKET)]
    pages = [r.url.params["page"] for r in fake.calls("GET", "/service/tickets")]
    assert pages == ["1", "2", "3"] + ["1", "2", "3", "4"]


def test_next_link_parsing() -> None:
    url = "https://api-na.myconnectwise.net/v2025_1/apis/3.0/service/tickets?page=2&pageSize=10"
    assert next_link(f'<{url}>; rel="next", <{url.replace("page=2", "page=5")}>; rel="last"') == url
    assert next_link(f'<{url}>; rel="first", <{url}>; rel="prev"') is None
    assert next_link(f"<{url}>; rel=next") == url
    assert next_link(f'<{url}>; title="x"; rel="prev next"') == url
    assert next_link(None) is None and next_link("") is None


# -- statuses and writes ---------------------------------------------------------------------------------------


async def test_statuses_of_the_board_all_pages(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    fake.max_page_size = 2
    ticket = await client.get_ticket(str(TICKET))
    statuses = await client.statuses(ticket)
    requests = fake.calls("GET", "/service/boards/1/statuses")
    assert [r.url.params["page"] for r in requests] == ["1", "2", "3"]
    assert [(s.name, s.closed, s.inactive) for s in statuses] == [
        ("New", False, False),
        ("In Progress", False, False),
        ("Resolved", True, False),
        ("Escalated", False, False),
        ("Waiting Vendor (retired)", False, True),
    ]
    assert [s.id for s in statuses] == [str(s["id"]) for s in fake.board_statuses[1]]


async def test_statuses_reads_the_board_when_unknown(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    statuses = await client.statuses(Ticket(id=str(TICKET), summary=""))
    assert [fake.api_path(r) for r in fake.requests] == [f"/service/tickets/{TICKET}", "/service/boards/1/statuses"]
    assert [s.inactive for s in statuses] == [False] * 4 + [True]


async def test_unknown_status_name_lists_the_board_statuses(client: ConnectWiseClient) -> None:
    ticket = await client.get_ticket(str(TICKET))
    assert (await client.find_status(ticket, "resolved")).closed is True
    with pytest.raises(PSAStatusNotFound) as err:
        await client.find_status(ticket, "Closed - Fixed")
    assert "Closed - Fixed" in err.value.message and "Help Desk" in err.value.message
    assert "New, In Progress, Resolved, Escalated." in (err.value.hint or "")  # not the retired one
    with pytest.raises(PSAStatusNotFound):
        await client.find_status(ticket, "Waiting Vendor (retired)")


@pytest.mark.parametrize(
    ("kind", "flags"),
    [
        ("resolution", (True, False, True)),
        ("internal", (False, True, False)),
        ("discussion", (True, False, False)),
    ],
)
async def test_post_note_flags(
    fake: FakeConnectWise, client: ConnectWiseClient, kind: str, flags: tuple[bool, bool, bool]
) -> None:
    note = await client.post_note(str(TICKET), f"A {kind} note.", kind)  # type: ignore[arg-type]
    (request,) = fake.requests
    assert (request.method, fake.api_path(request)) == ("POST", f"/service/tickets/{TICKET}/notes")
    detail, internal, resolution = flags
    assert body(request) == {
        "text": f"A {kind} note.",
        "detailDescriptionFlag": detail,
        "internalAnalysisFlag": internal,
        "resolutionFlag": resolution,
    }
    stored = fake.notes[TICKET][-1]
    assert note.id == str(stored["id"]) and note.kind == kind and note.text == f"A {kind} note."
    assert note.author == "rfpilot-api"  # the key's member, as ConnectWise reports it


async def test_post_note_refuses_bad_input_without_a_request(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    with pytest.raises(PSARequestError):
        await client.post_note(str(TICKET), "   ", "internal")
    with pytest.raises(PSARequestError):
        await client.post_note(str(TICKET), "text", "public")  # type: ignore[arg-type]
    assert fake.requests == []


async def test_set_status_sends_a_json_patch(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    ticket = await client.get_ticket(str(TICKET))
    resolved = await client.find_status(ticket, "Resolved")
    await client.set_status(ticket, resolved)
    (patch,) = fake.calls("PATCH")
    assert fake.api_path(patch) == f"/service/tickets/{TICKET}"
    assert patch.headers["Content-Type"] == "application/json"
    assert body(patch) == [{"op": "replace", "path": "status", "value": {"id": int(resolved.id)}}]
    after = await client.get_ticket(str(TICKET))
    assert (after.status_id, after.status_name, after.closed) == (resolved.id, "Resolved", True)


async def test_set_status_silently_ignored(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    fake.keep_old_status = True
    ticket = await client.get_ticket(str(TICKET))
    await client.set_status(ticket, await client.find_status(ticket, "Resolved"))  # 200, and no verification
    assert (await client.get_ticket(str(TICKET))).status_name == "New"


async def test_set_status_never_patches_without_an_id(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    ticket = await client.get_ticket(str(TICKET))
    for bad in ("", "0", "Resolved"):
        with pytest.raises(PSARequestError):
            await client.set_status(ticket, Status(id=bad, name="Resolved"))
    assert fake.calls("PATCH") == []


async def test_a_400_carries_the_servers_message(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    other = fake.seed_board(4, "Projects")[2]  # "Resolved" on another board
    ticket = await client.get_ticket(str(TICKET))
    with pytest.raises(PSARequestError) as err:
        await client.set_status(ticket, Status(id=str(other["id"]), name="Resolved"))
    assert err.value.status_code == 400
    assert "ticket object is invalid (status: The status was not found on this board.)" in err.value.message
    assert len(fake.calls("PATCH")) == 1


async def test_create_time_entry(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    start = datetime(2025, 5, 16, 15, 0, 7, 123456, tzinfo=timezone(timedelta(hours=2)))
    entry = await client.create_time_entry(str(TICKET), start, 1.25, "Rebuilt the Outlook profile.")
    (request,) = fake.requests
    assert (request.method, fake.api_path(request)) == ("POST", "/time/entries")
    assert body(request) == {
        "chargeToId": TICKET,
        "chargeToType": "ServiceTicket",
        "timeStart": "2025-05-16T13:00:07Z",
        "timeEnd": "2025-05-16T14:15:07Z",
        "actualHours": 1.25,
        "notes": "Rebuilt the Outlook profile.",
        "member": {"identifier": "jdoe"},
    }
    assert entry.id == str(fake.time_entries[0]["id"]) and entry.hours == 1.25


async def test_time_entry_without_a_known_member(fake: FakeConnectWise, policy: RetryPolicy) -> None:
    async with fake.build(policy) as cw:
        await cw.create_time_entry(str(TICKET), datetime(2025, 5, 16, 9, 0), 0.5, "Call")
        with pytest.raises(PSARequestError):
            await cw.create_time_entry(str(TICKET), datetime(2025, 5, 16, 9, 0, tzinfo=UTC), 0, "Nothing")
    (request,) = fake.requests
    sent = body(request)
    assert isinstance(sent, dict) and "member" not in sent and sent["timeStart"] == "2025-05-16T09:00:00Z"
    assert fake.time_entries[0]["member"]["identifier"] == "rfpilot-api"


# -- retries and failures ----------------------------------------------------------------------------------------


async def test_429_waits_for_retry_after(fake: FakeConnectWise, client: ConnectWiseClient, sleeps: list[float]) -> None:
    fake.rate_limit_next = 1
    ticket = await client.get_ticket(str(TICKET))
    assert ticket.id == str(TICKET)
    assert sleeps == [2.0]
    assert len(fake.requests) == 2


async def test_429_on_a_note_post_is_retried(
    fake: FakeConnectWise, client: ConnectWiseClient, sleeps: list[float]
) -> None:
    fake.rate_limit_next = 1
    await client.post_note(str(TICKET), "Fixed.", "resolution")
    assert sleeps == [2.0] and len(fake.calls("POST")) == 2 and len(fake.notes[TICKET]) == 2


async def test_500_then_success_on_a_get(fake: FakeConnectWise, client: ConnectWiseClient, sleeps: list[float]) -> None:
    fake.error_next = (500, {"code": "ConnectWiseApi", "message": "An error occurred, please try again"})
    ticket = await client.get_ticket(str(TICKET))
    assert ticket.id == str(TICKET)
    assert len(fake.calls("GET")) == 2 and len(sleeps) == 1


async def test_500_on_a_note_post_is_ambiguous_and_not_retried(
    fake: FakeConnectWise, client: ConnectWiseClient, sleeps: list[float]
) -> None:
    fake.error_next = (500, {"code": "ConnectWiseApi", "message": "An error occurred"})
    with pytest.raises(PSAUnavailableError) as err:
        await client.post_note(str(TICKET), "Fixed.", "resolution")
    assert err.value.ambiguous is True
    assert len(fake.calls("POST")) == 1 and sleeps == []


async def test_timeout_after_the_note_was_applied(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    fake.fail_after_post = True
    with pytest.raises(PSAUnavailableError) as err:
        await client.post_note(str(TICKET), "Replaced the mailbox rule.", "internal")
    assert err.value.ambiguous is True and len(fake.calls("POST")) == 1
    latest = (await client.recent_notes(str(TICKET), 5))[0]
    assert (latest.text, latest.kind) == ("Replaced the mailbox rule.", "internal")
    await client.post_note(str(TICKET), "Next note works.", "internal")  # the switch was one-shot


async def test_down_is_unavailable_not_ambiguous(fake: FakeConnectWise, client: ConnectWiseClient) -> None:
    fake.down = True
    with pytest.raises(PSAUnavailableError) as err:
        await client.post_note(str(TICKET), "Fixed.", "resolution")
    assert err.value.ambiguous is False and "cannot connect to ConnectWise" in err.value.message
    assert fake.notes[TICKET][-1]["text"] != "Fixed."


def test_error_message_shapes() -> None:
    def message(status: int, content: object) -> str:
        if isinstance(content, str):
            return connectwise.error_message(httpx.Response(status, text=content))
        return connectwise.error_message(httpx.Response(status, json=content))

    out_of_range = {"code": "OutOfRange", "message": "Year is out of range", "field": "yearEstablished"}
    no_field = {"code": "InvalidField", "message": "Name is required"}
    exists = {"code": "ObjectExists", "message": "Company ID already in use.", "field": "identifier"}
    invalid = {"code": "InvalidObject", "message": "company object is invalid", "errors": [out_of_range, no_field]}
    assert message(400, invalid) == (
        "company object is invalid (yearEstablished: Year is out of range; Name is required)"
    )
    assert message(400, {"code": "InvalidObject", "errors": [exists]}) == (
        "InvalidObject (identifier: Company ID already in use.)"
    )
    refused = connectwise.CREDENTIALS_REFUSED
    assert message(400, {"code": "ConnectWiseApi", "message": "UserNotAuthenticated"}) == refused
    assert message(403, {"code": "Unauthorized", "message": "nope"}) == refused
    assert message(401, "Unauthorized") == refused
    assert "refused the credentials" in refused
    assert message(400, "Conditions are malformed") == "Conditions are malformed"


async def test_no_secret_in_any_error_or_log(
    fake: FakeConnectWise, policy: RetryPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rfpilot.psa")
    settings, secrets = fake.connection(member="jdoe")
    bad_key = "Wrong-Private-0xDEAD"
    tokens = [
        base64.b64encode(f"{fake.company_id}+{fake.public_key}:{key}".encode()).decode()
        for key in (fake.private_key, bad_key)
    ]
    errors: list[BaseException] = []

    async def failure(call: Any) -> None:
        with pytest.raises(Exception) as err:
            await call
        errors.append(err.value)
        fake.down, fake.rate_limit_next, fake.error_next = False, 0, None

    wrong = dict(secrets, private_key=bad_key)
    async with connectwise.build(settings, wrong, transport=fake.transport, policy=policy) as cw:
        await failure(cw.get_ticket(str(TICKET)))
    async with connectwise.build(settings, secrets, transport=fake.transport, policy=policy) as cw:
        fake.error_next = (400, {"code": "InvalidObject", "message": "bad"})
        await failure(cw.whoami())
        fake.error_next = (500, "<html>boom</html>")
        await failure(cw.post_note(str(TICKET), "x", "internal"))
        fake.rate_limit_next = 9
        await failure(cw.get_ticket(str(TICKET)))
        fake.down = True
        await failure(cw.recent_notes(str(TICKET)))
        await failure(cw.get_ticket("not-a-number"))

    assert len(errors) == 6 and caplog.records, "every call failed, and the HTTP layer logged its attempts"
    texts = [str(e) for e in errors] + [getattr(e, "hint", None) or "" for e in errors] + [repr(errors)]
    texts += [record.getMessage() for record in caplog.records]
    for secret in [fake.public_key, fake.private_key, fake.client_id, bad_key, *tokens]:
        assert all(secret not in text for text in texts), secret


async def test_a_server_that_takes_the_request_and_stays_silent_is_asked_twice_not_four_times() -> None:
    """A read timeout (the server took the request and said nothing for the whole timeout) ends a read after two
    requests: four silent waits of 30 s kept `resolve` waiting over two minutes before it queued the note. A server
    that cannot be reached at all is still tried four times (each try is short), and a slow first answer is still
    waited out once."""
    from rfpilot.psa.http import PSAHttp

    seen: list[str] = []
    answers: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        step = answers.pop(0) if answers else httpx.ReadTimeout("silent", request=request)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, httpx.Response)
        return step

    async def no_sleep(_: float) -> None:
        return None

    from rfpilot import progress

    policy = RetryPolicy(sleep=no_sleep, timeout=30, jitter=lambda: 1.0)
    http = PSAHttp("ConnectWise", "https://api-na.myconnectwise.net/v4_6_release/apis/3.0",
                   transport=httpx.MockTransport(handler), policy=policy, hints={"no_answer": "check the site"})
    said: list[str] = []
    try:
        with pytest.raises(PSAUnavailableError) as err, progress.shown_by(said.append):
            await http.get_json("/service/tickets/1")
        assert seen == ["GET", "GET"] and err.value.ambiguous is False
        assert err.value.message == "ConnectWise did not answer within 30 s, after 2 requests"
        assert err.value.hint == "check the site"
        # Whoever waits hears why (the CLI shows it on stderr): a silent minute otherwise looks like a hang.
        assert said == ["ConnectWise did not answer within 30 s; trying again (request 2 of 2)"]

        seen.clear()
        said.clear()
        answers[:] = [httpx.ConnectError("refused")] * 4
        with pytest.raises(PSAUnavailableError) as err, progress.shown_by(said.append):
            await http.get_json("/service/tickets/1")
        assert len(seen) == 4 and "cannot connect to ConnectWise" in err.value.message
        assert said == ["cannot connect to ConnectWise (ConnectError); trying again (request 2 of 4)",
                        "cannot connect to ConnectWise (ConnectError); trying again in 1 s (request 3 of 4)",
                        "cannot connect to ConnectWise (ConnectError); trying again in 2 s (request 4 of 4)"]

        seen.clear()
        answers[:] = [httpx.ReadTimeout("slow"), httpx.Response(200, json={"id": 1})]
        assert await http.get_json("/service/tickets/1") == {"id": 1}
        assert seen == ["GET", "GET"]

        seen.clear()  # a POST is never asked again: the note may exist
        answers[:] = [httpx.ReadTimeout("silent")]
        with pytest.raises(PSAUnavailableError) as err:
            await http.send_json("POST", "/service/tickets/1/notes", json={"text": "x"})
        assert seen == ["POST"] and err.value.ambiguous is True
    finally:
        await http.aclose()
