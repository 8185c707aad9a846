"""PSA clients: ConnectWise Manage, Autotask and HaloPSA behind one async interface (``base.PSAClient``).

Each provider module exposes:

* ``DISPLAY_NAME`` ("ConnectWise"), ``REF_PREFIX`` ("CW", used in ticket chips such as "CW #48307");
* ``FIELDS``: the settings and secrets a connection needs (``base.Field``);
* ``build(settings, secrets, *, transport=None, policy=None) -> PSAClient``;
* ``parse_ticket_id(text) -> str``: the ticket id in the form the PSA accepts, or ``UsageError`` (exit 1), checked
  before any request is made.

Modules are imported on first use: httpx and the clients cost nothing until a PSA is touched.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from rfpilot.errors import UsageError

PROVIDER_MODULES = {
    "connectwise": "rfpilot.psa.connectwise",
    "autotask": "rfpilot.psa.autotask",
    "halo": "rfpilot.psa.halo",
}


def provider_module(provider: str) -> ModuleType:
    name = PROVIDER_MODULES.get((provider or "").strip().lower())
    if name is None:
        raise UsageError(f"unknown PSA {provider!r}", hint="use connectwise, autotask or halo")
    return importlib.import_module(name)


def build_client(provider: str, settings: dict[str, Any], secrets: dict[str, str], **kwargs: Any):
    """A client for ``provider`` (``transport``/``policy`` keyword arguments are for tests)."""
    return provider_module(provider).build(settings, secrets, **kwargs)


def parse_ticket_id(provider: str, ticket_id: str) -> str:
    """``ticket_id`` checked against the forms ``provider`` accepts, without a request (UsageError if malformed)."""
    return provider_module(provider).parse_ticket_id(ticket_id)
