"""What every model module shares: the declarative base with its naming convention, the column helpers, and the
names of the store objects that are no model's (rfpilot.db.models says how the models are split).

No `from __future__ import annotations` in the model modules: SQLAlchemy would evaluate each of the ~270
`Mapped[...]` strings again (eval + a ForwardRef each), ~20 % of their import; the annotations are plain 3.11
expressions.
"""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rfpilot.db.types import Id, UTCDateTime, new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A script template's slug, wherever one is stored (the library and a fix that names it): Postgres refuses a longer
# one mid-transaction, so the services check it first (core.library.templates, core.session.fixes).
SLUG_MAX = 200


# Postgres only, and only where the pg_trgm extension could be created (migration 0007): substring filters of
# the session list (ILIKE '%…%') are served by these. Not in the models: SQLite has no such index, and a store
# whose role may not create the extension works without them.
TRIGRAM_INDEXES = {
    "ix_sessions_title_trgm": ("sessions", "title"),
    "ix_sessions_client_name_trgm": ("sessions", "client_name"),
    "ix_sessions_ticket_ref_trgm": ("sessions", "ticket_ref"),
}


# SQLite only (migration 0010): the list filter's FTS5 table (with the shadow tables FTS5 keeps beside it,
# named after it) and the triggers that fill it. Not in the models: a virtual table is no model's table.
LIST_FILTER_TABLE = "session_list_filter"
LIST_FILTER_TABLES = (LIST_FILTER_TABLE,
                      *(f"{LIST_FILTER_TABLE}_{shadow}" for shadow in ("config", "content", "data", "docsize", "idx")))


# Both stores (migration 0011, ``rfpilot.db.memory_index``): the team memory's search index, an FTS5 table on
# SQLite (with its shadow tables) and a plain table with a tsvector on Postgres. Not in the models either: it is
# written by triggers only, and read with SQL of each store's own.
MEMORY_INDEX_TABLES = ("memory_index",
                       *(f"memory_index_{shadow}" for shadow in ("config", "content", "data", "docsize", "idx")))


def include_in_autogenerate(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's comparison of the models with a store leaves the optional trigram indexes, SQLite's list
    filter table and the search index alone."""
    if type_ == "table" and (name in LIST_FILTER_TABLES or name in MEMORY_INDEX_TABLES):
        return False
    if type_ == "index" and name and name.startswith("ix_memory_index_"):
        return False
    return not (type_ == "index" and name in TRIGRAM_INDEXES)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def one_of(column: str, values: tuple[str, ...], name: str, nullable: bool = False) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    expr = f"{column} IN ({listed})"
    if nullable:
        expr = f"{column} IS NULL OR {expr}"
    return CheckConstraint(expr, name=name)


def _id_pk() -> Mapped[str]:
    return mapped_column(Id, primary_key=True, default=new_id)


def _account_fk() -> Mapped[str]:
    return mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True)


def _session_fk() -> Mapped[str]:
    return mapped_column(Id, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow)


