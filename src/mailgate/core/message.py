"""Value types for a message being composed: addresses, attachments, drafts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: display name (may be empty) and the address itself (Unicode allowed)."""

    name: str
    address: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach; ``content_id`` set and ``inline`` true for images in HTML."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(slots=True)
class Draft:
    """Everything needed to compose one message, already validated.

    ``headers`` are extra caller headers (already checked for injection);
    ``auto_submitted`` marks automatic mail (RFC 3834) with no human sender.
    """

    from_: Address
    to: list[Address]
    subject: str
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    sender: Address | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    auto_submitted: bool = False

    @property
    def recipients(self) -> list[Address]:
        """Envelope recipients: To, Cc and Bcc, each address once, in order."""
        seen: set[str] = set()
        out: list[Address] = []
        for a in [*self.to, *self.cc, *self.bcc]:
            key = a.address.lower()
            if key not in seen:
                seen.add(key)
                out.append(a)
        return out
