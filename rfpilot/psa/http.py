"""The HTTP layer every PSA client shares: retries, backoff, error shapes, and no secret in any log line.

Rules (SPEC §9, reference psa-llm.md):

* 429 waits for ``Retry-After`` (seconds or an HTTP date, capped) and tries again — for any method, since the
  server did not process the request.
* A connection that never opened (connect error or connect timeout) is retried for any method.
* 5xx, read timeouts and dropped connections are retried with exponential backoff and jitter only for
  idempotent requests (GET, PUT, PATCH, DELETE, and requests marked ``idempotent=True``). For a POST they
  raise ``PSAUnavailableError(ambiguous=True)`` at once: the note may exist, and only the caller can look.
* A server that takes a request and stays silent for the whole read timeout is asked once more, not until the
  tries run out: four silent waits of 30 s kept an engineer's `resolve` waiting over two minutes before saying the
  note was queued. Two are enough to tell a slow answer from a server that is not answering.
* Any other 4xx is final: ``PSARequestError`` with the server's own message (the client's ``error_message``).
* A 5xx the client declares final (``is_final``: Autotask reports permission errors as 500) is final too.

Transport (SPEC §16): ``check_url`` is the one rule for every PSA address (``rfpilot.transport``'s, worded for a
PSA) — ``https://`` anywhere, plain ``http://`` only to a loopback address (127.0.0.0/8, ::1, localhost: a local
test fake). It is applied when a connection is made or loaded (``rfpilot.core.closeout.psa``), when a ``PSAHttp``
is created, and again to every request just before it is sent, so an address edited by hand in the store, or one
a server hands back (Halo's auth URL, Autotask's zone and next-page URLs), never carries a credential in clear.

Logging: one DEBUG line per attempt with the method, the path (no query string) and the outcome. Headers,
bodies and query strings are never logged, so credentials and ticket text never reach a log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from rfpilot.grammar import count
from rfpilot.progress import say
from rfpilot.psa.errors import InsecureURLError, PSARequestError, PSAUnavailableError
from rfpilot.transport import is_loopback  # the one rule of where credentials may go (rfpilot.transport)

log = logging.getLogger("rfpilot.psa")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def check_url(url: str | httpx.URL, name: str) -> httpx.URL:
    """The address if credentials may go there, else ``InsecureURLError`` (SPEC §16).

    ``https://`` to any host; ``http://`` only to a loopback address (a local fake for testing); nothing else.
    ``name`` is the PSA's display name, for the message.
    """
    text = str(url).strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    scheme = parsed.scheme.lower() if parsed is not None else ""
    host = parsed.host if parsed is not None else ""
    if scheme == "https" and host:
        return parsed  # type: ignore[return-value]
    if scheme == "http" and host and is_loopback(host):
        return parsed  # type: ignore[return-value]
    if scheme == "http" and host:
        secure = str(parsed.copy_with(scheme="https", port=None)).rstrip("/") if parsed is not None else "https://…"
        raise InsecureURLError(
            f"refused plain http:// to {host}: it would send the {name} credentials across the network in clear",
            hint=f"use {secure} (plain http:// is only for loopback addresses: 127.0.0.1, ::1, localhost)",
        )
    raise InsecureURLError(f"{text[:200]!r} is not an https:// address for {name}",
                           hint="give the server's https:// address (plain http:// only to 127.0.0.1, ::1 or localhost)")


UNREACHABLE_HINT = "check the network and the connection's address (`rfpilot psa test`)"
SILENT_TRIES = 2  # read timeouts of one request before it is given up (a silent server is not asked four times)


@dataclass
class RetryPolicy:
    attempts: int = 4  # requests in all for one call, the first included ("after 4 requests")
    base_delay: float = 0.5  # seconds; doubles per retry, with full jitter
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is treated as "unavailable now"
    timeout: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    jitter: Callable[[], float] = field(default=random.random)

    def backoff(self, retry: int) -> float:
        """Full jitter: a random wait in [0, min(max, base * 2^retry)]."""
        return self.jitter() * min(self.max_delay, self.base_delay * (2 ** retry))


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def default_error_message(response: httpx.Response) -> str:
    """The body as text when it is short and readable, else the reason phrase."""
    text = response.text.strip()
    if text and len(text) <= 500 and "<html" not in text[:200].lower():
        return text
    return response.reason_phrase or f"HTTP {response.status_code}"


class PSAHttp:
    """An ``httpx.AsyncClient`` with the retry rules above. ``name`` is the PSA's display name for messages."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
        error_message: Callable[[httpx.Response], str] = default_error_message,
        is_final: Callable[[httpx.Response], bool] | None = None,
        hints: Mapping[int | str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.hints = hints
        self.policy = policy or RetryPolicy()
        self.auth = auth
        self.error_message = error_message
        self.is_final = is_final
        check_url(base_url, name)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            transport=transport,
            timeout=httpx.Timeout(self.policy.timeout, connect=min(10.0, self.policy.timeout)),
            follow_redirects=False,
            event_hooks={"request": [self._check_request]},
        )

    async def _check_request(self, request: httpx.Request) -> None:
        """Last look before anything leaves: the transport rule on the URL actually requested."""
        check_url(request.url, self.name)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        method = method.upper()
        safe = method in IDEMPOTENT if idempotent is None else idempotent
        policy = self.policy
        last_problem = "no attempt was made"
        silent = 0  # read timeouts so far: the server took the request and said nothing for policy.timeout
        for attempt in range(policy.attempts):
            wait: float | None = None
            most = policy.attempts  # requests in all, as this attempt's outcome leaves it
            try:
                extra = dict(headers or {})
                if self.auth is not None:
                    extra.update(await self.auth())
                response = await self.client.request(method, url, params=params, json=json, data=data, headers=extra)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never reached the server: safe to try again whatever the method.
                last_problem = f"cannot connect to {self.name} ({type(exc).__name__})"
                log.debug("%s %s: %s", method, _path(url), last_problem)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                last_problem = f"{self.name} did not answer ({type(exc).__name__})"
                log.debug("%s %s: %s", method, _path(url), last_problem)
                if not safe:
                    raise PSAUnavailableError(
                        f"{last_problem}; the request may or may not have been applied", ambiguous=True
                    ) from None
                if isinstance(exc, httpx.ReadTimeout):
                    silent += 1
                    last_problem = f"{self.name} did not answer within {policy.timeout:g} s"
                    most = min(policy.attempts, attempt + 1 + SILENT_TRIES - silent)
                    if silent == SILENT_TRIES:
                        raise PSAUnavailableError(
                            f"{last_problem}, after {count(silent, 'request')}",
                            hint=(self.hints or {}).get("no_answer") or UNREACHABLE_HINT,
                        ) from None
            except httpx.HTTPError as exc:  # a proxy error, a bad URL scheme, an undecodable body…
                log.debug("%s %s: %s", method, _path(url), type(exc).__name__)
                raise PSAUnavailableError(
                    f"the request to {self.name} failed ({type(exc).__name__})", ambiguous=not safe,
                    hint="check the connection's address (`rfpilot psa list`) and any proxy settings",
                ) from None
            else:
                log.debug("%s %s -> %s", method, _path(url), response.status_code)
                status = response.status_code
                if status < 400:
                    return response
                if status == 429:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    if wait is not None and wait > policy.max_retry_after:
                        raise PSAUnavailableError(
                            f"{self.name} is rate limiting this connection (Retry-After {wait:.0f} s)",
                            hint="try again later; queued notes are delivered by `rfpilot outbox sync`",
                        )
                    last_problem = f"{self.name} is rate limiting this connection (429)"
                elif status >= 500 and not (self.is_final and self.is_final(response)):
                    last_problem = f"{self.name} had a server error ({status}: {_short(self.error_message(response))})"
                    if not safe:
                        raise PSAUnavailableError(
                            f"{last_problem}; the request may or may not have been applied", ambiguous=True
                        )
                else:
                    raise request_error(self.name, response, self.error_message(response), self.hints)
            if attempt + 1 < policy.attempts:
                pause = wait if wait is not None else policy.backoff(attempt)
                # Someone is waiting on this (a resolve, a sync): say why, or a silent minute looks like a hang.
                say(f"{last_problem}; trying again" + (f" in {pause:.0f} s" if pause >= 1 else "")
                    + f" (request {attempt + 2} of {most})")
                await policy.sleep(pause)
        raise PSAUnavailableError(f"{last_problem}, after {count(policy.attempts, 'request')}", hint=UNREACHABLE_HINT)

    async def get_json(self, url: str, **kwargs: Any) -> Any:
        return _json(self.name, await self.request("GET", url, **kwargs), ambiguous=False)

    async def send_json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self.request(method, url, **kwargs)
        safe = method.upper() in IDEMPOTENT if kwargs.get("idempotent") is None else kwargs["idempotent"]
        # A 2xx we cannot read means the write probably happened: say so, so nobody posts it twice.
        return _json(self.name, response, ambiguous=not safe) if response.content else None


# Hints for a final refusal, by HTTP status, in words every PSA shares. Each client passes its own (``hints``),
# in its PSA's terms (ConnectWise site and codebase, Autotask zone and API user, Halo URL and tenant).
DEFAULT_HINTS: Mapping[int | str, str] = {
    401: "the credentials were refused: check them with `rfpilot psa test` and `rfpilot psa connect`",
    403: "the API account lacks a permission for this (see docs/psa.md for the permissions needed)",
    404: "check the id; wrong connection settings or credentials can also answer 404",
}


def request_error(
    name: str, response: httpx.Response, message: str, hints: Mapping[int | str, str] | None = None
) -> PSARequestError:
    status = response.status_code
    hint = (DEFAULT_HINTS if hints is None else hints).get(status)
    text = _short(message)
    if text.startswith(name):  # the client already wrote a whole sentence
        return PSARequestError(text, status_code=status, hint=hint)
    return PSARequestError(f"{name} refused the request ({status}): {text}", status_code=status, hint=hint)


def _json(name: str, response: httpx.Response, *, ambiguous: bool) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PSAUnavailableError(f"{name} answered with something that is not JSON ({response.status_code})",
                                  ambiguous=ambiguous) from None


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def _short(message: str, limit: int = 400) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"
