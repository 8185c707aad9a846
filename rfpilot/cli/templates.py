"""`templates …` (the script library, drafts and their review) and `fix run` ("I ran this")."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import confirmation, read_text_arg, run
from rfpilot.grammar import count, verb

if TYPE_CHECKING:
    from rfpilot.core.context import Ctx
    from rfpilot.core.view_types import DraftView, ParameterView, TemplateView

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
SET = typer.Option(None, "--set", "-s", help="A parameter value as key=value (repeatable).")
PARAM_FILE = typer.Option(None, "--param-file", help="Parameters as a TOML, YAML or JSON list (see docs/templates.md).")

templates_app = typer.Typer(help="The team's script library: templates, drafts and their review.", no_args_is_help=True)


def register(app: typer.Typer, fix_app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")
    fix_app.command("run")(fix_run)


# --- helpers ------------------------------------------------------------------------------------


def parse_sets(pairs: list[str] | None) -> dict[str, str]:
    from rfpilot.errors import UsageError

    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {pair!r} is not key=value")
        values[key.strip()] = value
    return values


def read_param_file(path: str | None) -> list[ParameterView] | None:
    """A parameter list from TOML (`[[parameters]]`), YAML or JSON; validated by core.library.render."""
    if path is None:
        return None
    import json

    from rfpilot.core.library.render import parse_parameters
    from rfpilot.errors import UsageError

    text = read_text_arg(None, path, "parameters")
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            data: Any = tomllib.loads(text or "")
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text or "")
        else:
            data = json.loads(text or "")
    except Exception as exc:
        raise UsageError(f"cannot read the parameters in {path}: {exc}") from None
    return [p.as_dict() for p in parse_parameters(data if data is not None else [])]


def _provenance(view: dict) -> str:
    return view["provenance"]


# --- the library ----------------------------------------------------------------------------------


@templates_app.command("list")
def templates_list(search: Optional[str] = typer.Option(None, "--search", "-q", help="Only templates matching this."),
                   as_json: bool = JSON) -> None:
    """Templates, most used first, with their provenance."""

    async def go(c: Ctx) -> tuple[list[TemplateView], int]:
        from rfpilot.core.library import templates as svc

        return [svc.template_view(t) for t in await svc.list_templates(c, search)], len(await svc.list_drafts(c))

    rows, pending = run(go)

    def human() -> str:
        if not rows:
            return "no templates" + (" match" if search else " yet (accept a draft, or `rfpilot templates new`)")
        return output.table(["slug", "name", "provenance"], [[r["slug"], r["name"], r["provenance"]] for r in rows],
                            max_last=60)

    output.emit(rows, as_json, human)
    if pending and not as_json:
        output.info(f"{count(pending, 'draft template')} {verb(pending, 'waits')} for review: rfpilot templates review")


@templates_app.command("show")
def templates_show(slug: str = typer.Argument(..., help="Template slug (or id prefix)."), as_json: bool = JSON) -> None:
    """One template: parameters, provenance and body."""

    async def go(c: Ctx) -> TemplateView:
        from rfpilot.core.library import templates as svc

        return svc.template_view(await svc.get_template(c, slug))

    view = run(go)

    def human() -> str:
        lines = [f"{view['name']}  ({view['slug']})", f"  {view['provenance']}"]
        for key in ("language", "category"):
            if view[key]:
                lines.append(f"  {key}: {view[key]}")
        if view["description"]:
            lines += ["", view["description"]]
        lines += ["", "Parameters:"]
        for p in view["parameters"]:
            extra = " · required" if p.get("required") else ""
            extra += f" · options: {', '.join(p['options'])}" if p.get("options") else ""
            extra += f" · default: {p['default']}" if p.get("default") is not None else ""
            lines.append(f"  {p['key']}  {p['label']}  [{p['field_type']}]{extra}")
        if not view["parameters"]:
            lines.append("  (none)")
        return "\n".join(lines + ["", view["body"]])

    output.emit(view, as_json, human)


@templates_app.command("new")
def templates_new(
    name: str = typer.Option(..., "--name", help="The template's name."),
    file: str = typer.Option(..., "--file", help="The script body with {{ key }} placeholders ('-' for stdin)."),
    slug: Optional[str] = typer.Option(None, "--slug", help="Its slug (default: from the name)."),
    description: str = typer.Option("", "--description", help="What it does and when to use it."),
    language: Optional[str] = typer.Option(None, "--language", help="powershell, bash, sh, python, cmd or other."),
    category: Optional[str] = typer.Option(None, "--category", help="A category, e.g. Printing."),
    param_file: Optional[str] = PARAM_FILE,
    as_json: bool = JSON,
) -> None:
    """Add a template to the library."""
    from rfpilot.core.library.render import parse_parameters

    body = read_text_arg(None, file, "script") or ""
    params = parse_parameters(read_param_file(param_file) or [])

    async def go(c: Ctx) -> TemplateView:
        from rfpilot.core.library import templates as svc

        spec = svc.TemplateSpec(name=name, body=body, parameters=params, slug=slug, description=description,
                                language=language, category=category)
        return svc.template_view(await svc.create_template(c, spec, source_engineer=c.engineer))

    view = run(go)
    output.emit(view, as_json, lambda: view["slug"])


@templates_app.command("edit")
def templates_edit(
    slug: str = typer.Argument(..., help="Template slug."),
    name: Optional[str] = typer.Option(None, "--name"),
    new_slug: Optional[str] = typer.Option(None, "--slug", help="A new slug."),
    file: Optional[str] = typer.Option(None, "--file", help="A new body ('-' for stdin)."),
    description: Optional[str] = typer.Option(None, "--description"),
    language: Optional[str] = typer.Option(None, "--language"),
    category: Optional[str] = typer.Option(None, "--category"),
    param_file: Optional[str] = PARAM_FILE,
    editor: bool = typer.Option(False, "--editor", help="Edit the body in $EDITOR."),
    as_json: bool = JSON,
) -> None:
    """Change a template (only what you pass changes)."""
    from rfpilot.core.library.render import parse_parameters

    body = read_text_arg(None, file, "script")
    params = read_param_file(param_file)

    async def go(c):
        from rfpilot.cli.editor import edit_in_editor
        from rfpilot.core.library import templates as svc

        tpl = await svc.get_template(c, slug)
        spec = svc.spec_of(tpl)
        spec.name = name if name is not None else spec.name
        spec.slug = new_slug or spec.slug
        spec.body = body if body is not None else spec.body
        spec.description = description if description is not None else spec.description
        spec.language = language if language is not None else spec.language
        spec.category = category if category is not None else spec.category
        if params is not None:
            spec.parameters = parse_parameters(params)
        if editor:
            edited = edit_in_editor(spec.body, c.settings.get("preview.editor") if c.settings else None)
            # The editor gets the body plus a final newline; saved untouched, the body stays byte for byte.
            spec.body = spec.body if edited == spec.body + "\n" else edited
        return svc.template_view(await svc.update_template(c, tpl, spec))

    view = run(go)
    output.emit(view, as_json, lambda: view["slug"])


@templates_app.command("rm")
def templates_rm(slug: str = typer.Argument(..., help="Template slug."),
                 yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Delete a template (its past runs stay, without the link)."""
    confirm = confirmation(yes, "delete it", f"Delete the template {slug!r}?", "not deleted")

    async def go(c):
        from rfpilot.core.library import templates as svc

        await svc.delete_template(c, await svc.get_template(c, slug), confirm)

    run(go)
    output.info(f"deleted {slug}")


