"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, String, TypeDecorator


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Id(TypeDecorator[str]):
    """A UUID kept as its canonical 36-character text on every backend.

    Text (rather than Postgres' native uuid) keeps prefix lookups
    (``rfpilot sessions show 3f2a``) a range on the primary key on both stores (``core.lookup.id_prefix``).
    """

    impl = String(36)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return str(uuid.UUID(str(value)))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; SQLite gets naive UTC, Postgres timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonDoc(TypeDecorator[object]):
    """JSON on SQLite, JSONB on Postgres.

    The Postgres dialect module is imported only when Postgres is in use: a
    SQLite user's every command would otherwise pay ~20 ms for it.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())
