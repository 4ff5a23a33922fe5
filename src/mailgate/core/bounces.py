"""Which bounce reader answers for a message, exact first (STYLE.md practice 7).

1. An RFC 3464 / RFC 6533 report (``dsn.delivery_report``), wherever its status
   part sits, also inside a daemon's attached message/rfc822.
2. An Amazon SES JSON notification in the body (``provider_bounce``).
3. Prose (``prose_bounce``): also the fallback when a report is there but
   unusable — a boundary that does not match the body, a report without a
   status part, a status part with per-message fields only.
4. ``X-Failed-Recipients`` when nothing else names a recipient.

Every report about our mail is kind "bounce", whatever its actions: a delay
warning (``delayed``) or a success notice (``delivered``) is a report, not an
auto-reply. Only recipients whose action is ``failed`` are failures; consumers
must look at ``action`` (``inbound/routing.py`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from mailgate.core import dsn, prose_bounce, provider_bounce

__all__ = ["Found", "find"]


@dataclass
class Found:
    """A bounce or a relayed complaint, with the Message-ID of the original it returns."""

    kind: str  # "bounce" or "complaint"
    recipients: list[dsn.Recipient] = field(default_factory=list)
    original_message_id: str | None = None
    complaint: dict[str, Any] | None = None


def find(msg: Message, text: str, subject: str, errors: list[str]) -> Found | None:
    """The bounce ``msg`` is, or None when it is none; problems go to ``errors``."""
    notes: list[str] = []
    report = dsn.delivery_report(msg, notes)
    if report is not None:
        holder, recipients = report
        original, _ = dsn.attached_original(holder)
        if recipients:
            errors.extend(notes)
            return Found("bounce", recipients, original)
        # A report we could not read is still a bounce: read its words instead.
        prose = prose_bounce.text_bounce(msg, text, subject, known=True)
        recipients = prose.recipients if prose is not None else []
        if not recipients:
            errors.extend(notes)
            errors.append("delivery report: no recipient in the report or its text")
        if prose is not None:
            original = original or prose.original_message_id
        return Found("bounce", recipients, original)

    ses = provider_bounce.read_ses(text)
    if ses is not None:
        if ses.kind == "complaint":
            return Found("complaint", [], ses.original_message_id, ses.complaint)
        if not ses.recipients:
            errors.append("SES notification without recipients")
        return Found("bounce", ses.recipients, ses.original_message_id)

    prose = prose_bounce.text_bounce(msg, text, subject)
    if prose is None:
        return None
    original, _ = dsn.attached_original(msg)
    if not prose.recipients:
        errors.append(f"{prose.vendor} bounce: no recipient address found in the text")
    return Found("bounce", prose.recipients, original or prose.original_message_id)


def mdn_rejection(msg: Message) -> Found | None:
    """A daemon's "deleted" disposition notification (RFC 3798): a rejection, so a bounce."""
    report = dsn.find_report(msg, "disposition-notification")
    if report is None:
        return None
    recipients = dsn.mdn_rejection(report, msg)
    if recipients is None:
        return None
    original, _ = dsn.attached_original(msg)
    return Found("bounce", recipients, original)
