"""The engineer's editor, for the CLI commands that let them edit a text before it is used (a resolution note, a
resolution output, a template body). Shared here so the command modules do not import each other for it."""

from __future__ import annotations

from pathlib import Path


def edit_in_editor(text: str, editor: str | None) -> str:
    """``text`` after the engineer edited it in ``editor`` (else $VISUAL, $EDITOR, vi); a usage error when the
    editor is missing or fails."""
    import os
    import shlex
    import subprocess
    import tempfile

    from rfpilot.errors import UsageError

    command = editor or os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, path = tempfile.mkstemp(prefix="rfpilot-note-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        try:
            code = subprocess.call([*shlex.split(command), path])
        except FileNotFoundError:
            raise UsageError(f"editor not found: {command}", hint="set $EDITOR or `rfpilot config set preview.editor …`") from None
        if code != 0:
            raise UsageError(f"the editor exited with status {code}; nothing was posted")
        from rfpilot.core.inputs import read_text_file

        return read_text_file(path, "edited note")
    finally:
        Path(path).unlink(missing_ok=True)
