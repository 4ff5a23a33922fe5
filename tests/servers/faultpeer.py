"""``fault_peer``: an SMTP server on 127.0.0.1 that fails on purpose, one fault at a time.

Our own asyncio code rather than aiosmtpd: the faults live *between* SMTP replies
(a connection dropped halfway through the message text, a final reply that never
comes), where a server framework's hooks cannot reach. It runs its own event loop
in a thread, so a test can drive mailgate's worker with ``asyncio.run`` beside it.

Set :attr:`FaultPeer.fault` before a delivery; a connection keeps the fault it was
opened with. ``None`` is a well-behaved server. Faults:

``drop_in_data``
    answers ``354``, reads the first line of the message text and hangs up.
``421_mid_session``
    accepts MAIL, answers RCPT with ``421`` and hangs up (RFC 5321 §3.8).
``tls_handshake``
    offers STARTTLS, answers ``220`` and then sends bytes that are not TLS.
``hold_reply``
    reads the whole message and does not answer for :attr:`FaultPeer.hold_seconds`
    (longer than the client's timeout); the message is never accepted.
``hold_greeting``
    accepts the connection and says nothing for :attr:`FaultPeer.hold_seconds`.
``close_after_data``
    reads the whole message (a real server would have queued it by now) and hangs
    up before the final ``250``: the classic cause of a duplicate (RFC 1047).

``received`` holds every message whose text arrived complete, ``accepted`` those
answered ``250``; ``faults`` counts each fault that fired.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import pytest

from tests.servers.tls import TlsCert

FAULTS = (
    "drop_in_data",
    "421_mid_session",
    "tls_handshake",
    "hold_reply",
    "hold_greeting",
    "close_after_data",
)


@dataclass
class Transaction:
    mail_from: str = ""
    rcpt_tos: list[str] = field(default_factory=list)


class FaultPeer:
    """See the module docstring."""

    def __init__(self, tls: TlsCert | None = None) -> None:
        self.fault: str | None = None
        #: Offer STARTTLS with this certificate (the ``tls_handshake`` fault offers it anyway).
        self.tls: ssl.SSLContext | None = None
        if tls is not None:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(tls.cert_file, tls.key_file)
        self.hold_seconds = 2.0
        self.received: list[bytes] = []
        self.accepted: list[bytes] = []
        self.faults: Counter[str] = Counter()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-peer")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()

    # -- lifecycle (called from the test thread) ------------------------------------

    def start(self) -> FaultPeer:
        self._thread.start()
        future: Future[asyncio.Server] = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._track, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def reset(self, fault: str | None = None) -> None:
        """Forget what arrived and set the fault for the next connections."""
        with self._lock:
            self.fault = fault
            self.received.clear()
            self.accepted.clear()
            self.faults.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- one connection ---------------------------------------------------------------

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._session(reader, writer, self.fault)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: part of several faults
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.transport.abort()

    def _fired(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] += 1

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fault: str | None
    ) -> None:
        def reply(*lines: str) -> None:
            writer.write(b"".join(line.encode() + b"\r\n" for line in lines))

        if fault == "hold_greeting":
            self._fired(fault)
            await asyncio.sleep(self.hold_seconds)
            return
        reply("220 faultpeer.test ESMTP ready")
        tx = Transaction()
        tls_on = False
        while True:
            line = await reader.readline()
            if not line:
                return
            verb, _, arg = line.decode("latin-1").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                ext = ["250-faultpeer.test", "250-PIPELINING", "250-8BITMIME"]
                if fault == "tls_handshake" or (self.tls and not tls_on):
                    ext.append("250-STARTTLS")
                reply(*ext, "250 SIZE 10485760")
            elif verb == "STARTTLS" and fault == "tls_handshake":
                reply("220 2.0.0 go ahead")
                await writer.drain()
                await reader.read(5)  # the ClientHello's record header: the handshake began
                self._fired(fault)
                writer.write(b"this is not a TLS server hello\r\n" * 4)
                await writer.drain()
                # Stay until the client gives up: it must see the bad bytes, not a hang-up.
                async with asyncio.timeout(self.hold_seconds):
                    await reader.read()
                return
            elif verb == "STARTTLS" and self.tls and not tls_on:
                reply("220 2.0.0 go ahead")
                await writer.drain()
                await writer.start_tls(self.tls)
                tls_on, tx = True, Transaction()
                continue
            elif verb == "MAIL":
                tx = Transaction(mail_from=arg)
                reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if fault == "421_mid_session":
                    self._fired(fault)
                    reply("421 4.3.2 faultpeer.test shutting down, try again later")
                    await writer.drain()
                    return
                tx.rcpt_tos.append(arg)
                reply("250 2.1.5 ok")
            elif verb == "DATA":
                if not tx.rcpt_tos:
                    reply("554 5.5.1 no valid recipients")
                    continue
                reply("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                if fault == "drop_in_data":
                    await reader.readline()
                    self._fired(fault)
                    return
                text = await reader.readuntil(b"\r\n.\r\n")
                with self._lock:
                    self.received.append(text)
                if fault == "close_after_data":
                    self._fired(fault)
                    return
                if fault == "hold_reply":
                    self._fired(fault)
                    await asyncio.sleep(self.hold_seconds)
                    return
                with self._lock:
                    self.accepted.append(text)
                reply("250 2.0.0 ok: queued")
                tx = Transaction()
            elif verb == "RSET":
                tx = Transaction()
                reply("250 2.0.0 ok")
            elif verb == "NOOP":
                reply("250 2.0.0 ok")
            elif verb == "QUIT":
                reply("221 2.0.0 bye")
                await writer.drain()
                return
            else:
                reply("502 5.5.2 command not implemented")
            await writer.drain()

    # -- for tests ----------------------------------------------------------------------

    def count(self, needle: bytes, *, accepted: bool = False) -> int:
        """How many received (or accepted) message texts contain ``needle``."""
        with self._lock:
            pool = self.accepted if accepted else self.received
            return sum(needle in text for text in pool)


@pytest.fixture(scope="module")
def fault_peer_server(tls_cert: TlsCert) -> Iterator[FaultPeer]:
    peer = FaultPeer(tls_cert).start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def fault_peer(fault_peer_server: FaultPeer) -> FaultPeer:
    """The module's fault peer, reset: no fault, nothing received."""
    fault_peer_server.reset()
    return fault_peer_server
