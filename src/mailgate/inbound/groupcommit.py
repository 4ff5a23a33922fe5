"""Group commit: many concurrent SMTP sessions, one durable transaction.

Every SMTP transaction must be committed before its ``250`` (DESIGN.md: nothing
is acknowledged before it is durable). One commit per message would cost one
fsync per message; instead :class:`GroupCommitter` gathers what arrives from
many sessions while a commit is in flight (and, while some session is still
reading a message it announced with :meth:`GroupCommitter.expect`, for at most
``max_delay`` seconds, or until ``max_items``), stores the whole group with
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
import fcntl
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

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
        # Listener processes sharing one SQLite file (runtime/listeners.py) queue their
        # commits on a lock file: flock wakes the next writer the moment the lock is
        # free, where SQLite's busy handler sleeps 1, 2, 5, 10... ms between tries,
        # longer than a commit takes.
        self.lock_file = _lock_path(app.settings.database_url) if app.settings.is_sqlite else None
        self._lock_fd: int | None = None
        self.max_delay = max_delay
        self.max_items = max_items
        self.lanes = lanes if lanes is not None else (1 if app.settings.is_sqlite else 4)
        self._pending: list[_Pending] = []
        self._count = 0  # items (not units) waiting in _pending
        self._arrived = asyncio.Event()
        # Set when a forming group has no reason to wait longer: full, or nobody expected.
        self._formed = asyncio.Event()
        self._expected = 0  # sessions reading a message to submit (expect/expected_done)
        self._tasks: list[asyncio.Task[None]] = []
        self._executor = ThreadPoolExecutor(self.lanes, thread_name_prefix="groupcommit")
        self._closing = False
        #: Groups committed and items stored so far (for the benchmark and the docs).
        self.groups = 0
        self.stored = 0

    async def start(self) -> None:
        if self.lock_file is not None:
            self._lock_fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
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
            self._formed.set()
        return await future

    def expect(self) -> None:
        """A session started reading a message (``354``) that it will submit soon."""
        self._expected += 1

    def expected_done(self) -> None:
        """That session submitted, or will not (too big, went away): call once per ``expect``.

        A group waits (up to ``max_delay``) only while some session is expected: a
        fixed pause before every commit cost each message its length in latency even
        when every session had already submitted (10 sessions, 10 in each group).
        """
        self._expected = max(0, self._expected - 1)
        if not self._expected:
            self._formed.set()

    async def aclose(self) -> None:
        """Commit what is pending, then stop the lanes and the thread pool."""
        self._closing = True
        self._arrived.set()
        self._formed.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)
        self._executor.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

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
            if (
                self._expected
                and not self._closing
                and self._count < self.max_items
                and self.max_delay > 0
            ):
                # Sessions are reading messages: give them a moment to join this group.
                self._formed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._formed.wait(), self.max_delay)
            if self._lock_fd is not None:
                # The group forms once this process may write: what arrives while another
                # listener process commits joins it, instead of waiting a commit more.
                await loop.run_in_executor(self._executor, self._lock, fcntl.LOCK_EX)
            try:
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
            finally:
                if self._lock_fd is not None:
                    self._lock(fcntl.LOCK_UN)
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

    def _lock(self, operation: int) -> None:
        assert self._lock_fd is not None
        fcntl.flock(self._lock_fd, operation)


def _lock_path(database_url: str) -> Path | None:
    """``<database file>-listener-lock`` beside the SQLite file; None in memory."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}-listener-lock")
