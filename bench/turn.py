"""A chat turn's own overhead, model time excluded (run by hand; issue 15 budget: <= 250 ms).

    python bench/turn.py [--runs 5] [--stores sqlite,postgres] [--delay-ms 40] [--profile]

The model is a local OpenAI-compatible fake (a thread of this process on 127.0.0.1) that waits ``--delay-ms``
and streams a reply with markers (questions, checks, a fact every third turn, a fix every fifth); the time it
spends on each request is measured on the server side and subtracted. Turn 1 is a fresh session's first turn
(which also asks for a title), turn 50 one of a session that already has 49 turns.

Three measurements per store and turn:
- **process**: ``rfpilot chat SID MESSAGE --json`` as the user runs it (wall and CPU of the child process). Its
  own overhead = wall - model time; it holds the start-up (imports, command tree, store open, exit) and the turn.
- **fresh process**: the command's body (cli/chat.py's ``go``) timed alone in a new process once the store is open
  and the turn's modules are imported: the turn's own work as the CLI pays it (cold statement and mapper caches).
  Process overhead - this = the start-up part (another engineer's budget).
- **warm process**: the same body on a store that has run turns already (the TUI's case), each step timed (store
  the message, build the request, apply the reply, title), with the SQL statements counted.
- **conversation**: ``rfpilot chat SID`` with no message, the console script in a pseudo-terminal as the engineer
  types into it: from the moment a line is written to the terminal until the next ``you>`` prompt is drawn, less
  the model's time. The first turn of a conversation carries the start-up; the others are what the line budget
  measures for an engineer chatting from a shell.

Postgres: a fresh database next to RFPILOT_BENCH_POSTGRES_URL (default: the local server's ``test``) is created
for the run and dropped after it. ``--profile`` prints the top of a cProfile of the in-process turns.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PG_URL = os.environ.get("RFPILOT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


# --- the fake model -------------------------------------------------------------------------------------------


def reply_for(turn: int) -> str:
    parts = [f"Turn {turn}: the symptom narrows things down. Check the mail profile next.",
             "[QUESTIONS]", json.dumps([{"text": f"Does it happen on webmail too ({turn})?"},
                                         {"text": "Did the password change on Monday?"}]), "[/QUESTIONS]",
             "[ACTIONS]", json.dumps([{"label": f"List the credential entries ({turn})", "command": "cmdkey /list",
                                       "description": "shows stored credentials"},
                                      {"label": "Check the modern auth key", "description": "registry"}]), "[/ACTIONS]"]
    if turn % 3 == 0:
        parts += ["[PROMOTE]", json.dumps({"source_type": "engineer_statement", "text": f"Observation {turn}"}),
                  "[/PROMOTE]"]
    if turn % 5 == 0:
        parts += ["[SUGGEST_FIX]", json.dumps({"title": f"Reset the credential cache ({turn})",
                                               "description": "remove the cached entry", "confidence": 70}),
                  "[/SUGGEST_FIX]"]
    return "\n".join(parts)


class FakeModel:
    """An OpenAI-compatible chat endpoint: waits ``delay`` seconds, then streams the reply in SSE frames."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.spent = 0.0  # seconds spent answering, summed over requests
        self.spent_title = 0.0  # the part of it spent on title requests
        self.requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def take(self) -> float:
        with self.lock:
            spent, self.spent, self.spent_title = self.spent, 0.0, 0.0
        return spent

    def title_time(self) -> float:
        with self.lock:
            return self.spent_title

    def _handler(self):
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802
                start = time.perf_counter()
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                is_title = body.get("max_tokens", 0) <= 64
                turns = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant") + 1
                text = "Outlook password prompt" if is_title else reply_for(turns)
                time.sleep(model.delay)
                frames = [{"choices": [{"delta": {"content": text[i:i + 40]}}], "model": "fake"}
                          for i in range(0, len(text), 40)]
                frames.append({"choices": [{"delta": {}, "finish_reason": "stop"}], "model": "fake",
                               "usage": {"prompt_tokens": 900, "completion_tokens": 120}})
                payload = "".join(f"data: {json.dumps(f)}\n\n" for f in frames) + "data: [DONE]\n\n"
                data = payload.encode()
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                with model.lock:
                    model.spent += time.perf_counter() - start
                    if is_title:
                        model.spent_title += time.perf_counter() - start
                    model.requests += 1

        return Handler

    def __enter__(self) -> FakeModel:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- stores -----------------------------------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def store_url(kind: str, home: Path):
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{home / 'bench.db'}"
        return
    name = f"rfpilot_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- in-process turns -------------------------------------------------------------------------------------------


