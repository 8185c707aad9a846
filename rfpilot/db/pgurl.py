"""Database URLs: any URL as people paste it normalised to its async driver (``normalise_url``, SQLite or
Postgres), and Postgres URLs as people write them for libpq (psql, pg_dump) turned into asyncpg's connect arguments.

SQLAlchemy's asyncpg dialect hands every query parameter to ``asyncpg.connect()`` as a keyword, so the libpq
spelling (``?sslmode=require``) crashed with "unexpected keyword argument". Here each parameter is either

* passed to asyncpg's own libpq-style DSN parser, which implements it (``sslmode``, ``sslrootcert``, ``sslcert``,
  ``sslkey``, ``sslcrl``, ``passfile``, ``target_session_attrs``, …) — through asyncpg's ``dsn`` argument, which
  only fills what the explicit host/port/user/database arguments leave open;
* mapped: ``connect_timeout`` → ``timeout`` (seconds; 0 waits forever, as in libpq), ``application_name`` and
  ``options=-c name=value`` → ``server_settings``;
* left to SQLAlchemy's dialect, which reads it itself (``host``, ``port``, ``prepared_statement_cache_size``);
* or refused with a ``StoreError`` naming it. Bad ports and unparseable URLs are ``StoreError`` too: one
  ``error:`` line on every command, never a traceback.

The database password (SPEC §16, issue 12): never in config.toml (``check_storable``). When the URL has none,
the caller (``rfpilot.core.secrets.database_password``) supplies ``PGPASSWORD`` or the OS keyring's ``database``
secret (``rfpilot keys set database``) as the ``password`` connect argument; without either, asyncpg reads
``~/.pgpass`` (``PGPASSFILE``, ``passfile=``) itself. A password in ``RFPILOT_DATABASE_URL`` still
works; messages only ever show the URL through ``redact_url``.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import URL, make_url

from rfpilot.errors import ConfigError, StoreError

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")
# libpq parameters asyncpg's DSN parser implements: handed to it as they are.
NATIVE = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword", "passfile", "target_session_attrs",
          "krbsrvname", "gsslib", "ssl_min_protocol_version", "ssl_max_protocol_version")
MAPPED = ("connect_timeout", "application_name", "options")
DIALECT = ("host", "port", "prepared_statement_cache_size")  # SQLAlchemy's asyncpg dialect reads these itself
SUPPORTED = NATIVE + MAPPED + DIALECT
URL_HINT = "check database.url (`rfpilot config get database.url`) or RFPILOT_DATABASE_URL; see docs/configuration.md"


def parse(url: str) -> URL:
    """The URL parsed, with a usable port, or StoreError in one line (the URL itself is never echoed)."""
    try:
        parsed = make_url(url)
        port = parsed.port
    except Exception as exc:  # ArgumentError, ValueError (a port that is not a number), …
        reason = "the port is not a number" if isinstance(exc, ValueError) else "it cannot be parsed"
        raise StoreError(f"the database URL is not valid: {reason}", hint=URL_HINT) from None
    if port is not None and not 1 <= port <= 65535:
        raise StoreError(f"the database URL's port {port} is out of range (1-65535)", hint=URL_HINT)
    return parsed


def _one(name: str, value: Any) -> str:
    if isinstance(value, (tuple, list)):
        if name in ("host", "port"):  # SQLAlchemy's multi-host form
            return ",".join(value)
        raise StoreError(f"the database URL gives {name} more than once", hint=URL_HINT)
    return str(value)


def _server_options(value: str) -> dict[str, str]:
    """libpq ``options`` as server settings: only ``-c name=value`` (or ``--name=value``) is understood."""
    try:
        words = shlex.split(value)
    except ValueError:
        words = [value]
    settings: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-c" and i + 1 < len(words):
            pair, i = words[i + 1], i + 2
        elif word.startswith("-c") and len(word) > 2:
            pair, i = word[2:], i + 1
        elif word.startswith("--") and "=" in word:
            pair, i = word[2:], i + 1
        else:
            raise StoreError(f"the database URL's options={value!r} is not understood",
                             hint="use options=-c name=value (server settings), e.g. options=-c%20search_path=rfpilot")
        name, sep, setting = pair.partition("=")
        if not sep or not name.strip():
            raise StoreError(f"the database URL's options={value!r} is not understood",
                             hint="use options=-c name=value (server settings)")
        settings[name.strip().replace("-", "_")] = setting
    return settings


def connect_args(url: URL) -> tuple[URL, dict[str, Any]]:
    """``url`` without the parameters asyncpg cannot take as keywords, and the connect arguments they become."""
    query = {name: _one(name, value) for name, value in url.query.items()}
    unknown = sorted(set(query) - set(SUPPORTED))
    if unknown:
        raise StoreError(
            f"the database URL has a parameter rfpilot does not support: {unknown[0]}",
            hint="supported: " + ", ".join(SUPPORTED) + "; " + URL_HINT,
        )
    native = {k: v for k, v in query.items() if k in NATIVE}
    if "sslmode" in native and native["sslmode"] not in SSLMODES:
        raise StoreError(f"the database URL's sslmode={native['sslmode']!r} is not an SSL mode",
                         hint="use one of " + ", ".join(SSLMODES))
    if "target_session_attrs" in native and native["target_session_attrs"] not in SESSION_ATTRS:
        raise StoreError(f"the database URL's target_session_attrs={native['target_session_attrs']!r} is not known",
                         hint="use one of " + ", ".join(SESSION_ATTRS))
    args: dict[str, Any] = {}
    if native:
        args["dsn"] = "postgresql://?" + urlencode(native)
    if "connect_timeout" in query:
        try:
            seconds = int(query["connect_timeout"])
        except ValueError:
            raise StoreError(f"the database URL's connect_timeout={query['connect_timeout']!r} is not a whole number "
                             "of seconds", hint=URL_HINT) from None
        args["timeout"] = float(seconds) if seconds > 0 else None  # libpq: 0 or less waits forever
    server: dict[str, str] = {}
    if "options" in query:
        server.update(_server_options(query["options"]))
    if "application_name" in query:
        server["application_name"] = query["application_name"]
    if server:
        args["server_settings"] = server
    kept = {k: v for k, v in url.query.items() if k in DIALECT}
    return url.set(query=kept), args


def check(url: str) -> URL:
    """``url`` parsed and, for Postgres, its parameters checked: StoreError in one line if it would not open."""
    parsed = parse(url)
    if parsed.get_backend_name() == "postgresql":
        connect_args(parsed)
    return parsed


def normalise_url(url: str) -> str:
    """Accept the URLs people paste and pick the async driver for them."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    elif url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
    if not (url.startswith("postgresql+asyncpg://") or url.startswith("sqlite+aiosqlite://")):
        import re

        scheme = re.match(r"([a-z][a-z0-9+.-]{0,30})://", url, flags=re.IGNORECASE)
        raise StoreError(
            f"unsupported database URL scheme {scheme.group(1)!r}" if scheme
            else "the database URL is not valid: it does not start with a scheme such as postgresql://",
            hint="use a SQLite file (sqlite:///path/rfpilot.db) or Postgres (postgresql://user@host/db)",
        )
    check(url)  # a bad port, an unknown parameter, an unreadable URL: StoreError now, not a traceback later
    return url


def wants_password(url: str) -> bool:
    """True for a Postgres URL without a password (the caller may then supply one from the keyring)."""
    try:
        parsed = make_url(url)
    except Exception:
        return False
    return parsed.get_backend_name() == "postgresql" and parsed.password is None


def check_storable(url: str) -> None:
    """Refuse a URL for config.toml that carries a secret, or that would not open (so it is never stored)."""
    parsed = make_url(normalise_url(url))  # checked there
    if parsed.password is not None or "sslpassword" in parsed.query:
        raise ConfigError(
            "refused: the database URL contains a password, and config.toml is a plain file",
            hint="set the URL without it (postgresql://user@host/db), then store the password with "
                 "`rfpilot keys set database`, or use PGPASSWORD or ~/.pgpass (docs/configuration.md)",
        )
