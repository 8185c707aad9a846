"""Write the command reference of docs/cli.md from the command tree itself.

    python -m rfpilot.cli.docgen > docs/cli.md

tests/test_docs.py fails when docs/cli.md and the commands disagree.
"""

from __future__ import annotations

import typer

from rfpilot.cli import app

INTRO = """\
# Command reference

Generated from the commands themselves by `python -m rfpilot.cli.docgen > docs/cli.md`; do not edit by hand.

Conventions:

- `SESSION`, `FACT`, `ITEM` and `--fix` take a full id or any unique prefix of 4+ characters.
- Data goes to stdout, messages and errors to stderr. `--json` prints a stable JSON shape.
- Exit codes: `0` ok · `1` usage (malformed id or ticket id, empty text, unknown choice, missing argument or
  required input such as `--notes`) · `2` not found (also a ticket the PSA does not have) ·
  `3` conflict or invalid transition (nothing was changed) · `4` PSA error or verification failure ·
  `5` LLM unavailable · `6` queued for later delivery (the table, with examples: docs/architecture.md).
  An error is one line starting with `error:`, sometimes followed by a `hint:` line.
- Input is UTF-8 text: an argument, stdin or a file rfpilot reads (`--file`, `--markdown-file`, `templates import`…)
  holding invalid UTF-8 or a NUL byte is refused with exit `1`, naming it, before anything changes (file paths
  too). Limits: 131,072 characters per argument (Linux's own), 2,000,000 bytes per file or stdin.
"""


def _walk(command, path: list[str]):
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name in sorted(subcommands):
            yield from _walk(subcommands[name], [*path, name])
    else:
        yield path, command


def _param_line(param) -> str | None:
    if param.name in ("help",) or getattr(param, "hidden", False):
        return None
    if param.param_type_name == "argument":
        name = param.name.upper()
        required = "" if param.required else " (optional)"
        return f"- `{name}`{required}: {getattr(param, 'help', '') or ''}".rstrip(": ")
    opts = ", ".join(f"`{o}`" for o in param.opts)
    help_text = getattr(param, "help", "") or ""
    return f"- {opts}: {help_text}".rstrip(": ")


def _root_section(root) -> str:
    """`rfpilot` itself: what it does with no command, and the options it takes before any command."""
    ctx = root.make_context("rfpilot", [], resilient_parsing=True)  # parses nothing, runs no callback
    lines = []
    for param in root.get_params(ctx):
        if param.name == "help":
            # Click keeps the help option's names in a set: sort them, or the page changes from run to run.
            opts = ", ".join(f"`{o}`" for o in sorted(param.opts, key=lambda o: (len(o), o)))
            lines.append(f"- {opts}: show the help of rfpilot, or of any command (`rfpilot sessions show --help`)")
        elif (line := _param_line(param)) is not None:  # a hidden option has no line
            lines.append(line)
    return (
        "## rfpilot\n\n"
        f"{root.help.strip()} With no command, opens the TUI (in a terminal; elsewhere it prints this help).\n\n"
        + "\n".join(ln for ln in lines if ln)
        + "\n\nThe completion options detect your shell (bash, zsh, fish, PowerShell) from the process that runs rfpilot;"
        " see [operations.md](operations.md#shell-completion).\n"
    )


def render() -> str:
    root = typer.main.get_command(app)
    out = [INTRO, _root_section(root)]
    for path, command in _walk(root, []):
        out.append(f"## rfpilot {' '.join(path)}\n")
        # Click's "\b" line (keep the next paragraph unwrapped) is a marker for --help, not text for the page.
        help_text = "\n".join(ln for ln in (command.help or "").splitlines() if ln.strip() != "\b").strip()
        if help_text:
            out.append(help_text + "\n")
        lines = [ln for ln in (_param_line(p) for p in command.params) if ln]
        if lines:
            out.append("\n".join(lines) + "\n")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    from rfpilot.cli import output

    output.stream(render())  # the one way the CLI writes to a terminal
