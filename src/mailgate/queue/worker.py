"""The worker loop: claim due messages, deliver them, record what happened.

Several lanes run at once so that one batch is being delivered while another is
being recorded; each lane's deliveries run concurrently, bounded by each
transport's own connection pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy.orm import Session

from mailgate.bootstrap import Mailgate
from mailgate.events.delivery import WebhookDispatcher
from mailgate.outbound.base import DeliveryResult, Envelope
from mailgate.queue import outbox
from mailgate.queue.lanes import run_lane
from mailgate.queue.outbox import Claimed, Outcome
from mailgate.store.db import transaction
from mailgate.store.models import TransportRow

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def deliver(app: Mailgate, claimed: list[Claimed]) -> list[Outcome]:
    """Deliver claimed messages (raw bytes loaded) through their transports."""
    ids = {c.transport_id for c in claimed if c.transport_id}
    rows = await asyncio.to_thread(_load_transports, app, ids)

    async def one(msg: Claimed) -> Outcome:
        envelope = Envelope(msg.mail_from, tuple(msg.recipients))
        if not envelope.recipients:
            return Outcome(msg, [])  # nothing left to send: record settles its status
        row = rows.get(msg.transport_id or "")
        if row is None:
            return _all(msg, envelope, "the transport was deleted", permanent=True)
        if not row.enabled:
            return _all(msg, envelope, f"transport {row.name!r} is disabled", permanent=False)
        try:
            result = await app.transports.get(row).deliver(envelope, msg.raw)
        except Exception as e:  # never lose a message to a transport bug: retry later
            log.exception("transport %s raised while delivering %s", row.id, msg.id)
            return _all(msg, envelope, f"internal error: {e!r}", permanent=False)
        return Outcome(msg, result.recipients)

    return list(await asyncio.gather(*(one(m) for m in claimed)))


def _all(msg: Claimed, envelope: Envelope, text: str, *, permanent: bool) -> Outcome:
    res = DeliveryResult.all(envelope, accepted=False, code=None, text=text, permanent=permanent)
    return Outcome(msg, res.recipients)


def _load_transports(app: Mailgate, ids: Iterable[str]) -> dict[str, TransportRow]:
    with app.sessions() as session:
        return {r.id: r for r in session.query(TransportRow).filter(TransportRow.id.in_(ids))}


def claim_batch(app: Mailgate, owner: str, limit: int) -> list[Claimed]:
    """Claim due messages and read their raw bytes, in one transaction."""
    with transaction(app.sessions) as session:
        claimed = outbox.claim(
            session, owner, limit=limit, lease_seconds=app.settings.lease_seconds
        )
        load_raw(app, session, claimed)
    return claimed


def load_raw(app: Mailgate, session: Session, claimed: list[Claimed]) -> None:
    blobs = app.blobs.get_many(session, [c.blob_key for c in claimed])
    for c in claimed:
        c.raw = blobs[c.blob_key]


def record(app: Mailgate, outcomes: list[Outcome]) -> dict[str, str]:
    with transaction(app.sessions) as session:
        return outbox.record(
            session,
            outcomes,
            retry_base=app.settings.retry_base_seconds,
            retry_cap=app.settings.retry_max_seconds,
        )


class Worker:
    """Runs lanes until ``stop`` is set; ``wake()`` cuts the idle wait short."""

    def __init__(self, app: Mailgate, *, lanes: int = 3, idle_seconds: float = 1.0) -> None:
        self.app = app
        self.owner = worker_name()
        self.lanes = lanes
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        self.app.add_waker(self.wake)
        webhooks = WebhookDispatcher(self.app, idle_seconds=self.idle_seconds)
        try:
            outbound = [self._lane(stop, self.run_once) for _ in range(self.lanes)]
            inbound = self._lane(stop, self.process_inbound)
            # Imported here: inbound sits beside queue, not below it (DESIGN.md layout).
            from mailgate.inbound.pollers import PollerSupervisor

            pollers = PollerSupervisor(self.app).run(stop)
            await asyncio.gather(*outbound, inbound, webhooks.run(stop), pollers)
        finally:
            self.app.remove_waker(self.wake)

    async def run_once(self) -> int:
        """Claim and deliver one batch; returns how many messages it handled."""
        batch = self.app.settings.worker_batch
        claimed = await asyncio.to_thread(claim_batch, self.app, self.owner, batch)
        if not claimed:
            return 0
        outcomes = await deliver(self.app, claimed)
        await asyncio.to_thread(record, self.app, outcomes)
        return len(claimed)

    async def process_inbound(self) -> int:
        """Parse and route one batch of received mail; returns how many."""
        from mailgate.inbound import processor

        ids = await asyncio.to_thread(processor.claim, self.app, self.owner, 50)
        for message_pk in ids:
            await asyncio.to_thread(processor.process, self.app, message_pk)
        return len(ids)

    async def drain(self) -> None:
        """Work until nothing is due now (tests and `mailgate worker --once`)."""
        while await self.run_once() + await self.process_inbound():
            pass

    async def _lane(self, stop: asyncio.Event, step: Callable[[], Awaitable[int]]) -> None:
        await run_lane(stop, self._wake, step, idle_seconds=self.idle_seconds, name="worker")
