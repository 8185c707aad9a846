"""`rfpilot chat SESSION` with no message, at a terminal: a conversation in one process, one turn per line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli_chat import REPLIES, ok, scripted  # noqa: F401 (scripted: a fixture)


def _messages(cli, sid: str) -> list[dict]:
    shown = json.loads(ok(cli("sessions", "export", sid, "--format", "json")))
    return shown["messages"]


def test_each_line_is_a_turn_and_commands_are_not(scripted, monkeypatch) -> None:
    from rfpilot.cli import output
    from rfpilot.core import context

    cli = scripted
    sid = ok(cli("new", "The S: drive drops when I am on VPN")).strip()
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    opened: list[int] = []
    real_open = context.Workspace.open.__func__

    async def counted(cls, *args, **kwargs):
        opened.append(1)
        return await real_open(cls, *args, **kwargs)

    monkeypatch.setattr(context.Workspace, "open", classmethod(counted))
    lines = ["The S: drive keeps disconnecting on VPN", "", "/bogus", "/answer", "/paste", "net use says:",
             "  S: \\\\files\\share  Disconnected", ".", "/help", "//etc/hosts is unchanged", "/quit",
             "this line is never read"]
    code, out, err = cli("chat", sid[:8], stdin="\n".join(lines) + "\n")
    assert code == 0, err
    assert opened == [1]  # one store open for the whole conversation
    assert out.startswith("A mapped drive that drops only on VPN")
    assert "Only on VPN, so the mapping itself is sound." in out  # the paste was the second turn
    assert "error: '/bogus' is not a conversation command" in err and "hint: /help lists them" in err
    assert "error: /answer takes a lane item id and your answer" in err
    assert "/paste" in err and "/retry" in err  # the help
    said = [m["content"] for m in _messages(cli, sid) if m["role"] == "user"]
    assert said == ["The S: drive keeps disconnecting on VPN", "net use says:\n  S: \\\\files\\share  Disconnected",
                    "/etc/hosts is unchanged"]


def test_an_answer_names_its_lane_item_and_a_failed_turn_goes_on(cli, tmp_path, monkeypatch) -> None:
    from rfpilot.cli import output

    replies = tmp_path / "replies.yaml"
    replies.write_text(REPLIES.replace("  - match: worked", "  - error: \"simulated outage\"\n  - match: worked"),
                       encoding="utf-8")
    monkeypatch.setenv("RFPILOT_LLM_PROVIDER", "scripted")
    monkeypatch.setenv("RFPILOT_SCRIPTED_FILE", str(replies))
    sid = ok(cli("new", "The S: drive drops when I am on VPN")).strip()
    ok(cli("chat", sid, "The S: drive keeps disconnecting on VPN"))
    lane = json.loads(ok(cli("lane", "list", sid, "--json")))
    question = next(item for item in lane["items"] if item["kind"] == "question")
    monkeypatch.setattr(output, "is_terminal", lambda: True)
    stdin = f"/answer {question['id'][:8]} no, only on VPN\nstill dropping\nit worked after the change\n"
    code, out, err = cli("chat", sid, stdin=stdin)
    assert code == 0, err  # ctrl+d (end of input) ends the conversation
    assert "simulated outage" in err and "/retry sends it again" in err
    users = [m for m in _messages(cli, sid) if m["role"] == "user"]
    assert [m["content"] for m in users][1:] == ["no, only on VPN", "still dropping", "it worked after the change"]
    lane = json.loads(ok(cli("lane", "list", sid, "--json")))
    assert next(i for i in lane["items"] if i["id"] == question["id"])["state"] != "open"
    assert out.count("Good news.") == 1  # the turn after the failed one


def test_outside_a_terminal_a_message_is_still_required(scripted) -> None:
    sid = ok(scripted("new", "The S: drive drops when I am on VPN")).strip()
    code, _out, err = scripted("chat", sid, stdin="")
    assert code == 1 and "give a message" in err and f"`rfpilot chat {sid[:8]}` with no message" in err


def test_a_real_terminal_conversation_survives_ctrl_c(env, tmp_path: Path) -> None:
    """The console module in a pseudo-terminal: a turn, ctrl+c while the next reply streams (back at the prompt,
    the message interrupted), /retry, then ctrl+d: exit 0, and the store holds what was said."""
    import pty

    replies = tmp_path / "slow.yaml"
    replies.write_text(
        "chunk_delay_ms: 100\nreplies:\n  - reply: |\n      Start with the tunnel.\n"
        "  - match: slowly\n    reply: |\n      " + "Look at the idle timer. " * 30 + "\n",
        encoding="utf-8")
    run_env = {**os.environ, **env, "RFPILOT_LLM_PROVIDER": "scripted", "RFPILOT_SCRIPTED_FILE": str(replies),
               "TERM": "xterm"}
    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "VPN drops the mapped drive"], env=run_env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    sid = made.stdout.strip().splitlines()[-1]
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rfpilot", "chat", sid[:8]], env=run_env, stdin=child,
                            stdout=child, stderr=child, start_new_session=True)
    os.close(child)
    seen = bytearray()

    def wait_for(text: bytes, timeout: float = 60) -> None:
        import select

        end = time.monotonic() + timeout
        while text not in seen:
            left = end - time.monotonic()
            assert left > 0, f"{text!r} never came; the terminal shows {bytes(seen)[-600:]!r}"
            ready, _, _ = select.select([main], [], [], left)
            if ready:
                try:
                    seen.extend(os.read(main, 4096))
                except OSError:
                    break

    try:
        wait_for(b"you> ")
        os.write(main, b"it drops every hour\r")
        wait_for(b"Start with the tunnel.")
        wait_for(b"you> ", 60)
        del seen[:]
        os.write(main, b"please answer slowly\r")
        wait_for(b"Look at the idle")
        os.killpg(proc.pid, signal.SIGINT)  # ctrl+c, as the terminal sends it to the foreground group
        wait_for(b"/retry sends it again")
        wait_for(b"you> ")
        interrupted = _export(run_env, sid)
        os.write(main, b"/retry\r")  # the same process goes on after the interrupted turn
        wait_for(b"Look at the idle timer.\r\n", 120)
        wait_for(b"you> ")
        os.write(main, b"\x04")  # ctrl+d
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert [(m["role"], m["status"]) for m in interrupted] == [
        ("user", "complete"), ("assistant", "complete"), ("user", "interrupted")], interrupted
    messages = _export(run_env, sid)
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"), ("assistant", "complete"), ("user", "complete"), ("assistant", "complete")], messages
    assert messages[2]["content"] == "please answer slowly"


def _export(run_env: dict[str, str], sid: str) -> list[dict]:
    shown = subprocess.run([sys.executable, "-m", "rfpilot", "sessions", "export", sid, "--format", "json"],
                           env=run_env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["messages"]


def test_a_pasted_log_is_one_message_and_the_up_arrow_recalls_the_last_line(env, tmp_path: Path) -> None:
    """Line editing as a shell has it (readline): a paste the terminal brackets is one message, newlines and all,
    and the up arrow brings the last line back to edit; bytes that are not UTF-8 are refused and nothing is sent."""
    import pty
    import select

    replies = tmp_path / "replies.yaml"
    replies.write_text("replies:\n  - reply: |\n      First reply.\n  - reply: |\n      Second reply.\n",
                       encoding="utf-8")
    run_env = {**os.environ, **env, "RFPILOT_LLM_PROVIDER": "scripted", "RFPILOT_SCRIPTED_FILE": str(replies),
               "TERM": "xterm"}
    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "VPN drops the mapped drive"], env=run_env,
                          capture_output=True, text=True, timeout=120)
    sid = made.stdout.strip().splitlines()[-1]
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rfpilot", "chat", sid[:8]], env=run_env, stdin=child,
                            stdout=child, stderr=child, start_new_session=True)
    os.close(child)
    seen, everything = bytearray(), bytearray()

    def wait_for(text: bytes) -> None:
        """Until ``text`` is on the terminal; what came before it is dropped (readline redraws a prompt while a
        line is edited, so only a prompt after the reply is the next one)."""
        end = time.monotonic() + 60
        while text not in seen:
            assert time.monotonic() < end, f"{text!r} never came; the terminal shows {bytes(seen)[-600:]!r}"
            if select.select([main], [], [], 1)[0]:
                chunk = os.read(main, 4096)
                seen.extend(chunk)
                everything.extend(chunk)
        del seen[:seen.index(text) + len(text)]

    try:
        wait_for(b"you> ")
        assert b"\x1b[?2004h" in everything  # the terminal is asked to bracket pastes (or it sends them as typed)
        os.write(main, b"\xff\xfe not UTF-8\r")  # hostile bytes at the prompt: one error, the conversation goes on
        wait_for(b"error: your message is not valid UTF-8")
        wait_for(b"you> ")
        os.write(main, b"\x1b[200~net use\rS: Disconnected\x1b[201~\r")  # a bracketed paste (a terminal sends CR per line), then enter
        wait_for(b"First reply.")
        wait_for(b"you> ")
        os.write(main, b"\x1b[A and again\r")  # up arrow: the pasted message back, edited
        wait_for(b"Second reply.")
        wait_for(b"you> ")
        os.write(main, b"\x04")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    said = [m["content"] for m in _export(run_env, sid) if m["role"] == "user"]
    assert said == ["net use\nS: Disconnected", "net use\nS: Disconnected and again"], said
