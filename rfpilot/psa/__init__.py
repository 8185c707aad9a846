"""PSA clients: ConnectWise Manage, Autotask and HaloPSA behind one async interface (``base.PSAClient``).

Each provider module exposes:

* ``DISPLAY_NAME`` ("ConnectWise"), ``REF_PREFIX`` ("CW", used in ticket chips such as "CW #48307");
* ``FIELDS``: the settings and secrets a connection needs (``base.Field``);
* ``build(settings, secrets, *, transport=None, policy=None) -> PSAClient``.

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
