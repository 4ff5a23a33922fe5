"""IMAP and POP3 clients whose sockets go through the network policy.

imaplib, IMAPClient and poplib each open their socket in one overridable method
(``_create_socket``; IMAPClient builds its imaplib object in ``_create_IMAP4``).
These subclasses replace only that step: the host is resolved, every address is
checked (:meth:`mailgate.outbound.netguard.NetGuard.connect`) and the socket is
connected to a checked address. Everything after — STARTTLS, implicit TLS with
the certificate verified against the *name*, login, the protocol — is the
libraries' own.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imapclient import IMAPClient
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS, wrap_socket

from mailgate.inbound.base import SourceError, SourceRef
from mailgate.outbound.netguard import NetGuard, NetworkRefused, ResolveFailed
from mailgate.store.context import Context


def guard_for(app: Context, ref: SourceRef) -> NetGuard:
    """The policy a source connects under: the installation's, unless an operator chose it."""
    return NetGuard.from_settings(app.settings).trusting(ref.private_network)


def stage_of(what: str) -> str:
    """The stage of a mailbox step named like ``"STARTTLS"``, ``"login as x"``, ``"UIDL"``."""
    step = what.split(" ", 1)[0].lower()
    if step in ("starttls", "stls"):
        return "tls"
    if step == "login":
        return "auth"
    if step == "connect":
        return "connect"
    return "protocol"


@contextmanager
def connect_errors(protocol: str, host: str, port: int) -> Iterator[None]:
    """Map what opening a mailbox connection raises to :class:`SourceError` with a stage.

    A greeting that is not the protocol's is not quoted back: pointed at some
    other service, a poll must not become a way to read that service's banner.
    """
    peer = f"{host}:{port}"
    try:
        yield
    except NetworkRefused as exc:
        raise SourceError(str(exc), stage="policy") from None
    except ResolveFailed as exc:
        raise SourceError(str(exc), stage="dns") from None
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or "certificate not trusted"
        raise SourceError(f"{protocol} TLS with {peer}: {reason}", stage="tls") from None
    except ssl.SSLError as exc:
        reason = exc.reason or type(exc).__name__
        raise SourceError(f"{protocol} TLS with {peer} failed: {reason}", stage="tls") from None
    except TimeoutError:
        raise SourceError(f"{protocol} timed out connecting to {peer}", stage="connect") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourceError(f"{protocol} connect to {peer}: {reason}", stage="connect") from None
    except (imaplib.IMAP4.error, poplib.error_proto):
        raise SourceError(
            f"{protocol} connect to {peer}: the server did not greet like a {protocol} server",
            stage="protocol",
        ) from None


class _ImapPlain(IMAP4WithTimeout):  # type: ignore[misc]  # imapclient is untyped
    def __init__(self, guard: NetGuard, host: str, port: int, timeout: float | None) -> None:
        self._guard = guard
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._guard.connect(self.host, self.port, timeout or self._timeout)


class _ImapTls(IMAP4_TLS):  # type: ignore[misc]  # imapclient is untyped
    def __init__(
        self,
        guard: NetGuard,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        timeout: float | None,
    ) -> None:
        self._guard = guard
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = self._guard.connect(self.host, self.port, timeout or self._timeout)
        try:
            tls: socket.socket = wrap_socket(sock, self.ssl_context, self.host)  # name verified
            return tls
        except BaseException:
            sock.close()
            raise


class GuardedIMAPClient(IMAPClient):  # type: ignore[misc]  # imapclient is untyped
    """:class:`imapclient.IMAPClient` connecting through ``guard``."""

    def __init__(self, host: str, *, guard: NetGuard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(host, **kwargs)

    def _create_IMAP4(self) -> Any:  # IMAPClient builds its imaplib object here
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _ImapTls(self._guard, self.host, self.port, self.ssl_context, timeout)
        return _ImapPlain(self._guard, self.host, self.port, timeout)


class GuardedPop3Socket:
    """Mixin for :class:`poplib.POP3` and ``POP3_SSL``: the socket goes through ``guard``."""

    host: str
    port: int
    context: ssl.SSLContext  # POP3_SSL only
    _guard: NetGuard | None = None

    def __init__(self, *args: Any, guard: NetGuard | None = None, **kwargs: Any) -> None:
        self._guard = guard  # before poplib's __init__, which opens the socket
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            # poplib leaves its socket open when the greeting fails (a server going away
            # or answering -ERR): close it here instead of leaving it to the collector.
            for name in ("file", "sock"):
                with contextlib.suppress(Exception):
                    getattr(self, name).close()
            raise

    def _create_socket(self, timeout: float | None) -> socket.socket:
        guard = self._guard
        if guard is None:
            sock: socket.socket = super()._create_socket(timeout)  # type: ignore[misc]
            return sock
        sock = guard.connect(self.host, self.port, timeout)
        if not isinstance(self, poplib.POP3_SSL):
            return sock
        try:
            return self.context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
