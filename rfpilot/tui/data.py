"""What the TUI reads, as plain data, through the same core services the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rfpilot.core.context import Ctx
from rfpilot.core.session.live import SessionMark
from rfpilot.core.text import age, short_id
from rfpilot.core.view_types import (
    BranchView,
    FactView,
    ForkView,
    LaneItemView,
    MessageView,
    SessionDetails,
    UsageTotals,
)
from rfpilot.tui.rows import SessionRowView


@dataclass
class SessionSnapshot:
    details: SessionDetails  # core.views.session_details
    messages: list[MessageView] | None  # core.views.message_view, the latest page, oldest first (None: not loaded)
    usage: UsageTotals
    pending_retry: bool
    branches: list[BranchView] | None = None  # core.session.branches.branch_map (empty: not branching)
    forks: list[ForkView] | None = None  # core.session.branches.fork_views, with the transcript
    message_count: int | None = None  # every message of the conversation (``messages`` is the latest page)
    tail_from: int | None = None  # set: ``messages`` are the ones from this seq on (a turn's), not the latest page
    mark: SessionMark | None = None  # the session row as read (core.session.live): a teammate's write moves it


async def session_rows(ctx: Ctx, *, match: str | None = None, after: Any = None,
                       limit: int = 50) -> tuple[list[SessionRowView], Any]:
    """One chunk of the session list (core.session.sessions.session_page) and the cursor of the next (None: no more), as
    the plain tuple ``rfpilot.tui.prefetch.cursor_token`` makes (the first page may come from the start-up's
    child process in that form)."""
    from rfpilot.core.session.sessions import ListCursor, session_page
    from rfpilot.tui.prefetch import cursor_token, row_fields

    now = ctx.now()
    page = await session_page(ctx, match=match, after=ListCursor(*after) if after is not None else None, limit=limit)
    return [SessionRowView.from_fields(row_fields(row), now) for row in page.sessions], cursor_token(page.cursor)


MESSAGE_PAGE = 40  # the latest messages a session opens on; ctrl+up brings the ones before, EARLIER_PAGE at a time
EARLIER_PAGE = 10
FACT_PAGE = 50  # facts the lane shows at first; its "more facts" row brings the next FACT_PAGE
ITEM_PAGE = 50  # questions, and checks, the lane shows at first; a "more" row brings the next ITEM_PAGE


async def snapshot(ctx: Ctx, session_id: str, *, with_messages: bool = True, facts: int = FACT_PAGE,
                   items: dict[str, int] | None = None, tail_from: int | None = None) -> SessionSnapshot:
    """The session's state; the latest page of the transcript only when asked (a banner or lane refresh does not
    need it). Never the whole transcript nor every fact, question or check: a session of any size opens in the
    same time (``facts`` and ``items``: how many the lane shows now, at least a page).
    ``tail_from``: instead of the latest page, the messages from that seq on (after a chat turn, appended in
    place of what the transcript showed from there, so earlier pages the user loaded stay)."""
    from rfpilot.core.engine import chat
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import message_view, session_details

    from rfpilot.core.session import branches

    row = await get_session(ctx, session_id)
    shown = items or {}
    details = await session_details(ctx, row, fact_limit=max(facts, FACT_PAGE),
                                    item_limits={k: max(shown.get(k, 0), ITEM_PAGE) for k in ("question", "check")})
    messages = message_count = None
    if tail_from is not None:
        from rfpilot.tui.widgets.transcript import MOST

        messages = [message_view(m) for m in await chat.message_page(ctx, row, MOST, from_seq=tail_from)]
        message_count = details["messages"]["count"]
    elif with_messages:
        messages = [message_view(m) for m in await chat.message_page(ctx, row, MESSAGE_PAGE)]
        message_count = details["messages"]["count"]
    return SessionSnapshot(
        details=details,
        messages=messages,
        usage=details["llm_usage"],
        pending_retry=await chat.pending_retry(ctx, row) is not None,
        branches=await branches.branch_map(ctx, row),
        forks=await branches.fork_views(ctx, row) if with_messages or tail_from is not None else None,
        message_count=message_count,
        tail_from=tail_from,
        mark=SessionMark.of(row),
    )


async def earlier_messages(ctx: Ctx, session_id: str, before_seq: int, limit: int = EARLIER_PAGE) -> list[MessageView]:
    """The page of messages just before ``before_seq``, oldest first."""
    from rfpilot.core.engine import chat
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import message_view

    row = await get_session(ctx, session_id)
    return [message_view(m) for m in await chat.message_page(ctx, row, limit, before_seq=before_seq)]


async def more_facts(ctx: Ctx, session_id: str, after_id: str) -> list[FactView]:
    """The next page of the lane's facts, after the fact ``after_id``."""
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import fact_page

    return await fact_page(ctx, await get_session(ctx, session_id), after_id, FACT_PAGE)


async def more_items(ctx: Ctx, session_id: str, kind: str, after_id: str) -> list[LaneItemView]:
    """The next page of the lane's questions or checks (``kind``), after the item ``after_id``."""
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import lane_page

    return await lane_page(ctx, await get_session(ctx, session_id), kind, after_id, ITEM_PAGE)
