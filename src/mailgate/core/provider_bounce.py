"""Amazon SES bounce and complaint notifications relayed by mail (SNS e-mail subscriptions).

SES publishes a JSON object per event (the "Amazon SES notification contents"
in the SES developer guide): ``notificationType`` is ``Bounce``, ``Complaint``
or ``Delivery``; ``bounce.bouncedRecipients[]`` carries ``emailAddress`` and,
for most bounces, ``action``, ``status`` and ``diagnosticCode``;
``complaint.complainedRecipients[]`` carries ``emailAddress``; ``mail`` describes
the message SES sent (``mail.commonHeaders.messageId`` is its Message-ID header,
``mail.messageId`` is SES's own id). An SNS e-mail-JSON subscription wraps the
object as a string in the envelope's ``Message`` field; a plain e-mail
subscription sends the object itself as the body. Both are read here.

Like any bounce read from mail, this is evidence only: routing still needs
proof that the message named is ours.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mailgate.core.dsn import Recipient, clean_address, find_status

__all__ = ["ProviderReport", "read_ses"]

_MARK = re.compile(r'"notificationType"\s*:\s*"|\\"notificationType\\"\s*:')
_MAX_JSON = 1_000_000  # a notification is a few kB; anything huge is not one


@dataclass(frozen=True, slots=True)
class ProviderReport:
    """What an SES notification says: ``kind`` is "bounce" or "complaint"."""

    kind: str
    recipients: list[Recipient]
    complaint: dict[str, Any] | None
    original_message_id: str | None


def read_ses(text: str) -> ProviderReport | None:
    """The SES notification in ``text`` (the mail's body), or None when there is none."""
    if "notificationType" not in text or not _MARK.search(text):
        return None
    data = _notification(text)
    if data is None:
        return None
    kind = str(data.get("notificationType", "")).lower()
    found = data.get("mail")
    mail: dict[str, Any] = found if isinstance(found, dict) else {}
    original = _message_id(mail)
    if kind == "bounce":
        return ProviderReport("bounce", _bounced(data.get("bounce")), None, original)
    if kind == "delivery":
        return ProviderReport("bounce", _delivered(data.get("delivery")), None, original)
    if kind == "complaint":
        return ProviderReport("complaint", [], _complaint(data.get("complaint"), mail), original)
    return None


def _notification(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start or end - start > _MAX_JSON:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        # SNS envelope: the SES object is the Message string.
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    if not isinstance(data, dict) or "notificationType" not in data:
        return None
    return data


def _items(value: Any, key: str) -> list[dict[str, Any]]:
    items = value.get(key) if isinstance(value, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _bounced(bounce: Any) -> list[Recipient]:
    kind = str(bounce.get("bounceType", "")) if isinstance(bounce, dict) else ""
    # Permanent: SES will not retry (a hard bounce); Transient and Undetermined may pass.
    default = "5.0.0" if kind.lower() == "permanent" else "4.0.0"
    out: list[Recipient] = []
    for item in _items(bounce, "bouncedRecipients"):
        address = clean_address(str(item.get("emailAddress", "")))
        if "@" not in address:
            continue
        diagnostic = str(item.get("diagnosticCode") or "")
        diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic else diagnostic
        status = find_status(str(item.get("status") or "")) or find_status(diagnostic) or default
        out.append(
            {"address": address, "action": "failed", "status": status, "diagnostic": diagnostic}
        )
    return out


def _delivered(delivery: Any) -> list[Recipient]:
    names = delivery.get("recipients") if isinstance(delivery, dict) else None
    answer = str(delivery.get("smtpResponse") or "") if isinstance(delivery, dict) else ""
    out: list[Recipient] = []
    for name in names if isinstance(names, list) else []:
        address = clean_address(str(name))
        if "@" in address:
            out.append(
                {"address": address, "action": "delivered", "status": "2.0.0", "diagnostic": answer}
            )
    return out


def _complaint(complaint: Any, mail: dict[str, Any]) -> dict[str, Any]:
    info = complaint if isinstance(complaint, dict) else {}
    rcpt = [
        clean_address(str(i.get("emailAddress", "")))
        for i in _items(info, "complainedRecipients")
        if "@" in str(i.get("emailAddress", ""))
    ]
    source = mail.get("source")
    return {
        "feedback_type": str(info.get("complaintFeedbackType") or "other").lower(),
        "user_agent": info.get("userAgent"),
        "version": None,
        "original_mail_from": clean_address(source) if isinstance(source, str) else None,
        "original_rcpt_to": rcpt[0] if rcpt else None,
        "original_rcpt_to_all": rcpt,
        "arrival_date": info.get("arrivalDate") or info.get("timestamp"),
        "source_ip": mail.get("sourceIp"),
        "reported_domain": None,
        "original_message_id": _message_id(mail),
    }


def _message_id(mail: dict[str, Any]) -> str | None:
    common = mail.get("commonHeaders")
    value = common.get("messageId") if isinstance(common, dict) else None
    if not value:
        for header in mail.get("headers") or []:
            if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
                value = header.get("value")
                break
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().strip("<>").strip() or None
