"""Branching hypotheses (SPEC §10): fork, switch, mark, revive, and what each branch's model sees.

* The root branch is created lazily, on the first fork. Messages written before that (``branch_id`` None)
  belong to the root; once a session branches, every new message carries its branch.
* A fork makes 2–4 children of the branch being worked on. A child starts with its parent's history up to
  the fork (``fork_seq``: messages are numbered per session, so "up to" is a comparison) and adds its own.
  Nothing is copied, so a long history costs nothing to fork.
* The limit counts hypotheses, never the root (``branches.limit``, default 10): a clear error, not a crash.
* Marking a branch dead_end or solved produces a short summary (``tried``, ``concluded``) — by the model when
  one is configured, else from what is stored — and the other branches see every branch's label, status and
  summary in their *uncached* context block, never in the cached system prompt.
* Revive reopens a dead end with evidence from another branch; the evidence stays in that branch's context.
* Every write that changes the branch map (a fork, any status change: switching to an untried branch, mark,
  revive) bumps ``state_version`` in its transaction: the escalation package states the map, so a cached
  preview of the older map is never served.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import and_, func, or_, select

from rfpilot.core.context import Ctx
from rfpilot.core.session.permissions import owner_action
from rfpilot.core.text import one_line, truncate
from rfpilot.core.view_types import BranchMapView, BranchSummary, BranchView, ForkOption, ForkView
from rfpilot.grammar import count, with_article
from rfpilot.db.models import ForkPoint, Message, SessionBranch, SessionRow
from rfpilot.errors import ConflictError, NotFoundError, UsageError

DEFAULT_LIMIT = 10
LABEL_MAX = 200
DESCRIPTION_MAX = 500
REASON_MAX = 2_000
MARKS = ("dead_end", "solved")
OPEN_FOR_WORK = ("active", "paused")


def limit_of(ctx: Ctx) -> int:
    """The branches.limit setting (checked by the settings: at least 2, a fork has two hypotheses or more)."""
    return int(ctx.settings.get("branches.limit")) if ctx.settings is not None else DEFAULT_LIMIT


# --- reading --------------------------------------------------------------------------------------


async def list_branches(ctx: Ctx, session: SessionRow) -> list[SessionBranch]:
    stmt = select(SessionBranch).where(SessionBranch.session_id == session.id).order_by(SessionBranch.seq)
    return list((await ctx.db.execute(stmt)).scalars())


async def root_of(ctx: Ctx, session: SessionRow) -> SessionBranch | None:
    stmt = select(SessionBranch).where(SessionBranch.session_id == session.id, SessionBranch.parent_branch_id.is_(None))
    return (await ctx.db.execute(stmt)).scalar_one_or_none()


async def active_branch(ctx: Ctx, session: SessionRow) -> SessionBranch | None:
    if not session.active_branch_id:
        return None
    return await ctx.db.get(SessionBranch, session.active_branch_id)


async def get_branch(ctx: Ctx, session: SessionRow, ref: str) -> SessionBranch:
    """By label (case-insensitive), id, or unique id prefix, within the session."""
    wanted = (ref or "").strip()
    if not wanted:
        raise UsageError("no branch given")
    branches = await list_branches(ctx, session)
    if not branches:
        raise NotFoundError("this session has no branches yet", hint="fork it first (`rfpilot branches fork`)")
    by_label = [b for b in branches if b.label.casefold() == wanted.casefold()]
    if len(by_label) == 1:
        return by_label[0]
    by_id = [b for b in branches if b.id.startswith(wanted.lower())] if len(wanted) >= 4 else []
    if len(by_id) == 1:
        return by_id[0]
    if len(by_label) > 1 or len(by_id) > 1:
        raise UsageError(f"{ref!r} matches more than one branch", hint="use the id shown by `rfpilot branches list`")
    raise NotFoundError(f"no branch {ref!r} in this session",
                        hint="branches: " + ", ".join(f"{b.label} ({b.id[:8]})" for b in branches))


def _path(branches: list[SessionBranch], leaf: SessionBranch) -> list[SessionBranch]:
    by_id = {b.id: b for b in branches}
    path = [leaf]
    while path[-1].parent_branch_id and path[-1].parent_branch_id in by_id:
        path.append(by_id[path[-1].parent_branch_id])
    return list(reversed(path))


async def history(ctx: Ctx, session: SessionRow, branch: SessionBranch | None = None) -> list[Message]:
    """The messages a branch sees, oldest first: its ancestors' up to each fork, then its own.
    Without branching (or without ``branch``): the session's messages."""
    stmt = await history_statement(ctx, session, branch)
    return list((await ctx.db.execute(stmt.order_by(Message.seq))).scalars())


