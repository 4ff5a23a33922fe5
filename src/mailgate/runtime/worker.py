"""The worker loop: claim due messages, deliver them, record what happened.

Several lanes run at once so that one batch is being delivered while another is
being recorded; each lane's deliveries run concurrently, bounded by each
transport's own connection pool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from mailgate.campaigns import dispatch as campaigns
from mailgate.campaigns.channel import Channel
from mailgate.domains import schedule as domain_schedule
from mailgate.events.delivery import WebhookDispatcher
from mailgate.inbound import processor
from mailgate.inbound.pollers import PollerSupervisor
from mailgate.outbound.instances import TransportInstances
from mailgate.queue import lease
from mailgate.queue.delivery import (
    Recorder,
    claim_batch,
    deliver_and_record,
    heartbeat,
    worker_name,
)
from mailgate.queue.lanes import run_lane
from mailgate.runtime import Mailgate
from mailgate.services.providers import Refresher
from mailgate.store.executors import run_in

log = logging.getLogger(__name__)


class Worker:
    """Runs lanes until ``stop`` is set; ``wake()`` cuts the idle wait short."""

    def __init__(self, app: Mailgate, *, lanes: int = 3, idle_seconds: float = 1.0) -> None:
        self.app = app
        self.owner = worker_name()
        self.lanes = lanes
        self.idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        # One for all outbound lanes: their results share commits, and the window of
        # uncommitted deliveries (what a SIGKILL repeats) is the process's.
        self.recorder = Recorder(app, app.settings.delivery_window)

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        self.app.add_waker(self.wake)
        webhooks = WebhookDispatcher(self.app, idle_seconds=self.idle_seconds)
        try:
            outbound = [self._lane(stop, self.run_once) for _ in range(self.lanes)]
            inbound = self._lane(stop, self.process_inbound)
            pollers = PollerSupervisor(self.app).run(stop)
            domains = self._lane(stop, self.check_domains)
            # HTTP providers' account state (quota, balance, domain): services/providers.py.
            providers = self._lane(stop, Refresher(self.app))
            # Campaign mail: lanes, threads and transport connections of its own, so
            # triggered mail never queues behind a campaign (docs/campaigns.md).
            bulk = Channel(
                self.app,
                TransportInstances(
                    self.app.secrets, guard=self.app.netguard, executor=self.app.executors.outbox
                ),
            )
            pool = ThreadPoolExecutor(2, thread_name_prefix="mailgate-campaigns")
            bulk_lanes = [
                self._lane(stop, functools.partial(campaigns.dispatch_once, bulk, pool, start=i))
                for i in range(2)
            ]
            try:
                await asyncio.gather(
                    *outbound, inbound, webhooks.run(stop), pollers, domains, providers,
                    *bulk_lanes,
                )
            finally:
                await bulk.aclose()
                pool.shutdown(wait=False, cancel_futures=True)
        finally:
            self.app.remove_waker(self.wake)

    async def run_once(self) -> int:
        """Claim and deliver one batch; returns how many messages it handled."""
        batch = self.app.settings.worker_batch
        # An owner per batch: a lane never completes what a sibling lane holds.
        owner = lease.new_owner("out")
        started = lease.Fence.clock()  # the lease runs from before the claim at the latest
        claimed = await run_in(self.app.executors.outbox, claim_batch, self.app, owner, batch)
        if not claimed:
            return 0
        async with heartbeat(self.app, claimed, claimed_at=started) as beat:
            await deliver_and_record(self.app, claimed, self.recorder, holds=beat.holds)
        return len(claimed)

    async def process_inbound(self) -> int:
        """Parse and route one batch of received mail; returns how many."""
        owner = lease.new_owner("in")
        ids = await run_in(self.app.executors.inbound, processor.claim, self.app, owner, 50)
        async with processor.heartbeat(self.app, owner, ids):
            for message_pk in ids:
                await run_in(
                    self.app.executors.inbound, processor.process, self.app, message_pk, owner
                )
        return len(ids)

    async def check_domains(self) -> int:
        """Re-check the sending domains that are due (docs/domains.md); returns how many."""
        # The API pool: a check is what the verify button does, and it is rare.
        return await run_in(self.app.executors.domains, domain_schedule.check_due, self.app)

    async def drain(self) -> None:
        """Work until nothing is due now (tests and `mailgate worker --once`), campaigns
        included: one lane at a time, so they may share the app's connections here."""
        while (
            await self.run_once()
            + await self.process_inbound()
            + await campaigns.dispatch_once(self.app, self.app.executors.outbox)
        ):
            pass

    async def _lane(self, stop: asyncio.Event, step: Callable[[], Awaitable[int]]) -> None:
        await run_lane(stop, self._wake, step, idle_seconds=self.idle_seconds, name="worker")
