"""Bounce parsing: RFC 3464 delivery status notifications first, vendor text second.

Exact first, heuristic second (STYLE.md practice 7):

* ``parse_report`` reads a ``multipart/report; report-type=delivery-status``
  (RFC 6522 container, RFC 3464 body): one dict per per-recipient block.
* ``text_bounce`` recognises the non-standard bounces still common in the wild
  (qmail, Exim, Postfix without DSN, Exchange NDR text, Gmail, QQ Mail, NetEase)
  by their fixed wording, then pulls recipients and status codes out of the prose.

Each recipient is the contract object ``{"address", "action", "status",
"diagnostic"}``. ``address`` is the Original-Recipient when the report has one
(RFC 3464 §2.3.1: the address as *we* gave it, which is what our outbound
recipient row holds), otherwise the Final-Recipient.
"""

from __future__ import annotations

import binascii
import functools
import itertools
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from typing import Any

Recipient = dict[str, str]

# RFC 3463 §2: class.subject.detail; class is 2, 4 or 5.
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# RFC 5321 §4.2: a three-digit reply code at a word boundary.
_SMTP_CODE_RE = re.compile(r"(?<![\d.\-])([45][0-5]\d)(?:[ \-]|$)")
_ADDR_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_ACTIONS = {"failed", "delayed", "delivered", "relayed", "expanded"}


def walk_shallow(msg: Message) -> list[Message]:
    """Every part of ``msg`` without descending into attached messages.

    A bounce carries the original mail as message/rfc822; that mail may itself
    be a report, and it must not be mistaken for the outer one.
    """
    out: list[Message] = [msg]
    if msg.get_content_maintype() == "multipart":
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    out.extend(walk_shallow(sub))
    return out


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


def _clean_address(value: str) -> str:
    value = value.strip().strip("<>").strip()
    found = _ADDR_RE.search(value)
    return found.group(0) if found else value


def find_status(text: str) -> str | None:
    """An RFC 3463 status code in ``text``, else one derived from an SMTP reply code."""
    found = _STATUS_RE.search(text)
    if found:
        return ".".join(found.groups())
    code = _SMTP_CODE_RE.search(text)
    if code:
        return f"{code.group(1)[0]}.0.0"
    return None


def parse_report(report: Message, errors: list[str]) -> list[Recipient]:
    """Per-recipient results of an RFC 3464 report; problems go to ``errors``."""
    status_part = None
    for part in walk_shallow(report):
        if part.get_content_type() in (
            "message/delivery-status",
            "message/global-delivery-status",
            "text/delivery-status",
        ):
            status_part = part
            break
    if status_part is None:
        errors.append("delivery-status report without a delivery-status part")
        return []
    blocks = header_blocks(status_part)
    recipients: list[Recipient] = []
    # RFC 3464 §2.1: the first block is per-message; every later block with a
    # Final-Recipient is per-recipient. Some MTAs omit the per-message block,
    # so test each block for Final-Recipient instead of skipping the first.
    for block in blocks:
        final = _typed_value(field_value(block, "Final-Recipient"))
        if not final:
            continue
        original = _typed_value(field_value(block, "Original-Recipient"))
        action = (
            _typed_value(field_value(block, "Action")).lower().split(" ")[0]
            if field_value(block, "Action")
            else ""
        )
        if action not in _ACTIONS:
            errors.append(f"delivery-status: unknown action {action!r} for {final}")
        diagnostic = _typed_value(field_value(block, "Diagnostic-Code"))
        status = find_status(field_value(block, "Status") or "") or find_status(diagnostic)
        if status is None:
            status = {"failed": "5.0.0", "delayed": "4.0.0"}.get(action, "2.0.0")
        recipients.append(
            {
                "address": _clean_address(original or final),
                "action": action or "failed",
                "status": status,
                "diagnostic": diagnostic,
            }
        )
    if not recipients:
        errors.append("delivery-status report without per-recipient fields")
    return recipients


def headers_message_id(headers_text: str) -> str | None:
    """The Message-ID in a block of header text (an inline copy of the original)."""
    found = re.search(r"^Message-ID:[ \t]*(?:\r?\n[ \t]+)?<([^>\s]+)>", headers_text, re.I | re.M)
    return found.group(1) if found else None


def attached_original(msg: Message) -> tuple[str | None, Message | None]:
    """Message-ID and headers of the returned original (message/rfc822 or rfc822-headers)."""
    for part in walk_shallow(msg):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload: Any = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
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


