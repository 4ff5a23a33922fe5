"""Bounce parsing, the exact part: RFC 3464 / RFC 6533 delivery status notifications.

Exact first, heuristic second (STYLE.md practice 7):

* ``delivery_report`` finds every ``message/delivery-status`` or
  ``message/global-delivery-status`` part wherever it sits (not only under
  ``multipart/report``, RFC 6522), re-splitting a multipart whose boundary
  parameter does not match its body, and — when the outer mail comes from a
  mail daemon — inside an attached ``message/rfc822`` too (a relay that wraps
  the bounce it received). ``parse_report`` reads one dict per recipient group.
* ``mdn_rejection`` reads an RFC 3798 disposition notification that says the
  message was deleted unread, sent by a daemon: a rejection.
* The prose of non-standard bounces is read by ``prose_bounce``, and Amazon SES
  JSON notifications by ``provider_bounce``; this module keeps the helpers they share.

Each recipient is the contract object ``{"address", "action", "status",
"diagnostic"}``. ``address`` is the Original-Recipient when the report has one
(RFC 3464 §2.3.1: the address as *we* gave it, which is what our outbound
recipient row holds), otherwise the Final-Recipient.
"""

from __future__ import annotations

import binascii
import quopri
import re
import weakref
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailgate.core.prose_bounce import TextBounce

Recipient = dict[str, str]

# RFC 3463 §2: class.subject.detail; class is 2, 4 or 5.
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# RFC 5321 §4.2: a three-digit reply code at a word boundary.
_SMTP_CODE_RE = re.compile(r"(?<![\d.\-])([45][0-5]\d)(?:[ \-]|$)")
_ADDR_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Exchange writes X.400-style typed addresses ("SMTP=user@example.org", "smtp:…").
_TYPED_PREFIX_RE = re.compile(r"^(?:smtp|rfc822|rfc-822|x400)[=:]", re.I)
_ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}
# Action values seen in the wild besides RFC 3464 §2.3.3's five.
_ACTION_ALIASES = {
    "failure": "failed",
    "fail": "failed",
    "failed permanently": "failed",
    "undeliverable": "failed",
    "undelivered": "failed",
    "expired": "failed",  # the MTA gave up retrying: a failure, not a delay
    "bounced": "failed",
    "bounce": "failed",
    "rejected": "failed",
    "permanent": "failed",
    "delay": "delayed",
    "deferred": "delayed",
    "transient": "delayed",
    "warning": "delayed",
    "success": "delivered",
    "succeeded": "delivered",
    "sent": "delivered",
    "deliver": "delivered",
}
_STATUS_TYPES = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/delivery-status"}
)
# A Return-Path, From or Sender local part only mail daemons use.
_DAEMON_ADDR_RE = re.compile(
    r"^(?:mailer-?daemon|mail-?daemon|postmaster|mail\.delivery\.system|mail-delivery-system"
    r"|mail\.delivery\.subsystem|microsoftexchange[0-9a-f]{32})(?:@|$)",
    re.I,
)
# A daemon's display name, trusted only beside an empty or domain-less address.
_DAEMON_NAME_RE = re.compile(
    r"mailer[- ]?daemon|mail[- ]?delivery|delivery (?:sub)?system|postmaster|mail system"
    r"|courier mail server|mail server at"
    r"|mail administrator|system administrator|邮件系统|系统退信|退信",
    re.I,
)
_SENDER_HINT_RE = _DAEMON_ADDR_RE  # the name other modules used


def walk_shallow(msg: Message) -> list[Message]:
    """Every part of ``msg`` without descending into attached messages.

    A bounce carries the original mail as message/rfc822; that mail may itself
    be a report, and it must not be mistaken for the outer one. A multipart
    whose boundary parameter matches no line of its body is re-split on its
    first ``--`` line (the split ``core.parse`` recovers for the text).
    """
    out: list[Message] = [msg]
    if msg.get_content_maintype() == "multipart":
        for sub in children(msg):
            out.extend(walk_shallow(sub))
    return out


_RECOVERED: weakref.WeakKeyDictionary[Message, list[Message]] = weakref.WeakKeyDictionary()
_PARSER = BytesParser()
_DASH_LINE = re.compile(rb"^--([0-9A-Za-z'()+_,./:=? -]{1,70})\r?$", re.M)


