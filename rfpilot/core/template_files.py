"""Templates as files, one per template, so a team can keep its library in git (TOML or YAML).

The document (TOML shown; YAML has the same keys)::

    name = "Update the copier's SMB password"
    slug = "update-copier-smb-password"
    description = "…"
    language = "powershell"
    category = "Printing"
    usage_count = 3
    body = '''
    Set-PrinterSmb -Path {{ share_path }} …'''

    [provenance]
    ticket = "CW #48307"
    engineer = "M. Davis"

    [[parameters]]
    key = "share_path"
    label = "Share path"
    field_type = "text"
    required = true

Importing matches on the slug: a new slug creates a template, a known one updates it, and a file that says what
the template already says changes nothing. Export then import into an empty store gives the same files back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rfpilot.core import render as render_mod
from rfpilot.core import templates as svc
from rfpilot.core.context import Ctx
from rfpilot.db.models import ScriptTemplate
from rfpilot.errors import UsageError
from rfpilot.private import private_dir, write_private

FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


def to_document(tpl: ScriptTemplate) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": tpl.name, "slug": tpl.slug}
    for key in ("description", "language", "category"):
        value = getattr(tpl, key)
        if value:
            doc[key] = value
    doc["usage_count"] = tpl.usage_count
    doc["body"] = tpl.body
    provenance = {k: v for k, v in (("ticket", tpl.source_ticket_ref), ("engineer", tpl.source_engineer_name)) if v}
    if provenance:
        doc["provenance"] = provenance
    doc["parameters"] = [p.as_dict() for p in svc.parameters_of(tpl)]
    return doc


def dumps(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "toml":
        import tomlkit

        out = tomlkit.document()
        for key, value in doc.items():
            if key == "body":
                out[key] = tomlkit.string(value, multiline="\n" in value)
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
        style = "|" if "\n" in value else None
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
        raise UsageError(f"{where}: unknown field(s) {', '.join(unknown)}", hint="fields: " + ", ".join(sorted(known)))
    body = doc.get("body")
    if not isinstance(body, str):
        raise UsageError(f"{where}: body must be text")
    provenance = doc.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise UsageError(f"{where}: provenance must be a table (ticket, engineer)")
    usage = doc.get("usage_count")
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
        category=doc.get("category"), usage_count=usage,
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


async def import_file(ctx: Ctx, path: Path) -> tuple[ScriptTemplate, str]:
    """Create or update the template the file describes. Returns (template, "created"|"updated"|"unchanged")."""
    from rfpilot.core.inputs import read_text_file

    text = read_text_file(path, "template")
    spec = from_document(loads(text, format_of(path), str(path)), str(path)).clean()
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
        usage_count=spec.usage_count if spec.usage_count is not None else current.usage_count,
        source_ticket_ref=spec.source_ticket_ref if spec.source_ticket_ref is not None else current.source_ticket_ref,
        source_engineer_name=(spec.source_engineer_name if spec.source_engineer_name is not None
                              else current.source_engineer_name),
    )
    return to_document(shadow)


def export_template(tpl: ScriptTemplate, directory: Path, fmt: str = "toml") -> Path:
    return write_private(private_dir(directory) / f"{tpl.slug}.{fmt}", dumps(to_document(tpl), fmt))