# --- vendor text bounces --------------------------------------------------


@dataclass
class TextBounce:
    """What the prose of a non-RFC 3464 bounce says."""

    vendor: str
    recipients: list[Recipient] = field(default_factory=list)
    original_message_id: str | None = None


# Fixed wording each MTA writes; a match is strong evidence on its own.
_VENDORS: list[tuple[str, re.Pattern[str]]] = [
    ("qmail", re.compile(r"This is the qmail-send program", re.I)),
    ("exim", re.compile(r"This message was created automatically by mail delivery software", re.I)),
    ("postfix", re.compile(r"I'm sorry to have to inform you that your message could not", re.I)),
    ("postfix", re.compile(r"This is the mail system at host", re.I)),
    ("exchange", re.compile(r"Delivery has failed to these recipients or groups", re.I)),
    ("exchange", re.compile(r"Your message to \S+ couldn't be delivered", re.I)),
    (
        "exchange",
        re.compile(r"Your message did not reach some or all of the intended recipients", re.I),
    ),
    (
        "gmail",
        re.compile(r"Delivery to the following recipients? (?:failed|has been delayed)", re.I),
    ),
    ("gmail", re.compile(r"Your message wasn't delivered to", re.I)),
    ("gmail", re.compile(r"\*\* (?:Address not found|Message not delivered|Message blocked) \*\*")),
    ("qq", re.compile(r"很抱歉您发送的邮件被退回")),
    ("netease", re.compile(r"您发送的邮件.{0,20}未能成功投递")),
    ("generic", re.compile(r"系统退信|投递失败|无法发送到|退信原因")),
    ("generic", re.compile(r"Undelivered Mail Returned to Sender|Mail delivery failed", re.I)),
]
# Wording that marks a delay warning: the MTA is still trying (RFC 3464 "delayed").
_DELAY_RE = re.compile(
    r"THIS IS A WARNING ONLY|has not yet been delivered|has been delayed|not delivered yet"
    r"|will (?:continue to )?(?:be )?retr|Delivery attempts will continue|延迟投递|仍在重试",
    re.I,
)
# Success notices written as prose (RFC 3461 NOTIFY=SUCCESS without a report part).
_SUCCESS_RE = re.compile(
    r"successfully delivered|delivery to the following recipients? (?:was )?(?:completed|succeeded)"
    r"|已成功投递|投递成功",
    re.I,
)
# Where the returned copy of the original starts: addresses below it are not recipients.
_COPY_RE = re.compile(
    r"^.*(?:Below this line is a copy of the message|This is a copy of the message"
    r"|Original message headers|-----\s*Original message\s*-----|Content-Description: Undelivered"
    r"|^Received: |^Return-Path: |原邮件信息|原始邮件头).*$",
    re.I | re.M,
)
_FORWARD_RE = re.compile(r"^\s*(?:fwd?|wg|tr|转发|轉寄)\s*[:：]", re.I)
_SENDER_HINT_RE = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_SUBJECT_HINT_RE = re.compile(
    r"undeliver|delivery status notification|returned mail|mail delivery fail|failure notice"
    r"|delivery failure|non[- ]?delivery|退信|投递失败|未能投递|发送失败",
    re.I,
)


# Speed only: a case-insensitive vendor pattern can match only where its leading words
# are in the lower-cased text. These are the non-ASCII characters re.IGNORECASE takes
# for ASCII letters, so lower-casing after this mapping misses no match.
_FOLD_TO_ASCII = str.maketrans({"\u0130": "i", "\u0131": "i", "\u212a": "k", "\u017f": "s"})
_LITERAL = re.compile(r"[A-Za-z0-9 ',:-]*")


@functools.lru_cache(maxsize=64)
def _needles(rx: re.Pattern[str]) -> tuple[str, ...]:
    """Lower-cased words one of which starts every match of ``rx``; () when unknown."""
    pattern = rx.pattern
    if rx.flags & re.X or not rx.flags & re.I or "[" in pattern or "\\\\" in pattern:
        return ()  # only plain patterns, where counting parentheses finds the groups
    cuts, depth = [-1], 0
    for i, char in enumerate(pattern):
        if i and pattern[i - 1] == "\\":
            continue
        depth += (char == "(") - (char == ")")
        if char == "|" and depth == 0:
            cuts.append(i)  # an alternative at the top: each has its own start
    cuts.append(len(pattern))
    needles = []
    for begin, stop in itertools.pairwise(cuts):
        branch = pattern[begin + 1 : stop]
        words = _LITERAL.match(branch)
        literal = words.group(0) if words else ""
        if branch[len(literal) : len(literal) + 1] in ("?", "*", "+", "{"):
            literal = literal[:-1]  # the quantifier applies to the last character
        if len(literal) < 4:
            return ()
        needles.append(literal.lower())
    return tuple(needles)


