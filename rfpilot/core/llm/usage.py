"""Token accounting: one row per model call (SPEC §12); a session's totals are read by core.session.usage.

The usage table is mapped when a call is recorded, not when this module is imported: an offline draft (`resolve`,
`preview` without a model) imports it and records nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rfpilot.core.context import Ctx
from rfpilot.core.llm.base import ACTION_TIERS, LLMResult, Provider, Usage
from rfpilot.db import models

if TYPE_CHECKING:
    from rfpilot.db.models import LLMUsage, SessionRow


def record(
    ctx: Ctx,
    session: SessionRow | None,
    action: str,
    provider: Provider,
    result: LLMResult | None,
    *,
    message_id: str | None = None,
) -> LLMUsage:
    """Add a usage row in the caller's transaction; ``result`` None records a failed call."""
    usage = result.usage if result is not None else Usage()
    row = models.LLMUsage(
        account_id=ctx.account.id,
        session_id=session.id if session is not None else None,
        message_id=message_id,
        action=ACTION_TIERS.get(action, action),
        provider=provider.name,
        model=(result.model if result is not None else None) or provider.model_for(action),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        ok=result is not None,
        created_at=ctx.now(),
    )
    ctx.db.add(row)
    return row
