"""Cancel-safe database work: a cancel never lands in the middle of a database operation.

Cancelling a task (ctrl+q in the TUI cancels its workers, ctrl+c in the CLI cancels the command) while
SQLAlchemy is half way through a query, a commit or a rollback leaves that session and its pooled connection
in a state nothing can clean up: ``IllegalStateChangeError``, ``ResourceClosedError``, "Exception during reset",
"Future exception was never retrieved", hundreds of lines of traceback at exit. So every operation of the
store's sessions runs to its end in a task of its own (each is short: one statement, one commit); a cancel that
arrives meanwhile is delivered as soon as the operation is over. The session is then consistent, and the
caller's ``ctx.tx()`` rolls back as it does for any error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def uninterrupted(work: Awaitable[T], *, grace: float | None = None) -> T:
    """Await ``work`` to its end even if the caller is cancelled meanwhile; then deliver the cancel.

    ``grace``: once cancelled, wait at most this many seconds more (the work goes on in its own task;
    whoever owns the loop waits for it, see ``rfpilot.core.context.finish_anyway``)."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        try:
            if deadline is None:
                result = await asyncio.shield(task)
            else:
                left = deadline - loop.time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait({task}, timeout=left)
                if not done:
                    break
                result = task.result()
        except asyncio.CancelledError as exc:
            if task.done() and task.cancelled():
                raise  # the work itself was cancelled (the loop is closing): nothing left to wait for
            if cancelled is None:
                cancelled = exc
                if grace is not None:
                    deadline = loop.time() + grace
            if task.done():
                break
            continue
        except BaseException:
            if cancelled is not None:
                break  # failed while we were being cancelled: the cancel is what the caller hears about
            raise
        else:
            if cancelled is None:
                return result
            break
    if cancelled is not None:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: never "exception was never retrieved"
        raise cancelled
    return result  # pragma: no cover - the loop only breaks once cancelled


class CancelSafeSession(AsyncSession):
    """The store's session class: each operation finishes before a cancel is delivered (module docstring)."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().scalar(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().get(*args, **kwargs))

    async def get_one(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().get_one(*args, **kwargs))

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        await uninterrupted(super().refresh(*args, **kwargs))

    async def run_sync(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().run_sync(*args, **kwargs))

    async def delete(self, instance: object) -> None:
        await uninterrupted(super().delete(instance))

    async def delete_all(self, instances: Any) -> None:
        await uninterrupted(super().delete_all(instances))

    async def merge(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().merge(*args, **kwargs))

    async def merge_all(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().merge_all(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await uninterrupted(super().flush(*args, **kwargs))

    async def connection(self, *args: Any, **kwargs: Any) -> Any:
        return await uninterrupted(super().connection(*args, **kwargs))

    async def commit(self) -> None:
        await uninterrupted(super().commit())

    async def rollback(self) -> None:
        await uninterrupted(super().rollback())

    async def close(self) -> None:
        await uninterrupted(super().close())

    async def reset(self) -> None:
        await uninterrupted(super().reset())

    async def invalidate(self) -> None:
        await uninterrupted(super().invalidate())
