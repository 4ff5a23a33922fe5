"""One bounded thread pool per subsystem, so that one cannot starve another.

Blocking work (database transactions, DNS look-ups through ``getaddrinfo``,
mailbox libraries) runs in threads. With one shared pool — asyncio's default,
``min(32, cpus + 4)`` threads — a webhook host whose DNS answers after seconds
held every thread, and another workspace's ``POST /v1/messages`` and inbound
processing waited behind it. Each subsystem now has its own pool, built once by
:func:`mailgate.runtime.build` and reached through ``Context.executors``:

* ``api`` — the HTTP API's blocking work (accepting a message, uploads, checks);
* ``outbox`` — claiming, recording and resolving for outbound delivery;
* ``inbound`` — processing received mail and the listener's look-ups;
* ``webhooks`` — webhook DNS look-ups and bookkeeping;
* ``domains`` — the scheduled DNS re-checks of sending domains.

A slow webhook host can fill the ``webhooks`` pool, and nothing else.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: Threads per subsystem: enough for the work each does at once on a small machine.
DEFAULT_THREADS = {"api": 8, "outbox": 4, "inbound": 4, "webhooks": 4, "domains": 2}


@dataclass(frozen=True, slots=True)
class Executors:
    api: ThreadPoolExecutor
    outbox: ThreadPoolExecutor
    inbound: ThreadPoolExecutor
    webhooks: ThreadPoolExecutor
    domains: ThreadPoolExecutor

    @classmethod
    def create(cls, threads: dict[str, int] | None = None) -> Executors:
        sizes = {**DEFAULT_THREADS, **(threads or {})}
        return cls(
            **{
                f.name: ThreadPoolExecutor(sizes[f.name], thread_name_prefix=f"mailgate-{f.name}")
                for f in fields(cls)
            }
        )

    def shutdown(self) -> None:
        for f in fields(self):
            getattr(self, f.name).shutdown(wait=False, cancel_futures=True)


async def run_in(
    executor: Executor | None, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``asyncio.to_thread``, in the given subsystem's pool instead of the shared one."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
