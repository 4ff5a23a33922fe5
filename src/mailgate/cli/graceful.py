"""uvicorn's server, stopped by SIGTERM/SIGINT without being killed by them.

uvicorn 0.29+ re-raises a captured SIGTERM or SIGINT once it has stopped serving,
with the default handler back in place: the process dies there, before ``mailgate
serve`` closes its SMTP listener, lets the worker finish its batch and disposes of
the store (and exits -15 instead of 0 under a service manager). Here the signal only
asks uvicorn to stop; ``serve`` then shuts the rest down and returns normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:  # a second SIGINT still forces the exit (uvicorn's handle_exit)
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in SIGNALS:
                loop.remove_signal_handler(sig)
