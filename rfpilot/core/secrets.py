"""Secrets: environment variables first, then the OS keyring. Never files.

A secret lives in an environment variable or in the OS keyring (service
``rfpilot``, username = the secret's name), never in the database, config
files, logs or test fixtures, and there is no plaintext-file fallback: where
no keyring backend is usable, rfpilot says so and names the environment
variable to use instead.

"Usable" follows Poetry's test (reference psa-llm.md §5): the fail and null
backends are not; a plaintext-file backend (keyrings.alt) is refused; the
chainer is usable only if it chains a real backend. A D-Bus backend
(SecretService, libsecret, KWallet) is skipped when there is no D-Bus session
(DBUS_SESSION_BUS_ADDRESS unset, typical over SSH) unless PYTHON_KEYRING_BACKEND
picks a backend explicitly, so a locked collection can never hang the CLI on
an unlock prompt. Every keyring call is guarded by
``except (keyring.errors.KeyringError, RuntimeError)``.

Two layers:

* ``keyring_get`` / ``keyring_set`` / ``keyring_delete`` work on any secret
  name (PSA credentials will use names like ``psa:<connection-id>:private_key``,
  which have no environment variable);
* ``lookup`` / ``store`` / ``delete`` / ``status_all`` serve the fixed table
  ``KEYS`` of API keys, each with its environment variable.

``keyring`` is imported inside the functions: `rfpilot --help` never loads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rfpilot.errors import ConfigError, UsageError

SERVICE = "rfpilot"

# key name -> environment variable that overrides the keyring.
KEYS: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "RFPILOT_OPENAI_API_KEY",
    "database": "PGPASSWORD",  # the Postgres password when database.url has none (never in config.toml)
}

_DBUS_BACKENDS = ("secretservice", "libsecret", "kwallet")
_DOCS = "see docs/configuration.md"


@dataclass(frozen=True)
class KeyLookup:
    value: str | None
    source: str | None  # "env ANTHROPIC_API_KEY" | "keyring (<backend name>)" | None
    problem: str | None = None  # why the keyring could not be read, if so

    def __repr__(self) -> str:  # never show the value, even in a traceback
        shown = "None" if self.value is None else "'***'"
        return f"KeyLookup(value={shown}, source={self.source!r}, problem={self.problem!r})"


@dataclass(frozen=True)
class BackendStatus:
    usable: bool
    name: str  # class path of the backend, e.g. keyring.backends.SecretService.Keyring
    reason: str | None = None  # why it is not usable

    @property
    def problem(self) -> str:
        """One clause for messages: why keys cannot come from the keyring here."""
        return f"no usable keyring on this machine ({self.name}: {self.reason})"


# --- the backend ------------------------------------------------------------


def _class_path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _kind(backend: object) -> str:
    """fail | null | plaintext | chainer | dbus | other, from the backend's class."""
    path = _class_path(backend)
    module = type(backend).__module__
    lowered = path.lower()
    try:
        cls: Any = type(backend)  # a keyring backend class names itself (``name``); anything else fails here
        display = str(cls.name).lower()  # Poetry's test: "fail Keyring", "null Keyring"
    except Exception:
        display = ""
    if module == "keyring.backends.fail" or display.startswith("fail"):
        return "fail"
    if module == "keyring.backends.null" or display.startswith("null"):
        return "null"
    if "plaintext" in lowered or module.startswith("keyrings.alt.file"):
        return "plaintext"
    if "chainer" in lowered:
        return "chainer"
    if any(word in lowered for word in _DBUS_BACKENDS):
        return "dbus"
    return "other"


def _no_dbus_session() -> bool:
    return not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not os.environ.get("PYTHON_KEYRING_BACKEND")


# Why a backend of these kinds is not usable (``_judge``, and ``backend_status`` without importing keyring).
_OFF = {"fail": "no OS keyring service was found", "null": "the keyring is disabled (null backend)"}


def _judge(backend: object) -> str | None:
    """Why ``backend`` is not usable, or None when it is."""
    kind = _kind(backend)
    if kind in _OFF:
        return _OFF[kind]
    if kind == "plaintext":
        return "a plaintext-file backend, which rfpilot refuses: keys never go in files"
    if kind == "dbus" and _no_dbus_session():
        return "no D-Bus session (DBUS_SESSION_BUS_ADDRESS is unset, e.g. over SSH); set PYTHON_KEYRING_BACKEND to use it anyway"
    return None


