"""Autotask PSA (Datto/Kaseya) through its REST API v1.0 (reference psa-llm.md §2).

How this client meets Autotask:

* The API lives in a per-tenant zone. When ``zone_url`` is not configured it is looked up once from the API
  user name (no auth needed) and cached per process; the client exposes it as ``zone_url`` so the caller can
  store it with the connection.
* Every call carries ``ApiIntegrationCode``, ``UserName``, ``Secret`` and ``Content-Type: application/json``.
* Status, queue, priority, note type and note visibility are instance picklists: they are read at runtime from
  ``{Entity}/entityInformation/fields`` (once per client), never hard-coded. A ticket is closed when its status
  is the value labelled "Complete".
* Queries are ``POST {Entity}/query`` with a JSON filter; further pages are fetched by POSTing the same body to
  the absolute ``pageDetails.nextPageUrl`` (as django-autotask does), until it is null or the limit is reached.
* Autotask reports some final refusals (missing permissions, invalid filters) as HTTP 500: ``is_final`` keeps
  ``PSAHttp`` from retrying those.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from rfpilot.errors import UsageError
from rfpilot.psa.base import (
    NOTE_KINDS,
    Field,
    Member,
    Note,
    NoteKind,
    PSAClient,
    Status,
    Ticket,
    TicketContext,
    TimeEntry,
)
from rfpilot.psa.fields import AUTOTASK, option
from rfpilot.psa.errors import PSARequestError, PSAUnavailableError, TicketNotFound
from rfpilot.psa.http import PSAHttp, RetryPolicy, default_error_message

log = logging.getLogger("rfpilot.psa")

DISPLAY_NAME = "Autotask"
REF_PREFIX = "AT"

ZONE_LOOKUP_URL = "https://webservices.autotask.net/atservicesrest/"
API_VERSION = "v1.0/"
MAX_PAGE = 500  # Autotask returns at most 500 records per page
MAX_PAGES = 40  # a guard against a server that keeps handing out next pages
IN_BATCH = 200  # ids per "in" condition when tickets or companies are read by id
MAX_TEXT = 32000  # Autotask's limit on a ticket note description and a time entry's summary notes
MAX_HOURS = 24.0  # one time entry cannot span more than a day
FINAL_500_MARKERS = ("does not have the adequate permissions", "invalid filter")
NOTE_TITLES: dict[str, str] = {"resolution": "Resolution", "internal": "Internal note", "discussion": "Update"}
DEFAULT_TIME_SUMMARY = "Troubleshooting session"
ZONE_HINT = "or give the zone's web services URL with --zone-url (e.g. https://webservices5.autotask.net/atservicesrest/)"
# Hints in Autotask's own terms: by HTTP status for final refusals, and for a status change that did not stick.
HINTS: dict[int | str, str] = {
    401: "Autotask refused the API user name, secret or integration code (the API tracking identifier): check "
         "them with `rfpilot psa connect autotask`",
    403: "the API user's security level lacks a permission for this (see docs/psa.md for the permissions needed)",
    404: "check the id; a wrong zone URL can also answer 404 (leave --zone-url blank to look it up from the API "
         "user name)",
    "status_not_applied": "a workflow rule may have changed it back, or the ticket's category needs fields "
                          "before this status",
    "no_ticket": "check the ticket number (`rfpilot tickets list` shows your open tickets); the API user may also "
                 "lack access to it, and if no ticket can be read check the connection with `rfpilot psa test`",
    "no_answer": "check the network, the connection's zone URL and its API user name (the zone is looked up from "
                 "the user name when --zone-url is blank)",
}
TICKET_NUMBER = re.compile(r"T\d{8}\.\d+", re.IGNORECASE)

FIELDS: list[Field] = AUTOTASK

# Zone URLs found by user name, shared by every client of this process (the lookup is slow and never changes
# while a tenant stays in its zone).
_zone_cache: dict[str, str] = {}


def clear_zone_cache() -> None:
    """Forget the zones looked up so far (tests; a tenant moved to another zone)."""
    _zone_cache.clear()


def build(
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    policy: RetryPolicy | None = None,
) -> AutotaskClient:
    """A client from the stored settings and keyring secrets (see ``FIELDS``)."""
    username = _text(settings.get("username"))
    secret = _text(secrets.get("secret"))
    code = _text(secrets.get("integration_code"))
    given = {"username": username, "secret": secret, "integration_code": code}
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise UsageError(
            f"the Autotask connection is missing {', '.join(missing)}",
            hint="set it up with `rfpilot psa connect autotask`",
        )
    assert username and secret and code
    return AutotaskClient(
        username=username,
        secret=secret,
        integration_code=code,
        zone_url=_text(settings.get("zone_url")),
        resource_id=_text(settings.get("resource_id")),
        queues=_split(settings.get("queues")),
        note_type=_text(settings.get("note_type")),
        publish_public=_text(settings.get("publish_public")),
        publish_internal=_text(settings.get("publish_internal")),
        transport=transport,
        policy=policy,
    )


def urls(settings: Mapping[str, Any]) -> list[str]:
    """The addresses a connection with these settings sends its credentials to (for ``http.check_url``); the
    zone lookup itself is always ``ZONE_LOOKUP_URL`` and a looked-up zone is checked when it is used."""
    zone = _text(settings.get("zone_url"))
    return [normalize_zone(zone)] if zone else []


def normalize_zone(url: str) -> str:
    """``https://webservicesN.autotask.net/atservicesrest/`` from what a user or the lookup gives."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    url = url.rstrip("/")
    if url.lower().endswith("/v1.0"):
        url = url[: -len("/v1.0")]
    if "/atservicesrest" not in url.lower():
        url += "/atservicesrest"
    return url + "/"


