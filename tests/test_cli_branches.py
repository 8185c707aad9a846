"""`rfpilot branches …` from the command line."""

from __future__ import annotations

import json


def ok(result) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def test_fork_switch_mark_revive(cli) -> None:
    sid = ok(cli("new", "Name resolution fails on some laptops")).strip()
    assert "has not forked" in ok(cli("branches", "list", sid))
    tree = json.loads(ok(cli("branches", "fork", sid, "--reason", "Network or DNS?", "-o", "Network: ping the gateway",
                             "-o", "DNS: nslookup against both servers", "--json")))
    labels = [(b["label"], b["status"], b["root"]) for b in tree["branches"]]
    assert labels == [("Root", "active", True), ("Network", "untried", False), ("DNS", "untried", False)]
    out = ok(cli("branches", "switch", sid, "network"))
    assert "▶   ● Network [active]" in out and "○ DNS [untried]" in out
    code, _, err = cli("branches", "mark", sid, "Network", "dead_end")
    assert code == 1 and "say why it is a dead end" in err
    code, out, err = cli("branches", "mark", sid, "Network", "dead_end", "--reason", "The gateway answers", "--offline")
    assert code == 0 and "✗ Network [dead_end]" in out and "— The gateway answers" in out
    assert "summary (offline)" in err
    out = ok(cli("branches", "revive", sid, "Network", "--from", "DNS", "--evidence", "DNS is fine; the VPN drops packets"))
    assert "↺ Network [revived]" in out
    code, _, err = cli("branches", "fork", sid, "--reason", "x", "-o", "Only one")
    assert code == 1 and "2 to 4" in err
    code, _, err = cli("branches", "switch", sid, "Nope")
    assert code == 2 and "no branch 'Nope'" in err and "Network" in err
