"""The LLM engine from the command line, with the scripted provider (issue 3's acceptance run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPLIES = """
replies:
  - reply: |
      A mapped drive that drops only on VPN points at the tunnel or at how the drive is mapped.

      [QUESTIONS]
      [{"text": "Does the drive drop on the office network too?", "context": "Separates VPN from the mapping."}]
      [/QUESTIONS]
      [ACTIONS]
      [{"label": "List the mapped drives", "command": "net use", "description": "Shows whether the mapping persists."}]
      [/ACTIONS]
  - reply: |
      Only on VPN, so the mapping itself is sound.

      [PROMOTE]
      {"source_type": "question", "source_ref": "{{question:Does the drive drop on the office network too?}}", "text": "The drive stayed connected on the office network.", "summary": "rules out the mapping itself"}
      [/PROMOTE]
      [SUGGEST_FIX]
      {"title": "Raise the VPN idle timeout", "description": "The tunnel idles out and drops SMB sessions.", "confidence": 75}
      [/SUGGEST_FIX]
      [ACTIONS]
      [{"label": "List the mapped drives", "command": "net use", "description": "Shows whether the mapping persists."}]
      [/ACTIONS]
  - match: worked
    reply: |
      Good news.

      [FIX_OUTCOME]
      {"fix_id": "{{fix}}", "outcome": "success", "reason": "The drive stayed up all afternoon."}
      [/FIX_OUTCOME]
      [QUESTIONS]
      [{"text": "Do other users on the VPN see the same drops?"}]
      [/QUESTIONS]
  - action: resolution_note
    reply: |
      ## Problem
      A mapped drive dropped while on VPN.

      ## What we confirmed
      - The drive stayed connected on the office network.

      ## Root cause
      The VPN idle timeout dropped SMB sessions.

      ## Resolution
      Raised the VPN idle timeout; confirmed working.
