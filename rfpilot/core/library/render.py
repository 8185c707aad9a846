"""Script template rendering: plain ``{{ key }}`` substitution, never evaluation (SPEC §11).

A placeholder is ``{{`` optional spaces, a key (``[a-z_][a-z0-9_]*``), optional spaces, ``}}``. Nothing else in a
body is special: no filters, no expressions, no escaping rules, so a script's own braces (PowerShell
``@{ }``, ``${var}``) pass through untouched. Rendering refuses an unknown placeholder, a missing required value
and a value of the wrong kind, naming which.

Values arrive as strings (from a form or ``--set key=value``) or plain Python values; each field type turns them
into the text substituted:

* text, password, textarea: as given;
* select: must be one of the options;
* boolean: true/false (yes/no, on/off, 1/0 accepted) → ``true`` / ``false`` unless the parameter names its own
  ``true_value``/``false_value`` (e.g. ``$true``/``$false`` for PowerShell);
* number: an integer or decimal, written back as given (``1e3`` and friends are refused);
* multi_text: a list (or text with one item per line) → one item per line.

Password values are redacted (``REDACTED``) everywhere a run or a parameter set is stored or shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rfpilot.core.view_types import ParameterView
from rfpilot.errors import UsageError
from rfpilot.grammar import plural

FIELD_TYPES: tuple[str, ...] = ("text", "password", "select", "boolean", "number", "textarea", "multi_text")
KEY = re.compile(r"[a-z_][a-z0-9_]*\Z")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
REDACTED = "••••••"
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n", ""}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Parameter:
    key: str
    label: str
    field_type: str = "text"
    required: bool = True
    options: tuple[str, ...] = ()
    default: str | None = None
    description: str | None = None
    true_value: str = "true"
    false_value: str = "false"

    @property
    def secret(self) -> bool:
        return self.field_type == "password"

    def as_dict(self) -> ParameterView:
        out: ParameterView = {"key": self.key, "label": self.label, "field_type": self.field_type,
                              "required": self.required}
        if self.options:
            out["options"] = list(self.options)
        if self.default is not None and not self.secret:
            out["default"] = self.default
        if self.description:
            out["description"] = self.description
        if self.field_type == "boolean" and (self.true_value, self.false_value) != ("true", "false"):
            out["true_value"], out["false_value"] = self.true_value, self.false_value
        return out


def placeholders(body: str) -> list[str]:
    """The keys a body uses, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(body)))


def parse_parameters(raw: Any) -> list[Parameter]:
    """A parameter schema from stored or imported data: ``{"parameters": [...]}`` or a list of dicts.

    Accepts the older ``variable_name`` for ``key`` and ``type`` for ``field_type``. Refuses bad keys, unknown
    types, duplicate keys, a select without options and a default outside them, and a password with a default
    (a secret would end up in the store and its files), naming the parameter.
    """
    items = raw.get("parameters", []) if isinstance(raw, Mapping) else raw
    if items is None:
        return []
    if not isinstance(items, list):
        raise UsageError("parameters must be a list")
    seen: set[str] = set()
    result: list[Parameter] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise UsageError(f"parameter {number} is not a table of fields")
        key = str(item.get("key") or item.get("variable_name") or "").strip()
        if not KEY.match(key):  # anchored at both ends (\Z: no trailing newline)
            raise UsageError(f"parameter {number}: {key!r} is not a usable key",
                             hint="lower-case letters, digits and _, starting with a letter or _")
        if key in seen:
            raise UsageError(f"parameter {key!r} is declared twice")
        seen.add(key)
        field_type = str(item.get("field_type") or item.get("type") or "text").strip().lower()
        if field_type not in FIELD_TYPES:
            raise UsageError(f"parameter {key!r}: unknown type {field_type!r}", hint="one of: " + ", ".join(FIELD_TYPES))
        options = tuple(str(o) for o in (item.get("options") or ()))
        if field_type == "select" and not options:
            raise UsageError(f"parameter {key!r} is a select without options")
        default = item.get("default")
        default = None if default is None else _scalar_text(default)
        refuse_secret_default(key, field_type, default)
        if field_type == "select" and default is not None and default not in options:
            raise UsageError(f"parameter {key!r}: the default {default!r} is not one of its options")
        label = str(item.get("label") or key.replace("_", " ").title()).strip()
        result.append(Parameter(
            key=key, label=label[:200], field_type=field_type, required=_flag(item.get("required", True), key),
            options=options, default=default,
            description=(str(item["description"]).strip() or None) if item.get("description") else None,
            true_value=str(item.get("true_value", "true")), false_value=str(item.get("false_value", "false")),
        ))
    return result


