"""`rfpilot doctor`: check each part, say what is wrong and what to do (the CLI only prints this).

Parts, in order: ``config`` (every value in config.toml and the environment against the schema), ``database``
(reachable and at the schema head), ``identity``, ``keyring`` (its backend, and the fallback in use when there is
none), ``llm`` (its settings, then a short request to the model server), ``psa`` (each connection: settings, where
each secret comes from, then a sign-in), ``outbox`` (depth, failed items, the oldest waiting item).

Every part is a dict with ``status`` (``ok``, ``warn``, ``fail`` or ``skipped``), ``ok`` (``status != "fail"``),
``error`` (one line, or None) and ``hint`` (what to do, or None), plus its own details; the report adds ``ok``
and ``failed`` (the names of the failing parts). A warning never fails the report; ``fail`` does (the CLI exits 1).
The shape is documented in docs/configuration.md ("doctor") and kept by tests/test_doctor.py.

No secret is ever put in the report: only where it comes from. Network checks (model server, PSA sign-in) wait at
most ``TIMEOUT`` seconds each and are left out with ``network=False``; the anthropic SDK is never imported (the
check is one plain ``GET /v1/models`` with the key, through httpx).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar

from rfpilot.config import Settings
from rfpilot.core.view_types import (
    DoctorAbout,
    DoctorConfig,
    DoctorConnection,
    DoctorDatabase,
    DoctorIdentity,
    DoctorKeyring,
    DoctorLLM,
    DoctorOutbox,
    DoctorPart,
    DoctorPSA,
    DoctorReport,
    DoctorSecret,
)
from rfpilot.errors import RfpilotError
from rfpilot.grammar import count, verb

TIMEOUT = 5.0  # seconds for each network check
ANTHROPIC_API = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
# The settings the human view shows of a PSA connection (the JSON has them all): where it points and as whom.
ADDRESS_SETTINGS = ("site", "company_id", "url", "tenant", "username", "zone_url", "base_url")
PARTS = ("config", "database", "identity", "keyring", "llm", "psa", "outbox")

# Tests (and only tests) put an httpx transport here for the model check; the PSA check uses core.closeout.psa.TRANSPORTS.
TRANSPORT: Any = None


Part = TypeVar("Part", bound=DoctorPart)


def _part(status: str = "ok", error: str | None = None, hint: str | None = None) -> DoctorPart:
    """The keys every part starts with (its own details follow them)."""
    return {"status": status, "ok": status != "fail", "error": error, "hint": hint}


def _failed(part: Part, err: RfpilotError | str, hint: str | None = None) -> Part:
    """Mark ``part`` failed with an error's message and hint (the same ones the other commands give)."""
    part["status"], part["ok"] = "fail", False
    part["error"] = err.message if isinstance(err, RfpilotError) else err
    part["hint"] = err.hint if isinstance(err, RfpilotError) and hint is None else hint
    return part


def _warned(part: Part, message: str, hint: str | None) -> Part:
    if part["status"] == "ok":
        part["status"], part["error"], part["hint"] = "warn", message, hint
    return part


# --- the settings, the store and who you are ---------------------------------------------------------------------------


def _config(settings: Settings) -> DoctorConfig:
    from rfpilot.config import check_settings

    bad, unknown = check_settings(settings)
    part: DoctorConfig = {**_part(), "file": str(settings.paths.config_file),
                          "exists": settings.paths.config_file.exists(), "bad": bad, "unknown": unknown}
    if bad:
        first = bad[0]
        return _failed(part, f"{first['error']} ({first['source']})" + (f"; and {len(bad) - 1} more" if len(bad) > 1 else ""),
                       first["hint"] if len(bad) == 1 else
                       "fix it with `rfpilot config set KEY VALUE`, remove it with `rfpilot config set KEY --unset`, "
                       "or change the environment variable")
    if unknown:
        _warned(part, f"unknown settings in config.toml: {', '.join(unknown)}",
                "check their spelling (`rfpilot config get` lists the known ones); rfpilot ignores them")
    return part