async def latest_messages(
    ctx: Ctx, session: SessionRow, branch: SessionBranch | None, limit: int, *, roles: tuple[str, ...] = (),
    wanted: Callable[[Message], bool] | None = None, scan: int | None = None,
) -> list[Message]:
    """The branch's latest ``limit`` messages (of ``roles``; for which ``wanted(message)`` holds), oldest first:
    keyset pages back from the newest, so a long session is never read whole. At most ``scan`` messages are
    looked at (default: ``limit``), so a window of "the last turns" stays bounded whatever ``wanted`` skips."""
    stmt = await history_statement(ctx, session, branch)
    if roles:
        stmt = stmt.where(Message.role.in_(roles))
    scan = max(scan or limit, limit)
    size = limit if wanted is None else 2 * limit
    found: list[Message] = []
    seen, before = 0, None
    while len(found) < limit and seen < scan:
        page_size = min(size, scan - seen)
        page_stmt = stmt if before is None else stmt.where(Message.seq < before)
        page = list((await ctx.db.execute(page_stmt.order_by(Message.seq.desc()).limit(page_size))).scalars())
        found += [m for m in page if wanted is None or wanted(m)]  # newest first
        seen += len(page)
        if len(page) < page_size:
            break
        before = page[-1].seq
    return list(reversed(found[:limit]))


async def history_statement(ctx: Ctx, session: SessionRow, branch: SessionBranch | None = None):
    """The SELECT of ``history`` without its order, for callers that page it or count it (core.engine.chat)."""
    stmt = select(Message).where(Message.session_id == session.id)
    if branch is not None:
        path = _path(await list_branches(ctx, session), branch)
        conditions = []
        for here, child in zip(path, path[1:] + [None], strict=True):
            own = (or_(Message.branch_id.is_(None), Message.branch_id == here.id) if here.parent_branch_id is None
                   else Message.branch_id == here.id)
            conditions.append(and_(own, Message.seq <= child.fork_seq) if child is not None and child.fork_seq is not None
                              else own)
        stmt = stmt.where(or_(*conditions))
    return stmt


async def forks(ctx: Ctx, session: SessionRow) -> list[ForkPoint]:
    stmt = select(ForkPoint).where(ForkPoint.session_id == session.id).order_by(ForkPoint.created_at, ForkPoint.id)
    return list((await ctx.db.execute(stmt)).scalars())


def branch_view(branch: SessionBranch, active_id: str | None = None) -> BranchView:
    return {
        "id": branch.id, "label": branch.label, "description": branch.description, "status": branch.status,
        "status_reason": branch.status_reason, "parent_branch_id": branch.parent_branch_id,
        "fork_point_id": branch.fork_point_id, "root": branch.parent_branch_id is None,
        "active": branch.id == active_id, "summary": stored_summary(branch),
        "evidence_from_branch_id": branch.evidence_from_branch_id, "evidence": branch.evidence_description,
        "status_changed_at": branch.status_changed_at.isoformat() if branch.status_changed_at else None,
    }


async def branch_map(ctx: Ctx, session: SessionRow) -> list[BranchView]:
    return [branch_view(b, session.active_branch_id) for b in await list_branches(ctx, session)]


async def map_view(ctx: Ctx, session: SessionRow) -> BranchMapView:
    return BranchMapView(session_id=session.id, active_branch_id=session.active_branch_id,
                         branches=await branch_map(ctx, session))


async def dead_ends(ctx: Ctx, session: SessionRow) -> list[SessionBranch]:
    return [b for b in await list_branches(ctx, session) if b.status == "dead_end"]


# --- forking -------------------------------------------------------------------------------------


async def _next_branch_seq(ctx: Ctx, session: SessionRow) -> int:
    current = (await ctx.db.execute(
        select(func.max(SessionBranch.seq)).where(SessionBranch.session_id == session.id))).scalar()
    return 0 if current is None else int(current) + 1


