"""The Transport seam: how a composed message leaves mailgate.

A transport kind is one module with one class implementing :class:`Transport`
and one line in :mod:`mailgate.outbound.registry`. Its pydantic ``Config`` model
is what the API validates and the console renders; fields marked with
``json_schema_extra={"secret": True}`` are write-only and encrypted at rest.

Transports decide, at their boundary, whether a failure is transient or
permanent: 4xx replies, network, TLS and timeout trouble are transient; 5xx
replies are permanent except 552 (RFC 5321 §4.5.3.1.10 allows treating it as
temporary). They never raise for a per-recipient refusal: they report it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Envelope:
    """SMTP envelope: the reverse path (may be ``""`` for bounces) and recipients."""

    mail_from: str
    recipients: tuple[str, ...]
    #: The message's category (transactional | bulk): SendCloud picks its API user by it.
    category: str = "transactional"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What the server said about one recipient."""

    address: str
    accepted: bool
    code: int | None = None
    enhanced_status: str | None = None
    text: str = ""
    permanent: bool = False
    #: The receiving domain asked us to slow down (core/throttle.py; set by the worker).
    throttled: bool = False
    #: The id an HTTP provider gave the message (events name it; outbound/http.py).
    provider_message_id: str | None = None
    #: The provider's answer, truncated (kept with the attempt for the operator).
    response: str | None = None


@dataclass(slots=True)
class DeliveryResult:
    """One result per envelope recipient, in envelope order."""

    recipients: list[RecipientResult] = field(default_factory=list)

    @classmethod
    def all(
        cls,
        envelope: Envelope,
        *,
        accepted: bool,
        code: int | None,
        text: str,
        enhanced_status: str | None = None,
        permanent: bool = False,
    ) -> DeliveryResult:
        """The same outcome for every recipient (a whole-message success or failure)."""
        return cls(
            [
                RecipientResult(r, accepted, code, enhanced_status, text, permanent)
                for r in envelope.recipients
            ]
        )


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The *test connection* answer: ``connect success`` or what failed, and where.

    ``stage`` is one of ``dns``, ``connect``, ``timeout``, ``tls``, ``auth``,
    ``config``, ``sender``, ``recipient`` or ``None`` on success. ``transcript`` holds
    the server's own words for the steps that ran (``MAIL FROM:<…> → 250 2.1.0 Ok``).
    """

    ok: bool
    message: str
    stage: str | None = None
    transcript: tuple[str, ...] = ()


class Transport(Protocol):
    """A configured way out: SMTP server, local sendmail, provider API, capture."""

    kind: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    async def deliver(self, envelope: Envelope, raw: bytes) -> DeliveryResult:
        """Hand ``raw`` (complete RFC 5322 bytes, CRLF line ends) to the next hop."""
        ...

    async def check(self) -> CheckResult:
        """Connect, negotiate TLS and authenticate without sending anything."""
        ...

    async def close(self) -> None:
        """Release pooled connections."""
        ...
