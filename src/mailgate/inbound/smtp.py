"""The SMTP and LMTP listener: accept mail for known recipients, answer after commit.

Built on aiosmtpd: :class:`InboundHandler` implements only the hooks it needs
and returns reply strings. The rules:

* ``RCPT`` is accepted only when :func:`mailgate.inbound.recipients.workspace_for`
  finds a workspace (``550 5.1.1`` otherwise); the answer is cached briefly.
* At end of data, one :class:`Incoming` is built per distinct workspace among the
  accepted recipients (each holding only that workspace's recipients), and all of
  them go through the :class:`GroupCommitter` as one unit: stored together or not
  at all. ``250`` only after that commit; ``451 4.3.0`` when it fails.
* LMTP (RFC 2033 §4.2) answers once per accepted recipient, after the commit.
* The size limit is aiosmtpd's ``data_size_limit`` (advertised as ``SIZE``,
  RFC 1870), answered ``552 5.3.4``. STARTTLS is offered when a certificate is set.
* An MX takes no logins: ``AUTH`` is never advertised, before or after STARTTLS,
  and the command is answered ``502``.
* Only ``<CR><LF>.<CR><LF>`` ends DATA (RFC 5321 §4.1.1.4): a bare CR or LF around
  the dot is message content, so one DATA can never be split into two messages
  (SMTP smuggling; tests/test_smtp_smuggling.py sends every variant).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from mailgate.errors import ConfigurationError
from mailgate.inbound.groupcommit import GroupCommitter
from mailgate.inbound.pipeline import Incoming
from mailgate.inbound.recipients import workspace_for
from mailgate.store import metrics
from mailgate.store.context import Context
from mailgate.store.executors import run_in

log = logging.getLogger(__name__)

TOO_BIG = "552 5.3.4 message too big"
# aiosmtpd's own texts for an over-size SIZE= parameter and for too much DATA.
_REWRITE = {
    "552 Error: message size exceeds fixed maximum message size": TOO_BIG,
    "552 Error: Too much mail data": TOO_BIG,
}


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for STARTTLS from PEM files, naming the setting when they fail."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigurationError("MAILGATE_SMTP_TLS_CERT", f"cannot load {cert}: {e}") from None
    return context


class RecipientCache:
    """``workspace_for`` answers kept for ``ttl`` seconds (a busy sender repeats recipients)."""

    def __init__(self, app: Context, ttl: float = 5.0, size: int = 10_000) -> None:
        self.app = app
        self.ttl = ttl
        self.size = size
        self._known: dict[str, tuple[str | None, float]] = {}

    async def workspace(self, address: str) -> str | None:
        key = address.strip().strip("<>").lower()
        hit = self._known.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        ws = await run_in(self.app.executors.inbound, self._lookup, key)
        if len(self._known) >= self.size:
            self._known.clear()
        self._known[key] = (ws, now + self.ttl)
        return ws

    def _lookup(self, address: str) -> str | None:
        with self.app.sessions() as session:
            return workspace_for(session, self.app.secrets, address)


class _Envelope(Envelope):
    """aiosmtpd's envelope, plus the workspace chosen for each accepted recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.workspaces: dict[str, str] = {}


async def read_data(reader: asyncio.StreamReader, limit: int | None) -> bytes | None:
    """The message after ``354``, up to ``CRLF.CRLF``, dot-unstuffed; None when over ``limit``.

    aiosmtpd reads DATA one line at a time (about a hundred awaits for 5 KB); this
    reads up to each ``.CRLF`` instead and checks whether it ends the message
    (RFC 5321 §4.1.1.4): at most a few reads per message. Nothing past the
    terminator is consumed. Lines longer than 1000 octets are accepted as they are.

    This replaces aiosmtpd's ``smtp_DATA`` reader (an internal, not a public hook),
    so it must keep the guarantee of aiosmtpd 1.4.5's fix for CVE-2024-27305 (SMTP
    smuggling, GHSA-pr2m-px7j-xg65, upstream commit 24b6c79c): lines end only at
    ``CRLF``, so ``<LF>.<LF>``, ``<LF>.<CR><LF>``, ``<CR><LF>.<LF>``, ``<CR>.<CR>``
    and the like are content, never the end. Only a ``.CRLF`` preceded by ``CRLF``
    (or at the very start) ends the message; tests/test_smtp_smuggling.py sends
    every variant.
    """
    data = bytearray()
    dropped = 0
    # Dot-stuffing adds at most one octet per line of three or more on the wire.
    wire_limit = limit * 4 // 3 + 8 if limit else None
    while True:
        try:
            chunk = await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError as e:  # no ".CRLF" within the stream's line limit
            chunk = await reader.readexactly(e.consumed)
        data += chunk
        if data == b".\r\n" or data.endswith(b"\r\n.\r\n"):
            break
        if wire_limit and dropped + len(data) > wire_limit:
            dropped += len(data) - 4  # surely too big: read on, keeping a tail to find the end
            del data[:-4]
    if dropped:
        return None
    body = bytes(data[:-3])  # the CRLF before "." ends the last line and is kept
    if body.startswith(b"."):
        body = body[1:]
    body = body.replace(b"\r\n.", b"\r\n")  # RFC 5321 §4.5.2 transparency
    return None if limit and len(body) > limit else body


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# RFC 5321 §4.1.2 Path with a dot-atom local part and a plain domain, then the rest.
_PLAIN_PATH = re.compile(
    rf"\s*<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?!\s*\()\s*(.*)\Z", re.S
)
_NAMES: dict[type, list[str]] = {}


