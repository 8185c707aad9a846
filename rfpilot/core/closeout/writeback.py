"""PSA writeback through a durable outbox (SPEC §9): notes posted exactly once, status changes verified.

Every write to a ticket is first stored as an ``OutboxItem`` and committed, then attempted:

0. The lease. An attempt first claims the item with one conditional UPDATE (``lease_owner`` and
   ``lease_expires_at``: taken only when no live lease is held), so at most one process is ever mid-post for
   an item. A live lease held by another process means "busy": the item is skipped (reported as still queued),
   never posted. A lease whose holder died expires after ``LEASE_TTL`` and is then taken over, but only after
   the ticket is read for the note. The lease covers the note, the status change and time entries, and it is
   renewed (conditionally, on still holding it) in the same UPDATE that records ``post_started_at``.
1. The note. It carries an idempotency tag, a last line ``rfpilot ref <10 hex>`` derived from the item id. If
   no earlier attempt started a post, ``post_started_at`` is committed and the note posted; its external id is
   committed the moment the post succeeds. If an earlier attempt started a post and never recorded the id (an
   ambiguous failure, or the process died), **every** note of the ticket is read first (all pages, whatever
   order the PSA lists them in) and the note carrying the tag (or, for a note posted before tags existed, the
   identical text) is adopted instead of posting again. The author is never what decides: notes posted with
   API-member keys are recorded under the API member.
2. The status (resolve/escalate with a target status): read the ticket, find the status by name on its
   board, change it, and **read the ticket back**. A status that did not stick is a failure that says what
   was observed — never a success.
3. Closing the session happens only when both are done.

Outcomes of an attempt: delivered; still pending (the PSA was unreachable or answered 5xx/429 beyond the retry
budget: ``QueuedError``, exit 6); failed (a final refusal or a status that did not stick: ``PSAError``, exit 4,
kept and retryable with ``outbox retry``). Items for one ticket are delivered in order: an item waits while an
earlier one for the same ticket is not delivered.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from rfpilot.core.closeout import psa as psa_service
from rfpilot.core.context import Ctx
from rfpilot.core.session.permissions import owner_action, session_of_item, team_action
from rfpilot.core.view_types import DeliveryView, OutboxItemView, WritebackView
from rfpilot.db.models import OutboxItem, PSAConnection, SessionRow
from rfpilot.errors import ConflictError, PSAError, QueuedError, RfpilotError
from rfpilot.psa.base import Note, PSAClient
from rfpilot.psa.errors import PSAUnavailableError

if TYPE_CHECKING:
    from sqlalchemy import CursorResult  # an UPDATE's result: its rowcount

NOTE_KIND = {"resolve": "resolution", "escalate": "internal", "update": "internal"}
ADOPT_WINDOW = timedelta(minutes=15)  # clock skew between us and the PSA, when matching an adopted note
OPEN = ("pending", "failed")
# How long a delivery may hold an item: far above one attempt's worst case (4 tries x 30 s timeout + backoff).
LEASE_TTL = timedelta(minutes=5)
TAG_PREFIX = "rfpilot ref "


class StatusNotApplied(PSAError):
    """The PSA accepted the status change and kept the old status (ConnectWise does this)."""


class Waiting(QueuedError):
    """The item waits for an earlier write to the same ticket."""


class Unreachable(QueuedError):
    """The PSA could not be reached (or kept failing): the item stays pending."""


class Busy(QueuedError):
    """Another process holds the item's delivery lease: it is not attempted here."""


class DeliveredElsewhere(ConflictError):
    """Another process delivered (or dropped) the item since it was listed here."""