def children(part: Message) -> list[Message]:
    """The sub-parts of a multipart, recovered when its boundary is wrong (cached per part)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if not isinstance(payload, str) or part.get_content_maintype() != "multipart":
        return []
    cached = _RECOVERED.get(part)
    if cached is not None:
        return cached
    data = payload.encode("utf-8", "surrogateescape")
    found = _DASH_LINE.search(data)
    subs: list[Message] = []
    if found is not None:
        boundary = found.group(1).rstrip(b" ").removesuffix(b"--")
        head = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
        parsed = _PARSER.parsebytes(head + data).get_payload()
        if isinstance(parsed, list):
            subs = [p for p in parsed if isinstance(p, Message)]
    _RECOVERED[part] = subs
    return subs


def find_report(msg: Message, report_type: str) -> Message | None:
    """The first multipart/report of ``report_type`` (RFC 6522 §3) in ``msg``."""
    for part in walk_shallow(msg):
        if part.get_content_type() == "multipart/report":
            rtype = str(part.get_param("report-type", "") or "").lower()
            if rtype == report_type:
                return part
    return None


def header_blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status or feedback-report body part.

    compat32 already splits message/delivery-status into blocks; other labels
    (text/delivery-status, message/global-delivery-status of RFC 6533) or a
    transfer-encoded body arrive as text and are split here on blank lines.
    """
    payload = part.get_payload()
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    plain = cte in ("", "7bit", "8bit", "binary")
    if isinstance(payload, list) and plain and part.get_content_type() == "message/delivery-status":
        return [b for b in payload if isinstance(b, Message)]
    if isinstance(payload, list) and not plain:
        # compat32 splits message/* bodies before undoing the transfer encoding
        # (RFC 2046 §5.2 forbids encoding them, some appliances do anyway).
        encoded = "\n".join(b.as_string() for b in payload if isinstance(b, Message))
        if cte == "base64":
            data = binascii.a2b_base64("".join(encoded.split()) + "==")
        else:
            data = quopri.decodestring(encoded.encode("ascii", "replace"))
        text = data.decode("utf-8", "replace")
    elif isinstance(payload, list):
        # Other message/* types were parsed as one message: its headers are the
        # first block and its body holds the rest.
        text = "\n\n".join(_block_text(b) for b in payload if isinstance(b, Message))
    else:
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    text = text.replace("\r\n", "\n")
    parser = HeaderParser()
    return [parser.parsestr(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text)]


def field_value(block: Message, name: str) -> str | None:
    """A field's value as text; raw UTF-8 (RFC 6533 global reports) decoded, not mangled.

    compat32 hands 8-bit values back as ``Header`` objects that lose the bytes,
    so the stored value is read and its surrogate-escaped bytes decoded.
    """
    for key, value in block.raw_items():
        if key.lower() == name.lower():
            return _unescape(str(value))
    return None


def _unescape(value: str) -> str:
    try:
        return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


def _block_text(block: Message) -> str:
    head = "".join(f"{k}: {_unescape(str(v))}\n" for k, v in block.raw_items())
    # decode=True returns the raw bytes; plain get_payload() would replace 8-bit ones.
    body = block.get_payload(decode=True)
    return head + "\n" + (body.decode("utf-8", "replace") if isinstance(body, bytes) else "")


def _typed_value(value: str | None) -> str:
    """Drop the RFC 3464 §2.1.2 address-type / diagnostic-type prefix ("rfc822;")."""
    if not value:
        return ""
    value = re.sub(r"\s+", " ", str(value)).strip()
    if ";" in value:
        value = value.split(";", 1)[1].strip()
    return value


def clean_address(value: str) -> str:
    """One address out of a field or a line: brackets, quotes and X.400 type prefixes gone."""
    value = value.strip().strip("<>").strip()
    found = _ADDR_RE.search(value)
    if not found:
        return value
    address = _TYPED_PREFIX_RE.sub("", found.group(0).strip(".'`"))
    return address.lstrip("'`")


_clean_address = clean_address


def find_status(text: str) -> str | None:
    """An RFC 3463 status code in ``text``, else one derived from an SMTP reply code."""
    found = _STATUS_RE.search(text)
    if found:
        return ".".join(found.groups())
    code = _SMTP_CODE_RE.search(text)
    if code:
        return f"{code.group(1)[0]}.0.0"
    return None