async def ensure_root(ctx: Ctx, session: SessionRow) -> SessionBranch:
    """The root branch (created on the first fork, in the caller's transaction), made the active branch."""
    root = await root_of(ctx, session)
    if root is None:
        now = ctx.now()
        root = SessionBranch(account_id=ctx.account.id, session_id=session.id, parent_branch_id=None, seq=0,
                             position=1, label="Root", status="active", created_at=now, updated_at=now,
                             status_changed_at=now)
        ctx.db.add(root)
        await ctx.db.flush()
        session.active_branch_id = root.id
    return root


def clean_options(options: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if not 2 <= len(options) <= 4:
        raise UsageError(f"a fork has 2 to 4 hypotheses, not {len(options)}")
    cleaned: list[tuple[str, str]] = []
    for label, description in options:
        name = one_line(label or "")
        if not name:
            raise UsageError("every hypothesis needs a label")
        if len(name) > LABEL_MAX:
            raise UsageError(f"the label {name[:40]!r}… is too long (limit {LABEL_MAX} characters)")
        if name.casefold() in {c[0].casefold() for c in cleaned}:
            raise UsageError(f"two hypotheses are both called {name!r}")
        cleaned.append((name, truncate((description or "").strip(), DESCRIPTION_MAX)))
    return cleaned


@owner_action("fork")
async def fork(
    ctx: Ctx,
    session: SessionRow,
    reason: str,
    options: list[tuple[str, str]],
    *,
    fork_point: ForkPoint | None = None,
) -> tuple[ForkPoint, list[SessionBranch]]:
    """Fork the branch being worked on into 2–4 untried hypotheses (in the caller's transaction if any)."""
    if session.status not in OPEN_FOR_WORK:
        raise ConflictError(f"cannot fork {with_article(session.status)} session", hint="reopen or claim it first")
    cleaned = clean_options(options)
    why = (reason or "").strip()
    if not why:
        raise UsageError("say why the session forks (what the hypotheses disagree on)")
    limit = limit_of(ctx)
    # Checked before the transaction: a refusal changes nothing (and rolls nothing back).
    existing = [b for b in await list_branches(ctx, session) if b.parent_branch_id is not None]
    if len(existing) + len(cleaned) > limit:
        raise ConflictError(
            f"this session already explores {count(len(existing), 'hypothesis')}; {len(cleaned)} more would pass the "
            f"limit of {limit}",
            hint="mark the ruled-out ones dead_end and keep working, or raise branches.limit in config.toml",
        )
    async with ctx.tx():
        root = await ensure_root(ctx, session)
        parent = await active_branch(ctx, session) or root
        last_seq = (await ctx.db.execute(
            select(func.max(Message.seq)).where(Message.session_id == session.id))).scalar()
        now = ctx.now()
        if fork_point is None:
            fork_point = ForkPoint(account_id=ctx.account.id, session_id=session.id, message_id=None,
                                   reason=truncate(why, REASON_MAX), options=[], created_at=now)
            ctx.db.add(fork_point)
        fork_point.parent_branch_id = parent.id
        await ctx.db.flush()
        seq = await _next_branch_seq(ctx, session)
        children = []
        for position, (label, description) in enumerate(cleaned, 1):
            child = SessionBranch(
                account_id=ctx.account.id, session_id=session.id, parent_branch_id=parent.id,
                fork_point_id=fork_point.id, seq=seq + position - 1, position=position,
                fork_seq=-1 if last_seq is None else int(last_seq), label=label, description=description,
                status="untried", created_at=now, updated_at=now,
            )
            ctx.db.add(child)
            children.append(child)
        await ctx.db.flush()
        fork_point.options = [{"label": c.label, "description": c.description, "branch_id": c.id} for c in children]
        await ctx.bump_state(session)  # new hypotheses: the escalation package's branch map changes
    return fork_point, children


# --- switching, marking, reviving ------------------------------------------------------------------


@owner_action("switch the branch of")
async def switch(ctx: Ctx, session: SessionRow, branch: SessionBranch) -> SessionBranch:
    """Work on ``branch`` from now on; an untried branch becomes active. Other branches keep their status."""
    if branch.session_id != session.id:
        raise UsageError("that branch belongs to another session")
    async with ctx.tx():
        session.active_branch_id = branch.id
        if branch.status == "untried":
            branch.status = "active"
            branch.status_changed_at = ctx.now()
            branch.status_changed_by = ctx.engineer.id
            await ctx.bump_state(session)  # a branch status change (SPEC §3)
        else:
            ctx.touch(session)
    return branch


@owner_action("mark a branch of")
async def mark(
    ctx: Ctx, session: SessionRow, branch: SessionBranch, status: str, reason: str | None, *, provider: Any = None
) -> SessionBranch:
    """Mark a hypothesis dead_end or solved (a reason is required for a dead end) and summarise it."""
    status = (status or "").strip().lower().replace("-", "_")
    if status not in MARKS:
        raise UsageError(f"a branch is marked dead_end or solved, not {status!r}")
    if branch.session_id != session.id:
        raise UsageError("that branch belongs to another session")
    why = (reason or "").strip()
    if status == "dead_end" and not why:
        raise UsageError("say why it is a dead end (it becomes 'Things to rule out first' in the KB article)")
    if len(why) > REASON_MAX:
        raise UsageError(f"the reason is too long (limit {REASON_MAX} characters)")
    summary = await summarise(ctx, session, branch, status, why, provider)
    async with ctx.tx():
        branch.status = status
        branch.status_reason = why or None
        branch.status_changed_at = ctx.now()
        branch.status_changed_by = ctx.engineer.id
        branch.context_summary = dict(summary)
        await ctx.bump_state(session)  # a branch status change (SPEC §3): cached previews are stale
    return branch


@owner_action("revive a branch of")
async def revive(
    ctx: Ctx, session: SessionRow, branch: SessionBranch, evidence_from: SessionBranch, description: str
) -> SessionBranch:
    """Reopen a dead end because another branch found something that points back at it."""
    if branch.session_id != session.id or evidence_from.session_id != session.id:
        raise UsageError("both branches must belong to this session")
    if branch.id == evidence_from.id:
        raise UsageError("the evidence must come from another branch")
    if branch.status != "dead_end":
        raise ConflictError(f"only a dead end can be revived; {branch.label!r} is {branch.status}")
    text = (description or "").strip()
    if len(text) < 5:
        raise UsageError("describe the new evidence (a sentence or so)")
    async with ctx.tx():
        branch.status = "revived"
        branch.status_changed_at = ctx.now()
        branch.status_changed_by = ctx.engineer.id
        branch.evidence_from_branch_id = evidence_from.id
        branch.evidence_description = truncate(text, REASON_MAX)
        await ctx.bump_state(session)  # a branch status change (SPEC §3): cached previews are stale
    return branch


# --- summaries and cross-branch context --------------------------------------------------------------


@dataclass
class _Summary:
    tried: list[str]
    concluded: str


async def _offline_summary(ctx: Ctx, session: SessionRow, branch: SessionBranch, status: str, reason: str) -> _Summary:
    """What the store already says: the engineer's own messages on the branch, and the reason given."""
    own = [m for m in await history(ctx, session, branch) if m.branch_id == branch.id and m.role == "user"]
    tried = [truncate(one_line(m.display_content), 120) for m in own][-5:]
    if not tried and branch.description:
        tried = [truncate(one_line(branch.description), 120)]
    concluded = reason or ("This hypothesis fixed it." if status == "solved" else "Ruled out.")
    return _Summary(tried, concluded)


def stored_summary(branch: SessionBranch) -> BranchSummary | None:
    """The branch's summary as ``summarise`` wrote it (the column holds it as a plain JSON document)."""
    return cast("BranchSummary | None", branch.context_summary)


def stored_options(point: ForkPoint) -> list[ForkOption]:
    """A fork's options as ``fork`` and the chat engine wrote them (a plain JSON list in the column)."""
    return cast("list[ForkOption]", list(point.options or []))


async def summarise(ctx: Ctx, session: SessionRow, branch: SessionBranch, status: str, reason: str,
                    provider: Any = None) -> BranchSummary:
    """``{"tried": [...], "concluded": "...", "by": "llm"|"offline"}``; the model is asked only when given."""
    fallback = await _offline_summary(ctx, session, branch, status, reason)
    if provider is None or getattr(provider, "name", "offline") == "offline":
        return BranchSummary(tried=fallback.tried, concluded=fallback.concluded, by="offline")
    from rfpilot.core.llm.base import LLMCallError, LLMRequest
    from rfpilot.core.llm.prompts import BRANCH_SUMMARY_PROMPT

    lines = [f"Hypothesis: {branch.label}" + (f" — {branch.description}" if branch.description else ""),
             f"Marked: {status}" + (f" — {reason}" if reason else ""), "", "Conversation on this branch:"]
    for m in await history(ctx, session, branch):
        if m.branch_id == branch.id and m.role in ("user", "assistant"):
            lines.append(f"[{m.role}] {truncate(m.display_content, 600)}")
    try:
        result = await provider.complete(LLMRequest(action="summary", system=BRANCH_SUMMARY_PROMPT,
                                                    message="\n".join(lines), max_tokens=400))
        data = json.loads(result.text.strip().removeprefix("```json").removeprefix("```").removesuffix("```"))
        tried = [truncate(one_line(str(t)), 160) for t in data.get("tried", []) if str(t).strip()][:6]
        concluded = truncate(one_line(str(data.get("concluded") or "")), 300)
        if not concluded:
            raise ValueError("no conclusion")
        return BranchSummary(tried=tried or fallback.tried, concluded=concluded, by="llm")
    except (LLMCallError, ValueError, AttributeError, TypeError):
        return BranchSummary(tried=fallback.tried, concluded=fallback.concluded, by="offline")


_ORDER = {"active": 0, "revived": 1, "untried": 2, "dead_end": 3, "solved": 4}


async def cross_branch_context(ctx: Ctx, session: SessionRow, branch: SessionBranch | None) -> str:
    """The uncached block a branch's model gets: the other hypotheses (label, status, summary), and this
    branch's revival evidence. Empty without branching."""
    if branch is None:
        return ""
    others = [b for b in await list_branches(ctx, session) if b.id != branch.id and b.parent_branch_id is not None]
    lines: list[str] = []
    lines.append(f"# This branch: {branch.label} ({branch.status})" + (f" — {branch.description}" if branch.description else ""))
    if branch.evidence_description:
        source = await ctx.db.get(SessionBranch, branch.evidence_from_branch_id) if branch.evidence_from_branch_id else None
        lines.append(f"Revived with evidence from {source.label if source else 'another branch'}: "
                     f"{branch.evidence_description}")
    if others:
        lines += ["", "# Other hypotheses in this session (do not repeat what they ruled out)"]
        for other in sorted(others, key=lambda b: (_ORDER.get(b.status, 5), b.seq)):
            summary = other.context_summary or {}
            if summary:
                tried = "; ".join(summary.get("tried") or []) or "nothing recorded"
                lines.append(f"- {other.label} [{other.status}]: tried {tried}. {summary.get('concluded') or ''}".rstrip())
            elif other.status_reason:
                lines.append(f"- {other.label} [{other.status}]: {other.status_reason}")
            else:
                lines.append(f"- {other.label} [{other.status}]: not explored yet")
    return "\n".join(lines)


async def fork_views(ctx: Ctx, session: SessionRow) -> list[ForkView]:
    """The session's forks for the transcript: reason, options (with branch ids) and where they happened
    (``after_seq``: the reply that proposed it, else the last message before the fork)."""
    points = await forks(ctx, session)
    if not points:
        return []
    by_id = {b.id: b for b in await list_branches(ctx, session)}
    message_seq = {}
    ids = [p.message_id for p in points if p.message_id]
    if ids:
        rows = await ctx.db.execute(select(Message.id, Message.seq).where(Message.id.in_(ids)))
        message_seq = {mid: seq for mid, seq in rows.all()}
    views: list[ForkView] = []
    for point in points:
        children = [by_id[o["branch_id"]] for o in point.options or [] if o.get("branch_id") in by_id]
        if point.message_id in message_seq:
            after = message_seq[point.message_id]
        elif children:
            after = min(c.fork_seq if c.fork_seq is not None else -1 for c in children)
        else:
            continue
        views.append(ForkView(id=point.id, reason=point.reason, options=stored_options(point), after_seq=after,
                              parent_branch_id=point.parent_branch_id, message_id=point.message_id,
                              created_at=point.created_at.isoformat(timespec="seconds") if point.created_at else None))
    return views
