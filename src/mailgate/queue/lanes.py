"""The loop every background worker runs: do a step; when idle, wait for a wake-up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_lane(
    stop: asyncio.Event,
    wake: asyncio.Event,
    step: Callable[[], Awaitable[int]],
    *,
    idle_seconds: float,
    name: str,
) -> None:
    """Call ``step`` until it finds nothing to do, then sleep until woken or ``idle_seconds``.

    ``step`` returns how much it handled. An exception is logged and the lane goes
    on after the idle wait: a database hiccup must not end a worker.
    """
    while not stop.is_set():
        try:
            handled = await step()
        except Exception:
            log.exception("%s lane failed; retrying shortly", name)
            handled = 0
        if handled:
            continue
        wake.clear()
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=idle_seconds, return_when="FIRST_COMPLETED")
        for w in waiters:
            w.cancel()
