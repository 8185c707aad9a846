"""`park`, `queue list|claim` and `handoffs`: handing a session to the team, and picking one up.

`rfpilot escalate SESSION --handoff` (the escalation into the queue) is ``escalate_handoff_command`` below;
the `escalate` command itself lives in rfpilot.cli.closing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import run

if TYPE_CHECKING:
    from datetime import datetime

    from rfpilot.core.context import Ctx
    from rfpilot.core.view_types import ClaimView, HandoffAssessment, HandoffView, QueueItemView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SESSION_ARG = typer.Argument(..., help="Session id or unique prefix.")

queue_app = typer.Typer(help="The team queue: parked and escalated sessions waiting for someone to claim them.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("park")(park)
    app.add_typer(queue_app, name="queue")
    app.command("handoffs")(handoffs)


def _said(item: QueueItemView | HandoffView) -> str:
    return item.get("waiting_on") or item.get("notes") or ""


def _assessment_lines(assessment: HandoffAssessment | None) -> list[str]:
    if not assessment:
        return []
    by = "model" if assessment.get("by") == "llm" else "offline"
    lines = [f"Likely cause ({assessment.get('confidence', 'low')} confidence, {by}): {assessment.get('likely_cause')}"]
    steps = assessment.get("suggested_steps") or []
    if steps:
        lines += ["Suggested steps:"] + [f"- {step}" for step in steps]
    return lines


def park(
    session: str = SESSION_ARG,
    waiting_on: str = typer.Option(..., "--waiting-on", help="What the session waits for (required), "
                                   "e.g. the client's logs or a vendor's answer."),
    as_json: bool = JSON,
) -> None:
    """Park a session: it pauses and waits in the team queue until someone claims it (or you resume it).

    Prints the handoff's id. The snapshot (problem, branch map, next step, what was ruled out) goes with it.
    """

    async def go(ctx: Ctx) -> HandoffView:
        from rfpilot.core.team import handoffs as svc
        from rfpilot.core.session.sessions import get_session

        handoff = await svc.park(ctx, await get_session(ctx, session), waiting_on)
        return svc.handoff_view(handoff, await svc.names_for(ctx, [handoff]))

    view = run(go)
    output.emit(view, as_json, lambda: view["id"])
    if not as_json:
        output.info(f"parked session {view['session_id'][:8]}: waiting on {view['waiting_on']}")
        output.info(f"it waits in the team queue; a colleague takes it with `rfpilot queue claim {view['id'][:8]}`, "
                    f"you take it back with `rfpilot sessions resume {view['session_id'][:8]}`")


def escalate_handoff_command(
    session: str, notes: str | None, elevated: bool, as_json: bool, offline: bool = False
) -> None:
    """`rfpilot escalate SESSION --handoff [--notes …] [--elevated]`: into the queue with an AI assessment.

    Nothing is posted to the PSA here: the escalation package is `rfpilot escalate` without --handoff.
    """

    async def go(ctx: Ctx) -> tuple[HandoffView, str | None]:
        from rfpilot.core.team import handoffs as svc
        from rfpilot.core.llm import optional_provider
        from rfpilot.core.session.sessions import get_session

        row = await get_session(ctx, session)
        async with optional_provider(ctx.settings, offline=offline) as (provider, problem):
            handoff = await svc.escalate(ctx, row, notes, elevated=elevated, provider=provider)
        return svc.handoff_view(handoff, await svc.names_for(ctx, [handoff])), problem

    view, problem = run(go)
    output.emit(view, as_json, lambda: "\n".join(_assessment_lines(view["assessment"])))
    if not as_json:
        if problem and view["assessment"] is not None and view["assessment"].get("by") == "offline":
            output.info(problem)
        priority = " with elevated priority" if view["priority"] == "elevated" else ""
        output.info(f"escalated session {view['session_id'][:8]}: it waits in the team queue{priority} as handoff "
                    f"{view['id'][:8]} (`rfpilot queue claim {view['id'][:8]}`)")


@queue_app.command("list")
def queue_list(as_json: bool = JSON) -> None:
    """Handoffs waiting for someone: elevated first, then oldest first."""

    async def go(ctx: Ctx) -> tuple[list[QueueItemView], datetime]:
        from rfpilot.core.team import handoffs as svc

        return await svc.queue(ctx), ctx.now()

    items, now = run(go)

    def human() -> str:
        from rfpilot.core.text import age

        if not items:
            return "the queue is empty: nothing waits to be claimed"
        rows = [[i["handoff_id"][:8], i["intent"], i["priority"], age(i["created_at"], now), i["handed_off_by_name"],
                 i["ticket_ref"] or "-", i["branch_count"], i["session_title"] or "(untitled)", _said(i)]
                for i in items]
        return output.table(["handoff", "intent", "priority", "age", "by", "ticket", "branches", "session",
                             "waiting on / notes"], rows, max_last=60)

    payload = [{**i, "created_at": i["created_at"].isoformat()} for i in items]
    output.emit(payload, as_json, human)


@queue_app.command("claim")
def queue_claim(
    handoff: str = typer.Argument(..., help="Handoff id or unique prefix (from `rfpilot queue list`)."),
    offline: bool = typer.Option(False, "--offline", help="Write the briefing without a model call."),
    as_json: bool = JSON,
) -> None:
    """Claim a waiting session: it becomes yours and active again, and prints a briefing.

    When two engineers claim at once exactly one wins; the other gets exit 3 naming who claimed it.
    """

    async def go(ctx: Ctx) -> ClaimView:
        from rfpilot.core.team import handoffs as svc
        from rfpilot.core.llm import optional_provider

        async with optional_provider(ctx.settings, offline=offline) as (provider, _problem):
            result = await svc.claim(ctx, handoff, provider=provider)
        return svc.claim_view(result, await svc.names_for(ctx, [result.handoff]))

    view = run(go)
    output.emit(view, as_json, lambda: view["briefing"])
    if not as_json:
        output.info(f"claimed session {view['session_id'][:8]} from {view['handed_off_by_name']}: it is yours and "
                    f"active now ({'model' if view['briefing_by'] == 'llm' else 'offline'} briefing)")


def handoffs(session: str = SESSION_ARG, as_json: bool = JSON) -> None:
    """A session's handoffs, newest first: who parked or escalated it, why, and who claimed it."""

    async def go(ctx: Ctx) -> list[HandoffView]:
        from rfpilot.core.team import handoffs as svc
        from rfpilot.core.session.sessions import get_session

        return await svc.history_views(ctx, await get_session(ctx, session))

    views = run(go)

    def human() -> str:
        if not views:
            return "no handoffs: this session was never parked or escalated"
        rows = []
        for v in views:
            state = v["state"]
            if state == "claimed":
                state = f"claimed by {v['claimed_by_name'] or (v['claimed_by'] or '')[:8]}"
            rows.append([v["id"][:8], (v["created_at"] or "")[:16].replace("T", " "), v["intent"], v["priority"],
                         v["handed_off_by_name"] or v["handed_off_by"][:8], state, _said(v)])
        return output.table(["handoff", "when (UTC)", "intent", "priority", "by", "state", "waiting on / notes"],
                            rows, max_last=60)

    output.emit(views, as_json, human)
