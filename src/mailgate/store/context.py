"""What the layers below the runtime need of it, as a Protocol.

``core``, ``store``, ``queue``, ``outbound``, ``inbound``, ``events`` and
``services`` never import the application object (``mailgate.runtime.Mailgate``):
they take a :class:`Context` and use only what it declares, so the import
direction stays one way and tests can hand them anything that fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from mailgate.config import Settings
from mailgate.crypto import SecretBox
from mailgate.store.blobs import BlobStore
from mailgate.store.executors import Executors


class Context(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def sessions(self) -> sessionmaker[Session]: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def secrets(self) -> SecretBox: ...
    @property
    def executors(self) -> Executors:
        """One bounded thread pool per subsystem (api, outbox, inbound, webhooks)."""
        ...

    def wake_workers(self) -> None:
        """Tell in-process workers that new work is due; safe from any thread."""

    def add_waker(self, wake: Callable[[], None]) -> None: ...

    def remove_waker(self, wake: Callable[[], None]) -> None: ...
