"""The SMTP/LMTP listener in several processes on one port (``SO_REUSEPORT``).

One process is one event loop under one GIL: the listener's command loop costs about
half a millisecond of CPU a message, and the group commit's thread competes for the
same GIL, so one process cannot use a second core (docs/performance.md, "Inbound").
``serve`` therefore runs its own listener and starts ``MAILGATE_LISTENER_PROCESSES - 1``
``mailgate listen`` processes that bind the same address with ``SO_REUSEPORT``; the
kernel hands each new connection to one of them.

What keeps this safe:

* every process has its own :class:`~mailgate.inbound.groupcommit.GroupCommitter` and
  answers ``250`` only after its own commit, so a SIGKILL of any one of them loses
  nothing acknowledged (its open sessions get no reply and their senders retry);
* on SQLite the processes' commits queue on a lock file next to the database
  (``GroupCommitter``), one writer at a time, as SQLite requires;
* ``serve`` starts a new process in place of one that died by a signal or an error,
  and stops them all (SIGTERM: each commits what it holds) when it stops; a process
  whose ``serve`` disappeared stops by itself.

Messages received by a ``listen`` process are processed by ``serve``'s (or any
``worker``'s) inbound lane, which finds them at its next poll (within a second): the
in-process wake-up does not cross processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping

from mailgate.errors import ConfigurationError
from mailgate.inbound.smtp import Listener, server_tls_context, start_listener
from mailgate.runtime import Mailgate
from mailgate.runtime.children import ChildProcesses, parent_gone

log = logging.getLogger(__name__)


async def open_listener(app: Mailgate, *, reuse_port: bool) -> Listener:
    """The listener on ``MAILGATE_SMTP`` with the settings' TLS and protocol."""
    settings = app.settings
    tls = server_tls_context(*settings.smtp_tls) if settings.smtp_tls else None
    host, port = settings.smtp
    try:
        return await start_listener(
            app, host, port, lmtp=settings.smtp_lmtp, tls=tls, reuse_port=reuse_port
        )
    except OSError as e:
        raise ConfigurationError(
            "MAILGATE_SMTP", f"cannot listen on {host}:{port}: {e.strerror}"
        ) from None


async def listen(app: Mailgate, *, parent: int | None = None) -> None:
    """``mailgate listen``: run one listener (port shared) until SIGTERM/SIGINT.

    ``parent``: the ``serve`` that started this process; when it is gone (SIGKILL), this
    process stops too rather than keep a share of the port nobody supervises.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    listener = await open_listener(app, reuse_port=True)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if parent_gone(parent):
                log.warning("the serve process %s is gone: this listener stops", parent)
                break
    finally:
        await listener.stop()  # commits what it holds, answers those sessions
        await app.aclose()


class ListenerProcesses(ChildProcesses):
    """``mailgate listen`` children of ``serve`` on the port it bound; restarted when they die."""

    def __init__(
        self, count: int, host: str, port: int, env: Mapping[str, str] | None = None
    ) -> None:
        # The port serve actually bound (it may have asked for port 0).
        base = os.environ if env is None else env
        super().__init__("listen", count, {**base, "MAILGATE_SMTP": f"{host}:{port}"})
