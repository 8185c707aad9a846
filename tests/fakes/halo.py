"""A stateful, strict fake of the HaloPSA API for contract tests (reference psa-llm.md §3).

It speaks the documented shapes only: ``GET /api/authinfo``, the OAuth2 client-credentials token endpoint
(``{auth_url}/token`` or the ``/auth/token`` fallback), ``/api/Agent``, ``/api/Tickets``, ``/api/Status``,
``/api/Actions`` and ``/api/Asset``. Every ``/api`` call other than ``authinfo`` needs a live bearer token,
unknown paths answer 404, and every request is recorded in ``requests`` (as ``Seen``).

Time is the fake's own: ``now`` (seconds) is what token expiry is measured against, and ``clock`` is the
function to hand the client so both agree. Advance ``now`` to make tokens run out.

Switches (each a plain attribute the test flips):

* ``down`` — every request raises ``httpx.ConnectError``;
* ``rate_limit_next`` — the next API call answers 429 with ``Retry-After: <value>`` (then it resets);
* ``error_next`` — ``(status, body)``: the next API call answers that (a dict/list body is JSON, a str is text);
  ``(status, body, path)`` waits for the next call to that path (any case);
* ``expire_tokens`` — the next API call answers 401 once (every token issued so far is revoked);
* ``fail_after_post`` — the next ``POST /api/Actions`` is applied, then the reply is lost (``httpx.ReadTimeout``);
* ``keep_old_status`` — ``POST /api/Tickets`` answers 200 but leaves the status as it was;
* ``authinfo`` — False makes ``/api/authinfo`` answer 404 (older instances), so clients use ``/auth/token``;
* ``actions_order`` — ``"newest"`` (default) or ``"oldest"``: the order ``GET /api/Actions`` lists a ticket's
  actions in (Halo documents none); ``pageinate=true&page_size=&page_no=`` pages them, capped at ``max_page_size``;
* ``max_page_size`` — the server's own cap on ``page_size`` for tickets and actions (instances cap it lower than
  asked, e.g. 40): a page shorter than asked is then not the last.

``GET /api/Tickets`` lists by id, ascending, unless ``order``/``orderdesc`` say otherwise.
"""

from __future__ import annotations

import json
import secrets as _secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

CLOSED_STATUS_NAMES = {"closed", "resolved", "cancelled"}


@dataclass
class Seen:
    """One request as the fake received it."""

    method: str
    path: str  # as sent (Halo paths are case-insensitive; the fake matches them so)
    query: dict[str, str]
    json: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_api(self) -> bool:
        return self.path.lower().startswith("/api/") and self.path.lower() != "/api/authinfo"