def error_message(response: httpx.Response) -> str:
    """Autotask's ``{"message": ..., "errors": [...]}`` as one readable line."""
    try:
        body = response.json()
    except ValueError:
        return default_error_message(response)
    parts: list[str] = []
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            parts.append(message.strip())
        errors = body.get("errors")
        if isinstance(errors, (str, dict)):
            errors = [errors]
        for error in errors if isinstance(errors, list) else []:
            text = error.get("message") if isinstance(error, dict) else error
            if isinstance(text, str) and text.strip() and text.strip() not in parts:
                parts.append(text.strip())
    return "; ".join(parts) if parts else default_error_message(response)


def is_final(response: httpx.Response) -> bool:
    """Autotask answers some permission and filter errors with 500: retrying them cannot help."""
    if response.status_code != 500:
        return False
    text = error_message(response).casefold()
    return any(marker in text for marker in FINAL_500_MARKERS)


def _lookup_is_final(response: httpx.Response) -> bool:
    """The zone lookup answers a blank or unknown user name with a 500 (django-autotask: "AT returns 500 if
    username is blank or incorrect"), whose text is not documented: a 500 there is final whatever it says."""
    return response.status_code == 500


class AutotaskClient(PSAClient):
    provider = "autotask"

    def __init__(
        self,
        *,
        username: str,
        secret: str,
        integration_code: str,
        zone_url: str | None = None,
        resource_id: str | None = None,
        queues: Iterable[str] = (),
        note_type: str | None = None,
        publish_public: str | None = None,
        publish_internal: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.username = username.strip()
        self.zone_url: str | None = normalize_zone(zone_url) if zone_url else None
        self.resource_id = resource_id
        self.queues = [q for q in queues if q]
        self.note_type = note_type
        self.publish_public = publish_public
        self.publish_internal = publish_internal
        self._headers = {
            "ApiIntegrationCode": integration_code.strip(),
            "UserName": self.username,
            "Secret": secret.strip(),
            "Content-Type": "application/json",
        }
        self._transport = transport
        self._policy = policy
        self._http: PSAHttp | None = None
        self._lock = asyncio.Lock()
        self._fields: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._me: Member | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- plumbing -------------------------------------------------------------------------------------

    async def discover_zone(self) -> str:
        """The zone URL of the API user: from the process cache, else from Autotask's zoneInformation."""
        key = self.username.casefold()
        if key in _zone_cache:
            self.zone_url = _zone_cache[key]
            return self.zone_url
        lookup = PSAHttp(
            DISPLAY_NAME,
            ZONE_LOOKUP_URL,
            error_message=error_message,
            is_final=_lookup_is_final,
            hints=HINTS,
            transport=self._transport,
            policy=self._policy,
        )
        try:
            data = await lookup.get_json(API_VERSION + "zoneInformation", params={"user": self.username})
        except PSARequestError as exc:
            raise PSARequestError(
                f"Autotask could not find the zone of API user {self.username!r}: {exc.message}",
                status_code=exc.status_code,
                hint=f"check the user name (the API-only user's email) with `rfpilot psa connect autotask`, {ZONE_HINT}",
            ) from None
        finally:
            await lookup.aclose()
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url.strip():
            raise PSARequestError(
                f"Autotask's zone lookup found no zone for API user {self.username!r}",
                hint=f"check the user name (the API-only user's email) with `rfpilot psa connect autotask`, {ZONE_HINT}",
            )
        zone = normalize_zone(url)
        _zone_cache[key] = zone
        self.zone_url = zone
        log.debug("Autotask zone for this connection: %s", zone)
        return zone

    async def _api(self) -> PSAHttp:
        """The HTTP layer bound to the zone (created on first use, after the zone lookup if needed)."""
        async with self._lock:
            if self._http is None:
                zone = self.zone_url or await self.discover_zone()
                self._http = PSAHttp(
                    DISPLAY_NAME,
                    zone + API_VERSION,
                    headers=self._headers,
                    error_message=error_message,
                    is_final=is_final,
                    hints=HINTS,
                    transport=self._transport,
                    policy=self._policy,
                )
            return self._http

    async def _get_item(self, path: str) -> dict[str, Any] | None:
        """``GET {Entity}/{id}``: the ``item``, or None when Autotask says there is none."""
        data = await (await self._api()).get_json(path)
        item = data.get("item") if isinstance(data, dict) else None
        return item if isinstance(item, dict) and item else None

    async def _query(self, entity: str, filters: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
        """``POST {entity}/query``, following ``nextPageUrl`` until ``limit`` records or the last page."""
        api = await self._api()
        page_size = MAX_PAGE if limit is None else max(1, min(limit, MAX_PAGE))
        body = {"filter": filters, "MaxRecords": page_size}
        url: str | None = f"{entity}/query"
        seen: set[str] = set()
        items: list[dict[str, Any]] = []
        pages = 0
        while url and (limit is None or len(items) < limit) and pages < MAX_PAGES:
            # A query changes nothing: safe to retry like a GET.
            data = await api.send_json("POST", url, json=body, idempotent=True)
            data = data if isinstance(data, dict) else {}
            items.extend(item for item in data.get("items") or [] if isinstance(item, dict))
            pages += 1
            seen.add(url)
            next_url = (data.get("pageDetails") or {}).get("nextPageUrl")
            url = next_url if isinstance(next_url, str) and next_url and next_url not in seen else None
        if url and pages >= MAX_PAGES:
            log.warning("Autotask %s query stopped after %d pages; later records (the newest) were not read",
                        entity, pages)
        return items if limit is None else items[:limit]

    async def _picklist(self, entity: str, field: str) -> list[dict[str, Any]]:
        """The picklist values of ``entity.field`` (all fields of an entity are read once per client)."""
        fields = self._fields.get(entity)
        if fields is None:
            data = await (await self._api()).get_json(f"{entity}/entityInformation/fields")
            fields = {}
            entries = (data.get("fields") or []) if isinstance(data, dict) else []
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    values = entry.get("picklistValues") or []
                    fields[entry["name"].casefold()] = [v for v in values if isinstance(v, dict)]
            self._fields[entity] = fields
        return fields.get(field.casefold(), [])

    async def _ticket_key(self, ticket_id: str) -> int:
        """The numeric ticket id, from an id or from a ticket number such as T20240516.0012."""
        text = parse_ticket_id(ticket_id)
        if text.isdigit():
            return int(text)
        found = await self._query("Tickets", [{"op": "eq", "field": "ticketNumber", "value": text}], 1)
        if found and _int(found[0].get("id")) is not None:
            return int(found[0]["id"])
        raise TicketNotFound(DISPLAY_NAME, text, hint=HINTS["no_ticket"])

    async def _ticket_item(self, ticket_id: str) -> tuple[int, dict[str, Any]]:
        """``GET Tickets/{id}``: the id and the raw item. Autotask answers an id it does not have with 200 and
        ``{"item": null}`` (a 404 too, on some paths): both are TicketNotFound."""
        key = await self._ticket_key(ticket_id)
        try:
            item = await self._get_item(f"Tickets/{key}")
        except PSARequestError as exc:
            if exc.status_code != 404:
                raise
            item = None
        if item is None:
            raise TicketNotFound(DISPLAY_NAME, parse_ticket_id(ticket_id), hint=HINTS["no_ticket"])
        return key, item

    async def _find_resource(self, name: str) -> dict[str, Any] | None:
        """The resource whose user name or email is ``name``."""
        condition = {
            "op": "or",
            "items": [
                {"op": "eq", "field": "userName", "value": name},
                {"op": "eq", "field": "email", "value": name},
            ],
        }
        found = await self._query("Resources", [condition], 1)
        return found[0] if found else None

    async def _resource_for(self, member: str | None) -> int:
        """The resource id for "my" tickets and time: ``member``, else the configured one, else the API user's."""
        wanted = (member or "").strip() or (self.resource_id or "").strip()
        if not wanted:
            return int((await self.whoami()).id)
        if wanted.isdigit():
            return int(wanted)
        resource = await self._find_resource(wanted)
        if resource is None or _int(resource.get("id")) is None:
            raise PSARequestError(
                f"Autotask has no resource with user name or email {wanted!r}",
                hint="give your resource id (digits) with `rfpilot psa connect autotask --resource-id …`",
            )
        return int(resource["id"])

    # -- picklist helpers --------------------------------------------------------------------------------

    async def _status_list(self) -> list[Status]:
        values = await self._picklist("Tickets", "status")
        complete = _complete_value(values)
        return [
            Status(
                id=str(v.get("value")),
                name=str(v.get("label") or v.get("value")),
                closed=complete is not None and str(v.get("value")) == complete,
                inactive=not v.get("isActive", True),
            )
            for v in values
            if v.get("value") is not None
        ]

    async def _choose(self, entity: str, field: str, wanted: str, setting: str) -> int | str:
        """A configured picklist value: digits as they are, else the value whose label matches."""
        if wanted.strip().lstrip("-").isdigit():
            return int(wanted.strip())
        values = await self._picklist(entity, field)
        for value in values:
            if str(value.get("label", "")).strip().casefold() == wanted.strip().casefold():
                return _picklist_value(value)
        raise PSARequestError(
            f"Autotask has no {entity} {field} option {wanted!r} (given with {option(setting)})",
            hint=f"options: {_labels(values)}; fix it with `rfpilot psa connect autotask {option(setting)} …`",
        )

    async def _note_type(self) -> int | str:
        if self.note_type:
            return await self._choose("TicketNotes", "noteType", self.note_type, "note_type")
        active = [v for v in await self._picklist("TicketNotes", "noteType") if v.get("isActive", True)]
        chosen = next((v for v in active if v.get("isDefaultValue")), active[0] if active else None)
        if chosen is None:
            raise PSARequestError(
                "Autotask lists no active ticket note type",
                hint="choose one with `rfpilot psa connect autotask --note-type …`",
            )
        return _picklist_value(chosen)

    async def _publish(self, internal: bool) -> int | str:
        """The note visibility: "Internal Only"-like for internal notes, "All Autotask Users"-like otherwise."""
        setting = "publish_internal" if internal else "publish_public"
        configured = self.publish_internal if internal else self.publish_public
        if configured:
            return await self._choose("TicketNotes", "publish", configured, setting)
        values = await self._picklist("TicketNotes", "publish")
        pattern = re.compile(r"internal" if internal else r"\ball\b")
        for value in values:
            if value.get("isActive", True) and pattern.search(str(value.get("label", "")).casefold()):
                return _picklist_value(value)
        wanted = "an internal-only" if internal else "an 'All Autotask Users'"
        raise PSARequestError(
            f"Autotask lists no {wanted} note publish option",
            hint=f"options: {_labels(values)}; choose one with `rfpilot psa connect autotask {option(setting)} …`",
        )

    async def _ticket_from(self, item: dict[str, Any]) -> Ticket:
        statuses = await self._picklist("Tickets", "status")
        queues = await self._picklist("Tickets", "queueID")
        priorities = await self._picklist("Tickets", "priority")
        status = _str(item.get("status"))
        queue = _str(item.get("queueID"))
        complete = _complete_value(statuses)
        return Ticket(
            id=str(item.get("id")),
            summary=str(item.get("title") or ""),
            number=_str(item.get("ticketNumber")),
            status_id=status,
            status_name=_label(statuses, status),
            board_id=queue,
            board_name=_label(queues, queue),
            priority=_label(priorities, _str(item.get("priority"))) or _str(item.get("priority")),
            owner=_str(item.get("assignedResourceID")),
            description=_str(item.get("description")),
            closed=status is not None and status == complete,
            updated_at=_parse_time(item.get("lastActivityDate")),
        )

    # -- PSAClient ---------------------------------------------------------------------------------------

    async def whoami(self) -> Member:
        if self._me is None:
            resource = await self._find_resource(self.username)
            if resource is None or resource.get("id") is None:
                raise PSARequestError(
                    f"Autotask accepted the credentials but lists no resource with user name or email "
                    f"{self.username!r}",
                    hint="check the user name with `rfpilot psa connect autotask`",
                )
            names = [str(resource.get(k) or "").strip() for k in ("firstName", "lastName")]
            self._me = Member(
                id=str(resource["id"]),
                identifier=_str(resource.get("userName")),
                name=" ".join(n for n in names if n) or None,
                email=_str(resource.get("email")),
            )
        return self._me

    async def get_ticket(self, ticket_id: str) -> Ticket:
        """The ticket as Autotask has it now. ``company`` stays None here (``ticket_context`` fills it)."""
        _, item = await self._ticket_item(ticket_id)
        return await self._ticket_from(item)

    async def ticket_context(self, ticket_id: str, notes: int = 10) -> TicketContext:
        key, item = await self._ticket_item(ticket_id)
        ticket = await self._ticket_from(item)
        ticket.company = await self._company_name(item.get("companyID"))
        configurations = []
        line = await self._configuration_line(item.get("configurationItemID"))
        if line:
            configurations.append(line)
        recent = await self.recent_notes(str(key), limit=notes) if notes > 0 else []
        return TicketContext(ticket=ticket, notes=recent, configurations=configurations)

    async def _company_name(self, company_id: Any) -> str | None:
        """The company's name; None when the ticket has none or the API user may not read companies."""
        if _int(company_id) is None:
            return None
        try:
            company = await self._get_item(f"Companies/{_int(company_id)}")
        except PSARequestError as exc:
            log.debug("Autotask company %s not readable: %s", company_id, exc.status_code)
            return None
        return _str(company.get("companyName")) if company else None

    async def _configuration_line(self, item_id: Any) -> str | None:
        """"Name (type)" for the ticket's configuration item; None when absent or not readable."""
        if _int(item_id) is None:
            return None
        try:
            item = await self._get_item(f"ConfigurationItems/{_int(item_id)}")
            if item is None:
                return None
            types = await self._picklist("ConfigurationItems", "configurationItemType")
        except PSARequestError as exc:
            log.debug("Autotask configuration item %s not readable: %s", item_id, exc.status_code)
            return None
        name = next(
            (str(item[k]).strip() for k in ("referenceTitle", "referenceNumber", "serialNumber") if item.get(k)),
            f"configuration item {item_id}",
        )
        kind = _label(types, _str(item.get("configurationItemType"))) or "configuration item"
        return f"{name} ({kind})"

    async def my_open_tickets(
        self, member: str | None = None, boards: list[str] | None = None, limit: int = 100
    ) -> list[Ticket]:
        """The newest ``limit`` tickets whose status is not Complete, in the given queues (ids or names), where
        the resource is the primary resource (``assignedResourceID``) or a secondary one (the
        ``TicketSecondaryResources`` entity), newest (highest id) first, with their company names.

        Autotask queries cannot sort and list in ascending id order, so the first ``limit`` records of a query
        are the *oldest*: every page of the primary query is read (500 records a page) and the newest kept.
        Secondary tickets are read by id, newest first, in batches, until no older one could make the list.
        Company names come from one batched ``Companies`` query, not one request per ticket.
        """
        if limit <= 0:
            return []
        resource = await self._resource_for(member)
        complete = _complete_value(await self._picklist("Tickets", "status"))
        if complete is None:
            raise PSARequestError(
                "Autotask's ticket status list has no 'Complete' status, so open tickets cannot be told apart",
                hint="check the ticket statuses in Autotask (Admin > Features & Settings > Service Desk)",
            )
        open_filters: list[dict[str, Any]] = [{"op": "noteq", "field": "status", "value": _as_int(complete)}]
        queue_ids = await self._queue_ids(self.queues if boards is None else boards)
        if queue_ids:
            open_filters.append({"op": "in", "field": "queueID", "value": queue_ids})
        primary = [{"op": "eq", "field": "assignedResourceID", "value": resource}, *open_filters]
        found = _by_id(await self._query("Tickets", primary, None))
        await self._add_secondary_tickets(found, resource, open_filters, limit)
        newest = [found[key] for key in sorted(found, reverse=True)[:limit]]
        names = await self._company_names(item.get("companyID") for item in newest)
        tickets = []
        for item in newest:
            ticket = await self._ticket_from(item)
            company = _int(item.get("companyID"))
            ticket.company = names.get(company) if company is not None else None
            tickets.append(ticket)
        return tickets

    async def _add_secondary_tickets(
        self, found: dict[int, dict[str, Any]], resource: int, open_filters: list[dict[str, Any]], limit: int
    ) -> None:
        """Add to ``found`` the open tickets where ``resource`` is a secondary resource that can still be among
        the newest ``limit``. Secondary assignments include closed tickets of the past, so only ticket ids above
        the current cut-off are read, and their tickets are queried newest first, a batch at a time."""

        def cutoff() -> int | None:
            return sorted(found, reverse=True)[limit - 1] if len(found) >= limit else None

        conditions: list[dict[str, Any]] = [{"op": "eq", "field": "resourceID", "value": resource}]
        if cutoff() is not None:
            conditions.append({"op": "gt", "field": "ticketID", "value": cutoff()})
        rows = await self._query("TicketSecondaryResources", conditions, None)
        ids = sorted({key for key in (_int(row.get("ticketID")) for row in rows) if key is not None}
                     - set(found), reverse=True)
        for start in range(0, len(ids), IN_BATCH):
            batch = ids[start:start + IN_BATCH]
            bound = cutoff()
            if bound is not None and batch[0] < bound:
                break  # every remaining secondary ticket is older than the newest ``limit`` already found
            items = await self._query("Tickets", [{"op": "in", "field": "id", "value": batch}, *open_filters], None)
            found.update(_by_id(items))

    async def _company_names(self, company_ids: Iterable[Any]) -> dict[int, str]:
        """Company names by id, read in batches; none when the API user may not read companies."""
        wanted = sorted({key for key in (_int(c) for c in company_ids) if key is not None})
        names: dict[int, str] = {}
        for start in range(0, len(wanted), IN_BATCH):
            batch = wanted[start:start + IN_BATCH]
            try:
                rows = await self._query("Companies", [{"op": "in", "field": "id", "value": batch}], None)
            except PSARequestError as exc:
                log.debug("Autotask companies not readable: %s", exc.status_code)
                return names
            names.update((key, str(row["companyName"])) for key, row in _by_id(rows).items()
                         if _str(row.get("companyName")))
        return names

    async def _queue_ids(self, boards: Iterable[str]) -> list[int | str]:
        result: list[int | str] = []
        for board in boards:
            board = str(board).strip()
            if board:
                result.append(await self._choose("Tickets", "queueID", board, "queues"))
        return result

    async def statuses(self, ticket: Ticket) -> list[Status]:
        """Autotask statuses are not per queue: every active value of the Tickets status picklist."""
        return [status for status in await self._status_list() if not status.inactive]

    async def post_note(self, ticket_id: str, text: str, kind: NoteKind) -> Note:
        if kind not in NOTE_KINDS:
            raise ValueError(f"unknown note kind {kind!r}")
        if not text.strip():
            raise PSARequestError("the note is empty: Autotask needs a description", hint="write the note first")
        if len(text) > MAX_TEXT:
            raise PSARequestError(
                f"the note has {len(text)} characters; Autotask accepts at most {MAX_TEXT} in a ticket note",
                hint="shorten the note (or split it in two) and post it again",
            )
        key = await self._ticket_key(ticket_id)
        body = {
            "ticketID": key,
            "title": NOTE_TITLES[kind],
            "description": text,
            "noteType": await self._note_type(),
            "publish": await self._publish(internal=kind == "internal"),
        }
        data = await (await self._api()).send_json("POST", f"Tickets/{key}/Notes", json=body)
        item_id = data.get("itemId") if isinstance(data, dict) else None
        if item_id is None:
            raise PSAUnavailableError(
                "Autotask accepted the note but did not say its id; the note may exist", ambiguous=True
            )
        return Note(id=str(item_id), text=text, kind=kind, author=self._me.id if self._me else None)

    async def set_status(self, ticket: Ticket, status: Status) -> None:
        """``PATCH Tickets`` with the id in the body. Autotask may answer 200 and keep the old status."""
        value = _int(status.id)
        if value is None:
            raise PSARequestError(f"{status.id!r} is not an Autotask status value", hint="pick a status from the list")
        key = await self._ticket_key(ticket.id)
        await (await self._api()).send_json("PATCH", "Tickets", json={"id": key, "status": value})

    async def recent_notes(self, ticket_id: str, limit: int = 25) -> list[Note]:
        """Every note of the ticket is read (queries cannot sort), then the newest ``limit`` are kept."""
        if limit <= 0:
            return []
        return (await self.all_notes(ticket_id))[:limit]

    async def all_notes(self, ticket_id: str) -> list[Note]:
        """Every note of the ticket (every page of the query), newest first."""
        key = await self._ticket_key(ticket_id)
        items = await self._query("TicketNotes", [{"op": "eq", "field": "ticketID", "value": key}], None)
        try:
            internal = _str(await self._publish(internal=True))
        except PSARequestError:
            internal = None  # no internal option configured or listed: the notes are still worth reading
        notes = [
            Note(
                id=str(item.get("id")),
                text=str(item.get("description") or ""),
                kind="internal" if _str(item.get("publish")) == internal else None,
                created_at=_parse_time(item.get("createDateTime")),
                author=_str(item.get("creatorResourceID")),
            )
            for item in items
        ]
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        notes.sort(key=lambda n: (n.created_at or oldest, _int(n.id) or 0), reverse=True)
        return notes

    async def create_time_entry(self, ticket_id: str, start: datetime, hours: float, notes: str) -> TimeEntry:
        """Time against the ticket for the configured resource. A naive ``start`` is local time; the work date
        is the start's own calendar date; start and end go out in UTC."""
        worked = round(float(hours), 2)
        if not 0 < worked <= MAX_HOURS:
            raise PSARequestError(
                f"a time entry needs between 0.01 and {MAX_HOURS:g} hours, not {hours}",
                hint="check the session's active time",
            )
        summary = notes.strip() or DEFAULT_TIME_SUMMARY
        if len(summary) > MAX_TEXT:
            raise PSARequestError(
                f"the time entry summary has {len(summary)} characters; Autotask accepts at most {MAX_TEXT}",
                hint="shorten the summary",
            )
        key = await self._ticket_key(ticket_id)
        resource = await self._resource_for(None)
        local = start if start.tzinfo is not None else start.astimezone()
        begin = local.astimezone(timezone.utc)
        body = {
            "ticketID": key,
            "resourceID": resource,
            "dateWorked": f"{local.date().isoformat()}T00:00:00",
            "startDateTime": _utc_text(begin),
            "endDateTime": _utc_text(begin + timedelta(hours=worked)),
            "hoursWorked": worked,
            "summaryNotes": summary,
        }
        data = await (await self._api()).send_json("POST", "TimeEntries", json=body)
        item_id = data.get("itemId") if isinstance(data, dict) else None
        if item_id is None:
            raise PSAUnavailableError(
                "Autotask accepted the time entry but did not say its id; it may exist", ambiguous=True
            )
        return TimeEntry(id=str(item_id), hours=worked)


def parse_ticket_id(ticket_id: str) -> str:
    """The ticket id (digits) or ticket number (T20240516.0012, upper-cased), checked without asking Autotask;
    UsageError for anything else (every PSA module has this)."""
    text = str(ticket_id).strip().removeprefix("#").strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return str(int(text))
    if TICKET_NUMBER.fullmatch(text):
        return text.upper()
    raise UsageError(
        f"{str(ticket_id)!r} is not an Autotask ticket id or ticket number",
        hint="use the ticket id (digits) or its number, such as T20240516.0012",
    )


# -- small helpers -----------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(p).strip() for p in parts if str(p).strip()]


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.lstrip("-").isdigit() else None


def _by_id(items: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Records keyed by their numeric id (a record without one is left out)."""
    return {key: item for item in items if (key := _int(item.get("id"))) is not None}


def _as_int(value: str) -> int | str:
    """Picklist values arrive as strings ("5"); Autotask fields take them as integers."""
    number = _int(value)
    return value if number is None else number


def _picklist_value(entry: Mapping[str, Any]) -> int | str:
    return _as_int(str(entry.get("value")))


def _label(values: list[dict[str, Any]], value: str | None) -> str | None:
    if value is None:
        return None
    for entry in values:
        if str(entry.get("value")) == value:
            return _str(entry.get("label"))
    return None


def _labels(values: list[dict[str, Any]]) -> str:
    names = [f"{v.get('label')} ({v.get('value')})" for v in values if v.get("isActive", True)]
    return ", ".join(names) or "none"


def _complete_value(values: list[dict[str, Any]]) -> str | None:
    """The status value labelled "Complete" (stock 5), else one whose label contains "complete"."""
    for exact in (True, False):
        for entry in values:
            label = str(entry.get("label", "")).strip().casefold()
            if (label == "complete") if exact else ("complete" in label):
                return str(entry.get("value"))
    return None


def _parse_time(value: Any) -> datetime | None:
    """Autotask timestamps are UTC ISO 8601 ("2024-05-16T09:30:00.123Z"); a missing zone means UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
