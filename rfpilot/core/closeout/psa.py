"""PSA connections: their settings in the store, their secrets in the keyring (or the environment).

A connection has a name (``main`` by default), a provider (connectwise, autotask, halo), non-secret settings
and target statuses by name. Its secrets are read, in order, from the environment variable
``RFPILOT_PSA_<NAME>_<FIELD>`` (e.g. ``RFPILOT_PSA_MAIN_PRIVATE_KEY``) and from the OS keyring (secret
``psa:<connection id>:<field>``); never from the database or a config file.

Target statuses: ``targets = {"resolve": {"": "Resolved", "Help Desk": "Resolved - Awaiting"}, "escalate": {...}}``
where ``""`` is the status for any board and a board name (case-insensitive) overrides it. No target means the
ticket's status is left alone and the result says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from rfpilot.core import secrets as secret_store
from rfpilot.core.context import Ctx
from rfpilot.core.session.permissions import team_action
from rfpilot.core.text import one_line
from rfpilot.core.view_types import PSAConnectionView
from rfpilot.db.models import OutboxItem, PSAConnection
from rfpilot.grammar import count, verb, with_article
from rfpilot.errors import ConfigError, ConflictError, NotFoundError, UsageError
from rfpilot.psa import PROVIDER_MODULES, provider_module
from rfpilot.psa.base import Field, PSAClient

DEFAULT_NAME = "main"
ACTIONS = ("resolve", "escalate")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

# Tests (and only tests) put an httpx transport here: provider -> transport. Nothing else reads it.
TRANSPORTS: dict[str, Any] = {}
# And a retry policy without real sleeping.
POLICY: Any = None


def check_name(name: str) -> str:
    value = (name or "").strip().lower()
    if not _NAME.match(value):
        raise UsageError(f"{name!r} is not a usable connection name",
                         hint="use 1–32 letters, digits, '-' or '_', starting with a letter or digit")
    return value


def env_var(name: str, field_name: str) -> str:
    """The environment variable that overrides secret ``field_name`` of connection ``name``."""
    return "RFPILOT_PSA_" + re.sub(r"[^A-Z0-9]", "_", f"{name}_{field_name}".upper())


def secret_name(connection_id: str, field_name: str) -> str:
    return f"psa:{connection_id}:{field_name}"


def fields(provider: str) -> list[Field]:
    return list(provider_module(provider).FIELDS)


def check_settings(provider: str, given: Mapping[str, Any]) -> None:
    """Refuse a setting ``provider`` does not take: another PSA's (named as such), or one no PSA has. A usage
    error (exit 1) before anything is asked, stored or sent."""
    from rfpilot.psa.fields import BY_PROVIDER, DISPLAY_NAMES, option, owners

    own = [f.name for f in BY_PROVIDER[provider] if not f.secret]
    known = owners()
    for name in given:
        if name in own:
            continue
        display = DISPLAY_NAMES[provider]
        hint = f"{display} takes: " + ", ".join(option(n) for n in own)
        if name in known:
            whose = " and ".join(DISPLAY_NAMES[p] for p in known[name])
            raise UsageError(f"{option(name)} is {with_article(whose)} setting; it does not apply to {display}", hint=hint)
        raise UsageError(f"{display} has no setting {option(name)}", hint=hint)


def display_name(provider: str) -> str:
    return provider_module(provider).DISPLAY_NAME


def check_transport(provider: str, settings: Mapping[str, Any]) -> None:
    """SPEC §16 on every address of a connection before any credential can go there: https://, or plain
    http:// to a loopback address only (the one rule is ``rfpilot.psa.http.check_url``; InsecureURLError)."""
    from rfpilot.psa.http import check_url

    module = provider_module(provider)
    for url in module.urls(settings):
        check_url(url, module.DISPLAY_NAME)


def ticket_ref(provider: str, ticket_id: str, number: str | None = None) -> str:
    return f"{provider_module(provider).REF_PREFIX} #{number or ticket_id}"


# --- reading connections ------------------------------------------------------------------


async def list_connections(ctx: Ctx) -> list[PSAConnection]:
    stmt = select(PSAConnection).where(PSAConnection.account_id == ctx.account.id).order_by(PSAConnection.name)
    return list((await ctx.db.execute(stmt)).scalars())