# A report that gives only a generic code (5.0.0, or a bare SMTP reply such as 550)
# usually says in words which RFC 3463 detail it means; readers (suppression, the
# console, bounce statistics) want that detail, so the wording is mapped to it.
# Checked in order: the first match wins (a disabled account before an unknown one).
_WORDING_DETAIL = [
    (
        r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|full)"
        r"|exceed(?:s|ed)? (?:the |its |their |his |her )?(?:storage|quota)"
        r"|insufficient (?:disk )?(?:space|storage)|mailbox size limit|邮箱(?:空间)?已满|空间不足",
        "2.2",
    ),
    (
        r"account(?: [\w'-]+){0,5} (?:has been |is )?(?:disabled|suspended|inactive|deactivated)"
        r"|(?:mailbox|user) (?:account )?(?:is |has been )?(?:disabled|inactive|suspended)",
        "2.1",
    ),
    (
        r"user unknown|unknown user|no such (?:user|recipient|mailbox|address|account)"
        r"|(?:recipient|address|user|mailbox|account)(?: [\w'-]+){0,5}"
        r" (?:does not|doesn't|no longer) exists?|not listed in .{0,30}directory"
        r"|(?:recipient|user|mailbox)(?: address)? (?:is )?(?:unknown|not found|invalid)"
        r"|invalid (?:recipient|mailbox|user)|unknown (?:recipient|mailbox|local[- ]part)"
        r"|address not found|mailbox not found|no mailbox here"
        r"|用户不存在|收件人不存在|地址不存在|帐户不存在|账户不存在",
        "1.1",
    ),
    (
        r"(?:host|domain)(?: name)? not found|no such domain|domain (?:does not|doesn't) exist"
        r"|unrouteable (?:mail )?domain|name service error|域名不存在",
        "1.2",
    ),
    (
        r"message (?:is )?too (?:large|big)|message size exceeds"
        r"|exceeds (?:the )?(?:maximum )?(?:allowed )?(?:message )?size|size limit exceeded",
        "3.4",
    ),
    (
        r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)"
        r"|not (?:permitted|allowed) to relay|unable to relay",
        "7.1",
    ),
    (
        r"retry time(?:out)? (?:not reached|exceeded)|delivery time expired|message expired"
        r"|too long in (?:the )?queue|could not be delivered (?:with)?in \d",
        "4.7",
    ),
    (r"mail(?:ing)? loop|too many hops|routing loop|loops back to myself", "4.6"),
]
_WORDING_RES = [(re.compile(pattern, re.IGNORECASE), detail) for pattern, detail in _WORDING_DETAIL]


def refine_status(status: str, text: str) -> str:
    """``status`` with its detail read from ``text`` when the code itself is generic (x.0.0)."""
    if not status.endswith(".0.0") or status[0] not in "45" or not text:
        return status
    for pattern, detail in _WORDING_RES:
        if pattern.search(text):
            return f"{status[0]}.{detail}"
    return status


def _status(field: str | None, diagnostic: str) -> str | None:
    """Status, unless it is the generic x.0.0 and the diagnostic has a specific code of its class.

    Many MTAs write ``Status: 5.0.0`` and the remote server's real answer
    (``550 5.1.1 …``) only in Diagnostic-Code.
    """
    status = find_status(field or "")
    specific = _STATUS_RE.search(diagnostic)
    if status is None:
        return find_status(diagnostic)
    if specific and status.endswith(".0.0") and specific.group(1) == status[0]:
        found = ".".join(specific.groups())
        if not found.endswith(".0.0"):
            return found
    return refine_status(status, diagnostic)


def _action(value: str | None, status: str | None, errors: list[str], who: str) -> str:
    word = re.sub(r"\s+", " ", (value or "").strip().lower()).split("(", 1)[0].strip()
    if word in _ACTIONS:
        return word
    if word in _ACTION_ALIASES:
        return _ACTION_ALIASES[word]
    if word.split(" ")[0] in _ACTIONS:
        return word.split(" ")[0]
    # No or an unknown Action: the status class says what happened (RFC 3463 §3.1).
    if word:
        errors.append(f"delivery-status: unknown action {word!r} for {who}")
    if status and status[0] == "2":
        return "delivered"
    if status and status[0] == "4" and not word:
        return "delayed"
    return "failed"


def _groups(block: Message) -> list[list[tuple[str, str]]]:
    """The recipient groups of one block: a new group starts at a second recipient field.

    RFC 3464 §2.1 separates the groups by blank lines; some MTAs forget them,
    and then one block holds two recipients.
    """
    groups: list[list[tuple[str, str]]] = [[]]
    for key, value in block.raw_items():
        name = key.lower()
        current = groups[-1]
        # A recipient field the group already has starts the next one (either order).
        if name in ("original-recipient", "final-recipient") and any(k == name for k, _ in current):
            groups.append([])
        groups[-1].append((name, _unescape(str(value))))
    return groups


