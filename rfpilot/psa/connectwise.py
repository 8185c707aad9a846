"""ConnectWise Manage (PSA) over its REST API 3.0 (reference psa-llm.md §1).

Base URL ``https://{site}/{codebase}/apis/3.0``; when the codebase is not configured it is discovered once
from ``/login/companyinfo/{company_id}`` and exposed as ``client.codebase`` so the caller can store it. The
``base_url`` setting replaces that whole API root (e.g. ``http://127.0.0.1:8080/v2025_1/apis/3.0`` for a local
fake); no codebase is discovered then. A site written as ``http://host`` is kept as http — never silently
upgraded — and so refused by the transport rule (``http.check_url``) unless the host is a loopback address.
Auth is Basic ``{company_id}+{public_key}:{private_key}`` plus the ``clientId`` header on every request.

Choices where the reference is silent (documented here so the fake and the tests follow them):

* ``whoami`` reads ``/system/members?conditions=identifier="<member>"`` when a member is configured (that is
  the engineer the app acts for), else ``/system/myAccount``: the key's own member. Some on-premise versions
  answer 404 there; the error then says to configure the member.
* String values in ``conditions`` are double-quoted with ``\\`` and ``"`` escaped by a backslash.
* Pagination follows the query of the ``Link`` header's ``rel="next"`` URL against our own host and path, so
  the credentials never go to a host the server names.
* A naive ``datetime`` given to ``create_time_entry`` is taken as UTC (the store keeps UTC).
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncGenerator, Iterable, Mapping
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from rfpilot.errors import UsageError
from rfpilot.psa.base import Field, Member, Note, NoteKind, PSAClient, Status, Ticket, TicketContext, TimeEntry
from rfpilot.psa.fields import CONNECTWISE
from rfpilot.psa.errors import PSARequestError, PSAUnavailableError, TicketNotFound
from rfpilot.psa.http import PSAHttp, RetryPolicy, check_url, default_error_message

DISPLAY_NAME = "ConnectWise"
REF_PREFIX = "CW"

FIELDS: list[Field] = CONNECTWISE

QUEUE_PAGE_MAX = 100  # an interactive queue never needs more per page
LIST_PAGE_MAX = 1000  # ConnectWise's own cap on pageSize

# (detailDescriptionFlag, internalAnalysisFlag, resolutionFlag) per note kind. A resolution also shows in the
# discussion so the customer sees it in the ticket's timeline, not only in the resolution tab.
NOTE_FLAGS: dict[str, tuple[bool, bool, bool]] = {
    "resolution": (True, False, True),
    "internal": (False, True, False),
    "discussion": (True, False, False),
}

CONNECT_HINT = "set it with `rfpilot psa connect connectwise`"
# Hints in ConnectWise's own terms: by HTTP status for final refusals, and for a status change that did not stick.
HINTS: dict[int | str, str] = {
    401: "ConnectWise refused the API keys: check the company id, public key, private key and clientId with "
         "`rfpilot psa connect connectwise`",
    403: "the API member's security role lacks a permission for this (see docs/psa.md for the permissions needed)",
    404: "check the id; on ConnectWise cloud a wrong site, codebase or API keys can also answer 404",
    "status_not_applied": "the board may require fields before this status, or a workflow rule changed it back",
    "no_ticket": "check the ticket number (`rfpilot tickets list` shows your open tickets); the API member's "
                 "security role may also lack access to it, and if no ticket can be read check the connection "
                 "with `rfpilot psa test`",
    "no_answer": "check the network and the connection's site",
}
CREDENTIALS_REFUSED = (
    "ConnectWise refused the credentials (check the company id, public key, private key and clientId)"
)


def build(
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: RetryPolicy | None = None,
) -> ConnectWiseClient:
    """A client from the stored settings and the keyring's secrets."""
    missing = [f.name for f in FIELDS if f.required and not _text((secrets if f.secret else settings).get(f.name))]
    if missing:
        raise PSARequestError(f"the ConnectWise connection is missing {', '.join(missing)}", hint=CONNECT_HINT)
    return ConnectWiseClient(
        site=_text(settings.get("site")),
        company_id=_text(settings.get("company_id")),
        public_key=_text(secrets.get("public_key")),
        private_key=_text(secrets.get("private_key")),
        client_id=_text(secrets.get("client_id")),
        codebase=_text(settings.get("codebase")) or None,
        member=_text(settings.get("member")) or None,
        boards=split_boards(settings.get("boards")),
        base_url=_text(settings.get("base_url")) or None,
        transport=transport,
        policy=policy,
    )


