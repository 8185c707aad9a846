"""SPEC §16 for every PSA: credentials go over https://, or plain http:// to a loopback address only.

Each PSA gets the same attacks (issue 12, item 10): `psa connect` with a plain-http address to another host is
refused before anything is stored or sent; a loopback http address (a local fake) and https are accepted and used
as written (never silently upgraded); a connection edited by hand in the store to plain http is refused when it
is used, before any request leaves; and a plain-http address a server hands back (Halo's auth URL, Autotask's zone
and next-page URLs) is refused at request time. A recording MockTransport in front of each fake proves that no
request reached the network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rfpilot.core.closeout import psa
from rfpilot.psa import autotask, connectwise, halo
from rfpilot.psa.errors import InsecureURLError
from rfpilot.psa.http import RetryPolicy, check_url, is_loopback
from tests.fakes.autotask import FakeAutotask
from tests.fakes.connectwise import FakeConnectWise
from tests.fakes.halo import FakeHalo


async def _no_sleep(_: float) -> None:
    return None


class Recorder:
    """A MockTransport in front of a fake: every request that would have left the machine, in order."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.handler(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _fake(provider: str, where: str | None) -> Any:
    """The provider's fake, serving at ``where`` (a host for ConnectWise, a URL for the others)."""
    if provider == "connectwise":
        fake = FakeConnectWise(**({"site": where} if where else {}))
        fake.seed_ticket(48307)
        return fake
    if provider == "autotask":
        return FakeAutotask(**({"zone_url": where} if where else {}))
    return FakeHalo(**({"url": where} if where else {}))


def _handler(fake: Any) -> Callable[[httpx.Request], httpx.Response]:
    return fake._handle if isinstance(fake, FakeConnectWise) else fake.handle


def _secrets(fake: Any) -> dict[str, str]:
    if isinstance(fake, FakeConnectWise):
        return fake.secrets()
    if isinstance(fake, FakeAutotask):
        return fake.connection()[1]
    return fake.settings_and_secrets()[1]


def _base_flags(fake: Any) -> list[str]:
    """The provider's required non-URL settings."""
    if isinstance(fake, FakeConnectWise):
        return ["--company-id", fake.company_id]
    if isinstance(fake, FakeAutotask):
        return ["--username", fake.username]
    return []


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch):
    """Put a provider's fake behind a recording transport for rfpilot's PSA connections."""
    monkeypatch.setattr(psa, "POLICY", RetryPolicy(sleep=_no_sleep))
    transports: dict[str, Any] = {}
    monkeypatch.setattr(psa, "TRANSPORTS", transports)
    autotask.clear_zone_cache()

    def install(provider: str, fake: Any) -> Recorder:
        recorder = Recorder(_handler(fake))
        transports[provider] = recorder.transport
        return recorder

    yield install
    autotask.clear_zone_cache()


def _connect(cli, provider: str, fake: Any, url_flags: list[str]) -> tuple[int, str, str]:
    stdin = "".join(f"{k}={v}\n" for k, v in _secrets(fake).items())
    return cli("psa", "connect", provider, *_base_flags(fake), *url_flags, "--secrets-stdin", stdin=stdin)


def _no_secret_sent(recorder: Recorder, fake: Any) -> None:
    for request in recorder.seen:
        blob = str(request.url) + json.dumps(dict(request.headers)) + request.content.decode(errors="replace")
        for value in _secrets(fake).values():
            assert value not in blob, f"a secret went to {request.url}"


# --- the rule itself ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://acme.halopsa.com", "https://192.0.2.2:8443/x", "http://127.0.0.1:8080", "http://127.9.9.9",
    "http://[::1]:8080/api", "http://localhost:8080", "http://LOCALHOST",
])
def test_allowed_addresses(url: str) -> None:
    assert str(check_url(url, "HaloPSA")).startswith(url.split(":")[0])


