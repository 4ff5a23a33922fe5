"""SMTP PIPELINING (RFC 2920) in SmtpTransport: MAIL, RCPT and DATA leave in one write.

Three kinds of peer: line servers written here that check how the commands arrive
(one that answers only once the whole group is there, one that does not offer
PIPELINING and refuses commands sent ahead of their reply), Postfix's smtp-sink, and
a private Postfix with STARTTLS and AUTH.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mailgate.outbound.base import DeliveryResult, Envelope
from mailgate.outbound.smtp import SmtpConfig, SmtpTransport
from mailgate.outbound.smtp_pipeline import ReplyTap
from tests.servers.postfix import PostfixSubmission
from tests.servers.smtpsink import SmtpSink

RAW = b"From: a@sender.test\r\nTo: r@x.test\r\nSubject: pipelined\r\n\r\nHello.\r\n.dot line\r\n"


class LineServer:
    """One SMTP session on 127.0.0.1, answered by ``script`` from a thread.

    ``script(session)`` reads with :meth:`Session.commands` / :meth:`Session.text` and
    answers with :meth:`Session.send`; what it keeps in ``session.log`` the test reads.
    """

    def __init__(self, script: Callable[[LineServer.Session], None]) -> None:
        self.script = script
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.log: list[Any] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    class Session:
        def __init__(self, conn: socket.socket, log: list[Any]) -> None:
            self.conn = conn
            self.log = log
            self.buffer = b""

        def send(self, *replies: str) -> None:
            self.conn.sendall("".join(r + "\r\n" for r in replies).encode())

        def _fill(self) -> None:
            data = self.conn.recv(65536)
            if not data:
                raise EOFError("client went away")
            self.buffer += data

        def commands(self, until: bytes) -> list[bytes]:
            """Read command lines up to and including the one that starts with ``until``;
            each item is one recv's worth of lines (what arrived together)."""
            arrivals: list[bytes] = []
            while True:
                while b"\r\n" not in self.buffer:
                    self._fill()
                end = self.buffer.rfind(b"\r\n") + 2
                chunk, self.buffer = self.buffer[:end], self.buffer[end:]
                arrivals.append(chunk)
                if any(line.startswith(until) for line in chunk.split(b"\r\n")):
                    return arrivals

        def text(self) -> bytes:
            """The message text up to the lone dot."""
            while b"\r\n.\r\n" not in b"\r\n" + self.buffer:
                self._fill()
            data = b"\r\n" + self.buffer
            end = data.index(b"\r\n.\r\n")
            self.buffer = data[end + 5 :]
            return data[2 : end + 2]

    def _run(self) -> None:
        try:
            conn, _ = self.sock.accept()
            with conn:
                conn.settimeout(10)
                session = LineServer.Session(conn, self.log)
                session.send("220 line.test ESMTP")
                self.script(session)
        except BaseException as e:  # the test reports it
            self.error = e

    def __enter__(self) -> LineServer:
        self.sock.settimeout(10)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(15)
        self.sock.close()
        if self.error is not None and not isinstance(self.error, EOFError):
            raise self.error


def ehlo(session: LineServer.Session, *, pipelining: bool) -> None:
    session.commands(until=b"EHLO")
    session.send(
        *(["250-line.test"] + (["250-PIPELINING"] if pipelining else []) + ["250 8BITMIME"])
    )


def deliver(port: int, envelope: Envelope, timeout: float = 5) -> tuple[DeliveryResult, bool]:
    """Deliver one message; returns the result and whether the connection was pipelined."""
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, timeout=timeout))

    async def go() -> tuple[DeliveryResult, bool]:
        try:
            result = await t.deliver(envelope, RAW)
            tapped = any(
                c.transport is not None and isinstance(c.transport.get_protocol(), ReplyTap)
                for c in t._idle
            )
            return result, tapped
        finally:
            await t.close()

    return asyncio.run(go())