class ConnectWiseClient(PSAClient):
    provider = "connectwise"
    statuses_per = "board"

    def __init__(
        self,
        *,
        site: str,
        company_id: str,
        public_key: str,
        private_key: str,
        client_id: str,
        codebase: str | None = None,
        member: str | None = None,
        boards: list[str] | None = None,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.site = normalize_site(site)
        origin = str(check_url(site_origin(site), DISPLAY_NAME))
        self.base_url = str(check_url(base_url, DISPLAY_NAME)).rstrip("/") if base_url else None
        self.company_id = company_id.strip()
        self.codebase: str | None = clean_codebase(codebase) if codebase else None
        self.member = member
        self.boards = list(boards or [])
        token = base64.b64encode(f"{self.company_id}+{public_key}:{private_key}".encode()).decode("ascii")
        self._http = PSAHttp(
            DISPLAY_NAME,
            self.base_url or origin,
            headers={"Authorization": f"Basic {token}", "clientId": client_id, "Accept": "application/json"},
            error_message=error_message,
            hints=HINTS,
            transport=transport,
            policy=policy,
        )
        self._me: Member | None = None
        self._codebase_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------------------

    async def _api(self) -> str:
        """The API root path; discovers the codebase on first use when it was not configured."""
        if self.base_url:
            return ""  # the override is the whole API root
        if not self.codebase:
            async with self._codebase_lock:
                if not self.codebase:
                    self.codebase = await self._discover_codebase()
        return f"/{self.codebase}/apis/3.0"

    async def _discover_codebase(self) -> str:
        try:
            info = await self._http.get_json(f"/login/companyinfo/{quote(self.company_id, safe='')}")
        except PSARequestError as exc:
            if exc.status_code != 404:
                raise
            info = None
        value = info.get("Codebase") if isinstance(info, dict) else None
        codebase = clean_codebase(value) if isinstance(value, str) else ""
        if not codebase:
            raise PSARequestError(
                f"{self.site} did not report a codebase for company {self.company_id!r}",
                hint="check the site and company id, or set the codebase (e.g. v2025_1) with `rfpilot psa connect connectwise`",
            )
        return codebase

    async def _get(self, path: str, params: Any = None) -> Any:
        return await self._http.get_json(await self._api() + path, params=params)

    async def _pages(self, path: str, params: Mapping[str, Any]) -> AsyncGenerator[list[dict[str, Any]]]:
        """Each page of a list, following the ``Link`` header's rel="next" until there is none."""
        url = await self._api() + path
        query: Any = dict(params)
        seen: set[str] = set()
        while True:
            response = await self._http.request("GET", url, params=query)
            page = _decode_list(response)
            yield page
            target = next_link(response.headers.get("Link"))
            if target is None or not page:
                return
            query = httpx.URL(target).params
            if str(query) in seen:  # a server repeating itself must not loop us forever
                return
            seen.add(str(query))

    async def _my_identifier(self) -> str:
        """The member "my tickets" means: the configured one, else the API key's own (asked once)."""
        if self.member:
            return self.member
        me = self._me if self._me and self._me.identifier else await self.whoami()
        if not me.identifier:
            raise PSARequestError(
                "ConnectWise did not say which member these API keys belong to",
                hint=f"configure your member identifier: {CONNECT_HINT}",
            )
        return me.identifier

    def _known_member(self) -> str | None:
        return self.member or (self._me.identifier if self._me else None)

    # -- PSAClient ----------------------------------------------------------------------------------------

    async def whoami(self) -> Member:
        if self.member:
            found = await self._get("/system/members", {"conditions": f"identifier = {quote_value(self.member)}"})
            if not isinstance(found, list) or not found:
                raise PSARequestError(
                    f"ConnectWise has no member with identifier {self.member!r}",
                    hint=f"check the member setting: {CONNECT_HINT}",
                )
            self._me = member_from_json(found[0])
            return self._me
        try:
            data = await self._get("/system/myAccount")
        except PSARequestError as exc:
            if exc.status_code != 404:
                raise
            raise PSARequestError(
                "this ConnectWise version cannot tell which member the API keys belong to",
                status_code=404,
                hint=f"configure your member identifier: {CONNECT_HINT}",
            ) from None
        if not isinstance(data, dict):
            raise PSAUnavailableError("ConnectWise answered /system/myAccount with something that is not a member")
        self._me = member_from_json(data)
        return self._me

    async def get_ticket(self, ticket_id: str) -> Ticket:
        number = ticket_number(ticket_id)
        try:
            data = await self._get(f"/service/tickets/{number}")
        except PSARequestError as exc:
            if exc.status_code == 404:  # {"code": "NotFound", "message": "Ticket recId N not found."}
                raise TicketNotFound(DISPLAY_NAME, number, hint=HINTS["no_ticket"]) from None
            raise
        return ticket_from_json(data)

    async def ticket_context(self, ticket_id: str, notes: int = 10) -> TicketContext:
        number = ticket_number(ticket_id)
        ticket = await self.get_ticket(ticket_id)
        rows = await self._note_rows(number, notes)
        ticket.description = await self._description(number, rows, notes)
        return TicketContext(
            ticket=ticket, notes=[note_from_json(r) for r in rows], configurations=await self._configurations(number)
        )

    async def _note_rows(self, number: int, limit: int) -> list[dict[str, Any]]:
        """The ticket's latest notes as JSON, newest first."""
        if limit <= 0:
            return []
        data = await self._get(
            f"/service/tickets/{number}/notes", {"orderBy": "id desc", "pageSize": min(limit, LIST_PAGE_MAX)}
        )
        rows = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        rows.sort(key=_numeric_id, reverse=True)
        return rows[:limit]

    async def _description(self, number: int, rows: list[dict[str, Any]], asked: int) -> str | None:
        """The oldest discussion (detailDescription) note: ConnectWise keeps the initial description there
        and returns it nowhere else. Read from ``rows`` when they hold every note, else asked for."""
        if 0 < asked and len(rows) < asked:
            oldest = [r for r in rows if r.get("detailDescriptionFlag")][-1:]
        else:
            found = await self._get(
                f"/service/tickets/{number}/notes",
                {"conditions": "detailDescriptionFlag = true", "orderBy": "id asc", "pageSize": 1},
            )
            oldest = [r for r in found if isinstance(r, dict)][:1] if isinstance(found, list) else []
        return (_text(oldest[0].get("text")) or None) if oldest else None

    async def _configurations(self, number: int) -> list[str]:
        """The configurations attached to the ticket, as "name (type)".

        The ticket's list holds references (id, deviceIdentifier); names and types come from
        ``/company/configurations``. Without the right to read those, the device identifiers are used.
        """
        refs = await self._get(f"/service/tickets/{number}/configurations", {"pageSize": LIST_PAGE_MAX})
        refs = [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []
        ids = [r["id"] for r in refs if isinstance(r.get("id"), int)]
        details: dict[int, dict[str, Any]] = {}
        if ids:
            try:
                rows = await self._get(
                    "/company/configurations",
                    {
                        "conditions": f"id in ({','.join(str(i) for i in ids)})",
                        "fields": "id,name,type",
                        "pageSize": LIST_PAGE_MAX,
                    },
                )
            except PSARequestError:  # no right to read configurations: the identifiers will do
                rows = []
            if isinstance(rows, list):
                details = {r["id"]: r for r in rows if isinstance(r, dict) and isinstance(r.get("id"), int)}
        lines = []
        for ref in refs:
            full = details.get(ref["id"], {}) if isinstance(ref.get("id"), int) else {}
            name = _text(full.get("name")) or _text(ref.get("name")) or _text(ref.get("deviceIdentifier"))
            kind = _ref(full.get("type") or ref.get("type"), "name")
            if name:
                lines.append(f"{name} ({kind})" if kind else name)
        return lines

    async def my_open_tickets(
        self, member: str | None = None, boards: list[str] | None = None, limit: int = 100
    ) -> list[Ticket]:
        if limit <= 0:
            return []
        who = (member or "").strip() or await self._my_identifier()
        params = {
            "conditions": queue_conditions(who, self.boards if boards is None else boards),
            "orderBy": "id desc",
            "page": 1,
            "pageSize": min(limit, QUEUE_PAGE_MAX),
        }
        tickets: list[Ticket] = []
        seen: set[str] = set()
        async with aclosing(self._pages("/service/tickets", params)) as pages:
            async for page in pages:
                for item in page:
                    if not _assigned_to(item, who):
                        continue
                    ticket = ticket_from_json(item)
                    if ticket.id in seen:
                        continue
                    seen.add(ticket.id)
                    tickets.append(ticket)
                    if len(tickets) >= limit:
                        return tickets
        return tickets

    async def statuses(self, ticket: Ticket) -> list[Status]:
        board = ticket.board_id or (await self.get_ticket(ticket.id)).board_id
        if not board or not _is_number(board):
            raise PSARequestError(f"ConnectWise ticket {ticket.id} is on no board, so it has no statuses")
        found: list[Status] = []
        params = {"page": 1, "pageSize": LIST_PAGE_MAX}
        async with aclosing(self._pages(f"/service/boards/{int(board)}/statuses", params)) as pages:
            async for page in pages:
                found.extend(status_from_json(item) for item in page)
        return found

    async def post_note(self, ticket_id: str, text: str, kind: NoteKind) -> Note:
        number = ticket_number(ticket_id)
        flags = NOTE_FLAGS.get(kind)
        if flags is None:
            raise PSARequestError(f"unknown note kind {kind!r}", hint="use resolution, internal or discussion")
        if not text.strip():
            raise PSARequestError("the note is empty; ConnectWise needs some text")
        discussion, internal, resolution = flags
        body = {
            "text": text,
            "detailDescriptionFlag": discussion,
            "internalAnalysisFlag": internal,
            "resolutionFlag": resolution,
        }
        data = await self._http.send_json("POST", await self._api() + f"/service/tickets/{number}/notes", json=body)
        if not isinstance(data, dict) or data.get("id") is None:
            raise PSAUnavailableError(
                "ConnectWise accepted the note but did not return it; it may or may not exist", ambiguous=True
            )
        note = note_from_json(data)
        note.kind = kind
        note.author = note.author or self._known_member()
        return note

    async def set_status(self, ticket: Ticket, status: Status) -> None:
        number = ticket_number(ticket.id)
        if not _is_number(status.id) or int(status.id) <= 0:
            raise PSARequestError(
                f"no ConnectWise status id for {status.name!r}; the status was not changed",
                hint="statuses are looked up by name on the ticket's board",
            )
        patch = [{"op": "replace", "path": "status", "value": {"id": int(status.id)}}]
        await self._http.send_json("PATCH", await self._api() + f"/service/tickets/{number}", json=patch)

    async def recent_notes(self, ticket_id: str, limit: int = 25) -> list[Note]:
        return [note_from_json(row) for row in await self._note_rows(ticket_number(ticket_id), limit)]

    async def all_notes(self, ticket_id: str) -> list[Note]:
        """Every page of the ticket's notes (newest first asked, but nothing relies on the order)."""
        found: list[Note] = []
        params = {"orderBy": "id desc", "page": 1, "pageSize": LIST_PAGE_MAX}
        async with aclosing(self._pages(f"/service/tickets/{ticket_number(ticket_id)}/notes", params)) as pages:
            async for page in pages:
                found.extend(note_from_json(row) for row in page if isinstance(row, dict))
        return found

    async def create_time_entry(self, ticket_id: str, start: datetime, hours: float, notes: str) -> TimeEntry:
        number = ticket_number(ticket_id)
        if not hours > 0:
            raise PSARequestError(f"a time entry needs a positive number of hours, not {hours}")
        began = (start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)).replace(microsecond=0)
        ended = (began + timedelta(hours=hours)).replace(microsecond=0)
        body: dict[str, Any] = {
            "chargeToId": number,
            "chargeToType": "ServiceTicket",
            "timeStart": cw_time(began),
            "timeEnd": cw_time(ended),
            "actualHours": round(hours, 2),
            "notes": notes,
        }
        who = self._known_member()
        if who:
            body["member"] = {"identifier": who}
        data = await self._http.send_json("POST", await self._api() + "/time/entries", json=body)
        if not isinstance(data, dict) or data.get("id") is None:
            raise PSAUnavailableError(
                "ConnectWise accepted the time entry but did not return it; it may or may not exist", ambiguous=True
            )
        recorded = data.get("actualHours")
        return TimeEntry(id=str(data["id"]), hours=float(recorded) if isinstance(recorded, int | float) else hours)


# -- settings ---------------------------------------------------------------------------------------------


def _numeric_id(row: dict[str, Any]) -> int:
    """A row's numeric id (0 when it has none): newest first by id."""
    value = row.get("id")
    return value if isinstance(value, int) else 0


def normalize_site(site: str) -> str:
    """The bare host: a pasted ``https://host/`` (or ``host/path``) is reduced to ``host``."""
    host = re.sub(r"^[a-z]+://", "", site.strip(), flags=re.IGNORECASE).split("/", 1)[0].strip()
    if not host or any(c.isspace() for c in host):
        raise PSARequestError(f"{site!r} is not a ConnectWise site", hint="use the host, e.g. api-na.myconnectwise.net")
    return host.lower()


def site_origin(site: str) -> str:
    """``https://host`` for a site; a scheme the user wrote is kept (``http://`` is not upgraded, see module doc)."""
    given = re.match(r"^\s*([a-z][a-z0-9+.-]*)://", site, flags=re.IGNORECASE)
    return f"{given.group(1).lower() if given else 'https'}://{normalize_site(site)}"


def urls(settings: Mapping[str, Any]) -> list[str]:
    """The addresses a connection with these settings sends its credentials to (for ``http.check_url``)."""
    found = [site_origin(_text(settings.get("site")))] if _text(settings.get("site")) else []
    return found + ([_text(settings.get("base_url"))] if _text(settings.get("base_url")) else [])


def clean_codebase(value: str) -> str:
    """``v2024_1/`` -> ``v2024_1``; anything that could not be one path segment is refused."""
    codebase = value.strip().strip("/")
    if codebase and not re.fullmatch(r"[A-Za-z0-9_.-]+", codebase):
        raise PSARequestError(f"{value!r} is not a ConnectWise codebase", hint="it looks like v2025_1 or v4_6_release")
    return codebase


def split_boards(value: Any) -> list[str]:
    """The boards setting as a list: "Help Desk, 4" -> ["Help Desk", "4"]."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


def ticket_number(ticket_id: str | int) -> int:
    """A ConnectWise ticket id as the number the API wants ("#48307" is accepted); UsageError otherwise."""
    text = str(ticket_id).strip().removeprefix("#").strip()
    if not _is_number(text) or int(text) <= 0:
        raise UsageError(
            f"{str(ticket_id)!r} is not a ConnectWise ticket id", hint="ConnectWise ticket ids are numbers, e.g. 48307"
        )
    return int(text)


def parse_ticket_id(ticket_id: str) -> str:
    """The ticket id as this PSA writes it, checked without asking the PSA (every module has one)."""
    return str(ticket_number(ticket_id))


# -- conditions and pagination ----------------------------------------------------------------------------


def quote_value(value: str) -> str:
    """A string literal for ``conditions``: double quotes, with backslash and double quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def queue_conditions(member: str, boards: Iterable[str]) -> str:
    """Open tickets the member owns or is a resource on, restricted to the given boards (names or ids)."""
    who = quote_value(member)
    boards = list(boards)
    parts = [f"closedFlag = false and (owner/identifier = {who} or resources contains {who})"]
    ids = [str(int(b)) for b in boards if _is_number(b)]
    names = [quote_value(b) for b in boards if not _is_number(b)]
    terms = []
    if ids:
        terms.append(f"board/id in ({','.join(ids)})")
    if names:
        terms.append(f"board/name in ({','.join(names)})")
    if len(terms) == 1:
        parts.append(terms[0])
    elif terms:
        parts.append(f"({' or '.join(terms)})")
    return " and ".join(parts)


_LINK = re.compile(r"<([^>]*)>((?:\s*;[^,<]*)*)")


def next_link(header: str | None) -> str | None:
    """The rel="next" URL of an RFC 8288 ``Link`` header; None when absent (the last page)."""
    if not header:
        return None
    for url, params in _LINK.findall(header):
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "rel" and "next" in value.strip().strip('"').lower().split():
                return url.strip()
    return None


def _assigned_to(item: Mapping[str, Any], member: str) -> bool:
    """``resources contains`` is a substring match ("jd" finds "jdoe"): keep only exact assignments."""
    if "resources" not in item and "owner" not in item:
        return True
    wanted = member.casefold()
    owner = _ref(item.get("owner"), "identifier")
    resources = str(item.get("resources") or "").split(",")
    return (owner or "").casefold() == wanted or wanted in (r.strip().casefold() for r in resources)


# -- JSON -> plain types -------------------------------------------------------------------------------------


def ticket_from_json(data: Any) -> Ticket:
    if not isinstance(data, dict) or data.get("id") is None:
        raise PSAUnavailableError("ConnectWise answered with something that is not a ticket")
    contact = _text(data.get("contactName")) or _ref(data.get("contact"), "name")
    return Ticket(
        id=str(data["id"]),
        summary=_text(data.get("summary")),
        status_id=_ref(data.get("status"), "id"),
        status_name=_ref(data.get("status"), "name"),
        board_id=_ref(data.get("board"), "id"),
        board_name=_ref(data.get("board"), "name"),
        company=_ref(data.get("company"), "name"),
        contact=contact or None,
        priority=_ref(data.get("priority"), "name"),
        owner=_ref(data.get("owner"), "identifier"),
        closed=bool(data.get("closedFlag")),
        updated_at=parse_time(_ref(data.get("_info"), "lastUpdated")),
    )


def note_from_json(data: Mapping[str, Any]) -> Note:
    if data.get("resolutionFlag"):
        kind: str | None = "resolution"
    elif data.get("internalAnalysisFlag"):
        kind = "internal"
    elif data.get("detailDescriptionFlag"):
        kind = "discussion"
    else:
        kind = None
    member = data.get("member")
    return Note(
        id=str(data.get("id")),
        text=_text(data.get("text")),
        kind=kind,
        created_at=parse_time(data.get("dateCreated")),
        author=_ref(member, "identifier") or _text(data.get("createdBy")) or None,
        author_name=_ref(member, "name"),
    )


def status_from_json(data: Mapping[str, Any]) -> Status:
    return Status(
        id=str(data.get("id")),
        name=_text(data.get("name")),
        closed=bool(data.get("closedStatus")),
        inactive=bool(data.get("inactive")),
    )


def member_from_json(data: Mapping[str, Any]) -> Member:
    name = " ".join(_text(data.get(k)) for k in ("firstName", "lastName") if _text(data.get(k)))
    email = _text(data.get("primaryEmail")) or _text(data.get("officeEmail"))
    return Member(
        id=str(data.get("id")),
        identifier=_text(data.get("identifier")) or None,
        name=name or None,
        email=email or None,
    )


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cw_time(moment: datetime) -> str:
    """ISO 8601 in UTC with whole seconds: ConnectWise refuses fractions ("Unsupported format")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_message(response: httpx.Response) -> str:
    """``{code, message, errors[{field, message}]}`` as "message (field: message; ...)"."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code = _text(body.get("code")) if isinstance(body, dict) else ""
    message = _text(body.get("message")) if isinstance(body, dict) else ""
    if response.status_code == 401 or code == "Unauthorized" or message == "UserNotAuthenticated":
        return CREDENTIALS_REFUSED
    if not isinstance(body, dict):
        return default_error_message(response)
    details = []
    for item in body.get("errors") or []:
        if not isinstance(item, dict):
            continue
        text = _text(item.get("message")) or _text(item.get("code"))
        field = _text(item.get("field"))
        if text or field:
            details.append(f"{field}: {text}" if field and text else text or field)
    main = message or code or default_error_message(response)
    return f"{main} ({'; '.join(details)})" if details else main


def _decode_list(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError:
        status = response.status_code
        raise PSAUnavailableError(f"ConnectWise answered with something that is not JSON ({status})") from None
    if not isinstance(data, list):
        raise PSAUnavailableError("ConnectWise answered a list request with something that is not a list")
    return [item for item in data if isinstance(item, dict)]


def _ref(value: Any, key: str) -> str | None:
    """``obj[key]`` as text, for reference objects such as ``status{id,name}`` that may be missing."""
    if isinstance(value, dict) and value.get(key) is not None and value.get(key) != "":
        return str(value[key])
    return None


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _is_number(value: Any) -> bool:
    text = str(value).strip()
    return text.isascii() and text.isdigit()