def _get(group: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in group if k == name), None)


def parse_status_part(part: Message, errors: list[str]) -> list[Recipient]:
    """Per-recipient results of one delivery-status part; problems go to ``errors``."""
    recipients: list[Recipient] = []
    # RFC 3464 §2.1: the first block is per-message; every later block with a
    # Final-Recipient is per-recipient. Some MTAs omit the per-message block,
    # so test each group for Final-Recipient instead of skipping the first.
    for block in header_blocks(part):
        for group in _groups(block):
            final = _typed_value(_get(group, "final-recipient"))
            if not final:
                continue
            original = _typed_value(_get(group, "original-recipient"))
            diagnostic = _typed_value(_get(group, "diagnostic-code"))
            status = _status(_get(group, "status"), diagnostic)
            action = _action(_get(group, "action"), status, errors, final)
            if status is None:
                status = {"failed": "5.0.0", "delayed": "4.0.0"}.get(action, "2.0.0")
            recipients.append(
                {
                    "address": clean_address(original or final),
                    "action": action,
                    "status": status,
                    "diagnostic": diagnostic,
                }
            )
    return recipients


def parse_report(report: Message, errors: list[str]) -> list[Recipient]:
    """Per-recipient results of every delivery-status part in ``report``."""
    parts = status_parts(report)
    if not parts:
        errors.append("delivery-status report without a delivery-status part")
        return []
    recipients: list[Recipient] = []
    for part in parts:
        recipients.extend(parse_status_part(part, errors))
    if not recipients:
        errors.append("delivery-status report without per-recipient fields")
    return recipients


def status_parts(msg: Message) -> list[Message]:
    """Every delivery-status part of ``msg``, wherever it sits (not in attached mail)."""
    return [p for p in walk_shallow(msg) if p.get_content_type() in _STATUS_TYPES]


def attached_messages(msg: Message) -> list[Message]:
    """The messages attached to ``msg`` as message/rfc822 or message/global."""
    out: list[Message] = []
    for part in walk_shallow(msg):
        if part.get_content_type() in ("message/rfc822", "message/global"):
            payload: Any = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                out.append(payload[0])
    return out


def delivery_report(msg: Message, errors: list[str]) -> tuple[Message, list[Recipient]] | None:
    """The RFC 3464 report in ``msg``: (the message holding it, its recipients), or None.

    None when nothing claims to be a report. An empty list when something does
    (a multipart/report of type delivery-status, or a status part) but names no
    recipient: the caller then reads the prose instead.
    """
    holder = msg
    parts = status_parts(msg)
    if not parts and sender_hint(msg):
        # A daemon that wraps the bounce it received (a relay, a forwarding
        # service) attaches it whole; the report inside is the one to read.
        for inner in attached_messages(msg):
            if status_parts(inner):
                holder, parts = inner, status_parts(inner)
                break
    if not parts:
        if find_report(msg, "delivery-status") is None:
            return None
        errors.append("delivery-status report without a delivery-status part")
        return holder, []
    recipients: list[Recipient] = []
    seen: set[tuple[str, str]] = set()
    for part in parts:
        for rcpt in parse_status_part(part, errors):
            key = (rcpt["address"].lower(), rcpt["action"])
            if key not in seen:
                seen.add(key)
                recipients.append(rcpt)
    if not recipients:
        errors.append("delivery-status report without per-recipient fields")
    return holder, recipients


# --- RFC 3798 / 8098 disposition notifications ------------------------------------


_MDN_TYPES = ("message/disposition-notification", "message/global-disposition-notification")


def mdn_rejection(report: Message, msg: Message) -> list[Recipient] | None:
    """A daemon's MDN saying the message was deleted (RFC 3798 §3.2.6): the recipients it refused.

    A person's "deleted without being read" is their business (an auto-reply);
    the same notice from a mail daemon is a server rule refusing the mail.
    """
    if not sender_hint(msg):
        return None
    for part in walk_shallow(report):
        if part.get_content_type() not in _MDN_TYPES:
            continue
        blocks = header_blocks(part)
        fields = blocks[0] if blocks else Message()
        disposition = re.sub(r"\s+", " ", field_value(fields, "Disposition") or "").strip()
        if not re.search(r";\s*deleted\b", disposition, re.I):
            return None
        who = _typed_value(field_value(fields, "Original-Recipient")) or _typed_value(
            field_value(fields, "Final-Recipient")
        )
        if not who:
            return []
        return [
            {
                "address": clean_address(who),
                "action": "failed",
                "status": "5.0.0",
                "diagnostic": f"Disposition: {disposition}",
            }
        ]
    return None


