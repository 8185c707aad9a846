"""A stateful, strict fake of the ConnectWise Manage REST API 3.0 behind ``httpx.MockTransport``.

Shapes follow reference psa-llm.md §1 (hand-written from the documented models, no vendor files). The fake
checks the Basic auth and ``clientId`` headers (401 without them), answers 404 for anything it does not know,
evaluates ``conditions``/``orderBy``/``page``/``pageSize`` on its lists and pages them with a ``Link`` header,
and records every request in ``requests``.

State (plain attributes; ticket ids are ints, as in ConnectWise's JSON):

* ``tickets``: ticket id -> ticket JSON; ``notes``: ticket id -> note JSON list (ids increasing);
* ``board_statuses``: board id -> status JSON list; ``members``: identifier -> member JSON;
* ``configurations``: configuration id -> configuration JSON; ``ticket_configurations``: ticket id -> ids;
* ``time_entries``: created time entry JSON, in order.

Switches for the writeback tests:

* ``keep_old_status``: a PATCH answers 200 with the ticket but leaves the status alone (CW's silent refusal);
* ``down``: every request raises ``httpx.ConnectError``;
* ``fail_after_post``: the next note POST is applied, then ``httpx.ReadTimeout`` is raised (ambiguous);
* ``rate_limit_next``: the next request (or that many, when an int) gets 429 with ``Retry-After: 2``;
* ``error_next``: ``(status, body)``: the next request gets that status and body (dict -> JSON, str -> text);
* ``max_page_size``: the server's cap on ``pageSize`` (1000 like ConnectWise; lower it to force paging);
  lists come by id, ascending, unless ``orderBy`` says otherwise;
* ``notes_order``: ``"oldest"`` or ``"newest"`` lists a ticket's notes in that order, ignoring ``orderBy``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

STATUS_NAMES = ("New", "In Progress", "Resolved", "Escalated")
CLOSED_STATUS_NAMES = frozenset({"Resolved"})
CW_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class FakeConnectWise:
    def __init__(
        self,
        site: str = "api-na.myconnectwise.net",
        codebase: str = "v2025_1",
        *,
        company_id: str = "acmemsp",
        public_key: str = "PubKey7f3a9c",
        private_key: str = "PrivSecret-9d41e2b8",
        client_id: str = "5c1d9e0a-client-guid-3f7b",
        api_member: str = "rfpilot-api",
    ) -> None:
        self.site = site
        self.codebase = codebase
        self.company_id = company_id
        self.public_key = public_key
        self.private_key = private_key
        self.client_id = client_id
        self.api_member = api_member

        self.requests: list[httpx.Request] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.board_statuses: dict[int, list[dict[str, Any]]] = {}
        self.boards: dict[int, str] = {}
        self.members: dict[str, dict[str, Any]] = {}
        self.configurations: dict[int, dict[str, Any]] = {}
        self.ticket_configurations: dict[int, list[int]] = {}
        self.time_entries: list[dict[str, Any]] = []

        self.keep_old_status = False
        self.down = False
        self.fail_after_post = False
        self.rate_limit_next: int = 0
        self.error_next: tuple[int, Any] | None = None
        self.max_page_size = 1000
        self.notes_order: str | None = None  # "oldest"/"newest": notes listed so whatever ``orderBy`` asks

        self._ids = itertools.count(1)
        self._status_ids = itertools.count(101)
        self._note_ids = itertools.count(9001)
        self._time_ids = itertools.count(70001)
        self._clock = datetime(2025, 5, 16, 9, 0, tzinfo=UTC)

        self.add_member(api_member, "Rfpilot", "Integration", member_id=140)
        self.add_member("jdoe", "John", "Doe", member_id=149)

    # -- wiring ---------------------------------------------------------------------------------------------

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    @property
    def api_prefix(self) -> str:
        return f"/{self.codebase}/apis/3.0"

    def settings(self, *, discover: bool = False, **overrides: Any) -> dict[str, Any]:
        """Connection settings matching this fake (``discover=True`` leaves the codebase out)."""
        settings: dict[str, Any] = {"site": self.site, "company_id": self.company_id}
        if not discover:
            settings["codebase"] = self.codebase
        settings.update(overrides)
        return settings

    def secrets(self, **overrides: str) -> dict[str, str]:
        secrets = {"public_key": self.public_key, "private_key": self.private_key, "client_id": self.client_id}
        secrets.update(overrides)
        return secrets

    def connection(self, *, discover: bool = False, **overrides: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """``settings, secrets`` for ``rfpilot.psa.connectwise.build``."""
        return self.settings(discover=discover, **overrides), self.secrets()

    def build(self, policy: Any = None, *, discover: bool = False, **overrides: Any) -> Any:
        """A ConnectWise client wired to this fake."""
        from rfpilot.psa import connectwise

        settings, secrets = self.connection(discover=discover, **overrides)
        return connectwise.build(settings, secrets, transport=self.transport, policy=policy)

    def calls(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        """Recorded requests, optionally by method and by path relative to the API root."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (path is None or self.api_path(r) == path)
        ]

    def api_path(self, request: httpx.Request) -> str:
        return request.url.path.removeprefix(self.api_prefix)

    # -- seeding --------------------------------------------------------------------------------------------

    def add_member(self, identifier: str, first: str, last: str, *, member_id: int | None = None) -> dict[str, Any]:
        member = {
            "id": member_id if member_id is not None else next(self._ids) + 500,
            "identifier": identifier,
            "firstName": first,
            "lastName": last,
            "officeEmail": f"{identifier}@acmemsp.example",
            "inactiveFlag": False,
            "licenseClass": "F",
            "_info": {"member_href": f"https://{self.site}{self.api_prefix}/system/members/{identifier}"},
        }
        self.members[identifier] = member
        return member

    def seed_board(self, board_id: int = 1, name: str = "Help Desk") -> list[dict[str, Any]]:
        """A board with the statuses New / In Progress / Resolved (closed) / Escalated and a retired (inactive) one
        (ids unique across boards)."""
        if board_id in self.board_statuses:
            return self.board_statuses[board_id]
        self.boards[board_id] = name
        self.board_statuses[board_id] = [
            self.status_json(board_id, status_name, sort)
            for sort, status_name in enumerate(STATUS_NAMES)
        ]
        # A board lists the statuses it retired too (inactive), as ConnectWise does: never a target.
        self.board_statuses[board_id].append(self.status_json(board_id, "Waiting Vendor (retired)", 9, inactive=True))
        return self.board_statuses[board_id]

    def status_json(self, board_id: int, name: str, sort: int = 0, **extra: Any) -> dict[str, Any]:
        status = {
            "id": next(self._status_ids),
            "name": name,
            "board": {"id": board_id, "name": self.boards.get(board_id, f"Board {board_id}")},
            "sortOrder": sort,
            "displayOnBoard": True,
            "inactive": False,
            "closedStatus": name in CLOSED_STATUS_NAMES,
            "timeEntryNotAllowed": False,
            "defaultFlag": sort == 0,
            "escalationStatus": "NotResponded",
        }
        status.update(extra)
        return status

    def seed_ticket(
        self,
        ticket_id: int = 48307,
        *,
        board_id: int = 1,
        board_name: str = "Help Desk",
        status: str = "New",
        summary: str = "Outlook keeps asking for the password",
        owner: str | None = "jdoe",
        resources: str | None = None,
        company: str = "Contoso Ltd",
        contact: str = "Dana Whitfield",
        description: str | None = None,
    ) -> dict[str, Any]:
        """One ticket on a board seeded with the four statuses; ``description`` adds the initial note."""
        statuses = self.seed_board(board_id, board_name)
        current = next(s for s in statuses if s["name"] == status)
        ticket = {
            "id": ticket_id,
            "summary": summary,
            "recordType": "ServiceTicket",
            "board": {"id": board_id, "name": self.boards[board_id]},
            "status": {"id": current["id"], "name": current["name"], "sort": current["sortOrder"]},
            "company": {"id": 250, "identifier": company.split()[0], "name": company},
            "contact": {"id": 77, "name": contact},
            "contactName": contact,
            "priority": {"id": 8, "name": "Priority 3 - Normal Response", "sort": 6},
            "owner": self._member_ref(owner) if owner else None,
            "resources": resources if resources is not None else (owner or ""),
            "closedFlag": bool(current["closedStatus"]),
            "_info": {"lastUpdated": self._now(), "updatedBy": owner or self.api_member},
        }
        if ticket["owner"] is None:
            del ticket["owner"]
        self.tickets[ticket_id] = ticket
        self.notes.setdefault(ticket_id, [])
        if description:
            self.add_note(ticket_id, description, detail=True, author=owner or self.api_member)
        return ticket

    def add_note(
        self,
        ticket_id: int,
        text: str,
        *,
        detail: bool = False,
        internal: bool = False,
        resolution: bool = False,
        author: str | None = None,
    ) -> dict[str, Any]:
        who = author or self.api_member
        note = {
            "id": next(self._note_ids),
            "ticketId": ticket_id,
            "text": text,
            "detailDescriptionFlag": detail,
            "internalAnalysisFlag": internal,
            "resolutionFlag": resolution,
            "issueFlag": False,
            "member": self._member_ref(who),
            "dateCreated": self._now(),
            "createdBy": who,
            "internalFlag": internal,
            "externalFlag": not internal,
            "_info": {"lastUpdated": self._now(), "updatedBy": who},
        }
        self.notes.setdefault(ticket_id, []).append(note)
        return note

    def add_configuration(self, ticket_id: int, name: str, type_name: str) -> dict[str, Any]:
        config_id = next(self._ids) + 3000
        config = {
            "id": config_id,
            "name": name,
            "type": {"id": 12, "name": type_name},
            "status": {"id": 1, "name": "Active"},
            "company": {"id": 250, "name": "Contoso Ltd"},
            "deviceIdentifier": name,
        }
        self.configurations[config_id] = config
        self.ticket_configurations.setdefault(ticket_id, []).append(config_id)
        return config

    # -- the server -----------------------------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return httpx.Response(
                429, headers={"Retry-After": "2"}, json={"code": "TooManyRequests", "message": "Too many requests"}
            )
        if self.error_next is not None:
            status, body = self.error_next
            self.error_next = None
            if isinstance(body, str):
                return httpx.Response(status, text=body)
            return httpx.Response(status, json=body)
        if request.url.host != self.site:
            raise httpx.ConnectError(f"no such host {request.url.host}", request=request)

        path = request.url.path
        if request.method == "GET" and path.startswith("/login/companyinfo/"):
            return self._company_info(path.rsplit("/", 1)[1])
        if not path.startswith(self.api_prefix + "/"):
            return httpx.Response(404, text="<html><body>Not Found</body></html>")
        if not self._authorized(request):
            return httpx.Response(401, json={"code": "Unauthorized", "message": "Password or Username is incorrect"})

        route = path.removeprefix(self.api_prefix)
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, route)
            if match and request.method == method:
                try:
                    return handler(request, *(int(g) for g in match.groups()))
                except _BadRequest as exc:
                    return httpx.Response(400, json=exc.body)
        known = any(re.fullmatch(pattern, route) for _, pattern, _ in self._routes())
        if known:
            return httpx.Response(405, json={"code": "MethodNotAllowed", "message": f"{request.method} not allowed"})
        return _not_found(f"no resource at {route}")

    def _routes(self) -> list[tuple[str, str, Callable[..., httpx.Response]]]:
        return [
            ("GET", r"/system/myAccount", self._my_account),
            ("GET", r"/system/members", self._list_members),
            ("GET", r"/service/tickets", self._list_tickets),
            ("GET", r"/service/tickets/(\d+)", self._get_ticket),
            ("PATCH", r"/service/tickets/(\d+)", self._patch_ticket),
            ("GET", r"/service/tickets/(\d+)/notes", self._list_notes),
            ("POST", r"/service/tickets/(\d+)/notes", self._post_note),
            ("GET", r"/service/tickets/(\d+)/configurations", self._ticket_configurations),
            ("GET", r"/company/configurations", self._list_configurations),
            ("GET", r"/service/boards/(\d+)/statuses", self._list_statuses),
            ("POST", r"/time/entries", self._post_time_entry),
        ]

    def _authorized(self, request: httpx.Request) -> bool:
        pair = f"{self.company_id}+{self.public_key}:{self.private_key}".encode()
        expected = "Basic " + base64.b64encode(pair).decode("ascii")
        return request.headers.get("Authorization") == expected and request.headers.get("clientId") == self.client_id

    def _company_info(self, company: str) -> httpx.Response:
        if company.lower() != self.company_id.lower():
            return httpx.Response(404, text="")
        return httpx.Response(
            200,
            json={
                "CompanyName": "Acme MSP",
                "Codebase": f"{self.codebase}/",
                "VersionCode": "v2025.1",
                "VersionNumber": "v4.6.90000",
                "CompanyID": self.company_id,
                "IsCloud": True,
                "SiteUrl": self.site,
            },
        )

    # -- handlers -------------------------------------------------------------------------------------------

    def _my_account(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.members[self.api_member])

    def _list_members(self, request: httpx.Request) -> httpx.Response:
        return self._list(request, list(self.members.values()))

    def _list_tickets(self, request: httpx.Request) -> httpx.Response:
        return self._list(request, list(self.tickets.values()))

    def _get_ticket(self, request: httpx.Request, ticket_id: int) -> httpx.Response:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return _not_found(f"Ticket recId {ticket_id} not found.")
        return httpx.Response(200, json=ticket)

    def _patch_ticket(self, request: httpx.Request, ticket_id: int) -> httpx.Response:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return _not_found(f"Ticket recId {ticket_id} not found.")
        ops = _body(request)
        if not isinstance(ops, list) or not ops:
            raise _BadRequest("The request body must be a list of patch operations")
        changes: dict[str, Any] = {}
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("replace", "add", "remove") or "path" not in op:
                raise _BadRequest("Invalid patch operation", field="op")
            if op["path"] == "status":
                changes["status"] = self._board_status(ticket, op.get("value"))
            elif op["path"] == "summary" and isinstance(op.get("value"), str):
                changes["summary"] = op["value"]
            else:
                raise _BadRequest("ticket object is invalid", field=str(op["path"]), detail="Unknown path")
        if not self.keep_old_status:
            status = changes.pop("status", None)
            if status is not None:
                ticket["status"] = {"id": status["id"], "name": status["name"], "sort": status["sortOrder"]}
                ticket["closedFlag"] = bool(status["closedStatus"])
            ticket.update(changes)
            ticket["_info"]["lastUpdated"] = self._now()
        return httpx.Response(200, json=ticket)

    def _board_status(self, ticket: dict[str, Any], value: Any) -> dict[str, Any]:
        statuses = self.board_statuses.get(ticket["board"]["id"], [])
        if isinstance(value, dict) and isinstance(value.get("id"), int):
            found = [s for s in statuses if s["id"] == value["id"]]
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            found = [s for s in statuses if s["name"].lower() == value["name"].lower()]
        else:
            found = []
        if not found:
            raise _BadRequest(
                "ticket object is invalid", field="status", detail="The status was not found on this board."
            )
        return found[0]

    def _list_notes(self, request: httpx.Request, ticket_id: int) -> httpx.Response:
        if ticket_id not in self.tickets:
            return _not_found(f"Ticket recId {ticket_id} not found.")
        rows = list(self.notes.get(ticket_id, []))
        if self.notes_order:  # a server that ignores orderBy on notes and lists them its own way
            rows.sort(key=lambda r: r["id"], reverse=self.notes_order == "newest")
            params = [(k, v) for k, v in request.url.params.multi_items() if k != "orderBy"]
            request = httpx.Request(request.method, request.url.copy_with(params=params))
        return self._list(request, rows)

    def _post_note(self, request: httpx.Request, ticket_id: int) -> httpx.Response:
        if ticket_id not in self.tickets:
            return _not_found(f"Ticket recId {ticket_id} not found.")
        body = _body(request)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"].strip():
            raise _BadRequest("ticketNote object is invalid", field="text", detail="text is required")
        flags = [bool(body.get(k)) for k in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")]
        if not any(flags):
            raise _BadRequest(
                "ticketNote object is invalid",
                field="detailDescriptionFlag",
                detail="One of detailDescriptionFlag, internalAnalysisFlag or resolutionFlag must be true",
            )
        note = self.add_note(ticket_id, body["text"], detail=flags[0], internal=flags[1], resolution=flags[2])
        if self.fail_after_post:
            self.fail_after_post = False
            raise httpx.ReadTimeout("timed out reading the response", request=request)
        return httpx.Response(201, json=note)

    def _ticket_configurations(self, request: httpx.Request, ticket_id: int) -> httpx.Response:
        if ticket_id not in self.tickets:
            return _not_found(f"Ticket recId {ticket_id} not found.")
        refs = [
            {
                "id": cid,
                "deviceIdentifier": self.configurations[cid]["deviceIdentifier"],
                "_info": {"configuration_href": f"https://{self.site}{self.api_prefix}/company/configurations/{cid}"},
            }
            for cid in self.ticket_configurations.get(ticket_id, [])
        ]
        return self._list(request, refs)

    def _list_configurations(self, request: httpx.Request) -> httpx.Response:
        return self._list(request, list(self.configurations.values()))

    def _list_statuses(self, request: httpx.Request, board_id: int) -> httpx.Response:
        if board_id not in self.board_statuses:
            return _not_found(f"Board recId {board_id} not found.")
        return self._list(request, list(self.board_statuses[board_id]))

    def _post_time_entry(self, request: httpx.Request) -> httpx.Response:
        body = _body(request)
        if not isinstance(body, dict):
            raise _BadRequest("timeEntry object is invalid")
        if body.get("chargeToType") != "ServiceTicket" or body.get("chargeToId") not in self.tickets:
            raise _BadRequest("timeEntry object is invalid", field="chargeToId", detail="Ticket not found")
        for key in ("timeStart", "timeEnd"):
            if key == "timeStart" or key in body:
                if not isinstance(body.get(key), str) or not CW_TIME.match(body[key]):
                    raise _BadRequest(f"Unsupported format applied to {key}", field=key)
        member = body.get("member") or {"identifier": self.api_member}
        if member.get("identifier") not in self.members:
            raise _BadRequest("timeEntry object is invalid", field="member", detail="Member not found")
        entry = {
            "id": next(self._time_ids),
            "chargeToId": body["chargeToId"],
            "chargeToType": "ServiceTicket",
            "member": self._member_ref(member["identifier"]),
            "timeStart": body["timeStart"],
            "timeEnd": body.get("timeEnd"),
            "actualHours": body.get("actualHours"),
            "notes": body.get("notes", ""),
            "billableOption": "Billable",
            "ticket": {"id": body["chargeToId"], "summary": self.tickets[body["chargeToId"]]["summary"]},
        }
        self.time_entries.append(entry)
        return httpx.Response(201, json=entry)

    # -- lists: conditions, orderBy, fields, paging ------------------------------------------------------

    def _list(self, request: httpx.Request, rows: list[dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        if "conditions" in params:
            try:
                test = parse_conditions(params["conditions"])
            except ValueError as exc:
                raise _BadRequest(f"Conditions are invalid: {exc}", field="conditions") from None
            rows = [row for row in rows if test(row)]
        rows = sorted(rows, key=lambda row: _sort_key(row.get("id")))  # ConnectWise's default order: id ascending
        if "orderBy" in params:
            rows = _order(rows, params["orderBy"])
        try:
            page = int(params.get("page", "1"))
            size = min(int(params.get("pageSize", "25")), self.max_page_size)
        except ValueError:
            raise _BadRequest("page and pageSize must be numbers", field="pageSize") from None
        if page < 1 or size < 1:
            raise _BadRequest("page and pageSize must be positive", field="pageSize")
        chunk = rows[(page - 1) * size : page * size]
        if "fields" in params:
            keep = {f.strip().split("/")[0] for f in params["fields"].split(",")}
            chunk = [{k: v for k, v in row.items() if k in keep} for row in chunk]
        last = max(1, -(-len(rows) // size))
        headers = {}
        if last > 1:
            links = [(1, "first")] if page > 1 else []
            if page > 1:
                links.append((page - 1, "prev"))
            if page < last:
                links += [(page + 1, "next"), (last, "last")]
            headers["Link"] = ", ".join(
                f'<{request.url.copy_set_param("page", n).copy_set_param("pageSize", size)}>; rel="{rel}"'
                for n, rel in links
            )
        return httpx.Response(200, json=chunk, headers=headers)

    def _member_ref(self, identifier: str) -> dict[str, Any]:
        member = self.members.get(identifier)
        if member is None:
            member = self.add_member(identifier, identifier.title(), "", member_id=None)
        name = f"{member['firstName']} {member['lastName']}".strip()
        return {"id": member["id"], "identifier": identifier, "name": name}

    def _now(self) -> str:
        self._clock += timedelta(minutes=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")


class _BadRequest(Exception):
    """A 400 with ConnectWise's ``ErrorResponseMessage`` body."""

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"code": "InvalidObject", "message": message}
        if field:
            self.body["errors"] = [
                {"code": "InvalidField", "message": detail or message, "resource": "ticket", "field": field}
            ]


def _not_found(message: str) -> httpx.Response:
    return httpx.Response(404, json={"code": "NotFound", "message": message})


def _body(request: httpx.Request) -> Any:
    if "application/json" not in request.headers.get("Content-Type", ""):
        raise _BadRequest("Content-Type must be application/json")
    try:
        return json.loads(request.content or b"null")
    except ValueError:
        raise _BadRequest("The body is not JSON") from None


def _order(rows: list[dict[str, Any]], order_by: str) -> list[dict[str, Any]]:
    for clause in reversed([c.strip() for c in order_by.split(",") if c.strip()]):
        field, _, direction = clause.partition(" ")
        if direction.strip().lower() not in ("", "asc", "desc"):
            raise _BadRequest(f"orderBy direction {direction!r} is invalid", field="orderBy")
        rows = sorted(
            rows, key=lambda r: _sort_key(_lookup(r, field)), reverse=direction.strip().lower() == "desc"
        )
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value).lower())


def _lookup(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.strip().split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# -- a small ``conditions`` evaluator --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<date>\[[^\]]*\])
      | (?P<number>-?\d+(?:\.\d+)?(?![\w/]))
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_/]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "contains", "like", "true", "false", "null"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"unexpected character at {pos}: {text[pos:pos + 10]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            tokens.append(("value", re.sub(r"\\(.)", r"\1", value[1:-1])))
        elif kind == "date":
            tokens.append(("value", value[1:-1]))
        elif kind == "number":
            tokens.append(("value", float(value) if "." in value else int(value)))
        elif kind == "word" and value.lower() in _KEYWORDS:
            word = value.lower()
            literal = {"true": True, "false": False, "null": None}
            tokens.append(("value", literal[word]) if word in literal else (word, word))
        else:
            tokens.append((kind if kind != "punct" else value, value))
    return tokens


def parse_conditions(text: str) -> Callable[[dict[str, Any]], bool]:
    """ConnectWise ``conditions`` as a predicate over a JSON record; ValueError when malformed."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos][0] if pos < len(tokens) else None

    def take(kind: str) -> Any:
        nonlocal pos
        if peek() != kind:
            raise ValueError(f"expected {kind}, found {tokens[pos][1] if pos < len(tokens) else 'the end'}")
        pos += 1
        return tokens[pos - 1][1]

    def expression() -> Callable[[dict[str, Any]], bool]:
        parts = [conjunction()]
        while peek() == "or":
            take("or")
            parts.append(conjunction())
        return lambda row: any(p(row) for p in parts)

    def conjunction() -> Callable[[dict[str, Any]], bool]:
        parts = [factor()]
        while peek() == "and":
            take("and")
            parts.append(factor())
        return lambda row: all(p(row) for p in parts)

    def factor() -> Callable[[dict[str, Any]], bool]:
        if peek() == "not":
            take("not")
            inner = factor()
            return lambda row: not inner(row)
        if peek() == "(":
            take("(")
            inner = expression()
            take(")")
            return inner
        return comparison()

    def comparison() -> Callable[[dict[str, Any]], bool]:
        field = take("word")
        negate = False
        if peek() == "not":
            take("not")
            negate = True
        kind = peek()
        if kind == "in":
            take("in")
            take("(")
            options = [take("value")]
            while peek() == ",":
                take(",")
                options.append(take("value"))
            take(")")
            wanted = [_norm(o) for o in options]
            test: Callable[[dict[str, Any]], bool] = lambda row: _norm(_lookup(row, field)) in wanted  # noqa: E731
        elif kind in ("contains", "like"):
            take(kind)
            value = take("value")
            if kind == "contains":
                test = lambda row: str(value).lower() in str(_lookup(row, field) or "").lower()  # noqa: E731
            else:
                pattern = "^" + ".*".join(re.escape(p) for p in str(value).lower().split("%")) + "$"
                test = lambda row: re.match(pattern, str(_lookup(row, field) or "").lower()) is not None  # noqa: E731
        elif kind == "op":
            op = take("op")
            value = take("value")
            test = lambda row: _compare(_lookup(row, field), op, value)  # noqa: E731
        else:
            raise ValueError(f"expected an operator after {field}")
        return (lambda row: not test(row)) if negate else test

    predicate = expression()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r}")
    return predicate


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _compare(actual: Any, op: str, expected: Any) -> bool:
    actual, expected = _norm(actual), _norm(expected)
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    try:
        return {"<": actual < expected, "<=": actual <= expected, ">": actual > expected, ">=": actual >= expected}[op]
    except TypeError:
        return False