@templates_app.command("export")
def templates_export(
    slugs: Optional[list[str]] = typer.Argument(None, help="Templates to export (default: all)."),
    directory: Path = typer.Option(Path("."), "--dir", "-d", help="Where to write the files."),
    fmt: str = typer.Option("toml", "--format", "-f", help="toml or yaml."),
    as_json: bool = JSON,
) -> None:
    """One file per template (<slug>.toml or .yaml), for keeping the library in git."""
    from rfpilot.core.library.template_files import format_of

    fmt = format_of(Path("x"), fmt)

    async def go(c):
        from rfpilot.core.library import templates as svc
        from rfpilot.core.library.template_files import export_template

        chosen = [await svc.get_template(c, s) for s in slugs] if slugs else await svc.list_templates(c)
        return [export_template(t, directory, fmt) for t in sorted(chosen, key=lambda t: t.slug)]

    paths = [str(path) for path in run(go)]
    output.emit(paths, as_json, lambda: "\n".join(paths))


@templates_app.command("import")
def templates_import(files: list[Path] = typer.Argument(..., help="Template files (.toml, .yaml, .yml)."),
                     as_json: bool = JSON) -> None:
    """Create or update templates from files (matched by slug; all or nothing; importing twice changes nothing)."""

    async def go(c):
        from rfpilot.core.library.template_files import import_files

        done = await import_files(c, files)
        return [{"file": str(path), "slug": tpl.slug, "result": what} for path, tpl, what in done]

    results = run(go)
    output.emit(results, as_json, lambda: "\n".join(f"{r['result']:<9} {r['slug']}  ({r['file']})" for r in results))