@dataclass
class Lease:
    owner: str = field(default_factory=lambda: f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
    took_over: bool = False  # an expired lease of a process that died was taken: read the ticket first
    in_flight: bool = False  # a note/time entry POST is under way


@dataclass
class Delivery:
    item: OutboxItem
    note_id: str | None
    adopted: bool = False  # the note was found on the ticket instead of posted again
    status: str | None = None  # verified status name, if one was set
    status_skipped: str | None = None  # why the status was left alone


# --- creating items ---------------------------------------------------------------------------------


async def _next_seq(ctx: Ctx) -> int:
    current = (await ctx.db.execute(
        select(func.max(OutboxItem.seq)).where(OutboxItem.account_id == ctx.account.id))).scalar_one()
    return (current or 0) + 1


async def open_items(ctx: Ctx, session: SessionRow, kind: str | None = None) -> list[OutboxItem]:
    stmt = select(OutboxItem).where(OutboxItem.session_id == session.id, OutboxItem.state.in_(OPEN))
    if kind:
        stmt = stmt.where(OutboxItem.kind == kind)
    return list((await ctx.db.execute(stmt.order_by(OutboxItem.seq))).scalars())


def require_linked(session: SessionRow) -> None:
    """ConflictError unless the session is linked to a PSA ticket (there is nowhere to write otherwise)."""
    if not (session.psa_connection_id and session.psa_ticket_id):
        raise ConflictError("this session is not linked to a PSA ticket", hint="start it with `rfpilot new --ticket ID`")


async def enqueue(
    ctx: Ctx,
    session: SessionRow,
    kind: str,
    text: str,
    *,
    summary: str | None = None,
    target_status: str | None = None,
    payload: dict[str, Any] | None = None,
) -> tuple[OutboxItem, str | None]:
    """Store a write for the session's ticket. For resolve/escalate an unfinished item of the same kind is
    reused, so running the command again never posts a second note. Returns (item, notice)."""
    require_linked(session)
    notice = None
    async with ctx.tx():
        item = None
        if kind in ("resolve", "escalate"):
            earlier = await open_items(ctx, session, kind)
            item = earlier[0] if earlier else None
        if item is not None:
            if item.external_id or item.post_started_at:
                if item.text != text:
                    notice = (f"the note was already posted (or may have been) as {_note_ref(item)}; "
                              "it is not posted again, so your edits to it are not sent")
            else:
                item.text = text
            item.summary = summary
            item.target_status = target_status
            item.state = "pending"
        else:
            item = OutboxItem(
                account_id=ctx.account.id, seq=await _next_seq(ctx), session_id=session.id,
                connection_id=session.psa_connection_id, ticket_id=session.psa_ticket_id,
                ticket_ref=session.ticket_ref, created_by=ctx.engineer.id, kind=kind,
                note_kind=NOTE_KIND.get(kind), text=text, summary=summary, target_status=target_status,
                payload=payload or {}, state="pending", attempts=0, created_at=ctx.now(),
            )
            ctx.db.add(item)
    return item, notice


def _note_ref(item: OutboxItem) -> str:
    return f"note {item.external_id}" if item.external_id else "an earlier attempt"


# --- delivering -----------------------------------------------------------------------------------------


def note_tag(item_id: str) -> str:
    """The idempotency tag a note carries: short, stable for the item, unique per item in practice."""
    return TAG_PREFIX + hashlib.sha256(item_id.encode()).hexdigest()[:10]


def posted_text(item: OutboxItem) -> str:
    """The note as it goes to the PSA: the item's text and, on a last line of its own, its tag."""
    return f"{item.text.rstrip()}\n\n{note_tag(item.id)}"


def _same_text(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return "\n".join(line.rstrip() for line in s.replace("\r\n", "\n").strip().split("\n"))

    return norm(a) == norm(b)


def _is_ours(note: Note, item: OutboxItem) -> bool:
    """The note carries the item's tag, or (a post started before notes were tagged) its exact text and was
    written after the post started. Never decided by the author."""
    if re.search(re.escape(note_tag(item.id)) + r"(?![0-9a-f])", note.text or ""):
        return True
    if not (_same_text(note.text, item.text) or _same_text(note.text, posted_text(item))):
        return False
    since = (item.post_started_at or item.created_at) - ADOPT_WINDOW
    return not (note.created_at is not None and note.created_at.tzinfo is not None and note.created_at < since)


async def find_posted(client: PSAClient, item: OutboxItem) -> Note | None:
    """The item's note on the ticket, if an earlier attempt posted it: every note is looked at."""
    return await client.find_note(item.ticket_id, lambda note: _is_ours(note, item))


async def _claim(ctx: Ctx, item: OutboxItem) -> Lease:
    """Take the item's delivery lease with one conditional UPDATE, or raise Busy / DeliveredElsewhere."""
    lease = Lease()
    now = ctx.now()
    prior = (await ctx.db.execute(select(OutboxItem.lease_owner).where(OutboxItem.id == item.id))).scalar_one_or_none()
    async with ctx.tx():
        claimed = await ctx.db.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item.id, OutboxItem.state == "pending",
                   or_(OutboxItem.lease_owner.is_(None), OutboxItem.lease_expires_at.is_(None),
                       OutboxItem.lease_expires_at < now))
            .values(lease_owner=lease.owner, lease_expires_at=now + LEASE_TTL)
            .execution_options(synchronize_session=False)
        )
    await ctx.db.refresh(item)
    if cast("CursorResult[Any]", claimed).rowcount == 1:
        lease.took_over = prior is not None
        return lease
    if item.state != "pending":
        raise DeliveredElsewhere(f"outbox item {item.id[:8]} is {item.state} (changed by another process just now)")
    until = item.lease_expires_at.strftime("%H:%M:%S UTC") if item.lease_expires_at else "soon"
    raise Busy(f"being delivered by another rfpilot process right now ({(item.lease_owner or '?').rsplit(':', 1)[0]}, "
               f"lease until {until}); not attempted here",
               hint="it is delivered by that process; `rfpilot outbox list` shows the outcome")


