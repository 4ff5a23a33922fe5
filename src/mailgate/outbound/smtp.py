"""``smtp``: hand mail to an SMTP server (plain, STARTTLS or implicit TLS), with a pool.

Implements :class:`mailgate.outbound.base.Transport`. Connections are opened on
demand, at most ``max_connections`` deliveries run at once, and a connection is
reused for the next message (RFC 5321 §3.3: a new MAIL may follow a completed
transaction; after a failed one we send RSET). A pooled connection that the server
closed while idle (often with a ``421`` timeout reply) is replaced once, before
anything of the new message has been accepted.

Replies and exceptions are translated in :mod:`mailgate.outbound.smtp_errors`.

Built with a :class:`~mailgate.outbound.netguard.NetGuard` (a workspace's transport),
every connection resolves the host, checks every address against the network
policy and connects to a checked address; TLS still verifies the host name. A
refused host fails at stage ``policy`` before any packet reaches it, so neither
the check button nor a delivery result can tell an open port from a closed one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import re
import socket
import ssl
from concurrent.futures import Executor
from typing import ClassVar, Literal

import aiosmtplib
from aiosmtplib.protocol import COMMAND_INJECTION_REGEX
from pydantic import BaseModel, ConfigDict, Field

from mailgate.core import presets
from mailgate.core.oauth import oauthbearer, xoauth2
from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope, RecipientResult
from mailgate.outbound.netguard import NetGuard, NetworkRefused, ResolveFailed
from mailgate.outbound.smtp_errors import (
    MAPPED_EXCEPTIONS,
    SmtpFailure,
    SmtpFailureError,
    map_exception,
    recipient_from_reply,
)
from mailgate.outbound.smtp_pipeline import ReplyTap

_SERVICE_UNAVAILABLE = 421


class SmtpConfig(BaseModel):
    """Settings of an SMTP server mailgate relays through."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, description="Server name or IP address")
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="none, STARTTLS upgrade, or implicit TLS (usually port 465)"
    )
    username: str | None = None
    password: str | None = Field(default=None, repr=False, json_schema_extra={"secret": True})
    auth: Literal["auto", "plain", "login", "xoauth2", "oauthbearer"] = Field(
        default="auto",
        description="SASL mechanism; auto picks the best one the server offers; xoauth2"
        " or oauthbearer (RFC 7628) sign in with an OAuth2 connection's token (docs/oauth.md)",
    )
    verify_tls: bool = Field(default=True, description="Check the server certificate and name")
    ca_file: str | None = Field(
        default=None,
        description="Extra CA certificates (PEM) to trust",
        json_schema_extra={"local_path": True},  # operator only (services/roles.py)
    )
    timeout: float = Field(default=30, gt=0, description="Seconds to wait for each reply")
    max_connections: int = Field(default=4, ge=1, le=100)
    helo_name: str | None = Field(
        default=None, description="Name sent in EHLO (default: host name)"
    )
    preset: str | None = Field(
        default=None,
        description="Provider preset (GET /v1/transports/presets): its servers, and what "
        "to do when its login fails",
    )


# Preference when auth is "auto": CRAM-MD5 never sends the password itself.
_AUTO_ORDER = ("cram-md5", "plain", "login")


def _needs_smtputf8(envelope: Envelope) -> bool:
    return not all(a.isascii() for a in (envelope.mail_from, *envelope.recipients))


