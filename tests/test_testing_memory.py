"""mailgate.testing.MemoryTransport: the Transport seam, in memory, for users' tests."""

from __future__ import annotations

import asyncio

from mailgate.outbound.base import Envelope, Transport
from mailgate.testing import MemoryTransport


def test_memory_transport_keeps_and_scripts() -> None:
    """Accepted, permanent and transient recipients as scripted; every delivery kept."""
    transport: Transport = MemoryTransport(
        replies={"Bad@example.net": "550 5.1.1 no such user", "later@example.net": "451 4.3.0 busy"}
    )
    envelope = Envelope(
        "app@example.com", ("ok@example.net", "bad@example.net", "later@example.net")
    )
    result = asyncio.run(transport.deliver(envelope, b"Subject: x\r\n\r\nhi\r\n"))
    ok, bad, later = result.recipients
    assert ok.accepted and ok.code == 250
    assert not bad.accepted and bad.permanent and bad.enhanced_status == "5.1.1"
    assert not later.accepted and not later.permanent
    assert isinstance(transport, MemoryTransport)
    assert transport.sent == [(envelope, b"Subject: x\r\n\r\nhi\r\n")]


def test_memory_transport_check() -> None:
    """The test button answers as scripted."""
    assert asyncio.run(MemoryTransport().check()).message == "connect success"
    failed = asyncio.run(MemoryTransport(failing="auth").check())
    assert not failed.ok and failed.stage == "auth"
