"""A stateful, strict fake of the Autotask REST API v1.0 (reference psa-llm.md §2), served by httpx.MockTransport.

One transport answers both the zone lookup host (``webservices.autotask.net``) and the tenant's zone. State is
plain attributes (tickets, notes, picklists, resources...) that tests seed and inspect; every request is
recorded in ``requests``. Switches make it misbehave the ways the client must survive.

    fake = FakeAutotask()
    fake.add_ticket(42, title="Printer offline")
    settings, secrets = fake.connection()
    client = autotask.build(settings, secrets, transport=fake.transport, policy=...)
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

LOOKUP_HOST = "webservices.autotask.net"
PREFIX = "/atservicesrest/v1.0/"
MAX_TEXT = 32000

QUERY_FIELDS: dict[str, set[str]] = {
    "Tickets": {
        "id", "ticketNumber", "title", "description", "status", "queueID", "priority", "companyID",
        "contactID", "assignedResourceID", "configurationItemID", "createDate", "lastActivityDate",
    },
    "TicketNotes": {
        "id", "ticketID", "title", "description", "noteType", "publish", "createDateTime", "lastActivityDate",
        "creatorResourceID", "createdByContactID",
    },
    "Resources": {"id", "userName", "email", "firstName", "lastName", "isActive"},
    "TicketSecondaryResources": {"id", "ticketID", "resourceID", "roleID"},
    "Companies": {"id", "companyName", "isActive"},
}


def _pick(value: int, label: str, *, default: bool = False, active: bool = True) -> dict[str, Any]:
    """A picklist entry as Autotask lists it (the value is a string)."""
    return {
        "value": str(value),
        "label": label,
        "isDefaultValue": default,
        "sortOrder": value,
        "parentValue": "",
        "isActive": active,
        "isSystem": False,
    }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Recorded:
    """One request as the fake saw it. ``path`` is below ``/atservicesrest/v1.0/`` (e.g. "Tickets/42")."""

    method: str
    url: str
    host: str
    path: str
    params: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class _Scripted:
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    path: str | None
    times: int

    def matches(self, rec: Recorded) -> bool:
        return (self.method is None or self.method.upper() == rec.method) and (
            self.path is None or self.path.casefold() == rec.path.casefold()
        )


@dataclass
class _Cursor:
    entity: str
    body: Any
    remaining: list[dict[str, Any]]
    page_len: int


class _Refusal(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(*errors)
        self.status = status
        self.errors = list(errors)


class FakeAutotask:
    """The fake tenant. Switches: ``keep_old_status``, ``down``, ``fail_after_post``, ``rate_limit_next()``,
    ``error_next()``; ``page_size`` caps records per page (to force pagination); ``list_order`` ("oldest" or
    "newest") is the order query results come in."""

    def __init__(
        self,
        zone_url: str = "https://webservices5.autotask.net/atservicesrest/",
        *,
        username: str = "apiuser@example.com",
        secret: str = "at-SECRET-9f8e7d6c",
        integration_code: str = "INTCODE-7Q2W3E4R5T6Y7U8I9O0P",
    ) -> None:
        self.zone_url = zone_url
        self.username = username
        self.secret = secret
        self.integration_code = integration_code
        self.requests: list[Recorded] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.companies: dict[int, dict[str, Any]] = {
            174: {"id": 174, "companyName": "Contoso Dental", "isActive": True},
        }
        self.configuration_items: dict[int, dict[str, Any]] = {
            310: {
                "id": 310,
                "companyID": 174,
                "referenceTitle": "FRONTDESK-PC01",
                "serialNumber": "5CG1234XYZ",
                "configurationItemType": 1,
            },
        }
        self.time_entries: list[dict[str, Any]] = []
        # TicketSecondaryResources rows: a resource on a ticket besides its primary (assignedResourceID) one.
        # They stay when the ticket is completed, so an engineer's rows include every past ticket.
        self.secondary_resources: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = [
            {"id": 29682885, "userName": username, "email": username, "firstName": "API", "lastName": "User",
             "isActive": True},
            {"id": 29682901, "userName": "jdoe", "email": "jdoe@example.com", "firstName": "Jane", "lastName": "Doe",
             "isActive": True},
        ]
        self.picklists: dict[str, dict[str, list[dict[str, Any]]]] = {
            "Tickets": {
                # Stock values, one an instance added (17) and one it retired (12): picklists carry both.
                "status": [_pick(1, "New"), _pick(5, "Complete"), _pick(7, "Waiting Customer"),
                           _pick(8, "In Progress"), _pick(12, "Dispatched", active=False),
                           _pick(17, "Waiting Vendor")],
                "queueID": [_pick(8, "Level I Support"), _pick(9, "Level II Support"),
                            _pick(10, "Monitoring Alert"), _pick(11, "Old Projects", active=False)],
                "priority": [_pick(1, "High"), _pick(2, "Medium", default=True), _pick(3, "Low"),
                             _pick(4, "Critical")],
            },
            "TicketNotes": {
                "noteType": [_pick(1, "Task Summary"), _pick(2, "Task Detail"),
                             _pick(3, "Task Notes", default=True)],
                "publish": [_pick(1, "All Autotask Users", default=True), _pick(2, "Internal Only")],
            },
            "ConfigurationItems": {
                "configurationItemType": [_pick(1, "Workstation"), _pick(2, "Server")],
            },
        }
        self.page_size = 500
        self.list_order = "oldest"  # query results by id: "oldest" first (Autotask's habit) or "newest" first
        self.require_note_titles = True
        # switches
        self.keep_old_status = False
        self.down = False
        self.fail_after_post = False
        self._scripted: list[_Scripted] = []
        self._cursors: dict[str, _Cursor] = {}
        self._ids = itertools.count(50001)
        self._clock = datetime(2024, 5, 16, 9, 0, tzinfo=timezone.utc)

    # -- seeding and inspection ------------------------------------------------------------------------

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def connection(self, *, with_zone: bool = False, **settings: str) -> tuple[dict[str, str], dict[str, str]]:
        """``settings, secrets`` for ``autotask.build`` that this fake accepts (zone looked up unless asked)."""
        values = {"username": self.username, **settings}
        if with_zone:
            values["zone_url"] = self.zone_url
        return values, {"secret": self.secret, "integration_code": self.integration_code}

    def resource_id(self, user_name: str | None = None) -> int:
        name = (user_name or self.username).casefold()
        return next(r["id"] for r in self.resources if r["userName"].casefold() == name)

    def add_ticket(self, ticket_id: int | None = None, **fields: Any) -> dict[str, Any]:
        """Seed a ticket (any Autotask field may be given); returns the stored item."""
        ticket_id = ticket_id if ticket_id is not None else next(self._ids)
        created = self._tick()
        item = {
            "id": ticket_id,
            "ticketNumber": f"T20240516.{ticket_id % 10000:04d}",
            "title": f"Ticket {ticket_id}",
            "description": "",
            "status": 1,
            "queueID": 8,
            "priority": 2,
            "companyID": 174,
            "contactID": None,
            "assignedResourceID": self.resource_id("jdoe"),
            "configurationItemID": None,
            "createDate": _stamp(created),
            "lastActivityDate": _stamp(created),
        }
        item.update(fields)
        self.tickets[ticket_id] = item
        self.notes.setdefault(ticket_id, [])
        return item

    def add_secondary_resource(self, ticket_id: int, resource_id: int, role_id: int = 29683461) -> dict[str, Any]:
        row = {"id": next(self._ids), "ticketID": ticket_id, "resourceID": resource_id, "roleID": role_id}
        self.secondary_resources.append(row)
        return row

    def add_note(self, ticket_id: int, description: str, **fields: Any) -> dict[str, Any]:
        created = self._tick()
        note = {
            "id": next(self._ids),
            "ticketID": ticket_id,
            "title": "Note",
            "description": description,
            "noteType": 1,
            "publish": 1,
            "createDateTime": _stamp(created),
            "lastActivityDate": _stamp(created),
            "creatorResourceID": self.resource_id("jdoe"),
            "createdByContactID": None,
        }
        note.update(fields)
        self.notes.setdefault(ticket_id, []).append(note)
        return note

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [
            r for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or r.path.casefold() == path.casefold())
        ]

    def rate_limit_next(self, seconds: str | float = "2", *, method: str | None = None, path: str | None = None,
                        times: int = 1) -> None:
        """Answer the next matching request(s) 429 with ``Retry-After: seconds``."""
        self._scripted.append(_Scripted(429, {"errors": ["Too many requests"]}, {"Retry-After": str(seconds)},
                                        method, path, times))

    def error_next(self, status: int, *errors: str, message: str | None = None, body: Any = None,
                   method: str | None = None, path: str | None = None, times: int = 1) -> None:
        """Answer the next matching request(s) with ``status`` and an Autotask error body (or ``body``)."""
        if body is None:
            body = {"errors": list(errors)}
            if message is not None:
                body["message"] = message
        self._scripted.append(_Scripted(status, body, {}, method, path, times))

    # -- the server ------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        rec = self._record(request)
        if self.down:
            raise httpx.ConnectError("fake Autotask is unreachable", request=request)
        for scripted in self._scripted:
            if scripted.matches(rec):
                scripted.times -= 1
                if scripted.times <= 0:
                    self._scripted.remove(scripted)
                return httpx.Response(scripted.status, json=scripted.body, headers=scripted.headers)
        try:
            if rec.host == LOOKUP_HOST and rec.path.casefold() == "zoneinformation":
                return self._zone_information(rec)
            if not rec.url.startswith(self.zone_url + "v1.0/"):
                raise _Refusal(404, f"No resource at {rec.host}{urlsplit(rec.url).path}")
            if not self._authorized(request):
                return httpx.Response(401)
            if rec.method in {"POST", "PATCH", "PUT"} and request.headers.get("Content-Type") != "application/json":
                raise _Refusal(415, "Content-Type must be application/json")
            return self._route(rec, request)
        except _Refusal as refusal:
            return httpx.Response(refusal.status, json={"errors": refusal.errors})

    def _record(self, request: httpx.Request) -> Recorded:
        path = request.url.path
        below = path[len(PREFIX):] if path.lower().startswith(PREFIX) else path
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = request.content.decode(errors="replace")
        rec = Recorded(
            method=request.method,
            url=str(request.url),
            host=request.url.host,
            path=below,
            params=dict(request.url.params),
            json=body,
            headers=dict(request.headers),
        )
        self.requests.append(rec)
        return rec

    def _authorized(self, request: httpx.Request) -> bool:
        h = request.headers
        return (
            h.get("ApiIntegrationCode") == self.integration_code
            and h.get("UserName") == self.username
            and h.get("Secret") == self.secret
        )

    def _zone_information(self, rec: Recorded) -> httpx.Response:
        if rec.method != "GET":
            raise _Refusal(405, "The requested resource does not support this method")
        user = rec.params.get("user", "")
        if user.casefold() != self.username.casefold():
            # Autotask answers a blank or unknown user with a 500 (django-autotask: "AT returns 500 if username
            # is blank or incorrect"); its text is undocumented, so this one does not name the user.
            raise _Refusal(500, "Object reference not set to an instance of an object.")
        web = self.zone_url.replace("webservices", "ww").split("/atservicesrest")[0] + "/"
        return httpx.Response(200, json={"zoneName": "America East 5", "url": self.zone_url, "webUrl": web,
                                         "ci": 12345})

    def _route(self, rec: Recorded, request: httpx.Request) -> httpx.Response:
        method, path = rec.method, rec.path
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"(\w+)/entityInformation/fields", self._fields),
            ("GET", r"Tickets/(\d+)", lambda r, m: self._item(self.tickets, m)),
            ("GET", r"Companies/(\d+)", lambda r, m: self._item(self.companies, m)),
            ("GET", r"ConfigurationItems/(\d+)", lambda r, m: self._item(self.configuration_items, m)),
            ("POST", r"(\w+)/query", self._query),
            ("POST", r"(\w+)/query/next", self._next_page),
            ("GET", r"(\w+)/query/next", self._next_page),
            ("PATCH", r"Tickets", self._patch_ticket),
            ("POST", r"Tickets/(\d+)/Notes", lambda r, m: self._post_note(r, m, request)),
            ("POST", r"TimeEntries", self._post_time_entry),
        ]
        known_path = False
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path, re.IGNORECASE)
            if match:
                known_path = True
                if verb == method:
                    return handler(rec, match)
        if known_path:
            raise _Refusal(405, "The requested resource does not support this method")
        raise _Refusal(404, f"No HTTP resource was found that matches the request URI '{rec.url}'")

    # -- entities --------------------------------------------------------------------------------------

    def _fields(self, rec: Recorded, match: re.Match[str]) -> httpx.Response:
        entity = self._entity(match.group(1), self.picklists)
        fields = [
            {"name": name, "dataType": "integer", "isPickList": True, "isRequired": False, "isReadOnly": False,
             "picklistValues": values}
            for name, values in self.picklists[entity].items()
        ]
        fields.insert(0, {"name": "id", "dataType": "long", "isPickList": False, "picklistValues": None})
        return httpx.Response(200, json={"fields": fields})

    def _item(self, table: dict[int, dict[str, Any]], match: re.Match[str]) -> httpx.Response:
        return httpx.Response(200, json={"item": table.get(int(match.group(1)))})

    def _rows(self, entity: str) -> list[dict[str, Any]]:
        if entity == "Tickets":
            return list(self.tickets.values())
        if entity == "TicketNotes":
            return [note for notes in self.notes.values() for note in notes]
        if entity == "TicketSecondaryResources":
            return list(self.secondary_resources)
        if entity == "Companies":
            return list(self.companies.values())
        return list(self.resources)

    def _query(self, rec: Recorded, match: re.Match[str]) -> httpx.Response:
        entity = self._entity(match.group(1), QUERY_FIELDS)
        body = rec.json
        if not isinstance(body, dict) or not isinstance(body.get("filter"), list) or not body["filter"]:
            raise _Refusal(500, "Invalid query: a filter is required")
        page_len = body.get("MaxRecords", 500)
        if not isinstance(page_len, int) or not 1 <= page_len <= 500:
            raise _Refusal(500, "MaxRecords must be between 1 and 500")
        rows = [row for row in self._rows(entity) if all(self._matches(entity, row, c) for c in body["filter"])]
        # Autotask queries cannot be sorted: results come by id, ascending (``list_order`` "oldest").
        rows.sort(key=lambda row: row["id"], reverse=self.list_order == "newest")
        cursor = _Cursor(entity, body, rows, min(page_len, self.page_size))
        return self._page(cursor)

    def _next_page(self, rec: Recorded, match: re.Match[str]) -> httpx.Response:
        cursor = self._cursors.pop(rec.params.get("paging", ""), None)
        if cursor is None or cursor.entity.casefold() != match.group(1).casefold():
            raise _Refusal(500, "Invalid paging token")
        if rec.method == "POST" and rec.json != cursor.body:
            raise _Refusal(500, "The query of a next page must repeat the first page's query")
        return self._page(cursor)

    def _page(self, cursor: _Cursor) -> httpx.Response:
        page, rest = cursor.remaining[: cursor.page_len], cursor.remaining[cursor.page_len:]
        next_url = None
        if rest:
            token = f"p{len(self.requests)}x{len(self._cursors)}"
            self._cursors[token] = _Cursor(cursor.entity, cursor.body, rest, cursor.page_len)
            next_url = f"{self.zone_url}v1.0/{cursor.entity}/query/next?paging={token}"
        details = {"count": len(page), "requestCount": cursor.page_len, "prevPageUrl": None, "nextPageUrl": next_url}
        return httpx.Response(200, json={"items": page, "pageDetails": details})

    def _matches(self, entity: str, row: dict[str, Any], cond: Any) -> bool:
        if not isinstance(cond, dict):
            raise _Refusal(500, "Invalid filter: a condition must be an object")
        op = str(cond.get("op", ""))
        if op in ("and", "or"):
            items = cond.get("items")
            if not isinstance(items, list) or not items:
                raise _Refusal(500, f"Invalid filter: '{op}' needs items")
            results = [self._matches(entity, row, c) for c in items]
            return all(results) if op == "and" else any(results)
        name = cond.get("field")
        if name not in QUERY_FIELDS[entity]:
            raise _Refusal(500, f"Invalid filter: field {name}")
        actual, value = _norm(row.get(name)), cond.get("value")
        if op == "eq":
            return actual == _norm(value)
        if op == "noteq":
            return actual != _norm(value)
        if op in ("in", "notIn"):
            if not isinstance(value, list):
                raise _Refusal(500, f"Invalid filter: '{op}' needs a list value")
            inside = actual in [_norm(v) for v in value]
            return inside if op == "in" else not inside
        if op == "exist":
            return actual is not None
        if op == "notExist":
            return actual is None
        if op == "contains":
            return isinstance(actual, str) and str(_norm(value)) in actual
        if op in ("gt", "gte", "lt", "lte"):
            if actual is None:
                return False
            other = _norm(value)
            return {"gt": actual > other, "gte": actual >= other, "lt": actual < other, "lte": actual <= other}[op]
        raise _Refusal(500, f"Invalid filter: operator {op}")

    def _patch_ticket(self, rec: Recorded, match: re.Match[str]) -> httpx.Response:
        body = rec.json
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise _Refusal(500, "The id of the entity to update is required in the body")
        ticket = self.tickets.get(body["id"])
        if ticket is None:
            raise _Refusal(404, f"Ticket {body['id']} not found")
        changes = {k: v for k, v in body.items() if k != "id"}
        if "status" in changes and not self._valid("Tickets", "status", changes["status"]):
            raise _Refusal(500, f"Value {changes['status']!r} is not a valid value for field status")
        if self.keep_old_status:
            changes.pop("status", None)
        ticket.update(changes)
        ticket["lastActivityDate"] = _stamp(self._tick())
        return httpx.Response(200, json={"itemId": ticket["id"]})

    def _post_note(self, rec: Recorded, match: re.Match[str], request: httpx.Request) -> httpx.Response:
        ticket_id = int(match.group(1))
        if ticket_id not in self.tickets:
            raise _Refusal(404, f"Ticket {ticket_id} not found")
        body = rec.json if isinstance(rec.json, dict) else {}
        errors = []
        if body.get("ticketID", ticket_id) != ticket_id:
            errors.append("ticketID does not match the parent ticket")
        if self.require_note_titles and not str(body.get("title") or "").strip():
            errors.append("Title is required for ticket notes in this category")
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            errors.append("Description is required")
        elif len(description) > MAX_TEXT:
            errors.append(f"Description exceeds the maximum length of {MAX_TEXT}")
        for name in ("noteType", "publish"):
            if not self._valid("TicketNotes", name, body.get(name)):
                errors.append(f"Value {body.get(name)!r} is not a valid value for field {name}")
        if errors:
            raise _Refusal(500, *errors)
        created = self._tick()
        note = {
            "id": next(self._ids),
            "ticketID": ticket_id,
            "title": body["title"],
            "description": description,
            "noteType": body["noteType"],
            "publish": body["publish"],
            "createDateTime": _stamp(created),
            "lastActivityDate": _stamp(created),
            "creatorResourceID": self.resource_id(),
            "createdByContactID": None,
        }
        self.notes.setdefault(ticket_id, []).append(note)
        if self.fail_after_post:
            self.fail_after_post = False
            raise httpx.ReadTimeout("fake Autotask applied the note but the answer was lost", request=request)
        return httpx.Response(200, json={"itemId": note["id"]})

    def _post_time_entry(self, rec: Recorded, match: re.Match[str]) -> httpx.Response:
        body = rec.json if isinstance(rec.json, dict) else {}
        errors = [f"{name} is required" for name in ("resourceID", "dateWorked", "hoursWorked", "summaryNotes")
                  if body.get(name) in (None, "")]
        if body.get("ticketID") not in self.tickets:
            errors.append(f"Ticket {body.get('ticketID')} not found")
        if not any(r["id"] == body.get("resourceID") for r in self.resources):
            errors.append(f"Resource {body.get('resourceID')} not found")
        hours = body.get("hoursWorked")
        if not isinstance(hours, (int, float)) or not 0 < hours <= 24:
            errors.append("hoursWorked must be more than 0 and at most 24")
        if errors:
            raise _Refusal(500, *errors)
        entry = {"id": next(self._ids), **body}
        self.time_entries.append(entry)
        return httpx.Response(200, json={"itemId": entry["id"]})

    # -- helpers ---------------------------------------------------------------------------------------

    def _entity(self, name: str, known: dict[str, Any]) -> str:
        for entity in known:
            if entity.casefold() == name.casefold():
                return entity
        raise _Refusal(404, f"No HTTP resource was found for entity '{name}'")

    def _valid(self, entity: str, name: str, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return False
        return any(v["value"] == str(value) and v["isActive"] for v in self.picklists[entity][name])

    def _tick(self) -> datetime:
        self._clock += timedelta(minutes=1)
        return self._clock


def _norm(value: Any) -> Any:
    """Autotask compares "5" and 5 alike, and strings without regard to case."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else text.casefold()
    return value
