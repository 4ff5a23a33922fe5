"""Keeping HTTP providers' account state fresh: domain state, daily quota, balance.

``POST /v1/transports/{id}/check`` reads it on demand; the worker also re-reads it
every :data:`REFRESH_SECONDS` (:func:`refresh_due`), so the quota the queue applies
(queue/limits.py, ``_provider_quota``) follows what the provider says through the
day. A provider that does not answer keeps the last state it gave.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from mailgate.events.providers import provider_class
from mailgate.outbound.http import HttpTransport
from mailgate.outbound.registry import TRANSPORTS
from mailgate.queue.delivery import DeliveryContext
from mailgate.services.transports import record_provider_state
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.store.models import TransportRow

log = logging.getLogger(__name__)

REFRESH_SECONDS = 600.0
_KINDS = [k for k in TRANSPORTS if provider_class(k) is not None]


class Refresher:
    """The worker's step: at most one pass per :data:`REFRESH_SECONDS` in this process."""

    def __init__(self, app: DeliveryContext, every: float = REFRESH_SECONDS) -> None:
        self.app = app
        self.every = every
        self._next = time.monotonic()

    async def __call__(self) -> int:
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.every
        await refresh_all(self.app)
        return 0  # idle afterwards: nothing else is due until the next pass


async def refresh_all(app: DeliveryContext) -> int:
    """Ask every enabled provider transport's account API; returns how many answered."""

    def load() -> list[TransportRow]:
        with app.sessions() as session:
            q = select(TransportRow).where(
                TransportRow.kind.in_(_KINDS), TransportRow.enabled.is_(True)
            )
            return list(session.scalars(q))

    rows = await run_in(app.executors.api, load)
    done = 0
    for row in rows:
        try:
            transport = app.transports.get(row)
            if not isinstance(transport, HttpTransport):
                continue
            state: dict[str, Any] = await transport.account()
        except Exception as exc:  # refused, unreachable, key unreadable: keep the last state
            log.warning("provider state of transport %s: %s", row.id, exc)
            continue
        if not state:
            continue

        def save(tid: str = row.id, found: dict[str, Any] = state) -> None:
            with transaction(app.sessions) as session:
                record_provider_state(session, tid, found)

        await run_in(app.executors.api, save)
        done += 1
    return done
