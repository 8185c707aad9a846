"""Finding rows by a full id or a unique prefix, always scoped to the account."""

from __future__ import annotations

import re
from typing import TypeVar

from sqlalchemy import String, select, type_coerce

from rfpilot.core.context import Ctx
from rfpilot.errors import NotFoundError, UsageError

T = TypeVar("T")

MIN_PREFIX = 4
_REF = re.compile(r"^[0-9a-f]{4,8}(-[0-9a-f]{0,4}){0,3}(-[0-9a-f]{0,12})?$")


def normalise_ref(ref: str, what: str) -> str:
    value = (ref or "").strip().lower()
    if not value:
        raise UsageError(f"no {what} id given")
    if len(value) < MIN_PREFIX or len(value) > 36 or not _REF.match(value):
        raise UsageError(
            f"{ref!r} is not a valid {what} id",
            hint=f"give the full id or its first {MIN_PREFIX}+ characters, as listed",
        )
    return value


async def find_one(ctx: Ctx, model: type[T], ref: str, what: str, *filters) -> T:
    """The row whose id is ``ref`` or starts with it, among rows matching ``filters``."""
    value = normalise_ref(ref, what)
    column = model.id  # type: ignore[attr-defined]
    account_col = model.account_id  # type: ignore[attr-defined]
    cond = column == value if len(value) == 36 else type_coerce(column, String).like(value + "%")
    stmt = select(model).where(account_col == ctx.account.id, cond, *filters).limit(3)
    rows = list((await ctx.db.execute(stmt)).scalars())
    if not rows:
        raise NotFoundError(f"no {what} matches {ref!r}")
    if len(rows) > 1:
        listed = ", ".join(str(r.id)[:12] for r in rows)  # type: ignore[attr-defined]
        raise UsageError(f"{ref!r} matches more than one {what} ({listed}…)", hint="type more of the id")
    return rows[0]
