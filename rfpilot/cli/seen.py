"""`seen …`: a session's "seen before" matches (core.memory.seen_before)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run

if TYPE_CHECKING:
    from rfpilot.core.view_types import SeenBeforeView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")

seen_app = typer.Typer(help='"Seen before": the earlier sessions of the team like this one; list and dismiss them.',
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(seen_app, name="seen")


def seen_lines(matches: list[SeenBeforeView]) -> list[str]:
    """The matches as `sessions show` and `seen list` print them (output.data makes the text inert)."""
    from rfpilot.core.text import duration, one_line

    lines: list[str] = []
    for m in matches:
        head = f"  {m['ref']}  {one_line(m['title'])}"
        if m["client_name"]:
            head += f" · {one_line(m['client_name'])}" + (" (same client)" if m["same_client"] else "")
        if m["dismissed"]:
            head += " · dismissed"
        lines.append(head)
        if m["fixed_by"]:
            what = f"fixed by {one_line(m['fixed_by'])}"
            if m["fix_template_slug"]:
                what += f" (template {one_line(m['fix_template_slug'])})"
        elif m["escalation_reason"]:
            what = f"escalated: {one_line(m['escalation_reason'])}"
        else:
            what = m["status"]
        lines.append(f"      {what} · {duration(m['active_seconds'])} to resolve")
        for dead in m["dead_ends"][:3]:
            lines.append(f"      dead end: {one_line(dead)}")
    return lines


@seen_app.command("list")
def seen_list(
    session: str = SESSION_ARG,
    show_all: bool = typer.Option(False, "--all", help="The dismissed matches too, after the others."),
    as_json: bool = JSON,
) -> None:
    """The session's seen-before matches, best first (found again first when its facts changed)."""

    async def go(ctx):
        from rfpilot.core.memory import seen_before
        from rfpilot.core.session.sessions import get_session

        return await seen_before.matches(ctx, await get_session(ctx, session), dismissed=show_all)

    data = run(go)
    output.emit(data, as_json, lambda: "\n".join(seen_lines(data)) or "(nothing seen before)")


@seen_app.command("dismiss")
def seen_dismiss(
    session: str = SESSION_ARG,
    match: str = typer.Argument(..., help="The match to dismiss: its id as the list shows it (#abcd1234) or a "
                                          "prefix of it."),
    as_json: bool = JSON,
) -> None:
    """Dismiss a seen-before match for this session: it never comes back for it (the owner only)."""

    async def go(ctx):
        from rfpilot.core.memory import seen_before
        from rfpilot.core.session.sessions import get_session

        return await seen_before.dismiss(ctx, await get_session(ctx, session), match)

    data = run(go)
    output.emit(data, as_json, lambda: f"dismissed {data['ref']} ({data['title']}) for this session")
