"""Poller kinds by name, and the supervisor that keeps every enabled poller running.

:class:`PollerSupervisor` runs inside :class:`mailgate.runtime.worker.Worker`: every
enabled ``imap``/``pop3`` source of every workspace gets its own thread (the
mail libraries block), restarted with exponential backoff when it fails. It
records ``last_polled_at`` after each pass and ``last_error`` after a failure,
and picks up created, edited, disabled and deleted sources on its next refresh
(at once when the API wakes the workers).

Each source is polled by one worker at a time across every process: a supervisor
runs only the sources it holds a lease on (``sources.lease_owner/lease_until``,
:mod:`mailgate.queue.lease`, ``MAILGATE_SOURCE_LEASE_SECONDS``). It renews the
lease every lease/3 while the poller thread runs and releases it when it stops;
if the worker dies, another claims the source once the lease has run out. A
poller whose lease could not be renewed stops itself at two thirds of the lease
(:class:`mailgate.queue.lease.Fence`), before anyone else may claim the source,
so a stalled worker and its successor never poll the same mailbox together.
``source_items`` still keeps every message single if they ever did.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import or_, select, update

from mailgate.errors import InvalidInput
from mailgate.inbound.base import Poller, PollResult, SourceRef
from mailgate.inbound.imap import ImapPoller
from mailgate.inbound.pop3 import Pop3Poller
from mailgate.queue import lease
from mailgate.queue.backoff import next_attempt
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.store.models import Source, utcnow

log = logging.getLogger(__name__)

POLLERS: dict[str, Any] = {  # kind → class with a pydantic ``Config``
    "imap": ImapPoller,
    "pop3": Pop3Poller,
}


def validate_config(model: type[BaseModel], config: Mapping[str, Any]) -> BaseModel:
    """Validate settings; errors name ``config.<field>``."""
    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        name = f"config.{where}" if where else "config"
        raise InvalidInput(f"{name}: {first['msg']}", field=name) from None


def build_poller(app: Context, row: Source) -> Poller:
    """A ready poller for a stored ``imap``/``pop3`` source (secrets decrypted)."""
    cls = POLLERS.get(row.kind)
    if cls is None:
        raise InvalidInput(f"source kind {row.kind!r} is not polled", field="kind")
    config = validate_config(cls.Config, {**row.config, **app.secrets.decrypt(row.secrets)})
    ref = SourceRef(row.id, row.workspace_id, row.kind, bool(row.private_network))
    poller: Poller = cls(app, ref, config)
    return poller


def record_pass(app: Context, source_id: str) -> None:
    """A pass finished: remember when, and clear the last error."""
    with transaction(app.sessions) as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(last_polled_at=utcnow(), last_error=None)
        )


def record_error(app: Context, source_id: str, error: BaseException) -> None:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    with transaction(app.sessions) as session:
        session.execute(update(Source).where(Source.id == source_id).values(last_error=text))


def _fingerprint(row: Source) -> str:
    data = json.dumps([row.kind, row.config, row.secrets, row.enabled], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


class _Fenced(threading.Event):
    """The stop signal a poller sees: set when stopped, or when the lease is not renewed."""

    def __init__(self, stop: threading.Event, fence: lease.Fence) -> None:
        super().__init__()
        self.stop = stop
        self.fence = fence

    def is_set(self) -> bool:
        return self.stop.is_set() or not self.fence.valid()

    def wait(self, timeout: float | None = None) -> bool:
        # Wake often enough to notice the fence; stop itself wakes the wait at once.
        deadline = None if timeout is None else lease.Fence.clock() + timeout
        while not self.is_set():
            left = 0.25 if deadline is None else min(0.25, deadline - lease.Fence.clock())
            if left <= 0:
                return False
            self.stop.wait(left)
        return True


@dataclass
class _Runner:
    """One source's thread: run the poller, and on failure wait and run it again."""

    app: Context
    row: Source
    backoff_base: float
    backoff_max: float
    fingerprint: str
    fence: lease.Fence
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._main, name=f"poller-{self.row.id}", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        failures = 0

        def on_pass(result: PollResult) -> None:
            nonlocal failures
            failures = 0
            record_pass(self.app, self.row.id)

        guard = _Fenced(self.stop, self.fence)
        while not self.stop.is_set():
            if not self.fence.valid():  # the lease is not proven: wait for a renewal
                self.stop.wait(0.1)
                continue
            try:
                build_poller(self.app, self.row).run(guard, on_pass)
            except Exception as exc:  # any failure: record it, back off, try again
                failures += 1
                log.warning("source %s failed (%d in a row): %s", self.row.id, failures, exc)
                try:
                    record_error(self.app, self.row.id, exc)
                except Exception:  # the database may be what failed
                    log.exception("could not record the error of source %s", self.row.id)
                now = utcnow()
                delay = (
                    next_attempt(now, failures, base=self.backoff_base, cap=self.backoff_max) - now
                )
                self.stop.wait(delay.total_seconds())


