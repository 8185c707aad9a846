"""Paths and configuration.

Precedence: CLI flags > environment variables > config.toml > defaults.
``RFPILOT_HOME`` relocates config, data and cache into one directory.
This module is imported by ``rfpilot --help``: it must stay light (no
SQLAlchemy, no SDKs).
"""

from __future__ import annotations

import getpass
import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any

from rfpilot.errors import ConfigError
from rfpilot.transport import model_server_refusal

APP_NAME = "rfpilot"


@dataclass(frozen=True)
class Setting:
    """One setting of config.toml: the single schema behind `config set` validation, `config get` and the
    settings table of docs/configuration.md (``settings_table``)."""

    key: str
    kind: type  # str, int, float or bool
    default: Any
    help: str
    env: str | None = None  # the environment variable that overrides it (SPEC §16)
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default_text: str | None = None  # how the docs describe a default that is derived, not a constant
    words: str | None = None  # what it takes, in words, when the kind alone would not say (a keymap entry)
    rule: Callable[[str], tuple[str, str] | None] | None = None  # a text value's own check: (message, hint) refused

    def accepted(self) -> str:
        """The values this setting takes, in words (for errors and docs)."""
        if self.words:
            return self.words
        if self.choices:
            return ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        word = {int: "a whole number", float: "a number"}.get(self.kind, "text")
        if self.minimum is not None and self.maximum is not None:
            return f"{word} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{word} of at least {_num(self.minimum)}"
        return word


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else str(value)


SCHEMA: tuple[Setting, ...] = (
    Setting("database.url", str, None, "SQLAlchemy URL of the store: `postgresql://user@host/db` selects Postgres "
            "([below](#postgres)); a SQLite URL's folder must exist. Never with a password in `config.toml`.",
            env="RFPILOT_DATABASE_URL", default_text="the SQLite file `rfpilot.db` in the data dir"),
    Setting("identity.email", str, None, "who you are in the store", env="RFPILOT_USER_EMAIL",
            default_text="`login@hostname`"),
    Setting("identity.name", str, None, "your display name", env="RFPILOT_USER_NAME",
            default_text="your login name"),
    Setting("identity.account", str, "default", "your team (account) in a shared store", env="RFPILOT_ACCOUNT"),
    Setting("llm.provider", str, None, "the model provider ([llm.md](llm.md))", env="RFPILOT_LLM_PROVIDER",
            choices=("anthropic", "openai", "offline", "scripted"),
            default_text="`anthropic` when an Anthropic key is found, else `offline`"),
    Setting("llm.openai.base_url", str, None, "an OpenAI-compatible server's API root ending in `/v1` "
            "(`http://localhost:11434/v1` for Ollama; plain `http://` only to 127.0.0.1, ::1 or localhost)",
            env="RFPILOT_OPENAI_BASE_URL", rule=model_server_refusal),
    Setting("llm.openai.model", str, None, "the model name on that server", env="RFPILOT_OPENAI_MODEL"),
    Setting("llm.scripted.file", str, None, "the replies file of the scripted provider (format in [llm.md](llm.md))",
            env="RFPILOT_SCRIPTED_FILE"),
    Setting("llm.timeout", int, 60, "seconds to wait for a model reply before giving up", minimum=1, maximum=3_600),
    Setting("llm.max_reply_chars", int, 200_000, "a chat reply longer than this is cut, with a notice, before it is "
            "shown or stored", minimum=1_000, maximum=10_000_000),
    Setting("llm.context_tokens", int, None, "the most a chat turn's request may hold, in estimated tokens; the "
            "oldest turns are folded into a summary to stay under it ([llm.md](llm.md#the-context-budget))",
            minimum=4_000, maximum=10_000_000,
            default_text="¾ of the chat model's context window after the reply's room (148,464 for Claude; 4,608 for "
            "an unknown model)"),
    Setting("llm.models.chat", str, "claude-sonnet-4-6", "Anthropic model for chat turns"),
    Setting("llm.models.note", str, "claude-sonnet-4-6", "Anthropic model for resolution notes and escalation packages"),
    Setting("llm.models.fact_synthesis", str, "claude-haiku-4-5", "Anthropic model for turning answers into facts"),
    Setting("llm.models.title", str, "claude-haiku-4-5", "Anthropic model for session titles"),
    Setting("llm.models.extraction", str, "claude-sonnet-4-6", "Anthropic model for template parameter extraction"),
    Setting("ui.theme", str, "dark", "the TUI's colours; `NO_COLOR` set in the environment means no colour",
            choices=("dark", "light", "no-color")),
    Setting("ui.mouse", bool, True, "`false` turns mouse support off in the TUI"),
    Setting("ui.early_list", str, "auto", "whether a second process reads the TUI's first page of sessions while "
            "the app starts, on another core ([tui.md](tui.md#start-up)); `auto`: when a core is idle",
            choices=("auto", "on", "off")),
    Setting("preview.editor", str, None, "the editor `resolve --edit` / `escalate --edit` opens",
            default_text="`$VISUAL`, then `$EDITOR`, then `vi`"),
    Setting("branches.limit", int, 10, "how many hypotheses a session may explore (the root branch is not counted); a fork "
            "over it is refused and changes nothing ([branches.md](branches.md))",
            minimum=2, maximum=100),
    Setting("psa.time_entry", bool, False, "`true`: resolve and escalate log the session's active time on the "
            "ticket (`--time/--no-time` overrides)"),
    Setting("psa.time_rounding", float, 0.25, "logged time is rounded up to this many hours (`0` = to the minute)",
            minimum=0, maximum=8),
)

