"""SMTP replies and aiosmtplib exceptions, mapped into mailgate's terms in one place.

Two questions are answered here and nowhere else:

* what an SMTP reply means for a recipient: 2xx accepted; 5xx permanent except
  552 (RFC 5321 §4.5.3.1.10 lets a client treat "exceeded storage allocation" as
  temporary); 4xx transient. The RFC 3463 enhanced status code is read from the
  start of the reply text.
* what a library exception means: which stage failed (``dns``, ``connect``,
  ``timeout``, ``tls``, ``auth``) and a sentence an administrator can act on.
  Every network, TLS and authentication failure is transient: fixing the server,
  the certificate or the password lets the queue drain.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import aiosmtplib

from mailgate.outbound.base import RecipientResult

_E = TypeVar("_E", bound=BaseException)

# RFC 3463 §2: class "." subject "." detail, at the start of the reply text.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?!\S)")


def enhanced_status(text: str) -> str | None:
    """The RFC 3463 status code (``"5.1.1"``) at the start of a reply text, if any."""
    match = _ENHANCED.match(text.strip())
    return ".".join(match.groups()) if match else None


def is_permanent(code: int) -> bool:
    """5xx is permanent, except 552 (RFC 5321 §4.5.3.1.10); 4xx and others are not."""
    return 500 <= code < 600 and code != 552


def recipient_from_reply(address: str, code: int, text: str) -> RecipientResult:
    """The result for one recipient given the server's reply to it."""
    accepted = 200 <= code < 300
    return RecipientResult(
        address=address,
        accepted=accepted,
        code=code,
        enhanced_status=enhanced_status(text),
        text=text,
        permanent=not accepted and is_permanent(code),
    )


@dataclass(frozen=True, slots=True)
class SmtpFailure:
    """A failure before or outside a reply to a recipient: where, and what to tell a human."""

    stage: str
    text: str
    code: int | None = None
    enhanced_status: str | None = None
    permanent: bool = False


class SmtpFailureError(Exception):
    """Carries an :class:`SmtpFailure` out of the connection code to the transport."""

    def __init__(self, failure: SmtpFailure) -> None:
        super().__init__(failure.text)
        self.failure = failure


# What a caller may catch and hand to map_exception: everything aiosmtplib, the
# socket layer and the ssl module raise for a failed conversation.
MAPPED_EXCEPTIONS: tuple[type[BaseException], ...] = (
    aiosmtplib.SMTPException,
    OSError,
    TimeoutError,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    for item in _chain(exc):
        if isinstance(item, kind):
            return item
    return None


def map_exception(exc: BaseException, *, stage: str, host: str, port: int) -> SmtpFailure:
    """Translate a library exception raised during ``stage`` into an :class:`SmtpFailure`.

    ``stage`` is what the caller was doing (``connect``, ``tls``, ``auth`` or
    ``deliver``); the exception chain may refine it (a DNS error inside connect).
    """
    peer = f"{host}:{port}"
    if (verify := _find(exc, ssl.SSLCertVerificationError)) is not None:
        reason = verify.verify_message or verify.reason or str(verify)
        return SmtpFailure("tls", f"TLS certificate verify failed: {reason} ({peer})")
    if (tls := _find(exc, ssl.SSLError)) is not None:
        return SmtpFailure("tls", f"TLS handshake with {peer} failed: {tls.reason or tls}")
    if (dns := _find(exc, socket.gaierror)) is not None:
        return SmtpFailure("dns", f"cannot resolve {host}: {dns.strerror or dns}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        reply = f"{exc.code} {exc.message}"
        return SmtpFailure("auth", reply, exc.code, enhanced_status(exc.message))
    if _find(exc, TimeoutError) is not None:
        return SmtpFailure("timeout", f"timed out talking to {peer} ({stage})")
    if _find(exc, ConnectionRefusedError) is not None:
        return SmtpFailure("connect", f"connection refused by {peer}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # An unexpected reply outside RCPT/DATA: greeting, EHLO, STARTTLS.
        reply = f"{exc.code} {exc.message}"
        where = "connect" if stage == "deliver" else stage
        return SmtpFailure(
            where, f"{peer} answered {reply}", exc.code, enhanced_status(exc.message)
        )
    if _find(exc, ConnectionError) is not None:
        where = "connect" if stage == "deliver" else stage
        return SmtpFailure(where, f"connection to {peer} closed unexpectedly ({stage})")
    if isinstance(exc, aiosmtplib.SMTPException):
        return SmtpFailure(stage if stage != "deliver" else "connect", f"{peer}: {exc.message}")
    if isinstance(exc, OSError):
        return SmtpFailure("connect", f"cannot connect to {peer}: {exc.strerror or exc}")
    return SmtpFailure(stage, f"{peer}: {exc}")
