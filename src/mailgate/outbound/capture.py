"""``capture``: keep mail inside mailgate (development, demos, staging).

Implements :class:`mailgate.outbound.base.Transport`. Every recipient is accepted
with ``250 captured``; nothing leaves the machine. mailgate already stores the raw
message before delivery, so the API lists captured mail from the store; the
transport keeps nothing itself.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope


class CaptureConfig(BaseModel):
    """Nothing to configure."""

    model_config = ConfigDict(extra="forbid")


class CaptureTransport:
    """Accept everything, send nothing; see :class:`~mailgate.outbound.base.Transport`."""

    kind: ClassVar[str] = "capture"
    Config: ClassVar[type[BaseModel]] = CaptureConfig

    def __init__(self, config: CaptureConfig | None = None) -> None:
        self.config = config or CaptureConfig()

    async def deliver(self, envelope: Envelope, raw: bytes) -> DeliveryResult:
        """Accept every recipient with ``250 captured``."""
        return DeliveryResult.all(envelope, accepted=True, code=250, text="captured")

    async def check(self) -> CheckResult:
        """Always ready."""
        return CheckResult(True, "connect success")

    async def close(self) -> None:
        """Nothing to release."""