SETTINGS: dict[str, Setting] = {s.key: s for s in SCHEMA}

# setting name -> environment variable. Names are fixed by SPEC §16.
ENV_OVERRIDES: dict[str, str] = {s.key: s.env for s in SCHEMA if s.env}

# Known settings with their type, default and help (the older view of SCHEMA, kept for callers).
KNOWN_SETTINGS: dict[str, tuple[type, Any, str]] = {s.key: (s.kind, s.default, s.help) for s in SCHEMA}

# `keymap.<binding id>`: one TUI key each (docs/tui.md), kept in config.toml as [keymap] "session.new" = "ctrl+e".
# A binding id has dots of its own, so everything after "keymap." is the id.
KEYMAP = "keymap."
KEYMAP_HINT = ('a binding id is one quoted key under [keymap], dots and all: "session.new" = "ctrl+e" '
               "(`rfpilot config set keymap.session.new ctrl+e` writes it so; the ids are in docs/tui.md)")


def keymap_setting(key: str) -> Setting:
    """The schema entry of one `keymap.<binding id>` (the ids belong to the TUI, which checks them)."""
    return Setting(key, str, None, "remaps a TUI key", words='a key, or keys separated by commas, e.g. "ctrl+e"')


def binding_of(key: str) -> str:
    """The binding id of `keymap.<binding id>`: everything after "keymap.", dots and all (`keymap."session.new"`,
    TOML's own spelling, gives the same id)."""
    binding = key.removeprefix(KEYMAP).strip()
    return binding[1:-1] if len(binding) > 1 and binding[0] == binding[-1] == '"' else binding


def spec_of(key: str) -> Setting | None:
    """The schema entry of ``key`` (a `keymap.<binding id>` included), or None for a key rfpilot does not know."""
    if key.startswith(KEYMAP) and len(key) > len(KEYMAP):
        return keymap_setting(key)
    return SETTINGS.get(key)


def settings_table() -> str:
    """The settings table of docs/configuration.md, made from SCHEMA (tests/test_config.py keeps the doc in step)."""
    rows = ["| setting (`config.toml`) | environment variable | values | default | meaning |", "|---|---|---|---|---|"]
    for s in SCHEMA:
        if s.default_text:
            default = s.default_text
        elif s.default is None:
            default = "—"
        else:
            default = f"`{str(s.default).lower() if s.kind is bool else _num(s.default) if s.kind is not str else s.default}`"
        values = ", ".join(f"`{c}`" for c in s.choices) if s.choices else s.accepted()
        rows.append(f"| `{s.key}` | {f'`{s.env}`' if s.env else '—'} | {values} | {default} | {s.help} |")
    return "\n".join(rows)


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    home: Path | None = None  # RFPILOT_HOME, when set

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def default_db_file(self) -> Path:
        return self.data_dir / "rfpilot.db"

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"


def resolve_paths(env: Mapping[str, str] | None = None) -> Paths:
    env = os.environ if env is None else env
    home = env.get("RFPILOT_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config", root / "data", root / "cache", home=root)
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_cache_dir(APP_NAME)),
    )


