"""`keys …`: API keys in the OS keyring (never in files).

A key is read from a hidden prompt, or one line of stdin when stdin is not a
terminal, never from the command line: that keeps it out of shell history
and `ps`. No command prints any part of a key.
"""

from __future__ import annotations

import typer

from rfpilot.cli import output

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
NAME_ARG = typer.Argument(..., help="Key name: anthropic, openai or database (the Postgres password).")

keys_app = typer.Typer(help="API keys in the OS keyring (never in files).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


def _env_is_set(var: str) -> bool:
    import os

    return bool(os.environ.get(var, "").strip())


def _read_key(name: str) -> str:
    from rfpilot.errors import UsageError

    if output.stdin_is_interactive():
        import getpass

        try:
            value = getpass.getpass(f"{name} API key (input hidden): ")
        except EOFError:
            value = ""
    else:
        from rfpilot.core.inputs import read_stdin

        value = read_stdin(f"the {name} key", line=True)
    if not value.strip():
        raise UsageError(f"no {name} key given; nothing was stored",
                         hint=f"type or paste it at the prompt, or pipe it in: `… | rfpilot keys set {name}`")
    return value


@keys_app.command("set")
def keys_set(name: str = NAME_ARG) -> None:
    """Store an API key in the OS keyring.

    The key is read from a hidden prompt (or one line of stdin), never taken as an
    argument, so it stays out of shell history and `ps`.
    """
    from rfpilot.core import secrets

    secrets.require_keyring(name)  # before asking for a key that could not be kept
    where = secrets.store(name, _read_key(name))
    output.info(f"stored the {name} key in the {where}")
    var = secrets.KEYS[name]
    if _env_is_set(var):
        output.info(f"note: {var} is also set in this environment and wins over the keyring; unset it to use the stored key")


@keys_app.command("list")
def keys_list(as_json: bool = JSON) -> None:
    """Which keys are set, and where (environment or keyring). Never shows a key."""
    from rfpilot.core import secrets

    status = secrets.backend_status()
    rows = secrets.status_all()
    data = {"keyring": {"backend": status.name, "usable": status.usable, "reason": status.reason}, "keys": rows}

    def yes_no(value: bool | None) -> str:
        return "?" if value is None else ("yes" if value else "no")

    def human() -> str:
        return output.table(
            ("NAME", "ENV VAR", "IN ENV", "IN KEYRING", "USED"),
            [(r["name"], r["env_var"], yes_no(r["in_env"]), yes_no(r["in_keyring"]), r["used"] or "not set") for r in rows],
        )

    output.emit(data, as_json, human)
    if not status.usable:
        output.info(f"note: {status.problem}; set the environment variables above instead")


@keys_app.command("delete")
def keys_delete(name: str = NAME_ARG) -> None:
    """Remove an API key from the OS keyring (exit 2 when none was stored)."""
    from rfpilot.core import secrets
    from rfpilot.errors import NotFoundError

    var = secrets.KEYS.get(name)
    if not secrets.delete(name):
        hint = f"{var} is set in the environment; unset it there" if var and _env_is_set(var) else None
        raise NotFoundError(f"no {name} key is stored in the keyring", hint=hint)
    output.info(f"deleted the {name} key from the keyring ({secrets.backend_status().name})")
    if var and _env_is_set(var):
        output.info(f"note: {var} is still set in this environment, and rfpilot uses it")
