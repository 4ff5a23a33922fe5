"""Poller kinds by name, and the supervisor that keeps every enabled poller running.

:class:`PollerSupervisor` runs inside :class:`mailgate.runtime.worker.Worker`: every
enabled ``imap``/``pop3`` source of every workspace gets its own thread (the
mail libraries block), restarted with exponential backoff when it fails. It
records ``last_polled_at`` after each pass and ``last_error`` after a failure,
and picks up created, edited, disabled and deleted sources on its next refresh
(at once when the API wakes the workers). Several worker processes may run the
same source at the same time: ``source_items`` keeps every message single.
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
from sqlalchemy import select, update

from mailgate.errors import InvalidInput
from mailgate.inbound.base import Poller, PollResult, SourceRef
from mailgate.inbound.imap import ImapPoller
from mailgate.inbound.pop3 import Pop3Poller
from mailgate.queue.backoff import next_attempt
from mailgate.store.context import Context
from mailgate.store.db import transaction
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


@dataclass
class _Runner:
    """One source's thread: run the poller, and on failure wait and run it again."""

    app: Context
    row: Source
    backoff_base: float
    backoff_max: float
    fingerprint: str
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

        while not self.stop.is_set():
            try:
                build_poller(self.app, self.row).run(self.stop, on_pass)
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
    """Keeps one running poller per enabled ``imap``/``pop3`` source."""

    def __init__(
        self,
        app: Context,
        *,
        refresh_seconds: float = 5.0,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
    ) -> None:
        self.app = app
        self.refresh_seconds = refresh_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.runners: dict[str, _Runner] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Refresh now (sources changed); callable from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _load(self) -> list[Source]:
        with self.app.sessions() as session:
            return list(
                session.scalars(
                    select(Source).where(Source.enabled.is_(True), Source.kind.in_(list(POLLERS)))
                )
            )

    def reconcile(self, rows: list[Source]) -> None:
        """Start new and edited sources, stop edited, disabled and deleted ones."""
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
                    self.app, row, self.backoff_base, self.backoff_max, _fingerprint(row)
                )
                self.runners[sid] = runner
                runner.start()

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self.app.add_waker(self.wake)
        try:
            while not stop.is_set():
                try:
                    self.reconcile(await asyncio.to_thread(self._load))
                except Exception:  # the database is away: keep what runs, try again
                    log.exception("could not load the inbound sources")
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(
                    waiters, timeout=self.refresh_seconds, return_when="FIRST_COMPLETED"
                )
                for w in waiters:
                    w.cancel()
        finally:
            self.app.remove_waker(self.wake)
            self._loop = None
            await asyncio.to_thread(self.stop_all)

    def stop_all(self, timeout: float = 5.0) -> None:
        runners, self.runners = list(self.runners.values()), {}
        for runner in runners:
            runner.stop.set()
        for runner in runners:
            if runner.thread is not None:
                runner.thread.join(timeout)