def _chained(backend: object) -> list[object]:
    try:
        return list(type(backend).backends)  # type: ignore[attr-defined]
    except Exception:
        return []


def _keyring_configured() -> bool:
    """A keyringrc.cfg exists (where keyring looks for one on Linux)."""
    root = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.exists(os.path.join(root, "python_keyring", "keyringrc.cfg"))


def _surely_unusable() -> bool:
    """Linux with no D-Bus session and nothing configured: no keyring rfpilot accepts can work.

    Decided without importing keyring (~0.1 s with backend discovery), which
    matters for commands such as `resolve --yes` on a headless host. When
    keyring is already imported (a caller chose a backend), it is asked.
    """
    return (
        sys.platform.startswith("linux")
        and "keyring" not in sys.modules
        and _no_dbus_session()
        and not _keyring_configured()
    )


# PYTHON_KEYRING_BACKEND naming one of these turns the keyring off: known without importing keyring (its import and
# backend discovery cost every Postgres command ~20 ms, for the store's password lookup).
_DISABLED = {"keyring.backends.null.Keyring": "null", "keyring.backends.fail.Keyring": "fail"}


def backend_status() -> BackendStatus:
    """Whether the OS keyring can be used here, and which backend it is."""
    disabled = _DISABLED.get(os.environ.get("PYTHON_KEYRING_BACKEND", "").strip())
    if disabled and "keyring" not in sys.modules:
        return BackendStatus(False, os.environ["PYTHON_KEYRING_BACKEND"].strip(), _OFF[disabled])
    if _surely_unusable():
        return BackendStatus(
            False,
            "keyring (not loaded)",
            "no D-Bus session for an OS keyring (DBUS_SESSION_BUS_ADDRESS is unset, e.g. over SSH) "
            "and no PYTHON_KEYRING_BACKEND or keyringrc.cfg",
        )
    try:
        import keyring
    except ImportError:
        return BackendStatus(False, "keyring (not installed)", "the keyring package is not installed")
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a misconfigured PYTHON_KEYRING_BACKEND or keyringrc.cfg, an unviable class
        name = os.environ.get("PYTHON_KEYRING_BACKEND") or "keyring"
        return BackendStatus(False, name, f"it could not be loaded ({type(exc).__name__}: {exc})")
    name = _class_path(backend)
    if _kind(backend) == "chainer":
        real = [b for b in _chained(backend) if _kind(b) != "chainer" and _judge(b) is None]
        if not real:
            return BackendStatus(False, name, "the chainer backend has no usable backend to chain")
        return BackendStatus(True, f"{name} via {', '.join(_class_path(b) for b in real)}")
    reason = _judge(backend)
    return BackendStatus(reason is None, name, reason)


def _errors() -> tuple[type[BaseException], ...]:
    import keyring.errors

    return (keyring.errors.KeyringError, RuntimeError)