async def _renew(ctx: Ctx, item: OutboxItem, lease: Lease, **values: Any) -> None:
    """Extend the lease (and write ``values``) only while this process still holds it; else raise Busy."""
    now = ctx.now()
    async with ctx.tx():
        renewed = await ctx.db.execute(
            update(OutboxItem).where(OutboxItem.id == item.id, OutboxItem.lease_owner == lease.owner)
            .values(lease_expires_at=now + LEASE_TTL, **values).execution_options(synchronize_session=False)
        )
    if cast("CursorResult[Any]", renewed).rowcount != 1:
        raise Busy("the delivery lease was taken over by another process (this one was too slow); not posted",
                   hint="the other process delivers it")
    for key, value in values.items():
        set_committed_value(item, key, value)


async def _release(ctx: Ctx, item: OutboxItem, lease: Lease) -> None:
    async with ctx.tx():
        await ctx.db.execute(
            update(OutboxItem).where(OutboxItem.id == item.id, OutboxItem.lease_owner == lease.owner)
            .values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False)
        )


async def _record_post_started(ctx: Ctx, item: OutboxItem, lease: Lease) -> None:
    """Committed before the POST, in the UPDATE that checks and renews the lease."""
    await _renew(ctx, item, lease, post_started_at=ctx.now())


async def _record_post(ctx: Ctx, item: OutboxItem, note: Note) -> None:
    """Committed the moment the post succeeds, before anything else can fail."""
    async with ctx.tx():
        item.external_id = str(note.id)
        item.posted_at = ctx.now()


