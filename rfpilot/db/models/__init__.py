"""SQLAlchemy 2 models. Every domain table carries ``account_id`` (tenancy).

Schema changes go through Alembic (``rfpilot/db/migrations``); a test checks that the migrations produce exactly
these tables (``load_all()``).

One submodule per concern, each loaded the first time one of its names is used (``from rfpilot.db.models import
Fact`` loads ``lane``): mapping a class costs SQLAlchemy ~3 ms, and a command that touches four tables (`rfpilot
search`) should not map all 22. A submodule imports the submodules of the tables its foreign keys name, so the
metadata always holds what a loaded table refers to. Whatever needs every table (Alembic's comparison, a test
walking the schema) calls ``load_all()``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rfpilot.db.models._base import (
    LIST_FILTER_TABLE,
    LIST_FILTER_TABLES,
    MEMORY_INDEX_TABLES,
    NAMING,
    SLUG_MAX,
    TRIGRAM_INDEXES,
    Base,
    include_in_autogenerate,
    one_of,
)

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from rfpilot.db.models.identity import Account, Engineer
    from rfpilot.db.models.sessions import SessionRow
    from rfpilot.db.models.conversation import ForkPoint, Message, SessionBranch
    from rfpilot.db.models.lane import Fact, LaneItem
    from rfpilot.db.models.fixes import SuggestedFix
    from rfpilot.db.models.settings import AccountSettings, PreviewCache
    from rfpilot.db.models.usage import LLMUsage
    from rfpilot.db.models.psa import OutboxItem, PSAConnection
    from rfpilot.db.models.library import DraftTemplate, ScriptRun, ScriptTemplate
    from rfpilot.db.models.team import SessionHandoff
    from rfpilot.db.models.outputs import ResolutionOutput
    from rfpilot.db.models.summaries import ContextSummary
    from rfpilot.db.models.memory import SeenBeforeMatch, SeenBeforeRun

# Each mapped class and the submodule that defines it.
WHERE: dict[str, str] = {
    "Account": "identity",
    "Engineer": "identity",
    "SessionRow": "sessions",
    "Message": "conversation",
    "ForkPoint": "conversation",
    "SessionBranch": "conversation",
    "LaneItem": "lane",
    "Fact": "lane",
    "SuggestedFix": "fixes",
    "DraftTemplate": "library",
    "AccountSettings": "settings",
    "PreviewCache": "settings",
    "LLMUsage": "usage",
    "PSAConnection": "psa",
    "OutboxItem": "psa",
    "ScriptTemplate": "library",
    "ScriptRun": "library",
    "SessionHandoff": "team",
    "ResolutionOutput": "outputs",
    "ContextSummary": "summaries",
    "SeenBeforeRun": "memory",
    "SeenBeforeMatch": "memory",
}
SUBMODULES = tuple(dict.fromkeys(WHERE.values()))

__all__ = ["LIST_FILTER_TABLE", "LIST_FILTER_TABLES", "MEMORY_INDEX_TABLES", "NAMING", "SLUG_MAX", "TRIGRAM_INDEXES",
           "Base", "include_in_autogenerate", "load_all", "one_of", *WHERE]


def __getattr__(name: str) -> Any:
    """A mapped class, its submodule loaded on first use (then kept in this module's namespace)."""
    module = WHERE.get(name)
    if module is None:  # a submodule asked for by name (`from rfpilot.db.models import lane`) is imported by Python
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(WHERE))


def load_all() -> MetaData:
    """Every table mapped: ``Base.metadata`` whole (Alembic's env, the schema tests)."""
    for module in SUBMODULES:
        importlib.import_module(f"{__name__}.{module}")
    return Base.metadata