async def _open(settings: Settings) -> tuple[Any, DoctorDatabase]:
    """The open workspace (or None) and the database part."""
    from rfpilot.core.context import Workspace
    from rfpilot.db.engine import SCHEMA_HEAD, current_revision, open_failure, redact_url

    url = settings.database_url
    part: DoctorDatabase = {**_part(), "url": redact_url(url), "source": settings.source_of("database.url"),
                            "head": SCHEMA_HEAD, "dialect": None, "revision": None, "sessions": None}
    try:
        ws = await Workspace.open(settings)
    except RfpilotError as err:
        return None, _failed(part, err)
    except Exception as exc:  # a driver error the store did not word: word it as every other command does
        return None, _failed(part, open_failure(url, exc))
    from rfpilot.core.session.sessions import count_sessions

    try:
        async with ws.ctx() as ctx:
            part["dialect"] = ctx.db.get_bind().dialect.name
            part["sessions"] = await count_sessions(ctx)
            part["revision"] = await current_revision(ctx.db.bind)  # type: ignore[arg-type]
    except Exception as exc:  # the connection dropped after opening
        await ws.close()
        return None, _failed(part, exc if isinstance(exc, RfpilotError) else open_failure(url, exc))
    if part["revision"] != SCHEMA_HEAD:
        _failed(part, f"the schema is at {part['revision'] or '(empty)'}, not {SCHEMA_HEAD}",
                "run `rfpilot db upgrade`")
    return ws, part


def _identity(settings: Settings, ws: Any) -> DoctorIdentity:
    part: DoctorIdentity = {**_part(), "email": None, "name": None, "account": None,
                            "email_source": settings.source_of("identity.email"),
                            "engineer_id": ws.engineer.id if ws else None}
    try:
        part["email"], part["name"] = settings.identity_email, settings.identity_name
        part["account"] = settings.account_name
    except RfpilotError as err:  # a bad hand-edited value: named here as everywhere
        return _failed(part, err)
    if ws is not None and settings.get("identity.email") is None and ws.store.dialect != "sqlite":
        _warned(part, f"your identity is derived ({settings.identity_email}) in a shared store",
                "set your own: `rfpilot config set identity.email you@example.com` (and identity.name)")
    return part


# --- secrets ---------------------------------------------------------------------------------------------


def _keyring() -> DoctorKeyring:
    from rfpilot.core import secrets

    ring = secrets.backend_status()
    part: DoctorKeyring = {**_part(), "backend": ring.name, "usable": ring.usable, "reason": ring.reason,
                           "fallback": None if ring.usable else "environment variables"}
    if not ring.usable:
        names = ", ".join(secrets.KEYS.values())
        _warned(part, f"not usable ({ring.reason}); secrets come from environment variables only",
                f"export {names} or RFPILOT_PSA_<NAME>_<FIELD> as needed, or give this machine a keyring "
                "(see docs/configuration.md)")
    return part


# --- the model -----------------------------------------------------------------------------------------------


def _http(headers: Mapping[str, str]) -> Any:
    import httpx

    from rfpilot import __version__

    return httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT), transport=TRANSPORT,
                             headers={"User-Agent": f"rfpilot/{__version__}", **headers})


async def _get(url: str, headers: Mapping[str, str]) -> tuple[int | None, Any, str | None]:
    """``(status, json or None, problem)`` of one GET; problem says why no answer came."""
    import httpx

    try:
        async with _http(headers) as client:
            response = await asyncio.wait_for(client.get(url), TIMEOUT)  # whatever the transport does
    except (httpx.TimeoutException, TimeoutError):
        return None, None, f"no answer from {url} within {TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        return None, None, f"cannot reach {url}: {type(exc).__name__}{f': {exc}' if str(exc) else ''}"
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body, None


async def _reach_anthropic(settings: Settings, part: DoctorLLM) -> None:
    from rfpilot.core import secrets

    key = secrets.lookup("anthropic", settings.env).value or ""
    from rfpilot.core.llm import anthropic_base_url
    from rfpilot.errors import ConfigError

    try:
        base = (anthropic_base_url(settings) or ANTHROPIC_API).rstrip("/")
    except ConfigError as err:  # plain http to another machine: the key is never sent in clear
        _failed(part, err.message, err.hint)
        return
    url = f"{base}/v1/models?limit=1"
    status, _, problem = await _get(url, {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION})
    part["reached"] = base
    if problem:
        _failed(part, problem, "check the network (and ANTHROPIC_BASE_URL if set), or use `RFPILOT_LLM_PROVIDER=offline`")
    elif status in (401, 403):
        _failed(part, f"the Anthropic API refused the key (HTTP {status}, from {part['key_source']})",
                "set a valid ANTHROPIC_API_KEY, or store one with `rfpilot keys set anthropic`")
    elif status != 200:
        _failed(part, f"the Anthropic API answered HTTP {status} to a models listing",
                "try again later; status.anthropic.com shows outages")


