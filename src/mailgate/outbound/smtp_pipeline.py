"""Reading pipelined SMTP replies (RFC 2920) on an aiosmtplib connection.

aiosmtplib waits for the reply to each command before it sends the next, and its
protocol throws away bytes that arrive while no command waits for them, so a
client that writes ``MAIL``, ``RCPT`` and ``DATA`` together would lose the second
and third replies. :class:`ReplyTap` sits between the connection's transport and
aiosmtplib's protocol (``transport.set_protocol``): while a pipelined group is in
flight it keeps every byte and hands out the replies in order; the rest of the
time it passes everything through, so aiosmtplib's own commands (EHLO, RSET,
QUIT, AUTH) work as before.

Per message this saves two of the four round trips of a transaction (each one a
reply to parse, a task to wake and a timer to arm), which is most of the client's
CPU on a fast server.
"""

from __future__ import annotations

import asyncio

import aiosmtplib
from aiosmtplib.protocol import MAX_LINE_LENGTH, MAX_RESPONSE_LENGTH, SMTPProtocol


class ReplyTap(asyncio.Protocol):
    """Keeps the replies of a pipelined group for :meth:`reply`; otherwise transparent."""

    def __init__(self, inner: SMTPProtocol) -> None:
        self.inner = inner
        self._buffer = bytearray()
        self._keeping = False
        self._more: asyncio.Future[None] | None = None
        self._lost: BaseException | None = None

    @classmethod
    def install(cls, client: aiosmtplib.SMTP) -> ReplyTap | None:
        """The tap of ``client``'s connection, put in place on first use; None if closed."""
        transport, inner = client.transport, client.protocol
        if transport is None or inner is None or transport.is_closing():
            return None
        current = transport.get_protocol()
        if isinstance(current, ReplyTap) and current.inner is inner:
            return current
        tap = cls(inner)
        transport.set_protocol(tap)
        return tap

    # -- a pipelined group ---------------------------------------------------------

    def keep(self) -> None:
        """From now on keep every reply for :meth:`reply` (call before writing the group)."""
        self._keeping = True
        self._buffer.clear()

    def release(self) -> None:
        """Back to passing everything to aiosmtplib; unread bytes are dropped, as it does."""
        self._keeping = False
        self._buffer.clear()

    def buffered(self) -> aiosmtplib.SMTPResponse | None:
        """The next reply if it is already here."""
        return self._parse()

    async def reply(self) -> aiosmtplib.SMTPResponse:
        """The next reply of the group, parsed as aiosmtplib parses it."""
        while True:
            response = self._parse()
            if response is not None:
                return response
            if self._lost is not None:
                raise self._lost
            self._more = asyncio.get_running_loop().create_future()
            try:
                await self._more
            finally:
                self._more = None

    def _parse(self) -> aiosmtplib.SMTPResponse | None:
        """One complete (possibly multi-line) reply from the front of the buffer."""
        buffer = self._buffer
        offset = 0
        lines: list[bytes] = []
        while (end := buffer.find(b"\n", offset)) != -1:
            line = bytes(buffer[offset : end + 1])
            if len(line) > MAX_LINE_LENGTH:
                raise aiosmtplib.SMTPResponseException(-1, "Response too long")
            try:
                code = int(line[:3])
            except ValueError:
                raise aiosmtplib.SMTPResponseException(
                    -1, f"Malformed SMTP response line: {line.decode('utf-8', 'ignore')}"
                ) from None
            offset = end + 1
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del buffer[:offset]
                text = b"\n".join(lines).decode("utf-8", "surrogateescape")
                return aiosmtplib.SMTPResponse(code, text)
        return None

    def _wake(self) -> None:
        if self._more is not None and not self._more.done():
            self._more.set_result(None)

    # -- asyncio.Protocol: the transport calls these -------------------------------

    def data_received(self, data: bytes) -> None:
        if not self._keeping:
            self.inner.data_received(data)
            return
        self._buffer.extend(data)
        if len(self._buffer) > 4 * MAX_RESPONSE_LENGTH:
            self._buffer.clear()
            self._lost = aiosmtplib.SMTPResponseException(-1, "Response too long")
        self._wake()

    def eof_received(self) -> bool | None:
        if self._keeping:
            self._lost = aiosmtplib.SMTPServerDisconnected("Unexpected EOF received")
            self._wake()
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            lost = aiosmtplib.SMTPServerDisconnected("Connection lost")
            lost.__cause__ = exc
            self._lost = lost
        self._wake()
        self.inner.connection_lost(exc)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        self.inner.connection_made(transport)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
