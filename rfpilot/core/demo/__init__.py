"""`rfpilot demo`: a sample session played through the real chat engine.

No key and no network: the replies come from the bundled scripted file, and
every step goes through the same services the TUI and the CLI use (chat
turns, lane answers, applying the fix), so the result is a real session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import select

from rfpilot.core.engine import chat
from rfpilot.core.session import fixes as fix_service
from rfpilot.core.session import lane as lane_service
from rfpilot.core.context import Ctx
from rfpilot.core.llm.scripted import ScriptedProvider, load_replies
from rfpilot.core.session.sessions import OPEN_STATUSES, create_session
from rfpilot.core.text import one_line
from rfpilot.db.models import SessionRow
from rfpilot.errors import ConfigError
from rfpilot.grammar import count, with_article

DEMO_FILE = "scan_to_folder.yaml"


@dataclass
class DemoScript:
    title: str
    client: str | None
    intake: str
    steps: list[dict[str, Any]]
    provider: ScriptedProvider


def demo_text() -> str:
    return resources.files(__package__).joinpath(DEMO_FILE).read_text(encoding="utf-8")


def load_demo() -> DemoScript:
    import yaml

    text = demo_text()
    spec = (yaml.safe_load(text) or {}).get("demo")
    if not isinstance(spec, dict) or not spec.get("steps"):
        raise ConfigError(f"the bundled demo ({DEMO_FILE}) has no steps")
    replies, delay = load_replies(text, DEMO_FILE)
    return DemoScript(
        title=str(spec["title"]),
        client=spec.get("client"),
        intake=str(spec["intake"]).strip(),
        steps=list(spec["steps"]),
        provider=ScriptedProvider(replies, chunk_delay=delay, source=f"bundled {DEMO_FILE}"),
    )


async def run_demo(ctx: Ctx, *, progress: Callable[[str], None] | None = None) -> SessionRow:
    """Create the sample session and play every step of the demo into it."""
    script = load_demo()
    say = progress or (lambda _line: None)
    session = await create_session(ctx, script.intake, title=script.title, client=script.client)
    say(f"created session {session.id[:8]}: {script.title}")
    for step in script.steps:
        if step.get("apply_fix"):
            fix = await fix_service.active_fix(ctx, session)
            if fix is None:
                raise ConfigError("the demo applies a fix before one was suggested")
            await fix_service.apply_fix(ctx, session, fix)
            say(f"engineer applied the fix: {fix.title}")
            continue
        item = None
        for key, kind in (("answer", "question"), ("ran", "check")):
            if key in step:
                items = await lane_service.list_items(ctx, session)
                item = next((i for i in items if i.kind == kind and i.text == step[key]), None)
                if item is None:
                    raise ConfigError(f"the demo answers {with_article(kind)} the lane does not have: {step[key]!r}")
        result = await chat.send(ctx, session, str(step["say"]).strip(), script.provider, lane_item=item)
        added = []
        if result.questions or result.checks:
            added.append(f"{count(len(result.questions), 'question')}, {count(len(result.checks), 'check')}")
        if result.promoted:
            added.append(f"{count(len(result.promoted), 'fact')} promoted")
        if result.suggested_fix:
            added.append(f"fix suggested ({result.suggested_fix.confidence_pct}%)")
        if result.outcome_proposal:
            added.append(f"the AI thinks the fix {result.outcome_proposal['outcome'].replace('success', 'worked')}")
        say(f"turn {result.reply.seq // 2 + 1}: " + ("; ".join(added) or "reply"))
    return session


async def find_demo_session(ctx: Ctx) -> SessionRow | None:
    """Your newest sample session that is still open (active, paused or escalated), if there is one.

    A sample session is known by the demo's problem text and client, which `run_demo` writes and nothing else
    does; renaming it keeps it found, resolving or abandoning it lets the next `demo --open` make a fresh one.
    """
    script = load_demo()
    stmt = (
        select(SessionRow)
        .where(
            SessionRow.account_id == ctx.account.id,
            SessionRow.owner_id == ctx.engineer.id,
            SessionRow.status.in_(OPEN_STATUSES),
            SessionRow.intake_text == script.intake,
            SessionRow.client_name == (one_line(script.client) if script.client else None),
        )
        .order_by(SessionRow.created_at.desc(), SessionRow.id)
        .limit(1)
    )
    return (await ctx.db.execute(stmt)).scalars().first()


async def ensure_demo(ctx: Ctx, *, progress: Callable[[str], None] | None = None) -> tuple[SessionRow, bool]:
    """The sample session to open: the open one made before, else a new one. Returns it and whether it is new.

    Running `rfpilot demo --open` again therefore never piles up copies of the sample.
    """
    existing = await find_demo_session(ctx)
    if existing is not None:
        return existing, False
    return await run_demo(ctx, progress=progress), True
