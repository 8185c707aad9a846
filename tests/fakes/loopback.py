"""Serve a stateful PSA fake over real HTTP on 127.0.0.1, so separate ``rfpilot`` processes share one fake.

The fakes in this folder are ``httpx.MockTransport`` handlers, which only the test's own process can use. A
``LoopbackPSA`` runs a threaded ``http.server`` on a free loopback port (a thread of the test process): each
request is turned back into an ``httpx.Request`` for the fake's own address, handed to the fake's handler (one
at a time: the fakes are not thread-safe), and the answer is written back with the fake's absolute URLs
(``Link`` headers, ``nextPageUrl``, ``auth_url``…) pointed at the loopback address instead.

Misbehaviour for the writeback tests:

* ``post_delay`` — seconds a note POST waits *before* the fake records it (a slow PSA: the window in which an
  unguarded second delivery reads the ticket and sees no note yet);
* ``lose_replies`` — the next that many note POSTs are applied, then their reply is lost: alternately the
  connection is dropped without an answer and a ``502`` is returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

SKIP_REQUEST_HEADERS = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
SKIP_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection"}


class LoopbackPSA:
    def __init__(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        upstream: str,
        *,
        is_note_post: Callable[[httpx.Request], bool],
        post_delay: float = 0.0,
        lose_replies: int = 0,
    ) -> None:
        self.handler = handler
        self.upstream = upstream.rstrip("/")  # the fake's own scheme://host, e.g. https://acme.halopsa.com
        self.is_note_post = is_note_post
        self.post_delay = post_delay
        self.lose_replies = lose_replies
        self.lost = 0  # replies lost so far
        self.note_posts = 0  # note POSTs received
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackPSA:
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> None:
                bridge.forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-psa", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _rewrite(self, text: str) -> str:
        return text.replace(self.upstream, self.base_url)

    def forward(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        headers = [(k, v) for k, v in http.headers.items() if k.lower() not in SKIP_REQUEST_HEADERS]
        request = httpx.Request(http.command, self.upstream + http.path, headers=headers, content=body)
        note_post = self.is_note_post(request)
        if note_post and self.post_delay:
            time.sleep(self.post_delay)  # outside the lock: slow posts overlap, as on a real server
        lose: str | None = None
        with self.lock:
            if note_post:
                self.note_posts += 1
            try:
                response = self.handler(request)
                response.read()
            except httpx.TransportError:
                response = None  # the fake itself dropped the connection (its own switches)
            if note_post and response is not None and response.status_code < 300 and self.lose_replies > 0:
                self.lose_replies -= 1
                self.lost += 1
                lose = "drop" if self.lost % 2 else "502"
        if response is None or lose == "drop":
            http.close_connection = True
            try:
                http.wfile.flush()
                http.connection.shutdown(2)  # SHUT_RDWR: no answer at all
            except OSError:
                pass
            return
        if lose == "502":
            status, content, out_headers = 502, b"Bad Gateway", [("Content-Type", "text/plain")]
        else:
            status = response.status_code
            content = self._rewrite(response.content.decode("utf-8", "replace")).encode("utf-8") \
                if response.content else b""
            out_headers = [(k, self._rewrite(v)) for k, v in response.headers.items()
                           if k.lower() not in SKIP_RESPONSE_HEADERS]
        http.send_response(status)
        for key, value in out_headers:
            http.send_header(key, value)
        http.send_header("Content-Length", str(len(content)))
        http.end_headers()
        http.wfile.write(content)


class SlowChatServer:
    """A slow OpenAI-compatible model server on 127.0.0.1: ``POST /v1/chat/completions`` streams ``reply`` as
    server-sent events, one word every ``delay`` seconds (a real process can be quit mid-reply). A request
    without ``stream`` (the session title) gets a short answer at once."""

    def __init__(self, reply: str, *, delay: float = 0.1) -> None:
        self.reply = reply
        self.delay = delay
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> SlowChatServer:
        import json

        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                fake.requests += 1
                if not body.get("stream"):
                    answer = json.dumps({"model": "slow", "choices": [{"message": {"content": "Scan trouble"},
                                                                      "finish_reason": "stop"}]}).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                try:
                    for word in fake.reply.split(" "):
                        frame = {"model": "slow", "choices": [{"delta": {"content": word + " "}}]}
                        self.wfile.write(f"data: {json.dumps(frame)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(fake.delay)
                    self.wfile.write(b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n')
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client quit mid-reply
                    pass
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="slow-chat", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