def test_the_whole_group_is_sent_before_any_reply() -> None:
    """A server that answers only once MAIL, both RCPTs and DATA are all there gets
    them (a client waiting for each reply would time out), and each reply counts."""

    def script(s: LineServer.Session) -> None:
        ehlo(s, pipelining=True)
        s.log.append(b"".join(s.commands(until=b"DATA")))
        s.send("250 2.1.0 ok", "250 2.1.5 ok", "550 5.1.1 no such user", "354 go ahead")
        s.log.append(s.text())
        s.send("250 2.0.0 queued")
        s.commands(until=b"QUIT")
        s.send("221 bye")

    with LineServer(script) as server:
        result, tapped = deliver(server.port, Envelope("a@sender.test", ("r@x.test", "no@x.test")))

    good, bad = result.recipients
    assert (good.accepted, good.code, good.text) == (True, 250, "2.0.0 queued")
    assert (bad.accepted, bad.code, bad.enhanced_status, bad.permanent) == (
        False,
        550,
        "5.1.1",
        True,
    )
    group, text = server.log
    assert group == (
        b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<r@x.test>\r\nRCPT TO:<no@x.test>\r\nDATA\r\n"
    )
    assert text == RAW.replace(b"\r\n.dot", b"\r\n..dot")
    assert tapped


def test_a_server_without_pipelining_gets_one_command_at_a_time() -> None:
    """No PIPELINING in EHLO: every command waits for its reply (a server that sees a
    command arrive ahead of its reply refuses it, as RFC 2920 servers may)."""

    def script(s: LineServer.Session) -> None:
        ehlo(s, pipelining=False)
        for verb, reply in ((b"MAIL", "250 ok"), (b"RCPT", "250 ok"), (b"DATA", "354 go")):
            arrivals = s.commands(until=verb)
            s.log.append(arrivals)
            if len(arrivals) != 1 or arrivals[0].count(b"\r\n") != 1:
                s.send("503 5.5.0 improper pipelining")
                return
            s.send(reply)
        s.text()
        s.send("250 2.0.0 queued")
        s.commands(until=b"QUIT")
        s.send("221 bye")

    with LineServer(script) as server:
        result, tapped = deliver(server.port, Envelope("a@sender.test", ("r@x.test",)))

    assert [(r.accepted, r.code) for r in result.recipients] == [(True, 250)]
    assert len(server.log) == 3
    assert not tapped


def test_data_accepted_after_every_recipient_was_refused_gets_a_lone_dot() -> None:
    """RFC 2920 §3.1: a 354 after no accepted RCPT is ended with a lone dot, never the
    text; the recipients keep their own refusals."""

    def script(s: LineServer.Session) -> None:
        ehlo(s, pipelining=True)
        s.commands(until=b"DATA")
        s.send("250 ok", "550 5.1.1 unknown", "354 go ahead anyway")
        s.log.append(s.text())
        s.send("554 5.5.1 no valid recipients")
        s.log.append(b"".join(s.commands(until=b"RSET")))
        s.send("250 reset")
        s.commands(until=b"QUIT")
        s.send("221 bye")

    with LineServer(script) as server:
        result, _ = deliver(server.port, Envelope("a@sender.test", ("r@x.test",)))

    (r,) = result.recipients
    assert (r.accepted, r.code, r.text, r.permanent) == (False, 550, "5.1.1 unknown", True)
    assert server.log == [b"", b"RSET\r\n"]  # an empty text: the lone dot, then RSET


def test_421_in_the_group_keeps_the_replies_before_it() -> None:
    """A 421 to RCPT and a hang-up: that recipient has the 421, the one without a reply
    the closed connection; neither is permanent."""

    def script(s: LineServer.Session) -> None:
        ehlo(s, pipelining=True)
        s.commands(until=b"DATA")
        s.send("250 ok", "421 4.3.2 shutting down")

    with LineServer(script) as server:
        result, _ = deliver(server.port, Envelope("a@sender.test", ("one@x.test", "two@x.test")))

    one, two = result.recipients
    assert (one.accepted, one.code, one.text, one.permanent) == (
        False,
        421,
        "4.3.2 shutting down",
        False,
    )
    assert (two.accepted, two.code, two.permanent) == (False, None, False)
    assert f"127.0.0.1:{server.port} closed unexpectedly" in two.text