class Phases:
    """Wall time per phase of the turn, by wrapping the chat service's steps."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, module, name: str, label: str) -> None:
        inner = getattr(module, name)
        phases = self

        async def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                phases.spent[label] += time.perf_counter() - start

        setattr(module, name, timed)


async def one_turn(ws, sid: str, text: str) -> None:
    """What `rfpilot chat SID TEXT --json` runs once the store is open (cli/chat.py's body)."""
    from rfpilot.core.engine import chat as svc
    from rfpilot.core.llm import get_provider
    from rfpilot.core.session.sessions import get_session
    from rfpilot.core.views import turn_view

    async with ws.ctx() as ctx:
        row = await get_session(ctx, sid)
        provider = get_provider(ctx.settings)
        try:
            await svc.check_can_send(ctx, row)
            result = await svc.send(ctx, row, text, provider)
        finally:
            await provider.aclose()
        turn_view(result)


async def in_process(settings, model: FakeModel, sessions: list[str], runs: int, profile: bool) -> dict:
    """Time ``runs`` turns spread over ``sessions``; returns per-phase means (ms) and SQL statements per turn."""
    from sqlalchemy import event

    from rfpilot.core.engine import chat as svc
    from rfpilot.core.context import Workspace

    ws = await Workspace.open(settings)
    statements = [0]

    def count(*_args) -> None:
        statements[0] += 1

    event.listen(ws.store.engine.sync_engine, "before_cursor_execute", count)
    phases = Phases()
    originals = {name: getattr(svc, name) for name in ("store_message", "build_request", "_apply", "_maybe_title")}
    for name, label in (("store_message", "store message"), ("build_request", "build request"),
                        ("_apply", "apply reply"), ("_maybe_title", "title (own)")):
        phases.wrap(svc, name, label)
    walls, cpus, models, counts = [], [], [], []
    title_model = 0.0
    profiler = cProfile.Profile() if profile else None
    try:
        for i in range(runs):
            sid = sessions[i % len(sessions)]
            model.take()
            statements[0] = 0
            if profiler:
                profiler.enable()
            start, cpu = time.perf_counter(), time.process_time()
            await one_turn(ws, sid, f"the prompt comes back after a restart ({i})")
            wall = time.perf_counter() - start
            cpus.append(time.process_time() - cpu)
            if profiler:
                profiler.disable()
            walls.append(wall)
            title_model += model.title_time()
            models.append(model.take())
            counts.append(statements[0])
    finally:
        for name, inner in originals.items():
            setattr(svc, name, inner)
        event.remove(ws.store.engine.sync_engine, "before_cursor_execute", count)
        await ws.close()
    model_s = statistics.mean(models)
    out = {label: spent / runs * 1000 for label, spent in phases.spent.items()}
    if "title (own)" in out:
        out["title (own)"] -= title_model / runs * 1000
    out["model"] = model_s * 1000
    out["turn own"] = (statistics.median(walls) - model_s) * 1000
    out["turn cpu"] = statistics.median(cpus) * 1000
    out["sql"] = max(counts)
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(35)
    return out


async def make_sessions(settings, model: FakeModel, n: int, turns_before: int) -> list[str]:
    from rfpilot.core.context import Workspace
    from rfpilot.core.session.sessions import create_session

    ws = await Workspace.open(settings)
    try:
        sids = []
        for _ in range(n):
            async with ws.ctx() as ctx:
                row = await create_session(ctx, "Outlook prompts for a password after a reset. Since Monday.")
                sids.append(row.id)
            for t in range(turns_before):
                await one_turn(ws, row.id, f"still prompting ({t})")
        model.take()
        return sids
    finally:
        await ws.close()


# --- the console script -----------------------------------------------------------------------------------------


def in_child(env: dict[str, str], model: FakeModel, sids: list[str], runs: int) -> tuple[float, float, float]:
    """Median wall, CPU and model time (s) of ``rfpilot chat SID MESSAGE`` in fresh processes."""
    rf = str(Path(sys.executable).with_name("rfpilot"))
    walls, cpus, models = [], [], []
    for i in range(runs):
        model.take()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([rf, "chat", sids[i % len(sids)], f"it asks again after sleep ({i})", "--json"],
                       env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        models.append(model.take())
    return statistics.median(walls), statistics.median(cpus), statistics.mean(models)


def conversation(env: dict[str, str], model: FakeModel, sid: str, turns: int) -> tuple[float, list[float]]:
    """``rfpilot chat SID`` in a pseudo-terminal: seconds of own overhead (wall from the typed line to the next
    prompt, less the model's time) of the first turn (start-up included: the process is started when the line is
    typed) and of each later one."""
    import pty
    import select

    rf = str(Path(sys.executable).with_name("rfpilot"))
    main, child = pty.openpty()
    seen = bytearray()

    def wait_prompt() -> None:
        end = time.monotonic() + 120
        while not seen.endswith(b"you> "):
            left = end - time.monotonic()
            if left <= 0:
                raise SystemExit(f"no prompt; the terminal shows {bytes(seen)[-400:]!r}")
            if select.select([main], [], [], left)[0]:
                seen.extend(os.read(main, 65536))

    model.take()
    start = time.perf_counter()
    proc = subprocess.Popen([rf, "chat", sid], env={**env, "TERM": "xterm"}, stdin=child, stdout=child, stderr=child,
                            start_new_session=True)
    os.close(child)
    own: list[float] = []
    try:
        wait_prompt()
        typed_first = True
        for i in range(turns):
            del seen[:]
            if not typed_first:
                model.take()
                start = time.perf_counter()
            typed_first = False
            os.write(main, f"it asks again after sleep ({i})\r".encode())
            wait_prompt()
            own.append(time.perf_counter() - start - model.take())
        os.write(main, b"\x04")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    return own[0], own[1:]


COLD_TURN = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
from turn import one_turn
from rfpilot.config import load_settings
from rfpilot.core.context import Workspace
import httpx, rfpilot.core.engine.chat, rfpilot.core.views, rfpilot.core.engine.streaming, rfpilot.core.llm.openai_provider
import rfpilot.core.session.sessions, rfpilot.core.llm, rfpilot.textsafe

async def main():
    ws = await Workspace.open(load_settings())
    try:
        start, cpu = time.perf_counter(), time.process_time()
        await one_turn(ws, sys.argv[2], "the first turn of this process")
        print(json.dumps([time.perf_counter() - start, time.process_time() - cpu]))
    finally:
        await ws.close()

asyncio.run(main())
"""


def cold(env: dict[str, str], model: FakeModel, sids: list[str], runs: int) -> tuple[float, float, float]:
    """The turn as a fresh process runs it (the store open and the imports done first, not timed): compiled
    statements and mapper set-up are cold. Median wall, CPU and mean model time (s)."""
    walls, cpus, models = [], [], []
    for i in range(runs):
        model.take()
        out = subprocess.run([sys.executable, "-P", "-c", COLD_TURN, str(Path(__file__).parent), sids[i % len(sids)]],
                             env=env, check=True, capture_output=True, text=True).stdout
        wall, cpu = json.loads(out.strip().splitlines()[-1])
        walls.append(wall)
        cpus.append(cpu)
        models.append(model.take())
    return statistics.median(walls), statistics.median(cpus), statistics.mean(models)


TURN_IMPORTS = """
import time
import rfpilot.cli, rfpilot.cli.chat, rfpilot.cli.runtime, rfpilot.core.context, rfpilot.core.session.sessions
start = time.perf_counter()
import httpx, rfpilot.core.engine.chat, rfpilot.core.views, rfpilot.core.engine.streaming, rfpilot.core.llm.openai_provider
import rfpilot.core.session.sessions, rfpilot.core.llm, rfpilot.textsafe
print(time.perf_counter() - start)
"""


def turn_imports(runs: int = 5) -> float:
    """Seconds a fresh process spends importing the turn's own modules once the CLI and the store's are in."""
    out = [float(subprocess.run([sys.executable, "-P", "-c", TURN_IMPORTS], check=True, capture_output=True,
                                text=True).stdout) for _ in range(runs)]
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--delay-ms", type=float, default=40.0)
    parser.add_argument("--turns", default="1,50")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    from rfpilot.config import load_settings

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from startup import compiled

    # As bench/startup.py: rfpilot's byte code written once and PYTHONDONTWRITEBYTECODE dropped for the processes
    # started here, or each of them compiles every module it imports again (~100-400 ms a process).
    compiled(sys.executable)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    rows = []
    with FakeModel(args.delay_ms / 1000) as model:
        for kind in args.stores.split(","):
            home = Path(tempfile.mkdtemp(prefix="rfpilot-bench-turn-"))
            with store_url(kind, home) as url:
                env = {**os.environ, "RFPILOT_HOME": str(home), "RFPILOT_DATABASE_URL": url,
                       "RFPILOT_ACCOUNT": "bench", "RFPILOT_USER_EMAIL": "bench@example.com",
                       "RFPILOT_LLM_PROVIDER": "openai", "RFPILOT_OPENAI_BASE_URL": model.base_url,
                       "RFPILOT_OPENAI_MODEL": "fake",
                       # A key in the environment: no OS keyring is read (its cost is the machine's, not rfpilot's).
                       "RFPILOT_OPENAI_API_KEY": "bench-placeholder"}
                settings = load_settings(env=env)
                for turn in (int(t) for t in args.turns.split(",")):
                    # Turn 1 needs a fresh session per run; later turns take consecutive turns of a few sessions.
                    count = args.runs if turn == 1 else 2
                    child = asyncio.run(make_sessions(settings, model, count, turn - 1))
                    wall, cpu, model_s = in_child(env, model, child, args.runs)
                    own = asyncio.run(make_sessions(settings, model, count, turn - 1))
                    phases = asyncio.run(in_process(settings, model, own, args.runs, args.profile))
                    fresh = asyncio.run(make_sessions(settings, model, count, turn - 1))
                    phases["cold"] = cold(env, model, fresh, args.runs)
                    talk = asyncio.run(make_sessions(settings, model, 1, turn - 1))
                    phases["conversation"] = conversation(env, model, talk[0], args.runs + 1)
                    rows.append((kind, turn, wall, cpu, model_s, phases))

    print(f"fake model: {args.delay_ms:g} ms per call; {args.runs} runs; medians (ms)")
    for kind, turn, wall, cpu, model_s, p in rows:
        own = (wall - model_s) * 1000
        cold_wall, cold_cpu, cold_model = p.pop("cold")
        cold_own = (cold_wall - cold_model) * 1000
        first, later = p.pop("conversation")
        print(f"\n{kind:8} turn {turn:>3}: process wall {wall * 1000:6.0f}, cpu {cpu * 1000:6.0f}, "
              f"model {model_s * 1000:5.0f} -> own overhead {own:6.0f} "
              f"(start-up/exit {own - cold_own:6.0f} + turn {cold_own:5.0f}); budget 250")
        print(f"  the turn in a fresh process (after the store open): own {cold_own:5.1f} (cpu {cold_cpu * 1000:5.1f})")
        print(f"  a conversation (`rfpilot chat SID` in a terminal): later turns own median "
              f"{statistics.median(later) * 1000:5.1f}, max {max(later) * 1000:5.1f} over {len(later)}; "
              f"its first turn (start-up included) {first * 1000:5.0f}")
        print(f"  the turn in a warm process (the TUI's case): own {p['turn own']:5.1f} (cpu {p['turn cpu']:5.1f}), SQL statements {p['sql']}; "
              + ", ".join(f"{k} {v:.1f}" for k, v in p.items() if k not in ("turn own", "turn cpu", "sql", "model")))
    print(f"\nof the start-up, importing what only the turn uses (core.engine.chat, views, the provider, httpx): "
          f"{turn_imports() * 1000:.0f} ms (median of {args.runs} fresh processes)")


if __name__ == "__main__":
    main()
