"""A chat turn's request on long sessions: its size against the context budget, and what building it costs
(run by hand; docs/llm.md, "The context budget").

    python bench/context.py [--sizes 100,2000,20000] [--chars 270] [--database-url URL]

For each size, a session of that many messages (alternating engineer and assistant, ``--chars`` characters each;
~270 is what the issue measured on real sessions) is made in a scratch SQLite store (or ``--database-url``), then
three turns' requests are built with the scripted provider and no summary reply (so folds are offline): the
first may fold, the next two show the steady state. Prints characters and estimated tokens sent, the budget,
and seconds per build.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


async def one(size: int, chars: int, url: str | None, home: str) -> None:
    from fakes.bulk import fill  # tests/fakes: the same bulk insert the tests use
    from rfpilot.config import load_settings
    from rfpilot.core.engine import chat
    from rfpilot.core.context import Workspace
    from rfpilot.core.engine.context_budget import request_tokens
    from rfpilot.core.llm.scripted import ScriptedProvider, ScriptedReply
    from rfpilot.core.session.sessions import create_session

    env = {"RFPILOT_HOME": home, "RFPILOT_ACCOUNT": f"bench-{uuid.uuid4().hex[:8]}",
           "RFPILOT_USER_EMAIL": "bench@example.com", "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    if url:
        env["RFPILOT_DATABASE_URL"] = url
    ws = await Workspace.open(load_settings(env=env))
    provider = ScriptedProvider([ScriptedReply(reply="<analysis>")])
    try:
        async with ws.ctx() as ctx:
            session = await create_session(ctx, "The scanner cannot save to the share since the NAS update.")
            words = "the engineer pasted what the scan log said and the assistant weighed it against the share "
            await fill(ctx, session, messages=size, body=lambda i: (f"{i} " + words * (chars // len(words) + 1))[:chars])
            for turn in range(3):
                message = await chat.store_message(ctx, session, f"turn {turn}: what next?")
                began = time.perf_counter()
                request = await chat.build_request(ctx, session, message, provider)
                took = time.perf_counter() - began
                sent = len(request.system) + len(request.volatile) + len(request.message) + sum(
                    len(t.content) for t in request.history)
                budget = chat.context_budget.budget_for(ctx, provider, chat.CHAT_MAX_TOKENS)
                print(f"{size:>7,} messages, turn {turn + 1}: {sent:>10,} chars, {request_tokens(request):>9,} est. "
                      f"tokens (budget {budget:,}), {len(request.history):>5} history turns, build {took:6.3f} s")
                message.status = "complete"  # the next turn follows it (no reply is stored: builds only)
                await ctx.db.commit()
    finally:
        await ws.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,2000,20000")
    parser.add_argument("--chars", type=int, default=270)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as home:
            asyncio.run(one(size, args.chars, args.database_url, home))


if __name__ == "__main__":
    main()
