"""Docs stay true: the command reference is generated from the commands."""

from __future__ import annotations

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


def test_the_docs_stand_on_their_own() -> None:
    """README.md and docs/ point at nothing outside the repository: no "SPEC §14" (a design file that is not
    shipped), and every relative link names a file that is here."""
    import re

    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = md.read_text(encoding="utf-8")
        assert not re.search(r"\bSPEC\b", text), f"{md.name}: mentions SPEC, which is not in the repository"
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            path = target.split("#", 1)[0]
            if path and "://" not in path and not path.startswith("mailto:"):
                assert (md.parent / path).exists(), f"{md.name}: links to {target}, which is not in the repository"
