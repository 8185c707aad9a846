"""What the screens need from the app that hosts them, as a protocol (``rfpilot.tui.app.RfpilotApp`` is one).

The app imports the main screen (its default screen), so the screen names its host by this protocol rather than
by the app class: no import runs back up from a screen to the app.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Host(Protocol):
    """The store, the clock, the model and the clipboard, as the app hands them out."""

    has_psa: bool  # a PSA connection exists (known once the store is open)
    provider_label: str  # the model's name for the header ("…" until known)

    def ctx(self) -> AbstractAsyncContextManager[Any]:
        """One ``core.context.Ctx`` per operation (raises RfpilotError while the store is still opening)."""
        ...

    def now(self) -> Any:
        """The app's clock (the store's)."""
        ...

    def make_provider(self) -> Any:
        """A model provider for one operation; hand it back to ``release_provider``."""
        ...

    async def release_provider(self, provider: Any) -> None: ...

    def copy_text(self, value: str, what: str = "text") -> None: ...