"""


@pytest.fixture
def scripted(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "replies.yaml"
    path.write_text(REPLIES, encoding="utf-8")
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", str(path))
    return cli


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, err
    return out


def test_the_whole_loop(scripted, monkeypatch) -> None:
    cli = scripted
    sid = ok(cli("new", "The S: drive drops when I am on VPN")).strip()
    out = ok(cli("chat", sid, "The S: drive keeps disconnecting on VPN"))
    assert out.startswith("A mapped drive that drops only on VPN")
    assert "[QUESTIONS]" not in out and "Questions" in out and "net use" in out
    lane = json.loads(ok(cli("lane", "list", sid, "--json")))
    question = next(i for i in lane["items"] if i["kind"] == "question")
    assert question["text"] == "Does the drive drop on the office network too?"
    assert [i["text"] for i in lane["items"] if i["kind"] == "check"] == ["List the mapped drives"]

    turn = json.loads(ok(cli("chat", sid, "No, only on VPN", "--answer", question["id"][:8], "--json")))
    assert turn["display"] == "Only on VPN, so the mapping itself is sound."
    assert turn["checks"][0]["text"] == "List the mapped drives"
    [fact] = turn["promoted_facts"]
    assert fact["source_ref"] == question["id"] and fact["source_type"] == "question"
    assert turn["suggested_fix"]["title"] == "Raise the VPN idle timeout" and turn["usage"]["output_tokens"] > 0
    facts = json.loads(ok(cli("facts", "list", sid, "--json")))
    assert [f["source_ref"] for f in facts] == [question["id"]]
    shown = json.loads(ok(cli("fix", "show", sid, "--json")))
    assert shown["fix"]["title"] == "Raise the VPN idle timeout" and shown["banner"] == "proposed"

    ok(cli("fix", "apply", sid))
    turn = json.loads(ok(cli("chat", sid, "Changed it yesterday and it worked all afternoon", "--json")))
    assert turn["outcome_proposal"]["outcome"] == "success"
    assert json.loads(ok(cli("fix", "show", sid, "--json")))["banner"] == "ai_confirming"
    confirmed = json.loads(ok(cli("fix", "confirm-outcome", sid, "--json")))
    assert confirmed["status"] == "applied_success" and confirmed["ai_outcome_proposal"] is None

    code, out, err = cli("preview", "resolve", sid)
    assert code == 0 and out.startswith("## Problem\nA mapped drive dropped while on VPN.")
    assert "LLM drafter (scripted) · freshly drafted" in err
    code, out, err = cli("preview", "resolve", sid)
    assert "LLM drafter (scripted) · cache hit" in err

    # The model unreachable: the offline drafter writes it, and says why.
    # (--force: a cached LLM draft of this state would be used without any call.)
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("RFPILOT_OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RFPILOT_OPENAI_MODEL", "local-model")
    code, out, err = cli("preview", "resolve", sid, "--force", "--json")
    view = json.loads(out)
    assert view["drafter"] == "offline" and "cannot reach the model server" in view["fallback_reason"]
    code, out, err = cli("preview", "resolve", sid, "--force")
    assert "offline drafter" in err and "cannot reach the model server" in err
    code, out, err = cli("preview", "resolve", sid, "--offline", "--json")
    assert json.loads(out)["fallback_reason"] == "--offline was asked for"

    code, out, err = cli("chat", sid, "are you there?")
    assert code == 5 and "cannot reach the model server" in err
    assert f"rfpilot chat {sid[:8]} --retry" in err
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "offline")
    code, out, err = cli("chat", sid, "hello?")
    assert code == 5 and "offline" in err


def test_retry_and_bad_arguments(scripted) -> None:
    cli = scripted
    sid = ok(cli("new", "Printer offline")).strip()
    code, _, err = cli("chat", sid)
    assert code == 1 and "give a message" in err
    code, _, err = cli("chat", sid, "hi", "--retry")
    assert code == 1 and "--retry" in err
    code, _, err = cli("chat", sid, "--retry")
    assert code == 3 and "no unanswered message" in err
    code, _, err = cli("chat", sid, "hi", "--answer", "abcd")
    assert code == 2
    code, _, err = cli("chat", sid, "hi", "--answer", "zz")
    assert code == 1
    code, _, err = cli("fix", "confirm-outcome", sid)
    assert code == 2 and "no active" in err.lower()
    code, _, err = cli("lane", "promote", sid)
    assert code == 1 and "question or check" in err


def test_lane_promote_direct_and_synthesized(scripted, tmp_path, monkeypatch) -> None:
    cli = scripted
    sid = ok(cli("new", "Teams calls drop")).strip()
    qid = ok(cli("lane", "ask", sid, "Wired or wireless?")).strip()
    code, _, err = cli("lane", "promote", sid, qid[:8])
    assert code == 3 and "no answer yet" in err
    ok(cli("lane", "answer", sid, qid[:8], "wireless only, wired is fine"))
    direct = json.loads(ok(cli("lane", "promote", sid, qid[:8], "--text", "Calls dropped only on wireless.", "--json")))
    assert (direct["source_type"], direct["source_ref"]) == ("question", qid)
    path = tmp_path / "synth.yaml"
    path.write_text(
        'replies:\n  - action: fact_synthesis\n    reply: \'{"text": "Wired calls did not drop.", "summary": "rules out the client"}\'\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", str(path))
    synthesized = json.loads(ok(cli("lane", "promote", sid, qid[:8], "--synthesize", "--json")))
    assert synthesized["text"] == "Wired calls did not drop." and synthesized["source_summary"] == "rules out the client"


def test_demo_needs_no_key_and_no_network(cli) -> None:
    code, out, err = cli("demo")
    assert code == 0, err
    sid = out.strip()
    details = json.loads(ok(cli("sessions", "show", sid, "--json")))
    assert len(details["facts"]) == 2 and details["active_fix"]["confidence_pct"] == 88
    assert details["banner"] == "ai_confirming"
    assert any(item["state"] == "run" for item in details["lane"])
    human = ok(cli("sessions", "show", sid[:8]))
    assert "What we know · 2" in human and "Suggested fix" in human


def test_demo_open_outside_a_terminal_prints_the_state_and_reuses_the_sample(cli) -> None:
    """`demo --open` in a pipe prints the session and what to try; run again it reuses the sample, no copy."""
    code, out, err = cli("demo", "--open")
    assert code == 0, err
    assert "What we know · 2" in out and "Suggested fix" in out and "Harbourside Physio" in out
    sid = out.split("id", 1)[1].split()[0]
    assert f"rfpilot open {sid[:8]}" in err and "needs a terminal" in err
    code, again, err = cli("demo", "--open")
    assert code == 0, err
    assert f"id        {sid}" in again and "already there" in err
    sessions = json.loads(ok(cli("sessions", "list", "--json")))
    assert [s["id"] for s in sessions] == [sid]
    # Once the sample is closed, the next `demo --open` makes a fresh one; plain `demo` always makes a new one.
    ok(cli("sessions", "abandon", sid))
    code, fresh, err = cli("demo", "--open")
    assert code == 0 and sid not in fresh and "created session" in err
    ok(cli("demo"))
    assert len(json.loads(ok(cli("sessions", "list", "--json")))) == 3


def test_chat_does_not_need_the_anthropic_sdk_for_other_providers(tmp_path: Path) -> None:
    """`rfpilot chat` with the scripted provider never imports anthropic."""
    path = tmp_path / "r.yaml"
    path.write_text(REPLIES, encoding="utf-8")
    env = {
        "RFPILOT_HOME": str(tmp_path / "home"),
        "RFPILOT_LLM_PROVIDER": "scripted",
        "RFPILOT_SCRIPTED_FILE": str(path),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "PATH": "/usr/bin:/bin",
    }
    code = (
        "import sys\n"
        "from rfpilot.cli import run_cli\n"
        "import io, contextlib\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    assert run_cli(['new', 'drive drops on VPN']) == 0\n"
        "sid = buf.getvalue().strip()\n"
        "assert run_cli(['chat', sid, 'it drops']) == 0\n"
        "print('ANTHROPIC', 'anthropic' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ANTHROPIC False" in done.stdout


def test_ctrl_c_while_the_reply_streams_leaves_the_message_interrupted(env, tmp_path: Path) -> None:
    """SIGINT to a real `rfpilot chat` mid-stream: exit 130, one line on stderr (no traceback), the message
    interrupted and retryable, no reply stored."""
    import os
    import signal

    replies = tmp_path / "slow.yaml"
    replies.write_text("chunk_delay_ms: 200\nreplies:\n  - reply: |\n      " + "Look at the tunnel first. " * 20 + "\n",
                       encoding="utf-8")
    run_env = {**os.environ, **env, "RFPILOT_LLM_PROVIDER": "scripted", "RFPILOT_SCRIPTED_FILE": str(replies)}
    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "VPN drops the mapped drive"], env=run_env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    sid = made.stdout.strip().splitlines()[-1]
    chat = subprocess.Popen([sys.executable, "-m", "rfpilot", "chat", sid, "It drops every hour"], env=run_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        shown = chat.stdout.read(30)  # part of the reply is on screen: the stream is running
        assert shown.startswith(b"Look at the tunnel"), shown
        chat.send_signal(signal.SIGINT)
        out, err = chat.communicate(timeout=60)
    finally:
        if chat.poll() is None:
            chat.kill()
    assert chat.returncode == 130, err
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: your message is saved") and sid[:8] in lines[0], lines
    assert (shown + out).endswith(b"\n")  # the partial reply's line is ended
    shown_json = subprocess.run([sys.executable, "-m", "rfpilot", "sessions", "show", sid, "--json"], env=run_env,
                                capture_output=True, text=True, timeout=120)
    messages = json.loads(shown_json.stdout)["messages"]["last"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "interrupted")]
