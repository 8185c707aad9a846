"""The one way the TUI starts a worker: cancel-safe, quiet while quitting.

Every worker goes through ``worker`` (a method decorator, in place of ``textual.work``) or ``start_worker`` (in
place of ``run_worker``); tests/test_tui_workers.py fails when one does not. What it guarantees:

* quitting (ctrl+q) cancels every worker at once, and the app waits for them to unwind (a bounded time) before
  the store closes, so a cancelled worker never uses a closed store;
* a worker cut off while the app is quitting, or after its screen is gone, ends quietly: what it tried to do to
  a closing screen (mount a widget, notify) is not an error worth a traceback and exit code 1;
* the store side is safe by construction: a cancel never lands inside a database operation
  (``rfpilot.db.cancelsafe``), and state that must be written on the way out (a chat message becomes
  ``interrupted``) is written by core in a fresh, shielded transaction (``Ctx.finish_anyway``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from textual.dom import DOMNode
from textual.worker import Worker

log = logging.getLogger("rfpilot.tui")

# How long quitting waits for cancelled workers to unwind before the store closes.
UNWIND_SECONDS = 0.6


def _quitting(node: DOMNode) -> bool:
    try:
        app = node.app
    except Exception:  # noqa: BLE001 - no app any more: certainly on the way out
        return True
    return bool(getattr(app, "quitting", False)) or not node.is_attached


async def _guarded(node: DOMNode, work: Awaitable[Any], name: str) -> Any:
    try:
        return await work
    except asyncio.CancelledError:
        raise
    except Exception:
        if _quitting(node):
            log.debug("worker %s stopped while quitting", name, exc_info=True)
            return None
        raise


def start_worker(node: DOMNode, work: Awaitable[Any], *, group: str, exclusive: bool = False, name: str = "") -> Worker:
    """Run ``work`` as a worker of ``node`` (instead of ``node.run_worker``)."""
    name = name or getattr(work, "__name__", "") or group
    guarded = _guarded(node, work, name)
    started = node.run_worker(guarded, name=name, group=group, exclusive=exclusive)
    started.cancel_safe = True  # type: ignore[attr-defined]  # the tests check every worker has it
    if started._task is not None:
        # Cancelled before it ever ran (an exclusive group, a quit): close both coroutines, the work and the guard
        # around it, so neither says "never awaited" (closing one that ran to its end does nothing).
        def close_unstarted(_task: object) -> None:
            guarded.close()
            if inspect.iscoroutine(work):
                work.close()

        started._task.add_done_callback(close_unstarted)
    return started


def worker(*, group: str, exclusive: bool = False) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Worker]]:
    """Decorate an async method to run it as a worker (instead of ``@textual.work``)."""

    def wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Worker]:
        @functools.wraps(method)
        def run(self: DOMNode, *args: Any, **kwargs: Any) -> Worker:
            return start_worker(self, method(self, *args, **kwargs), group=group, exclusive=exclusive,
                                name=method.__name__)

        return run

    return wrap


async def unwind(workers: list[Worker], timeout: float = UNWIND_SECONDS) -> None:
    """Cancel ``workers`` and wait (at most ``timeout``) for them to finish unwinding."""
    for w in workers:
        w.cancel()
    waits = [asyncio.ensure_future(_settled(w)) for w in workers if w.state.name not in ("PENDING",)]
    if waits:
        _, late = await asyncio.wait(waits, timeout=timeout)
        for task in late:
            task.cancel()


async def _settled(w: Worker) -> None:
    try:
        await w.wait()
    except Exception:  # noqa: BLE001 - WorkerCancelled / WorkerFailed: reported by the worker itself
        pass
