"""Tickets from the PSA: the engineer's queue, one ticket's details, and sessions started from a ticket."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from rfpilot.core.closeout import psa as psa_service
from rfpilot.core.context import Ctx
from rfpilot.core.session.sessions import intake_from_ticket
from rfpilot.core.text import clip, truncate
from rfpilot.core.view_types import TicketContextView, TicketNoteView, TicketRowView
from rfpilot.db.models import PSAConnection, SessionRow
from rfpilot.errors import ConflictError, UsageError
from rfpilot.psa.base import Ticket, TicketContext

DESCRIPTION_MAX = 4_000
NOTE_MAX = 1_500
CONTEXT_NOTES = 10


@dataclass
class TicketView:
    connection: str
    provider: str
    ref: str
    ticket: Ticket
    session_id: str | None = None  # an open session already working this ticket


def _clean_id(ticket_id: str) -> str:
    value = (ticket_id or "").strip().lstrip("#")
    if not value:
        raise UsageError("no ticket id given")
    if len(value) > 64 or any(c.isspace() for c in value):
        raise UsageError(f"{ticket_id!r} is not a ticket id")
    return value


def ticket_id_for(conn: PSAConnection, ticket_id: str) -> str:
    """``ticket_id`` in the form ``conn``'s PSA accepts (ConnectWise and Halo: a number; Autotask: a number or a
    ticket number such as T20240516.0012); UsageError otherwise, before anything is sent."""
    from rfpilot.psa import parse_ticket_id

    return parse_ticket_id(conn.provider, _clean_id(ticket_id))


async def _open_sessions_by_ticket(ctx: Ctx, conn: PSAConnection) -> dict[str, str]:
    stmt = select(SessionRow.psa_ticket_id, SessionRow.id).where(
        SessionRow.account_id == ctx.account.id, SessionRow.psa_connection_id == conn.id,
        SessionRow.status.in_(("active", "paused", "escalated")),
    )
    return {ticket: sid for ticket, sid in (await ctx.db.execute(stmt)).all() if ticket is not None}


async def my_tickets(ctx: Ctx, connection: str | None = None, limit: int = 50) -> list[TicketView]:
    if not 1 <= limit <= 500:
        raise UsageError("--limit must be between 1 and 500")
    conn = await psa_service.get_connection(ctx, connection)
    async with psa_service.client_for(conn) as client:
        boards = [b.strip() for b in str(conn.settings.get("boards") or "").split(",") if b.strip()] or None
        tickets = await client.my_open_tickets(conn.settings.get("member"), boards, limit)
    working = await _open_sessions_by_ticket(ctx, conn)
    return [TicketView(conn.name, conn.provider, psa_service.ticket_ref(conn.provider, t.id, t.number), t,
                       working.get(t.id)) for t in tickets]


async def show_ticket(ctx: Ctx, ticket_id: str, connection: str | None = None) -> tuple[TicketView, TicketContext]:
    conn = await psa_service.get_connection(ctx, connection)
    wanted = ticket_id_for(conn, ticket_id)  # a malformed id is the user's to fix (exit 1): no request is made
    async with psa_service.client_for(conn) as client:
        context = await client.ticket_context(wanted, notes=CONTEXT_NOTES)
    ticket = context.ticket
    working = await _open_sessions_by_ticket(ctx, conn)
    view = TicketView(conn.name, conn.provider, psa_service.ticket_ref(conn.provider, ticket.id, ticket.number),
                      ticket, working.get(ticket.id))
    return view, context


def ticket_row(view: TicketView) -> TicketRowView:
    """A ticket for `tickets list|show --json`."""
    t = view.ticket
    return {"id": t.id, "ref": view.ref, "summary": t.summary, "status": t.status_name, "board": t.board_name,
            "company": t.company, "priority": t.priority, "owner": t.owner, "session_id": view.session_id,
            "updated_at": t.updated_at}


def context_document(conn: PSAConnection, context: TicketContext, fetched_at: str) -> TicketContextView:
    """What the session keeps of its ticket (and the model sees as uncached context)."""
    t = context.ticket
    return {
        "provider": conn.provider,
        "ticket_id": t.id,
        "ref": psa_service.ticket_ref(conn.provider, t.id, t.number),
        "summary": t.summary,
        "description": clip(t.description or "", DESCRIPTION_MAX) or None,  # paragraphs kept
        "status": t.status_name,
        "board": t.board_name,
        "company": t.company,
        "contact": t.contact,
        "priority": t.priority,
        "owner": t.owner,
        "notes": [
            TicketNoteView(author=n.author_name or n.author, at=n.created_at.isoformat() if n.created_at else None,
                           kind=n.kind, text=truncate(n.text, NOTE_MAX))
            for n in context.notes[:CONTEXT_NOTES]
        ],
        "configurations": context.configurations[:20],
        "fetched_at": fetched_at,
    }


async def session_from_ticket(ctx: Ctx, ticket_id: str, connection: str | None = None) -> SessionRow:
    """A new active session linked to the ticket, with its context. One open session per ticket."""
    view, context = await show_ticket(ctx, ticket_id, connection)
    if view.session_id:
        raise ConflictError(f"{view.ref} already has an open session ({view.session_id[:8]})",
                            hint=f"open it with `rfpilot open {view.session_id[:8]}`")
    conn = await psa_service.get_connection(ctx, connection)
    doc = context_document(conn, context, ctx.now().isoformat())
    ticket = context.ticket
    now = ctx.now()
    row = SessionRow(
        account_id=ctx.account.id, owner_id=ctx.engineer.id, title=truncate(ticket.summary or view.ref, 200),
        status="active", intake_type="psa_ticket", intake_text=intake_from_ticket(ticket.summary, ticket.description),
        client_name=truncate(ticket.company, 200) if ticket.company else None,
        psa_connection_id=conn.id, psa_ticket_id=ticket.id, ticket_ref=view.ref, ticket_context=doc,
        status_changed_at=now, created_at=now, updated_at=now,
    )
    async with ctx.tx():
        ctx.db.add(row)
    return row
