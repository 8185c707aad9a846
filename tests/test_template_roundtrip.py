"""Templates and scripts are kept byte for byte (SPEC §11, issue 13) — on both stores.

Any body (CRLF, a lone CR, a trailing newline or none, braces, quotes, backslashes, triple quotes, tabs, any
Unicode) survives import → export → import → export with byte-identical files, in TOML and in YAML; a script
given to `fix suggest --script` is the script stored, shown and run. A batch import is all or nothing, a password
parameter with a default is refused, and use counts are the store's, never the file's.

RFPILOT_STRESS=N runs N times the hypothesis examples (the default is small: CI has two cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfpilot.core.library import templates
from rfpilot.core.library.render import KEY, placeholders
from rfpilot.core.library.template_files import dumps, export_template, import_file, import_files, loads
from rfpilot.errors import UsageError

STRESS = max(1, int(os.environ.get("RFPILOT_STRESS", "1") or 1))
HYPOTHESIS = settings(max_examples=15 * STRESS, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.filter_too_much])

# What a script can hold that a file format could lose: line endings of every kind, what TOML or YAML would
# read as syntax, controls a terminal must not get raw, characters outside the BMP. (NUL and lone surrogates are
# not text rfpilot accepts from anyone: tests/test_hostile_input.py.)
TRICKY = ["\r\n", "\r", "\n", "\n\n", '"', '""', '"""', '""""', "'''", "'", "\\", "\\\\", "\\n", "\\u0041", "\t",
          "{{", "}}", "{ }", "@{ a = 1 }", "${env:X}", "{{ host }}", "{{host_2}}", " ", "  ", "#", "- ", ": ",
          "---", "...", "|", ">", "\x7f", "\x1b[2J", "\x85", "\x9b", "\u2028", "\u2029", "\ufeff", "\x0b", "\x0c",
          "é", "ß", "中文", "\U0001f600", "\U00010348", "$true", "`", "%", "[x]", "[[p]]", "key = 1", "&a", "*a", "!"]
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
BODIES = (st.lists(st.one_of(st.sampled_from(TRICKY), st.text(CHARS, max_size=6)), max_size=25)
          .map("".join)
          .filter(lambda body: body.strip() and all(KEY.match(k) for k in placeholders(body))))
FORMATS = ("toml", "yaml")


def _document(body: str, slug: str) -> dict:
    """A template file's document: every placeholder the body uses is declared (else the body is refused)."""
    return {"name": f"Round trip {slug}", "slug": slug, "body": body,
            "parameters": [{"key": k, "label": k.replace("_", " ").strip() or k} for k in placeholders(body)]}


@pytest.mark.parametrize("fmt", FORMATS)
@HYPOTHESIS
@given(body=BODIES)
def test_the_writer_reads_back_every_body(fmt: str, body: str) -> None:
    """No store: what the file writer writes, the reader reads back exactly; and the file holds no raw control."""
    text = dumps(_document(body, "x"), fmt)
    assert loads(text, fmt)["body"] == body
    assert not any(c in text for c in "\x1b\x7f\x85\x9b\r\x0b\x0c")


TEXTS = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(CHARS, max_size=6)), max_size=10).map("".join)


@HYPOTHESIS
@given(body=BODIES, text=st.lists(TEXTS, min_size=8, max_size=8))
def test_the_writer_reads_back_every_field(body: str, text: list[str]) -> None:
    """Not only the body: names, descriptions, provenance, labels, options, defaults and boolean values too."""
    doc = {"name": "n" + text[0], "slug": "s", "description": text[1], "category": text[2], "body": body,
           "provenance": {"ticket": text[3], "engineer": text[4]},
           "parameters": [{"key": "k", "label": text[5], "field_type": "select", "required": True,
                           "options": [text[6], text[7]], "default": text[6], "description": text[1]},
                          {"key": "b", "label": text[5], "field_type": "boolean", "required": False,
                           "true_value": text[7], "false_value": text[0]}]}
    for fmt in FORMATS:
        written = dumps(doc, fmt)
        assert loads(written, fmt) == doc
        assert not any(c in written for c in "\x1b\x7f\x85\x9b\r\x0b\x0c")