async def _reach_openai(settings: Settings, part: DoctorLLM) -> None:
    from rfpilot.core import secrets
    from rfpilot.core.llm.openai_provider import BASE_URL_HINT, KEY_HINT, _normalise_base_url

    base = _normalise_base_url(str(settings.get("llm.openai.base_url")))
    model = str(settings.get("llm.openai.model")).strip()
    key = secrets.lookup("openai", settings.env).value
    status, body, problem = await _get(f"{base}/models", {"Authorization": f"Bearer {key}"} if key else {})
    part["reached"] = base
    if problem:
        _failed(part, problem, BASE_URL_HINT)
    elif status in (401, 403):
        _failed(part, f"the server at {base} refused the request (HTTP {status})", KEY_HINT)
    elif status == 404:
        _warned(part, f"the server at {base} answers but does not list models (GET /models: HTTP 404)",
                "check that llm.openai.base_url is the API root ending in /v1")
    elif status != 200:
        _failed(part, f"the server at {base} answered HTTP {status} to GET /models", BASE_URL_HINT)
    else:
        data = body.get("data") if isinstance(body, dict) else None
        offered = [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")] if isinstance(data, list) else []
        if offered and model not in offered:
            _failed(part, f"the server at {base} does not offer the model {model!r}",
                    f"set llm.openai.model / RFPILOT_OPENAI_MODEL to one it offers: {', '.join(offered[:10])}")


async def _llm(settings: Settings, network: bool) -> DoctorLLM:
    from rfpilot.core.llm import get_provider, selection

    part: DoctorLLM = {**_part(), "provider": None, "reason": None, "key_source": None, "detail": None,
                       "reached": None, "network_checked": False}
    try:
        chosen = selection(settings)
    except RfpilotError as err:
        return _failed(part, err)
    part["provider"], part["reason"] = chosen.provider, chosen.reason
    part["key_source"], part["detail"] = chosen.key_source, chosen.detail
    try:  # the settings each provider needs: a key, a base URL and a model, a readable replies file
        provider = get_provider(settings, name=chosen.provider)
    except RfpilotError as err:
        return _failed(part, err)
    await provider.aclose()
    if chosen.provider == "offline":
        part["note"] = "offline by design: chat is off, notes use the offline drafter"
        return part
    if chosen.provider == "scripted" or not network:
        return part
    part["network_checked"] = True
    if chosen.provider == "anthropic":
        await _reach_anthropic(settings, part)
    else:
        await _reach_openai(settings, part)
    return part


# --- PSA and the outbox -----------------------------------------------------------------------------------------


async def _connection(ctx: Any, conn: Any, network: bool) -> DoctorConnection:
    from rfpilot.core.closeout import psa

    module_fields = psa.fields(conn.provider)
    shown = {f.name: conn.settings.get(f.name) for f in module_fields if not f.secret and conn.settings.get(f.name)}
    part: DoctorConnection = {**_part(), "name": conn.name, "provider": conn.provider,
                              "display": psa.display_name(conn.provider), "default": bool(conn.is_default),
                              "settings": shown, "secrets": [], "member": None, "network_checked": False}
    values: dict[str, str] = {}
    missing: list[str] = []
    problem = None
    for f in module_fields:
        if not f.secret:
            continue
        found = psa.read_secret(conn, f.name, ctx.settings.env if ctx.settings else None)
        part["secrets"].append(DoctorSecret(field=f.name, required=f.required, source=found.source,
                                            env_var=psa.env_var(conn.name, f.name)))
        if found.value:
            values[f.name] = found.value
        elif f.required:
            missing.append(f.name)
            problem = problem or found.problem
    missing_settings = [f.name for f in module_fields if not f.secret and f.required and not conn.settings.get(f.name)]
    try:
        psa.check_transport(conn.provider, conn.settings)
    except RfpilotError as err:
        return _failed(part, err)
    if missing_settings:
        return _failed(part, f"the connection has no {', '.join(missing_settings)}",
                       f"set them with `rfpilot psa connect {conn.provider} --name {conn.name}`")
    if missing:
        names = ", ".join(psa.env_var(conn.name, m) for m in missing)
        return _failed(part, f"no {', '.join(missing)} found" + (f" ({problem})" if problem else ""),
                       f"store them with `rfpilot psa connect {conn.provider} --name {conn.name}`, or set {names}")
    if not network:
        return part
    part["network_checked"] = True
    async def sign_in() -> Any:
        async with psa.client_for(conn, values) as client:  # opening may ask too (a zone, a token)
            return await client.whoami()

    try:
        member = await asyncio.wait_for(sign_in(), TIMEOUT)
        part["member"] = member.identifier or member.name or member.id
    except TimeoutError:
        _failed(part, f"{part['display']} did not answer a sign-in within {TIMEOUT:g} s",
                f"{psa.provider_module(conn.provider).HINTS['no_answer']}; "
                f"`rfpilot psa test --connection {conn.name}` retries")
    except RfpilotError as err:
        _failed(part, err)
    return part


async def _psa(ctx: Any, network: bool) -> DoctorPSA:
    from rfpilot.core.closeout import psa

    rows = [c for c in await psa.list_connections(ctx) if c.settings or not c.name.startswith("removed-")]
    part: DoctorPSA = {**_part(), "connections": [await _connection(ctx, c, network) for c in rows]}
    bad = [c["name"] for c in part["connections"] if c["status"] == "fail"]
    if bad:
        _failed(part, f"{len(bad)} of {count(len(rows), 'PSA connection')} not usable: {', '.join(bad)}",
                "see each connection's line")
    return part


async def _outbox(ctx: Any) -> DoctorOutbox:
    from rfpilot.core.closeout import writeback

    items = await writeback.list_items(ctx)
    pending = [i for i in items if i.state == "pending"]
    failed = [i for i in items if i.state == "failed"]
    oldest = min((i.created_at for i in pending), default=None)
    now = ctx.now()
    part: DoctorOutbox = {
        **_part(), "pending": len(pending), "failed": len(failed),
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "oldest_pending_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "failed_items": [{"id": i.id, "ticket_ref": i.ticket_ref, "kind": i.kind, "attempts": i.attempts,
                          "last_error": i.last_error} for i in failed],
    }
    if failed:
        _failed(part, f"{count(len(failed), 'PSA write')} failed; a failed write is not retried on its own",
                "`rfpilot outbox list` shows the failed writes; `rfpilot outbox retry ID` tries one again, "
                "`rfpilot outbox drop ID` gives up on it")
    elif pending:
        _warned(part, f"{count(len(pending), 'PSA write')} {verb(len(pending), 'waits')} for delivery",
                "`rfpilot outbox sync` delivers what waits now (the TUI also does on start)")
    return part


