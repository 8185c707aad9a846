"""`psa …` (connections), `tickets …`, `outbox …` and `share-update`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import typer

from rfpilot.cli import output
from rfpilot.cli.runtime import confirmation, read_text_arg, run
from rfpilot.grammar import with_article

if TYPE_CHECKING:
    from rfpilot.core.closeout.tickets import TicketView
    from rfpilot.core.context import Ctx
    from rfpilot.core.view_types import (
        OutboxItemView,
        OutboxSyncView,
        PSAConnectedView,
        PSAConnectionView,
        PSAStatusesView,
        PSATestView,
        TicketRowView,
        TicketShowView,
    )
    from rfpilot.db.models import OutboxItem, PSAConnection

JSON = typer.Option(False, "--json", help="Print JSON (a stable shape for scripts).")
CONNECTION = typer.Option(None, "--connection", "-c", help="The PSA connection (default: the default one).")

psa_app = typer.Typer(help="Connect rfpilot to ConnectWise, Autotask or HaloPSA.", no_args_is_help=True)
tickets_app = typer.Typer(help="Your open PSA tickets.", no_args_is_help=True)
outbox_app = typer.Typer(help="PSA writes waiting to be delivered (and what became of them).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(psa_app, name="psa")
    app.add_typer(tickets_app, name="tickets")
    app.add_typer(outbox_app, name="outbox")
    app.command("share-update")(share_update)


# --- psa connect ---------------------------------------------------------------------------------


def _parse_field_args(args: list[str], provider: str, connection: str = "main") -> dict[str, str]:
    """`--site x --company-id y` (or `--site=x`) for the provider's settings. Secrets are refused here, with the
    ways that do work for the connection called ``connection``."""
    from rfpilot.core.closeout.psa import env_var, fields
    from rfpilot.errors import UsageError

    known = {f.name.replace("_", "-"): f for f in fields(provider)}
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument {arg!r}", hint="settings are given as --name value")
        name, _, value = arg[2:].partition("=")
        f = known.get(name)
        if f is None:
            listed = ", ".join(f"--{k}" for k, v in known.items() if not v.secret)
            raise UsageError(f"{provider} has no setting --{name}", hint=f"its settings: {listed}")
        if f.secret:
            raise UsageError(f"--{name} is a secret and is never taken on the command line (shell history, ps)",
                             hint=f"you are asked for it at a terminal; or pipe {f.name}=… to `rfpilot psa connect "
                                  f"{provider} --name {connection} --secrets-stdin`, or set "
                                  f"{env_var(connection, f.name)} (see docs/psa.md)")
        if not _:
            i += 1
            if i >= len(args):
                raise UsageError(f"--{name} needs a value")
            value = args[i]
        values[f.name] = value
        i += 1
    return values


def _prompt_missing(provider: str, name: str, settings: dict[str, str], existing: dict[str, Any] | None) -> dict[str, str]:
    """Ask at the terminal for required settings not given, and for every secret not in the env or keyring."""
    import getpass

    from rfpilot.core.closeout.psa import env_var, fields

    secrets: dict[str, str] = {}
    interactive = output.stdin_is_interactive()
    for f in fields(provider):
        if f.secret:
            import os

            if os.environ.get(env_var(name, f.name)) or (existing or {}).get(f.name):
                continue
            if interactive:
                value = getpass.getpass(f"{f.label}{'' if f.required else ' (optional)'}: ", stream=None).strip()
                if value:
                    secrets[f.name] = value
        elif f.required and not settings.get(f.name) and not (existing or {}).get("settings", {}).get(f.name):
            if interactive:
                settings[f.name] = output.ask(f"{f.label}: ", f.default).strip()
    return secrets


def _read_secrets_stdin(provider: str) -> dict[str, str]:
    from rfpilot.core.inputs import read_stdin
    from rfpilot.core.closeout.psa import fields
    from rfpilot.errors import UsageError

    wanted = {f.name for f in fields(provider) if f.secret}
    values: dict[str, str] = {}

    for number, line in enumerate(read_stdin("secrets").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in wanted:
            raise UsageError(f"stdin line {number} is not name=value for {with_article(provider)} secret",
                             hint="secrets: " + ", ".join(sorted(wanted)))
        values[key] = value.strip()
    return values


def _with_setting_options(command):
    """Give ``command`` one ``--option`` per provider setting (``rfpilot.psa.fields``), each documented with the
    PSA it belongs to; their values reach the command in ``**settings`` (None when not given)."""
    import inspect

    from rfpilot.psa.fields import option, option_help, owners

    signature = inspect.signature(command)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for name in owners():
        default = typer.Option(None, option(name), help=option_help(name), show_default=False)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Optional[str]))
    command.__signature__ = signature.replace(parameters=params)
    return command


@psa_app.command("connect", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@_with_setting_options
def psa_connect(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="connectwise, autotask or halo."),
    name: str = typer.Option("main", "--name", help="A name for this connection."),
    default: bool = typer.Option(False, "--default", help="Make it the default connection."),
    resolve_status: Optional[str] = typer.Option(None, "--resolve-status", help="Status to move tickets to on resolve."),
    escalate_status: Optional[str] = typer.Option(None, "--escalate-status", help="Status to move tickets to on escalate."),
    test: bool = typer.Option(True, "--test/--no-test", help="Sign in before saving (a refused credential saves nothing)."),
    secrets_stdin: bool = typer.Option(False, "--secrets-stdin", help="Read secrets as name=value lines from stdin "
                                       "(e.g. piped from a secrets manager) instead of asking."),
    as_json: bool = JSON,
    **given: Optional[str],
) -> None:
    """Create or update a PSA connection. Settings as options, secrets asked for (never on the command line).

    Each setting option below says which PSA it is for; one given to another PSA is refused (exit 1).

    \b
    ConnectWise:  --site api-na.myconnectwise.net --company-id acme [--codebase v2025_1] [--member jdoe]
                  [--boards "Help Desk,Projects"] [--base-url https://…/apis/3.0]; asks for the public
                  key, private key and clientId.
    Autotask:     --username api@acme.com [--zone-url …] [--resource-id 29684…] [--queues 29683…]
                  [--note-type …] [--publish-public …] [--publish-internal …]; asks for the secret and
                  the API integration code.
    HaloPSA:      --url https://acme.halopsa.com [--tenant acme] [--agent-id 12] [--team …]
                  [--outcome-public Note] [--outcome-private "Private Note"]; asks for the client id and
                  client secret.

    Addresses must be https:// (plain http:// only to 127.0.0.1, ::1 or localhost).
    Without a terminal, secrets come from RFPILOT_PSA_<NAME>_<FIELD> environment variables (e.g.
    RFPILOT_PSA_MAIN_PRIVATE_KEY), which are then read each time instead of the keyring.
    """
    from rfpilot.core.closeout.psa import check_name, check_settings, check_transport, provider_module

    module = provider_module(provider)
    provider = provider.strip().lower()
    name = check_name(name)
    settings = {key: value for key, value in given.items() if value is not None}
    check_settings(provider, settings)  # another PSA's setting is refused before anything is asked
    settings.update(_parse_field_args(list(ctx.args), provider, name))
    check_transport(provider, settings)  # before asking for any secret

    async def existing_of(c):
        from rfpilot.core.closeout import psa as svc

        for row in await svc.list_connections(c):
            if row.name == name:
                known = {f.name: bool(svc.read_secret(row, f.name).value) for f in svc.fields(row.provider) if f.secret}
                return {"settings": dict(row.settings), **{k: v for k, v in known.items() if v}}
        return None

    existing = run(existing_of)
    secrets = _read_secrets_stdin(provider) if secrets_stdin else _prompt_missing(provider, name, settings, existing)
    targets = {}
    if resolve_status is not None:
        targets["resolve"] = {"": resolve_status}
    if escalate_status is not None:
        targets["escalate"] = {"": escalate_status}

    async def go(c: Ctx) -> PSAConnectedView:
        from rfpilot.core.closeout import psa as svc

        async def try_it(conn, values):
            async with svc.client_for(conn, values) as client:
                member = await client.whoami()
                svc.remember_discovered(conn, client)
            return member.identifier or member.name or member.id

        result = await svc.connect(c, provider, name, settings, secrets, targets=targets, make_default=default,
                                   test=try_it if test else None)
        return {**_connection_view(result.connection), "member": result.member,
                "stored_in_keyring": result.stored_secrets, "from_env": result.env_secrets}

    view = run(go)
    output.emit(view, as_json, lambda: view["name"])
    if not as_json:
        who = f" as {view['member']}" if view["member"] else " (not tested)"
        output.info(f"connected {module.DISPLAY_NAME} {view['name']!r}{who}")
        if view["stored_in_keyring"]:
            output.info("secrets stored in the OS keyring: " + ", ".join(view["stored_in_keyring"]))
        if view["from_env"]:
            output.info("secrets read from the environment each time: " + ", ".join(view["from_env"]))
        if not view["targets"]:
            output.info("no target statuses yet: notes are posted, statuses left alone "
                        "(set them with `rfpilot psa targets --resolve NAME --escalate NAME`)")


def _connection_view(conn: PSAConnection) -> PSAConnectionView:
    from rfpilot.core.closeout.psa import connection_view

    return connection_view(conn)


@psa_app.command("list")
def psa_list(as_json: bool = JSON) -> None:
    """The connections, their settings, target statuses and where each secret comes from."""

    async def go(c: Ctx) -> list[PSAConnectionView]:
        from rfpilot.core.closeout import psa as svc

        return [_connection_view(row) for row in await svc.list_connections(c)]

    rows = run(go)

    def human() -> str:
        if not rows:
            return "no PSA connections (rfpilot psa connect connectwise|autotask|halo)"
        out = []
        for r in rows:
            mark = " (default)" if r["default"] else ""
            out.append(f"{r['name']}{mark}: {r['provider']}")
            for k, v in r["settings"].items():
                out.append(f"  {k}: {v}")
            for action, boards in r["targets"].items():
                for board, status in boards.items():
                    out.append(f"  on {action}{f' ({board})' if board else ''}: {status}")
            out.append("  secrets: " + ", ".join(f"{k} MISSING" if v == "missing" else f"{k} from {v}"
                                                  for k, v in r["secrets"].items()))
        return "\n".join(out)

    output.emit(rows, as_json, human)


@psa_app.command("test")
def psa_test(
    connection: Optional[str] = CONNECTION,
    ticket: Optional[str] = typer.Option(None, "--ticket", help="Also read this ticket."),
    as_json: bool = JSON,
) -> None:
    """Sign in (and read a ticket): proves the settings, the secrets and the permissions."""

    async def go(c: Ctx) -> PSATestView:
        from rfpilot.core.closeout import psa as svc
        from rfpilot.core.closeout.tickets import ticket_id_for

        conn = await svc.get_connection(c, connection)
        wanted = ticket_id_for(conn, ticket) if ticket is not None else None
        async with svc.client_for(conn) as client:
            member = await client.whoami()
            found = await client.get_ticket(wanted) if wanted else None
            async with c.tx():
                svc.remember_discovered(conn, client)
        return {"connection": conn.name, "provider": conn.provider,
                "member": {"id": member.id, "identifier": member.identifier, "name": member.name},
                "ticket": {"id": found.id, "summary": found.summary, "status": found.status_name} if found else None}

    view = run(go)

    def human() -> str:
        who = view["member"]["identifier"] or view["member"]["name"] or view["member"]["id"]
        line = f"{view['connection']}: signed in as {who}"
        if view["ticket"]:
            line += f"; ticket {view['ticket']['id']}: {view['ticket']['summary']} ({view['ticket']['status']})"
        return line

    output.emit(view, as_json, human)


@psa_app.command("statuses")
def psa_statuses(
    ticket: str = typer.Argument(..., help="Ticket id."), connection: Optional[str] = CONNECTION, as_json: bool = JSON
) -> None:
    """The statuses the ticket can take (its board's), with the current one and the targets marked."""
    per: list[str] = []  # what the PSA's statuses belong to ("board" on ConnectWise), for the heading

    async def go(c: Ctx) -> PSAStatusesView:
        from rfpilot.core.closeout import psa as svc
        from rfpilot.core.closeout.tickets import ticket_id_for

        conn = await svc.get_connection(c, connection)
        wanted = ticket_id_for(conn, ticket)
        async with svc.client_for(conn) as client:
            found = await client.get_ticket(wanted)
            options = await client.statuses(found)
            per.extend([client.statuses_per] if client.statuses_per else [])
        targets = {a: svc.target_status(conn, a, found.board_name) for a in svc.ACTIONS}
        return {"ticket": found.id, "board": found.board_name, "current": found.status_name,
                "statuses": [{"id": s.id, "name": s.name, "closed": s.closed, "inactive": s.inactive,
                              "current": s.id == found.status_id,
                              "target_for": [a for a, t in targets.items() if t and t.casefold() == s.name.casefold()]}
                             for s in options],
                "targets": targets}

    view = run(go)

    def human() -> str:
        rows = [[("*" if s["current"] else ""), s["name"], ("closed" if s["closed"] else "") + (" inactive" if s["inactive"] else ""),
                 ", ".join(s["target_for"])] for s in view["statuses"]]
        head = f"ticket {view['ticket']}" + (f" on {per[0]} {view['board']}" if per and view["board"] else "")
        missing = [a for a, t in view["targets"].items() if t and not any(a in s["target_for"] for s in view["statuses"])]
        tail = "".join(f"\nwarning: the {a} target {view['targets'][a]!r} is not a status here" for a in missing)
        return head + "\n" + output.table(["", "status", "kind", "target for"], rows) + tail

    output.emit(view, as_json, human)


@psa_app.command("targets")
def psa_targets(
    connection: Optional[str] = CONNECTION,
    resolve_status: Optional[str] = typer.Option(None, "--resolve", help="Status name for resolved tickets ('' removes it)."),
    escalate_status: Optional[str] = typer.Option(None, "--escalate", help="Status name for escalated tickets ('' removes it)."),
    board: Optional[str] = typer.Option(None, "--board", help="Only for tickets on this board (ConnectWise board, Autotask queue, HaloPSA team or ticket type)."),
    as_json: bool = JSON,
) -> None:
    """Set the statuses tickets move to on resolve and escalate, by name (per board where the PSA has boards)."""
    from rfpilot.errors import UsageError

    if resolve_status is None and escalate_status is None:
        raise UsageError("give --resolve NAME and/or --escalate NAME", hint="see `rfpilot psa statuses TICKET` for names")
    key = (board or "").strip()
    changes = {a: {key: v} for a, v in (("resolve", resolve_status), ("escalate", escalate_status)) if v is not None}

    async def go(c: Ctx) -> PSAConnectionView:
        from rfpilot.core.closeout import psa as svc

        conn = await svc.get_connection(c, connection)
        await svc.set_targets(c, conn, changes)
        return _connection_view(conn)

    view = run(go)
    output.emit(view["targets"], as_json, lambda: "\n".join(
        f"{a}{f' ({b})' if b else ''}: {s}" for a, boards in view["targets"].items() for b, s in boards.items())
        or "no target statuses: statuses are left alone")


@psa_app.command("remove")
def psa_remove(
    name: str = typer.Argument(..., help="The connection's name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Remove a connection and its secrets from the keyring (refused while the outbox holds writes for it)."""
    confirm = confirmation(yes, "remove it", f"Remove the PSA connection {name!r}?", "not removed")

    async def go(c):
        from rfpilot.core.closeout import psa as svc

        return await svc.remove_connection(c, await svc.get_connection(c, name), confirm)

    removed = run(go)
    output.info(f"removed {name!r}" + (f"; deleted from the keyring: {', '.join(removed)}" if removed else ""))


# --- tickets -------------------------------------------------------------------------------------------


def _ticket_row(view: TicketView) -> TicketRowView:
    from rfpilot.core.closeout.tickets import ticket_row

    return ticket_row(view)


@tickets_app.command("list")
def tickets_list(
    connection: Optional[str] = CONNECTION,
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many tickets (1–500)."),
    as_json: bool = JSON,
) -> None:
    """Your open tickets (owner or resource, the connection's boards), newest first."""

    async def go(c: Ctx) -> list[TicketRowView]:
        from rfpilot.core.closeout.tickets import my_tickets

        return [_ticket_row(v) for v in await my_tickets(c, connection, limit)]

    rows = run(go)
    output.emit(rows, as_json, lambda: output.table(
        ["ticket", "status", "company", "session", "summary"],
        [[r["ref"], r["status"], r["company"], (r["session_id"] or "")[:8], r["summary"]] for r in rows], max_last=70,
    ) if rows else "no open tickets")


@tickets_app.command("show")
def tickets_show(
    ticket: str = typer.Argument(..., help="Ticket id."), connection: Optional[str] = CONNECTION, as_json: bool = JSON
) -> None:
    """One ticket with its recent notes and configurations (what `new --ticket` gives the model)."""

    async def go(c: Ctx) -> TicketShowView:
        from rfpilot.core.closeout import psa as svc
        from rfpilot.core.closeout.tickets import context_document, show_ticket

        view, context = await show_ticket(c, ticket, connection)
        conn = await svc.get_connection(c, connection)
        return {**_ticket_row(view), "context": context_document(conn, context, c.now().isoformat())}

    row = run(go)

    def human() -> str:
        ctx = row["context"]
        lines = [f"{row['ref']}: {row['summary']}",
                 " · ".join(x for x in (row["status"], row["board"], row["company"], ctx.get("contact"), row["priority"]) if x)]
        if row["session_id"]:
            lines.append(f"open session: {row['session_id'][:8]}")
        if description := ctx["description"]:
            lines += ["", description]
        if ctx["configurations"]:
            lines += ["", "Configurations: " + "; ".join(ctx["configurations"])]
        for note in ctx["notes"]:
            lines += ["", f"— {note['author'] or '?'} · {note['at'] or ''} · {note['kind'] or 'note'}", note["text"]]
        return "\n".join(lines)

    output.emit(row, as_json, human)


# --- the outbox -------------------------------------------------------------------------------------


def _item_view(item: OutboxItem) -> OutboxItemView:
    from rfpilot.core.closeout.writeback import outbox_item_view

    return outbox_item_view(item)


@outbox_app.command("list")
def outbox_list(all_items: bool = typer.Option(False, "--all", help="Include delivered and dropped items."),
                as_json: bool = JSON) -> None:
    """Writes waiting for the PSA (pending) or stopped by an error (failed), oldest first."""

    async def go(c: Ctx) -> list[OutboxItemView]:
        from rfpilot.core.closeout.writeback import list_items

        return [_item_view(i) for i in await list_items(c, include_delivered=all_items)]

    rows = run(go)
    output.emit(rows, as_json, lambda: output.table(
        ["id", "ticket", "kind", "state", "tries", "note", "last error"],
        [[r["id"][:8], r["ticket"], r["kind"], r["state"], r["attempts"], r["external_id"] or "", r["last_error"] or ""]
         for r in rows], max_last=80) if rows else "the outbox is empty")


def _delivery_lines(delivery) -> list[str]:
    item = delivery.item
    what = {"resolve": "resolution note", "escalate": "escalation package", "update": "update",
            "time_entry": "time entry"}[item.kind]
    line = f"{item.id[:8]} {what} on {item.ticket_ref or item.ticket_id}: "
    line += "found from an earlier attempt" if delivery.adopted else f"delivered ({delivery.note_id})"
    if delivery.status:
        line += f"; status {delivery.status!r} verified"
    return [line] + ([delivery.status_skipped] if delivery.status_skipped else [])


@outbox_app.command("sync")
def outbox_sync(as_json: bool = JSON) -> None:
    """Deliver every pending write, in order per ticket. Exit 6 if some still wait, 4 if some failed."""

    async def go(c):
        from rfpilot.core.team.outputs import deliver_outbox

        return await deliver_outbox(c)

    report = run(go)
    payload: OutboxSyncView = {"delivered": [_item_view(d.item) for d in report.delivered],
                               "queued": [{**_item_view(i), "reason": r} for i, r in report.queued],
                               "failed": [{**_item_view(i), "reason": r} for i, r in report.failed]}

    def human() -> str:
        lines = [line for d in report.delivered for line in _delivery_lines(d)]
        lines += [f"{i.id[:8]} still queued: {r}" for i, r in report.queued]
        lines += [f"{i.id[:8]} failed: {r}" for i, r in report.failed]
        return "\n".join(lines) or "nothing to deliver"

    output.emit(payload, as_json, human)
    if report.failed:
        raise typer.Exit(4)
    if report.queued:
        raise typer.Exit(6)


@outbox_app.command("retry")
def outbox_retry(item: str = typer.Argument(..., help="Outbox item id or prefix."), as_json: bool = JSON) -> None:
    """Attempt a failed (or pending) write again now; a note already posted is never posted twice."""

    async def go(c):
        from rfpilot.core.closeout import writeback

        return await writeback.retry(c, await writeback.get_item(c, item))

    delivery = run(go)
    output.emit(_item_view(delivery.item), as_json, lambda: "\n".join(_delivery_lines(delivery)))


@outbox_app.command("drop")
def outbox_drop(item: str = typer.Argument(..., help="Outbox item id or prefix."),
                yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Give up on a write that has not reached the ticket (it stays listed with --all)."""
    confirm = confirmation(yes, "drop it", f"Drop outbox item {item}?", "not dropped")

    async def go(c):
        from rfpilot.core.closeout import writeback

        return await writeback.drop(c, await writeback.get_item(c, item), confirm)

    dropped = run(go)
    output.info(f"dropped {dropped.id[:8]}; nothing of it was posted")


# --- share-update ---------------------------------------------------------------------------------


def share_update(
    session: str = typer.Argument(..., help="Session id or unique prefix."),
    text: Optional[str] = typer.Option(None, "--text", help="The update (default: drafted from the session's state)."),
    file: Optional[str] = typer.Option(None, "--file", help="Read the update from this file ('-' for stdin)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    as_json: bool = JSON,
) -> None:
    """Post an interim internal note on the session's ticket (status unchanged). Exit 6 if it is queued."""
    given = read_text_arg(text, file, "update")

    async def go(c):
        from rfpilot.core.session.sessions import get_session
        from rfpilot.core.closeout.updates import share_update as post

        row = await get_session(c, session)
        confirm = confirmation(yes, "post it", f"Post this internal update on {row.ticket_ref or 'the ticket'}?",
                               "not posted")
        return await post(c, row, given, confirm)

    delivery = run(go)
    output.emit(_item_view(delivery.item), as_json, lambda: "\n".join(_delivery_lines(delivery)))
