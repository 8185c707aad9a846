'''Templates as files, one per template, so a team can keep its library in git (TOML or YAML).

The document (TOML shown; YAML has the same keys)::

    name = "Update the copier's SMB password"
    slug = "update-copier-smb-password"
    description = "…"
    language = "powershell"
    category = "Printing"
    body = """
    Set-PrinterSmb -Path {{ share_path }} …
    """

    [provenance]
    ticket = "CW #48307"
    engineer = "M. Davis"

    [[parameters]]
    key = "share_path"
    label = "Share path"
    field_type = "text"
    required = true

Importing matches on the slug: a new slug creates a template, a known one updates it, and a file that says what
the template already says changes nothing. A batch of files is imported all or nothing.

The body is kept byte for byte: CRLF, a lone CR, a trailing newline or none, tabs, quotes, backslashes, any
Unicode. Export, import into an empty store, export again gives byte-identical files, in TOML and in YAML.

Use counts are the store's: the file does not carry them; ``usage_count`` in an older export is accepted and
ignored (importing never changes an existing template's count; a new template starts at 0).
'''

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rfpilot.core.library import render as render_mod
from rfpilot.core.library import templates as svc
from rfpilot.core.context import Ctx
from rfpilot.core.session.permissions import team_action
from rfpilot.db.models import ScriptTemplate
from rfpilot.errors import ConflictError, UsageError
from rfpilot.grammar import plural
from rfpilot.private import private_dir, write_private

FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


def to_document(tpl: ScriptTemplate) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": tpl.name, "slug": tpl.slug}
    for key in ("description", "language", "category"):
        value = getattr(tpl, key)
        if value:
            doc[key] = value
    doc["body"] = tpl.body
    provenance = {k: v for k, v in (("ticket", tpl.source_ticket_ref), ("engineer", tpl.source_engineer_name)) if v}
    if provenance:
        doc["provenance"] = provenance
    doc["parameters"] = [p.as_dict() for p in svc.parameters_of(tpl)]
    return doc