def _scrub(exc: BaseException, secret: str | None = None) -> str:
    """The exception as one line, with the secret (if it ever appears) masked."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    return text


def _require(status: BackendStatus, what: str, hint: str) -> None:
    if not status.usable:
        raise ConfigError(f"cannot {what}: {status.problem}", hint=hint)


def _check_secret_name(name: str) -> None:
    if not name or not name.strip():
        raise UsageError("a secret needs a name")


def keyring_get(name: str) -> KeyLookup:
    """The secret ``name`` from the keyring. Never raises for keyring trouble: it goes in ``problem``."""
    _check_secret_name(name)
    status = backend_status()
    if not status.usable:
        return KeyLookup(None, None, status.problem)
    import keyring

    try:
        value = keyring.get_password(SERVICE, name)
    except _errors() as exc:
        return KeyLookup(None, None, f"could not read the keyring ({status.name}): {_scrub(exc)}")
    value = (value or "").strip()
    if not value:
        return KeyLookup(None, None, None)
    return KeyLookup(value, f"keyring ({status.name})", None)


def keyring_set(name: str, value: str, *, hint: str | None = None) -> str:
    """Store ``value`` as secret ``name``; returns where it went. ConfigError when the keyring cannot take it."""
    _check_secret_name(name)
    if not value or not value.strip():
        raise UsageError(f"the {name} secret is empty; nothing was stored")
    hint = hint or f"this machine has no usable OS keyring; {_DOCS}"
    status = backend_status()
    _require(status, f"store the {name} secret", hint)
    import keyring

    try:
        keyring.set_password(SERVICE, name, value)
        readback = keyring.get_password(SERVICE, name)
    except _errors() as exc:
        raise ConfigError(f"could not store the {name} secret in the keyring ({status.name}): {_scrub(exc, value)}",
                          hint=hint) from None
    if readback != value:
        raise ConfigError(f"the keyring ({status.name}) accepted the {name} secret but does not give it back",
                          hint=hint)
    return f"keyring ({status.name})"


def keyring_delete(name: str, *, hint: str | None = None) -> bool:
    """Remove secret ``name``; False when none was stored."""
    _check_secret_name(name)
    hint = hint or f"this machine has no usable OS keyring; {_DOCS}"
    status = backend_status()
    _require(status, f"delete the {name} secret", hint)
    import keyring
    import keyring.errors

    try:
        if keyring.get_password(SERVICE, name) is None:
            return False
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False  # some backends say "not found" this way
    except _errors() as exc:
        raise ConfigError(f"could not delete the {name} secret from the keyring ({status.name}): {_scrub(exc)}",
                          hint=hint) from None
    return True


# --- the fixed table of API keys ---------------------------------------------


def check_name(name: str) -> str:
    """``name`` if it is a known API key name, else UsageError listing them."""
    if name not in KEYS:
        raise UsageError(f"unknown key {name!r} (known: {', '.join(KEYS)})")
    return name


def env_hint(name: str) -> str:
    return f"export {KEYS[name]}=… in your shell profile on this host instead; {_DOCS}"


def require_keyring(name: str) -> BackendStatus:
    """The backend status, or ConfigError naming the env var when API key ``name`` cannot go in the keyring."""
    check_name(name)
    status = backend_status()
    _require(status, f"store the {name} key", env_hint(name))
    return status


def _from_env(name: str, env: Mapping[str, str] | None) -> str | None:
    env = os.environ if env is None else env
    return (env.get(KEYS[name]) or "").strip() or None


def lookup(name: str, env: Mapping[str, str] | None = None) -> KeyLookup:
    """The API key ``name``: its environment variable (non-empty) first, then the keyring."""
    check_name(name)
    value = _from_env(name, env)
    if value:
        return KeyLookup(value, f"env {KEYS[name]}", None)
    return keyring_get(name)


def store(name: str, value: str) -> str:
    """Put API key ``name`` in the keyring; returns where it went (e.g. "keyring (…)")."""
    check_name(name)
    value = (value or "").strip()
    if not value:
        raise UsageError(f"the {name} key is empty; nothing was stored")
    if any(ch.isspace() for ch in value):
        raise UsageError(f"the {name} key contains whitespace (a mis-paste?); nothing was stored")
    return keyring_set(name, value, hint=env_hint(name))


def delete(name: str) -> bool:
    """Remove API key ``name`` from the keyring; False when none was stored there."""
    check_name(name)
    return keyring_delete(name, hint=env_hint(name))


def status_all(env: Mapping[str, str] | None = None) -> list[dict]:
    """Where each API key is set (for `keys list`). Never any part of a value."""
    status = backend_status()
    rows = []
    for name, var in KEYS.items():
        in_env = _from_env(name, env) is not None
        found = keyring_get(name) if status.usable else KeyLookup(None, None, status.problem)
        in_keyring = None if found.problem else found.value is not None
        used: str | None
        if in_env:
            used = f"env {var}"
        elif in_keyring:
            used = found.source
        else:
            used = None
        rows.append({
            "name": name,
            "env_var": var,
            "in_env": in_env,
            "in_keyring": in_keyring,  # None: the keyring could not be read
            "used": used,  # where rfpilot takes the key from, or None
            "problem": found.problem,
        })
    return rows


def database_password(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The password for a Postgres ``url`` that has none: ``PGPASSWORD``, else the keyring's ``database``
    secret; None otherwise (asyncpg then reads ``~/.pgpass``). Keyring trouble is not an error here."""
    from rfpilot.db.pgurl import wants_password

    if not wants_password(url):
        return None
    return lookup("database", env).value