@pytest.mark.parametrize("url", [
    "http://192.0.2.2:8080", "http://10.0.0.5", "http://acme.halopsa.com", "http://[2001:db8::1]/",
    "http://localhost.evil.example", "http://127.0.0.1.nip.io", "http://2130706433", "ftp://acme.example",
    "file:///etc/passwd", "acme.halopsa.com", "", "http://", "https://",
])
def test_refused_addresses(url: str) -> None:
    with pytest.raises(InsecureURLError) as err:
        check_url(url, "HaloPSA")
    assert err.value.exit_code == 1
    if url.startswith("http://") and len(url) > 7:
        assert "in clear" in err.value.message and "use https://" in (err.value.hint or "")


def test_loopback_is_only_this_machine() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.255.0.1", "::1", "[::1]", "localhost", "localhost."))
    assert not any(is_loopback(h) for h in ("192.0.2.2", "0.0.0.0", "::", "localhost.example", "128.0.0.1", ""))


# --- psa connect --------------------------------------------------------------------------------------------

PROVIDERS = ["connectwise", "autotask", "halo"]

REFUSED = {
    "connectwise": [
        ["--site", "http://192.0.2.2"],
        ["--site", "http://api-na.myconnectwise.net"],  # was silently upgraded to https
        ["--site", "api-na.myconnectwise.net", "--base-url", "http://192.0.2.2:8080/v2025_1/apis/3.0"],
        ["--site", "api-na.myconnectwise.net", "--base-url", "ftp://192.0.2.2/v2025_1/apis/3.0"],
    ],
    "autotask": [
        ["--zone-url", "http://192.0.2.2/atservicesrest/"],
        ["--zone-url", "http://webservices5.autotask.net/atservicesrest/"],
    ],
    "halo": [["--url", "http://192.0.2.2:8080"], ["--url", "http://acme.halopsa.com"]],
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connect_refuses_plain_http_to_another_host(cli, wire, memory_keyring, provider) -> None:
    fake = _fake(provider, None)
    recorder = wire(provider, fake)
    for flags in REFUSED[provider]:
        code, out, err = _connect(cli, provider, fake, flags)
        assert code == 1, (flags, err)
        [line, *rest] = err.strip().splitlines()
        assert line.startswith("error: ") and "Traceback" not in err
        assert rest and rest[0].startswith("hint: ") and "https://" in rest[0]
        assert recorder.seen == []  # nothing was sent: no sign-in test, no zone lookup
        assert memory_keyring.store == {}  # no secret kept
        code, out, _ = cli("psa", "list", "--json")
        assert code == 0 and json.loads(out) == []  # nothing stored


ACCEPTED = {
    "connectwise": [
        ("127.0.0.1", ["--site", "http://127.0.0.1:8080", "--codebase", "v2025_1"], "http"),
        ("127.0.0.1", ["--site", "api-na.myconnectwise.net", "--base-url", "http://127.0.0.1:8080/v2025_1/apis/3.0"],
         "http"),
        (None, ["--site", "https://api-na.myconnectwise.net/", "--codebase", "v2025_1"], "https"),
    ],
    "autotask": [
        ("http://127.0.0.1:8080/atservicesrest/", ["--zone-url", "http://127.0.0.1:8080/atservicesrest/"], "http"),
        (None, ["--zone-url", "https://webservices5.autotask.net/atservicesrest/"], "https"),
    ],
    "halo": [
        ("http://localhost:8080", ["--url", "http://localhost:8080"], "http"),
        ("http://[::1]:8080", ["--url", "http://[::1]:8080"], "http"),
        (None, ["--url", "https://acme.halopsa.com"], "https"),
    ],
}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connect_accepts_loopback_http_and_https(cli, wire, memory_keyring, provider) -> None:
    for number, (where, flags, scheme) in enumerate(ACCEPTED[provider]):
        autotask.clear_zone_cache()
        fake = _fake(provider, where)
        recorder = wire(provider, fake)
        name = f"c{number}"
        code, out, err = _connect(cli, provider, fake, [*flags, "--name", name])
        assert code == 0, (flags, err)
        assert "connected" in err and " as " in err  # the sign-in test went through
        # Used as written: a loopback http address is not upgraded, an https one not downgraded.
        tenant = [r for r in recorder.seen if r.url.host != "webservices.autotask.net"]  # Autotask's zone lookup
        assert tenant and {r.url.scheme for r in tenant} == {scheme}, flags
        code, out, err = cli("psa", "test", "--connection", name)
        assert code == 0, err


# --- a stored connection edited by hand -------------------------------------------------------------------------

EDITS = {
    "connectwise": [{"site": "http://192.0.2.2"}, {"base_url": "http://192.0.2.2:8080/v2025_1/apis/3.0"}],
    "autotask": [{"zone_url": "http://192.0.2.2/atservicesrest/"}],
    "halo": [{"url": "http://192.0.2.2:8080"}],
}


def _edit_stored(env: dict[str, str], name: str, changes: dict[str, str]) -> None:
    from rfpilot.config import load_settings
    from rfpilot.core.context import Workspace

    async def go() -> None:
        ws = await Workspace.open(load_settings(env=env))
        try:
            async with ws.ctx() as c:
                conn = await psa.get_connection(c, name)
                async with c.tx():
                    conn.settings = {**conn.settings, **changes}
        finally:
            await ws.close()

    asyncio.run(go())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stored_plain_http_connection_sends_nothing(cli, env, wire, memory_keyring, provider) -> None:
    fake = _fake(provider, None)
    recorder = wire(provider, fake)
    flags = {"connectwise": ["--site", getattr(fake, "site", ""), "--codebase", "v2025_1"],
             "autotask": [], "halo": ["--url", getattr(fake, "url", "")]}[provider]
    for number, changes in enumerate(EDITS[provider]):
        name = f"c{number}"
        code, _, err = _connect(cli, provider, fake, [*flags, "--name", name])
        assert code == 0, err
        _edit_stored(env, name, changes)
        recorder.seen.clear()
        for command in (["psa", "test"], ["tickets", "list"], ["psa", "statuses", "48307"]):
            code, out, err = cli(*command, "--connection", name)
            assert code == 1, (command, err)
            assert err.startswith("error: refused plain http:// to 192.0.2.2") and "Traceback" not in err
        assert recorder.seen == []


# --- addresses a server hands back -----------------------------------------------------------------------------


def test_halo_refuses_a_plain_http_token_url_from_authinfo() -> None:
    fake = FakeHalo()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.lower() == "/api/authinfo":
            return httpx.Response(200, json={"auth_url": "http://192.0.2.2/auth"})
        return fake.handle(request)

    recorder = Recorder(handler)
    settings, secrets = fake.settings_and_secrets()

    async def go() -> None:
        async with halo.build(settings, secrets, transport=recorder.transport,
                              policy=RetryPolicy(sleep=_no_sleep)) as client:
            await client.whoami()

    with pytest.raises(InsecureURLError):
        asyncio.run(go())
    assert [r.url.path for r in recorder.seen] == ["/api/authinfo"]  # the token request never left
    assert fake.token_requests == []
    _no_secret_sent(recorder, fake)


def test_autotask_refuses_a_plain_http_zone_from_the_lookup() -> None:
    autotask.clear_zone_cache()
    fake = FakeAutotask(zone_url="http://192.0.2.2/atservicesrest/")
    recorder = Recorder(fake.handle)
    settings, secrets = fake.connection()

    async def go() -> None:
        async with autotask.build(settings, secrets, transport=recorder.transport,
                                  policy=RetryPolicy(sleep=_no_sleep)) as client:
            await client.whoami()

    try:
        with pytest.raises(InsecureURLError):
            asyncio.run(go())
    finally:
        autotask.clear_zone_cache()
    assert [r.url.host for r in recorder.seen] == ["webservices.autotask.net"]  # only the (keyless) lookup
    _no_secret_sent(recorder, fake)


def test_autotask_refuses_a_plain_http_next_page_at_request_time() -> None:
    """The last line of defence: the check on the URL actually requested, after the client was built."""
    fake = FakeAutotask()
    fake.page_size = 2
    resource = fake.resource_id("jdoe")
    for _ in range(5):
        fake.add_ticket(assignedResourceID=resource)

    def handler(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        body = json.loads(response.content or b"null")
        if isinstance(body, dict) and (body.get("pageDetails") or {}).get("nextPageUrl"):
            body["pageDetails"]["nextPageUrl"] = body["pageDetails"]["nextPageUrl"].replace("https://", "http://")
            return httpx.Response(response.status_code, json=body)
        return response

    recorder = Recorder(handler)
    settings, secrets = fake.connection(with_zone=True, resource_id=str(resource))

    async def go() -> None:
        async with autotask.build(settings, secrets, transport=recorder.transport,
                                  policy=RetryPolicy(sleep=_no_sleep)) as client:
            await client.my_open_tickets(limit=50)

    with pytest.raises(InsecureURLError):
        asyncio.run(go())
    assert recorder.seen and all(r.url.scheme == "https" for r in recorder.seen)


def test_a_client_built_directly_with_plain_http_refuses_before_sending() -> None:
    fake = FakeHalo(url="http://192.0.2.2")
    recorder = Recorder(fake.handle)
    settings, secrets = fake.settings_and_secrets()
    with pytest.raises(InsecureURLError):
        halo.build(settings, secrets, transport=recorder.transport)
    cw = FakeConnectWise()
    with pytest.raises(InsecureURLError):
        connectwise.build(cw.settings(site="http://api-na.myconnectwise.net"), cw.secrets(),
                          transport=Recorder(cw._handle).transport)
    assert recorder.seen == []


# --- ConnectWise --base-url ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("site,base_url", [
    ("127.0.0.1", "http://127.0.0.1:8080/v2025_1/apis/3.0"),
    ("cw.internal.example", "https://cw.internal.example/v2025_1/apis/3.0/"),
])
def test_connectwise_base_url_contract(site: str, base_url: str) -> None:
    """The override is the whole API root: every call goes under it, and no codebase is looked up."""
    fake = FakeConnectWise(site=site)
    fake.max_page_size = 2
    fake.add_member("jdoe", "Jane", "Doe")
    for number in range(48301, 48306):
        fake.seed_ticket(number, owner="jdoe")
    recorder = Recorder(fake._handle)
    settings = {"site": "api-na.myconnectwise.net", "company_id": fake.company_id, "base_url": base_url,
                "member": "jdoe"}

    async def go() -> None:
        async with connectwise.build(settings, fake.secrets(), transport=recorder.transport,
                                     policy=RetryPolicy(sleep=_no_sleep)) as client:
            me = await client.whoami()
            assert me.identifier == "jdoe"
            tickets = await client.my_open_tickets(limit=10)
            assert {t.id for t in tickets} == {str(n) for n in range(48301, 48306)}  # over three pages
            ticket = await client.get_ticket("48303")
            note = await client.post_note("48303", "Replaced the toner.", "resolution")
            assert any(n.id == note.id for n in await client.recent_notes("48303"))
            await client.set_status(ticket, await client.find_status(ticket, "Resolved"))
            assert (await client.get_ticket("48303")).status_name == "Resolved"
            assert client.codebase is None

    asyncio.run(go())
    root = httpx.URL(base_url.rstrip("/") + "/")
    assert recorder.seen
    for request in recorder.seen:
        assert (request.url.scheme, request.url.host, request.url.port) == (root.scheme, root.host, root.port)
        assert request.url.path.startswith(root.path), request.url
    assert not any("/login/companyinfo" in r.url.path for r in recorder.seen)


def test_a_queued_write_is_not_sent_over_plain_http(cli, env, wire, memory_keyring) -> None:
    """The outbox delivers through the same gate: edited to plain http, the sync fails (exit 4), sends nothing,
    and keeps the write for when the address is fixed."""
    fake = _fake("connectwise", None)
    recorder = wire("connectwise", fake)
    code, _, err = _connect(cli, "connectwise", fake, ["--site", fake.site, "--codebase", fake.codebase])
    assert code == 0, err
    code, out, err = cli("new", "--ticket", "48307")
    assert code == 0, err
    fake.down = True
    code, _, err = cli("resolve", out.strip(), "--yes", "--offline")
    assert code == 6, err  # queued
    fake.down = False
    _edit_stored(env, "main", {"site": "http://192.0.2.2"})
    recorder.seen.clear()
    code, out, err = cli("outbox", "sync")
    assert code == 4 and "refused plain http:// to 192.0.2.2" in out + err
    assert recorder.seen == []
    code, out, _ = cli("outbox", "list", "--json")
    assert [item["state"] for item in json.loads(out)] == ["pending"]
