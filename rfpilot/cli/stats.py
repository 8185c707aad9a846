"""`stats`: the team's figures (Insights), as tables or `--json`. The figures are core.memory.stats's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run

if TYPE_CHECKING:
    from rfpilot.core.view_types import StatsGroupView, StatsView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts, with every figure's definition).")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    client: Optional[str] = typer.Option(None, "--client", help="Only this client's sessions (its name, any case)."),
    since: str = typer.Option("90d", "--since", help="How far back: a whole number and h, d or w (48h, 30d, 12w). "
                              "The window starts on the Monday (UTC) of that week."),
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
        if view["totals"]["closed"] == 0:
            opened = view["totals"]["opened"]
            more = f" ({opened} opened, none closed)" if opened else ""
            output.info(f"nothing to show yet: no session was resolved or escalated in the last "
                        f"{view['window']['since']}{more}")
            return None
        return render(view)

    output.emit(view, as_json, human)


def _group_cells(g: StatsGroupView) -> list[str]:
    from rfpilot.core.text import percent, span

    return [str(g["opened"]), str(g["resolved"]), str(g["escalated"]), percent(g["escalation_rate"]),
            percent(g["first_fix_rate"]), span(g["median_resolve_seconds"])]


GROUP_HEADERS = ("OPENED", "RESOLVED", "ESCALATED", "ESCALATION", "FIRST FIX", "MEDIAN TO RESOLVE")


def render(view: StatsView) -> str:
    from rfpilot.core.text import percent, span
    from rfpilot.grammar import count

    win, totals, filters = view["window"], view["totals"], view["filters"]
    first, esc = totals["first_fix"], totals["escalation_rate"]
    scope = " · ".join([f"client {filters['client']}" if filters["client"] else "all clients",
                        f"engineer {filters['engineer']}" if filters["engineer"] else "all engineers"])
    parts = ["\n".join([
        f"Insights · last {win['since']} ({win['start'][:10]} to {win['end'][:10]}, {count(win['weeks'], 'week')}) · "
        f"{scope}",
        f"{totals['opened']} opened · {totals['resolved']} resolved · {totals['escalated']} escalated · "
        f"median time to resolve {span(totals['median_resolve_seconds'])}",
        f"first fix worked {percent(first['rate'])} ({first['count']} of {first['of']}) · "
        f"escalation rate {percent(esc['rate'])} ({esc['count']} of {esc['of']})",
    ])]
    parts.append("Per week\n" + output.table(
        ("WEEK", "STARTS", "OPENED", "RESOLVED", "ESCALATED", "MEDIAN TO RESOLVE"),
        [[w["week"], w["start"], w["opened"], w["resolved"], w["escalated"], span(w["median_resolve_seconds"])]
         for w in view["weeks"]]))
    if view["problems"]:
        rows = []
        for p in view["problems"]:
            worked = ", ".join(f"{f['title']} ({f['sessions']})" for f in p["fixes"])
            label = p["label"] + (f" · worked: {worked}" if worked and p["kind"] != "fix" else "")
            rows.append([p["sessions"], p["resolved"], p["escalated"], p["kind"], label])
        text = "Most frequent problems\n" + output.table(("SESSIONS", "RESOLVED", "ESCALATED", "BY", "PROBLEM"), rows,
                                                         max_last=120)
        if view["unclassified"]:
            text += (f"\n({count(view['unclassified'], 'closed session')} with no template, working fix or domain "
                     "to group by)")
        parts.append(text)
    if view["templates"]:
        parts.append("Script templates\n" + output.table(
            ("TEMPLATE", "APPLIED", "WORKED", "FAILED", "SUCCESS", "NAME"),
            [[t["slug"], t["applied"], t["worked"], t["failed"], percent(t["success_rate"]),
              t["name"] if t["name"] is not None else "(not in the library)"] for t in view["templates"]]))
    if view["clients"]:
        parts.append("Per client\n" + output.table(
            ("CLIENT", *GROUP_HEADERS),
            [[c["client"] if c["client"] is not None else "(no client)", *_group_cells(c)] for c in view["clients"]]))
    if view["engineers"]:
        parts.append("Per engineer\n" + output.table(
            ("ENGINEER", *GROUP_HEADERS, "NAME"),
            [[e["email"] or e["engineer_id"][:8], *_group_cells(e), e["name"] or ""] for e in view["engineers"]]))
    return "\n\n".join(parts)
