"""`search`: the team's past sessions, ranked by how well their text matches (docs/memory.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run

if TYPE_CHECKING:
    from rfpilot.core.view_types import SearchResultView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
STATUS_DOT = {"active": "●", "paused": "◐", "escalated": "▲", "resolved": "✓", "abandoned": "✗"}


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: str = typer.Argument(..., help="Words to look for (any characters: they are searched as plain words)."),
    client: Optional[str] = typer.Option(None, "--client", help="Only this client's sessions (any case)."),
    status: Optional[list[str]] = typer.Option(None, "--status", "-s",
                                               help="Only these statuses (repeatable): resolved, escalated, active, "
                                                    "paused, abandoned."),
    since: Optional[str] = typer.Option(None, "--since", help="Only sessions active in this window (30d, 12h, 2w, "
                                        "3m, 1y) or since this date (2026-11-01).", metavar="WHEN"),
    mine: bool = typer.Option(False, "--mine", help="Only sessions you own."),
    limit: int = typer.Option(20, "--limit", min=1, max=200, help="At most this many sessions."),
    as_json: bool = JSON,
) -> None:
    """Search every session's text: titles, problems, facts, fixes, notes, outputs and dead ends, best match first."""

    async def go(ctx):
        from datetime import datetime

        from rfpilot.core.memory.search import search as run_search
        from rfpilot.core.text import age

        found = await run_search(ctx, query, client=client, statuses=tuple(status or ()), since=since, mine=mine,
                                 limit=limit)
        now = ctx.now()
        return found, [age(datetime.fromisoformat(r["updated_at"]), now) if r["updated_at"] else "" for r in found]

    results, ages = run(go)
    if as_json:
        output.emit(results, True, lambda: None)
        return
    if not results:
        output.info("no session matches")
        return
    lines: list[list[tuple[str, bool]]] = []
    for result, when in zip(results, ages):
        lines += ([[]] if lines else []) + _lines(result, when)
    output.data_marked(lines)


def _lines(result: SearchResultView, when: str) -> list[list[tuple[str, bool]]]:
    head = (f"{result['session_id'][:8]}  {STATUS_DOT.get(result['status'], ' ')} {result['status']}"
            f"{'  ' + result['client'] if result['client'] else ''}  {when}  {result['title'] or '(untitled)'}")
    lines: list[list[tuple[str, bool]]] = [[(head, False)]]
    if result["outcome"]:
        lines.append([(f"          {result['outcome']}", False)])
    for snippet in result["snippets"]:
        text, pieces, at = snippet["text"], [(f"          {snippet['kind'].replace('_', ' ')}: ", False)], 0
        for start, end in snippet["marks"]:
            pieces += [(text[at:start], False), (text[start:end], True)]
            at = end
        pieces.append((text[at:], False))
        lines.append(pieces)
    return lines
