"""Where rfpilot may send a key or a session's text: ``https://`` to any host, plain ``http://`` only to this machine.

One rule for every address that carries a credential or a ticket's content: the PSA connections
(``rfpilot.psa.http.check_url``, which words it for a PSA and raises its error) and the model servers
(``llm.openai.base_url`` through the settings schema and the provider, ``ANTHROPIC_BASE_URL`` through
``rfpilot.core.llm.anthropic_base_url``, which the provider and ``doctor`` both read it by). A model server on another machine that speaks only plain http (Ollama, llama.cpp) is reached through an
https proxy in front of it, or an SSH tunnel to a loopback port.

Light on purpose: rfpilot.config imports it on every command (ipaddress and urllib only when an address is read).
"""

from __future__ import annotations

LOOPBACK_WORDS = "127.0.0.1, ::1 or localhost"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses that never leave this machine."""
    import ipaddress

    host = (host or "").strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def model_server_refusal(url: str) -> tuple[str, str] | None:
    """(message, hint) when a model server's ``url`` is plain ``http://`` to another machine (what is sent there
    crosses the network in clear); None for ``https://``, for ``http://`` to a loopback address, and for anything
    that is not an http URL with a host (the caller says what is wrong with those)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url).strip())
        host, port = parts.hostname, parts.port or 80  # a port that is not a number raises here
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or not host or is_loopback(host):
        return None
    local = f"http://localhost:{port}{parts.path.rstrip('/')}"
    return (f"refused plain http:// to {host}: the model server would get the session's text (and any key) "
            "across the network in clear",
            f"use its https:// address, or tunnel to it over SSH (`ssh -N -L {port}:localhost:{port} {host}`) and "
            f"use {local}; plain http:// is only for {LOOPBACK_WORDS}")