async def get_connection(ctx: Ctx, name: str | None = None) -> PSAConnection:
    """The connection called ``name``, or the default one (the only one, or the one marked default)."""
    rows = await list_connections(ctx)
    if not rows:
        raise NotFoundError("no PSA connection is set up",
                            hint="connect one with `rfpilot psa connect connectwise|autotask|halo`")
    if name:
        wanted = name.strip().lower()
        for row in rows:
            if row.name == wanted:
                return row
        raise NotFoundError(f"no PSA connection called {name!r}",
                            hint="connections: " + ", ".join(r.name for r in rows))
    defaults = [r for r in rows if r.is_default] or (rows if len(rows) == 1 else [])
    if len(defaults) != 1:
        raise UsageError("more than one PSA connection and none is the default",
                         hint="pass --connection NAME, or mark one with `rfpilot psa connect … --default`")
    return defaults[0]


async def connection_by_id(ctx: Ctx, connection_id: str) -> PSAConnection:
    row = await ctx.db.get(PSAConnection, connection_id)
    if row is None or row.account_id != ctx.account.id:
        raise NotFoundError("the PSA connection this session was linked to no longer exists",
                            hint="reconnect it with `rfpilot psa connect`, or resolve with --local")
    return row


# --- secrets ---------------------------------------------------------------------------------


@dataclass
class SecretSource:
    value: str | None
    source: str | None  # "env RFPILOT_PSA_MAIN_PRIVATE_KEY" | "keyring" | None
    problem: str | None = None

    def __repr__(self) -> str:  # never the value
        return f"SecretSource(value={'***' if self.value else None}, source={self.source!r})"


def read_secret(conn: PSAConnection, field_name: str, env: Mapping[str, str] | None = None) -> SecretSource:
    env = os.environ if env is None else env
    var = env_var(conn.name, field_name)
    if env.get(var, "").strip():
        return SecretSource(env[var].strip(), f"env {var}")
    found = secret_store.keyring_get(secret_name(conn.id, field_name))
    if found.value:
        return SecretSource(found.value, "keyring")
    return SecretSource(None, None, found.problem)


def connection_view(conn: PSAConnection) -> PSAConnectionView:
    """A connection for `psa list|targets --json`: its settings, target statuses, where each secret comes from."""
    secrets = {f.name: read_secret(conn, f.name).source or "missing" for f in fields(conn.provider) if f.secret}
    return {"name": conn.name, "provider": conn.provider, "default": conn.is_default, "settings": dict(conn.settings),
            "targets": dict(conn.targets or {}), "secrets": secrets}