def test_a_reply_split_across_segments_is_read_whole() -> None:
    """Replies that arrive byte by byte (a multi-line one among them) are still read
    in order: nothing a server sends while the client is busy is lost."""

    def script(s: LineServer.Session) -> None:
        ehlo(s, pipelining=True)
        s.commands(until=b"DATA")
        for byte in b"250-sender\r\n250 ok\r\n250 ok\r\n354 go\r\n":
            s.conn.sendall(bytes([byte]))
        s.text()
        s.send("250 2.0.0 queued")
        s.commands(until=b"QUIT")
        s.send("221 bye")

    with LineServer(script) as server:
        result, _ = deliver(server.port, Envelope("a@sender.test", ("r@x.test",)))
    assert [(r.accepted, r.text) for r in result.recipients] == [(True, "2.0.0 queued")]


# -- Postfix ---------------------------------------------------------------------------


def test_smtp_sink_pipelined_on_one_connection(
    smtp_sink_factory: Callable[..., SmtpSink],
) -> None:
    """smtp-sink offers PIPELINING: messages go pipelined over one pooled connection,
    and a refused transaction (5xx to RCPT) leaves the connection usable."""
    sink = smtp_sink_factory()
    t = SmtpTransport(SmtpConfig(host="127.0.0.1", port=sink.port, timeout=10))

    async def go() -> tuple[list[DeliveryResult], bool]:
        try:
            results = [
                await t.deliver(Envelope("a@sender.test", (f"r{i}@x.test", "cc@x.test")), RAW)
                for i in range(3)
            ]
            (client,) = t._idle
            assert client.transport is not None
            return results, isinstance(client.transport.get_protocol(), ReplyTap)
        finally:
            await t.close()

    results, tapped = asyncio.run(go())
    assert tapped and t.connections_opened == 1
    assert all(r.accepted and r.code == 250 for res in results for r in res.recipients)
    messages = sink.messages(expect=3)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["r0@x.test", "r1@x.test", "r2@x.test"]
    assert all(b"\n.dot line" in m.dump for m in messages)


@pytest.fixture
def submission(postfix_submission: PostfixSubmission) -> Iterator[Callable[..., SmtpTransport]]:
    pf = postfix_submission

    def make(port: int) -> SmtpTransport:
        return SmtpTransport(
            SmtpConfig(
                host="127.0.0.1",
                port=port,
                timeout=10,
                security="starttls",
                username=pf.dovecot.user,
                password=pf.dovecot.password,
                ca_file=str(pf.dovecot.tls.ca_file),
            )
        )

    yield make


@pytest.mark.root
def test_private_postfix_pipelined_over_starttls_and_auth(
    postfix_submission: PostfixSubmission, submission: Callable[..., SmtpTransport]
) -> None:
    """Through STARTTLS and AUTH, a pipelined message lands in the Maildir, and a sender
    Postfix refuses (at RCPT, the strict port) comes back as that refusal."""
    pf = postfix_submission

    async def go(t: SmtpTransport, sender: str) -> tuple[DeliveryResult, bool]:
        try:
            result = await t.deliver(Envelope(sender, (pf.dovecot.user,)), RAW)
            tapped = any(
                c.transport is not None and isinstance(c.transport.get_protocol(), ReplyTap)
                for c in t._idle
            )
            return result, tapped
        finally:
            await t.close()

    sent, tapped = asyncio.run(go(submission(pf.port), "app@sender.test"))
    (r,) = sent.recipients
    assert (r.accepted, r.code, r.enhanced_status) == (True, 250, "2.0.0"), pf.log()
    assert tapped
    (stored,) = pf.dovecot.messages(expect=1)
    assert b"\n.dot line" in stored

    refused, _ = asyncio.run(go(submission(pf.strict_port), "someone-else@sender.test"))
    (r,) = refused.recipients
    assert (r.accepted, r.code, r.permanent) == (False, 553, True), pf.log()
    assert "not owned by user" in r.text
    assert "improper command pipelining" not in pf.log()