# --- the report -------------------------------------------------------------------------------------------------


def _about(settings: Settings) -> DoctorAbout:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from rfpilot import __version__

    versions: dict[str, str | None] = {}
    for name in ("textual", "typer", "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "anthropic", "httpx", "keyring"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "rfpilot": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "paths": {"config": str(settings.paths.config_file), "data": str(settings.paths.data_dir),
                  "cache": str(settings.paths.cache_dir)},
        "versions": versions,
    }


def parts(report: DoctorReport) -> dict[str, DoctorPart]:
    """The report's parts by name, in the order of ``PARTS``."""
    return {"config": report["config"], "database": report["database"], "identity": report["identity"],
            "keyring": report["keyring"], "llm": report["llm"], "psa": report["psa"], "outbox": report["outbox"]}


async def run(settings: Settings, *, network: bool = True) -> DoctorReport:
    """Every check, as one JSON-able report (see the module docstring for its shape)."""
    about = _about(settings)
    config = _config(settings)
    ws, database = await _open(settings)
    try:
        identity = _identity(settings, ws)
        keyring = _keyring()
        llm = await _llm(settings, network)
        if ws is None:
            skipped = _part("skipped", "the database could not be opened", "fix the database first (see above)")
            psa: DoctorPSA = {**skipped, "connections": []}
            outbox: DoctorOutbox = {**skipped, "pending": None, "failed": None, "oldest_pending_at": None,
                                    "oldest_pending_age_seconds": None, "failed_items": []}
        else:
            async with ws.ctx() as ctx:
                psa = await _psa(ctx, network)
                outbox = await _outbox(ctx)
    finally:
        if ws is not None:
            await ws.close()
    report: DoctorReport = {"ok": True, "failed": [], "network": network, **about, "config": config,
                            "database": database, "identity": identity, "keyring": keyring, "llm": llm, "psa": psa,
                            "outbox": outbox}
    report["failed"] = [name for name, part in parts(report).items() if part["status"] == "fail"]
    report["ok"] = not report["failed"]
    return report


