"""A session's token totals (core.session.usage): summed over the rows core.llm.usage records, on both stores,
read through a lightweight table that must name the usage model's own columns."""

from __future__ import annotations

from rfpilot.core.llm import usage
from rfpilot.core.llm.base import LLMResult, Provider, Usage
from rfpilot.core.session.usage import USAGE, session_totals
from rfpilot.core.session.sessions import create_session


def test_the_light_table_names_the_models_columns() -> None:
    from rfpilot.db.models import LLMUsage

    mapped = LLMUsage.__table__
    assert USAGE.name == mapped.name
    assert {c.name for c in USAGE.c} <= {c.name for c in mapped.c}


async def test_totals_sum_the_sessions_calls_only(ctx, session) -> None:
    provider = Provider()
    other = await create_session(ctx, "Another session")
    assert await session_totals(ctx, session) == {"calls": 0, "input_tokens": 0, "output_tokens": 0,
                                                  "cache_read_tokens": 0, "cache_write_tokens": 0}
    async with ctx.tx():
        usage.record(ctx, session, "chat", provider, LLMResult("a", "base", None, Usage(100, 20, 5, 7)))
        usage.record(ctx, session, "chat", provider, LLMResult("b", "base", None, Usage(30, 4, 0, 1)))
        usage.record(ctx, session, "chat", provider, None)  # a failed call: counted, no tokens
        usage.record(ctx, other, "chat", provider, LLMResult("c", "base", None, Usage(999, 999, 999, 999)))
    assert await session_totals(ctx, session) == {"calls": 3, "input_tokens": 130, "output_tokens": 24,
                                                  "cache_read_tokens": 5, "cache_write_tokens": 8}
