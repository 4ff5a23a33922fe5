"""The bulk channel: the application's context with transport connections of its own.

Campaign mail is delivered through its own :class:`TransportInstances` (its own
SMTP connection pools): the outbox lanes' connections stay free for triggered
mail, so a message accepted while a campaign is sending goes out at once.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from mailgate.config import Settings
from mailgate.crypto import SecretBox
from mailgate.outbound.instances import TransportInstances
from mailgate.store.blobs import BlobStore
from mailgate.store.context import Context
from mailgate.store.executors import Executors


class Channel:
    """A :class:`mailgate.queue.delivery.DeliveryContext` over ``app`` with ``transports``."""

    def __init__(self, app: Context, transports: TransportInstances) -> None:
        self._app = app
        self._transports = transports

    @property
    def transports(self) -> TransportInstances:
        return self._transports

    @property
    def settings(self) -> Settings:
        return self._app.settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._app.sessions

    @property
    def blobs(self) -> BlobStore:
        return self._app.blobs

    @property
    def secrets(self) -> SecretBox:
        return self._app.secrets

    @property
    def executors(self) -> Executors:
        return self._app.executors

    def wake_workers(self) -> None:
        self._app.wake_workers()

    def add_waker(self, wake: Callable[[], None]) -> None:
        self._app.add_waker(wake)

    def remove_waker(self, wake: Callable[[], None]) -> None:
        self._app.remove_waker(wake)

    async def aclose(self) -> None:
        await self._transports.close_all()
