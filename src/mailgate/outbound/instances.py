"""Live transport objects, one per stored transport, rebuilt when the row is edited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any, Protocol

from mailgate.core.oauth import MECHANISMS
from mailgate.crypto import SecretBox
from mailgate.errors import MailgateError
from mailgate.outbound.base import CheckResult, Transport
from mailgate.outbound.netguard import NetGuard
from mailgate.outbound.registry import build_transport, config_model
from mailgate.outbound.smtp import SmtpTransport
from mailgate.store.executors import run_in


class TransportSpec(Protocol):
    """What a stored transport row offers (``store.models.TransportRow`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def secrets(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def scope(self) -> str: ...
    @property
    def private_network(self) -> bool: ...


class TransportInstances:
    """Live transport objects (with their connection pools), rebuilt when edited."""

    def __init__(
        self, box: SecretBox, *, guard: NetGuard | None = None, executor: Executor | None = None
    ) -> None:
        self._box = box
        #: The network policy for workspace transports; system ones are the operator's.
        self._guard = guard or NetGuard()
        self._executor = executor
        self._live: dict[str, tuple[datetime, Transport]] = {}
        self._slots: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self._token_locks: dict[str, asyncio.Lock] = {}
        #: transport id → a fresh OAuth2 access token (blocking; set by the runtime).
        self.tokens: Callable[[str], str] | None = None

    def get(self, row: TransportSpec, token: str | None = None) -> Transport:
        """``token``: an OAuth2 access token (``auth: xoauth2``) used as the password.

        A refreshed token is handed to the live transport for its next connections
        (the pooled ones are signed in already): rebuilding would close a pool while
        deliveries are still using it.
        """
        cached = self._live.get(row.id)
        if cached and cached[0] == row.updated_at:
            live = cached[1]
            if (
                token is not None
                and isinstance(live, SmtpTransport)
                and live.config.password != token
            ):
                live.config = live.config.model_copy(update={"password": token})
            return live
        if cached:
            # Edited: the old pool drains in the background.
            asyncio.get_running_loop().create_task(cached[1].close())
        trusted = row.scope == "system" or bool(row.private_network)
        config = {**row.config, **self._box.decrypt(row.secrets)}
        if token is not None:
            config["password"] = token
        cap = getattr(row, "max_connections", None)  # the transport's limit (docs/transports.md)
        if cap is not None and "max_connections" in config_model(row.kind).model_fields:
            config["max_connections"] = min(cap, int(config.get("max_connections") or cap))
        transport = build_transport(
            row.kind,
            config,
            guard=self._guard.trusting(trusted),
            executor=self._executor,
        )
        self._live[row.id] = (row.updated_at, transport)
        return transport

    def token_lock(self, transport_id: str) -> asyncio.Lock:
        """One OAuth2 token fetch at a time per transport in this process: a batch
        waits for the one refresh instead of finding it leased and deferring."""
        return self._token_locks.setdefault(transport_id, asyncio.Lock())

    def slots(self, key: str, size: int) -> asyncio.Semaphore:
        """At most ``size`` deliveries at once for ``key`` in this process.

        A sending domain's ``max_connections`` spans every transport it sends through;
        a changed size starts a new semaphore (deliveries under the old one finish).
        """
        current = self._slots.get(key)
        if current is None or current[0] != size:
            current = (size, asyncio.Semaphore(size))
            self._slots[key] = current
        return current[1]

    async def check(self, row: TransportSpec, sender: str | None = None) -> CheckResult:
        """The transport's *test*; an SMTP server is also asked about ``sender``."""
        token = None
        if row.config.get("auth") in MECHANISMS and self.tokens is not None:
            try:
                token = await run_in(self._executor, self.tokens, row.id)
            except MailgateError as e:  # not connected, or reauth_required
                return CheckResult(False, f"{e.code}: {e.message}", "auth")
        transport = self.get(row, token)
        if isinstance(transport, SmtpTransport):
            return await transport.check(sender)
        return await transport.check()

    async def close_all(self) -> None:
        live, self._live = self._live, {}
        for _, transport in live.values():
            await transport.close()
