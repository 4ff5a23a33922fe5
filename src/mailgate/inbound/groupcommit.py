"""Group commit: many concurrent SMTP sessions, one durable transaction.

Every SMTP transaction must be committed before its ``250`` (DESIGN.md: nothing
is acknowledged before it is durable). One commit per message would cost one
fsync per message; instead :class:`GroupCommitter` gathers what arrives from
many sessions while a commit is in flight (and for at most ``max_delay``
seconds when idle, or until ``max_items``), stores the whole group with
:func:`mailgate.inbound.pipeline.store_many` in ONE transaction in a worker
thread, and only then resolves each caller's future. If that transaction
fails, every caller in the group gets the exception (the listener answers
``451``): nothing is ever acknowledged that was not committed.

A caller's items form one unit: they are never split across two groups, so one
SMTP transaction with copies for two workspaces is stored entirely or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mailgate.inbound.pipeline import Incoming, Received, store_many
from mailgate.store.context import Context
from mailgate.store.db import transaction


@dataclass(slots=True)
class _Pending:
    items: Sequence[Incoming]
    future: asyncio.Future[list[Received]]


class GroupCommitter:
    """Collects :class:`Incoming` units from coroutines and commits them in groups.

    Use inside one event loop: ``await start()``, then ``await submit(items)``
    from any number of tasks, and ``await aclose()`` at the end. ``lanes`` is how
    many group transactions may be in flight at once: 1 for SQLite (one writer
    anyway), a few for PostgreSQL.
    """

    def __init__(
        self,
        app: Context,
        *,
        max_delay: float = 0.002,
        max_items: int = 500,
        lanes: int | None = None,
    ) -> None:
        self.app = app
        self.max_delay = max_delay
        self.max_items = max_items
        self.lanes = lanes if lanes is not None else (1 if app.settings.is_sqlite else 4)
        self._pending: list[_Pending] = []
        self._count = 0  # items (not units) waiting in _pending
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._executor = ThreadPoolExecutor(self.lanes, thread_name_prefix="groupcommit")
        self._closing = False
        #: Groups committed and items stored so far (for the benchmark and the docs).
        self.groups = 0
        self.stored = 0

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._lane()) for _ in range(self.lanes)]

    async def submit(self, items: Sequence[Incoming]) -> list[Received]:
        """Store ``items`` in the next group; returns once that group has committed."""
        if self._closing:
            raise RuntimeError("the group committer is closed")
        future: asyncio.Future[list[Received]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(items, future))
        self._count += len(items)
        self._arrived.set()
        if self._count >= self.max_items:
            self._full.set()
        return await future

    async def aclose(self) -> None:
        """Commit what is pending, then stop the lanes and the thread pool."""
        self._closing = True
        self._arrived.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)
        self._executor.shutdown(wait=True)

    def _take(self) -> list[_Pending]:
        group: list[_Pending] = []
        n = 0
        while self._pending and (not group or n + len(self._pending[0].items) <= self.max_items):
            unit = self._pending.pop(0)
            if unit.future.done():  # its session went away before the group formed
                self._count -= len(unit.items)
                continue
            group.append(unit)
            n += len(unit.items)
        self._count -= n
        if not self._pending:
            self._arrived.clear()
        if self._count < self.max_items:
            self._full.clear()
        return group

    async def _lane(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            if not self._pending:
                if self._closing:
                    return
                self._arrived.clear()
                continue
            if not self._closing and self._count < self.max_items and self.max_delay > 0:
                # Idle: give concurrent sessions a moment to join this group.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.max_delay)
            group = self._take()
            if not group:
                continue
            items = [it for unit in group for it in unit.items]
            try:
                answers = await loop.run_in_executor(self._executor, self._commit, items)
            except Exception as exc:  # every waiter of the group hears of it (→ 451)
                for unit in group:
                    if not unit.future.done():
                        unit.future.set_exception(exc)
                continue
            self.groups += 1
            self.stored += len(items)
            start = 0
            for unit in group:
                end = start + len(unit.items)
                if not unit.future.done():
                    unit.future.set_result(answers[start:end])
                start = end
            self.app.wake_workers()

    def _commit(self, items: list[Incoming]) -> list[Received]:
        with transaction(self.app.sessions) as session:
            return store_many(session, self.app, items)