@pytest.mark.parametrize("fmt", FORMATS)
@HYPOTHESIS
@given(body=BODIES)
async def test_any_body_survives_import_export_import_export(ctx, tmp_path: Path, fmt: str, body: str) -> None:
    slug = f"rt-{fmt}-{abs(hash((body, fmt))) % 10**12}"
    where = tmp_path / slug
    first = where / f"given.{fmt}"
    first.parent.mkdir(parents=True, exist_ok=True)
    first.write_text(dumps(_document(body, slug), fmt), encoding="utf-8", newline="")
    existing = await templates.find_by_slug(ctx, slug)
    if existing is not None:  # hypothesis may replay a body
        await templates.delete_template(ctx, existing)

    tpl, what = await import_file(ctx, first)
    assert what == "created"
    await ctx.db.refresh(tpl)  # what the store holds, not the object in memory
    assert tpl.body == body
    exported = export_template(tpl, where / "one", fmt)
    await templates.delete_template(ctx, tpl)  # into an empty store
    tpl, what = await import_file(ctx, exported)
    assert what == "created"
    await ctx.db.refresh(tpl)
    assert tpl.body == body
    again = export_template(tpl, where / "two", fmt)
    assert again.read_bytes() == exported.read_bytes()
    assert (await import_file(ctx, again))[1] == "unchanged"


CASES = {
    "crlf": "Get-Service Spooler\r\nRestart-Service Spooler\r\n",
    "crlf-no-final": "a\r\nb",
    "cr": "line one\rline two\r",
    "lf-final": "echo hi\n",
    "lf-finals": "echo hi\n\n\n",
    "no-final": "echo hi",
    "leading-newline": "\n\necho hi",
    "leading-space": "  indented\n\tand tabbed\n",
    "quotes": 'Write-Host "a""b""""" and \'\'\' and """ "',
    "backslashes": "\\\\fs01\\scans\\ \\n \\",
    "braces": "@{ Name = '{{ name }}' } ${env:X} {{ name }}",
    "unicode": "é ß 中文 \U0001f600 \u2028 \x85 end",
}


@pytest.mark.parametrize("fmt", FORMATS)
async def test_hand_picked_bodies_are_kept_byte_for_byte(ctx, tmp_path: Path, fmt: str) -> None:
    """The cases of the issue, each named (the property test's examples are random)."""
    for name, body in CASES.items():
        path = tmp_path / f"{name}.{fmt}"
        path.write_text(dumps(_document(body, name), fmt), encoding="utf-8", newline="")
        tpl, _ = await import_file(ctx, path)
        await ctx.db.refresh(tpl)
        assert tpl.body == body, name
        out = export_template(tpl, tmp_path / "out", fmt)
        assert loads(out.read_bytes().decode("utf-8"), fmt)["body"] == body, name


async def test_files_saved_with_windows_line_endings(ctx, tmp_path: Path) -> None:
    """A file saved with CRLF line endings reads as its format says (a raw line break in a TOML string is a
    newline); a body's CRs written as escapes are kept; the last newline is kept either way."""
    path = tmp_path / "win.toml"
    path.write_bytes(b'name = "Win"\r\nslug = "win"\r\nbody = """\r\nGet-Service\r\nRestart-Service Spooler\r\n"""\r\n')
    tpl, _ = await import_file(ctx, path)
    await ctx.db.refresh(tpl)
    assert tpl.body == "Get-Service\nRestart-Service Spooler\n"
    path = tmp_path / "win.yaml"
    path.write_bytes(b'name: Win\r\nslug: win-yaml\r\nbody: "Get-Service\\r\\nRestart-Service Spooler\\r\\n"\r\n')
    tpl, _ = await import_file(ctx, path)
    await ctx.db.refresh(tpl)
    assert tpl.body == "Get-Service\r\nRestart-Service Spooler\r\n"


@pytest.mark.parametrize("body", ["", "   ", "\r\n\r\n", "\n"])
async def test_an_empty_body_is_refused_naming_the_file(ctx, tmp_path: Path, body: str) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(dumps(_document(body, "empty"), "toml"), encoding="utf-8", newline="")
    with pytest.raises(UsageError, match="empty.toml.*body is empty"):
        await import_file(ctx, path)
    assert await templates.find_by_slug(ctx, "empty") is None


# --- a batch is all or nothing ----------------------------------------------------------------------


