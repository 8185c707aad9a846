"""PSA errors. All are ``PSAError`` (exit 4), so a script can tell a PSA problem from its own mistakes, except
two that are the user's to fix: a ticket the PSA does not have (``TicketNotFound``, exit 2, like any other
missing thing) and an address or ticket id that is malformed (``InsecureURLError`` / ``UsageError``, exit 1)."""

from __future__ import annotations

from rfpilot.errors import NotFoundError, PSAError, UsageError


class PSARequestError(PSAError):
    """The PSA refused the request for good (4xx, or a documented final 5xx). ``status_code`` is the HTTP status."""

    def __init__(self, message: str, *, status_code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code


class PSAUnavailableError(PSAError):
    """The PSA could not be reached, or kept failing, within the retry budget.

    ``ambiguous`` is True when a request that is not safe to repeat (posting a note or a time entry) may
    nonetheless have been applied: the caller must look for its effect before trying again.
    """

    def __init__(self, message: str, *, ambiguous: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.ambiguous = ambiguous


class PSAStatusNotFound(PSAError):
    """No status of that name on the ticket's board."""


class InsecureURLError(UsageError):
    """A PSA address that would carry credentials in clear: plain ``http://`` to a host that is not this machine,
    or a scheme other than http(s). Exit 1 (the address is the user's to fix), nothing is sent."""


class TicketNotFound(NotFoundError):
    """The PSA has no ticket with that id (or the credentials cannot see it). Exit 2, not 4: the PSA answered
    fine, the ticket is what is missing. ``provider`` is the PSA's display name, ``ticket_id`` the id asked for,
    ``hint`` the PSA's own (its ``HINTS["no_ticket"]``: who may lack access is named in that PSA's terms)."""

    def __init__(self, provider: str, ticket_id: str | int, *, hint: str) -> None:
        super().__init__(f"{provider} has no ticket {ticket_id}", hint=hint)
        self.provider = provider
        self.ticket_id = str(ticket_id)
