"""Parameter values converted without pydantic.

Typer 0.29 converts every parameter value through a pydantic TypeAdapter built on first use (typer._adapters):
importing pydantic and building the adapters costs 35-60 ms on every command with an option, and rfpilot's
parameters are only text, whole numbers, flags, paths and lists of those. ``plain_coercion`` gives each parameter of
a converted command a coercion of its own for those types (Typer's RuntimeParam contract, the one hook Typer has
for it); a parameter of any other type keeps Typer's own. tests/test_startup.py checks that every parameter gets it
and that no command imports pydantic, so a Typer release that changes the hook is caught there; with a Typer that
has no such hook the import below fails and Typer's own coercion (pydantic) is used, slower but correct.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam
    from typer._param_types import coerce_cli_path, routes_to_path
except ImportError:  # pragma: no cover - another Typer: its own (pydantic) coercion stays
    RuntimeParam = None  # type: ignore[assignment,misc]

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def _text(value: Any) -> str:
    if isinstance(value, bytes):  # as Typer does: the argv encoding, else the file system's, else replaced
        for encoding in (sys.getfilesystemencoding(), "utf-8"):
            try:
                return value.decode(encoding)
            except UnicodeError:
                continue
        return value.decode("utf-8", "replace")
    return str(value)


def _whole(value: Any, info: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str, bytes)):
        raise ValueError(f"{value!r} is not a whole number")
    try:
        number = value if isinstance(value, int) else int(_text(value).strip())
    except ValueError:
        raise ValueError(f"{_text(value)!r} is not a whole number") from None
    if info.min is not None and number < info.min:
        raise ValueError(f"must be at least {info.min}")
    if info.max is not None and number > info.max:
        raise ValueError(f"must be at most {info.max}")
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = _text(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{_text(value)!r} is not true or false")


def _converter(annotation: Any, info: Any) -> Any:
    """A function converting one value of ``annotation`` (None when it is not one of rfpilot's plain types)."""
    if annotation is str:
        return lambda value, param, ctx: _text(value)
    if annotation is bool:
        return lambda value, param, ctx: _flag(value)
    if annotation is int and not info.clamp:
        return lambda value, param, ctx: _whole(value, info)
    if isinstance(annotation, type) and issubclass(annotation, Path) and routes_to_path(annotation, info):
        path_type = info.path_type or annotation

        def path(value: Any, param: Any, ctx: Any) -> Any:
            if not isinstance(value, path_type):  # Typer would build this Path with pydantic
                value = path_type(_text(value) if isinstance(value, bytes) else value)
            return coerce_cli_path(value, info, path_type=path_type, param=param, ctx=ctx)

        return path
    return None


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class PlainParam(RuntimeParam):
        """Coercion of one parameter of a plain type, or of a list of them."""

        convert: Any = None
        many: bool = False

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                if self.many:
                    items = value if isinstance(value, (list, tuple)) else [value]
                    return [self.convert(item, param, ctx) for item in items]
                return self.convert(value, param, ctx)
            except ValueError as err:
                raise BadParameter(str(err), ctx=ctx, param=param) from None


def runtime_param(descriptor: Any) -> Any:
    """The pydantic-free coercion for a Typer parameter's type descriptor, or None to keep Typer's."""
    if RuntimeParam is None or descriptor.file_annotation is not None:
        return None
    annotation, info = descriptor.annotation, descriptor.parameter_info
    many = get_origin(annotation) is list
    if many:
        (annotation,) = get_args(annotation) or (None,)
    if info.parser is not None or info.formats:
        return None
    convert = _converter(annotation, info)
    if convert is None:
        return None
    return PlainParam(parameter_info=info, annotation=descriptor.annotation, convert=convert, many=many)


def _install(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and getattr(param, "_runtime_param", None) is None:
        plain = runtime_param(descriptor)
        if plain is not None:
            param._runtime_param = plain


def plain_coercion(command: Any) -> Any:
    """``command`` (and the commands of a group, all the way down) with plain coercion on every parameter that
    has a plain type, the -h/--help option click makes on first use included. Returns ``command``."""
    for param in command.params:
        _install(param)
    make_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help(ctx)
        if option is not None:
            _install(option)
        return option

    command.get_help_option = get_help_option
    for sub in (getattr(command, "commands", None) or {}).values():
        plain_coercion(sub)
    return command