class PollerSupervisor:
    """Keeps one running poller per enabled ``imap``/``pop3`` source this worker leases."""

    def __init__(
        self,
        app: Context,
        *,
        refresh_seconds: float = 5.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        lease_seconds: float | None = None,
    ) -> None:
        self.app = app
        self.refresh_seconds = refresh_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.lease_seconds = lease_seconds or app.settings.source_lease_seconds
        self.owner = lease.new_owner("poll")
        self.fence = lease.Fence(self.lease_seconds)
        self.runners: dict[str, _Runner] = {}
        self._held: set[str] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Refresh now (sources changed); callable from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _load(self) -> list[Source]:
        """Renew the leases held, claim free sources, and return the ones to run."""
        started = lease.Fence.clock()
        now = utcnow()
        polled = (Source.enabled.is_(True), Source.kind.in_(list(POLLERS)))
        free = or_(Source.lease_until.is_(None), Source.lease_until < now)
        with transaction(self.app.sessions) as session:
            lease.renew(session, Source, self.owner, self._held, lease_seconds=self.lease_seconds)
            lease.claim(
                session,
                Source,
                self.owner,
                [lease.Walk((*polled, free), Source.id)],
                limit=1000,
                lease_seconds=self.lease_seconds,
                now=now,
            )
            rows = list(session.scalars(select(Source).where(Source.lease_owner == self.owner)))
            idle = [r.id for r in rows if not (r.enabled and r.kind in POLLERS)]
            if idle:  # disabled (or no longer polled) since we took it: let it go
                lease.release(session, Source, self.owner, idle)
        self.fence.renewed(started)
        running = [r for r in rows if r.id not in idle]
        self._held = {r.id for r in running}
        return running

    def release(self, ids: list[str]) -> None:
        """Give sources back at once, so another worker need not wait for the lease."""
        with transaction(self.app.sessions) as session:
            lease.release(session, Source, self.owner, ids)
        self._held -= set(ids)

    def reconcile(self, rows: list[Source]) -> None:
        """Start new and edited sources, stop edited, disabled, deleted and lost ones."""
        wanted = {r.id: r for r in rows}
        for sid in list(self.runners):
            runner = self.runners[sid]
            row = wanted.get(sid)
            if row is None or _fingerprint(row) != runner.fingerprint:
                runner.stop.set()
                del self.runners[sid]
        for sid, row in wanted.items():
            if sid not in self.runners:
                runner = _Runner(
                    self.app,
                    row,
                    self.backoff_base,
                    self.backoff_max,
                    _fingerprint(row),
                    self.fence,
                )
                self.runners[sid] = runner
                runner.start()

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self.app.add_waker(self.wake)
        # The heartbeat: renewing at a third of the lease leaves two thirds of slack.
        interval = min(self.refresh_seconds, self.lease_seconds / 3)
        try:
            while not stop.is_set():
                try:
                    self.reconcile(await run_in(self.app.executors.inbound, self._load))
                except Exception:  # the database is away: the fence pauses the pollers
                    log.exception("could not renew or load the inbound sources")
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(waiters, timeout=interval, return_when="FIRST_COMPLETED")
                for w in waiters:
                    w.cancel()
        finally:
            self.app.remove_waker(self.wake)
            self._loop = None
            await run_in(self.app.executors.inbound, self.stop_all)

    def stop_all(self, timeout: float = 5.0) -> None:
        runners, self.runners = list(self.runners.values()), {}
        for runner in runners:
            runner.stop.set()
        for runner in runners:
            if runner.thread is not None:
                runner.thread.join(timeout)
        # A poller still stuck in the network keeps its lease until it runs out.
        done = [r.row.id for r in runners if r.thread is None or not r.thread.is_alive()]
        try:
            self.release(done)
        except Exception:  # the leases run out on their own
            log.exception("could not release the leases of %s", self.owner)
