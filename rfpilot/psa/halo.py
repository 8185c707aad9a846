"""HaloPSA client (reference psa-llm.md §3): OAuth2 client credentials, Actions for notes and time, Tickets.

Decisions where the reference is silent:

* **Token URL.** ``GET /api/authinfo`` gives ``auth_url``; the token URL is ``{auth_url}/token``. The tenant
  query (``?tenant=``) uses the configured ``tenant``, else the ``tenant_id`` authinfo reports (as the HaloAPI
  PowerShell module does). A 404 from authinfo (or an answer without ``auth_url``) falls back to
  ``{url}/auth/token``. The token is kept until 60 s before ``expires_in`` runs out, and fetched again once
  after a 401 from the API.
* **"My tickets".** The ``agent_id`` setting when given, else the agent the API application logs in as
  (``GET /api/Agent/me``), looked up once per client. Tickets come newest first (``order=id&orderdesc=true``:
  Halo ticket ids grow with creation).
* **Boards.** A Halo ticket's board is its team (``team_id`` / ``team``); without a team, its ticket type. The
  ``team`` setting (and ``boards``) restricts "my tickets": numeric values go to Halo's ``team`` filter (team
  ids), names are matched against the ticket's team name.
* **Closed statuses.** Status ids are configurable, so a status closes the ticket when its name (or a textual
  ``type``) is "Closed", "Resolved", "Completed" or "Cancelled" (case-insensitive).
* **Outcomes.** Customer-visible notes use ``outcome_public`` (default "Note", an outcome that does not email:
  ``sendemail`` is false anyway); internal notes and time use ``outcome_private`` (default "Private Note").
* **Time.** Halo logs time on actions (``timetaken`` in hours) stamped when posted; ``start`` is not sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from rfpilot.errors import ConfigError, UsageError
from rfpilot.psa.base import Field, Member, Note, NoteKind, PSAClient, Status, Ticket, TicketContext, TimeEntry
from rfpilot.psa.fields import DEFAULT_OUTCOME_PRIVATE, DEFAULT_OUTCOME_PUBLIC, HALO
from rfpilot.psa.errors import PSARequestError, PSAUnavailableError, TicketNotFound
from rfpilot.psa.http import PSAHttp, RetryPolicy, default_error_message

DISPLAY_NAME = "HaloPSA"
REF_PREFIX = "Halo"

PAGE_SIZE = 50
ALL_ACTIONS_PAGE = 100  # actions per page when every action of a ticket is read
TICKET_MAX_PAGES = 100  # a guard against a server that never stops paging tickets
ALL_ACTIONS_MAX_PAGES = 200  # a guard against a server that never stops paging
TOKEN_MARGIN = 60.0  # seconds before expiry at which a token is replaced
CLOSED_NAMES = frozenset({"closed", "resolved", "completed", "cancelled"})

FIELDS: list[Field] = HALO

CREDENTIALS_HINT = (
    "check the client ID and secret of the HaloPSA API application (Configuration > Integrations > HaloPSA API; "
    "authentication method 'Client ID and Secret'), and the tenant for hosted instances; "
    "then run `rfpilot psa connect halo` again"
)

# Hints in HaloPSA's own terms: by HTTP status for final refusals, and for a status change that did not stick.
HINTS: dict[int | str, str] = {
    401: CREDENTIALS_HINT,
    403: "the API application's agent, or its scopes, lack a permission for this (see docs/psa.md)",
    404: "check the id; a wrong HaloPSA URL (or tenant, on hosted instances) can also answer 404",
    "status_not_applied": "a HaloPSA workflow or a required field may have kept the old status",
    "no_ticket": "check the ticket number (`rfpilot tickets list` shows your open tickets); the API application's "
                 "agent may also lack access to it, and if no ticket can be read check the connection with "
                 "`rfpilot psa test`",
    "no_answer": "check the network and the connection's HaloPSA URL (and tenant, on hosted instances)",
}


class CredentialsRefused(PSARequestError):
    """The token endpoint refused the client ID/secret: asking again will not help."""


class HaloClient(PSAClient):
    """One HaloPSA connection. Settings are plain values; secrets are kept in memory only."""

    provider = "halo"

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        tenant: str | None = None,
        agent_id: str | None = None,
        team: str | None = None,
        outcome_public: str | None = None,
        outcome_private: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = _base_url(url)
        self.tenant = tenant or None
        self.agent_id = _int_setting("agent_id", agent_id) if agent_id else None
        self.teams = [t.strip() for t in (team or "").split(",") if t.strip()]
        self.outcome_public = outcome_public or DEFAULT_OUTCOME_PUBLIC
        self.outcome_private = outcome_private or DEFAULT_OUTCOME_PRIVATE
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_url: str | None = None
        self._token_lock = asyncio.Lock()
        self._me: Member | None = None
        self._statuses: list[Status] | None = None
        self._agent_names: dict[int, str | None] = {}
        # Two HTTP layers on one transport: the token endpoint takes no bearer token, the API always does.
        self._auth_http = PSAHttp(DISPLAY_NAME, self.url, headers={"Accept": "application/json"},
                                  error_message=self._error_message, hints=HINTS, transport=transport, policy=policy)
        self._http = PSAHttp(DISPLAY_NAME, self.url, headers={"Accept": "application/json"}, auth=self._auth_header,
                             error_message=self._error_message, hints=HINTS, transport=transport, policy=policy)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._auth_http.aclose()

    # --- auth -------------------------------------------------------------------------------------------

    async def _auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._access_token()}"}

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token_expires:
                self._token = None
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def _fetch_token(self) -> None:
        url = await self._find_token_url()
        form = {"grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret, "scope": "all"}
        try:
            response = await self._auth_http.request("POST", url, data=form, idempotent=True)
        except PSARequestError as exc:
            if exc.status_code in (400, 401):
                message = f"{DISPLAY_NAME} refused the credentials: {_after_colon(exc.message)}"
                raise CredentialsRefused(message, status_code=exc.status_code, hint=CREDENTIALS_HINT) from None
            raise
        body = _parse_json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise PSAUnavailableError(f"{DISPLAY_NAME} answered the token request without an access token")
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token = str(token)
        self._token_expires = self._clock() + max(0.0, lifetime - min(TOKEN_MARGIN, lifetime / 2))

    async def _find_token_url(self) -> str:
        """``{auth_url}/token`` from ``/api/authinfo``; ``{url}/auth/token`` on instances without it (a 404,
        or an answer that is not the authinfo JSON)."""
        if self._token_url is not None:
            return self._token_url
        auth_url: str | None = None
        tenant = self.tenant
        info: Any = None
        try:
            info = (await self._auth_http.request("GET", "/api/authinfo")).json()
        except PSARequestError as exc:
            if exc.status_code != 404:
                raise
        except ValueError:
            pass
        if isinstance(info, dict) and info.get("auth_url"):
            auth_url = str(info["auth_url"]).rstrip("/")
            tenant = tenant or (str(info["tenant_id"]) if info.get("tenant_id") else None)
        url = f"{auth_url}/token" if auth_url else f"{self.url}/auth/token"
        if tenant:
            url += "?" + str(httpx.QueryParams({"tenant": tenant}))
        self._token_url = url
        return url

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API call; a 401 drops the token and tries once more with a fresh one (it was not applied)."""
        try:
            return await self._http.request(method, path, **kwargs)
        except PSARequestError as exc:
            if exc.status_code != 401 or isinstance(exc, CredentialsRefused):
                raise
        self._token = None
        try:
            return await self._http.request(method, path, **kwargs)
        except PSARequestError as exc:
            if exc.status_code != 401 or isinstance(exc, CredentialsRefused):
                raise
            raise PSARequestError(
                f"{DISPLAY_NAME} refused the request even with a fresh access token (401)",
                status_code=401,
                hint="the API application's agent may be disabled or lack the permission; " + CREDENTIALS_HINT,
            ) from None

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return _parse_json(await self._request("GET", path, params=params))

    async def _post(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        response = await self._request("POST", path, json=body, idempotent=idempotent)
        return _parse_json(response) if response.content else None

    def _error_message(self, response: httpx.Response) -> str:
        message = halo_error_message(response)
        for secret in (self._client_secret, self._token):
            if secret:
                message = message.replace(secret, "***")
        return message

    # --- reading ------------------------------------------------------------------------------------------

    async def whoami(self) -> Member:
        agent = await self._get("/api/Agent/me")
        if not isinstance(agent, dict) or agent.get("id") is None:
            raise PSAUnavailableError(f"{DISPLAY_NAME} did not say which agent the credentials act as")
        name = _text(agent.get("name"))
        self._me = Member(id=str(agent["id"]), identifier=name, name=name, email=_text(agent.get("email")))
        if _int(agent["id"]) is not None:
            self._agent_names[int(agent["id"])] = name  # owner names for "my tickets" without another lookup
        return self._me

    async def get_ticket(self, ticket_id: str) -> Ticket:
        number = _ticket_int(ticket_id)
        try:
            raw = await self._get(f"/api/Tickets/{number}", {"includedetails": "true"})
        except PSARequestError as exc:
            if exc.status_code == 404:  # "Ticket not found" (plain text)
                raise TicketNotFound(DISPLAY_NAME, number, hint=HINTS["no_ticket"]) from None
            raise
        if isinstance(raw, dict) and not _int(raw.get("id")):  # an empty ticket (id 0 or none): not there either
            raise TicketNotFound(DISPLAY_NAME, number, hint=HINTS["no_ticket"])
        if not isinstance(raw, dict):
            raise PSAUnavailableError(f"{DISPLAY_NAME} answered ticket {ticket_id} with something that is not a ticket")
        statuses = self._statuses
        if statuses is None or not any(s.id == _text(raw.get("status_id")) for s in statuses):
            statuses = await self._load_statuses()  # first use, or a status added since the list was read
        ticket = self._ticket(raw, statuses)
        if ticket.owner is None and _int(raw.get("agent_id")):
            ticket.owner = await self._agent_name(int(raw["agent_id"]))
        return ticket

    async def ticket_context(self, ticket_id: str, notes: int = 10) -> TicketContext:
        ticket = await self.get_ticket(ticket_id)
        recent = await self.recent_notes(ticket_id, notes) if notes > 0 else []
        return TicketContext(ticket=ticket, notes=recent, configurations=await self._assets(ticket_id))

    async def _assets(self, ticket_id: str) -> list[str]:
        """The ticket's assets as "inventory number / key field (type)"; none when assets are off-limits."""
        try:
            body = await self._get("/api/Asset", {"ticket_id": _ticket_int(ticket_id)})
        except PSARequestError:
            return []  # the API agent may lack asset permissions: the ticket is still worth opening
        rows = body.get("assets") if isinstance(body, dict) else body
        lines = []
        for asset in rows if isinstance(rows, list) else []:
            if not isinstance(asset, dict):
                continue
            name = " / ".join(v for v in (_text(asset.get("inventory_number")), _text(asset.get("key_field"))) if v)
            name = name or f"asset {asset.get('id')}"
            kind = _text(asset.get("assettype_name"))
            lines.append(f"{name} ({kind})" if kind else name)
        return lines

    async def my_open_tickets(
        self, member: str | None = None, boards: list[str] | None = None, limit: int = 100
    ) -> list[Ticket]:
        if limit <= 0:
            return []
        agent = _int_setting("member", member) if member else self.agent_id or int((await self._me_member()).id)
        wanted = [b.strip() for b in (boards if boards is not None else self.teams) if b.strip()]
        team_ids = [b for b in wanted if b.isdigit()]
        team_names = {b.casefold() for b in wanted if not b.isdigit()}
        page_size = min(PAGE_SIZE, limit)
        params: dict[str, Any] = {"agent_id": agent, "open_only": "true", "order": "id", "orderdesc": "true",
                                  "pageinate": "true", "page_size": page_size}
        if team_ids and not team_names:
            params["team"] = ",".join(team_ids)
        statuses = self._statuses if self._statuses is not None else await self._load_statuses()
        found: list[Ticket] = []
        seen: set[str] = set()
        for page in range(1, TICKET_MAX_PAGES + 1):
            body = await self._get("/api/Tickets", {**params, "page_no": page})
            rows = body.get("tickets") if isinstance(body, dict) else None
            rows = [r for r in rows if isinstance(r, dict) and r.get("id") is not None] if isinstance(rows, list) else []
            new = [raw for raw in rows if str(raw["id"]) not in seen]
            seen.update(str(raw["id"]) for raw in new)
            found.extend(self._ticket(raw, statuses) for raw in new
                         if not team_names or _on_board(raw, team_ids, team_names))
            total = _int(body.get("record_count")) if isinstance(body, dict) else None
            # A page shorter than asked is not the last: the server caps page_size as it sees fit (40 on some
            # instances). Stop at the limit, at record_count, at an empty page, or at a page that brings nothing
            # new (a server ignoring page_no).
            if len(found) >= limit or not new or (total is not None and len(seen) >= total):
                break
        return found[:limit]

    async def statuses(self, ticket: Ticket) -> list[Status]:
        """Halo statuses are instance-wide (no per-board lists): all of them, read fresh."""
        return await self._load_statuses()

    async def _load_statuses(self) -> list[Status]:
        body = await self._get("/api/Status")
        rows = body if isinstance(body, list) else []
        statuses = [
            Status(id=str(s["id"]), name=str(s.get("name") or s["id"]), closed=_closes(s))
            for s in rows
            if isinstance(s, dict) and s.get("id") is not None
        ]
        self._statuses = statuses
        return statuses

    async def recent_notes(self, ticket_id: str, limit: int = 25) -> list[Note]:
        body = await self._get("/api/Actions", {"ticket_id": _ticket_int(ticket_id), "count": max(1, limit),
                                                "excludesys": "true"})
        rows = body.get("actions") if isinstance(body, dict) else body
        notes = [_note(a) for a in rows if isinstance(a, dict)] if isinstance(rows, list) else []
        notes.sort(key=lambda n: _int(n.id) or 0, reverse=True)  # action ids grow per ticket: newest first
        return notes[:limit]

    async def all_notes(self, ticket_id: str) -> list[Note]:
        """Every action of the ticket, page by page (Halo documents no order for actions, so none is assumed).
        Stops at an empty page, at ``record_count``, or when a page brings nothing new (paging ignored); a page
        shorter than asked is not taken as the last (the server may cap the page size)."""
        found: dict[str, Note] = {}
        for page_no in range(1, ALL_ACTIONS_MAX_PAGES + 1):
            body = await self._get("/api/Actions", {"ticket_id": _ticket_int(ticket_id), "excludesys": "true",
                                                    "pageinate": "true", "page_size": ALL_ACTIONS_PAGE,
                                                    "page_no": page_no})
            rows = body.get("actions") if isinstance(body, dict) else body
            rows = [a for a in rows if isinstance(a, dict)] if isinstance(rows, list) else []
            new = [n for n in map(_note, rows) if n.id not in found]
            found.update((n.id, n) for n in new)
            total = _int(body.get("record_count")) if isinstance(body, dict) else None
            if not new or (total is not None and len(found) >= total):
                break
        return list(found.values())

    # --- writing ---------------------------------------------------------------------------------------------

    async def post_note(self, ticket_id: str, text: str, kind: NoteKind) -> Note:
        if kind not in ("resolution", "internal", "discussion"):
            raise UsageError(f"unknown note kind {kind!r}", hint="use resolution, internal or discussion")
        hidden = kind == "internal"
        outcome = self.outcome_private if hidden else self.outcome_public
        action = {"ticket_id": _ticket_int(ticket_id), "outcome": outcome, "note": text,
                  "hiddenfromuser": hidden, "sendemail": False}
        created = await self._post_action(action, "outcome_private" if hidden else "outcome_public")
        note = _note(created)
        note.text = note.text or text
        note.kind = kind
        return note

    async def set_status(self, ticket: Ticket, status: Status) -> None:
        # Halo's POST is an upsert: sending the same status twice is harmless, so it may be retried.
        body = [{"id": _ticket_int(ticket.id), "status_id": _int_setting("status", status.id)}]
        await self._post("/api/Tickets", body, idempotent=True)

    async def create_time_entry(self, ticket_id: str, start: datetime, hours: float, notes: str) -> TimeEntry:
        action = {"ticket_id": _ticket_int(ticket_id), "outcome": self.outcome_private,
                  "note": notes or "Time logged by rfpilot", "timetaken": round(float(hours), 2),
                  "hiddenfromuser": True, "sendemail": False}
        created = await self._post_action(action, "outcome_private")
        taken = created.get("timetaken")
        return TimeEntry(id=str(created["id"]), hours=float(taken) if isinstance(taken, (int, float)) else hours)

    async def _post_action(self, action: dict[str, Any], outcome_setting: str) -> dict[str, Any]:
        """POST one action (Halo wants an array) and return the created action."""
        try:
            body = await self._post("/api/Actions", [action])
        except PSARequestError as exc:
            if exc.status_code == 400 and exc.hint is None:
                exc.hint = (f"check that the outcome {action['outcome']!r} exists in HaloPSA (Configuration > "
                            f"Tickets > Actions), or change the {outcome_setting} setting")
            raise
        created = body[0] if isinstance(body, list) and body else body
        if not isinstance(created, dict) or created.get("id") is None:
            raise PSAUnavailableError(
                f"{DISPLAY_NAME} accepted the action but did not return it",
                ambiguous=True,
                hint="look at the ticket's latest actions before posting again",
            )
        return created

    # --- mapping ----------------------------------------------------------------------------------------------

    async def _me_member(self) -> Member:
        return self._me or await self.whoami()

    async def _agent_name(self, agent_id: int) -> str | None:
        """An owner's name, looked up once per agent (tickets carry only ``agent_id``)."""
        if agent_id not in self._agent_names:
            try:
                agent = await self._get(f"/api/Agent/{agent_id}")
            except PSARequestError:
                agent = None  # an agent the API user cannot see: show the id instead
            name = _text(agent.get("name")) if isinstance(agent, dict) else None
            self._agent_names[agent_id] = name
        return self._agent_names[agent_id] or str(agent_id)

    def _ticket(self, raw: dict[str, Any], statuses: list[Status]) -> Ticket:
        status_id = _text(raw.get("status_id"))
        status = next((s for s in statuses if s.id == status_id), None)
        team = _text(raw.get("team"))
        if team or raw.get("team_id"):
            board_id, board_name = _text(raw.get("team_id")), team
        else:
            board_id, board_name = _text(raw.get("tickettype_id")), _text(raw.get("tickettype_name"))
        agent_id = _int(raw.get("agent_id"))
        owner = _text(raw.get("agent_name"))
        if owner is None and agent_id and agent_id in self._agent_names:
            owner = self._agent_names[agent_id] or str(agent_id)
        return Ticket(
            id=str(raw["id"]),
            summary=_text(raw.get("summary")) or "",
            status_id=status_id,
            status_name=status.name if status else _text(raw.get("status_name")),
            board_id=board_id,
            board_name=board_name,
            company=_text(raw.get("client_name")),
            contact=_text(raw.get("user_name")),
            priority=_priority(raw),
            owner=owner,
            description=_text(raw.get("details")),
            closed=status.closed if status else False,
            updated_at=_when(raw.get("lastactiondate") or raw.get("last_update")),
        )


def build(
    settings: dict[str, Any],
    secrets: dict[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> HaloClient:
    def setting(name: str) -> str | None:
        value = settings.get(name)
        return (str(value).strip() or None) if value is not None else None

    url = setting("url")
    if not url:
        raise ConfigError("the HaloPSA connection has no url", hint="run `rfpilot psa connect halo --url https://…`")
    client_id = (secrets.get("client_id") or "").strip()
    client_secret = (secrets.get("client_secret") or "").strip()
    if not client_id or not client_secret:
        raise ConfigError("the HaloPSA connection needs a client ID and a client secret", hint=CREDENTIALS_HINT)
    return HaloClient(
        url, client_id, client_secret,
        tenant=setting("tenant"), agent_id=setting("agent_id"), team=setting("team"),
        outcome_public=setting("outcome_public"), outcome_private=setting("outcome_private"),
        transport=transport, policy=policy, clock=clock,
    )


# --- helpers --------------------------------------------------------------------------------------------------


def halo_error_message(response: httpx.Response) -> str:
    """Halo errors come as OAuth JSON, .NET exception JSON, a JSON string or plain text: make them one line."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    return _message_from(body) or default_error_message(response)


def _message_from(body: Any) -> str | None:
    if isinstance(body, str):
        return body.strip() or None
    if isinstance(body, list):
        parts = [m for m in (_message_from(item) for item in body) if m]
        return "; ".join(parts) or None
    if not isinstance(body, dict):
        return None
    if body.get("error_description"):
        code = body.get("error")
        return f"{body['error_description']} ({code})" if code else str(body["error_description"])
    details = _field_errors(body.get("errors"))
    for key in ("message", "Message", "ExceptionMessage", "detail", "title"):
        if isinstance(body.get(key), str) and body[key].strip():
            text = body[key].strip()
            return f"{text}: {details}" if details else text
    if details:
        return details
    if isinstance(body.get("error"), str):
        return body["error"]
    if isinstance(body.get("ClassName"), str):
        return body["ClassName"]
    return None


def _field_errors(errors: Any) -> str | None:
    """Validation details: a list of messages, or {field: [messages]}."""
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_message_from(v) or v}" for k, v in errors.items()) or None
    if isinstance(errors, list):
        return _message_from(errors)
    return None


def urls(settings: Mapping[str, Any]) -> list[str]:
    """The addresses a connection with these settings sends its credentials to (for ``http.check_url``); the
    token URL Halo's authinfo names is checked when it is used."""
    url = str(settings.get("url") or "").strip()
    return [_base_url(url)] if url else []


def _base_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if not url:
        raise ConfigError("the HaloPSA connection has no url",
                          hint="use the instance URL, e.g. https://acme.halopsa.com")
    if "://" not in url:
        url = "https://" + url
    return url


def _ticket_int(ticket_id: str) -> int:
    value = str(ticket_id).strip().lstrip("#").strip()
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise UsageError(f"{ticket_id!r} is not a HaloPSA ticket number", hint="Halo ticket ids are numbers, e.g. 4821")
    return int(value)


def parse_ticket_id(ticket_id: str) -> str:
    """The ticket id as Halo writes it, checked without asking Halo (every PSA module has this)."""
    return str(_ticket_int(ticket_id))


def _int_setting(name: str, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UsageError(f"the HaloPSA {name} must be a number, not {value!r}") from None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _when(value: Any) -> datetime | None:
    """Halo datetimes are ISO strings, usually without a zone; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def _closes(status: dict[str, Any]) -> bool:
    kind = status.get("type")
    names = {str(status.get("name") or "").strip().casefold()}
    if isinstance(kind, str):
        names.add(kind.strip().casefold())
    return bool(names & CLOSED_NAMES)


def _priority(raw: dict[str, Any]) -> str | None:
    nested = raw.get("priority")
    if isinstance(nested, dict) and nested.get("name"):
        return str(nested["name"])
    return _text(raw.get("priority_name")) or _text(raw.get("priority_id"))


def _on_board(raw: dict[str, Any], team_ids: list[str], team_names: set[str]) -> bool:
    return _text(raw.get("team_id")) in team_ids or (_text(raw.get("team")) or "").casefold() in team_names


def _note(action: dict[str, Any]) -> Note:
    hidden = action.get("hiddenfromuser")
    who_id = _int(action.get("who_agentid"))
    who = _text(action.get("who"))
    return Note(
        id=str(action.get("id")),
        text=_text(action.get("note")) or "",
        kind=None if hidden is None else ("internal" if hidden else "discussion"),
        created_at=_when(action.get("datetime")),
        author=str(who_id) if who_id else who,
        author_name=who,
    )


def _parse_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PSAUnavailableError(
            f"{DISPLAY_NAME} answered with something that is not JSON ({response.status_code})"
        ) from None


def _after_colon(message: str) -> str:
    """The server's own words from a PSARequestError message ("HaloPSA refused the request (401): …")."""
    return message.split("): ", 1)[-1]