def _command_names(cls: type) -> list[str]:
    names = _NAMES.get(cls)
    if names is None:
        wanted = ("smtp_", "auth_", "handle_")
        names = _NAMES[cls] = sorted(n for n in dir(cls) if n.startswith(wanted))
    return names


class _Protocol:
    """aiosmtpd's server with our envelope type, our DATA reader and our reply texts."""

    def _create_envelope(self) -> Envelope:
        return _Envelope()

    def __dir__(self) -> list[str]:
        # aiosmtpd's __init__ scans dir(self) on every connection for its smtp_* and
        # auth_* methods (inspect.getmembers, ~15% of a short session's CPU): list
        # just those, found once per class.
        return _command_names(type(self))

    _held: list[str] | None = None

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = _REWRITE.get(status, status)
            # A multi-line reply (EHLO's "250-" lines) leaves in one write with its
            # last line: aiosmtpd writes and drains each line, a send() apiece.
            if status[3:4] == "-":
                self._held = [*(self._held or []), status]
                return
            # RFC 2920: a pipelining client sent more commands in the same packet; their
            # replies leave together with the reply to the last one. Only success
            # replies wait: 354, 220 (STARTTLS), 221 and errors leave at once.
            if status[:1] == "2" and status[:3] not in ("220", "221") and self._pipelined():
                self._held = [*(self._held or []), status]
                return
            if self._held:
                status, self._held = "\r\n".join([*self._held, status]), None
        await super().push(status)  # type: ignore[misc]

    def _pipelined(self) -> bool:
        """Whether another whole command line has already arrived."""
        reader: Any = getattr(self, "_reader", None)
        return reader is not None and b"\n" in reader._buffer

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses every MAIL/RCPT address with email's header parser (~15% of
        # a short session's CPU); a plain <dot-atom@domain> needs only a regex.
        plain = _PLAIN_PATH.match(arg)
        if plain is not None:
            return plain.group(1), plain.group(2)
        return super()._getaddr(arg)  # type: ignore[misc,no-any-return]

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        # aiosmtpd would answer with its (empty) mechanism list after STARTTLS; an MX
        # takes no logins at all (RFC 5321 §3.3 needs none; RFC 4954 §4 is optional).
        smtp: Any = self
        await smtp.push("502 5.5.1 AUTH not supported")

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        smtp: Any = self  # the aiosmtpd SMTP instance this mixin is part of
        if await smtp.check_helo_needed() or await smtp.check_auth_needed("DATA"):
            return
        if not smtp.envelope.rcpt_tos:
            await smtp.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await smtp.push("501 5.5.4 Syntax: DATA")
            return
        # The group commit waits for messages being read, not for a fixed pause.
        committer: GroupCommitter = smtp.event_handler.committer
        committer.expect()
        try:
            await smtp.push("354 End data with <CR><LF>.<CR><LF>")
            body = await read_data(smtp._reader, smtp.data_size_limit)
        except asyncio.IncompleteReadError:
            return  # the client went away in the middle: nothing to answer
        finally:
            committer.expected_done()  # just before the hook submits (no await between)
        if body is None:
            smtp._set_post_data_state()
            await smtp.push(TOO_BIG)
            return
        smtp.envelope.content = smtp.envelope.original_content = body
        status = await smtp._call_handler_hook("DATA")
        smtp._set_post_data_state()
        await smtp.push(status)

    # aiosmtpd cancels its idle timer and schedules a new one for every command (a
    # cancelled handle left in the loop's heap each time); one timer per connection
    # follows a moving deadline instead and re-arms itself when it fires early.
    _deadline = 0.0
    _armed = False  # the timer is scheduled and has not fired yet

    def _reset_timeout(self, duration: float | None = None) -> None:
        smtp: Any = self
        self._deadline = smtp.loop.time() + (duration or smtp._timeout_duration)
        handle = smtp._timeout_handle
        if self._armed and not handle.cancelled() and handle.when() <= self._deadline:
            return  # it fires, sees the later deadline, and waits for that
        if handle is not None:
            handle.cancel()
        self._arm()

    def _arm(self) -> None:
        smtp: Any = self
        smtp._timeout_handle = smtp.loop.call_at(self._deadline, self._check_timeout)
        self._armed = True

    def _check_timeout(self) -> None:
        self._armed = False
        smtp: Any = self
        if smtp.loop.time() < self._deadline:
            self._arm()
        else:
            smtp._timeout_cb()


