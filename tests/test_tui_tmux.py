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