def refuse_secret_default(key: str, field_type: str, default: Any) -> None:
    """A password parameter has no default: it would be stored in the library and written into its files."""
    if field_type == "password" and default is not None:
        raise UsageError(f"parameter {key!r} is a password with a default: a password parameter has no default "
                         "(it would be stored in the library and written into its files in clear)",
                         hint="remove the default; the password is asked for at each run")


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ("true", "yes", "1"):
        return True
    if low in ("false", "no", "0"):
        return False
    raise UsageError(f"parameter {key!r}: required must be true or false, not {value!r}")


def schema(parameters: list[Parameter]) -> dict[str, Any]:
    return {"parameters": [p.as_dict() for p in parameters]}


def check_body(body: str, parameters: list[Parameter]) -> None:
    """Every placeholder in the body is a declared parameter."""
    declared = {p.key for p in parameters}
    unknown = [k for k in placeholders(body) if k not in declared]
    if unknown:
        raise UsageError("the script uses placeholders no parameter declares: " + ", ".join(f"{{{{ {k} }}}}" for k in unknown),
                         hint="declare them as parameters, or remove them from the script")


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce(param: Parameter, value: Any) -> str:
    """The text a value stands for in the script, or UsageError naming the parameter."""
    if param.field_type == "multi_text":
        items = value if isinstance(value, (list, tuple)) else str(value).splitlines()
        return "\n".join(str(i) for i in items if str(i).strip())
    text = _scalar_text(value)
    if param.field_type == "boolean":
        low = text.strip().lower()
        if low in _TRUE:
            return param.true_value
        if low in _FALSE:
            return param.false_value
        raise UsageError(f"{param.label}: {text!r} is not true or false")
    if param.field_type == "number":
        if not _NUMBER.match(text.strip()):
            raise UsageError(f"{param.label}: {text!r} is not a number")
        return text.strip()
    if param.field_type == "select" and text not in param.options:
        raise UsageError(f"{param.label}: {text!r} is not one of {', '.join(param.options)}")
    return text


def render(body: str, parameters: list[Parameter], values: Mapping[str, Any]) -> str:
    """Substitute the values into the body. Defaults fill what is not given; nothing is ever evaluated."""
    check_body(body, parameters)
    by_key = {p.key: p for p in parameters}
    unknown = [k for k in values if k not in by_key]
    if unknown:
        raise UsageError("no parameter called " + ", ".join(repr(k) for k in unknown),
                         hint="parameters: " + (", ".join(by_key) or "none"))
    texts: dict[str, str] = {}
    missing: list[str] = []
    used = set(placeholders(body))
    for p in parameters:
        given = values.get(p.key)
        if given is None or (isinstance(given, str) and given == "" and p.field_type != "boolean"):
            given = p.default
        if given is None or (isinstance(given, str) and given == "" and p.field_type != "boolean"):
            if p.required and p.key in used:
                missing.append(p.label)
            texts[p.key] = ""
            continue
        texts[p.key] = coerce(p, given)
    if missing:
        raise UsageError(f"missing required {plural('value', len(missing))}: " + ", ".join(missing),
                         hint="give them with --set key=value")
    return PLACEHOLDER.sub(lambda m: texts[m.group(1)], body)


def redact(parameters: list[Parameter], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with every password replaced: what may be stored, logged, exported or sent to a model."""
    secret = {p.key for p in parameters if p.secret}
    return {k: (REDACTED if k in secret and v not in (None, "") else v) for k, v in values.items()}


def render_redacted(body: str, parameters: list[Parameter], values: Mapping[str, Any]) -> str:
    """The script as it ran, with passwords shown as the redaction mark (safe to store and show)."""
    shown = dict(redact(parameters, values))
    plain = [p if not p.secret else Parameter(p.key, p.label, "text", False) for p in parameters]
    return render(body, plain, {k: v for k, v in shown.items() if k in {p.key for p in parameters}})