async def _post_once(ctx: Ctx, client: PSAClient, item: OutboxItem, lease: Lease) -> tuple[str, bool]:
    """Post the item's note unless it is already on the ticket. Returns (note id, adopted)."""
    if item.external_id:
        return item.external_id, False
    if item.post_started_at is not None or lease.took_over:
        found = await find_posted(client, item)
        if found is not None:
            await _record_post(ctx, item, found)
            return found.id, True
    await _record_post_started(ctx, item, lease)
    lease.in_flight = True
    try:
        note = await client.post_note(item.ticket_id, posted_text(item), item.note_kind or "internal")  # type: ignore[arg-type]
    except PSAUnavailableError as err:
        lease.in_flight = False
        if not err.ambiguous:
            # The request never reached the PSA (or was refused before processing): nothing was posted.
            async with ctx.tx():
                item.post_started_at = None
            raise
        found = await find_posted(client, item)
        if found is None:
            raise
        await _record_post(ctx, item, found)
        return found.id, True
    except Exception:
        lease.in_flight = False  # a final refusal or a bug: the request is over (only a kill leaves it in flight)
        raise
    lease.in_flight = False
    await _record_post(ctx, item, note)
    return note.id, False


async def _change_status(client: PSAClient, item: OutboxItem, provider: str) -> str:
    """Move the ticket to the item's target status and read it back. Returns the verified status name."""
    ticket = await client.get_ticket(item.ticket_id)
    wanted = await client.find_status(ticket, item.target_status or "")
    if ticket.status_id != wanted.id:
        await client.set_status(ticket, wanted)
        ticket = await client.get_ticket(item.ticket_id)
    if ticket.status_id != wanted.id:
        name = psa_service.display_name(provider)
        raise StatusNotApplied(
            f"{item.ticket_ref or 'the ticket'} is still {ticket.status_name!r} after the change to {wanted.name!r}: "
            f"{name} accepted the request but did not apply it"
            + (f" (the note was posted as {item.external_id})" if item.external_id else ""),
            hint=f"{psa_service.provider_module(provider).HINTS['status_not_applied']}; "
                 f"set it in {name}, then run `rfpilot outbox retry {item.id[:8]}`",
        )
    return wanted.name


async def _time_entry(ctx: Ctx, client: PSAClient, item: OutboxItem, lease: Lease) -> str:
    if item.external_id:
        return item.external_id
    if item.post_started_at is not None:
        # A time entry cannot be matched reliably after an ambiguous failure: never risk a second one.
        raise PSAError("an earlier attempt to log this time may have reached the PSA; it is not sent again",
                       hint="check the ticket's time entries; `rfpilot outbox drop` this item if it is there")
    await _record_post_started(ctx, item, lease)
    payload = item.payload or {}
    start = datetime.fromisoformat(payload["start"])
    lease.in_flight = True
    try:
        entry = await client.create_time_entry(item.ticket_id, start, float(payload["hours"]), item.text)
    except Exception:
        lease.in_flight = False  # the request is over (only a kill leaves it in flight)
        raise
    lease.in_flight = False
    await _record_post(ctx, item, Note(id=entry.id, text=item.text))
    return entry.id


async def _blocked_by(ctx: Ctx, item: OutboxItem) -> OutboxItem | None:
    stmt = select(OutboxItem).where(
        OutboxItem.account_id == item.account_id, OutboxItem.connection_id == item.connection_id,
        OutboxItem.ticket_id == item.ticket_id, OutboxItem.seq < item.seq, OutboxItem.state.in_(OPEN),
    ).order_by(OutboxItem.seq).limit(1)
    return (await ctx.db.execute(stmt)).scalar_one_or_none()


async def deliver(ctx: Ctx, item: OutboxItem, client: PSAClient, conn: PSAConnection) -> Delivery:
    """One attempt at ``item``. Raises QueuedError (still pending) or PSAError (now failed)."""
    blocker = await _blocked_by(ctx, item)
    if blocker is not None:
        raise Waiting(f"waits for an earlier write to {item.ticket_ref or 'the same ticket'} "
                          f"(outbox item {blocker.id[:8]}, {blocker.state})",
                          hint="deliver or drop that one first")
    lease = await _claim(ctx, item)
    try:
        return await _deliver_leased(ctx, item, client, conn, lease)
    finally:
        if not lease.in_flight:  # killed mid-POST: the lease stays until it expires, then the ticket is read
            try:
                await _release(ctx, item, lease)
            except Exception:  # noqa: BLE001 - the lease expires by itself; the delivery's own error matters
                pass


