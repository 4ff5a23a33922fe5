"""A fault-injecting SMTP server for tests: record what arrives, answer what you script.

Built on aiosmtpd. It listens on ``127.0.0.1`` on a free port, records each
accepted message (envelope and bytes) and answers with scripted replies::

    server = ScriptedSMTPServer(
        rcpt_replies={"bad@x.test": "550 5.1.1 no such user",
                      "later@x.test": "451 4.3.0 try later"},
    )
    with server:                      # or: async with server:  (inside a running loop)
        ...  # send to ("127.0.0.1", server.port)
    server.messages[0].rcpt_tos       # ["good@x.test"]

Also: ``mail_reply`` / ``data_reply`` answer every MAIL / end of DATA, ``tls`` a
``(cert_file, key_file)`` pair to offer STARTTLS, ``auth`` a ``(user, password)``
pair to offer AUTH PLAIN and LOGIN, ``smtputf8=False`` to hide SMTPUTF8, and
:meth:`ScriptedSMTPServer.drop_connections` closes every open client connection
(a server that hangs up on idle clients).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMessage", "ScriptedSMTPServer"]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message the server accepted: envelope and the bytes after DATA."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)


class _Handler:
    """aiosmtpd hooks: scripted reply if any, else accept and record."""

    def __init__(self, server: ScriptedSMTPServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, _s: SMTP, _sess: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.mail_reply:
            return self.server.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, _s: SMTP, _sess: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.server.rcpt_replies.get(address.lower())
        if reply and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        return reply or "250 2.1.5 OK"

    async def handle_DATA(self, _s: SMTP, _sess: Session, envelope: Envelope) -> str:
        if self.server.data_reply:
            return self.server.data_reply
        self.server.messages.append(
            ReceivedMessage(
                envelope.mail_from or "",
                list(envelope.rcpt_tos),
                envelope.original_content or b"",
                list(envelope.mail_options),
            )
        )
        return "250 2.0.0 OK: queued"


class ScriptedSMTPServer:
    """An SMTP server on 127.0.0.1 with scripted replies; see the module docstring.

    Use it as a context manager (its own event loop in a thread) or as an async
    context manager (in the running loop). :attr:`port` is set once started.
    """

    def __init__(
        self,
        *,
        rcpt_replies: Mapping[str, str] | None = None,
        mail_reply: str | None = None,
        data_reply: str | None = None,
        tls: tuple[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        smtputf8: bool = True,
        hostname: str = "scripted.test",
    ) -> None:
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt_replies or {}).items()}
        self.mail_reply = mail_reply
        self.data_reply = data_reply
        self.tls = tls
        self.auth = auth
        self.smtputf8 = smtputf8
        self.hostname = hostname
        self.host = "127.0.0.1"
        self.port = 0
        self.messages: list[ReceivedMessage] = []
        self.connections = 0
        """How many client connections were accepted so far."""
        self._open: list[SMTP] = []
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- the protocol factory ----------------------------------------------------

    def _authenticate(
        self, _s: SMTP, _sess: Session, _env: Envelope, _mech: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.auth == (
            data.login.decode(),
            data.password.decode(),
        )
        # handled=False: aiosmtpd itself answers 535 5.7.8 on failure.
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> SMTP:
        assert self._loop is not None
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
        smtp = SMTP(
            _Handler(self),
            hostname=self.hostname,
            enable_SMTPUTF8=self.smtputf8,
            tls_context=context,
            authenticator=self._authenticate if self.auth else None,
            # A test server: allow AUTH without TLS unless TLS is configured.
            auth_require_tls=bool(self.tls),
            loop=self._loop,
        )
        self.connections += 1
        self._open.append(smtp)
        return smtp

    # -- async use ---------------------------------------------------------------

    async def start_async(self) -> None:
        """Listen in the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(self._protocol, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_async(self) -> None:
        """Stop listening and close client connections."""
        await self._drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _drop(self) -> None:
        for smtp in self._open:
            if smtp.transport is not None:
                smtp.transport.close()
        self._open.clear()
        await asyncio.sleep(0)

    async def __aenter__(self) -> ScriptedSMTPServer:
        await self.start_async()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    # -- threaded use ------------------------------------------------------------

    def start(self) -> None:
        """Listen in a new event loop on a daemon thread; returns once listening."""
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start_async(), loop).result()

    def stop(self) -> None:
        """Stop the server and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop_async(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._thread = None

    def drop_connections(self) -> None:
        """Close every open client connection (threaded mode), as an idle timeout would."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result()

    def __enter__(self) -> ScriptedSMTPServer:
        self.start()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
