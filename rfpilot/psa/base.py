"""The one async interface every PSA client implements, and the plain types it returns.

Nothing here knows about the store or the session: ``rfpilot.core.closeout.psa`` (connections, writeback and the
outbox) calls these methods. Ids are strings whatever the PSA uses (ConnectWise and Halo ids are ints,
Autotask ids are ints too, but a note id may be adopted from a listing), so callers never guess a type.

Error contract (``rfpilot.errors`` / ``rfpilot.psa.errors``):

* ``PSARequestError`` — the PSA answered with a final refusal (4xx, or a 5xx it documents as final, such as
  Autotask's permission errors); the message is the server's own, made readable. Retrying will not help.
* ``PSAUnavailableError`` — the PSA could not be reached or kept failing (connection errors, timeouts, 5xx,
  429 beyond the retry budget). ``ambiguous`` is True when a non-idempotent request (POST a note, a time
  entry) may have been applied anyway: the caller must look for it (``find_note``, over every note) before
  posting again.
* ``PSAStatusNotFound`` — the status name asked for does not exist on the ticket's board.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

NoteKind = Literal["resolution", "internal", "discussion"]
NOTE_KINDS: tuple[str, ...] = ("resolution", "internal", "discussion")
PROVIDERS: tuple[str, ...] = ("connectwise", "autotask", "halo")


@dataclass(frozen=True)
class Field:
    """A connection setting `rfpilot psa connect` asks for. Secrets go to the keyring, the rest to the store."""

    name: str  # key in the settings/secrets dict, also the CLI option (--private-key for private_key)
    label: str  # the prompt, e.g. "ConnectWise site (api-na.myconnectwise.net)"
    secret: bool = False
    required: bool = True
    default: str | None = None


@dataclass
class Member:
    """The PSA user the credentials act as (or the engineer's own member)."""

    id: str
    identifier: str | None = None  # ConnectWise login name; Autotask userName; Halo agent name
    name: str | None = None
    email: str | None = None


@dataclass
class Status:
    id: str
    name: str
    closed: bool = False  # a status that closes the ticket (CW closedStatus; Autotask "Complete"; Halo closed)
    inactive: bool = False


@dataclass
class Ticket:
    id: str
    summary: str
    number: str | None = None  # the number people quote, when it differs from the id (Autotask T20240516.0012)
    status_id: str | None = None
    status_name: str | None = None
    board_id: str | None = None  # ConnectWise board; Autotask queue; Halo team or ticket type (None if n/a)
    board_name: str | None = None
    company: str | None = None
    contact: str | None = None
    priority: str | None = None
    owner: str | None = None
    description: str | None = None
    closed: bool = False
    updated_at: datetime | None = None


@dataclass
class Note:
    id: str
    text: str
    kind: str | None = None  # one of NOTE_KINDS when the PSA says, else None
    created_at: datetime | None = None
    author: str | None = None  # member id or identifier of who wrote it
    author_name: str | None = None


@dataclass
class TicketContext:
    """What a new session learns from its ticket (fed to the model as uncached context)."""

    ticket: Ticket
    notes: list[Note] = field(default_factory=list)  # newest first, at most ``notes`` of them
    configurations: list[str] = field(default_factory=list)  # "Name (type)" lines


@dataclass
class TimeEntry:
    id: str
    hours: float


class PSAClient(ABC):
    """One PSA connection. Create it with its settings and secrets; use it as an async context manager."""

    provider: str = ""
    # What a ticket's statuses belong to in this PSA's words ("board" on ConnectWise); None where statuses are the
    # same for every ticket (Autotask picklist, Halo status list), so messages never speak another PSA's terms.
    statuses_per: str | None = None

    async def __aenter__(self) -> PSAClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abstractmethod
    async def aclose(self) -> None: ...

    @abstractmethod
    async def whoami(self) -> Member:
        """Authenticate and return the member the credentials act as (``psa test``)."""

    @abstractmethod
    async def get_ticket(self, ticket_id: str) -> Ticket:
        """A fresh read of one ticket (never cached: the writeback verifies status changes with it)."""

    @abstractmethod
    async def ticket_context(self, ticket_id: str, notes: int = 10) -> TicketContext: ...

    @abstractmethod
    async def my_open_tickets(
        self, member: str | None = None, boards: list[str] | None = None, limit: int = 100
    ) -> list[Ticket]:
        """Open tickets owned by / assigned to ``member`` (default: the connection's member), newest first,
        following the PSA's pagination until ``limit`` tickets or the last page."""

    @abstractmethod
    async def statuses(self, ticket: Ticket) -> list[Status]:
        """The statuses the ticket can be moved to (its board's, where the PSA has boards)."""

    @abstractmethod
    async def post_note(self, ticket_id: str, text: str, kind: NoteKind) -> Note:
        """Post a note. ``resolution`` is customer-visible, ``internal`` is hidden from the customer,
        ``discussion`` is customer-visible without resolving. Never retried blindly after an ambiguous failure."""

    @abstractmethod
    async def set_status(self, ticket: Ticket, status: Status) -> None:
        """Ask the PSA to move the ticket to ``status``. Does not verify: the caller reads the ticket back."""

    @abstractmethod
    async def recent_notes(self, ticket_id: str, limit: int = 25) -> list[Note]:
        """The ticket's latest notes, newest first (to adopt a note an ambiguous failure may have posted)."""

    @abstractmethod
    async def all_notes(self, ticket_id: str) -> list[Note]:
        """Every note of the ticket, reading every page, in no promised order (to adopt a note an ambiguous
        failure may have posted: adoption must not depend on the order or the page size the PSA lists in)."""

    async def find_note(self, ticket_id: str, match: Callable[[Note], bool]) -> Note | None:
        """The first note of the ticket that ``match`` accepts, among all of them; None if there is none."""
        for note in await self.all_notes(ticket_id):
            if match(note):
                return note
        return None

    @abstractmethod
    async def create_time_entry(self, ticket_id: str, start: datetime, hours: float, notes: str) -> TimeEntry: ...

    async def find_status(self, ticket: Ticket, name: str) -> Status:
        """The status called ``name`` (case-insensitive) among the ticket's statuses; PSAStatusNotFound if none."""
        from rfpilot.psa.errors import PSAStatusNotFound

        wanted = name.strip().casefold()
        options = await self.statuses(ticket)
        for status in options:
            if status.name.strip().casefold() == wanted and not status.inactive:
                return status
        where = f" on {self.statuses_per} {ticket.board_name!r}" if self.statuses_per and ticket.board_name else ""
        names = ", ".join(s.name for s in options if not s.inactive) or "none"
        raise PSAStatusNotFound(
            f"ticket {ticket.id} has no status named {name!r}{where}",
            hint=f"statuses {'there' if where else 'available'}: {names}. Change the target with `rfpilot psa targets`.",
        )