async def _deliver_leased(ctx: Ctx, item: OutboxItem, client: PSAClient, conn: PSAConnection, lease: Lease) -> Delivery:
    async with ctx.tx():
        item.attempts += 1
        item.last_attempt_at = ctx.now()
    adopted = False
    verified = None
    try:
        if item.kind == "time_entry":
            note_id = await _time_entry(ctx, client, item, lease)
        else:
            note_id, adopted = await _post_once(ctx, client, item, lease)
            if item.target_status and not item.verified_status:
                await _renew(ctx, item, lease)
                verified = await _change_status(client, item, conn.provider)
    except Busy:
        raise
    except PSAUnavailableError as err:
        async with ctx.tx():
            item.last_error = err.message
        raise Unreachable(
            f"{psa_service.display_name(conn.provider)} is unreachable ({err.message}); "
            + ("the note was posted and the status change is queued" if item.external_id else "the write is queued"),
            hint="it is delivered by `rfpilot outbox sync` (the TUI retries in the background)",
        ) from None
    except RfpilotError as err:
        async with ctx.tx():
            item.state = "failed"
            item.last_error = err.message + (f" — {err.hint}" if err.hint else "")
        raise
    async with ctx.tx():
        item.verified_status = verified or item.verified_status
        item.state = "delivered"
        item.delivered_at = ctx.now()
        item.last_error = None
        psa_service.remember_discovered(conn, client)
        if item.kind in ("resolve", "escalate"):
            await _finish_close(ctx, item)
    skipped = None
    if item.kind in ("resolve", "escalate") and not item.target_status:
        skipped = (f"no {item.kind} status is set for this connection: the ticket's status was left as it was "
                   f"(set one with `rfpilot psa targets --{item.kind} NAME`)")
    return Delivery(item, note_id, adopted, item.verified_status, skipped)


async def _finish_close(ctx: Ctx, item: OutboxItem) -> None:
    """The PSA has the note (and the status): now the session closes, inside the caller's transaction."""
    from rfpilot.core.closeout.close_record import apply_close

    session = await ctx.db.get(SessionRow, item.session_id)
    if session is None:
        return
    target = "resolved" if item.kind == "resolve" else "escalated"
    if session.status == target:
        return
    apply_close(ctx, session, item.kind, item.text, item.summary or "", external_id=item.external_id,
                posted_at=item.posted_at)


# --- the outbox, for commands and the TUI ------------------------------------------------------------


async def list_items(ctx: Ctx, *, include_delivered: bool = False, session: SessionRow | None = None) -> list[OutboxItem]:
    stmt = select(OutboxItem).where(OutboxItem.account_id == ctx.account.id)
    if not include_delivered:
        stmt = stmt.where(OutboxItem.state.in_(OPEN))
    if session is not None:
        stmt = stmt.where(OutboxItem.session_id == session.id)
    return list((await ctx.db.execute(stmt.order_by(OutboxItem.seq))).scalars())


def outbox_item_view(item: OutboxItem) -> OutboxItemView:
    """An outbox item for `outbox list|retry --json` (the ticket by its reference when known, else its id)."""
    return {"id": item.id, "seq": item.seq, "session_id": item.session_id, "ticket": item.ticket_ref or item.ticket_id,
            "kind": item.kind, "state": item.state, "attempts": item.attempts, "last_error": item.last_error,
            "external_id": item.external_id, "target_status": item.target_status,
            "verified_status": item.verified_status, "created_at": item.created_at,
            "last_attempt_at": item.last_attempt_at, "delivered_at": item.delivered_at}