# TOML writes these raw in no string; in the body's multi-line basic string they are escaped. C1 (U+0080–U+009F)
# and DEL are legal raw in TOML but never written raw (a file read on a terminal stays inert).
_TOML_ESCAPE = re.compile(r'[\x00-\x08\x0b-\x1f\x7f-\x9f\\]|"+')
_TOML_SHORT = {"\\": "\\\\", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _toml_body(value: str):
    """``value`` as a TOML multi-line basic string that reads back as exactly ``value``.

    tomlkit writes a CR raw inside \"\"\"…\"\"\", where a reader takes CRLF for a newline (LF): the CR would be lost.
    Here every character a raw multi-line string cannot carry is escaped: controls (CR as ``\\r``), backslashes,
    every third quote of a run (so no ``\"\"\"`` appears) and every quote at the very end (before the closing
    delimiter). The first newline after the opening delimiter is dropped by readers, so one is always written.
    """
    from tomlkit.items import String, StringType, Trivia

    end = len(value)

    def escape(match: re.Match[str]) -> str:
        text = match.group()
        if text[0] != '"':
            return _TOML_SHORT.get(text) or f"\\u{ord(text):04x}"
        if match.end() == end:
            return '\\"' * len(text)
        return "".join('\\"' if i % 3 == 2 else '"' for i in range(len(text)))

    return String(StringType.MLB, value, "\n" + _TOML_ESCAPE.sub(escape, value), Trivia())


# Characters YAML reads as line breaks or will not keep in a block scalar: a body holding one is written
# double-quoted, where each is an escape.
_YAML_NOT_BLOCK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


def dumps(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "toml":
        import tomlkit

        out = tomlkit.document()
        for key, value in doc.items():
            if key == "body":
                out[key] = _toml_body(value) if ("\n" in value or "\r" in value) else tomlkit.string(value)
            elif key == "parameters":
                array = tomlkit.aot()
                for param in value:
                    table = tomlkit.table()
                    for k, v in param.items():
                        table[k] = v
                    array.append(table)
                out[key] = array
            elif isinstance(value, dict):
                table = tomlkit.table()
                for k, v in value.items():
                    table[k] = v
                out[key] = table
            else:
                out[key] = value
        # tomlkit leaves C1 (U+0080–U+009F) raw; every string it writes is a basic string, where a \uXXXX escape
        # reads back as the same character: the file round-trips exactly and holds no raw control.
        return re.sub(r"[\x80-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", tomlkit.dumps(out))
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str):
        style = None
        if _YAML_NOT_BLOCK.search(value):
            style = '"'
        elif "\n" in value:
            style = "|"  # PyYAML falls back to a quoted style itself when a block cannot hold the text exactly
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def loads(text: str, fmt: str, where: str = "the file") -> dict[str, Any]:
    try:
        if fmt == "toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError: both say where
        raise UsageError(f"{where} is not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} does not describe a template (expected a table of fields)")
    return data


def from_document(doc: dict[str, Any], where: str = "the file") -> svc.TemplateSpec:
    known = {"name", "slug", "description", "language", "category", "usage_count", "body", "provenance", "parameters"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise UsageError(f"{where}: unknown {plural('field', len(unknown))} {', '.join(unknown)}",
                         hint="fields: " + ", ".join(sorted(known)))
    body = doc.get("body")
    if not isinstance(body, str):
        raise UsageError(f"{where}: body must be text")
    provenance = doc.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise UsageError(f"{where}: provenance must be a table (ticket, engineer)")
    usage = doc.get("usage_count")  # older exports carried it: accepted, never applied (counts are the store's)
    if usage is not None and (not isinstance(usage, int) or isinstance(usage, bool)):
        raise UsageError(f"{where}: usage_count must be a whole number")
    try:
        params = render_mod.parse_parameters(doc.get("parameters") or [])
    except UsageError as err:
        raise UsageError(f"{where}: {err.message}", hint=err.hint) from None
    return svc.TemplateSpec(
        name=str(doc.get("name") or ""), body=body, parameters=params,
        slug=str(doc["slug"]) if doc.get("slug") else svc.slugify(str(doc.get("name") or "")),
        description=str(doc.get("description") or ""), language=doc.get("language"),
        category=doc.get("category"),
        source_ticket_ref=provenance.get("ticket"), source_engineer_name=provenance.get("engineer"),
    )


def format_of(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in ("toml", "yaml"):
            raise UsageError(f"unknown format {fmt!r}", hint="toml or yaml")
        return fmt
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise UsageError(f"{path}: cannot tell the format from the extension", hint="use .toml, .yaml or .yml")
    return found


def read_file(path: Path) -> svc.TemplateSpec:
    """The template a file describes, checked (a usage error naming the file and what is wrong); nothing stored."""
    from rfpilot.core.inputs import read_text_file

    where = str(path)
    text = read_text_file(path, "template")
    spec = from_document(loads(text, format_of(path), where), where)
    try:
        return spec.clean()
    except UsageError as err:
        raise UsageError(f"{where}: {err.message}", hint=err.hint) from None


def _refused(err: UsageError | ConflictError, path: Path) -> UsageError | ConflictError:
    """``err`` naming its file and saying that the batch stored nothing."""
    message = err.message if str(path) in err.message else f"{path}: {err.message}"
    if "nothing was" not in message:
        message += "; nothing was imported"
    return type(err)(message, hint=err.hint)


@team_action("import templates into the team's library")
async def import_files(ctx: Ctx, paths: list[Path]) -> list[tuple[Path, ScriptTemplate, str]]:
    """Create or update the templates the files describe, all or nothing: every file is read and checked first,
    then all are stored in one transaction; any failure names its file and stores nothing.
    Returns (file, template, "created"|"updated"|"unchanged") per file, in order."""
    specs: list[tuple[Path, svc.TemplateSpec]] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            spec = read_file(path)
        except UsageError as err:
            raise _refused(err, path) from None
        if spec.slug and spec.slug in seen:
            raise UsageError(f"{seen[spec.slug]} and {path} both describe the template {spec.slug!r}; "
                             "nothing was imported", hint="import only one of them")
        seen[spec.slug or ""] = path
        specs.append((path, spec))
    results = []
    async with ctx.tx():
        for path, spec in specs:
            try:
                tpl, what = await _import_spec(ctx, spec)
            except (UsageError, ConflictError) as err:  # the store refused this file: the batch is rolled back
                raise _refused(err, path) from None
            results.append((path, tpl, what))
    return results


async def import_file(ctx: Ctx, path: Path) -> tuple[ScriptTemplate, str]:
    """One file: ``import_files`` with a batch of one."""
    [(_, tpl, what)] = await import_files(ctx, [path])
    return tpl, what


async def _import_spec(ctx: Ctx, spec: svc.TemplateSpec) -> tuple[ScriptTemplate, str]:
    existing = await svc.find_by_slug(ctx, spec.slug)
    if existing is None:
        return await svc.create_template(ctx, spec), "created"
    if to_document(existing) == _document_of_spec(spec, existing):
        return existing, "unchanged"
    return await svc.update_template(ctx, existing, spec), "updated"


def _document_of_spec(spec: svc.TemplateSpec, current: ScriptTemplate) -> dict[str, Any]:
    """What ``to_document`` would say once ``spec`` is applied to ``current``."""
    shadow = ScriptTemplate(
        name=spec.name, slug=spec.slug or current.slug, description=spec.description, language=spec.language,
        category=spec.category, body=spec.body, parameters=render_mod.schema(spec.parameters),
        source_ticket_ref=spec.source_ticket_ref if spec.source_ticket_ref is not None else current.source_ticket_ref,
        source_engineer_name=(spec.source_engineer_name if spec.source_engineer_name is not None
                              else current.source_engineer_name),
    )
    return to_document(shadow)


def export_template(tpl: ScriptTemplate, directory: Path, fmt: str = "toml") -> Path:
    return write_private(private_dir(directory) / f"{tpl.slug}.{fmt}", dumps(to_document(tpl), fmt))