@templates_app.command("render")
def templates_render(
    slug: str = typer.Argument(..., help="Template slug."),
    session: Optional[str] = typer.Option(None, "--session", help="Fill values from this session's fix and facts."),
    sets: Optional[list[str]] = SET,
    as_json: bool = JSON,
) -> None:
    """Print the script with its parameters filled (nothing is recorded; see `fix run`)."""
    given = parse_sets(sets)

    async def go(c):
        return await _render(c, slug, session, given)

    done = run(go)
    data = {"template": done.template.slug, "script": done.script, "values": done.shown_values,
            "sources": done.sources}
    output.emit(data, as_json, lambda: data["script"])
    if not as_json:
        for key, source in data["sources"].items():
            output.info(f"{key}: {source}")


async def _render(c, slug: str | None, session_ref: str | None, given: dict[str, str]):
    from rfpilot.core.library import templates as svc
    from rfpilot.core.session.sessions import get_session

    row = await get_session(c, session_ref) if session_ref else None
    return await svc.render_for(c, slug, row, given)


def fix_run(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    sets: Optional[list[str]] = SET,
    template: Optional[str] = typer.Option(None, "--template", help="The template (default: the one the fix names)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    as_json: bool = JSON,
) -> None:
    """"I ran this": render the fix's template with its values, record the run, start verifying the fix.

    Values come from --set, then the fix's suggested values, then the session's facts ("from session").
    The run is stored with password values redacted.
    """
    given = parse_sets(sets)
    confirm = confirmation(yes, "record the run", "Record that you ran this script?", "not recorded")

    async def go(c):
        from rfpilot.core.library import templates as svc

        done = await _render(c, template, session, given)
        run_row = await svc.record_run(c, done.session, template=done.template, values=done.values, fix=done.fix,
                                       confirm=confirm)
        return {"run_id": run_row.id, "template": done.template.slug, "values": done.shown_values,
                "sources": done.sources, "script": run_row.script}

    data = run(go)
    output.emit(data, as_json, lambda: data["script"])
    if not as_json:
        output.info(f"recorded run {data['run_id'][:8]} of {data['template']}; the fix is now verifying")


# --- drafts and review --------------------------------------------------------------------------------


@templates_app.command("drafts")
def templates_drafts(session: Optional[str] = typer.Option(None, "--session"),
                     all_drafts: bool = typer.Option(False, "--all", help="Include accepted and rejected drafts."),
                     as_json: bool = JSON) -> None:
    """Draft templates (pending unless --all)."""

    async def go(c: Ctx) -> list[DraftView]:
        from rfpilot.core.library import templates as svc
        from rfpilot.core.session.sessions import get_session

        row = await get_session(c, session) if session else None
        return [await svc.draft_view(c, d) for d in await svc.list_drafts(c, session=row, pending_only=not all_drafts)]

    rows = run(go)
    output.emit(rows, as_json, lambda: output.table(
        ["id", "status", "name", "parameters", "provenance"],
        [[r["id"][:8], r["status"], r["proposed_name"], len(r["parameters"]), r["provenance"]] for r in rows])
        if rows else "no draft templates")


@templates_app.command("accept")
def templates_accept(
    draft: str = typer.Argument(..., help="Draft id or prefix."),
    name: Optional[str] = typer.Option(None, "--name", help="The template's name (default: the proposed one)."),
    slug: Optional[str] = typer.Option(None, "--slug"),
    description: str = typer.Option("", "--description"),
    category: Optional[str] = typer.Option(None, "--category"),
    param_file: Optional[str] = PARAM_FILE,
    body_file: Optional[str] = typer.Option(None, "--body-file", help="Use this body instead ('-' for stdin)."),
    as_json: bool = JSON,
) -> None:
    """Save a pending draft as a team template."""
    params = read_param_file(param_file)
    body = read_text_arg(None, body_file, "body")

    async def go(c: Ctx) -> TemplateView:
        from rfpilot.core.library import templates as svc

        tpl = await svc.accept_draft(c, await svc.get_draft(c, draft), name=name, slug=slug, description=description,
                                     category=category, parameters=params, body=body)
        return svc.template_view(tpl)

    view = run(go)
    output.emit(view, as_json, lambda: view["slug"])
    if not as_json:
        output.info(f"saved {view['name']!r} as {view['slug']} ({view['provenance']})")


@templates_app.command("reject")
def templates_reject(draft: str = typer.Argument(..., help="Draft id or prefix.")) -> None:
    """Reject a pending draft (it is kept for the record)."""

    async def go(c):
        from rfpilot.core.library import templates as svc

        return await svc.reject_draft(c, await svc.get_draft(c, draft))

    row = run(go)
    output.info(f"rejected draft {row.id[:8]}")


@templates_app.command("prompt")
def templates_prompt(state: str = typer.Argument(..., help="on or off")) -> None:
    """Whether resolving offers the session's draft templates (for the whole team)."""
    from rfpilot.errors import UsageError

    if state not in ("on", "off"):
        raise UsageError("say on or off")

    async def go(c):
        from rfpilot.core.library import templates as svc

        await svc.set_templatize_prompt(c, state == "on")

    run(go)
    output.info("resolving now offers draft templates" if state == "on" else
                "resolving no longer offers draft templates (`rfpilot templates review` still lists them)")


@templates_app.command("review")
def templates_review(session: Optional[str] = typer.Option(None, "--session", help="Only this session's drafts.")) -> None:
    """Walk the pending drafts: accept (name, slug, description, category, parameters, body), reject or skip."""
    from rfpilot.errors import UsageError

    async def ids(c):
        from rfpilot.core.library import templates as svc
        from rfpilot.core.session.sessions import get_session

        row = await get_session(c, session) if session else None
        return [d.id for d in await svc.list_drafts(c, session=row)]

    pending = run(ids)  # first: a bad --session is named as such, whatever the terminal
    if not pending:
        output.info("no draft templates wait for review")
        return
    if not output.stdin_is_interactive():
        raise UsageError("review asks questions and needs a terminal",
                         hint="use `rfpilot templates drafts`, then `rfpilot templates accept DRAFT --name …` or "
                              "`rfpilot templates reject DRAFT`")
    review_drafts(pending)


def review_drafts(draft_ids: list[str], headline: str | None = None) -> None:
    """Ask about each draft in turn (also used right after `resolve`)."""
    for number, draft_id in enumerate(draft_ids, 1):
        if not _review_one(draft_id, f"{number} of {len(draft_ids)}", headline):
            break


def _review_one(draft_id: str, position: str, headline: str | None) -> bool:
    """One draft; False when the engineer asked to stop (quit or never again)."""

    async def load(c):
        from rfpilot.core.library import templates as svc

        return await svc.draft_view(c, await svc.get_draft(c, draft_id))

    view = run(load)
    if headline:
        output.info(headline)
    output.info(f"\nDraft template {position} · {view['proposed_name']} · {view['provenance']}")
    if view["warning"]:
        output.info(f"  ({view['reason'] or 'offline'}) {view['warning']}")
    output.data(view["body"])
    for n, p in enumerate(view["parameters"], 1):
        output.info(f"  {n}. {p['key']} — {p['label']} [{p['field_type']}] ({p.get('inferred_from') or 'ai best-guess'})")
    try:
        answer = output.ask("[a]ccept as a team template · [r]eject · [s]kip · [n]ever ask again · [q]uit: ", "s").lower()
    except EOFError:
        return False
    if answer.startswith("q"):
        return False
    if answer.startswith("n"):
        async def off(c):
            from rfpilot.core.library import templates as svc

            await svc.set_templatize_prompt(c, False)

        run(off)
        output.info("resolving will not offer drafts again (`rfpilot templates prompt on` undoes it)")
        return False
    if answer.startswith("r"):
        async def reject(c):
            from rfpilot.core.library import templates as svc

            await svc.reject_draft(c, await svc.get_draft(c, draft_id))

        run(reject)
        output.info("rejected")
        return True
    if not answer.startswith("a"):
        output.info("skipped (still pending)")
        return True
    name = output.ask(f"Name [{view['proposed_name']}]: ", view["proposed_name"])
    from rfpilot.core.library.templates import slugify

    slug = output.ask(f"Slug [{slugify(name)}]: ", slugify(name))
    description = output.ask("Description (optional): ", "")
    category = output.ask("Category (optional): ", "") or None
    params = view["parameters"]
    if params:
        drop = output.ask("Remove parameters (their numbers, comma-separated; blank keeps all): ", "")
        gone = {int(x) for x in drop.replace(" ", "").split(",") if x.isdigit()}
        params = [p for n, p in enumerate(params, 1) if n not in gone]
    body = view["body"]
    if output.confirm("Edit the body first?"):
        from rfpilot.cli.editor import edit_in_editor

        body = edit_in_editor(body, None)

    async def accept(c):
        from rfpilot.core.library import templates as svc

        tpl = await svc.accept_draft(c, await svc.get_draft(c, draft_id), name=name, slug=slug, description=description,
                                     category=category, parameters=params, body=body)
        return svc.template_view(tpl)

    from rfpilot.errors import RfpilotError

    try:
        saved = run(accept)
    except RfpilotError as err:
        output.info(f"not saved: {err.message}" + (f" ({err.hint})" if err.hint else ""))
        return True
    output.info(f"saved {saved['name']!r} as {saved['slug']} ({saved['provenance']})")
    return True