class _SMTP(_Protocol, SMTP):
    pass


class _LMTP(_Protocol, LMTP):
    pass


class _Template:
    """A listener's connections, each made without aiosmtpd's ``__init__``.

    aiosmtpd's ``__init__`` runs per connection and works out the same things each
    time: the handler's hooks through ``inspect.getmembers``, the EHLO hook's
    signature through ``inspect.signature``, the AUTH mechanisms — a sixth of the
    listener's CPU per message (docs/performance.md). Here one instance is built the
    normal way; each connection gets asyncio's own protocol state fresh, a copy of
    that instance's settings, and its own bound ``smtp_*`` methods. Its attributes
    are checked against the normal instance's, so an aiosmtpd upgrade that adds
    per-connection state fails loudly at the first connection instead of sharing it.
    """

    def __init__(self, sample: SMTP, loop: asyncio.AbstractEventLoop) -> None:
        self.cls = type(sample)
        self.loop = loop
        fresh = asyncio.StreamReaderProtocol(
            asyncio.StreamReader(loop=loop), client_connected_cb=lambda *_: None, loop=loop
        )
        asyncio_own = set(vars(fresh))  # per connection: made anew by its __init__
        self.settings = {
            k: v for k, v in vars(sample).items() if k not in asyncio_own and k != "_smtp_methods"
        }
        self.commands = list(sample._smtp_methods)
        made = self.make()
        if set(vars(made)) != set(vars(sample)) or made._smtp_methods.keys() != set(self.commands):
            raise RuntimeError("aiosmtpd's SMTP state changed: the listener's template is stale")

    def make(self) -> SMTP:
        conn: Any = self.cls.__new__(self.cls)
        asyncio.StreamReaderProtocol.__init__(
            conn,
            asyncio.StreamReader(loop=self.loop, limit=conn.line_length_limit),
            client_connected_cb=conn._cb_client_connected,
            loop=self.loop,
        )
        conn.__dict__.update(self.settings)
        conn._smtp_methods = {name: getattr(conn, "smtp_" + name) for name in self.commands}
        return conn  # type: ignore[no-any-return]


