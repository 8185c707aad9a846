"""Export a whole session as JSON (machine) or Markdown (people)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from rfpilot import __version__
from rfpilot.core import facts as fact_service
from rfpilot.core import fixes as fix_service
from rfpilot.core import lane as lane_service
from rfpilot.core.context import Ctx
from rfpilot.core.sessions import owner_name
from rfpilot.core.text import duration
from rfpilot.core.views import fact_view, fix_view, iso, lane_item_view, session_view
from rfpilot.db.models import Message, SessionRow
from rfpilot.textsafe import inert_all

EXPORT_FORMAT = 1


async def export_data(ctx: Ctx, session: SessionRow) -> dict[str, Any]:
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
            {
                "id": m.id,
                "role": m.role,
                "status": m.status,
                "content": m.display_content,
                "created_at": iso(m.created_at),
            }
            for m in messages
        ],
        "resolution_note": session.resolution_note_markdown,
        "escalation_package": session.escalation_package_markdown,
    }


def _quote(text: str) -> list[str]:
    return ["> " + line if line else ">" for line in text.splitlines()] or [">"]


def export_markdown(data: dict[str, Any]) -> str:
    """People read it in a terminal or a viewer: every stored string is made inert first (textsafe), so no
    control is split into lines or survives as a raw byte; the words all stay."""
    data = inert_all(data)
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
            for label, key in (("partial", "partial_notes"), ("failed", "failure_reason"), ("waiting on", "pending_reason")):
                if f[key]:
                    out.append(f"  - {label}: {f[key]}")
    if data["messages"]:
        out += ["", "## Conversation", ""]
        for m in data["messages"]:
            out += [f"**{m['role']}** · {m['created_at']}", "", m["content"], ""]
    for title, key in (("Resolution note", "resolution_note"), ("Escalation package", "escalation_package")):
        if data[key]:
            out += ["", f"## {title}", "", *_quote(data[key])]
    return "\n".join(out).rstrip() + "\n"
