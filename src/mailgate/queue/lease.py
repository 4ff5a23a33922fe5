"""The lease queue every worker uses: claim, heartbeat, owner-checked completion, release.

A leased table has ``id``, ``lease_owner`` and ``lease_until`` columns (``messages``
for the outbox and inbound processing, ``webhook_deliveries``, ``sources``). Work
moves through four steps, all here so the outbox, inbound processing, webhooks and
source polling cannot drift apart:

* **claim**: due rows (one ordered index walk per :class:`Walk`) get an owner and
  ``lease_until = now + lease``. On PostgreSQL the walks lock with ``FOR UPDATE
  SKIP LOCKED``, so workers on many machines never wait for or double-claim a row;
  on SQLite the caller's :func:`mailgate.store.db.transaction` is the single writer
  (``BEGIN IMMEDIATE``), which makes the select-then-update atomic.
* **heartbeat** (:class:`Heartbeat`): while the work runs, ``lease_until`` of the
  rows the owner still holds is pushed forward every lease/3. A slow server can
  hold a batch for longer than the lease without a sibling lane claiming it again.
* **completion** (:func:`held`, :func:`complete`): the result is written only for
  rows still leased to this owner, checked under a row lock. If the lease ran out
  and another worker took a row over, that worker's result is the one that counts;
  the stale one is discarded and logged.
* **release**: the owner gives rows back (stopping, or done with a source).

Backoff for retries is :func:`mailgate.queue.backoff.next_attempt`.
Owners are unique per batch (:func:`new_owner`): lanes of one process must not be
able to complete each other's rows either.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailgate.store import metrics
from mailgate.store.db import transaction
from mailgate.store.models import utcnow

log = logging.getLogger(__name__)


def new_owner(role: str) -> str:
    """A lease owner nobody else has: host, pid, role and a random tag (fits String(80))."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{role[:12]}:{secrets.token_hex(4)}"


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


@dataclass(frozen=True, slots=True)
class Walk:
    """One ordered walk of an index for due rows: ``where``, oldest ``order_by`` first.

    A claim with several walks runs one query per walk, each stopping at the
    remaining limit; one ``OR`` over all of them made SQLite sort every due row.
    """

    where: tuple[ColumnElement[bool], ...]
    order_by: Any


def due_ids(session: Session, model: Any, walks: Sequence[Walk], limit: int) -> list[str]:
    """Ids of due rows, walk by walk, locked (``SKIP LOCKED``) on PostgreSQL."""
    table = _table(model)
    pg = session.get_bind().dialect.name == "postgresql"
    ids: list[str] = []
    for walk in walks:
        if len(ids) >= limit:
            break
        q = (
            select(table.c.id, table.c.lease_owner)
            .where(*walk.where)
            .order_by(walk.order_by)
            .limit(limit - len(ids))
        )
        if pg:
            q = q.with_for_update(skip_locked=True)
        rows = session.execute(q).all()
        ids += [row_id for row_id, _ in rows]
        # A due row that still names an owner is one whose lease ran out: a takeover.
        metrics.note_takeovers(session, table.name, sum(1 for _, owner in rows if owner))
    return ids


def claim(
    session: Session,
    model: Any,
    owner: str,
    walks: Sequence[Walk],
    *,
    limit: int,
    lease_seconds: float,
    values: Mapping[str, Any] | None = None,
    returning: Sequence[Any] = (),
    now: datetime | None = None,
) -> Sequence[Row[Any]]:
    """Lease up to ``limit`` due rows to ``owner``; returns ``returning`` of each (or ids).

    Run inside :func:`mailgate.store.db.transaction` (the write lock on SQLite).
    """
    now = now or utcnow()
    ids = due_ids(session, model, walks, limit)
    if not ids:
        return []
    table = _table(model)
    stmt = (
        update(table)
        .where(table.c.id.in_(ids))
        .values(
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_seconds),
            **dict(values or {}),
        )
        .returning(*(returning or (table.c.id,)))
    )
    return session.execute(stmt).all()


def renew(
    session: Session,
    model: Any,
    owner: str,
    ids: Iterable[str],
    *,
    lease_seconds: float,
    now: datetime | None = None,
) -> set[str]:
    """Push the lease of the rows ``owner`` still holds; returns those ids."""
    ids = list(ids)
    if not ids:
        return set()
    now = now or utcnow()
    table = _table(model)
    rows = session.execute(
        update(table)
        .where(table.c.id.in_(ids), table.c.lease_owner == owner)
        .values(lease_until=now + timedelta(seconds=lease_seconds))
        .returning(table.c.id)
    )
    return set(rows.scalars())


