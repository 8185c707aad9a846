"""Export a whole session as JSON (machine) or Markdown (people)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import select

from rfpilot import __version__
from rfpilot.core.session import facts as fact_service
from rfpilot.core.session import fixes as fix_service
from rfpilot.core.session import lane as lane_service
from rfpilot.core.context import Ctx
from rfpilot.core.session.sessions import owner_name
from rfpilot.core.text import duration
from rfpilot.core.view_types import BranchView, ExportedMessageView, ExportView, ForkView
from rfpilot.core.views import fact_view, fix_view, iso, lane_item_view, session_view
from rfpilot.db.models import Message, SessionRow
from rfpilot.textsafe import inert_all

EXPORT_FORMAT = 1


async def export_data(ctx: Ctx, session: SessionRow) -> ExportView:
    from rfpilot.core.session import branches as branch_service

    messages = (
        await ctx.db.execute(select(Message).where(Message.session_id == session.id).order_by(Message.seq))
    ).scalars()
    return {
        "format": EXPORT_FORMAT,
        "exported_by": f"rfpilot {__version__}",
        "exported_at": iso(ctx.now()),
        "session": {**session_view(session, ctx.now()), "owner": await owner_name(ctx, session)},
        "facts": [fact_view(f) for f in await fact_service.list_facts(ctx, session)],
        "lane": [lane_item_view(i) for i in await lane_service.list_items(ctx, session, include_retired=True)],
        "fixes": [fix_view(f) for f in await fix_service.list_fixes(ctx, session)],
        "messages": [
            ExportedMessageView(id=m.id, seq=m.seq, branch_id=m.branch_id, role=m.role, status=m.status,
                                content=m.display_content, created_at=iso(m.created_at))
            for m in messages
        ],
        "resolution_note": session.resolution_note_markdown,
        "escalation_package": session.escalation_package_markdown,
        # The branch map and where the session forked (empty lists for a session that never forked).
        "branches": await branch_service.branch_map(ctx, session),
        "fork_points": await branch_service.fork_views(ctx, session),
    }


def _quote(text: str) -> list[str]:
    return ["> " + line if line else ">" for line in text.splitlines()] or [">"]


def _branch_map(branches: list[BranchView], forks: list[ForkView]) -> list[str]:
    """The hypotheses as a nested list (children under their parent) and where the session forked."""
    if not branches and not forks:
        return []
    out = ["", "## Hypotheses (branches)", ""]
    children: dict[str | None, list[BranchView]] = {}
    for b in branches:
        children.setdefault(b["parent_branch_id"], []).append(b)

    def walk(parent: str | None, depth: int) -> None:
        pad = "  " * depth
        for b in children.get(parent, []):
            line = f"{pad}- **{b['label']}** · {b['status']}" + (" (being worked on)" if b["active"] else "")
            if b["description"]:
                line += f" — {b['description']}"
            out.append(line)
            if b["status_reason"]:
                out.append(f"{pad}  - why: {b['status_reason']}")
            summary = b["summary"]
            if summary and summary.get("tried"):
                out.append(f"{pad}  - tried: " + "; ".join(str(t) for t in summary["tried"]))
            if summary and summary.get("concluded") and summary.get("concluded") != b["status_reason"]:
                out.append(f"{pad}  - concluded: {summary['concluded']}")
            if b["evidence"]:
                out.append(f"{pad}  - revived on: {b['evidence']}")
            walk(b["id"], depth + 1)

    walk(None, 0)
    if forks:
        labels = {b["id"]: b["label"] for b in branches}
        out += ["", "### Fork points", ""]
        for f in forks:
            options = ", ".join(o.get("label", "?") for o in f["options"]) or "(no hypotheses)"
            source = labels.get(f["parent_branch_id"] or "", "the conversation")
            where = f"after message {f['after_seq']}" if f["after_seq"] >= 0 else "before the first message"
            out.append(f"- {where}, from {source}: {f['reason'] or '(no reason given)'} → {options}")
    return out


def export_markdown(data: ExportView) -> str:
    """People read it in a terminal or a viewer: every stored string is made inert first (textsafe), so no
    control is split into lines or survives as a raw byte; the words all stay."""
    data = cast(ExportView, inert_all(data))
    s = data["session"]
    out = [f"# {s['title'] or '(untitled session)'}", ""]
    meta = [
        ("Session", s["id"]),
        ("Status", s["status"]),
        ("Owner", s.get("owner")),
        ("Client", s["client"]),
        ("Ticket", s["ticket_ref"]),
        ("Created", s["created_at"]),
        ("Active time", duration(s["active_seconds"])),
        ("Parked time", duration(s["parked_seconds"])),
    ]
    out += [f"- **{k}:** {v}" for k, v in meta if v]
    if s["intake_text"]:
        out += ["", "## Problem as reported", "", *_quote(s["intake_text"])]
    out += ["", "## What we know", ""]
    out += [f"- {f['text']} _({f['source_type']}{' · ' + f['source_summary'] if f['source_summary'] else ''})_" for f in data["facts"]] or ["Nothing yet."]
    questions = [i for i in data["lane"] if i["kind"] == "question"]
    checks = [i for i in data["lane"] if i["kind"] == "check"]
    if questions:
        out += ["", "## Questions", ""]
        for q in questions:
            answer = f" — {q['response']}" if q["response"] else ""
            out.append(f"- [{q['state']}] {q['text']}{answer}")
    if checks:
        out += ["", "## Diagnostic checks", ""]
        for c in checks:
            out.append(f"- [{c['state']}] {c['text']}")
            if c["command"]:
                out += ["", "  ```", *[f"  {ln}" for ln in c["command"].splitlines()], "  ```"]
            if c["response"]:
                out += ["", "  Output:", "", "  ```", *[f"  {ln}" for ln in c["response"].splitlines()], "  ```"]
    if data["fixes"]:
        out += ["", "## Suggested fixes", ""]
        for f in data["fixes"]:
            flag = " (active)" if f["active"] else ""
            out.append(f"- **{f['title']}** — {f['confidence_pct']}% · {f['status']}{flag}")
            for label, said in (("partial", f["partial_notes"]), ("failed", f["failure_reason"]),
                                ("waiting on", f["pending_reason"])):
                if said:
                    out.append(f"  - {label}: {said}")
    out += _branch_map(data.get("branches") or [], data.get("fork_points") or [])
    if data["messages"]:
        labels = {b["id"]: b["label"] for b in data.get("branches") or []}
        out += ["", "## Conversation", ""]
        for m in data["messages"]:
            branch = m.get("branch_id")
            where = f" · on {labels[branch]}" if branch is not None and branch in labels else ""
            out += [f"**{m['role']}** · {m['created_at']}{where}", "", m["content"], ""]
    for title, note in (("Resolution note", data["resolution_note"]), ("Escalation package", data["escalation_package"])):
        if note:
            out += ["", f"## {title}", "", *_quote(note)]
    return "\n".join(out).rstrip() + "\n"
