"""What a hostile client tries on the listener's wire: smuggled messages and logins.

SMTP smuggling (CVE-2023-51764 family; aiosmtpd's CVE-2024-27305): a sender's
outbound server passes a fake end-of-data such as ``<LF>.<CR><LF>`` through
unchanged; a receiver that takes it as the end reads what follows as a second,
spoofed transaction. Here each variant is sent in one DATA followed by a complete
second MAIL/RCPT/DATA: exactly one message may be stored, with every byte intact.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
from collections.abc import Callable

import pytest

from mailgate.inbound.smtp import read_data, server_tls_context
from tests.servers.listener import RunningListener
from tests.servers.tls import TlsCert

FAKE_ENDS = {
    "LF.LF": b"\n.\n",
    "CR.CR": b"\r.\r",
    "LF.CRLF": b"\n.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "CRLF.CR": b"\r\n.\r",
    "CR.CRLF": b"\r.\r\n",
    "CRLF.CRCRLF": b"\r\n.\r\r\n",
    "LF.CRLF after a full line": b"\r\n\n.\r\n",
    "CR.CRLF after a full line": b"\r\n\r.\r\n",
}
SMUGGLED = (
    b"MAIL FROM:<ceo@acme.example.com>\r\n"
    b"RCPT TO:<support@acme.example.com>\r\n"
    b"DATA\r\n"
    b"From: ceo@acme.example.com\r\nSubject: smuggled\r\n\r\nwire the money\r\n"
)


class Wire:
    """A raw SMTP conversation over a socket: what smtplib would refuse to send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        assert self.reply().startswith(b"220")

    def reply(self) -> bytes:
        """One complete (possibly multi-line) reply."""
        while True:
            lines = self.buf.split(b"\r\n")
            for i, line in enumerate(lines[:-1]):
                if line[3:4] == b" ":
                    out = b"\r\n".join(lines[: i + 1])
                    self.buf = b"\r\n".join(lines[i + 1 :])
                    return out
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; pending {self.buf!r}")
            self.buf += chunk

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("fake_end", FAKE_ENDS.values(), ids=FAKE_ENDS.keys())
def test_fake_end_of_data_never_splits_a_message(
    smtp_listener: RunningListener, fake_end: bytes
) -> None:
    """A fake end-of-data and a second transaction after it: one message, stored intact."""
    first = b"From: customer@client.example.org\r\nSubject: first\r\n\r\nhello"
    wire = Wire(smtp_listener.port)
    try:
        assert wire.command(b"EHLO client.example.org").startswith(b"250")
        assert wire.command(b"MAIL FROM:<customer@client.example.org>").startswith(b"250")
        assert wire.command(b"RCPT TO:<support@acme.example.com>").startswith(b"250")
        assert wire.command(b"DATA").startswith(b"354")
        # Two writes, split right after the fake end, so it also lands on a read boundary.
        wire.sock.sendall(first + fake_end)
        wire.sock.sendall(SMUGGLED + b".\r\n")
        answers = [wire.reply()]
        answers.append(wire.command(b"QUIT"))
    finally:
        wire.close()
    assert answers[0].startswith(b"250"), answers
    assert answers[1].startswith(b"221"), answers  # no reply was left over for a 2nd message
    rows = smtp_listener.inbound()
    assert len(rows) == 1
    # Intact: everything the client sent, with only RFC 5321 §4.5.2 transparency
    # applied (a period opening a CRLF-delimited line is dropped).
    assert smtp_listener.raw(rows[0]) == (first + fake_end + SMUGGLED).replace(b"\r\n.", b"\r\n")


def test_lmtp_never_splits_a_message_either(
    listener_factory: Callable[..., RunningListener],
) -> None:
    """The LMTP listener shares the reader: <LF>.<CR><LF> is content there too."""
    running = listener_factory(lmtp=True)
    wire = Wire(running.port)
    try:
        assert wire.command(b"LHLO client.example.org").startswith(b"250")
        wire.command(b"MAIL FROM:<customer@client.example.org>")
        wire.command(b"RCPT TO:<support@acme.example.com>")
        assert wire.command(b"DATA").startswith(b"354")
        answer = wire.command(b"Subject: lmtp\r\n\r\nhi\n.\r\n" + SMUGGLED + b".")
        assert answer.startswith(b"250")
        assert wire.command(b"QUIT").startswith(b"221")
    finally:
        wire.close()
    [row] = running.inbound()
    assert running.raw(row) == b"Subject: lmtp\r\n\r\nhi\n.\r\n" + SMUGGLED


def test_real_end_after_bare_newlines_still_ends(smtp_listener: RunningListener) -> None:
    """Bare CR and LF inside the content do not stop the real CRLF.CRLF from ending it."""
    body = b"Subject: bare\r\n\r\none\ntwo\rthree\r\n..four\r\n"
    wire = Wire(smtp_listener.port)
    try:
        wire.command(b"EHLO client.example.org")
        wire.command(b"MAIL FROM:<customer@client.example.org>")
        wire.command(b"RCPT TO:<support@acme.example.com>")
        assert wire.command(b"DATA").startswith(b"354")
        assert wire.command(body + b".").startswith(b"250")
        # The session goes on normally: a second, real transaction is its own message.
        assert wire.command(b"MAIL FROM:<customer@client.example.org>").startswith(b"250")
        assert wire.command(b"RCPT TO:<support@acme.example.com>").startswith(b"250")
        assert wire.command(b"DATA").startswith(b"354")
        assert wire.command(b"Subject: second\r\n\r\nx\r\n.").startswith(b"250")
        wire.command(b"QUIT")
    finally:
        wire.close()
    raws = [smtp_listener.raw(r) for r in smtp_listener.inbound()]
    second = b"Subject: second\r\n\r\nx\r\n"
    assert sorted(raws) == sorted([body.replace(b"\r\n..", b"\r\n."), second])


def test_auth_is_never_advertised_nor_accepted(
    listener_factory: Callable[..., RunningListener], tls_cert: TlsCert
) -> None:
    """No AUTH in EHLO before or after STARTTLS (it was a bare "AUTH" after); AUTH gets 502."""
    running = listener_factory(tls=server_tls_context(tls_cert.cert_file, tls_cert.key_file))
    context = ssl.create_default_context(cafile=str(tls_cert.ca_file))
    with smtplib.SMTP("127.0.0.1", running.port) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN AGEAYg==")[0] == 502
        client.starttls(context=context)
        code, text = client.ehlo()
        assert code == 250
        assert b"AUTH" not in text.upper().split()
        assert not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN AGEAYg==")[0] == 502
        assert client.docmd("AUTH", "LOGIN")[0] == 502
        client.sendmail(
            "a@client.example.org",
            ["support@acme.example.com"],
            b"Subject: after tls\r\n\r\nstill delivered\r\n",
        )
    assert len(running.inbound()) == 1


@pytest.mark.parametrize("fake_end", FAKE_ENDS.values(), ids=FAKE_ENDS.keys())
def test_reader_reads_past_every_fake_end(fake_end: bytes) -> None:
    """The DATA reader itself: content up to the real CRLF.CRLF, nothing after it consumed."""

    async def read() -> tuple[bytes | None, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"one" + fake_end + b"two\r\n.\r\nQUIT\r\n")
        reader.feed_eof()
        body = await read_data(reader, 10_000)
        return body, await reader.read()

    body, rest = asyncio.run(read())
    assert body == (b"one" + fake_end + b"two\r\n").replace(b"\r\n.", b"\r\n")
    assert rest == b"QUIT\r\n"
