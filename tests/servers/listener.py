"""mailgate's SMTP/LMTP listener on a free loopback port: ``listener_factory``, ``smtp_listener``.

The listener runs in its own event loop thread, exactly as ``mailgate serve``
runs it, over the ``mailgate_app`` fixture (so on SQLite and on PostgreSQL).
Helpers create workspaces and support addresses and read back what was stored.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from mailgate.inbound.smtp import Listener, start_listener
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, SupportAddress, new_id

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class RunningListener:
    """A listener in a loop thread, with the app it stores into."""

    app: Mailgate
    listener: Listener
    loop: LoopThread
    workspace_id: str
    address: str = "support@acme.example.com"
    _closed: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return self.listener.host

    @property
    def port(self) -> int:
        return self.listener.port

    def new_workspace(self, name: str, address: str | None = None) -> str:
        """A workspace, with a support address when given."""
        with transaction(self.app.sessions) as session:
            ws = tenancy.create_workspace(session, name)
        if address:
            add_address(self.app, ws.id, address)
        return ws.id

    def inbound(self) -> list[MessageRow]:
        """Every inbound message row, oldest first."""
        with self.app.sessions() as session:
            return list(
                session.scalars(
                    select(MessageRow)
                    .where(MessageRow.direction == "in")
                    .order_by(MessageRow.created_at, MessageRow.id)
                )
            )

    def raw(self, row: MessageRow) -> bytes:
        with self.app.sessions() as session:
            return self.app.blobs.get(session, row.blob_key)

    def stop(self) -> None:
        if not self._closed:
            self._closed = True
            self.loop.run(self.listener.stop())
            self.loop.close()


def add_address(app: Mailgate, workspace_id: str, address: str) -> None:
    """A support address for ``workspace_id``, created directly in the database."""
    with transaction(app.sessions) as session:
        session.add(SupportAddress(id=new_id("adr"), workspace_id=workspace_id, address=address))


@pytest.fixture
def listener_factory(mailgate_app: Mailgate) -> Iterator[Callable[..., RunningListener]]:
    """Start listeners: ``listener_factory(lmtp=True, tls=context)``; all stopped after."""
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme")
    add_address(mailgate_app, ws.id, "support@acme.example.com")
    started: list[RunningListener] = []

    def start(*, lmtp: bool = False, tls: ssl.SSLContext | None = None) -> RunningListener:
        loop = LoopThread()
        listener = loop.run(start_listener(mailgate_app, "127.0.0.1", 0, lmtp=lmtp, tls=tls))
        running = RunningListener(mailgate_app, listener, loop, ws.id)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            running.stop()


@pytest.fixture
def smtp_listener(listener_factory: Callable[..., RunningListener]) -> RunningListener:
    """An SMTP listener accepting mail for support@acme.example.com (workspace "acme")."""
    return listener_factory()
