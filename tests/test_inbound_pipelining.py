"""RFC 2920 PIPELINING at the listener: a batch of commands is answered in order."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import BinaryIO

from tests.servers.listener import RunningListener


def _reply(reader: BinaryIO, replies: list[bytes]) -> bytes:
    """One whole (possibly multi-line) reply; its lines are also appended to ``replies``."""
    while True:
        line = reader.readline()
        replies.append(line)
        if line[3:4] != b"-":
            return line


def test_a_pipelined_batch_is_answered_in_order_and_stored_once(
    listener_factory: Callable[..., RunningListener],
) -> None:
    """MAIL, RCPT (known), RCPT (unknown), DATA in one packet: 250, 250, 550, 354; one row."""
    running = listener_factory()
    with socket.create_connection((running.host, running.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        replies: list[bytes] = []
        assert _reply(reader, replies).startswith(b"220 ")
        sock.sendall(b"EHLO client.example.org\r\n")
        _reply(reader, replies)
        assert b"250-PIPELINING\r\n" in replies
        assert not any(b"AUTH" in r for r in replies)

        sock.sendall(
            b"MAIL FROM:<customer@client.example.org>\r\n"
            b"RCPT TO:<support@acme.example.com>\r\n"
            b"RCPT TO:<nobody@elsewhere.example>\r\n"
            b"DATA\r\n"
        )
        codes = [_reply(reader, replies)[:3] for _ in range(4)]
        assert codes == [b"250", b"250", b"550", b"354"]
        # The message text and the next commands in one packet too (the dot ends it).
        sock.sendall(
            b"Subject: pipelined\r\nMessage-ID: <p1@client.example.org>\r\n\r\nHello.\r\n.\r\n"
            b"RSET\r\nQUIT\r\n"
        )
        codes = [_reply(reader, replies)[:3] for _ in range(3)]
        assert codes == [b"250", b"250", b"221"]
        reader.close()
    (row,) = running.inbound()
    assert row.rcpt_to == ["support@acme.example.com"]
    assert running.raw(row).endswith(b"\r\n\r\nHello.\r\n")
