"""TLS for model servers: the CA bundle loaded once per process, and not at all for a plain-http server.

Loading the CA bundle costs 20–40 ms of CPU (OpenSSL parses every certificate), and httpx does it again for
each client it builds — once per chat turn, since every turn makes its provider (the TUI, a long-lived
process, paid it on every turn). ``verified()`` loads it once per process. A server reached over plain http (a
local Ollama or llama.cpp) never does TLS, so ``for_url`` gives it a context with no CA loaded: should TLS
happen anyway, verification fails closed rather than passing unchecked; an https proxy in the environment
(the one way a plain-http request does TLS) gets the verified context.
"""

from __future__ import annotations

import functools
import os
import ssl

_PROXY_VARS = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@functools.cache
def verified() -> ssl.SSLContext:
    """httpx's own default context (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR), built once."""
    import httpx

    return httpx.create_ssl_context()


@functools.cache
def _unloaded() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies hostnames and certificates, trusts no CA


def for_url(url: str) -> ssl.SSLContext:
    """The context a client for ``url`` needs: none loaded for plain http without an https proxy."""
    if url.lower().startswith("http://") and not any(
        os.environ.get(name, "").strip().lower().startswith("https://") for name in _PROXY_VARS
    ):
        return _unloaded()
    return verified()
