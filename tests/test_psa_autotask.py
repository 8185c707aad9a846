"""Contract tests of the Autotask client against the stateful fake in tests/fakes/autotask.py."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import httpx
import pytest

from rfpilot.errors import UsageError
from rfpilot.psa import autotask, provider_module
from rfpilot.psa.base import Status, Ticket
from rfpilot.psa.errors import PSARequestError, PSAStatusNotFound, PSAUnavailableError
from rfpilot.psa.http import RetryPolicy
from tests.fakes.autotask import LOOKUP_HOST, FakeAutotask

JDOE = 29682901
API_USER = 29682885


class Sleeps(list):
    """Records the delays PSAHttp asks for, without sleeping."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture(autouse=True)
def _fresh_zone_cache():
    autotask.clear_zone_cache()
    yield
    autotask.clear_zone_cache()


@pytest.fixture
def fake() -> FakeAutotask:
    fake = FakeAutotask()
    fake.add_ticket(
        42,
        title="Printer offline at front desk",
        description="The front desk printer shows offline since this morning.",
        status=8,
        queueID=9,
        priority=1,
        configurationItemID=310,
        ticketNumber="T20240516.0042",
    )
    return fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make(fake: FakeAutotask, sleeps: Sleeps, *, with_zone: bool = False, **settings: str) -> autotask.AutotaskClient:
    values, secrets = fake.connection(with_zone=with_zone, **settings)
    return autotask.build(
        values, secrets, transport=fake.transport, policy=RetryPolicy(sleep=sleeps, jitter=lambda: 0.5)
    )


@pytest.fixture
async def client(fake: FakeAutotask, sleeps: Sleeps):
    client = make(fake, sleeps, resource_id=str(JDOE))
    yield client
    await client.aclose()


def zone_calls(fake: FakeAutotask):
    return [r for r in fake.requests if r.host != LOOKUP_HOST]


# -- module surface ------------------------------------------------------------------------------------


def test_module_surface() -> None:
    module = provider_module("autotask")
    assert module is autotask
    assert (autotask.DISPLAY_NAME, autotask.REF_PREFIX) == ("Autotask", "AT")
    fields = {f.name: f for f in autotask.FIELDS}
    assert set(fields) == {
        "username", "zone_url", "resource_id", "queues", "note_type", "publish_public", "publish_internal",
        "secret", "integration_code",
    }
    assert {name for name, f in fields.items() if f.secret} == {"secret", "integration_code"}
    assert {name for name, f in fields.items() if f.required} == {"username", "secret", "integration_code"}


def test_build_refuses_missing_credentials() -> None:
    with pytest.raises(UsageError) as caught:
        autotask.build({"username": "apiuser@example.com"}, {"secret": "x"})
    assert "integration_code" in caught.value.message


def test_normalize_zone() -> None:
    expected = "https://webservices5.autotask.net/atservicesrest/"
    for given in (
        "https://webservices5.autotask.net/atservicesrest/",
        "https://webservices5.autotask.net/atservicesrest",
        "https://webservices5.autotask.net/atservicesrest/v1.0/",
        "webservices5.autotask.net",
    ):
        assert autotask.normalize_zone(given) == expected


# -- 1. auth headers and zone discovery ----------------------------------------------------------------


