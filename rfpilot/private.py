"""Private by default: rfpilot's folders are 0700 and the files it writes 0600, whatever the umask.

Every place that creates a folder or writes a file goes through these helpers, so
that a store, a config, a backup or an export on a shared jump host is readable
by its owner only. Light on purpose: ``rfpilot.config`` imports it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700. A folder that already exists keeps its mode
    (it may be the user's own, such as the folder an export goes to); see :func:`tighten`."""
    path = Path(path)
    missing = []
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is cut by the umask
    if not path.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(path))
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if it does not exist (SQLite then gives its -wal and -shm
    files the same mode). An existing file is left as it is."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return Path(path)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(path)


def file_target(path: Path, option: str = "--out") -> Path:
    """Check a file name a user gave (``--out``, ``--export``) before anything changes.

    An empty name, ``.``, a folder, or a file under something that is not a folder is
    refused with a :class:`~rfpilot.errors.UsageError` that names the option.
    """
    from rfpilot.errors import UsageError

    raw = str(path)
    target = Path(path).expanduser()
    if not raw.strip() or not target.name:
        given = "" if raw.strip() in ("", ".") else f", not {raw!r}"  # '' reaches here as '.' (a Path)
        raise UsageError(f"{option} needs a file name{given}", hint=f"give a file name after {option}, such as notes.md")
    if target.is_dir():
        raise UsageError(f"{target} is a directory; give a file name for {option}")
    for parent in target.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise UsageError(f"cannot write {target}: {parent} is not a directory")
            break
    return target


def write_private(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> Path:
    """Replace ``path`` with ``data`` atomically (a 0600 temp file next to it, then a rename).

    The text is encoded before anything is created, so text that cannot be encoded
    leaves no file behind; a failure part-way removes the temp file.
    """
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # a temp file left by a killed run may have another mode
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def tighten(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` if it exists with other permission bits (not through a symlink;
    a file someone else owns is left alone)."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
        return
    try:
        os.chmod(path, mode)
    except PermissionError:
        pass