class FakeHalo:
    """An in-memory HaloPSA instance. See the module docstring for the switches."""

    def __init__(self, url: str = "https://acme.halopsa.com", *, tenant: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.host = httpx.URL(self.url).host
        self.tenant = tenant  # when set, the token endpoint insists on ?tenant=<it>
        self.client_id = "rfpilot-halo-app"
        self.client_secret = "halo-CLIENT-secret-7f3a9c"
        self.token_lifetime = 3600
        self.now = 0.0
        self.tokens: dict[str, float] = {}  # every access token issued -> expiry (in ``now`` seconds)
        self.tokens_issued = 0
        self.token_requests: list[Seen] = []

        self.requests: list[Seen] = []
        self.agents: dict[int, dict[str, Any]] = {
            5: {"id": 5, "name": "API Integration", "email": "api@acme.example", "isdisabled": False},
            7: {"id": 7, "name": "Jamie Doe", "email": "jamie@acme.example", "isdisabled": False},
        }
        self.me_id = 7  # the agent the API application logs in as
        self.statuses: list[dict[str, Any]] = [
            {"id": 1, "name": "New", "shortname": "New", "sequence": 1},
            {"id": 2, "name": "In Progress", "shortname": "Prog", "sequence": 2},
            {"id": 4, "name": "With User", "shortname": "User", "sequence": 3},
            {"id": 9, "name": "Closed", "shortname": "Closed", "sequence": 9},
            {"id": 21, "name": "Awaiting Parts", "shortname": "Parts", "sequence": 4},  # added by the instance
        ]
        self.tickets: dict[int, dict[str, Any]] = {}
        self.actions: dict[int, list[dict[str, Any]]] = {}
        self.assets: dict[int, list[dict[str, Any]]] = {}  # ticket id -> assets linked to it
        self._next_ticket = 1000
        self._clock_tick = 0

        self.authinfo = True
        self.authinfo_tenant: str | None = None  # tenant_id reported by /api/authinfo
        self.down = False
        self.rate_limit_next: float | None = None
        self.error_next: tuple[Any, ...] | None = None
        self.expire_tokens = False
        self.fail_after_post = False
        self.actions_order = "newest"
        self.max_page_size = 100
        self.keep_old_status = False

    # --- helpers for tests --------------------------------------------------------------------------

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def clock(self) -> float:
        return self.now

    def settings_and_secrets(self, **settings: str) -> tuple[dict[str, str], dict[str, str]]:
        """Connection settings and secrets that work against this fake (extra settings override)."""
        base = {"url": self.url}
        if self.tenant:
            base["tenant"] = self.tenant
        base.update(settings)
        return base, {"client_id": self.client_id, "client_secret": self.client_secret}

    def seed_ticket(self, ticket_id: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add a ticket (Halo field names); returns the stored dict so tests can read or change it."""
        if ticket_id is None:
            self._next_ticket += 1
            ticket_id = self._next_ticket
        ticket = {
            "id": ticket_id,
            "summary": f"Ticket {ticket_id}",
            "details": "",
            "status_id": 1,
            "tickettype_id": 1,
            "team": "1st Line Support",
            "team_id": 2,
            "client_id": 12,
            "client_name": "Contoso Ltd",
            "site_id": 30,
            "user_id": 88,
            "user_name": "Pat Smith",
            "agent_id": self.me_id,
            "priority_id": 3,
            "dateoccurred": "2024-05-16T09:00:00",
            "lastactiondate": "2024-05-16T09:30:00",
        }
        ticket.update(fields)
        self.tickets[ticket_id] = ticket
        self.actions.setdefault(ticket_id, [])
        return ticket

    def seed_action(self, ticket_id: int, note: str, *, hidden: bool = False, system: bool = False,
                    who: str = "Jamie Doe", **fields: Any) -> dict[str, Any]:
        actions = self.actions.setdefault(ticket_id, [])
        action = {
            "id": len(actions) + 1,
            "ticket_id": ticket_id,
            "outcome": "Private Note" if hidden else "Note",
            "note": note,
            "who": who,
            "who_type": 1,
            "who_agentid": next((a["id"] for a in self.agents.values() if a["name"] == who), 0),
            "hiddenfromuser": hidden,
            "sendemail": False,
            "timetaken": 0,
            "datetime": self._stamp(),
            "_system": system,
        }
        action.update(fields)
        actions.append(action)
        return action

    def status_name(self, status_id: int) -> str | None:
        return next((s["name"] for s in self.statuses if s["id"] == status_id), None)

    def api_requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The recorded ``/api`` calls (not authinfo or the token), optionally by method and path (any case)."""
        return [
            r for r in self.requests
            if r.is_api and (method is None or r.method == method)
            and (path is None or r.path.lower() == path.lower())
        ]

    # --- the server ------------------------------------------------------------------------------------

    def _stamp(self) -> str:
        self._clock_tick += 1
        minutes, seconds = divmod(self._clock_tick, 60)
        return f"2024-05-16T10:{minutes:02d}:{seconds:02d}.123"

    def _record(self, request: httpx.Request) -> Seen:
        body: Any = None
        form: dict[str, str] | None = None
        raw = request.content
        kind = request.headers.get("content-type", "")
        if raw and kind.startswith("application/json"):
            body = json.loads(raw)
        elif raw and kind.startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(raw.decode()))
        seen = Seen(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params),
            json=body,
            form=form,
            headers={k.lower(): v for k, v in request.headers.items()},
        )
        self.requests.append(seen)
        return seen

    def handle(self, request: httpx.Request) -> httpx.Response:
        seen = self._record(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.host != self.host:
            return httpx.Response(404, text="Not Found")
        path = seen.path.lower().rstrip("/")
        if path == "/api/authinfo" and seen.method == "GET":
            if not self.authinfo:
                return httpx.Response(404, text="Not Found")
            return httpx.Response(200, json={"auth_url": f"{self.url}/auth", "tenant_id": self.authinfo_tenant})
        if path == "/auth/token":
            self.token_requests.append(seen)
            return self._token(seen)
        if not path.startswith("/api/"):
            return httpx.Response(404, text="Not Found")

        refused = self._check_token(seen)
        if refused is not None:
            return refused
        if self.rate_limit_next is not None:
            wait, self.rate_limit_next = self.rate_limit_next, None
            return httpx.Response(429, headers={"Retry-After": f"{wait:g}"}, text="Too many requests")
        if self.error_next is not None and (len(self.error_next) < 3 or self.error_next[2].lower() == path):
            (status, body, *_), self.error_next = self.error_next, None
            if isinstance(body, (dict, list)):
                return httpx.Response(status, json=body)
            return httpx.Response(status, text=str(body), headers={"Content-Type": "text/plain"})
        response = self._route(seen, path)
        if self.fail_after_post and seen.method == "POST" and path == "/api/actions" and response.status_code < 300:
            self.fail_after_post = False
            raise httpx.ReadTimeout("the reply was lost", request=request)
        return response

    def _token(self, seen: Seen) -> httpx.Response:
        if seen.method != "POST" or seen.form is None:
            return httpx.Response(400, json={"error": "invalid_request", "error_description": "POST a form"})
        form = seen.form
        if form.get("grant_type") != "client_credentials":
            return httpx.Response(400, json={"error": "unsupported_grant_type"})
        if self.tenant and seen.query.get("tenant") != self.tenant:
            return httpx.Response(400, json={"error": "invalid_request", "error_description": "Unknown tenant"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return httpx.Response(
                401, json={"error": "invalid_client", "error_description": "Client authentication failed"}
            )
        if not form.get("scope"):
            return httpx.Response(400, json={"error": "invalid_scope", "error_description": "No scope requested"})
        token = "tok-" + _secrets.token_hex(12)
        self.tokens[token] = self.now + self.token_lifetime
        self.tokens_issued += 1
        return httpx.Response(
            200,
            json={"token_type": "Bearer", "access_token": token, "expires_in": self.token_lifetime, "scope": "all"},
        )

    def _check_token(self, seen: Seen) -> httpx.Response | None:
        header = seen.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if self.expire_tokens:
            self.expire_tokens = False
            for token in self.tokens:
                self.tokens[token] = float("-inf")  # revoked, but kept: tests look for them in logs
        if scheme != "Bearer" or token not in self.tokens or self.tokens[token] <= self.now:
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return httpx.Response(401, text="Unauthorized", headers=challenge)
        return None

    def _route(self, seen: Seen, path: str) -> httpx.Response:
        parts = path.split("/")[2:]  # after "/api"
        method = seen.method
        resource = parts[0]
        rest = parts[1:]
        if resource == "agent" and method == "GET":
            return self._agent(rest)
        if resource == "tickets":
            if method == "GET" and not rest:
                return self._ticket_list(seen.query)
            if method == "GET" and len(rest) == 1:
                return self._ticket(rest[0])
            if method == "POST" and not rest:
                return self._ticket_upsert(seen.json)
        if resource == "status" and method == "GET" and not rest:
            return httpx.Response(200, json=self.statuses)
        if resource == "actions" and not rest:
            if method == "GET":
                return self._action_list(seen.query)
            if method == "POST":
                return self._action_post(seen.json)
        if resource == "asset" and method == "GET" and not rest:
            ticket_id = _int(seen.query.get("ticket_id"))
            found = self.assets.get(ticket_id or -1, [])
            return httpx.Response(200, json={"record_count": len(found), "assets": found})
        return httpx.Response(404, text="Not Found")

    def _agent(self, rest: list[str]) -> httpx.Response:
        if rest == ["me"]:
            return httpx.Response(200, json=self.agents[self.me_id])
        if len(rest) == 1 and (agent_id := _int(rest[0])) in self.agents:
            return httpx.Response(200, json=self.agents[agent_id])
        if not rest:
            return httpx.Response(200, json=list(self.agents.values()))
        return httpx.Response(404, text="Agent not found")

    def _ticket(self, raw_id: str) -> httpx.Response:
        ticket = self.tickets.get(_int(raw_id) or -1)
        if ticket is None:
            return httpx.Response(404, text="Ticket not found")
        return httpx.Response(200, json=ticket)

    def _is_closed(self, ticket: dict[str, Any]) -> bool:
        return (self.status_name(ticket["status_id"]) or "").casefold() in CLOSED_STATUS_NAMES

    def _ticket_list(self, query: dict[str, str]) -> httpx.Response:
        rows = list(self.tickets.values())
        if "agent_id" in query:
            rows = [t for t in rows if t.get("agent_id") == _int(query["agent_id"])]
        if query.get("open_only") == "true":
            rows = [t for t in rows if not self._is_closed(t)]
        if query.get("team"):
            teams = {_int(x) for x in query["team"].split(",")}
            rows = [t for t in rows if t.get("team_id") in teams]
        rows.sort(key=lambda t: t["id"])  # Halo's default order
        if query.get("order"):
            rows.sort(key=lambda t: t.get(query["order"]) or 0, reverse=query.get("orderdesc") == "true")
        total = len(rows)
        if query.get("pageinate") == "true":
            size = min(_int(query.get("page_size")) or 50, self.max_page_size)
            page = _int(query.get("page_no")) or 1
            rows = rows[(page - 1) * size: page * size]
        return httpx.Response(200, json={"record_count": total, "tickets": rows})

    def _ticket_upsert(self, body: Any) -> httpx.Response:
        if not isinstance(body, list) or not body or not all(isinstance(x, dict) for x in body):
            return httpx.Response(400, text="The request body must be an array of tickets")
        updated = []
        for item in body:
            ticket = self.tickets.get(item.get("id"))
            if ticket is None:
                return httpx.Response(400, json={"message": f"Ticket {item.get('id')} does not exist"})
            status_id = item.get("status_id")
            if status_id is not None and self.status_name(status_id) is None:
                return httpx.Response(400, json={"message": f"Invalid status {status_id}"})
            changes = {k: v for k, v in item.items() if k != "id"}
            if self.keep_old_status:
                changes.pop("status_id", None)
            ticket.update(changes)
            updated.append(ticket)
        return httpx.Response(201, json=updated[0] if len(updated) == 1 else updated)

    def _action_list(self, query: dict[str, str]) -> httpx.Response:
        ticket_id = _int(query.get("ticket_id"))
        if ticket_id not in self.tickets:
            return httpx.Response(404, text="Ticket not found")
        rows = sorted(self.actions.get(ticket_id, []), key=lambda a: a["id"], reverse=self.actions_order == "newest")
        if query.get("excludesys") == "true":
            rows = [a for a in rows if not a.get("_system")]
        if query.get("excludeprivate") == "true":
            rows = [a for a in rows if not a.get("hiddenfromuser")]
        total = len(rows)
        if query.get("pageinate") == "true":
            size = min(_int(query.get("page_size")) or 50, self.max_page_size)
            page = _int(query.get("page_no")) or 1
            rows = rows[(page - 1) * size: page * size]
        count = _int(query.get("count"))
        if count:
            rows = rows[:count]
            total = len(rows)
        return httpx.Response(200, json={"record_count": total, "actions": [_public(a) for a in rows]})

    def _action_post(self, body: Any) -> httpx.Response:
        if not isinstance(body, list) or not body or not all(isinstance(x, dict) for x in body):
            return httpx.Response(400, text="The request body must be an array of actions")
        created = []
        for item in body:
            ticket_id = item.get("ticket_id")
            if ticket_id not in self.tickets:
                return httpx.Response(400, text="Please enter a valid Ticket ID")
            if not item.get("outcome") and not item.get("outcome_id"):
                return httpx.Response(400, text="An outcome is required")
            me = self.agents[self.me_id]
            fields = {k: v for k, v in item.items() if k not in ("ticket_id", "note")}
            fields.setdefault("sendemail", False)
            action = self.seed_action(ticket_id, item.get("note", ""), hidden=bool(item.get("hiddenfromuser")),
                                      who=me["name"], **fields)
            if item.get("new_status") is not None:
                self.tickets[ticket_id]["status_id"] = item["new_status"]
            created.append(_public(action))
        return httpx.Response(201, json=created[0] if len(created) == 1 else created)


def _public(action: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in action.items() if not k.startswith("_")}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