def _may_match(rx: re.Pattern[str], folded: str) -> bool:
    needles = _needles(rx)
    return not needles or any(n in folded for n in needles)


def sender_hint(msg: Message) -> bool:
    """Null reverse-path (RFC 5321 §4.5.5) or a daemon From: a hint, never proof."""
    return_path = str(msg.get("Return-Path", "")).strip()
    if return_path in ("<>", "<MAILER-DAEMON>"):
        return True
    addrs = getaddresses([str(v) for v in msg.get_all("From", [])])
    return any(_SENDER_HINT_RE.match(a) for _, a in addrs)


def text_bounce(msg: Message, text: str, subject: str) -> TextBounce | None:
    """Recognise a bounce written as prose; None when nothing says it is one."""
    if _FORWARD_RE.match(subject) and not sender_hint(msg):
        # A person forwarding a bounce to us ("FW: Undeliverable: …") is not one.
        return None
    folded = (text if text.isascii() else text.translate(_FOLD_TO_ASCII)).lower()
    vendor = next(
        (name for name, rx in _VENDORS if _may_match(rx, folded) and rx.search(text)), None
    )
    if vendor is None and not (_SUBJECT_HINT_RE.search(subject) and sender_hint(msg)):
        return None
    if vendor == "generic" and not sender_hint(msg):
        # Generic wording ("投递失败", "Mail delivery failed") also appears in
        # ordinary mail about a bounce; only a daemon or null sender confirms it.
        return None
    copy = _COPY_RE.search(text)
    report = text[: copy.start()] if copy else text
    if _SUCCESS_RE.search(report):
        action = "delivered"
    elif _DELAY_RE.search(report):
        action = "delayed"
    else:
        action = "failed"
    own = {a.lower() for _, a in getaddresses([str(v) for v in msg.get_all("From", [])])}
    own |= {a.lower() for _, a in getaddresses([str(v) for v in msg.get_all("To", [])])}
    result = TextBounce(vendor=vendor or "generic")
    lines = report.splitlines()
    seen: set[str] = set()
    for i, line in enumerate(lines):
        for found in _ADDR_RE.finditer(line):
            address = found.group(0).strip(".")
            key = address.lower()
            if key in seen or key in own or _SENDER_HINT_RE.match(address):
                continue
            seen.add(key)
            window = _window(lines, i, key, own)
            status = find_status(line[found.end() :]) or find_status("\n".join(window))
            result.recipients.append(
                {
                    "address": address,
                    "action": action,
                    "status": status or "",
                    "diagnostic": _diagnostic(window),
                }
            )
    # Exchange prints the status far below the address ("Diagnostic information
    # for administrators"); with one recipient, a code anywhere is its code.
    for rcpt in result.recipients:
        if not rcpt["status"] and len(result.recipients) == 1:
            rcpt["status"] = find_status(report) or ""
            rcpt["diagnostic"] = rcpt["diagnostic"] or _diagnostic(lines)
        if not rcpt["status"]:
            rcpt["status"] = {"delayed": "4.0.0", "delivered": "2.0.0"}.get(action, "5.0.0")
    if copy:
        result.original_message_id = headers_message_id(text[copy.start() :])
    return result


def _window(lines: list[str], start: int, key: str, own: set[str]) -> list[str]:
    """Up to 8 lines from ``start``, ending before a line that names another recipient."""
    out = [lines[start]]
    for line in lines[start + 1 : start + 8]:
        others = {m.group(0).strip(".").lower() for m in _ADDR_RE.finditer(line)} - own - {key}
        if others:
            break
        out.append(line)
    return out


def _diagnostic(lines: list[str]) -> str:
    """The first line in ``lines`` that carries an SMTP reply or status code."""
    for line in lines:
        if _STATUS_RE.search(line) or _SMTP_CODE_RE.search(line):
            return re.sub(r"\s+", " ", line).strip()
    return ""
