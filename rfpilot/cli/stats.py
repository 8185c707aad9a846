"""`stats`: the team's figures (Insights), as tables or `--json`. The figures are core.memory.stats's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run

if TYPE_CHECKING:
    from rfpilot.core.view_types import StatsView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts, with every figure's definition).")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    client: Optional[str] = typer.Option(None, "--client", help="Only this client's sessions (its name, any case)."),
    since: str = typer.Option("90d", "--since", help="How far back: a whole number and h, d, w or y (48h, 30d, 12w, 1y), or a "
                              "date (2026-11-01). The window starts on the Monday (UTC) of that week."),
    engineer: Optional[str] = typer.Option(None, "--engineer", metavar="EMAIL",
                                           help="Only the sessions this engineer owns (their email)."),
    top: int = typer.Option(10, "--top", min=1, max=1000, help="Rows in each table of problems, templates, clients "
                            "and engineers."),
    as_json: bool = JSON,
) -> None:
    """The team's figures: sessions opened, resolved and escalated per week, time to resolve, first-fix success,
    escalation rate, the most frequent problems and what fixed them, each script template's success rate, and the
    same per client and per engineer. Every figure is defined in docs/memory.md and in the JSON."""

    async def go(ctx) -> StatsView:
        from rfpilot.core.memory.stats import team_stats

        return await team_stats(ctx, since=since, client=client, engineer=engineer, top=top)

    view = run(go)

    def human() -> str | None:
        from rfpilot.core.memory.stats import nothing_yet

        empty = nothing_yet(view)
        if empty:
            output.info(empty)
            return None
        return render(view)

    output.emit(view, as_json, human)


def render(view: StatsView) -> str:
    from rfpilot.core.memory.stats import (
        GROUP_HEADERS,
        client_name,
        group_cells,
        problem_label,
        summary_lines,
        template_name,
        unclassified_line,
    )
    from rfpilot.core.text import percent, span

    head, *totals = summary_lines(view)
    parts = ["\n".join(["Insights · " + head, *totals])]
    parts.append("Per week\n" + output.table(
        ("WEEK", "STARTS", "OPENED", "RESOLVED", "ESCALATED", "MEDIAN TO RESOLVE"),
        [[w["week"], w["start"], w["opened"], w["resolved"], w["escalated"], span(w["median_resolve_seconds"])]
         for w in view["weeks"]]))
    if view["problems"]:
        text = "Most frequent problems\n" + output.table(
            ("SESSIONS", "RESOLVED", "ESCALATED", "BY", "PROBLEM"),
            [[p["sessions"], p["resolved"], p["escalated"], p["kind"], problem_label(p)] for p in view["problems"]],
            max_last=120)
        unclassified = unclassified_line(view)
        parts.append(text + ("\n" + unclassified if unclassified else ""))
    if view["templates"]:
        parts.append("Script templates\n" + output.table(
            ("TEMPLATE", "APPLIED", "WORKED", "FAILED", "SUCCESS", "NAME"),
            [[t["slug"], t["applied"], t["worked"], t["failed"], percent(t["success_rate"]), template_name(t)]
             for t in view["templates"]]))
    if view["clients"]:
        parts.append("Per client\n" + output.table(
            ("CLIENT", *GROUP_HEADERS), [[client_name(c), *group_cells(c)] for c in view["clients"]]))
    if view["engineers"]:
        parts.append("Per engineer\n" + output.table(
            ("ENGINEER", *GROUP_HEADERS, "NAME"),
            [[e["email"] or e["engineer_id"][:8], *group_cells(e), e["name"] or ""] for e in view["engineers"]]))
    return "\n\n".join(parts)