async def test_auth_headers_on_every_zone_call(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    await client.whoami()
    await client.get_ticket("42")
    await client.post_note("42", "Restarted the spooler.", "internal")
    calls = zone_calls(fake)
    assert calls
    for call in calls:
        assert call.headers["apiintegrationcode"] == fake.integration_code
        assert call.headers["username"] == fake.username
        assert call.headers["secret"] == fake.secret
        assert call.headers["content-type"] == "application/json"
        assert "authorization" not in call.headers  # no Basic auth on Autotask


async def test_zone_is_discovered_without_credentials_and_cached(fake: FakeAutotask, sleeps: Sleeps) -> None:
    client = make(fake, sleeps)
    assert client.zone_url is None
    await client.whoami()
    lookups = [r for r in fake.requests if r.host == LOOKUP_HOST]
    assert len(lookups) == 1
    assert lookups[0].method == "GET"
    assert lookups[0].url.startswith("https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation?")
    assert lookups[0].params == {"user": fake.username}
    assert "secret" not in lookups[0].headers and "apiintegrationcode" not in lookups[0].headers
    assert client.zone_url == fake.zone_url  # exposed for the caller to store
    assert zone_calls(fake)[0].url.startswith(fake.zone_url + "v1.0/")
    await client.aclose()

    again = make(fake, sleeps)
    await again.get_ticket("42")
    assert again.zone_url == fake.zone_url
    assert len([r for r in fake.requests if r.host == LOOKUP_HOST]) == 1  # cached for the process
    await again.aclose()


async def test_configured_zone_skips_the_lookup(fake: FakeAutotask, sleeps: Sleeps) -> None:
    async with make(fake, sleeps, with_zone=True) as client:
        await client.get_ticket("42")
    assert all(r.host != LOOKUP_HOST for r in fake.requests)


async def test_unknown_user_in_zone_lookup_is_a_readable_final_error(fake: FakeAutotask, sleeps: Sleeps) -> None:
    values, secrets = fake.connection()
    values["username"] = "nobody@example.com"
    client = autotask.build(values, secrets, transport=fake.transport, policy=RetryPolicy(sleep=sleeps))
    with pytest.raises(PSARequestError) as caught:
        await client.whoami()
    assert "nobody@example.com" in caught.value.message
    assert caught.value.status_code == 500  # what Autotask answers an unknown user, in words that do not say so
    assert "user name" in (caught.value.hint or "") and "--zone-url" in (caught.value.hint or "")
    assert len([r for r in fake.requests if r.host == LOOKUP_HOST]) == 1  # final: not retried
    assert sleeps == [] and autotask._zone_cache == {}
    await client.aclose()


async def test_zone_lookup_without_a_url_names_the_user(fake: FakeAutotask, sleeps: Sleeps) -> None:
    fake.error_next(200, body={"zoneName": None, "url": None, "webUrl": None, "ci": 0}, path="zoneInformation")
    async with make(fake, sleeps) as client:
        with pytest.raises(PSARequestError) as caught:
            await client.whoami()
    assert fake.username in caught.value.message
    assert "user name" in (caught.value.hint or "")


async def test_zone_lookup_500_for_unknown_user_is_not_retried(fake: FakeAutotask, sleeps: Sleeps) -> None:
    fake.error_next(500, "Invalid user name: blank or unknown", path="zoneInformation")
    async with make(fake, sleeps) as client:
        with pytest.raises(PSARequestError) as caught:
            await client.get_ticket("42")
    assert "Invalid user name" in caught.value.message
    assert len([r for r in fake.requests if r.host == LOOKUP_HOST]) == 1
    assert sleeps == []
    assert autotask._zone_cache == {}  # a failed lookup is not cached


async def test_wrong_secret_is_refused_with_401(fake: FakeAutotask, sleeps: Sleeps) -> None:
    values, secrets = fake.connection(with_zone=True)
    secrets["secret"] = "not-the-secret"
    async with autotask.build(values, secrets, transport=fake.transport, policy=RetryPolicy(sleep=sleeps)) as client:
        with pytest.raises(PSARequestError) as caught:
            await client.whoami()
    assert caught.value.status_code == 401
    assert "secret" in (caught.value.hint or "") and "integration code" in (caught.value.hint or "")


async def test_fake_rejects_requests_without_auth_headers(fake: FakeAutotask) -> None:
    async with httpx.AsyncClient(transport=fake.transport) as raw:
        response = await raw.get(fake.zone_url + "v1.0/Tickets/42")
        assert response.status_code == 401
        unknown = await raw.get(fake.zone_url + "v1.0/Nothing/1")
        assert unknown.status_code in (401, 404)


# -- 2. paths and bodies ---------------------------------------------------------------------------------


async def test_whoami_queries_resources_by_user_name_or_email(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    member = await client.whoami()
    assert (member.id, member.identifier, member.name, member.email) == (
        str(API_USER), fake.username, "API User", fake.username,
    )
    (call,) = fake.calls("POST", "Resources/query")
    assert call.json == {
        "filter": [{"op": "or", "items": [
            {"op": "eq", "field": "userName", "value": fake.username},
            {"op": "eq", "field": "email", "value": fake.username},
        ]}],
        "MaxRecords": 1,
    }


async def test_get_ticket_maps_fields_with_picklist_labels(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    ticket = await client.get_ticket("42")
    assert fake.calls("GET", "Tickets/42")
    assert fake.calls("GET", "Tickets/entityInformation/fields")
    assert ticket.id == "42"
    assert ticket.number == "T20240516.0042"
    assert ticket.summary == "Printer offline at front desk"
    assert ticket.description.startswith("The front desk printer")
    assert (ticket.status_id, ticket.status_name, ticket.closed) == ("8", "In Progress", False)
    assert (ticket.board_id, ticket.board_name) == ("9", "Level II Support")
    assert ticket.priority == "High"
    assert ticket.owner == str(JDOE)
    assert ticket.company is None  # filled by ticket_context only
    assert ticket.updated_at is not None and ticket.updated_at.tzinfo is not None


async def test_get_ticket_is_never_cached_and_reads_complete_from_the_picklist(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    fake.picklists["Tickets"]["status"].append(
        {"value": "13", "label": "Complete", "isActive": True, "isDefaultValue": False}
    )
    fake.picklists["Tickets"]["status"][1]["label"] = "Completed (old)"  # stock 5 renamed on this instance
    fake.tickets[42]["status"] = 5
    assert (await client.get_ticket("42")).closed is False
    fake.tickets[42]["status"] = 13
    ticket = await client.get_ticket("42")
    assert ticket.closed is True and ticket.status_name == "Complete"
    assert len(fake.calls("GET", "Tickets/42")) == 2
    assert len(fake.calls("GET", "Tickets/entityInformation/fields")) == 1  # picklists cached per client


async def test_get_ticket_not_found(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    """Autotask answers ``GET Tickets/999`` with 200 and ``{"item": null}``; an unknown ticket number matches no
    row of the query: both are not found (exit 2), naming the PSA and the ticket."""
    from rfpilot.psa.errors import TicketNotFound

    with pytest.raises(TicketNotFound) as caught:
        await client.get_ticket("999")
    assert caught.value.exit_code == 2 and caught.value.message == "Autotask has no ticket 999"
    [get] = fake.calls("GET", "Tickets/999")
    with pytest.raises(TicketNotFound) as caught:
        await client.ticket_context("t20991231.0001")
    assert caught.value.message == "Autotask has no ticket T20991231.0001"


@pytest.mark.parametrize("bad", ["printer", "", "-4", "4.5", "T2024.1", "#"])
async def test_malformed_ticket_ids_are_usage_errors(fake: FakeAutotask, client: autotask.AutotaskClient,
                                                     bad: str) -> None:
    from rfpilot.errors import UsageError

    before = len(fake.calls())
    with pytest.raises(UsageError) as caught:
        await client.get_ticket(bad)
    assert caught.value.exit_code == 1 and "is not an Autotask ticket id or ticket number" in caught.value.message
    assert len(fake.calls()) == before  # nothing was asked of Autotask, not even the zone


async def test_get_ticket_by_ticket_number(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    ticket = await client.get_ticket("T20240516.0042")
    assert ticket.id == "42"
    (query,) = fake.calls("POST", "Tickets/query")
    assert query.json["filter"] == [{"op": "eq", "field": "ticketNumber", "value": "T20240516.0042"}]
    from rfpilot.errors import UsageError

    with pytest.raises(UsageError):
        await client.get_ticket("printer")


async def test_ticket_context(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    fake.add_note(42, "Customer says it started after the Windows update.")
    fake.add_note(42, "Checked the spooler: stopped.", publish=2)
    context = await client.ticket_context("42", notes=5)
    assert context.ticket.company == "Contoso Dental"
    assert fake.calls("GET", "Companies/174")
    assert context.configurations == ["FRONTDESK-PC01 (Workstation)"]
    assert fake.calls("GET", "ConfigurationItems/310")
    assert [n.text for n in context.notes] == [
        "Checked the spooler: stopped.", "Customer says it started after the Windows update.",
    ]
    assert context.notes[0].kind == "internal"
    (notes_query,) = fake.calls("POST", "TicketNotes/query")
    assert notes_query.json == {"filter": [{"op": "eq", "field": "ticketID", "value": 42}], "MaxRecords": 500}


async def test_ticket_context_survives_unreadable_extras(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    fake.error_next(403, "The logged in Resource does not have the adequate permissions", path="Companies/174")
    context = await client.ticket_context("42", notes=0)
    assert context.ticket.company is None
    assert context.configurations == ["FRONTDESK-PC01 (Workstation)"]
    assert not fake.calls("POST", "TicketNotes/query")


async def test_my_open_tickets_filter(fake: FakeAutotask, sleeps: Sleeps) -> None:
    fake.add_ticket(43, status=5)  # complete
    fake.add_ticket(44, queueID=10)  # other queue
    fake.add_ticket(45, assignedResourceID=API_USER)  # someone else's
    fake.add_ticket(46, status=7)
    async with make(fake, sleeps, resource_id=str(JDOE), queues="8, 9") as client:
        tickets = await client.my_open_tickets(limit=50)
    assert [t.id for t in tickets] == ["46", "42"]  # newest first
    (call,) = fake.calls("POST", "Tickets/query")
    assert call.json == {
        "filter": [
            {"op": "eq", "field": "assignedResourceID", "value": JDOE},
            {"op": "noteq", "field": "status", "value": 5},
            {"op": "in", "field": "queueID", "value": [8, 9]},
        ],
        "MaxRecords": 500,  # every page is read: Autotask cannot sort, the newest come last
    }


async def test_my_open_tickets_member_and_board_names(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    fake.add_ticket(47, assignedResourceID=API_USER, queueID=10)
    tickets = await client.my_open_tickets(member="apiuser@example.com", boards=["Monitoring Alert"])
    assert [t.id for t in tickets] == ["47"]
    assert tickets[0].board_name == "Monitoring Alert"
    query = fake.calls("POST", "Tickets/query")[-1]
    assert query.json["filter"][0] == {"op": "eq", "field": "assignedResourceID", "value": API_USER}
    assert query.json["filter"][2] == {"op": "in", "field": "queueID", "value": [10]}
    with pytest.raises(PSARequestError) as caught:
        await client.my_open_tickets(boards=["No Such Queue"])
    assert "Level I Support" in (caught.value.hint or "")


async def test_my_open_tickets_defaults_to_the_api_users_resource(fake: FakeAutotask, sleeps: Sleeps) -> None:
    fake.add_ticket(48, assignedResourceID=API_USER)
    async with make(fake, sleeps) as client:
        tickets = await client.my_open_tickets()
    assert [t.id for t in tickets] == ["48"]
    assert fake.calls("POST", "Tickets/query")[0].json["filter"][0]["value"] == API_USER


async def test_statuses(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    ticket = await client.get_ticket("42")
    statuses = await client.statuses(ticket)
    assert [(s.id, s.name, s.closed) for s in statuses] == [
        ("1", "New", False), ("5", "Complete", True), ("7", "Waiting Customer", False), ("8", "In Progress", False),
        ("17", "Waiting Vendor", False),  # a custom status; the retired "Dispatched" (12) is left out
    ]
    assert (await client.find_status(ticket, "waiting customer")).id == "7"
    assert (await client.find_status(ticket, "Waiting Vendor")).id == "17"
    with pytest.raises(PSAStatusNotFound) as caught:
        await client.find_status(ticket, "Dispatched")
    assert "Dispatched" not in (caught.value.hint or "")
    assert "board" not in caught.value.message  # Autotask statuses are not per queue


@pytest.mark.parametrize(
    ("kind", "title", "publish"),
    [("resolution", "Resolution", 1), ("internal", "Internal note", 2), ("discussion", "Update", 1)],
)
async def test_post_note_bodies(
    fake: FakeAutotask, client: autotask.AutotaskClient, kind: str, title: str, publish: int
) -> None:
    note = await client.post_note("42", "Cleared the print queue; printing works.", kind)  # type: ignore[arg-type]
    (call,) = fake.calls("POST", "Tickets/42/Notes")
    assert call.json == {
        "ticketID": 42,
        "title": title,
        "description": "Cleared the print queue; printing works.",
        "noteType": 3,  # the picklist's default value
        "publish": publish,
    }
    stored = fake.notes[42][-1]
    assert note.id == str(stored["id"]) and note.kind == kind
    assert fake.calls("GET", "TicketNotes/entityInformation/fields")


async def test_post_note_config_overrides(fake: FakeAutotask, sleeps: Sleeps) -> None:
    fake.picklists["TicketNotes"]["publish"].append(
        {"value": "4", "label": "Co-managed Visible", "isActive": True, "isDefaultValue": False}
    )
    async with make(fake, sleeps, note_type="1", publish_public="Co-managed Visible", publish_internal="2") as client:
        await client.post_note("42", "Public text", "discussion")
        await client.post_note("42", "Private text", "internal")
    public, private = fake.calls("POST", "Tickets/42/Notes")
    assert (public.json["noteType"], public.json["publish"]) == (1, 4)
    assert (private.json["noteType"], private.json["publish"]) == (1, 2)


async def test_post_note_without_default_note_type_uses_first_active(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    for value in fake.picklists["TicketNotes"]["noteType"]:
        value["isDefaultValue"] = False
    fake.picklists["TicketNotes"]["noteType"][0]["isActive"] = False
    await client.post_note("42", "text", "internal")
    assert fake.calls("POST", "Tickets/42/Notes")[0].json["noteType"] == 2


async def test_post_note_refuses_too_long_text_before_posting(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    with pytest.raises(PSARequestError) as caught:
        await client.post_note("42", "x" * 32001, "resolution")
    assert "32000" in caught.value.message
    assert not fake.calls("POST")
    await client.post_note("42", "y" * 32000, "resolution")  # the limit itself is fine
    assert len(fake.notes[42]) == 1


async def test_set_status_body_and_no_verification(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    ticket = await client.get_ticket("42")
    done = await client.find_status(ticket, "Complete")
    await client.set_status(ticket, done)
    (call,) = fake.calls("PATCH", "Tickets")
    assert call.json == {"id": 42, "status": 5}
    assert (await client.get_ticket("42")).closed is True

    fake.keep_old_status = True
    await client.set_status(ticket, Status(id="7", name="Waiting Customer"))  # 200, but ignored by the server
    assert fake.calls("PATCH", "Tickets")[-1].json == {"id": 42, "status": 7}
    assert (await client.get_ticket("42")).status_name == "Complete"


async def test_recent_notes_newest_first_with_limit(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    for i in range(5):
        fake.add_note(42, f"note {i}", publish=2 if i == 3 else 1)
    fake.add_ticket(50)
    fake.add_note(50, "other ticket")
    notes = await client.recent_notes("42", limit=3)
    assert [n.text for n in notes] == ["note 4", "note 3", "note 2"]
    assert [n.kind for n in notes] == [None, "internal", None]
    assert notes[0].author == str(JDOE)
    assert notes[0].created_at > notes[1].created_at


async def test_recent_notes_reads_every_page(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    fake.page_size = 2
    for i in range(5):
        fake.add_note(42, f"note {i}")
    notes = await client.recent_notes("42", limit=2)
    assert [n.text for n in notes] == ["note 4", "note 3"]
    assert len(fake.calls("POST", "TicketNotes/query")) == 1
    assert len(fake.calls("POST", "TicketNotes/query/next")) == 2


async def test_create_time_entry(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    start = datetime(2024, 5, 16, 13, 30, tzinfo=timezone.utc)
    entry = await client.create_time_entry("42", start, 1.254, "Diagnosed and fixed the print spooler.")
    (call,) = fake.calls("POST", "TimeEntries")
    assert call.json == {
        "ticketID": 42,
        "resourceID": JDOE,
        "dateWorked": "2024-05-16T00:00:00",
        "startDateTime": "2024-05-16T13:30:00Z",
        "endDateTime": "2024-05-16T14:45:00Z",
        "hoursWorked": 1.25,
        "summaryNotes": "Diagnosed and fixed the print spooler.",
    }
    assert entry.id == str(fake.time_entries[0]["id"]) and entry.hours == 1.25
    with pytest.raises(PSARequestError):
        await client.create_time_entry("42", start, 0, "nothing")
    assert len(fake.calls("POST", "TimeEntries")) == 1


# -- 3. pagination ---------------------------------------------------------------------------------------


async def test_my_open_tickets_follows_three_pages(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    fake.page_size = 2
    for ticket_id in range(60, 64):
        fake.add_ticket(ticket_id)
    tickets = await client.my_open_tickets(limit=100)
    assert [t.id for t in tickets] == ["63", "62", "61", "60", "42"]
    first = fake.calls("POST", "Tickets/query")
    pages = fake.calls("POST", "Tickets/query/next")
    assert len(first) == 1 and len(pages) == 2
    for page in pages:
        assert page.url.startswith(fake.zone_url + "v1.0/Tickets/query/next?paging=")
        assert page.json == first[0].json  # the same query, repeated to the absolute next page URL


async def test_my_open_tickets_keeps_the_newest_past_the_limit(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    fake.page_size = 2
    for ticket_id in range(60, 64):
        fake.add_ticket(ticket_id)
    tickets = await client.my_open_tickets(limit=3)
    assert [t.id for t in tickets] == ["63", "62", "61"]  # not the three Autotask lists first (42, 60, 61)
    assert len(fake.calls("POST", "Tickets/query/next")) == 2  # the newest come on the last page


@pytest.mark.parametrize("limit", [50, 500])
async def test_my_open_tickets_newest_of_534(fake: FakeAutotask, sleeps: Sleeps, limit: int) -> None:
    """534 open tickets, ascending as Autotask lists them, at most 500 a page: `-n 50` showed the 50 oldest and
    `-n 500` missed the 34 newest."""
    fake.tickets.clear()
    for ticket_id in range(1001, 1535):
        fake.add_ticket(ticket_id)
    async with make(fake, sleeps, resource_id=str(JDOE), with_zone=True) as client:
        tickets = await client.my_open_tickets(limit=limit)
    assert [t.id for t in tickets] == [str(i) for i in range(1534, 1534 - limit, -1)]
    assert len(fake.calls("POST", "Tickets/query")) == 1 and len(fake.calls("POST", "Tickets/query/next")) == 1


async def test_my_open_tickets_include_secondary_resource_tickets(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    fake.add_ticket(70, assignedResourceID=API_USER)
    fake.add_secondary_resource(70, JDOE)  # jdoe helps on someone else's ticket
    fake.add_ticket(71, assignedResourceID=API_USER, status=5)
    fake.add_secondary_resource(71, JDOE)  # ... and helped on one that is complete
    fake.add_ticket(72, assignedResourceID=API_USER, queueID=10)
    fake.add_secondary_resource(72, JDOE)  # ... and on one in a queue outside the list
    fake.add_ticket(73, assignedResourceID=API_USER)
    fake.add_secondary_resource(73, API_USER)  # someone else is the secondary resource
    tickets = await client.my_open_tickets(boards=["8", "9"])
    assert [t.id for t in tickets] == ["70", "42"]
    (secondary,) = fake.calls("POST", "TicketSecondaryResources/query")
    assert secondary.json["filter"] == [{"op": "eq", "field": "resourceID", "value": JDOE}]


async def test_secondary_tickets_older_than_the_newest_n_are_not_read(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    for ticket_id in range(80, 85):
        fake.add_ticket(ticket_id)
    fake.add_ticket(10, assignedResourceID=API_USER)
    fake.add_secondary_resource(10, JDOE)  # older than the 3 newest: cannot make the list
    fake.add_ticket(90, assignedResourceID=API_USER)
    fake.add_secondary_resource(90, JDOE)  # the newest of all
    tickets = await client.my_open_tickets(limit=3)
    assert [t.id for t in tickets] == ["90", "84", "83"]
    (secondary,) = fake.calls("POST", "TicketSecondaryResources/query")
    assert {"op": "gt", "field": "ticketID", "value": 82} in secondary.json["filter"]
    by_id = [c for c in fake.calls("POST", "Tickets/query") if c.json["filter"][0].get("field") == "id"]
    assert [c.json["filter"][0]["value"] for c in by_id] == [[90]]


async def test_my_open_tickets_name_their_companies_in_one_query(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    fake.companies[175] = {"id": 175, "companyName": "Fabrikam Legal", "isActive": True}
    fake.add_ticket(50, companyID=175)
    fake.add_ticket(51, companyID=174)
    fake.add_ticket(52, companyID=999)  # a company the API user cannot see
    tickets = await client.my_open_tickets()
    assert [(t.id, t.company) for t in tickets] == [
        ("52", None), ("51", "Contoso Dental"), ("50", "Fabrikam Legal"), ("42", "Contoso Dental")]
    (companies,) = fake.calls("POST", "Companies/query")
    assert companies.json["filter"] == [{"op": "in", "field": "id", "value": [174, 175, 999]}]
    assert not [r for r in fake.requests if r.method == "GET" and r.path.startswith("Companies/")]


async def test_unreadable_companies_leave_the_list_without_names(
    fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps
) -> None:
    fake.error_next(403, "The logged in Resource does not have the adequate permissions", path="Companies/query")
    tickets = await client.my_open_tickets()
    assert [(t.id, t.company) for t in tickets] == [("42", None)]


# -- 4-7. retries and errors --------------------------------------------------------------------------------


async def test_429_honours_retry_after(fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps) -> None:
    fake.rate_limit_next("3", method="GET", path="Tickets/42")
    ticket = await client.get_ticket("42")
    assert ticket.id == "42"
    assert sleeps == [3.0]
    assert len(fake.calls("GET", "Tickets/42")) == 2


async def test_429_on_note_post_is_retried(fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps) -> None:
    fake.rate_limit_next(2, method="POST", path="Tickets/42/Notes")
    await client.post_note("42", "text", "internal")
    assert sleeps == [2.0]
    assert len(fake.notes[42]) == 1


async def test_500_then_success_on_get(fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps) -> None:
    fake.error_next(500, "An unexpected error occurred", method="GET", path="Tickets/42")
    ticket = await client.get_ticket("42")
    assert ticket.summary == "Printer offline at front desk"
    assert len(fake.calls("GET", "Tickets/42")) == 2
    assert len(sleeps) == 1


async def test_500_on_query_is_retried(fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps) -> None:
    fake.error_next(500, "An unexpected error occurred", method="POST", path="Tickets/query")
    assert [t.id for t in await client.my_open_tickets()] == ["42"]
    assert len(fake.calls("POST", "Tickets/query")) == 2


async def test_500_on_note_post_is_ambiguous_and_not_retried(
    fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps
) -> None:
    fake.error_next(500, "An unexpected error occurred", method="POST", path="Tickets/42/Notes")
    with pytest.raises(PSAUnavailableError) as caught:
        await client.post_note("42", "Fixed.", "resolution")
    assert caught.value.ambiguous is True
    assert len(fake.calls("POST", "Tickets/42/Notes")) == 1
    assert sleeps == []


async def test_lost_answer_after_note_post_is_ambiguous_and_note_is_findable(
    fake: FakeAutotask, client: autotask.AutotaskClient
) -> None:
    fake.fail_after_post = True
    with pytest.raises(PSAUnavailableError) as caught:
        await client.post_note("42", "Replaced the toner.", "resolution")
    assert caught.value.ambiguous is True
    assert len(fake.calls("POST", "Tickets/42/Notes")) == 1
    (latest,) = await client.recent_notes("42", limit=1)
    assert latest.text == "Replaced the toner."
    assert latest.author == str(API_USER)


async def test_400_error_body_is_made_readable(fake: FakeAutotask, client: autotask.AutotaskClient) -> None:
    fake.error_next(
        400,
        "Value for field status is invalid.",
        "The ticket is locked by another user.",
        message="The request is invalid.",
        method="PATCH",
        path="Tickets",
    )
    with pytest.raises(PSARequestError) as caught:
        await client.set_status(Ticket(id="42", summary=""), Status(id="5", name="Complete"))
    message = caught.value.message
    assert caught.value.status_code == 400
    assert (
        "The request is invalid.; Value for field status is invalid.; The ticket is locked by another user."
        in message
    )
    assert "{" not in message and "[" not in message


async def test_500_permission_error_is_final(
    fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps
) -> None:
    fake.error_next(
        500,
        "The logged in Resource does not have the adequate permissions to create this entity type.",
        method="POST",
        path="TimeEntries",
    )
    with pytest.raises(PSARequestError) as caught:
        await client.create_time_entry("42", datetime(2024, 5, 16, 9, 0, tzinfo=timezone.utc), 0.5, "work")
    assert "adequate permissions" in caught.value.message
    assert len(fake.calls("POST", "TimeEntries")) == 1
    assert sleeps == []


async def test_500_invalid_filter_is_final(fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps) -> None:
    fake.error_next(500, "Invalid filter: field lastActivityDate", path="Tickets/query")
    with pytest.raises(PSARequestError) as caught:
        await client.my_open_tickets()
    assert "Invalid filter" in caught.value.message
    assert len(fake.calls("POST", "Tickets/query")) == 1


async def test_down_is_unavailable_not_ambiguous(
    fake: FakeAutotask, client: autotask.AutotaskClient, sleeps: Sleeps
) -> None:
    await client.post_note("42", "first", "internal")  # picklists are now cached: the next POST is reached
    fake.down = True
    with pytest.raises(PSAUnavailableError) as caught:
        await client.get_ticket("42")
    assert caught.value.ambiguous is False
    assert len(sleeps) == 3  # four tries, three waits
    with pytest.raises(PSAUnavailableError) as posted:
        await client.post_note("42", "second", "internal")
    assert posted.value.ambiguous is False  # the connection never opened: nothing was applied
    assert len(fake.calls("POST", "Tickets/42/Notes")) == 5  # 1 delivered + 4 tries that never connected
    assert [n["description"] for n in fake.notes[42]] == ["first"]


# -- 8. status names ------------------------------------------------------------------------------------


async def test_unknown_status_name_lists_the_available_ones(client: autotask.AutotaskClient) -> None:
    ticket = await client.get_ticket("42")
    with pytest.raises(PSAStatusNotFound) as caught:
        await client.find_status(ticket, "Resolved")
    assert "Resolved" in caught.value.message
    for name in ("New", "Complete", "Waiting Customer", "In Progress"):
        assert name in (caught.value.hint or "")


# -- 9. no secret anywhere --------------------------------------------------------------------------------


async def test_no_secret_in_errors_or_logs(
    fake: FakeAutotask, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rfpilot.psa")
    secrets = (fake.secret, fake.integration_code)
    errors: list[Exception] = []
    async with make(fake, sleeps) as client:
        await client.whoami()
        fake.error_next(400, "Bad request", path="Tickets/42")
        fake.error_next(500, "boom", method="POST", path="Tickets/42/Notes")
        fake.error_next(500, "The logged in Resource does not have the adequate permissions", path="TimeEntries")
        fake.rate_limit_next("1", path="Tickets/query")
        for attempt in (
            client.get_ticket("42"),
            client.post_note("42", "text", "resolution"),
            client.create_time_entry("42", datetime(2024, 5, 16, tzinfo=timezone.utc), 1, "x"),
            client.find_status(Ticket(id="42", summary=""), "Nope"),
        ):
            try:
                await attempt
            except Exception as exc:  # noqa: BLE001 - every failure is inspected below
                errors.append(exc)
        await client.my_open_tickets()
        fake.down = True
        try:
            await client.recent_notes("42")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    values, wrong = fake.connection(with_zone=True)
    wrong["secret"] = "wrong-" + fake.secret
    fake.down = False
    async with autotask.build(values, wrong, transport=fake.transport, policy=RetryPolicy(sleep=sleeps)) as client:
        try:
            await client.whoami()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    assert len(errors) == 6
    texts = [str(e) for e in errors] + [getattr(e, "hint", None) or "" for e in errors] + [repr(e) for e in errors]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records
    for secret in secrets:
        assert all(secret not in text for text in texts)