async def get_item(ctx: Ctx, ref: str) -> OutboxItem:
    from rfpilot.core.lookup import find_one

    return await find_one(ctx, OutboxItem, ref, "outbox item")


@dataclass
class SyncReport:
    delivered: list[Delivery]
    queued: list[tuple[OutboxItem, str]]
    failed: list[tuple[OutboxItem, str]]


async def attempt(ctx: Ctx, item: OutboxItem) -> Delivery:
    """Deliver one item now with a client for its connection."""
    conn = await psa_service.connection_by_id(ctx, item.connection_id)
    async with psa_service.client_for(conn) as client:
        return await deliver(ctx, item, client, conn)


@team_action("deliver the team's outbox")
async def sync(ctx: Ctx) -> SyncReport:
    """Try every pending item in order. A connection found unreachable is not tried again in this run. The report
    says what was delivered: a delivered resolve closed its session, whose resolution outputs the caller drafts
    (core.team.outputs.deliver_outbox)."""
    report = SyncReport([], [], [])
    down: set[str] = set()
    for item in [i for i in await list_items(ctx) if i.state == "pending"]:
        if item.connection_id in down:
            report.queued.append((item, "the PSA was unreachable earlier in this run"))
            continue
        try:
            report.delivered.append(await attempt(ctx, item))
        except Unreachable as err:
            down.add(item.connection_id)
            report.queued.append((item, err.message))
        except DeliveredElsewhere:
            continue  # listed before another process finished it: nothing to report here
        except QueuedError as err:
            report.queued.append((item, err.message))
        except RfpilotError as err:
            report.failed.append((item, err.message))
    return report


@owner_action("retry an outbox item of", arg="item", session_of=session_of_item)
async def retry(ctx: Ctx, item: OutboxItem) -> Delivery:
    """Put a failed item back in line and attempt it now."""
    if item.state == "delivered":
        raise ConflictError(f"outbox item {item.id[:8]} was already delivered")
    if item.state == "superseded":
        raise ConflictError(f"outbox item {item.id[:8]} was replaced by a later one; nothing to retry")
    async with ctx.tx():  # conditional: another process may have delivered it since it was read
        await ctx.db.execute(update(OutboxItem).where(OutboxItem.id == item.id, OutboxItem.state == "failed")
                             .values(state="pending").execution_options(synchronize_session=False))
    await ctx.db.refresh(item)
    if item.state == "delivered":
        raise ConflictError(f"outbox item {item.id[:8]} was already delivered")
    return await attempt(ctx, item)


@owner_action("drop an outbox item of", arg="item", session_of=session_of_item)
async def drop(ctx: Ctx, item: OutboxItem, confirm: Callable[[str | None], None] | None = None) -> OutboxItem:
    """Give up on an item (it stays listed as superseded). Refused once its note is on the ticket. ``confirm``
    (raises to stop) is asked once every check has passed."""
    if item.state == "delivered":
        raise ConflictError(f"outbox item {item.id[:8]} was already delivered")
    if item.external_id and item.kind != "time_entry":
        raise ConflictError(f"the note of outbox item {item.id[:8]} is already on the ticket ({item.external_id})",
                            hint="retry it to finish the status change instead")
    if confirm is not None:
        confirm(None)
    async with ctx.tx():
        item.state = "superseded"
    return item


def delivery_state(items: list[OutboxItem]) -> DeliveryView | None:
    """What a session shows about its PSA writes: the worst open item, or None."""
    for state in ("failed", "pending"):
        for item in items:
            if item.state == state:
                return {"id": item.id, "kind": item.kind, "state": "queued" if state == "pending" else "failed",
                        "attempts": item.attempts, "last_error": item.last_error, "external_id": item.external_id}
    return None


CLOSE_KINDS = ("resolve", "escalate")
CLOSE_WORDS = {"resolve": "resolution note", "escalate": "escalation package"}


