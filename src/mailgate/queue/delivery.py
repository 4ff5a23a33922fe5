"""Delivering claimed outbound mail: load the raw bytes, hand them to the transport, record.

Shared by the worker lanes and by immediate mode (``services.messages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from mailgate.core.oauth import MECHANISMS
from mailgate.errors import SecretUnreadable
from mailgate.outbound import oauth_tokens
from mailgate.outbound.base import DeliveryResult, Envelope, RecipientResult
from mailgate.outbound.instances import TransportInstances
from mailgate.queue import failover, lease, limits, observe, outbox, signing, throttling
from mailgate.queue.outbox import Claimed, Outcome
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.store.models import MessageRow, TransportRow, utcnow

log = logging.getLogger(__name__)


class DeliveryContext(Context, Protocol):
    """A :class:`Context` that also holds the live transports."""

    @property
    def transports(self) -> TransportInstances: ...


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


#: Immediate mode stores its messages leased to this owner (one per process: the
#: worker lanes lease under owners of their own, so none can complete these).
IMMEDIATE_OWNER = lease.new_owner("immediate")


def heartbeat(
    app: Context, claimed: list[Claimed], *, claimed_at: float | None = None
) -> lease.Heartbeat:
    """Keep the lease on ``claimed`` while they are delivered (a slow server or tarpit).

    ``claimed_at``: :meth:`lease.Fence.clock` read before the claim, so that
    :meth:`lease.Heartbeat.holds` knows when the lease might have run out.
    """
    owner = claimed[0].owner if claimed else ""
    return lease.Heartbeat(
        app.sessions,
        MessageRow,
        owner,
        [c.id for c in claimed if c.owner == owner],
        lease_seconds=app.settings.lease_seconds,
        claimed_at=claimed_at,
    )


async def deliver_held(app: DeliveryContext, ids: list[str], owner: str) -> dict[str, str]:
    """Deliver and record messages ``owner`` already holds (immediate mode); id → status."""
    put_back: dict[str, str] = {}  # held by a quota, delayed by a rate or a throttle
    claimed = await run_in(app.executors.outbox, _load_held, app, ids, owner, put_back)
    async with heartbeat(app, claimed):
        outcomes = await deliver(app, claimed)
    return {**put_back, **await run_in(app.executors.outbox, record, app, outcomes)}


def _load_held(app: Context, ids: list[str], owner: str, put_back: dict[str, str]) -> list[Claimed]:
    with transaction(app.sessions) as session:
        claimed = outbox.held(session, ids, owner)
        claimed = limits.gate(session, claimed, utcnow(), put_back=put_back)
        load_raw(app, session, claimed)
    return claimed


async def deliver(
    app: DeliveryContext,
    claimed: list[Claimed],
    *,
    done: Callable[[Outcome], None] | None = None,
    window: asyncio.Semaphore | None = None,
    holds: Callable[[str], bool] | None = None,
) -> list[Outcome]:
    """Deliver claimed messages (raw bytes loaded) through their transports; ``done``
    hears of each outcome as soon as it is known (``deliver_and_record``), and each
    delivery first takes a place in ``window`` (:class:`Recorder`), which the
    commit of its result gives back. A message ``holds`` no longer vouches for (its
    lease may have run out: :meth:`lease.Heartbeat.holds`) is not sent: whoever
    claims it next does, and no outcome is returned for it."""
    ids = {c.transport_id for c in claimed if c.transport_id}
    rows = await run_in(app.executors.outbox, _load_transports, app, ids)
    if spare := failover.fallback_ids(rows):
        rows.update(await run_in(app.executors.outbox, _load_transports, app, spare))
    # DKIM last, right before the bytes leave: it covers every header added before.
    signed = await run_in(app.executors.outbox, signing.sign_batch, app, claimed)

    async def one(msg: Claimed) -> Outcome:
        envelope = Envelope(msg.mail_from, tuple(msg.recipients), msg.category)
        if not envelope.recipients:
            return Outcome(msg, [])  # nothing left to send: record settles its status
        row = rows.get(msg.transport_id or "")
        if row is None:
            return _all(msg, envelope, "the transport was deleted", permanent=True)
        if not row.enabled:
            return _all(msg, envelope, f"transport {row.name!r} is disabled", permanent=False)
        row = failover.route(row, rows, msg.attempts)  # its fallback after N failures
        raw = signed.get(msg.id, msg.raw)
        if isinstance(raw, signing.Unsigned):  # the key is the operator's to fix: retry
            return _all(msg, envelope, raw.reason, permanent=False)
        # A sending domain's max_connections (queue/limits.py) bounds it beside the pool.
        slot = app.transports.slots(*msg.slot) if msg.slot else contextlib.nullcontext()
        token: str | None = None
        if row.config.get("auth") in MECHANISMS:  # an OAuth2 connection signs it in
            try:
                async with app.transports.token_lock(row.id):
                    token = await run_in(
                        app.executors.outbox,
                        oauth_tokens.fresh_token,
                        app,
                        transport_id=row.id,
                        wait=0,
                    )
            except oauth_tokens.ReauthRequired as e:
                # Never failed, not even at the end of its lifetime: it waits for an admin
                # to reconnect (docs/oauth.md), then leaves.
                msg.expires_at = None
                return _all(msg, envelope, f"{e.code}: {e.message}", permanent=False)
            except oauth_tokens.TokenUnavailable as e:  # the token endpoint: retry later
                return _all(msg, envelope, f"{e.code}: {e.message}", permanent=False)
        try:
            async with slot, observe.attempt(row.kind):
                result = await app.transports.get(row, token).deliver(envelope, raw)
        except SecretUnreadable as e:  # the key changed: the operator's to fix, then it retries
            return _all(msg, envelope, f"transport {row.name!r}: {e.message}", permanent=False)
        except Exception as e:  # never lose a message to a transport bug: retry later
            log.exception("transport %s raised while delivering %s", row.id, msg.id)
            return _all(msg, envelope, f"internal error: {e!r}", permanent=False)
        if token is not None and _auth_refused(result.recipients):
            # Refused before it expired (revoked): refresh next time, and keep the mail.
            await run_in(
                app.executors.outbox, oauth_tokens.token_rejected, app, transport_id=row.id
            )
            kept = [dataclasses.replace(r, permanent=False) for r in result.recipients]
            return Outcome(msg, kept)
        return Outcome(msg, result.recipients)

    async def tracked(msg: Claimed) -> Outcome | None:
        if window is not None:
            await window.acquire()  # the recorder gives it back after the commit
        try:
            if holds is not None and not holds(msg.id):
                # Sending now could be the second copy of a worker that took it over.
                log.warning("message %s: lease not renewed in time; left to the next claim", msg.id)
                if window is not None:
                    window.release()
                return None
            outcome = await one(msg)
        except BaseException:
            if window is not None:
                window.release()
            raise
        if done is not None:
            done(outcome)
        return outcome

    outcomes = await asyncio.gather(*(tracked(m) for m in claimed))
    return [o for o in outcomes if o is not None]


class Recorder:
    """Commits the delivery results of every outbound lane of a worker as they arrive.

    One commit at a time: whatever results are waiting when the previous commit ends
    go into the next (group commit without a timer), so a result waits at most for
    the commit in progress and its own. ``window`` bounds how many messages a
    process may have between the start of their delivery and the commit of their
    result: a SIGKILL can only repeat deliveries in that window (docs/queue.md,
    "Crashes"), and when the database is slow to commit, delivery slows down to
    its pace instead of piling up results a crash would send again.
    """

    def __init__(self, app: Context, window: int | None = None) -> None:
        self.app = app
        self.size = window
        self._loop: asyncio.AbstractEventLoop | None = None
        self._window: asyncio.Semaphore | None = None
        self._pending: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    def window(self) -> asyncio.Semaphore | None:
        self._bind()
        return self._window

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # tests run one worker under several event loops
            self._loop, self._pending, self._task = loop, [], None
            self._window = asyncio.Semaphore(self.size) if self.size and self.size > 0 else None

    def add(self, outcome: Outcome) -> asyncio.Future[None]:
        """Queue ``outcome`` for the next commit; the future completes after it."""
        self._bind()
        assert self._loop is not None
        future = self._loop.create_future()
        self._pending.append((outcome, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return future

    async def _run(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                await run_in(self.app.executors.outbox, record, self.app, [o for o, _ in group])
            except Exception as e:  # the lane logs it; unrecorded results run out their lease
                for _, future in group:
                    future.set_exception(e)
            else:
                for _, future in group:
                    future.set_result(None)
            finally:
                if self._window is not None:
                    for _ in group:
                        self._window.release()


async def deliver_and_record(
    app: DeliveryContext,
    claimed: list[Claimed],
    recorder: Recorder | None = None,
    *,
    holds: Callable[[str], bool] | None = None,
) -> None:
    """Deliver ``claimed`` and commit each result soon after it is known.

    Results are committed by ``recorder`` (the worker's, shared by its lanes; else
    one for this batch) while the rest of the batch is still being delivered, not
    once for the whole batch: a worker killed halfway then repeats only the
    deliveries in its window (:class:`Recorder`), not every delivery of its batch.
    """
    recorder = recorder or Recorder(app)
    committed: list[asyncio.Future[None]] = []
    try:
        await deliver(
            app,
            claimed,
            done=lambda outcome: committed.append(recorder.add(outcome)),
            window=recorder.window(),
            holds=holds,
        )
    finally:
        # Every result's commit is awaited (and its error retrieved) before the lease
        # heartbeat of the batch stops; the first error is the lane's to log.
        results = await asyncio.gather(*committed, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _auth_refused(results: list[RecipientResult]) -> bool:
    return bool(results) and all(not r.accepted and r.code in (334, 535) for r in results)


def _all(msg: Claimed, envelope: Envelope, text: str, *, permanent: bool) -> Outcome:
    res = DeliveryResult.all(envelope, accepted=False, code=None, text=text, permanent=permanent)
    return Outcome(msg, res.recipients)


def _load_transports(app: Context, ids: Iterable[str]) -> dict[str, TransportRow]:
    with app.sessions() as session:
        return {r.id: r for r in session.query(TransportRow).filter(TransportRow.id.in_(ids))}


def claim_batch(
    app: Context, owner: str, limit: int, *, now: datetime | None = None
) -> list[Claimed]:
    """Claim due messages and read their raw bytes, in one transaction.

    What quotas, rates or a throttling receiver hold back is put back in the same
    transaction (queue/limits.py).
    """
    now = now or utcnow()
    with transaction(app.sessions) as session:
        claimed = outbox.claim(
            session, owner, limit=limit, lease_seconds=app.settings.lease_seconds, now=now
        )
        claimed = limits.gate(session, claimed, now)
        load_raw(app, session, claimed)
    return claimed


def load_raw(app: Context, session: Session, claimed: list[Claimed]) -> None:
    blobs = app.blobs.get_many(session, [c.blob_key for c in claimed])
    for c in claimed:
        c.raw = blobs[c.blob_key]


def record(app: Context, outcomes: list[Outcome]) -> dict[str, str]:
    settings = app.settings
    policy = throttling.Policy(
        settings.throttle_base_seconds, settings.throttle_max_seconds, settings.throttle_concurrency
    )
    with transaction(app.sessions) as session:
        not_before = throttling.note(session, outcomes, policy, utcnow())
        statuses = outbox.record(
            session,
            outcomes,
            retry_base=app.settings.retry_base_seconds,
            retry_cap=app.settings.retry_max_seconds,
            not_before=not_before,
        )
        observe.deliveries(session, outcomes, statuses)  # metrics and log lines, after commit
        return statuses