# --- the human view -----------------------------------------------------------------------------------------------


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _summary(name: str, report: DoctorReport) -> str:
    if name == "config":
        config = report["config"]
        return f"{config['file']}{'' if config['exists'] else ' (none yet: defaults)'}"
    if name == "database":
        db = report["database"]
        base = f"{db['url']} ({db['source']})"
        if db["dialect"]:
            base += f" · {db['dialect']} · schema {db['revision']} (head {db['head']}) · {count(db['sessions'] or 0, 'session')}"
        return base
    if name == "identity":
        who = report["identity"]
        return f"{who['name']} <{who['email']}> · account {who['account']}" if who["email"] is not None else ""
    if name == "keyring":
        ring = report["keyring"]
        if ring["usable"]:
            return f"{ring['backend']} (usable)"
        return f"{ring['backend']} · fallback: environment variables"
    if name == "llm":
        return _llm_summary(report["llm"])
    if name == "psa" and report["psa"]["status"] != "skipped":
        n = len(report["psa"]["connections"])
        return "no connection (sessions stay local)" if n == 0 else count(n, "connection")
    if name == "outbox":
        outbox = report["outbox"]
        if outbox["pending"] is None:
            return ""
        if not outbox["pending"] and not outbox["failed"]:
            return "empty"
        bits = [f"{outbox['pending']} waiting", f"{outbox['failed']} failed"]
        if outbox["oldest_pending_age_seconds"] is not None:
            bits.append(f"oldest waiting {_age(outbox['oldest_pending_age_seconds'])}")
        return " · ".join(bits)
    return ""


def _llm_summary(part: DoctorLLM) -> str:
    if not part["provider"]:
        return ""
    head = part["provider"]
    if not (part["key_source"] and part["key_source"] in (part["reason"] or "")):
        head += f" ({part['reason']})"
    bits = [head]
    if part["key_source"]:
        bits.append(f"key from {part['key_source']}")
    if part["detail"]:
        bits.append(part["detail"])
    if part.get("note"):
        bits.append(part["note"])
    if part["network_checked"]:
        bits.append(f"reached {part['reached']}" if part["status"] != "fail" else f"tried {part['reached']}")
    elif part["provider"] in ("anthropic", "openai") and part["ok"]:
        bits.append("not contacted (--no-network)")
    return " · ".join(bits)


def _lines(label: str, part: DoctorPart, summary: str) -> list[str]:
    pad = " " * 10
    status = part["status"]
    if status == "ok":
        lines = [f"{label:<10}{summary}"]
    else:
        word = {"fail": "NOT OK", "warn": "WARNING", "skipped": "SKIPPED"}[status]
        lines = [f"{label:<10}{word}: {part['error']}"] + ([f"{pad}{summary}"] if summary else [])
    if part["hint"] and status != "ok":
        lines += [f"{pad}hint: {line}" if i == 0 else f"{pad}{line}" for i, line in enumerate(part["hint"].splitlines())]
    return lines


def _connection_summary(conn: DoctorConnection) -> str:
    bits = [f"{conn['display']}{', default' if conn['default'] else ''}"]
    bits += [f"{k} {v}" for k, v in conn["settings"].items() if k in ADDRESS_SETTINGS]
    sources = [f"{s['field']} from {s['source']}" if s["source"] else f"{s['field']} missing" for s in conn["secrets"]]
    if sources:
        bits.append(", ".join(sources))
    if conn["member"]:
        bits.append(f"signed in as {conn['member']}")
    elif conn["ok"] and not conn["network_checked"]:
        bits.append("not contacted (--no-network)")
    return " · ".join(bits)


def render(report: DoctorReport) -> str:
    """The report for a person: one line per part, then ``hint:`` lines under each one that is not OK."""
    lines = [f"rfpilot {report['rfpilot']} · Python {report['python']} · {report['platform']}",
             f"data      {report['paths']['data']}"]
    for name, part in parts(report).items():
        shown = _lines(name, part, _summary(name, report))
        if name == "config":  # every bad value, not only the first: each one stops whatever reads it
            shown[1:1] = [f"{' ' * 10}also: {b['error']} ({b['source']})" for b in report["config"]["bad"][1:]]
        lines += shown
        if name == "psa":
            for conn in report["psa"]["connections"]:
                lines += _lines(f"  {conn['name']}", conn, _connection_summary(conn))
    failed = report["outbox"]["failed_items"]
    for item in failed[:5]:
        lines.append(f"          {item['id'][:8]} {item['kind']} {item['ticket_ref'] or ''}: {item['last_error'] or '?'}")
    if len(failed) > 5:
        lines.append(f"          … and {len(failed) - 5} more")
    lines.append("versions  " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v))
    lines.append("all OK" if report["ok"] else f"NOT OK: {', '.join(report['failed'])} (exit 1)")
    return "\n".join(lines)

