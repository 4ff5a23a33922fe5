"""Turn a validated :class:`Draft` into the bytes that go on the wire.

Why bytes by hand: ``email.message.EmailMessage`` with ``policy.default`` re-parses
every header each time it is set or read, and its generator folds through the header
parser again; ``email.mime`` with ``compat32`` is cheaper but still walks the object
tree and folds with ``email.header.Header``. Measured by ``benchmarks/compose.py``,
this writer is more than ten times faster than ``policy.default`` on a 5 KB message.
It uses the stdlib encoders (``binascii`` base64 and quoted-printable) and writes
only the handful of MIME structures mailgate needs (RFC 2045, RFC 2046, RFC 2387).
The tests read every message back with ``policy.default`` to prove it is correct.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from mailgate.core.addresses import address_tokens, ascii_domain
from mailgate.core.headers import (
    LINE,
    caller_headers,
    check_header,
    encode_words,
    fold,
    free_text,
    unstructured,
)
from mailgate.core.message import Address, Attachment, Draft
from mailgate.errors import InvalidInput

_ASCII = bytes(range(128))
# RFC 2045 §5.1: type "/" subtype, both tokens (no tspecials, spaces or controls).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}\Z")
# RFC 2231 §7 attribute-char: safe bare in an extended parameter value.
_ATTR_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~")
_MAX_LINE = 998  # RFC 5322 §2.1.1 and RFC 5321 §4.5.3.1.6.

Part = tuple[str, bytes]  # a MIME entity: header lines (each ending CRLF) and body


@dataclass(frozen=True, slots=True)
class Composed:
    """A composed message: the bytes to send, its Message-ID, and its header block."""

    raw: bytes
    message_id: str
    headers: str


def _normalize(text: str) -> bytes:
    # RFC 2046 §4.1.1: the canonical form of text has CRLF line breaks, whatever the caller used.
    return text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")


def _b64(data: bytes) -> bytes:
    # RFC 2045 §6.8: base64 lines of at most 76 characters.
    step = 57  # 57 bytes become 76 characters
    return b"\r\n".join(
        binascii.b2a_base64(data[i : i + step], newline=False) for i in range(0, len(data), step)
    )


def _text_part(text: str, subtype: str) -> Part:
    """A text part, choosing 7bit, quoted-printable or base64 by its content (RFC 2045 §6)."""
    data = _normalize(text)
    longest = max(map(len, data.split(b"\n"))) if len(data) > _MAX_LINE else len(data)
    if data.isascii() and longest <= _MAX_LINE and b"\0" not in data:
        cte, body = "7bit", data.replace(b"\n", b"\r\n")
    elif len(data.translate(None, _ASCII)) * 6 <= len(data):
        # Mostly ASCII: quoted-printable keeps it readable and is the shorter encoding.
        cte, body = "quoted-printable", binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    else:
        # CJK and other non-Latin text: base64 is a third longer, quoted-printable triple.
        cte, body = "base64", _b64(data.replace(b"\n", b"\r\n"))
    head = f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n"
    return head, body


def _plain_param(value: str) -> bool:
    return (
        value.isascii()
        and value.isprintable()
        and value == value.strip()
        and not any(c in value for c in '"\\')
        and "=?" not in value
        and len(value) <= 60
    )


def _rfc2231(attr: str, value: str) -> list[str]:
    """``attr*=utf-8''…`` with continuations (RFC 2231 §3, §4) that never split a character."""
    pieces: list[str] = []
    current = ""
    for ch in value:
        enc = ch if ch in _ATTR_SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
        if current and len(current) + len(enc) > 48:
            pieces.append(current)
            current = ""
        current += enc
    pieces.append(current)
    if len(pieces) == 1:
        return [f"{attr}*=utf-8''{pieces[0]}"]
    first = f"{attr}*0*=utf-8''{pieces[0]}"
    return [first, *(f"{attr}*{i}*={p}" for i, p in enumerate(pieces[1:], 1))]


def _field(name: str, value: str, params: list[str]) -> str:
    tokens = [value, *params]
    return fold(name, [t + ";" for t in tokens[:-1]] + tokens[-1:])


def _mime_type(value: str) -> str:
    ctype = value.partition(";")[0].strip().lower()
    return ctype if _MIME_TYPE.match(ctype) else "application/octet-stream"


def _attachment_part(att: Attachment, index: int) -> Part:
    """A base64 attachment with both RFC 2231 and RFC 2047 file names (see below)."""
    ctype = _mime_type(att.content_type)
    type_params: list[str] = []
    disp_params: list[str] = []
    if att.filename and _plain_param(att.filename):
        type_params.append(f'name="{att.filename}"')
        disp_params.append(f'filename="{att.filename}"')
    elif att.filename:
        # RFC 2231 is the standard; Outlook and Foxmail before 2013 read only an
        # RFC 2047 word in Content-Type's name=, so both are written (RFC 2047 §5 forbids
        # that use, but every reader accepts it and Python reads the RFC 2231 form first).
        words = encode_words(att.filename, LINE - 8)
        words[0] = 'name="' + words[0]
        words[-1] += '"'
        type_params.extend(words)
        disp_params.extend(_rfc2231("filename", att.filename))
    disposition = "inline" if att.inline else "attachment"
    data, cte = att.data, "base64"
    if ctype == "message/rfc822":
        # RFC 2046 §5.2.1: a message/rfc822 part may not be base64 encoded.
        data = att.data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        longest = max(map(len, data.split(b"\n")), default=0)
        if longest <= _MAX_LINE and b"\0" not in data:
            cte = "7bit" if data.isascii() else "8bit"
            data = data.replace(b"\n", b"\r\n")
        else:
            ctype, data = "application/octet-stream", att.data
    # The words of name= stay inside one quoted string, folded between words (RFC 5322
    # §3.2.4 allows FWS in a quoted string), so only the type itself ends with ";".
    type_field = fold("Content-Type", [ctype + ";", *type_params] if type_params else [ctype])
    head = (
        type_field
        + f"Content-Transfer-Encoding: {cte}\r\n"
        + _field("Content-Disposition", disposition, disp_params)
    )
    if att.content_id:
        cid = att.content_id.strip().strip("<>")
        check_header("Content-ID", cid, field=f"attachments[{index}].content_id")
        head += f"Content-ID: <{cid}>\r\n"
    return head, _b64(data) if cte == "base64" else data


def _render(part: Part) -> bytes:
    return part[0].encode("utf-8") + b"\r\n" + part[1]


def _multipart(subtype: str, parts: list[Part], extra: str = "") -> Part:
    """A multipart entity (RFC 2046 §5.1.1) whose boundary occurs in no part."""
    rendered = [_render(p) for p in parts]
    while True:
        # "=_" never occurs in base64 or quoted-printable output; the check covers the rest.
        boundary = "=_mg_" + secrets.token_hex(12)
        mark = boundary.encode("ascii")
        if not any(mark in r for r in rendered):
            break
    delim = b"--" + mark
    body = b"".join(delim + b"\r\n" + r + b"\r\n" for r in rendered) + delim + b"--\r\n"
    head = f'Content-Type: multipart/{subtype};{extra}\r\n boundary="{boundary}"\r\n'
    return head, body


def _body(draft: Draft) -> Part:
    inline = [a for a in draft.attachments if a.inline and a.content_id and draft.html is not None]
    files = [a for a in draft.attachments if not any(a is b for b in inline)]
    html: Part | None = None
    if draft.html is not None:
        html = _text_part(draft.html, "html")
        if inline:
            # RFC 2387: the HTML and the images it names by cid: form one related entity.
            index = {id(a): i for i, a in enumerate(draft.attachments)}
            images = [_attachment_part(a, index[id(a)]) for a in inline]
            html = _multipart("related", [html, *images], ' type="text/html";')
    if html is not None and draft.text is not None:
        # RFC 2046 §5.1.4: the plainest alternative first, the preferred one last.
        main = _multipart("alternative", [_text_part(draft.text, "plain"), html])
    elif html is not None:
        main = html
    else:
        main = _text_part(draft.text or "", "plain")
    if not files:
        return main
    parts = [main]
    for i, att in enumerate(draft.attachments):
        if any(att is f for f in files):
            parts.append(_attachment_part(att, i))
    return _multipart("mixed", parts)


def _addresses(name: str, addresses: list[Address]) -> str:
    tokens: list[str] = []
    for i, a in enumerate(addresses):
        toks = address_tokens(a)
        if i < len(addresses) - 1:
            toks[-1] += ","
        tokens.extend(toks)
    return fold(name, tokens)


def _msg_id(value: str, field: str) -> str:
    """A msg-id without brackets (RFC 5322 §3.6.4): no spaces, no line breaks."""
    mid = value.strip().removeprefix("<").removesuffix(">")
    check_header("Message-ID", mid, field=field)
    if not mid or len(mid) > 900 or any(c.isspace() or c in "<>" for c in mid):
        raise InvalidInput(f"{mid!r} is not a valid message id", field=field)
    return mid


def compose(draft: Draft, *, domain: str, date: datetime | None = None) -> Composed:
    """Compose ``draft`` into a complete RFC 5322 message with CRLF line ends."""
    extra = caller_headers(draft.headers)
    check_header("Subject", draft.subject, field="subject")
    if draft.message_id:
        message_id = _msg_id(draft.message_id, "message_id")
    else:
        # The Message-ID lives on the sending domain (RFC 5322 §3.6.4 asks for a
        # domain the sender controls); 128 random bits make it unique.
        message_id = f"{secrets.token_hex(16)}@{ascii_domain(domain) or domain}"
    when = date if date is not None else datetime.now(UTC)
    lines = [
        f"Date: {format_datetime(when)}\r\n",
        _addresses("From", [draft.from_]),
    ]
    if draft.sender is not None:
        lines.append(_addresses("Sender", [draft.sender]))
    if draft.to:
        lines.append(_addresses("To", draft.to))
    if draft.cc:
        lines.append(_addresses("Cc", draft.cc))
    # Bcc is never written: RFC 5322 §3.6.3 lets it go, and any copy would leak it.
    if draft.reply_to:
        lines.append(_addresses("Reply-To", draft.reply_to))
    lines.append(unstructured("Subject", draft.subject))
    lines.append(f"Message-ID: <{message_id}>\r\n")
    if draft.in_reply_to:
        lines.append(f"In-Reply-To: <{_msg_id(draft.in_reply_to, 'in_reply_to')}>\r\n")
    if draft.references:
        refs = [f"<{_msg_id(r, f'references[{i}]')}>" for i, r in enumerate(draft.references)]
        lines.append(fold("References", refs))
    lines.append("MIME-Version: 1.0\r\n")
    lines.extend(free_text(name, value) for name, value in extra.items())
    if draft.auto_submitted:
        present = {n.lower() for n in extra}
        # RFC 3834 §5: automatic mail says so, so that responders stay silent; the
        # Microsoft header asks Exchange not to send out-of-office replies either.
        if "auto-submitted" not in present:
            lines.append("Auto-Submitted: auto-generated\r\n")
        if "x-auto-response-suppress" not in present:
            lines.append("X-Auto-Response-Suppress: All\r\n")
    head, body = _body(draft)
    headers = "".join(lines) + head
    raw = headers.encode("utf-8") + b"\r\n" + body
    return Composed(raw=raw, message_id=message_id, headers=headers)