def tighten_home(paths: Paths) -> None:
    """Make an existing home private: its folders 0700, rfpilot's files in them 0600.

    Homes made by earlier releases followed the umask (0755/0644). Only rfpilot's own
    folders and files are touched; missing ones are created private when first written.
    """
    from rfpilot.private import DIR_MODE, FILE_MODE, tighten

    folders = [paths.home, paths.config_dir, paths.data_dir, paths.cache_dir, paths.backup_dir]
    for folder in folders:
        if folder is not None:
            tighten(folder, DIR_MODE)
    db = paths.default_db_file
    files = [paths.config_file, db] + [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    if paths.backup_dir.is_dir():
        files += [p for p in paths.backup_dir.iterdir() if p.is_file()]
    for file in files:
        tighten(file, FILE_MODE)


def _get_dotted(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _shown(value: Any) -> str:
    """A value as an error names it: quoted as Python writes it (control characters escaped), cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _fix_hint(key: str, source: str) -> str:
    if source.startswith("env "):
        return f"change the environment variable {source.removeprefix('env ')}, or unset it"
    if source == "command line":
        return "give the option a value it takes"
    return f"fix it with `rfpilot config set {key} VALUE`, or remove it with `rfpilot config set {key} --unset`"


def _convert(spec: Setting, value: Any, source: str) -> Any:
    """``value`` as rfpilot uses ``spec``: text from an environment variable is read as `config set` reads it;
    config.toml and the command line give it typed. A value the schema refuses is a ConfigError naming the key,
    the value and what it takes (not where it came from: ``checked`` adds that)."""
    if source.startswith("env "):
        return parse_value(spec.key, value)
    refused = ConfigError(f"{spec.key} does not take {_shown(value)}: it takes {spec.accepted()}")
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise refused
        return value
    if spec.kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (spec.kind is int and not isinstance(value, int)):
            raise refused
        if value != value or value in (float("inf"), float("-inf")):
            raise refused
        if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
            raise refused
        return spec.kind(value)
    if not isinstance(value, str):
        raise refused
    if not value.strip():
        raise ConfigError(f"{spec.key} does not take an empty value")
    if spec.choices:
        if value.strip().lower() not in spec.choices:
            raise refused
        return value.strip().lower()
    _apply_rule(spec, value)
    return value


class _Refused(ConfigError):
    """A setting's own rule refused the value; its hint says what to do instead."""


def _apply_rule(spec: Setting, value: str) -> None:
    refusal = spec.rule(value) if spec.rule is not None else None
    if refusal is not None:
        raise _Refused(f"{spec.key}: {refusal[0]}", hint=refusal[1])


def checked(spec: Setting, value: Any, source: str) -> Any:
    """The one check between a setting and whatever reads it: ``value`` (from ``source``: `command line`,
    `env NAME` or `config FILE`) as ``spec`` takes it, or a ConfigError (exit 1) naming the key, the value, where
    it came from and how to fix it. Never the raw value of a hand-edited file or an environment variable."""
    try:
        return _convert(spec, value, source)
    except ConfigError as err:
        hint = err.hint if isinstance(err, _Refused) and err.hint else _fix_hint(spec.key, source)
        if spec.key.startswith(KEYMAP) and isinstance(value, dict):  # [keymap.session] new = … (a dot not quoted)
            hint = KEYMAP_HINT
        raise ConfigError(f"{err.message} ({source})", hint=hint) from None


@dataclass
class Settings:
    paths: Paths
    file_data: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    def given(self, key: str) -> tuple[Any, str] | None:
        """``(value, source)`` of what sets ``key``, first found of the command line, its environment variable and
        config.toml, as given (unchecked: ``get`` checks it); None when nothing sets it."""
        if key in self.overrides and self.overrides[key] is not None:
            return self.overrides[key], "command line"
        env_name = ENV_OVERRIDES.get(key)
        if env_name and self.env.get(env_name):
            return self.env[env_name], f"env {env_name}"
        if key.startswith(KEYMAP):
            table = self.file_data.get("keymap")
            value = table.get(binding_of(key)) if isinstance(table, dict) else None
        else:
            value = _get_dotted(self.file_data, key)
        return None if value is None else (value, f"config {self.paths.config_file}")

    def get(self, key: str, default: Any = None) -> Any:
        """The effective value of a dotted key, with its precedence applied and checked against the schema: a
        value it refuses is a ConfigError (``checked``), whoever reads it."""
        spec = spec_of(key)
        if key == "keymap" or key.startswith(KEYMAP):
            self._keymap_table()  # `keymap = 5`: no entry can be read
        found = self.given(key)
        if found is None:
            return spec.default if spec is not None and spec.default is not None else default
        return checked(spec, *found) if spec is not None else found[0]

    def problem(self, key: str) -> ConfigError | None:
        """The error reading ``key`` gives, or None when its value (or its default) is one rfpilot takes."""
        try:
            self.get(key)
        except ConfigError as err:
            return err
        return None

    def _keymap_table(self) -> dict[str, Any]:
        table = self.file_data.get("keymap")
        if table is None:
            return {}
        if not isinstance(table, dict):
            raise ConfigError(f"keymap does not take {_shown(table)}: it takes a table of binding ids and keys "
                              f"(config {self.paths.config_file})",
                              hint=f"{KEYMAP_HINT}; or remove it with `rfpilot config set keymap --unset`")
        return table

    def keymap(self) -> tuple[dict[str, str], list[ConfigError]]:
        """[keymap] of config.toml: ``(binding id -> keys, the errors of the entries left out)``. A keymap that
        is not a table is one error and no entry."""
        try:
            table = self._keymap_table()
        except ConfigError as err:
            return {}, [err]
        entries: dict[str, str] = {}
        errors: list[ConfigError] = []
        for binding, keys in table.items():
            key = KEYMAP + binding
            try:
                entries[binding] = checked(keymap_setting(key), keys, f"config {self.paths.config_file}")
            except ConfigError as err:
                errors.append(err)
        return entries, errors

    def effective(self, key: str) -> Any:
        """The value rfpilot actually uses, derived defaults included. The two that the model choice derives
        (``llm.provider``, ``llm.context_tokens``) are derived above config, in ``rfpilot.core.llm.shown_setting``
        (what `config get` shows); here they are only what is set."""
        derived = {
            "database.url": lambda: self.database_url,
            "identity.email": lambda: self.identity_email,
            "identity.name": lambda: self.identity_name,
            "identity.account": lambda: self.account_name,
            "preview.editor": lambda: self.get(key) or self.env.get("VISUAL") or self.env.get("EDITOR") or "vi",
        }
        return derived[key]() if key in derived else self.get(key)

    def set_by(self, key: str) -> str | None:
        """Where an explicit value of ``key`` comes from (the command line, an environment variable, config.toml),
        or None when nothing sets it."""
        found = self.given(key)
        return None if found is None else found[1]

    def source_of(self, key: str) -> str:
        """Where the value of ``key`` comes from (the derived ``llm.*`` ones: see ``effective``)."""
        explicit = self.set_by(key)
        if explicit is not None:
            return explicit
        if key == "preview.editor":
            editor = "VISUAL" if self.env.get("VISUAL") else "EDITOR" if self.env.get("EDITOR") else None
            return f"env {editor}" if editor else "default"
        return "default"

    @property
    def database_url(self) -> str:
        url = self.get("database.url")
        if url:
            return str(url)
        return f"sqlite+aiosqlite:///{self.paths.default_db_file}"

    @property
    def is_default_database(self) -> bool:
        return not self.get("database.url")

    @property
    def identity_email(self) -> str:
        email = self.get("identity.email")
        if email:
            return str(email).strip().lower()
        return f"{_login_name()}@{_hostname()}".lower()

    @property
    def identity_name(self) -> str:
        name = self.get("identity.name")
        return str(name).strip() if name else _login_name()

    @property
    def account_name(self) -> str:
        return str(self.get("identity.account") or "default").strip() or "default"


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "engineer"


def _hostname() -> str:
    try:
        return socket.gethostname() or "localhost"
    except OSError:
        return "localhost"


def _check_env(env: dict[str, str]) -> None:
    """rfpilot's own environment variables must hold UTF-8 text (no NUL, sane size) like any other input."""
    from rfpilot.textcheck import problem

    for name in ("RFPILOT_HOME", *ENV_OVERRIDES.values()):
        wrong = problem(env[name]) if env.get(name) else None
        if wrong:
            raise ConfigError(f"environment variable {name} {wrong}", hint=f"set {name} to UTF-8 text, or unset it")


def load_settings(
    env: dict[str, str] | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    env = dict(os.environ if env is None else env)
    _check_env(env)
    paths = resolve_paths(env)
    tighten_home(paths)
    data: dict[str, Any] = {}
    if paths.config_file.exists():
        try:
            data = tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{paths.config_file} is not valid TOML: {exc}",
                hint="fix the file by hand, or move it away to start from defaults",
            ) from exc
    return Settings(paths=paths, file_data=data, env=env, overrides=dict(overrides or {}))


def parse_value(key: str, raw: str) -> Any:
    """Turn the text of `config set KEY VALUE` (or of an environment variable) into the setting's type, checked
    against its choices and range.

    A wrong value is a ConfigError naming the key, the value and what the key accepts."""
    spec = spec_of(key)
    if spec is None:
        return raw  # an unknown key (refused by write_setting)

    def refuse() -> ConfigError:
        return ConfigError(f"{key} does not take {_shown(raw)}: it takes {spec.accepted()}")

    text = raw.strip()
    value: Any
    if spec.kind is bool:
        low = text.lower()
        if low in {"true", "yes", "on", "1"}:
            return True
        if low in {"false", "no", "off", "0"}:
            return False
        raise refuse()
    if spec.kind in (int, float):
        try:
            value = spec.kind(text)
        except ValueError:
            raise refuse() from None
        if value != value or value in (float("inf"), float("-inf")):  # nan, inf
            raise refuse()
        if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
            raise refuse()
        return value
    if spec.choices:
        if text.lower() not in spec.choices:
            raise refuse()
        return text.lower()
    if not text:
        raise ConfigError(f"{key} does not take an empty value",
                          hint=f"give {key} a value, or remove it with `rfpilot config set {key} --unset`")
    _apply_rule(spec, raw)
    return text if key.startswith(KEYMAP) else raw


def _dotted_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for name, value in data.items():
        key = f"{prefix}{name}"
        if key == "keymap":
            continue  # checked entry by entry (Settings.keymap)
        if isinstance(value, dict) and key not in SETTINGS:
            keys += _dotted_keys(value, key + ".")
        else:
            keys.append(key)
    return keys


def check_settings(settings: Settings) -> tuple[list[dict[str, str]], list[str]]:
    """What `doctor` says about the configuration: ``(bad, unknown)``.

    ``bad``: every value in config.toml (edited by hand) or in an environment variable that the schema refuses
    (``checked``, the check every reader goes through), as ``{"key", "source", "error", "hint"}``, an environment variable
    and the file both when both are wrong; ``unknown``: keys of config.toml rfpilot does not know (typos, often)."""
    bad = []

    def check(spec: Setting, value: Any, source: str) -> None:
        try:
            checked(spec, value, source)
        except ConfigError as err:
            bad.append({"key": spec.key, "source": source, "error": err.message.removesuffix(f" ({source})"),
                        "hint": err.hint or ""})

    config = f"config {settings.paths.config_file}"
    for spec in SCHEMA:
        if spec.env and settings.env.get(spec.env):
            check(spec, settings.env[spec.env], f"env {spec.env}")
        value = _get_dotted(settings.file_data, spec.key)
        if value is not None:
            check(spec, value, config)
    table = settings.file_data.get("keymap")
    not_a_table = settings.problem("keymap")
    if not_a_table is not None:
        bad.append({"key": "keymap", "source": config, "error": not_a_table.message.removesuffix(f" ({config})"),
                    "hint": not_a_table.hint or ""})
    for binding, keys in (table if isinstance(table, dict) else {}).items():
        check(keymap_setting(KEYMAP + binding), keys, config)
    unknown = [k for k in _dotted_keys(settings.file_data) if k not in SETTINGS]
    return bad, unknown


def _toml_path(key: str) -> list[str]:
    """Where ``key`` lives in config.toml: its dotted parts, or ``["keymap", binding id]``."""
    if key.startswith(KEYMAP):
        binding = binding_of(key)
        if not binding or '"' in binding:
            raise ConfigError(f"{key!r} names no TUI binding", hint=KEYMAP_HINT)
        return ["keymap", binding]
    return key.split(".")


def write_setting(paths: Paths, key: str, value: Any) -> None:
    """Set one dotted key in config.toml, keeping comments and layout (tomlkit); ``None`` removes it."""
    import tomlkit

    from rfpilot.private import private_dir, write_private

    if key == "keymap" and value is not None:
        raise ConfigError("keymap is a table of keys: set one binding at a time", hint=KEYMAP_HINT)
    if key not in KNOWN_SETTINGS and not key.startswith(KEYMAP) and key != "keymap":
        known = ", ".join(sorted(KNOWN_SETTINGS))
        raise ConfigError(f"unknown setting {key!r}", hint=f"known settings: {known}")
    if isinstance(value, str):
        from rfpilot.textcheck import check_text

        check_text(value, f"the value of {key}")
    if key == "database.url" and value is not None:
        from rfpilot.db.pgurl import check_storable

        check_storable(str(value))  # no password in a plain file, and no URL that cannot open
    parts = _toml_path(key)
    private_dir(paths.config_dir)
    text = paths.config_file.read_text(encoding="utf-8") if paths.config_file.exists() else ""
    doc = tomlkit.parse(text)
    node: Any = doc
    for depth, part in enumerate(parts[:-1], start=1):
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {key}: {part} is not a table in {paths.config_file}",
                              hint=f"remove it with `rfpilot config set {'.'.join(parts[:depth])} --unset` first")
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    # Everything is checked before the file is touched; write_private encodes first and leaves no temp file behind.
    write_private(paths.config_file, tomlkit.dumps(doc))
