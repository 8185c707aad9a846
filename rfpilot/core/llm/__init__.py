"""Talking to a model: the providers and how one is chosen (SPEC §12), every prompt rfpilot sends
(``prompts``) and the token accounting of every call (``usage``).

Choice: ``llm.provider`` (config or RFPILOT_LLM_PROVIDER) when set; otherwise
anthropic when an Anthropic key is found (ANTHROPIC_API_KEY, then the
keyring); otherwise offline. Every provider module is imported only when it
is used: the anthropic SDK costs seconds to import.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from dataclasses import dataclass

from rfpilot.config import SETTINGS, Settings
from rfpilot.core.llm.base import (
    ACTION_TIERS,
    ACTIONS,
    LLMCallError,
    LLMRequest,
    LLMResult,
    Provider,
    Turn,
    Usage,
)
from rfpilot.errors import ConfigError, LLMUnavailableError
from rfpilot.transport import model_server_refusal

if TYPE_CHECKING:
    from rfpilot.core.secrets import KeyLookup

PROVIDERS = SETTINGS["llm.provider"].choices or ()  # anthropic, openai, offline, scripted

# Default Anthropic model per tier; `llm.models.<tier>` overrides each. The defaults live in the settings schema.
DEFAULT_MODELS = {
    key.removeprefix("llm.models."): str(spec.default) for key, spec in SETTINGS.items() if key.startswith("llm.models.")
}

__all__ = [
    "ACTIONS",
    "ACTION_TIERS",
    "DEFAULT_MODELS",
    "PROVIDERS",
    "LLMCallError",
    "LLMRequest",
    "LLMResult",
    "Provider",
    "Selection",
    "Turn",
    "Usage",
    "get_provider",
    "selection",
    "shown_setting",
]


@dataclass(frozen=True)
class Selection:
    """Which provider rfpilot will use, and why (for `doctor` and error hints)."""

    provider: str
    reason: str  # e.g. "env RFPILOT_LLM_PROVIDER", "ANTHROPIC_API_KEY is set", "no key found"
    key_source: str | None = None  # where the provider's key comes from, never the key
    detail: str | None = None  # model, base URL or replies file


def models_for(settings: Settings) -> dict[str, str]:
    return {tier: str(settings.get(f"llm.models.{tier}")) for tier in DEFAULT_MODELS}


def selection(settings: Settings, *, lookup: Callable[[str], KeyLookup] | None = None) -> Selection:
    """``lookup(name)`` finds a key (default: ``secrets.lookup`` in the settings' environment)."""
    if lookup is None:
        from rfpilot.core import secrets

        def lookup(name: str) -> KeyLookup:
            return secrets.lookup(name, settings.env)

    name = settings.get("llm.provider")  # one of PROVIDERS (the settings check it), or None
    if name:
        reason = settings.source_of("llm.provider")
        if name == "anthropic":
            found = lookup("anthropic")
            return Selection(name, reason, found.source, models_for(settings)["chat"])
        if name == "openai":
            found = lookup("openai")
            base = settings.get("llm.openai.base_url")
            model = settings.get("llm.openai.model")
            return Selection(name, reason, found.source, f"{model or '(no model set)'} at {base or '(no base URL set)'}")
        if name == "scripted":
            return Selection(name, reason, None, str(settings.get("llm.scripted.file") or "(no replies file set)"))
        return Selection(name, reason)
    found = lookup("anthropic")
    if found.value:
        return Selection("anthropic", f"an Anthropic key was found ({found.source})", found.source, models_for(settings)["chat"])
    why = "no llm.provider set and no Anthropic key found"
    if found.problem:
        why += f"; {found.problem}"
    return Selection("offline", why)


def chat_window(settings: Settings) -> tuple[str, int]:
    """The chat model a turn would use and its context window (the default context budget comes from it). Offline,
    the Anthropic chat model's: the one rfpilot turns to once a key is found."""
    from rfpilot.core.llm.base import FALLBACK_WINDOW, context_window

    try:
        chosen = selection(settings).provider
    except ConfigError:
        chosen = "anthropic"
    if chosen == "scripted":
        from rfpilot.core.llm.scripted import SCRIPTED_WINDOW

        return "scripted", SCRIPTED_WINDOW
    if chosen == "openai":
        model = str(settings.get("llm.openai.model") or "")
        return model or "(no model set)", context_window(model) if model else FALLBACK_WINDOW
    model = models_for(settings)["chat"]
    return model, context_window(model)


def shown_setting(settings: Settings, key: str) -> tuple[Any, str]:
    """(value, where it comes from) of a setting as `config get` shows it. The model choice derives two when
    nothing sets them: ``llm.provider`` (from the keys found) and ``llm.context_tokens`` (from the chat model's
    window); every other setting is as ``settings.effective`` and ``settings.source_of`` give it. A value the
    settings refuse is their ConfigError (`config get` asks ``settings.problem`` first)."""
    value: Any
    if key == "llm.provider":
        chosen = selection(settings)
        return chosen.provider, settings.set_by(key) or f"derived: {chosen.reason}"
    if key == "llm.context_tokens":
        from rfpilot.core.llm.base import default_budget

        value = settings.get(key)
        if value is None:
            value = default_budget(chat_window(settings)[1])
        source = settings.set_by(key)
        if source is None:
            model, window = chat_window(settings)
            source = f"derived: ¾ of the {window:,}-token window of {model} after the reply's room"
        return value, source
    return settings.effective(key), settings.source_of(key)


def anthropic_base_url(settings: Settings) -> str | None:
    """``ANTHROPIC_BASE_URL`` (the SDK's own variable, handed to it by rfpilot), None when unset; a ConfigError
    when it is plain http to another machine (``rfpilot.transport``: the key is sent there)."""
    base_url = (settings.env.get("ANTHROPIC_BASE_URL") or "").strip() or None
    refusal = model_server_refusal(base_url) if base_url else None
    if refusal is not None:
        raise ConfigError(f"{refusal[0]} (env ANTHROPIC_BASE_URL)", hint=refusal[1])
    return base_url


def get_provider(settings: Settings, *, name: str | None = None) -> Provider:
    """Build the selected provider (or ``name``). A provider missing what it needs to run (a key, a base URL and
    a model, a replies file) is LLMUnavailableError (exit 5, as chat with the offline provider: no model to
    answer); a setting that is wrong (an unknown provider name) is ConfigError (exit 1)."""
    from rfpilot.core import secrets

    looked: dict[str, KeyLookup] = {}

    def lookup(which: str) -> KeyLookup:  # once per key: choosing the provider already read it (keyring: D-Bus)
        if which not in looked:
            looked[which] = secrets.lookup(which, settings.env)
        return looked[which]

    chosen = name or selection(settings, lookup=lookup).provider
    if chosen == "offline":
        from rfpilot.core.llm.offline import OfflineProvider

        return OfflineProvider()
    if chosen == "scripted":
        from rfpilot.core.llm.scripted import ScriptedProvider

        path = settings.get("llm.scripted.file")
        if not path:
            raise LLMUnavailableError(
                "the scripted provider needs a replies file",
                hint="set RFPILOT_SCRIPTED_FILE or `rfpilot config set llm.scripted.file PATH` (format: docs/llm.md)",
            )
        return ScriptedProvider.from_file(path)
    if chosen == "anthropic":
        from rfpilot.core.llm.anthropic_provider import AnthropicProvider

        found = lookup("anthropic")
        if not found.value:
            raise LLMUnavailableError(
                "no Anthropic API key found",
                hint="set ANTHROPIC_API_KEY, or store one with `rfpilot keys set anthropic`"
                + (f" ({found.problem})" if found.problem else ""),
            )
        return AnthropicProvider(api_key=found.value, models=models_for(settings),
                                 base_url=anthropic_base_url(settings), timeout=float(settings.get("llm.timeout")))
    if chosen == "openai":
        from rfpilot.core.llm.openai_provider import OpenAIProvider

        base = settings.get("llm.openai.base_url")
        model = settings.get("llm.openai.model")
        if not base or not model:
            raise LLMUnavailableError(
                "the openai provider needs a base URL and a model",
                hint="set RFPILOT_OPENAI_BASE_URL (…/v1) and RFPILOT_OPENAI_MODEL, or llm.openai.base_url and llm.openai.model",
            )
        found = lookup("openai")
        return OpenAIProvider(base_url=str(base), model=str(model), api_key=found.value,
                              timeout=float(settings.get("llm.timeout")))
    raise ConfigError(f"unknown LLM provider {chosen!r}", hint="anthropic, openai, offline or scripted")


@asynccontextmanager
async def optional_provider(settings, *, offline: bool = False):
    """``(provider, problem)``: the configured provider, or None and why not.

    For work that has an offline fallback (drafting notes, extracting templates): a provider that cannot even
    be built (no key, no replies file, a wrong setting) is not an error there, only a reason to say. The provider
    is closed after.
    """
    provider = None
    problem = None
    if not offline and settings is not None:
        try:
            provider = get_provider(settings)
        except (ConfigError, LLMUnavailableError) as err:
            problem = f"the model is not usable: {err.message}"
    try:
        yield provider, problem
    finally:
        if provider is not None:
            await provider.aclose()
