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


class Terminal:
    """`rfpilot ARGS` in a pseudo-terminal, as an engineer's terminal runs it. ``wait_for`` consumes the output up to
    and including what it waited for: a prompt drawn earlier (readline redraws one while a line is edited) never
    stands for the next one, so keys are only sent once the prompt they are meant for is there (a ctrl+d sent while
    a reply is still printing is eaten by the terminal, as it would be for a person)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import pty

        self.main, child = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "rfpilot", *args], env={**env, "TERM": "xterm"},
                                     stdin=child, stdout=child, stderr=child, start_new_session=True)
        os.close(child)
        self.seen = bytearray()
        self.everything = bytearray()

    def wait_for(self, text: bytes, timeout: float = 60) -> None:
        import select

        end = time.monotonic() + timeout
        while text not in self.seen:
            left = end - time.monotonic()
            assert left > 0, f"{text!r} never came; the terminal shows {bytes(self.seen)[-600:]!r}"
            if select.select([self.main], [], [], left)[0]:
                try:
                    chunk = os.read(self.main, 4096)
                except OSError:  # the process ended
                    chunk = b""
                assert chunk, f"the process ended before {text!r}; the terminal shows {bytes(self.seen)[-600:]!r}"
                self.seen.extend(chunk)
                self.everything.extend(chunk)
        del self.seen[:self.seen.index(text) + len(text)]

    def write(self, data: bytes) -> None:
        os.write(self.main, data)

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)  # ctrl+c, as the terminal sends it to the foreground group

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        os.close(self.main)


def _conversation(env: dict[str, str], replies: Path, text: str) -> tuple[dict[str, str], str, Terminal]:
    """A new session and `rfpilot chat SESSION` on it in a pseudo-terminal, the model replaying ``text``."""
    replies.write_text(text, encoding="utf-8")
    run_env = {**os.environ, **env, "RFPILOT_LLM_PROVIDER": "scripted", "RFPILOT_SCRIPTED_FILE": str(replies)}
    made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "VPN drops the mapped drive"], env=run_env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    sid = made.stdout.strip().splitlines()[-1]
    return run_env, sid, Terminal(["chat", sid[:8]], run_env)


def _export(run_env: dict[str, str], sid: str) -> list[dict]:
    shown = subprocess.run([sys.executable, "-m", "rfpilot", "sessions", "export", sid, "--format", "json"],
                           env=run_env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["messages"]


def test_a_real_terminal_conversation_survives_ctrl_c(env, tmp_path: Path) -> None:
    """The console module in a pseudo-terminal: a turn, ctrl+c while the next reply streams (back at the prompt,
    the message interrupted), /retry, then ctrl+d: exit 0, and the store holds what was said."""
    run_env, sid, term = _conversation(
        env, tmp_path / "slow.yaml", "chunk_delay_ms: 100\nreplies:\n  - reply: |\n      Start with the tunnel.\n"
        "  - match: slowly\n    reply: |\n      " + "Look at the idle timer. " * 30 + "\n")
    try:
        term.wait_for(b"you> ")
        term.write(b"it drops every hour\r")
        term.wait_for(b"Start with the tunnel.")
        term.wait_for(b"you> ")
        term.write(b"please answer slowly\r")
        term.wait_for(b"Look at the idle")
        term.interrupt()
        term.wait_for(b"/retry sends it again")
        term.wait_for(b"you> ")
        interrupted = _export(run_env, sid)
        term.write(b"/retry\r")  # the same process goes on after the interrupted turn
        term.wait_for(b"Look at the idle timer.\r\n", 120)
        term.wait_for(b"you> ")
        term.write(b"\x04")  # ctrl+d
        assert term.proc.wait(timeout=60) == 0
    finally:
        term.close()
    assert [(m["role"], m["status"]) for m in interrupted] == [
        ("user", "complete"), ("assistant", "complete"), ("user", "interrupted")], interrupted
    messages = _export(run_env, sid)
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"), ("assistant", "complete"), ("user", "complete"), ("assistant", "complete")], messages
    assert messages[2]["content"] == "please answer slowly"


def test_a_pasted_log_is_one_message_and_the_up_arrow_recalls_the_last_line(env, tmp_path: Path) -> None:
    """Line editing as a shell has it (readline): a paste the terminal brackets is one message, newlines and all,
    and the up arrow brings the last line back to edit; bytes that are not UTF-8 are refused and nothing is sent."""
    run_env, sid, term = _conversation(
        env, tmp_path / "replies.yaml", "replies:\n  - reply: |\n      First reply.\n  - reply: |\n      Second reply.\n")
    try:
        term.wait_for(b"you> ")
        assert b"\x1b[?2004h" in term.everything  # the terminal is asked to bracket pastes (or it sends them as typed)
        term.write(b"\xff\xfe not UTF-8\r")  # hostile bytes at the prompt: one error, the conversation goes on
        term.wait_for(b"error: your message is not valid UTF-8")
        term.wait_for(b"you> ")
        term.write(b"\x1b[200~net use\rS: Disconnected\x1b[201~\r")  # a bracketed paste (CR per line), then enter
        term.wait_for(b"First reply.")
        term.wait_for(b"you> ")
        term.write(b"\x1b[A and again\r")  # up arrow: the pasted message back, edited
        term.wait_for(b"Second reply.")
        term.wait_for(b"you> ")
        term.write(b"\x04")
        assert term.proc.wait(timeout=60) == 0
    finally:
        term.close()
    said = [m["content"] for m in _export(run_env, sid) if m["role"] == "user"]
    assert said == ["net use\nS: Disconnected", "net use\nS: Disconnected and again"], said
