"""What the TUI reads, as plain data, through the same core services the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rfpilot.core.context import Ctx
from rfpilot.core.text import age, short_id
from rfpilot.tui.widgets.session_list import SessionRowView


@dataclass
class SessionSnapshot:
    details: dict[str, Any]  # core.views.session_details
    messages: list[dict[str, Any]] | None  # core.views.message_view, oldest first (None: not loaded)
    usage: dict[str, int]
    pending_retry: bool
    branches: list[dict[str, Any]] | None = None  # core.branches.branch_map (empty: not branching)
    forks: list[dict[str, Any]] | None = None  # core.branches.fork_views, with the transcript


async def session_rows(ctx: Ctx, *, match: str | None = None, after: Any = None,
                       limit: int = 50) -> tuple[list[SessionRowView], Any]:
    """One chunk of the session list (core.sessions.session_page) and the cursor of the next (None: no more)."""
    from rfpilot.core.sessions import session_page

    now = ctx.now()
    page = await session_page(ctx, match=match, after=after, limit=limit)
    views = [
        SessionRowView(
            id=row.id,
            title=row.title or f"(untitled {short_id(row.id)})",
            status=row.status,
            client=row.client_name,
            ticket_ref=row.ticket_ref,
            age=age(row.updated_at, now),
            updated_at=row.updated_at,
        )
        for row in page.sessions
    ]
    return views, page.cursor


async def snapshot(ctx: Ctx, session_id: str, *, with_messages: bool = True) -> SessionSnapshot:
    """The session's state; the whole transcript only when asked (a banner or lane refresh does not need it)."""
    from rfpilot.core import chat
    from rfpilot.core.sessions import get_session
    from rfpilot.core.views import message_view, session_details

    from rfpilot.core import branches

    row = await get_session(ctx, session_id)
    details = await session_details(ctx, row)
    messages = [message_view(m) for m in await chat.list_messages(ctx, row)] if with_messages else None
    return SessionSnapshot(
        details=details,
        messages=messages,
        usage=details["llm_usage"],
        pending_retry=await chat.pending_retry(ctx, row) is not None,
        branches=await branches.branch_map(ctx, row),
        forks=await branches.fork_views(ctx, row) if with_messages else None,
    )