# --- senders -------------------------------------------------------------------------


def sender_hint(msg: Message) -> bool:
    """Null reverse-path (RFC 5321 §4.5.5) or a daemon From/Sender: a hint, never proof.

    Hints: a Return-Path of ``<>`` or a daemon; a From or Sender whose address
    is ``MAILER-DAEMON@…``, ``postmaster@…``, ``Mail.Delivery.System@…`` or
    Exchange's ``MicrosoftExchange<hex>@…``; a daemon display name with an empty
    or domain-less address (``Mail Delivery System <>``); an ``X-Failed-Recipients``
    field (Exim writes it on bounces only).
    """
    cached = _HINTS.get(msg)
    if cached is None:
        cached = _HINTS[msg] = _sender_hint(msg)
    return cached


_HINTS: weakref.WeakKeyDictionary[Message, bool] = weakref.WeakKeyDictionary()


def _sender_hint(msg: Message) -> bool:
    for value in msg.get_all("Return-Path", []):
        path = str(value).strip()
        if path in ("<>", "", "<MAILER-DAEMON>") or _DAEMON_ADDR_RE.match(path.strip("<>")):
            return True
    if msg.get("X-Failed-Recipients") is not None:
        return True
    return daemon_sender(msg)


def daemon_sender(msg: Message) -> bool:
    """From or Sender is a mail daemon (by its address, or by its name when it has none)."""
    for value in msg.get_all("From", []) + msg.get_all("Sender", []):
        field = str(value)
        if "@" not in field or not _ADDR_RE.search(field):
            # "Mail Delivery System <>", a bare "MAILER-DAEMON", Courier's "<@>": a name only.
            if _DAEMON_NAME_RE.search(field):
                return True
            continue
        # The address pattern, not getaddresses: this runs on every message.
        if any(_DAEMON_ADDR_RE.match(m.group(0)) for m in _ADDR_RE.finditer(field)):
            return True
    return False


def failed_recipients_field(msg: Message) -> list[str]:
    """The addresses of ``X-Failed-Recipients`` (Exim, also Gmail): the recipient list."""
    out: list[str] = []
    for value in msg.get_all("X-Failed-Recipients", []):
        for _, address in getaddresses([str(value)]):
            address = clean_address(address)
            if "@" in address and address.lower() not in {a.lower() for a in out}:
                out.append(address)
    return out


# --- the returned original --------------------------------------------------------


def headers_message_id(headers_text: str) -> str | None:
    """The Message-ID in a block of header text (an inline copy of the original)."""
    found = re.search(r"^Message-ID:[ \t]*(?:\r?\n[ \t]+)?<([^>\s]+)>", headers_text, re.I | re.M)
    return found.group(1) if found else None


def attached_original(msg: Message) -> tuple[str | None, Message | None]:
    """Message-ID and headers of the returned original (message/rfc822 or rfc822-headers)."""
    cached = _ORIGINALS.get(msg)
    if cached is None:
        cached = _ORIGINALS[msg] = _attached_original(msg)
    return cached


_ORIGINALS: weakref.WeakKeyDictionary[Message, tuple[str | None, Message | None]] = (
    weakref.WeakKeyDictionary()
)


def _attached_original(msg: Message) -> tuple[str | None, Message | None]:
    for part in walk_shallow(msg):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload: Any = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                if not status_parts(msg) and status_parts(inner) and sender_hint(msg):
                    # A daemon wrapping the bounce it got: the original is the inner one's.
                    return _attached_original(inner)
                return _msgid(inner.get("Message-ID")), inner
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            inner = HeaderParser().parsestr(text.replace("\r\n", "\n"))
            return _msgid(inner.get("Message-ID")), inner
    return None, None


def _msgid(value: object) -> str | None:
    if value is None:
        return None
    found = re.search(r"<([^>\s]+)>", str(value))
    if found:
        return found.group(1)
    text = str(value).strip()
    return text or None


def text_bounce(msg: Message, text: str, subject: str) -> TextBounce | None:
    """The prose reader (``prose_bounce.text_bounce``), under the name callers know."""
    from mailgate.core import prose_bounce  # it imports this module's helpers

    return prose_bounce.text_bounce(msg, text, subject)
