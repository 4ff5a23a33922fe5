"""A transport for users' own tests: keeps what it is given and answers as scripted.

::

    transport = MemoryTransport(replies={"bad@example.net": "550 5.1.1 no such user"})
    result = await transport.deliver(Envelope("app@example.com", ("bad@example.net",)), raw)
    transport.sent  # [(envelope, raw)]: every delivery, accepted or not

A reply is an SMTP reply line; 4xx ones are transient, 5xx permanent (552 excepted,
as the real SMTP transport decides). ``failing`` makes :meth:`check` report a stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope
from mailgate.outbound.smtp_errors import recipient_from_reply

__all__ = ["MemoryTransport"]


class MemoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryTransport:
    """Implements :class:`mailgate.outbound.base.Transport` in memory."""

    kind: ClassVar[str] = "memory"
    Config: ClassVar[type[BaseModel]] = MemoryConfig

    def __init__(
        self, *, replies: Mapping[str, str] | None = None, failing: str | None = None
    ) -> None:
        self.replies = {k.lower(): v for k, v in (replies or {}).items()}
        self.failing = failing
        self.sent: list[tuple[Envelope, bytes]] = []

    async def deliver(self, envelope: Envelope, raw: bytes) -> DeliveryResult:
        self.sent.append((envelope, raw))
        results = []
        for rcpt in envelope.recipients:
            code, _, text = self.replies.get(rcpt.lower(), "250 2.0.0 kept").partition(" ")
            results.append(recipient_from_reply(rcpt, int(code), text))
        return DeliveryResult(results)

    async def check(self) -> CheckResult:
        if self.failing:
            return CheckResult(False, f"{self.failing} failed (scripted)", self.failing)
        return CheckResult(True, "connect success")

    async def close(self) -> None:
        return None