def _write(path: Path, doc: dict, fmt: str = "toml") -> Path:
    path.write_text(dumps(doc, fmt), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", ["syntax", "password-default", "unknown-placeholder", "long-ticket", "missing"])
async def test_a_batch_with_one_bad_file_imports_nothing(ctx, tmp_path: Path, bad: str) -> None:
    kept = await templates.create_template(ctx, templates.TemplateSpec(name="Known", body="old body", slug="known"))
    good = _write(tmp_path / "a-new.toml", _document("echo {{ host }}\n", "a-new"))
    update = _write(tmp_path / "known.toml", _document("new body\r\n", "known"))
    broken = tmp_path / "z-bad.toml"
    if bad == "syntax":
        broken.write_text('name = "Bad"\nbody = """never closed\n', encoding="utf-8")
    elif bad == "password-default":
        doc = _document("net use {{ pw }}", "z-bad")
        doc["parameters"] = [{"key": "pw", "label": "Password", "field_type": "password", "default": "hunter2"}]
        _write(broken, doc)
    elif bad == "unknown-placeholder":
        _write(broken, {"name": "Bad", "slug": "z-bad", "body": "echo {{ nobody }}"})
    elif bad == "long-ticket":  # longer than its column: refused before the store sees it, naming the file
        _write(broken, {"name": "Bad", "slug": "z-bad", "body": "echo", "provenance": {"ticket": "CW #" + "9" * 70}})
    with pytest.raises(UsageError) as caught:
        await import_files(ctx, [good, update, broken])
    assert str(broken) in caught.value.message and "nothing was" in caught.value.message
    assert await templates.find_by_slug(ctx, "a-new") is None
    await ctx.db.refresh(kept)
    assert kept.body == "old body"
    # The same files without the bad one go in together.
    assert [w for _, _, w in await import_files(ctx, [good, update])] == ["created", "updated"]


async def test_two_files_with_one_slug_import_nothing(ctx, tmp_path: Path) -> None:
    one = _write(tmp_path / "one.toml", _document("echo one", "same"))
    two = _write(tmp_path / "two.yaml", _document("echo two", "same"), "yaml")
    with pytest.raises(UsageError, match="one.toml and .*two.yaml both describe the template 'same'"):
        await import_files(ctx, [one, two])
    assert await templates.find_by_slug(ctx, "same") is None


async def test_a_file_the_store_refuses_rolls_back_the_files_before_it(ctx, tmp_path: Path, monkeypatch) -> None:
    """Checks pass for every file, then the store refuses the third: the two stored before it are rolled back
    (each create/update runs inside the batch's one transaction, not in its own)."""
    from rfpilot.core.library import template_files
    from rfpilot.errors import ConflictError

    kept = await templates.create_template(ctx, templates.TemplateSpec(name="Known", body="old body", slug="known"))
    files = [_write(tmp_path / "a.toml", _document("echo a", "a")),
             _write(tmp_path / "known.toml", _document("new body", "known")),
             _write(tmp_path / "c.toml", _document("echo c", "c"))]
    real = template_files._import_spec

    async def refusing(ctx, spec):
        if spec.slug == "c":
            raise ConflictError("the store refused it")
        return await real(ctx, spec)

    monkeypatch.setattr(template_files, "_import_spec", refusing)
    with pytest.raises(ConflictError, match=r"c\.toml: the store refused it; nothing was imported"):
        await import_files(ctx, files)
    assert await templates.find_by_slug(ctx, "a") is None
    await ctx.db.refresh(kept)
    assert kept.body == "old body"


def test_cli_batch_import_exits_1_and_stores_nothing(cli, tmp_path: Path) -> None:
    good = _write(tmp_path / "good.toml", _document("echo good\n", "good"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    code, out, err = cli("templates", "import", str(good), str(broken))
    assert code == 1 and out == ""
    assert "broken.yaml" in err and "not valid YAML" in err and "nothing was imported" in err
    code, out, _ = cli("templates", "list", "--json")
    assert code == 0 and json.loads(out) == []


# --- password parameters -------------------------------------------------------------------------------


async def test_a_password_default_is_refused_at_create_and_import(ctx, tmp_path: Path) -> None:
    from rfpilot.core.library.render import Parameter, parse_parameters

    with pytest.raises(UsageError, match="'pw' is a password with a default"):
        parse_parameters([{"key": "pw", "field_type": "password", "default": "hunter2"}])
    spec = templates.TemplateSpec(name="Map", body="net use {{ pw }}",
                                  parameters=[Parameter("pw", "Password", "password", default="hunter2")])
    with pytest.raises(UsageError, match="password with a default"):
        await templates.create_template(ctx, spec)
    for fmt in FORMATS:
        doc = _document("net use {{ pw }}", f"map-{fmt}")
        doc["parameters"] = [{"key": "pw", "label": "Password", "field_type": "password", "default": "hunter2"}]
        path = _write(tmp_path / f"map.{fmt}", doc, fmt)
        with pytest.raises(UsageError, match=f"map.{fmt}: parameter 'pw' is a password with a default"):
            await import_file(ctx, path)
    assert await templates.list_templates(ctx) == []
    # Without the default it is a password parameter like any other.
    ok = parse_parameters([{"key": "pw", "field_type": "password"}])
    assert ok[0].secret and ok[0].default is None


def test_cli_new_refuses_a_password_default(cli, tmp_path: Path) -> None:
    body = tmp_path / "b.ps1"
    body.write_text("net use {{ pw }}", encoding="utf-8")
    params = tmp_path / "p.toml"
    params.write_text('[[parameters]]\nkey = "pw"\nfield_type = "password"\ndefault = "hunter2"\n', encoding="utf-8")
    code, _, err = cli("templates", "new", "--name", "Map", "--file", str(body), "--param-file", str(params))
    assert code == 1 and "password with a default" in err and "hunter2" not in err


# --- use counts are the store's ------------------------------------------------------------------------


async def test_importing_never_changes_use_counts(ctx, tmp_path: Path) -> None:
    tpl = await templates.create_template(ctx, templates.TemplateSpec(name="Used", body="echo used", slug="used"))
    async with ctx.tx():
        tpl.usage_count = 3
    for fmt, count_in_file, body in (("toml", 99, "echo used"), ("yaml", 0, "echo changed\r\n")):
        older = _document(body, "used")
        older["usage_count"] = count_in_file  # an export from before counts left the file
        path = _write(tmp_path / f"used.{fmt}", older, fmt)
        await import_file(ctx, path)
        await ctx.db.refresh(tpl)
        assert tpl.usage_count == 3 and tpl.body == body
    fresh = _document("echo fresh", "fresh")
    fresh["usage_count"] = 12
    new, what = await import_file(ctx, _write(tmp_path / "fresh.toml", fresh))
    assert what == "created" and new.usage_count == 0
    # An older file that differs from the library only in its count changes nothing.
    assert (await import_file(ctx, _write(tmp_path / "again.toml", {**fresh, "usage_count": 40})))[1] == "unchanged"
    assert "usage_count" not in export_template(tpl, tmp_path / "out").read_text()


# --- scripts given to `fix suggest --script` -------------------------------------------------------------

# A BOM opening a file is the file's encoding mark, not text: it is dropped (core.inputs); anywhere else it stays.
SCRIPTS = (st.lists(st.one_of(st.sampled_from(TRICKY), st.text(CHARS, max_size=6)), max_size=20)
           .map("".join).filter(lambda s: s.strip() and not s.startswith("\ufeff")))


def _script_through_the_cli(cli, tmp_path: Path, script: str, name: str) -> None:
    sid = cli("new", "Spooler keeps stopping")[1].strip()
    path = tmp_path / f"{name}.ps1"
    path.write_bytes(script.encode("utf-8"))
    code, out, err = cli("fix", "suggest", sid, "Restart the spooler", "-c", "70", "--script", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["ai_drafted_script"] == script
    code, out, _ = cli("fix", "show", sid, "--json")
    assert json.loads(out)["fix"]["ai_drafted_script"] == script
    code, out, err = cli("fix", "decide", sid, "one_off", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["rendered_script"] == script and done["ai_drafted_script"] == script
    # Given again when deciding (the script as it ran): kept as given, too.
    code, out, err = cli("fix", "decide", sid, "draft_template", "--script", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["rendered_script"] == script
    code, out, _ = cli("templates", "drafts", "--session", sid, "--json")
    assert code == 0 and script in [d["body"] for d in json.loads(out)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_fix_suggest_keeps_the_script_byte_for_byte(cli, tmp_path: Path, name: str) -> None:
    _script_through_the_cli(cli, tmp_path, CASES[name], name)


@HYPOTHESIS
@given(script=SCRIPTS)
def test_any_script_survives_fix_suggest(cli, tmp_path: Path, script: str) -> None:
    _script_through_the_cli(cli, tmp_path, script, "any")


def test_templates_new_keeps_a_crlf_script(cli, tmp_path: Path) -> None:
    """The issue's case: a CRLF script lost its last newline and kept a stray CR."""
    body = tmp_path / "restart.ps1"
    body.write_bytes(b"Stop-Service {{ name }}\r\nStart-Service {{ name }}\r\n")
    params = tmp_path / "p.toml"
    params.write_text('[[parameters]]\nkey = "name"\nlabel = "Service"\n', encoding="utf-8")
    code, _, err = cli("templates", "new", "--name", "Restart", "--file", str(body), "--param-file", str(params))
    assert code == 0, err
    code, out, _ = cli("templates", "show", "restart", "--json")
    assert json.loads(out)["body"] == "Stop-Service {{ name }}\r\nStart-Service {{ name }}\r\n"
    code, out, _ = cli("templates", "render", "restart", "--set", "name=Spooler", "--json")
    assert json.loads(out)["script"] == "Stop-Service Spooler\r\nStart-Service Spooler\r\n"


def test_templates_edit_in_an_editor_that_saves_it_unchanged_keeps_the_body(cli, tmp_path: Path, monkeypatch) -> None:
    body = tmp_path / "b.ps1"
    body.write_bytes(b"Stop-Service Spooler\r\nStart-Service Spooler")
    assert cli("templates", "new", "--name", "Bounce", "--file", str(body))[0] == 0
    monkeypatch.setenv("EDITOR", "true")  # opens and saves nothing
    code, out, err = cli("templates", "edit", "bounce", "--editor", "--json")
    assert code == 0, err
    assert json.loads(out)["body"] == "Stop-Service Spooler\r\nStart-Service Spooler"


# --- the whole cycle through the command line -------------------------------------------------------------

CLI_CASES = ("crlf", "cr", "no-final", "braces", "unicode", "quotes")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_cli_cycle_export_rm_import_export_is_byte_identical(cli, tmp_path: Path, fmt: str) -> None:
    """What a team does with the library in git, as they type it: `templates new` from a script file, `templates
    export`, `templates rm --yes`, `templates import` of the exported files, `templates export` again. The files
    of both exports are byte-identical and the store holds each body as given, for the hand-picked hostile bodies
    (the property test above goes through import_file/export_template directly)."""
    for name in CLI_CASES:
        body = tmp_path / f"{name}.script"
        body.write_bytes(CASES[name].encode("utf-8"))
        params = tmp_path / f"{name}.params.toml"
        params.write_text("".join(f'[[parameters]]\nkey = "{k}"\nlabel = "{k}"\n' for k in placeholders(CASES[name])),
                          encoding="utf-8")
        code, _, err = cli("templates", "new", "--name", f"Hostile {name}", "--slug", name, "--file", str(body),
                           "--param-file", str(params))
        assert code == 0, (name, err)

    def stored_bodies_are_as_given() -> None:
        shown = {name: json.loads(cli("templates", "show", name, "--json")[1])["body"] for name in CLI_CASES}
        assert shown == {name: CASES[name] for name in CLI_CASES}

    def export(where: Path) -> dict[str, bytes]:
        code, out, err = cli("templates", "export", *CLI_CASES, "--dir", str(where), "--format", fmt, "--json")
        assert code == 0, err
        paths = [Path(p) for p in json.loads(out)]
        assert sorted(p.name for p in paths) == sorted(f"{name}.{fmt}" for name in CLI_CASES)
        return {p.name: p.read_bytes() for p in paths}

    stored_bodies_are_as_given()
    first = export(tmp_path / "first")
    for name in CLI_CASES:
        assert loads(first[f"{name}.{fmt}"].decode("utf-8"), fmt)["body"] == CASES[name], name
        code, _, err = cli("templates", "rm", name, "--yes")
        assert code == 0, err
        assert cli("templates", "show", name)[0] == 2  # gone
    files = [str(tmp_path / "first" / f"{name}.{fmt}") for name in CLI_CASES]
    code, out, err = cli("templates", "import", *files, "--json")
    assert code == 0, err
    assert [(r["slug"], r["result"]) for r in json.loads(out)] == [(name, "created") for name in CLI_CASES]
    stored_bodies_are_as_given()
    assert export(tmp_path / "second") == first
    code, out, err = cli("templates", "import", *files, "--json")  # importing what the library holds: nothing to do
    assert code == 0 and {r["result"] for r in json.loads(out)} == {"unchanged"}, err
