"""Errors every layer shares, each with the CLI exit code it maps to.

The exit codes are a documented contract for scripts (docs/cli.md):
0 ok, 1 usage, 2 not found, 3 conflict or invalid transition, 4 PSA error or
verification failure, 5 LLM unavailable, 6 queued for later delivery.
"""

from __future__ import annotations


class RfpilotError(Exception):
    """A problem the user can act on. ``str(err)`` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(RfpilotError):
    """Malformed input: a bad id, an empty text, an unknown choice."""

    exit_code = 1


class NotFoundError(RfpilotError):
    exit_code = 2


class ConflictError(RfpilotError):
    """The request is well formed but the current state refuses it."""

    exit_code = 3


class PSAError(RfpilotError):
    exit_code = 4


class LLMUnavailableError(RfpilotError):
    exit_code = 5


class QueuedError(RfpilotError):
    """Not a failure of the user's: the write waits in the outbox."""

    exit_code = 6


class ConfigError(RfpilotError):
    exit_code = 1


class StoreError(RfpilotError):
    """The database cannot be opened or migrated."""

    exit_code = 1
