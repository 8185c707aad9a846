"""Docs stay true: the command reference is generated from the commands, and every relative link resolves."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_current() -> None:
    """docs/cli.md equals `python -m rfpilot.cli.docgen` (regenerate it after changing a command)."""
    from rfpilot.cli.docgen import render

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render()


def test_readme_gives_the_two_newcomer_commands_first() -> None:
    """README starts with the install-and-run and the test command that .ci/run executes."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```sh") + 5]
    assert block[0] == "# install and run" and "rfpilot" in block[1]
    assert block[2].startswith("# run the tests") and "pytest" in block[3]
    assert "awk '/^# run the tests/" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_cli_reference_gives_the_top_level_options() -> None:
    """`rfpilot --version`, the completion options and --help are in the reference, under `## rfpilot`."""
    import typer

    from rfpilot.cli import app
    from rfpilot.cli.docgen import render

    root = typer.main.get_command(app)
    section = render().split("## rfpilot\n", 1)[1].split("\n## ", 1)[0]
    options = [o for p in root.params for o in p.opts] + ["--help", "-h"]
    assert {"--version", "--install-completion", "--show-completion"} <= set(options)
    for option in options:
        assert f"`{option}`" in section, option


# --- links ---------------------------------------------------------------------------------------------------

DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=\"([^\"]+)\"")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
HEADING = re.compile(r"^#{1,6}\s+(.*?)(?:\s+#+)?\s*$")


def _prose_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, text, text with inline code blanked) of every line outside fenced blocks."""
    out, inside = [], False
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text.lstrip().startswith(("```", "~~~")):
            inside = not inside
        elif not inside:
            out.append((number, text, re.sub(r"(`+).*?\1", lambda m: " " * len(m.group(0)), text)))
    return out


def heading_slug(text: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors a Markdown file has: its headings' (a repeated one gets -1, -2, …) and every <a id=…>."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, text, prose in _prose_lines(path):
        heading = HEADING.match(text)
        if heading:
            slug = heading_slug(heading.group(1))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
        found.update(EXPLICIT_ANCHOR.findall(prose))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link and href outside code."""
    return [(number, m.group(1) or m.group(2)) for number, _, prose in _prose_lines(path) for m in LINK.finditer(prose)]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Every relative link of ``path`` that does not reach a file inside ``root``, or an anchor that file lacks."""
    broken = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto: are not this test's business
            continue
        where, _, anchor = target.partition("#")
        file = (path.parent / where).resolve() if where else path
        said = f"{path.relative_to(root)}:{number}: {target}"
        if not file.is_relative_to(root):
            broken.append(f"{said}: outside the repository")
        elif not file.exists():
            broken.append(f"{said}: no such file")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            broken.append(f"{said}: no anchor #{anchor} in {file.relative_to(root)}")
    return broken


def test_every_relative_link_and_anchor_of_the_docs_resolves() -> None:
    """README.md and docs/*.md link only to files of the repository, and to anchors those files have (a heading's,
    or an explicit <a id=…>)."""
    broken = [b for path in DOC_FILES for b in broken_links(path)]
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert sum(len(links(p)) for p in DOC_FILES) > 20  # the links are found at all


def test_the_link_check_catches_what_it_should(tmp_path: Path) -> None:
    """A missing file, a missing anchor and a path leaving the repository are reported; a heading's anchor (its
    punctuation and code marks dropped, a repeat numbered), an <a id>, a web link and a link in code are fine."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text(
        "# Other\n\n## A team's Postgres\n\n## Notes\n\n## Notes\n\n### `rfpilot doctor`\n\n"
        '<a id="start-up"></a>Text.\n', encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n[a](other.md#a-teams-postgres) [b](other.md#notes-1) [c](other.md#start-up)"
        " [d](other.md#rfpilot-doctor) [e](#page) [web](https://example.com/x#y) `[in code](missing.md)`\n\n"
        "```sh\n# a comment, not a heading\n[x](missing.md)\n```\n\n"
        "[gone](missing.md) [no anchor](other.md#nowhere) [out](../../etc/passwd) [fenced](#a-comment-not-a-heading)\n",
        encoding="utf-8")
    assert [b.split(": ", 1)[1] for b in broken_links(page, tmp_path)] == [
        "missing.md: no such file", "other.md#nowhere: no anchor #nowhere in docs/other.md",
        "../../etc/passwd: outside the repository",
        "#a-comment-not-a-heading: no anchor #a-comment-not-a-heading in docs/page.md"]


def test_the_docs_stand_on_their_own() -> None:
    """README.md and docs/ name no design file that is not shipped ("SPEC §14"); their links are checked above."""
    for md in DOC_FILES:
        assert not re.search(r"\bSPEC\b", md.read_text(encoding="utf-8")), f"{md.name}: mentions SPEC, which is not in the repository"


