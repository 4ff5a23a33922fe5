"""The composition root: settings → store, blobs, secrets, transports, wakers (no globals).

`serve`, `worker`, the test fixtures and the benchmarks all build through :func:`build`;
the layers below take what they need as a :class:`mailgate.store.context.Context`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailgate.config import Settings
from mailgate.crypto import SecretBox
from mailgate.outbound import oauth_tokens
from mailgate.outbound.instances import TransportInstances
from mailgate.outbound.netguard import NetGuard
from mailgate.store.blobs import BlobStore, DatabaseBlobStore, FileBlobStore
from mailgate.store.db import make_engine, make_sessionmaker, migrate
from mailgate.store.executors import Executors


@dataclass
class Mailgate:
    """Everything a request, a worker or a command needs, built once."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    secrets: SecretBox
    #: One bounded thread pool per subsystem: a slow one cannot starve the others.
    executors: Executors = field(default_factory=Executors.create)
    #: The network policy for hosts a workspace chose (allowed networks, DNS server).
    netguard: NetGuard = field(init=False)
    transports: TransportInstances = field(init=False)
    #: Called after new mail is queued, so in-process workers start at once.
    #: Register with :meth:`add_waker` from inside the worker's event loop.
    wakers: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.netguard = NetGuard.from_settings(self.settings)
        self.transports = TransportInstances(
            self.secrets, guard=self.netguard, executor=self.executors.outbox
        )
        # The *test connection* of an ``auth: xoauth2`` transport signs in with its token.
        self.transports.tokens = lambda tid: oauth_tokens.fresh_token(self, transport_id=tid)

    def add_waker(self, wake: Callable[[], None]) -> None:
        self.wakers.append((asyncio.get_running_loop(), wake))

    def remove_waker(self, wake: Callable[[], None]) -> None:
        self.wakers = [(loop, w) for loop, w in self.wakers if w != wake]

    def wake_workers(self) -> None:
        """Wake the in-process workers; safe from any thread (asyncio events are not)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, wake in list(self.wakers):
            if loop is current:
                wake()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(wake)

    async def aclose(self) -> None:
        await self.transports.close_all()

    def dispose(self) -> None:
        self.engine.dispose()
        self.executors.shutdown()


def build(settings: Settings, *, run_migrations: bool = True) -> Mailgate:
    engine = make_engine(settings.database_url)
    if run_migrations:
        migrate(engine)
    blobs: BlobStore
    if settings.blob_store == "files":
        blobs = FileBlobStore(settings.data_dir / "blobs")
    else:
        blobs = DatabaseBlobStore()
    return Mailgate(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        blobs=blobs,
        secrets=SecretBox(settings.secret_key, *settings.old_secret_keys),
    )
