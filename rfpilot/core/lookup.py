"""Finding rows by a full id or a unique prefix, always scoped to the account."""

from __future__ import annotations

import re
from typing import TypeVar

from sqlalchemy import String, and_, false, select, type_coerce
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

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


_HEX = "0123456789abcdef"
_HYPHENS = (8, 13, 18, 23)  # where a canonical uuid's text has its hyphens


def id_prefix(column, prefix: str):
    """``column`` (an id: a lowercase canonical uuid as text) starts with ``prefix`` (lowercase), written as a
    range on it, ``id >= p AND id < p_next``, which its index serves (a LIKE cannot: SQLite's ignores case,
    Postgres's depends on the collation). Only hex digits and hyphens where a uuid has them can start an id, so
    any other prefix matches nothing, and then the range holds under any collation that orders 0-9 before a-f.
    """
    if not prefix or any((ch != "-") if i in _HYPHENS else (ch not in _HEX) for i, ch in enumerate(prefix)):
        return false()
    if prefix.endswith("-"):
        prefix = prefix[:-1]  # every id has its hyphens at the same places: "3f2ab1c9-" is "3f2ab1c9"
    text = type_coerce(column, String)
    if len(prefix) == 36:
        return text == prefix
    # The least string above every id with the prefix: the last digit short of f, plus one, the rest dropped.
    last = max((i for i, ch in enumerate(prefix) if ch not in "f-"), default=None)
    if last is None:
        return text >= prefix  # ffff…: nothing sorts after it
    return and_(text >= prefix, text < prefix[:last] + _HEX[_HEX.index(prefix[last]) + 1])


def no_index(column):
    """``+column``: for SQLite's planner a condition on it can use no index (SQLite's documented way to steer it)."""
    return UnaryExpression(column, operator=custom_op("+"))


def id_lookup(model, account_id: str, value: str, *filters, dialect: str = ""):
    """The statement behind ``find_one`` (``value`` already normalised): at most 3 rows of the account.

    On SQLite the account condition is written ``+account_id = ?``: it keeps SQLite's planner from walking an
    account_id index (which it prefers without statistics, reading the whole account) instead of the primary
    key's range."""
    account_col = no_index(model.account_id) if dialect == "sqlite" else model.account_id
    return select(model).where(account_col == account_id, id_prefix(model.id, value), *filters).limit(3)


async def find_one(ctx: Ctx, model: type[T], ref: str, what: str, *filters) -> T:
    """The row whose id is ``ref`` or starts with it, among rows matching ``filters``."""
    value = normalise_ref(ref, what)
    stmt = id_lookup(model, ctx.account.id, value, *filters, dialect=ctx.db.get_bind().dialect.name)
    rows = list((await ctx.db.execute(stmt)).scalars())
    if not rows:
        raise NotFoundError(f"no {what} matches {ref!r}")
    if len(rows) > 1:
        listed = ", ".join(str(r.id)[:12] for r in rows)
        raise UsageError(f"{ref!r} matches more than one {what} ({listed}…)", hint="type more of the id")
    return rows[0]