def held(session: Session, model: Any, owners: Mapping[str, str], *, what: str) -> set[str]:
    """Which of ``owners`` (id → the owner that worked on it) are still leased to it.

    The rows are locked until the caller's transaction ends (``FOR UPDATE`` on
    PostgreSQL; SQLite's single writer already excludes everyone else), so no claim
    can take them between this check and the completing write. Stale ones are logged.
    """
    if not owners:
        return set()
    table = _table(model)
    q = select(table.c.id, table.c.lease_owner).where(table.c.id.in_(list(owners)))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    current: dict[str, str | None] = {i: o for i, o in session.execute(q)}
    mine = {i for i, owner in owners.items() if current.get(i) == owner}
    for i in owners.keys() - mine:
        log.warning(
            "%s %s: the lease of %s ran out and %s took it over; this result is discarded",
            what,
            i,
            owners[i],
            current.get(i) or "nobody",
        )
    return mine


def complete(
    session: Session, model: Any, owner: str, row_id: str, *, what: str, **values: Any
) -> bool:
    """Write ``values`` and end the lease, only if ``owner`` still holds the row."""
    if not held(session, model, {row_id: owner}, what=what):
        return False
    table = _table(model)
    session.execute(
        update(table)
        .where(table.c.id == row_id, table.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, **values)
    )
    return True


def release(
    session: Session, model: Any, owner: str, ids: Iterable[str] | None = None, **values: Any
) -> int:
    """Give back rows ``owner`` holds (all of them when ``ids`` is None); returns how many."""
    table = _table(model)
    stmt = update(table).where(table.c.lease_owner == owner)
    if ids is not None:
        stmt = stmt.where(table.c.id.in_(list(ids)))
    result = session.execute(stmt.values(lease_owner=None, lease_until=None, **values))
    return int(getattr(result, "rowcount", 0) or 0)


class Heartbeat:
    """Renews the lease of ``ids`` every lease/3 while the ``async with`` body runs.

    Rows that were completed (or lost) drop out of the renewal; the beat ends when
    none is left. A failed renewal (the database away) is logged and tried again at
    the next beat: the lease still has two thirds to run.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        model: Any,
        owner: str,
        ids: Iterable[str],
        *,
        lease_seconds: float,
        on_renew: Callable[[set[str]], None] | None = None,
        claimed_at: float | None = None,
    ) -> None:
        self.sessions = sessions
        self.model = model
        self.owner = owner
        self.ids = set(ids)
        self.lease_seconds = lease_seconds
        self.on_renew = on_renew
        #: Ends two thirds of a lease after the claim (``claimed_at``: :meth:`Fence.clock`
        #: read before it) or the last renewal that went through: see :meth:`holds`.
        self.fence = Fence(lease_seconds)
        self.fence.renewed(Fence.clock() if claimed_at is None else claimed_at)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Heartbeat:
        if self.ids:
            self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task  # at most one renewal in flight: no thread left behind

    async def _beat(self) -> None:
        while self.ids:
            try:
                await asyncio.wait_for(self._stop.wait(), self.lease_seconds / 3)
                return
            except TimeoutError:
                pass
            try:
                # asyncio's default pool, which nothing else uses any more: a renewal
                # must not queue behind the very work it keeps leased in a busy pool.
                self.ids = await asyncio.to_thread(self.renew_now)
            except Exception:
                log.warning("renewing the lease of %s failed; retrying", self.owner, exc_info=True)

    def holds(self, row_id: str) -> bool:
        """Whether ``row_id`` is surely still leased to this owner: the last renewal kept
        it, and the lease it gave has a third left at least.

        A worker whose renewals stall (the database's write lock busy for longer than
        a lease, a frozen process) must not start work on a row another worker may
        already have claimed: for a message that would be a second copy.
        """
        return row_id in self.ids and self.fence.valid()

    def renew_now(self) -> set[str]:
        """One renewal, from any thread; returns the ids still held."""
        started = Fence.clock()
        with transaction(self.sessions) as session:
            ids = renew(session, self.model, self.owner, self.ids, lease_seconds=self.lease_seconds)
        self.fence.renewed(started)
        if self.on_renew is not None:
            self.on_renew(ids)
        return ids


class Fence:
    """A monotonic deadline a lease holder must not work past without a renewal.

    Set from the clock read *before* a claim or renewal: the database's lease ends
    ``lease`` after that at the earliest, so stopping at two thirds of it leaves a
    margin for a stalled process to notice before anyone else may claim the row.
    """

    def __init__(self, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self.until = 0.0

    @staticmethod
    def clock() -> float:
        return time.monotonic()

    def renewed(self, started: float) -> None:
        self.until = started + self.lease_seconds * 2 / 3

    def valid(self) -> bool:
        return time.monotonic() < self.until