def read_secrets(conn: PSAConnection, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every secret the provider needs; ConfigError naming the missing ones and where to put them."""
    values: dict[str, str] = {}
    missing: list[str] = []
    problem = None
    for f in fields(conn.provider):
        if not f.secret:
            continue
        got = read_secret(conn, f.name, env)
        if got.value:
            values[f.name] = got.value
        elif f.required:
            missing.append(f.name)
            problem = problem or got.problem
    if missing:
        names = ", ".join(env_var(conn.name, m) for m in missing)
        raise ConfigError(
            f"the {display_name(conn.provider)} connection {conn.name!r} has no {', '.join(missing)}"
            + (f" ({problem})" if problem else ""),
            hint=f"store them with `rfpilot psa connect {conn.provider} --name {conn.name}`, or set {names}",
        )
    return values


def keyring_help(name: str, provider: str) -> str:
    """What to do on a machine without a usable keyring (headless jump hosts)."""
    names = [env_var(name, f.name) for f in fields(provider) if f.secret]
    return (
        "rfpilot keeps PSA secrets only in the OS keyring or the environment, never in a file it writes. Either\n"
        f"  • export {', '.join(names)} (e.g. from your shell profile or a secrets manager) and run this again, or\n"
        "  • give this machine a keyring: run rfpilot inside `dbus-run-session` with gnome-keyring unlocked, or set\n"
        "    PYTHON_KEYRING_BACKEND to a backend you trust (see docs/psa.md)."
    )


# --- creating, changing, removing ---------------------------------------------------------------------


@dataclass
class ConnectResult:
    connection: PSAConnection
    stored_secrets: list[str] = field(default_factory=list)  # secrets written to the keyring
    env_secrets: list[str] = field(default_factory=list)  # secrets the environment provides
    member: str | None = None  # who the credentials act as, when tested


def clean_settings(provider: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's non-secret settings from ``given``, stripped; required ones must be there."""
    out: dict[str, Any] = {}
    for f in fields(provider):
        if f.secret:
            continue
        value = given.get(f.name)
        value = one_line(str(value)) if value is not None else ""
        if not value and f.default:
            value = f.default
        if value:
            out[f.name] = value
        elif f.required:
            raise UsageError(f"{display_name(provider)} needs {f.label}", hint=f"pass --{f.name.replace('_', '-')}")
    return out


def clean_targets(given: Mapping[str, Mapping[str, str | None]] | None, current: Mapping[str, Any] | None = None) -> dict:
    """Merge target statuses: {action: {board or "": status name or None (= remove)}}."""
    targets: dict[str, dict[str, str]] = {a: dict((current or {}).get(a) or {}) for a in ACTIONS}
    for action, boards in (given or {}).items():
        if action not in ACTIONS:
            raise UsageError(f"unknown action {action!r} for a target status", hint="use resolve or escalate")
        for board, status in boards.items():
            key = one_line(board or "")
            name = one_line(status or "")
            if len(name) > 100:
                raise UsageError("a status name is at most 100 characters")
            if name:
                targets[action][key] = name
            else:
                targets[action].pop(key, None)
    return {a: b for a, b in targets.items() if b}


def target_status(conn: PSAConnection, action: str, board: str | None) -> str | None:
    """The status name to move a ticket on ``board`` to when ``action`` happens, or None."""
    chosen = (conn.targets or {}).get(action) or {}
    if board:
        for key, status in chosen.items():
            if key and key.casefold() == board.casefold():
                return status
    return chosen.get("") or None


@team_action("configure the team's PSA connection")
async def connect(
    ctx: Ctx,
    provider: str,
    name: str,
    settings: Mapping[str, Any],
    secret_values: Mapping[str, str | None],
    *,
    targets: Mapping[str, Mapping[str, str | None]] | None = None,
    make_default: bool = False,
    test: Callable[[PSAConnection, dict[str, str]], Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> ConnectResult:
    """Create or update connection ``name``. Secrets go to the keyring before anything is stored.

    ``test`` (optional, async) is called with the connection and its secrets before it is saved: a refused
    credential stores nothing.
    """
    provider = (provider or "").strip().lower()
    if provider not in PROVIDER_MODULES:
        raise UsageError(f"unknown PSA {provider!r}", hint="use connectwise, autotask or halo")
    name = check_name(name)
    check_settings(provider, settings)
    existing = next((r for r in await list_connections(ctx) if r.name == name), None)
    if existing is not None and existing.provider != provider:
        raise ConflictError(f"the connection {name!r} is {with_article(display_name(existing.provider))} connection",
                            hint="choose another --name, or `rfpilot psa remove` it first")
    merged = dict(existing.settings) if existing else {}
    merged.update({k: v for k, v in settings.items() if v not in (None, "")})
    clean = clean_settings(provider, merged)
    check_transport(provider, clean)
    conn = existing or PSAConnection(account_id=ctx.account.id, name=name, provider=provider, settings={}, targets={})
    conn.settings = clean
    conn.targets = clean_targets(targets, existing.targets if existing else None)
    if conn.id is None:
        from rfpilot.db.types import new_id

        conn.id = new_id()

    # Which secrets come from where: given now -> keyring; else already in the env or the keyring.
    to_store: dict[str, str] = {}
    from_env: list[str] = []
    resolved: dict[str, str] = {}
    for f in fields(provider):
        if not f.secret:
            continue
        given = (secret_values.get(f.name) or "").strip()
        if given:
            to_store[f.name] = given
            resolved[f.name] = given
            continue
        found = read_secret(conn, f.name, env)
        if found.value:
            resolved[f.name] = found.value
            if found.source and found.source.startswith("env"):
                from_env.append(f.name)
        elif f.required:
            raise UsageError(f"{display_name(provider)} needs {f.label}",
                             hint=f"run `rfpilot psa connect {provider} --name {name}` in a terminal to be asked for "
                                  f"it, pipe name=value lines to its --secrets-stdin, or set {env_var(name, f.name)}")
    if to_store:
        status = secret_store.backend_status()
        if not status.usable:
            raise ConfigError(f"cannot store the {display_name(provider)} secrets: {status.problem}",
                              hint=keyring_help(name, provider))
    member = None
    if test is not None:
        member = await test(conn, resolved)
        clean = clean_settings(provider, conn.settings)  # a test may have discovered a codebase or zone
        conn.settings = clean
    for field_name, value in to_store.items():
        secret_store.keyring_set(secret_name(conn.id, field_name), value, hint=keyring_help(name, provider))
    async with ctx.tx():
        if make_default or not await list_connections(ctx):
            for row in await list_connections(ctx):
                row.is_default = row.id == conn.id
            conn.is_default = True
        if existing is None:
            ctx.db.add(conn)
    return ConnectResult(conn, sorted(to_store), sorted(from_env), member)


@team_action("configure the team's PSA connection")
async def set_targets(ctx: Ctx, conn: PSAConnection, targets: Mapping[str, Mapping[str, str | None]]) -> PSAConnection:
    async with ctx.tx():
        conn.targets = clean_targets(targets, conn.targets)
    return conn


@team_action("remove the team's PSA connection")
async def remove_connection(ctx: Ctx, conn: PSAConnection,
                            confirm: Callable[[str | None], None] | None = None) -> list[str]:
    """Delete the connection and its keyring secrets; refused while deliveries wait for it. ``confirm`` (raises
    to stop) is asked once every check has passed."""
    waiting = (await ctx.db.execute(
        select(func.count()).select_from(OutboxItem).where(
            OutboxItem.connection_id == conn.id, OutboxItem.state.in_(("pending", "failed")))
    )).scalar_one()
    if waiting:
        raise ConflictError(f"{count(waiting, 'outbox item')} still {verb(waiting, 'waits')} for the connection {conn.name!r}",
                            hint="deliver them (`rfpilot outbox sync`) or drop them (`rfpilot outbox drop ID`) first")
    if confirm is not None:
        confirm(None)
    linked = (await ctx.db.execute(
        select(func.count()).select_from(OutboxItem).where(OutboxItem.connection_id == conn.id))).scalar_one()
    removed: list[str] = []
    for f in fields(conn.provider):
        if f.secret:
            try:
                if secret_store.keyring_delete(secret_name(conn.id, f.name)):
                    removed.append(f.name)
            except ConfigError:
                pass  # no keyring here: nothing of ours can be in it
    async with ctx.tx():
        if linked:
            # Delivered history keeps pointing at the connection: keep the row, forget its settings.
            conn.settings = {}
            conn.targets = {}
            conn.is_default = False
            conn.name = f"removed-{conn.id[:8]}"
        else:
            await ctx.db.delete(conn)
    return removed


# --- clients ---------------------------------------------------------------------------------


def client_for(conn: PSAConnection, secret_values: Mapping[str, str] | None = None) -> PSAClient:
    """A client for ``conn`` (reads its secrets unless given). Use it as ``async with``."""
    check_transport(conn.provider, conn.settings)  # a connection edited by hand in the store is refused too
    values = dict(secret_values) if secret_values is not None else read_secrets(conn)
    kwargs: dict[str, Any] = {}
    if conn.provider in TRANSPORTS:
        kwargs["transport"] = TRANSPORTS[conn.provider]
    if POLICY is not None:
        kwargs["policy"] = POLICY
    return provider_module(conn.provider).build(dict(conn.settings), values, **kwargs)


def remember_discovered(conn: PSAConnection, client: PSAClient) -> bool:
    """Keep what a client discovered (ConnectWise codebase, Autotask zone) so the next run skips the lookup."""
    changed = False
    for key in ("codebase", "zone_url"):
        value = getattr(client, key, None)
        if value and conn.settings.get(key) != value:
            conn.settings = {**conn.settings, key: value}
            changed = True
    return changed
