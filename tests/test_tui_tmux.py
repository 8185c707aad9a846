"""A real terminal: run `rfpilot` inside tmux, send keys, read the screen with capture-pane."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed: the real-terminal smoke test needs it")


def test_rfpilot_in_tmux(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "RFPILOT_HOME": str(home), "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "RFPILOT_DATABASE_URL": ""}
    env.pop("TMUX", None)
    made = subprocess.run([sys.executable, "-m", "rfpilot", "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    name = f"rfpilot-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m rfpilot"
    subprocess.run([TMUX, "-L", name, "kill-server"], capture_output=True)
    socket_args = ["-L", name]
    try:
        subprocess.run([TMUX, *socket_args, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
                       env=env, check=True)

        def tmux_capture() -> str:
            return subprocess.run([TMUX, *socket_args, "capture-pane", "-p", "-t", name],
                                  capture_output=True, text=True).stdout

        def keys(*k: str) -> None:
            subprocess.run([TMUX, *socket_args, "send-keys", "-t", name, *k], check=True)

        def wait(needle: str) -> str:
            deadline = time.monotonic() + 30
            screen = ""
            while time.monotonic() < deadline:
                screen = tmux_capture()
                if needle in screen:
                    return screen
                time.sleep(0.2)
            raise AssertionError(f"{needle!r} never appeared; the screen was:\n{screen}")

        screen = wait("Front-desk copier")  # the session list, at 80x24
        assert "^q Quit" in screen
        keys("Down", "Enter")
        screen = wait("The AI thinks it worked")  # the session with its banner
        keys("C-l")
        screen = wait("WHAT WE KNOW · 2")  # the lane drawer
        keys("F1")
        wait("app.quit")  # help lists every binding with its id
        keys("Escape")
        keys("C-q")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            alive = subprocess.run([TMUX, *socket_args, "has-session", "-t", name], capture_output=True).returncode == 0
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, "ctrl+q did not quit"
    finally:
        subprocess.run([TMUX, *socket_args, "kill-server"], capture_output=True)


def test_demo_open_lands_in_the_sample_session(tmp_path: Path) -> None:
    """README's first command in a real terminal: `rfpilot demo --open` seeds the sample and opens the TUI on it."""
    env = {**os.environ, "RFPILOT_HOME": str(tmp_path / "home"), "RFPILOT_LLM_PROVIDER": "offline",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "RFPILOT_DATABASE_URL": ""}
    env.pop("TMUX", None)
    name = f"rfpilot-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-code"
    socket_args = ["-L", name]
    command = f"{sys.executable} -m rfpilot demo --open; echo $? > {done}"
    try:
        subprocess.run([TMUX, *socket_args, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
                       env=env, check=True)
        deadline = time.monotonic() + 60
        screen = ""
        while time.monotonic() < deadline and "The AI thinks it worked" not in screen:
            time.sleep(0.2)
            screen = subprocess.run([TMUX, *socket_args, "capture-pane", "-p", "-t", name],
                                    capture_output=True, text=True).stdout
        assert "The AI thinks it worked" in screen and "^q Quit" in screen, screen  # the session, its banner
        subprocess.run([TMUX, *socket_args, "send-keys", "-t", name, "C-q"], check=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not done.exists():
            time.sleep(0.2)
        assert done.exists() and done.read_text().strip() == "0", "ctrl+q did not quit cleanly"
    finally:
        subprocess.run([TMUX, *socket_args, "kill-server"], capture_output=True)


def test_ctrl_q_mid_reply_in_a_real_terminal(tmp_path: Path) -> None:
    """`rfpilot open S` in tmux against a slow loopback model server: send a message, ctrl+q while the reply
    streams. Every time: exit code 0, nothing on stderr (no traceback), the message interrupted. Three rounds
    here; RFPILOT_STRESS=N runs N."""
    import json

    from tests.fakes.loopback import SlowChatServer

    rounds = int(os.environ.get("RFPILOT_STRESS") or 3)
    reply = "The copier keeps the old password for the scan account, so look at its address book entry. " * 6
    with SlowChatServer(reply, delay=0.05) as server:
        env = {**os.environ, "RFPILOT_HOME": str(tmp_path / "home"), "RFPILOT_DATABASE_URL": "",
               "RFPILOT_LLM_PROVIDER": "openai", "RFPILOT_OPENAI_BASE_URL": server.base_url,
               "RFPILOT_OPENAI_MODEL": "slow", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        env.pop("TMUX", None)
        made = subprocess.run([sys.executable, "-m", "rfpilot", "new", "Copier cannot scan to the share"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        sid = made.stdout.strip().splitlines()[-1]
        for number in range(rounds):
            name = f"rfpilot-{uuid.uuid4().hex[:8]}"
            done = tmp_path / f"rc-{number}"
            socket_args = ["-L", name]
            # Textual draws on stderr, so what is left on the terminal after the quit is what was printed.
            command = f"clear; {sys.executable} -m rfpilot open {sid[:8]}; echo $? > {done}; sleep 60"
            try:
                subprocess.run([TMUX, *socket_args, "new-session", "-d", "-s", name, "-x", "100", "-y", "30",
                                command], env=env, check=True)

                def screen() -> str:
                    return subprocess.run([TMUX, *socket_args, "capture-pane", "-p", "-t", name],
                                          capture_output=True, text=True).stdout

                def wait(needle: str) -> None:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and needle not in screen():
                        time.sleep(0.1)
                    assert needle in screen(), f"{needle!r} never appeared:\n{screen()}"

                wait("· openai")  # the session is open (the header names the model)
                said = f"Round {number}: it still fails"
                deadline = time.monotonic() + 30
                while said not in screen() and time.monotonic() < deadline:  # until the composer has focus
                    subprocess.run([TMUX, *socket_args, "send-keys", "-t", name, "C-u"], check=True)
                    subprocess.run([TMUX, *socket_args, "send-keys", "-t", name, "-l", said], check=True)
                    time.sleep(0.3)
                assert said in screen(), f"typing never reached the composer (round {number}):\n{screen()}"
                subprocess.run([TMUX, *socket_args, "send-keys", "-t", name, "Enter"], check=True)
                wait("address book")  # the reply is streaming
                subprocess.run([TMUX, *socket_args, "send-keys", "-t", name, "C-q"], check=True)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not done.exists():
                    time.sleep(0.1)
                assert done.exists(), f"ctrl+q did not quit (round {number}):\n{screen()}"
                left = screen()
                assert done.read_text().strip() == "0", left
                assert left.strip() == "", f"printed at exit (round {number}):\n{left}"
            finally:
                subprocess.run([TMUX, *socket_args, "kill-server"], capture_output=True)
        shown = subprocess.run([sys.executable, "-m", "rfpilot", "sessions", "show", sid, "--json"], env=env,
                               capture_output=True, text=True, timeout=120)
        messages = json.loads(shown.stdout)["messages"]  # the count, and the latest few
        assert messages["count"] == rounds, messages
        assert {(m["role"], m["status"]) for m in messages["last"]} == {("user", "interrupted")}, messages
