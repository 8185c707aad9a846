"""What a connection of each PSA takes: its settings (stored) and secrets (keyring or environment).

Kept apart from the clients so that the CLI can offer every setting as a documented option of
`rfpilot psa connect` without importing httpx or a client (``--help`` stays light). Each client module exposes
its list as ``FIELDS``; ``owners`` says which PSA a setting belongs to, for the refusal of a setting given to
another PSA.
"""

from __future__ import annotations

from rfpilot.psa.base import Field

DISPLAY_NAMES: dict[str, str] = {"connectwise": "ConnectWise", "autotask": "Autotask", "halo": "HaloPSA"}

DEFAULT_OUTCOME_PUBLIC = "Note"
DEFAULT_OUTCOME_PRIVATE = "Private Note"

CONNECTWISE: list[Field] = [
    Field("site", "ConnectWise site (api-na.myconnectwise.net)"),
    Field("company_id", "ConnectWise company id (the one you log in with)"),
    Field("codebase", "Codebase, e.g. v2025_1 (blank: ask the site)", required=False),
    Field("member", "Your member identifier for 'my tickets' (blank: the API key's member)", required=False),
    Field("boards", "Boards for 'my tickets', comma-separated names or ids (blank: all)", required=False),
    Field("base_url", "API root override, e.g. http://127.0.0.1:8080/v2025_1/apis/3.0 for a local fake "
                      "(blank: https://<site>/<codebase>/apis/3.0)", required=False),
    Field("public_key", "API public key", secret=True),
    Field("private_key", "API private key", secret=True),
    Field("client_id", "clientId (from developer.connectwise.com)", secret=True),
]

AUTOTASK: list[Field] = [
    Field("username", "Autotask API user name (the API-only user's email)"),
    Field("zone_url", "Autotask zone URL (blank: looked up from the user name)", required=False),
    Field("resource_id", "Your Autotask resource id or user name, for 'my tickets' and time entries "
                         "(blank: the API user's own)", required=False),
    Field("queues", "Queue ids for 'my tickets', comma-separated (blank: every queue)", required=False),
    Field("note_type", "Ticket note type value or label (blank: the instance default)", required=False),
    Field("publish_public", "Note publish value or label for customer-visible notes "
                            "(blank: 'All Autotask Users')", required=False),
    Field("publish_internal", "Note publish value or label for internal notes (blank: 'Internal Only')",
          required=False),
    Field("secret", "Autotask API user secret", secret=True),
    Field("integration_code", "Autotask API tracking identifier (ApiIntegrationCode)", secret=True),
]

HALO: list[Field] = [
    Field("url", "HaloPSA URL (https://acme.halopsa.com)"),
    Field("tenant", "Tenant (hosted HaloPSA only; blank otherwise)", required=False),
    Field("agent_id", "Your Halo agent id for 'my tickets' (blank: the API application's agent)", required=False),
    Field("team", "Team ids or names to restrict 'my tickets' to, comma-separated (blank: all)", required=False),
    Field("outcome_public", "Action outcome for customer-visible notes", required=False,
          default=DEFAULT_OUTCOME_PUBLIC),
    Field("outcome_private", "Action outcome for internal notes and time", required=False,
          default=DEFAULT_OUTCOME_PRIVATE),
    Field("client_id", "API application client ID", secret=True),
    Field("client_secret", "API application client secret", secret=True),
]

BY_PROVIDER: dict[str, list[Field]] = {"connectwise": CONNECTWISE, "autotask": AUTOTASK, "halo": HALO}


def option(name: str) -> str:
    """The command-line option of a setting: ``--company-id`` for ``company_id``."""
    return "--" + name.replace("_", "-")


def owners() -> dict[str, list[str]]:
    """Every non-secret setting name -> the providers that take it (in PROVIDERS order)."""
    found: dict[str, list[str]] = {}
    for provider, fields in BY_PROVIDER.items():
        for f in fields:
            if not f.secret:
                found.setdefault(f.name, []).append(provider)
    return found


def option_help(name: str) -> str:
    """``psa connect --help`` text of a setting: which PSA it is for, whether it is required, what it is."""
    parts = []
    for provider in owners()[name]:
        f = next(f for f in BY_PROVIDER[provider] if f.name == name)
        display = DISPLAY_NAMES[provider]
        label = f.label.removeprefix(display + " ")
        label = label[:1].upper() + label[1:]
        default = f" (default: {f.default})" if f.default else ""
        parts.append(f"{display} only{', required' if f.required else ''}: {label}{default}.")
    return " ".join(parts)