async def close_writeback(ctx: Ctx, session: SessionRow) -> WritebackView | None:
    """Where the session's close (its latest resolve or escalate write) stands on the PSA, or None when nothing
    was sent there (no linked ticket, or closed locally). SPEC §9: a verified status is visible.

    ``state``: ``queued`` (waiting for the PSA), ``delivering`` (a process holds the delivery lease now),
    ``failed`` (refused, or the status did not stick: `outbox retry`), ``posted`` (the note is on the ticket; no
    status change was asked for), ``verified`` (the note is on the ticket and the status change was read back).
    ``note_id`` is the PSA note's id once posted, whatever the state."""
    if not session.psa_ticket_id:
        return None
    stmt = (select(OutboxItem)
            .where(OutboxItem.session_id == session.id, OutboxItem.kind.in_(CLOSE_KINDS),
                   OutboxItem.state != "superseded")
            .order_by(OutboxItem.seq.desc()).limit(1))
    item = (await ctx.db.execute(stmt)).scalar_one_or_none()
    if item is None:
        return None
    if item.state == "delivered":
        state = "verified" if item.target_status and item.verified_status else "posted"
    elif item.state == "failed":
        state = "failed"
    elif item.lease_owner and item.lease_expires_at is not None and item.lease_expires_at > ctx.now():
        state = "delivering"
    else:
        state = "queued"
    return {
        "outbox_item_id": item.id, "kind": item.kind, "state": state, "ticket_ref": item.ticket_ref,
        "note_id": item.external_id, "note_kind": item.note_kind,
        "posted_at": item.posted_at.isoformat(timespec="seconds") if item.posted_at else None,
        "target_status": item.target_status, "verified_status": item.verified_status,
        "status_verified": bool(item.target_status and item.verified_status),
        "delivered_at": item.delivered_at.isoformat(timespec="seconds") if item.delivered_at else None,
        "attempts": item.attempts, "last_error": item.last_error,
    }


def describe_close(view: WritebackView) -> str:
    """One line on a close's writeback (the CLI's `sessions show` and the TUI header say the same)."""
    what = CLOSE_WORDS.get(view["kind"], view["kind"])
    note = f"posted as note {view['note_id']}" if view["note_id"] else "not posted yet"
    line = f"{view['state']}: {what} {note}"
    target = view["target_status"]
    if view["status_verified"]:
        line += f"; ticket status {view['verified_status']!r} verified (read back)"
    elif target and view["state"] == "failed":
        line += f"; ticket status {target!r} not verified"
    elif target:
        line += f"; ticket status {target!r} not set yet"
    elif view["state"] == "posted":
        line += "; ticket status left as it was (no target status set)"
    if view["state"] == "failed" and view["last_error"]:
        line += f" — {view['last_error']}"
    return line


# --- time -------------------------------------------------------------------------------------------


def billable_hours(active_seconds: int, rounding: float) -> float:
    """Active time in decimal hours, rounded up to ``rounding`` (0 = exact to the minute), at least one step."""
    hours = max(0, active_seconds) / 3600
    if rounding <= 0:
        return max(round(hours, 2), 0.01)
    steps = max(1, math.ceil(round(hours / rounding, 6)))
    return round(steps * rounding, 2)


def time_rounding(ctx: Ctx) -> float:
    """The psa.time_rounding setting (checked by the settings: 0 to 8 hours)."""
    return float(ctx.settings.get("psa.time_rounding")) if ctx.settings is not None else 0.25


async def enqueue_time_entry(ctx: Ctx, session: SessionRow, action: str) -> OutboxItem:
    hours = billable_hours(session.active_seconds, time_rounding(ctx))
    start = ctx.now() - timedelta(hours=hours)
    text = f"rfpilot session {session.id[:8]}: {session.title or 'troubleshooting'} ({action}d)"
    item, _ = await enqueue(ctx, session, "time_entry", text, payload={"hours": hours, "start": start.isoformat()})
    return item