class SmtpTransport:
    """Deliver over SMTP; see :class:`mailgate.outbound.base.Transport`."""

    kind: ClassVar[str] = "smtp"
    Config: ClassVar[type[BaseModel]] = SmtpConfig
    #: Takes a network guard (outbound.registry.build_transport).
    connects: ClassVar[bool] = True

    def __init__(
        self,
        config: SmtpConfig,
        *,
        guard: NetGuard | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.config = config
        #: None: connect as told (the operator's own use); else check every connection.
        self.guard = guard
        self.executor = executor
        self._tls: ssl.SSLContext | None = None
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections_opened = 0
        """How many connections this transport has opened (pool reuse is visible here)."""

    # -- public -----------------------------------------------------------------

    async def deliver(self, envelope: Envelope, raw: bytes) -> DeliveryResult:
        """Send one message; one result per recipient, in envelope order."""
        if not envelope.recipients:
            return DeliveryResult()
        async with self._slot():
            client = self._take_idle()
            reused = client is not None
            try:
                if client is None:
                    client = await self._open()
                results, replace = await self._send(client, envelope, raw, reused=reused)
                if replace:
                    # The idle connection was gone; nothing was accepted yet: once more.
                    client.close()
                    client = await self._open()
                    results, _ = await self._send(client, envelope, raw, reused=False)
            except SmtpFailureError as exc:
                if client is not None:
                    client.close()
                return _all_failed(envelope, exc.failure)
            if client.is_connected:
                self._idle.append(client)
            return DeliveryResult(results)

    async def check(self, sender: str | None = None) -> CheckResult:
        """Connect, negotiate TLS, authenticate; with ``sender``, also ``MAIL FROM`` it and
        ``RCPT`` to it, then RSET: the server judges the sender as it will judge mail.

        ``connect success`` or what failed, where, and in the server's own words.
        """
        try:
            client = await self._open()
        except SmtpFailureError as exc:
            return CheckResult(False, exc.failure.text, exc.failure.stage)
        try:
            if sender:
                return await self._probe(client, sender)
            return CheckResult(True, "connect success")
        except SmtpFailureError as exc:
            return CheckResult(False, exc.failure.text, exc.failure.stage)
        except MAPPED_EXCEPTIONS as exc:
            cfg = self.config
            failure = map_exception(exc, stage="sender", host=cfg.host, port=cfg.port)
            return CheckResult(False, failure.text, failure.stage)
        finally:
            await _quit(client)

    async def _probe(self, client: aiosmtplib.SMTP, sender: str) -> CheckResult:
        address = sender.encode("utf-8")
        said: list[str] = []
        # Servers judge the sender at MAIL (QQ, 163) or, delaying it, at RCPT (Postfix).
        for verb, arg, stage in (
            (b"MAIL", b"FROM:<" + address + b">", "sender"),
            (b"RCPT", b"TO:<" + address + b">", "recipient"),
        ):
            reply = await self._command(client, verb, arg)
            command = (verb + b" " + arg).decode("utf-8", "replace")
            said.append(f"{command} → {reply.code} {reply.message}")
            if reply.code not in (250, 251):
                await self._reset(client)
                return self._refused(sender, stage, reply, tuple(said))
        await self._reset(client)
        return CheckResult(True, "connect success", None, tuple(said))

    def _refused(
        self, sender: str, stage: str, reply: aiosmtplib.SMTPResponse, said: tuple[str, ...]
    ) -> CheckResult:
        cfg = self.config
        text = f"{cfg.host} refused the sender {sender}: {reply.code} {reply.message}"
        if not refuses_foreign_sender(reply.code, reply.message):
            return CheckResult(False, text, stage, said)
        text += (
            f". This server accepts only its own account ({cfg.username or 'the login'}) as "
            "sender: choose the sender policy restrict_from (every message is sent as the "
            "account) or on_behalf_of (From kept, Sender and envelope the account), with "
            "sender set to the account's address."
        )
        return CheckResult(False, text, "sender", said)

    async def close(self) -> None:
        """QUIT and close every pooled connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)

    # -- pool -------------------------------------------------------------------

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # Connections and semaphores belong to one event loop; a new loop starts over.
            for client in self._idle:
                if isinstance(client.transport, asyncio.Transport):
                    client.transport.abort()
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.config.max_connections)
        return self._slots

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
            client.close()
        return None

    # -- one connection ---------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        """The client TLS context, built once; a bad ``ca_file`` says nothing about the file.

        Whether the path is missing, unreadable or not PEM, the answer is the same
        sentence: a workspace must not learn which files exist on the server.
        """
        if self._tls is None:
            cfg = self.config
            try:
                ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
            except (OSError, ssl.SSLError, ValueError):
                raise SmtpFailureError(
                    SmtpFailure("config", "ca_file could not be loaded as PEM CA certificates")
                ) from None
            if not cfg.verify_tls:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._tls = ctx
        return self._tls

    async def _socket(self) -> socket.socket | None:
        """A socket connected to a checked address, or None without a guard."""
        cfg = self.config
        if self.guard is None:
            return None
        try:
            return await self.guard.aconnect(
                cfg.host, cfg.port, timeout=cfg.timeout, executor=self.executor
            )
        except NetworkRefused as exc:
            raise SmtpFailureError(SmtpFailure("policy", str(exc))) from None
        except ResolveFailed:
            raise SmtpFailureError(SmtpFailure("dns", f"cannot resolve {cfg.host}")) from None
        except OSError as exc:
            failure = map_exception(exc, stage="connect", host=cfg.host, port=cfg.port)
            raise SmtpFailureError(failure) from exc

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, greet, STARTTLS and authenticate as configured, or raise SmtpFailureError."""
        cfg = self.config
        tls = self._tls_context() if cfg.security != "none" else None
        sock = await self._socket()
        client = aiosmtplib.SMTP(
            hostname=cfg.host,  # with a socket, still the name TLS verifies
            port=None if sock is not None else cfg.port,
            sock=sock,
            use_tls=cfg.security == "tls",
            start_tls=False,
            tls_context=tls,
            timeout=cfg.timeout,
            # socket.getfqdn() may ask DNS; the plain host name never does.
            local_hostname=cfg.helo_name or socket.gethostname(),
        )
        stage = "connect"
        try:
            await client.connect()
            self.connections_opened += 1
            await client.ehlo()
            if cfg.security == "starttls":
                stage = "tls"
                if not client.supports_extension("starttls"):
                    raise SmtpFailureError(
                        SmtpFailure("tls", f"{cfg.host}:{cfg.port} does not offer STARTTLS")
                    )
                await client.starttls()
                await client.ehlo()
            if cfg.username:
                stage = "auth"
                await self._authenticate(client)
        except SmtpFailureError:
            _drop(client, sock)
            raise
        except MAPPED_EXCEPTIONS as exc:
            _drop(client, sock)
            failure = map_exception(exc, stage=stage, host=cfg.host, port=cfg.port)
            preset = presets.get(cfg.preset)
            if stage == "auth" and preset is not None:
                failure = dataclasses.replace(failure, text=f"{failure.text} {preset.auth_hint}")
            raise SmtpFailureError(failure) from exc
        return client

    async def _authenticate(self, client: aiosmtplib.SMTP) -> None:
        cfg = self.config
        offered = client.server_auth_methods
        wanted = _AUTO_ORDER if cfg.auth == "auto" else (cfg.auth,)
        method = next((m for m in wanted if m in offered), None)
        if method is None:
            has = " ".join(offered).upper() or "no AUTH at all"
            hint = "" if client.get_transport_info("sslcontext") else " (before TLS)"
            raise SmtpFailureError(
                SmtpFailure(
                    "auth", f"{cfg.host}:{cfg.port} offers {has}{hint}; wanted {cfg.auth.upper()}"
                )
            )
        user, password = cfg.username or "", cfg.password or ""
        if method == "xoauth2":
            await _bearer(client, b"XOAUTH2", xoauth2(user, password), b"")
        elif method == "oauthbearer":
            # RFC 7628 §3.2.3: a failed exchange is ended with a lone %x01.
            await _bearer(client, b"OAUTHBEARER", oauthbearer(user, password), b"AQ==")
        elif method == "cram-md5":
            await client.auth_crammd5(user, password)
        elif method == "plain":
            await client.auth_plain(user, password)
        else:
            await client.auth_login(user, password)

    async def _send(
        self, client: aiosmtplib.SMTP, envelope: Envelope, raw: bytes, *, reused: bool
    ) -> tuple[list[RecipientResult], bool]:
        """One mail transaction. Returns the results, and True when a reused connection
        turned out dead before MAIL was answered (the caller reconnects once)."""
        cfg = self.config
        pending: list[RecipientResult | None] = [None] * len(envelope.recipients)
        mail_answered = False
        try:
            utf8 = _needs_smtputf8(envelope)
            if utf8 and not client.supports_extension("smtputf8"):
                # RFC 6531 §3.4: without SMTPUTF8 the address cannot be sent at all.
                failure = SmtpFailure(
                    "deliver",
                    f"{cfg.host}:{cfg.port} does not offer SMTPUTF8,"
                    " needed for a non-ASCII address",
                    None,
                    "5.6.7",
                    permanent=True,
                )
                return _all_failed(envelope, failure).recipients, False
            encoding = "utf-8" if utf8 else "ascii"
            options = [b"SMTPUTF8"] if utf8 else []
            if not raw.isascii() and client.supports_extension("8bitmime"):
                options.append(b"BODY=8BITMIME")
            if client.supports_extension("size"):
                options.append(b"SIZE=%d" % len(raw))

            sender = b"FROM:<" + envelope.mail_from.encode(encoding) + b">"
            if client.supports_extension("pipelining") and (tap := ReplyTap.install(client)):
                mail = b" ".join((b"MAIL", sender, *options))
                return await self._send_pipelined(
                    client, tap, envelope, raw, mail, encoding, reused=reused
                )
            reply = await self._command(client, b"MAIL", sender, *options)
            mail_answered = True
            if reply.code == _SERVICE_UNAVAILABLE and reused:
                return [], True
            if reply.code != 250:
                results = [
                    recipient_from_reply(r, reply.code, reply.message) for r in envelope.recipients
                ]
                await self._reset(client)
                return results, False

            for i, rcpt in enumerate(envelope.recipients):
                to = b"TO:<" + rcpt.encode(encoding) + b">"
                reply = await self._command(client, b"RCPT", to)
                if reply.code not in (250, 251):
                    pending[i] = recipient_from_reply(rcpt, reply.code, reply.message)

            if all(r is not None for r in pending):
                await self._reset(client)
                return [r for r in pending if r is not None], False
            try:
                reply = await self._data(client, raw)
            except aiosmtplib.SMTPDataError as exc:
                # A DATA-stage refusal applies to every recipient accepted at RCPT.
                reply = aiosmtplib.SMTPResponse(exc.code, exc.message)
                await self._reset(client)
            return [
                r or recipient_from_reply(rcpt, reply.code, reply.message)
                for r, rcpt in zip(pending, envelope.recipients, strict=True)
            ], False
        except MAPPED_EXCEPTIONS as exc:
            return self._broken(client, exc, envelope, pending, retry=reused and not mail_answered)

    def _broken(
        self,
        client: aiosmtplib.SMTP,
        exc: BaseException,
        envelope: Envelope,
        pending: list[RecipientResult | None],
        *,
        retry: bool,
    ) -> tuple[list[RecipientResult], bool]:
        """The connection failed mid-transaction: recipients without a reply get the failure
        (or, ``retry``: a reused connection died before MAIL was answered, try a new one)."""
        cfg = self.config
        client.close()
        if retry:
            return [], True
        failure = map_exception(exc, stage="deliver", host=cfg.host, port=cfg.port)
        return [
            r or RecipientResult(rcpt, False, failure.code, failure.enhanced_status, failure.text)
            for r, rcpt in zip(pending, envelope.recipients, strict=True)
        ], False

    async def _send_pipelined(
        self,
        client: aiosmtplib.SMTP,
        tap: ReplyTap,
        envelope: Envelope,
        raw: bytes,
        mail: bytes,
        encoding: str,
        *,
        reused: bool,
    ) -> tuple[list[RecipientResult], bool]:
        """The transaction of :meth:`_send` with MAIL, every RCPT and DATA in one write
        (RFC 2920), then the message text: two round trips instead of three or more.

        Every reply is still read and judged in order, with the same outcome per
        recipient as one command at a time; RFC 2920 §3.1: a ``354`` after no
        accepted recipient is answered with a lone dot, not the text.
        """
        pending: list[RecipientResult | None] = [None] * len(envelope.recipients)
        commands = [mail, *(b"RCPT TO:<" + r.encode(encoding) + b">" for r in envelope.recipients)]
        if any(COMMAND_INJECTION_REGEX.search(c) for c in commands):
            raise ValueError("Command arg contains a prohibited control character")
        protocol = client.protocol
        mail_answered = False
        closing = reset = False
        tap.keep()
        try:
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Server not connected")
            protocol.write(b"\r\n".join(commands) + b"\r\nDATA\r\n")
            reply = await self._reply(tap)
            mail_answered = True
            if reply.code == _SERVICE_UNAVAILABLE and reused:
                client.close()
                return [], True
            if reply.code != 250:  # the sender refused: that reply is every recipient's
                pending[:] = [
                    recipient_from_reply(r, reply.code, reply.message) for r in envelope.recipients
                ]
            closing = reply.code == _SERVICE_UNAVAILABLE
            for i, rcpt in enumerate(envelope.recipients):
                reply = await self._reply(tap)
                closing |= reply.code == _SERVICE_UNAVAILABLE
                if pending[i] is None and reply.code not in (250, 251):
                    pending[i] = recipient_from_reply(rcpt, reply.code, reply.message)
            reply = await self._reply(tap)
            closing |= reply.code == _SERVICE_UNAVAILABLE
            if reply.code == 354:
                wanted = any(r is None for r in pending)
                protocol.write(wire_format(raw) if wanted else b".\r\n")
                reply = await self._reply(tap)
                closing |= reply.code == _SERVICE_UNAVAILABLE
            # A refused DATA or text applies to every recipient accepted at RCPT.
            reset = reply.code != 250
            results = [
                r or recipient_from_reply(rcpt, reply.code, reply.message)
                for r, rcpt in zip(pending, envelope.recipients, strict=True)
            ]
        except MAPPED_EXCEPTIONS as exc:
            return self._broken(client, exc, envelope, pending, retry=reused and not mail_answered)
        finally:
            tap.release()
        if closing:  # 421: the server is closing the connection (RFC 5321 §3.8)
            client.close()
        elif reset:
            await self._reset(client)
        return results, False

    async def _reply(self, tap: ReplyTap) -> aiosmtplib.SMTPResponse:
        """The next reply of a pipelined group, within the configured timeout."""
        reply = tap.buffered()
        if reply is not None:  # the replies of a group mostly arrive together
            return reply
        async with asyncio.timeout(self.config.timeout):
            return await tap.reply()

    async def _command(self, client: aiosmtplib.SMTP, *args: bytes) -> aiosmtplib.SMTPResponse:
        """One command and its reply, within the configured timeout.

        asyncio.timeout rather than aiosmtplib's own: that one wraps every reply in
        asyncio.wait_for, a new task per command, a fifth of the CPU of a delivery.
        """
        async with asyncio.timeout(self.config.timeout):
            return await client.execute_command(*args, timeout=None)

    async def _data(self, client: aiosmtplib.SMTP, raw: bytes) -> aiosmtplib.SMTPResponse:
        """DATA, the dot-stuffed message, and the final reply (RFC 5321 §4.5.2).

        aiosmtplib's ``data()`` normalises line ends and dot-stuffs with two regular
        expressions over the whole message, a quarter of a delivery's CPU; composed
        mail is CRLF already, so plain byte replacement does the same job.
        """
        start = await self._command(client, b"DATA")
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost before the message")
        protocol.write(wire_format(raw))
        async with asyncio.timeout(self.config.timeout):
            reply = await protocol.read_response(timeout=None)
        if reply.code != 250:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return reply

    async def _reset(self, client: aiosmtplib.SMTP) -> None:
        """RSET after a failed transaction so the connection can be pooled; drop it if not."""
        try:
            reply = await self._command(client, b"RSET")
        except MAPPED_EXCEPTIONS:
            client.close()
            return
        if reply.code != 250:
            client.close()


_FOREIGN_SENDER = re.compile(
    r"authori[sz]ed user|not owned|send as|permission to send|must (?:be|equal)|"
    r"sender address rejected|does not match|mismatch|not allowed to send|no such sender",
    re.I,
)


def refuses_foreign_sender(code: int, text: str) -> bool:
    """A reply saying "send only as the account you logged in with": QQ and 163's
    ``553 Mail from must equal authorized user``, Postfix's ``553 5.7.1 Sender address
    rejected: not owned by user``, Exchange Online's ``550 5.7.60 … send as this sender``."""
    return code in (501, 550, 553, 554) and bool(_FOREIGN_SENDER.search(text))


async def _quit(client: aiosmtplib.SMTP) -> None:
    """QUIT, then close the socket at once.

    After QUIT nothing more is owed to the server: a TLS close_notify exchange would
    outlive an event loop that stops right after (a check, a shutdown).
    """
    transport = client.transport
    with contextlib.suppress(*MAPPED_EXCEPTIONS):  # everything that mattered worked
        await client.quit()
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    client.close()


def _drop(client: aiosmtplib.SMTP, sock: socket.socket | None) -> None:
    """Close a failed connection now: a TLS close_notify exchange is not worth waiting for."""
    if isinstance(client.transport, asyncio.Transport):
        client.transport.abort()
    client.close()
    if sock is not None:
        sock.close()


_LINE_ENDS = re.compile(rb"\r\n|\n|\r")


def wire_format(raw: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, leading dots doubled, ``.`` to end."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:  # a bare CR or LF somewhere
        raw = _LINE_ENDS.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if raw.startswith(b"."):
        raw = b"." + raw
    return raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"


async def _bearer(client: aiosmtplib.SMTP, mechanism: bytes, initial: str, abort: bytes) -> None:
    """``AUTH XOAUTH2`` / ``OAUTHBEARER`` with the initial response (Google's XOAUTH2
    protocol page, RFC 7628).

    A refused token is answered 334 with a base64 JSON error (the SASL continuation);
    the client answers ``abort`` and the server ends with 535. Its JSON is kept in
    the error, it says why (``{"status":"401","schemes":"bearer"}``).
    """
    reply = await client.execute_command(b"AUTH", mechanism, initial.encode())
    if reply.code == 334:
        try:
            detail = base64.b64decode(reply.message).decode("utf-8", "replace")
        except ValueError:
            detail = reply.message
        reply = await client.execute_command(abort)
        raise aiosmtplib.SMTPAuthenticationError(reply.code, f"{reply.message} {detail}".strip())
    if reply.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(reply.code, reply.message)


def _all_failed(envelope: Envelope, failure: SmtpFailure) -> DeliveryResult:
    return DeliveryResult.all(
        envelope,
        accepted=False,
        code=failure.code,
        text=failure.text,
        enhanced_status=failure.enhanced_status,
        permanent=failure.permanent,
    )
