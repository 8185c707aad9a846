"""`branches list|fork|switch|mark|revive`: competing hypotheses of one session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.core.view_types import BranchMapView, BranchView, MarkedBranchMapView
    from rfpilot.db.models import SessionRow

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")
BRANCH_ARG = typer.Argument(..., help="Branch label or id prefix.")

branches_app = typer.Typer(help="Branching hypotheses: fork a session, switch, mark dead ends, revive.",
                           no_args_is_help=True)

GLYPH = {"active": "●", "untried": "○", "dead_end": "✗", "solved": "✓", "revived": "↺"}


def register(app: typer.Typer) -> None:
    app.add_typer(branches_app, name="branches")


def tree_lines(branches: list[BranchView]) -> list[str]:
    """The branch map as an indented tree (children under their parent, in creation order)."""
    children: dict[str | None, list[BranchView]] = {}
    for b in branches:
        children.setdefault(b["parent_branch_id"], []).append(b)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for b in children.get(parent, []):
            mark = "▶ " if b["active"] else "  "
            line = f"{mark}{'  ' * depth}{GLYPH.get(b['status'], '?')} {b['label']} [{b['status']}]  {b['id'][:8]}"
            if b["status_reason"]:
                line += f" — {b['status_reason']}"
            lines.append(line)
            walk(b["id"], depth + 1)

    walk(None, 0)
    return lines


async def _map(ctx: Ctx, row: SessionRow) -> BranchMapView:
    from rfpilot.core.session import branches

    return await branches.map_view(ctx, row)


def _out(data: BranchMapView, as_json: bool) -> None:
    output.emit(data, as_json, lambda: "\n".join(tree_lines(data["branches"])) or "no branches: the session has not forked")


@branches_app.command("list")
def branches_list(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """The branch map: ▶ marks the branch being worked on."""

    async def go(ctx: Ctx) -> BranchMapView:
        from rfpilot.core.session.sessions import get_session

        return await _map(ctx, await get_session(ctx, session))

    _out(run(go), as_json)


@branches_app.command("fork")
def branches_fork(
    session: str = SESSION_ARG,
    reason: str = typer.Option(..., "--reason", help="What the hypotheses disagree on."),
    options: list[str] = typer.Option(..., "--option", "-o", help="A hypothesis as 'Label: description' (2–4 times)."),
    as_json: bool = JSON,
) -> None:
    """Fork the branch being worked on into 2–4 hypotheses (the first fork also creates the root)."""
    parsed = []
    for item in options:
        label, _, description = item.partition(":")
        parsed.append((label.strip(), description.strip()))

    async def go(ctx: Ctx) -> BranchMapView:
        from rfpilot.core.session import branches
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        await branches.fork(ctx, row, reason, parsed)
        return await _map(ctx, row)

    _out(run(go), as_json)
    if not as_json:
        output.info("switch to one with `rfpilot branches switch SESSION LABEL`")


@branches_app.command("switch")
def branches_switch(session: str = SESSION_ARG, branch: str = BRANCH_ARG, as_json: bool = JSON) -> None:
    """Work on another branch: the chat continues from its history."""

    async def go(ctx: Ctx) -> BranchMapView:
        from rfpilot.core.session import branches
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        await branches.switch(ctx, row, await branches.get_branch(ctx, row, branch))
        return await _map(ctx, row)

    _out(run(go), as_json)


@branches_app.command("mark")
def branches_mark(
    session: str = SESSION_ARG,
    branch: str = BRANCH_ARG,
    status: str = typer.Argument(..., help="dead_end or solved."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why (required for a dead end)."),
    offline: bool = typer.Option(False, "--offline", help="Summarise without the model."),
    as_json: bool = JSON,
) -> None:
    """Mark a hypothesis dead_end or solved; its summary (tried, concluded) goes to the other branches."""

    async def go(ctx: Ctx) -> MarkedBranchMapView:
        from rfpilot.core.session import branches
        from rfpilot.core.llm import optional_provider
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        target = await branches.get_branch(ctx, row, branch)
        async with optional_provider(ctx.settings, offline=offline) as (provider, _):
            await branches.mark(ctx, row, target, status, reason, provider=provider)
        return {**await _map(ctx, row), "marked": branches.branch_view(target, row.active_branch_id)}

    data = run(go)
    _out(data, as_json)
    if not as_json:
        summary = data["marked"]["summary"]
        tried = "; ".join(summary["tried"] if summary else []) or "nothing recorded"
        output.info(f"summary ({summary['by'] if summary else None}): tried {tried}"
                    f" — {summary['concluded'] if summary else None}")


@branches_app.command("revive")
def branches_revive(
    session: str = SESSION_ARG,
    branch: str = BRANCH_ARG,
    evidence_from: str = typer.Option(..., "--from", help="The branch the new evidence comes from."),
    evidence: str = typer.Option(..., "--evidence", help="What was found that points back at this hypothesis."),
    as_json: bool = JSON,
) -> None:
    """Reopen a dead end with evidence from another branch."""

    async def go(ctx: Ctx) -> BranchMapView:
        from rfpilot.core.session import branches
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        target = await branches.get_branch(ctx, row, branch)
        source = await branches.get_branch(ctx, row, evidence_from)
        await branches.revive(ctx, row, target, source, evidence)
        return await _map(ctx, row)

    _out(run(go), as_json)