class InboundHandler:
    """The aiosmtpd handler: RCPT decides, DATA stores and answers after commit."""

    def __init__(
        self,
        committer: GroupCommitter,
        recipients: RecipientCache,
        *,
        lmtp: bool = False,
    ) -> None:
        self.committer = committer
        self.recipients = recipients
        self.lmtp = lmtp

    def __dir__(self) -> list[str]:
        # Scanned by aiosmtpd on every connection, for handle_* and auth_* only.
        return _command_names(type(self))

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """aiosmtpd's public EHLO hook: drop ``AUTH`` (after STARTTLS aiosmtpd adds it bare)."""
        session.host_name = hostname  # the 5-argument hook must set it (aiosmtpd docs)
        kept = [r for r in responses if r[4:].split(" ", 1)[0].upper() != "AUTH"]
        # RFC 2920: aiosmtpd reads commands line by line from its buffer, so a batch
        # is answered in order (and, with _Protocol.push, in one write).
        return [*kept[:-1], "250-PIPELINING", kept[-1]]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            ws = await self.recipients.workspace(address)
        except Exception:
            log.exception("recipient lookup failed for %s", address)
            return "451 4.3.0 temporary failure looking up the recipient; try again later"
        if ws is None:
            metrics.INBOUND.labels("lmtp" if self.lmtp else "smtp", "unknown_recipient").inc()
            return f"550 5.1.1 <{address}>: no such mailbox here"
        assert isinstance(envelope, _Envelope)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.workspaces[address] = ws
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope, _Envelope)
        raw = envelope.original_content or b""
        by_workspace: dict[str, list[str]] = defaultdict(list)
        for rcpt in envelope.rcpt_tos:
            by_workspace[envelope.workspaces[rcpt]].append(rcpt)
        source = "lmtp" if self.lmtp else "smtp"
        peer = session.peer[0] if isinstance(session.peer, tuple) else None  # SPF, later
        items = [
            Incoming(
                ws,
                raw,
                source,
                mail_from=envelope.mail_from or "",
                rcpt_to=rcpts,
                peer_ip=peer,
                helo=session.host_name or None,
            )
            for ws, rcpts in by_workspace.items()
        ]
        try:
            stored = await self.committer.submit(items)
        except Exception:
            log.exception("storing a message from %s failed", session.peer)
            metrics.INBOUND.labels(source, "not_stored").inc()  # answered 451: the sender retries
            return self._reply(envelope, "451 4.3.0 message not stored; try again later")
        ids = " ".join(r.id for r in stored)
        return self._reply(envelope, f"250 2.0.0 OK stored as {ids}")

    def _reply(self, envelope: Envelope, status: str) -> str:
        if not self.lmtp:
            return status
        # RFC 2033 §4.2: one reply per successful RCPT, in order.
        code, _, text = status.partition(" ")
        return "\r\n".join(f"{code} {text} <{r}>" for r in envelope.rcpt_tos)


@dataclass
class Listener:
    """A running listener; ``await stop()`` closes the socket and drains the committer."""

    host: str
    port: int
    lmtp: bool
    committer: GroupCommitter
    server: asyncio.base_events.Server
    _stopped: bool = field(default=False, repr=False)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.close()
        await self.server.wait_closed()
        await self.committer.aclose()


async def start_listener(
    app: Context,
    host: str,
    port: int,
    *,
    lmtp: bool = False,
    tls: ssl.SSLContext | None = None,
    committer: GroupCommitter | None = None,
    idle_timeout: float = 300,
    reuse_port: bool = False,
) -> Listener:
    """Listen for SMTP (or LMTP) on ``host:port`` in the running event loop.

    ``port=0`` picks a free port (see ``Listener.port``). ``tls`` enables STARTTLS.
    A session that sends nothing for ``idle_timeout`` seconds is closed (RFC 5321
    §4.5.3.2.7 asks for at least five minutes). ``reuse_port``: bind with
    ``SO_REUSEPORT``, so that several listener processes share one port and the
    kernel spreads connections among them (:mod:`mailgate.inbound.processes`).
    """
    loop = asyncio.get_running_loop()
    committer = committer or GroupCommitter(app)
    await committer.start()
    handler = InboundHandler(committer, RecipientCache(app), lmtp=lmtp)
    protocol = _LMTP if lmtp else _SMTP

    def configured() -> SMTP:
        return protocol(
            handler,
            data_size_limit=app.settings.max_message_bytes,  # read per connection
            hostname=app.settings.hostname,
            ident="mailgate",
            enable_SMTPUTF8=True,  # RFC 6531: internationalised addresses and headers
            # An MX takes no logins: advertising AUTH only invites password guessing
            # (no mechanisms here; handle_EHLO drops the AUTH line itself).
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
            tls_context=tls,
            timeout=idle_timeout,
            loop=loop,
        )

    # The size limit is a setting a test may change between connections: a template
    # made for another limit is made again (once). The first is made here, so a stale
    # template stops the listener from starting.
    templates = {app.settings.max_message_bytes: _Template(configured(), loop)}

    def factory() -> SMTP:
        limit = app.settings.max_message_bytes
        template = templates.get(limit)
        if template is None:
            templates.clear()
            template = templates[limit] = _Template(configured(), loop)
        return template.make()

    server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
    bound = server.sockets[0].getsockname()[1]
    return Listener(host, int(bound), lmtp, committer, server)
