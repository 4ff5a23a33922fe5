"""Parse received mail into the ``mailgate parse`` contract (see DESIGN.md, "Contracts").

``parse_message(raw)`` never raises: whatever goes wrong becomes a string in
``errors`` and parsing goes on with what it has. How text was read when its
labels did not say (a charset fallback that decoded every byte) is a note in
``warnings``, not a defect. The conventions are in docs/parsing.md.

Speed: the stdlib's ``email.policy.default`` re-parses every header each time it
is read; we parse with ``compat32`` (5–10× faster) and decode headers ourselves
(``charsets``), once each, with the charset fallbacks real mail needs.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import InvalidBase64LengthDefect, MissingHeaderBodySeparatorDefect
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from mailgate.core import charsets, mime
from mailgate.core.classify import Classification, classify
from mailgate.core.htmltext import html_to_text
from mailgate.core.message import Address, Attachment
from mailgate.core.quotes import extract_reply
from mailgate.core.tnef import tnef_files

JSON_KEYS = (
    "message_id", "in_reply_to", "references", "date", "from", "sender", "reply_to", "to",
    "cc", "subject", "text", "html", "reply_text", "attachments", "kind", "bounce", "errors",
    "warnings",
)  # fmt: skip
KINDS = frozenset({"normal", "auto_reply", "bounce", "complaint"})
MAX_DEPTH = 30  # MIME nesting deeper than this is an attack or a loop, not mail

_PARSER = BytesParser(policy=compat32)
_MSG_ID = re.compile(r"<([^<>]*)>")
_NEWLINES = re.compile(r"\r\n?")
_UU_BLOCK = re.compile(r"^begin [0-7]{3,4} ([^\n]+)\n(.*?)^end[ \t]*$\n?", re.M | re.S)
_ADDR_SPEC = r"[^\s<>()\[\],;:\"\\@]+@[^\s<>()\[\],;:\"\\@]+"
# The common shapes of a mailbox (RFC 5322 §3.4): addr, Name <addr>, "Name" <addr>.
# A header made only of these skips the slower full parser in email.utils.
_SIMPLE_MAILBOX = re.compile(
    rf"""[ \t]*(?:
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<plain>[^",<>()@;:\\\[\]]*?))
        [ \t]*<(?P<routed>{_ADDR_SPEC})>
        |(?P<bare>{_ADDR_SPEC})
    )[ \t]*(?:,|$)""",
    re.X,
)
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_QUOTED_PAIR = re.compile(r"\\(.)")
# RFC 5322 §2.2: a field name is printable US-ASCII except ":" (and so without spaces).
_FIELD_LINE = re.compile(rb"[!-9;-~]+:")
_WORD_LABEL = re.compile(r"=\?([^?\s*]+)(?:\*[^?]*)?\?[QqBb]\?")
_VALID_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+")
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
_EXT_TYPES = {
    "pdf": "application/pdf", "txt": "text/plain", "html": "text/html", "htm": "text/html",
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff", "zip": "application/zip",
    "doc": "application/msword", "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint", "csv": "text/csv", "rtf": "application/rtf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "ics": "text/calendar", "eml": "message/rfc822", "xml": "application/xml",
    "json": "application/json", "mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4",
    "dat": "application/ms-tnef",
}  # fmt: skip
_TYPE_EXTS = {ctype: ext for ext, ctype in reversed(_EXT_TYPES.items())}
for _report in (
    "delivery-status",
    "global-delivery-status",
    "disposition-notification",
    "global-disposition-notification",
    "feedback-report",
):
    _TYPE_EXTS[f"message/{_report}"] = "txt"
_TYPE_EXTS["text/rfc822-headers"] = "txt"


@dataclass(slots=True, eq=False)
class ParsedMessage:
    """One received message, decoded: the contract fields plus what the pipeline needs.

    ``raw`` is the ``compat32`` message tree; ``attachments`` carry their bytes;
    ``list_headers`` maps lower-case ``list-*`` header names to decoded values.
    """

    raw: Message
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    date: datetime | None = None
    from_: list[Address] = field(default_factory=list)
    sender: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str | None = None
    reply_text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    kind: str = "normal"
    bounce: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    #: Notes on how text was read (charset fallbacks that decoded every byte).
    warnings: list[str] = field(default_factory=list)
    received_count: int = 0
    auto_submitted: str | None = None
    list_headers: dict[str, str] = field(default_factory=dict)
    header_charset: str | None = None  # codec tried for raw 8-bit headers after UTF-8
    #: Codecs of the charsets the message declares (body parts, encoded words): the
    #: first guesses for its unlabelled bytes.
    declared: tuple[str, ...] = ()
    #: What classify found beyond ``kind``/``bounce``: complaint, original Message-ID, loops.
    classification: Classification = field(default_factory=Classification)
    _decoded: dict[str, str | None] = field(default_factory=dict, repr=False)
    _index: dict[str, list[str]] | None = field(default=None, repr=False)

    def raw_values(self, name: str) -> list[str]:
        """Every ``name`` header as it came (folded, 8-bit bytes as surrogates)."""
        if self._index is None:
            # One pass instead of Message.get's scan of every header on every lookup.
            self._index = {}
            for key, value in self.raw.raw_items():
                self._index.setdefault(key.lower(), []).append(str(value))
        return self._index.get(name.lower(), [])

    @property
    def attachment_data(self) -> list[bytes]:
        """The bytes of each attachment, in the order of ``attachments``."""
        return [a.data for a in self.attachments]

    def header(self, name: str) -> str | None:
        """The first ``name`` header, unfolded and decoded (RFC 2047, raw 8-bit), or None."""
        key = name.lower()
        if key not in self._decoded:
            values = self.raw_values(key)
            self._decoded[key] = self._decode(values[0]) if values else None
        return self._decoded[key]

    def header_all(self, name: str) -> list[str]:
        """Every ``name`` header, decoded, in order."""
        return [self._decode(v) for v in self.raw_values(name)]

    def hints(self) -> tuple[str, ...]:
        """Codecs to try for raw 8-bit header bytes after UTF-8."""
        if self.header_charset is None:
            return self.declared
        return (self.header_charset, *self.declared)

    def note(self, problem: str, prefix: str = "") -> None:
        """File a decoding problem under ``warnings`` or ``errors`` (charsets.is_warning)."""
        target = self.warnings if charsets.is_warning(problem) else self.errors
        text = prefix + problem
        if text not in target:
            target.append(text)

    def _decode(self, value: str) -> str:
        problems: list[str] = []
        text = charsets.decode_words(charsets.unfold(value), problems, hint=self.hints()).strip()
        for problem in problems:
            self.note(problem)
        return text

    def to_json(self) -> dict[str, Any]:
        """Exactly the contract's keys, JSON-serialisable."""
        return {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
            "date": None if self.date is None else self.date.isoformat(),
            "from": _addresses_json(self.from_),
            "sender": _addresses_json(self.sender),
            "reply_to": _addresses_json(self.reply_to),
            "to": _addresses_json(self.to),
            "cc": _addresses_json(self.cc),
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "reply_text": self.reply_text,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": len(a.data),
                    "content_id": a.content_id,
                    "inline": a.inline,
                }
                for a in self.attachments
            ],
            "kind": self.kind,
            "bounce": self.bounce,
            "errors": list(dict.fromkeys(self.errors)),
            "warnings": list(dict.fromkeys(self.warnings)),
        }


def _addresses_json(addresses: list[Address]) -> list[dict[str, str]]:
    return [{"name": a.name, "address": a.address} for a in addresses]


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message from its bytes; never raises (trouble goes to ``errors``)."""
    errors: list[str] = []
    msg: Message
    try:
        if not isinstance(raw, bytes):
            raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        msg = mime.parse_bytes(raw)
        if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
            cleaned, skipped = _skip_malformed_fields(raw)
            if skipped:
                msg = mime.parse_bytes(cleaned)
                errors.extend(f"malformed header line skipped: {line!r}" for line in skipped)
    except Exception as exc:  # the feed parser is lenient; this is a last line of defence
        errors.append(f"unparseable message: {type(exc).__name__}: {exc}")
        msg = Message()
    parsed = ParsedMessage(raw=msg, errors=errors)
    if not msg.keys() and raw.strip():
        errors.append("no header fields: the input does not look like an email message")
    for step in (_read_body, _read_headers, _classify, _reply):
        try:
            step(parsed)
        except Exception as exc:  # keep what earlier steps found
            errors.append(f"{step.__name__.strip('_')} failed: {type(exc).__name__}: {exc}")
    return parsed


def _skip_malformed_fields(raw: bytes) -> tuple[bytes, list[str]]:
    """Drop lines in the header block that are no field (``X Spam: yes``); list them.

    The feed parser ends the header block at such a line, losing every field after
    it. A line with a colon that is followed by real fields and then the blank line
    is taken for a broken field; anything else still starts the body (a message
    without its blank line), and the input is returned unchanged.
    """
    lines = raw.splitlines(keepends=True)
    kept: list[bytes] = []
    skipped: list[str] = []
    pending: list[bytes] = []  # a malformed line and its continuation lines
    for i, line in enumerate(lines):
        if not line.strip(b"\r\n"):
            if pending or not skipped:
                return raw, []
            return b"".join(kept + lines[i:]), skipped
        if line[:1] in (b" ", b"\t"):
            (pending if pending else kept).append(line)
        elif _FIELD_LINE.match(line) or (i == 0 and line.startswith(b"From ")):
            skipped.extend(p.rstrip(b"\r\n").decode("ascii", "replace") for p in pending[:1])
            pending = []
            kept.append(line)
        elif b":" in line and not pending:
            pending = [line]
        else:
            return raw, []
    return raw, []


# --- headers ------------------------------------------------------------------


def _read_headers(p: ParsedMessage) -> None:
    msg = p.raw
    eight_bit = [str(v) for _, v in msg.raw_items() if not str(v).isascii()]
    if eight_bit:
        labels = {m.group(1) for _, v in msg.raw_items() for m in _WORD_LABEL.finditer(str(v))}
        labels.update(
            label
            for part in msg.walk()
            if part.get_content_maintype() == "text" and (label := part.get_content_charset())
        )
        p.declared = _codecs(p.declared, labels)
    if p.header_charset is None and eight_bit:
        # No body charset to go by: guess once from all raw 8-bit header bytes together
        # (outside encoded words, which name their own), since one short header is
        # too little text to guess from.
        sample = b"\n".join(
            charsets.ENCODED_WORD.sub("", v).encode("utf-8", "surrogateescape") for v in eight_bit
        )
        if not sample.isascii():
            try:
                sample.decode("utf-8")
            except UnicodeDecodeError:
                p.header_charset = charsets.guess(sample, p.declared)
    p.message_id = _first_id(p.header("Message-ID"))
    p.in_reply_to = _first_id(p.header("In-Reply-To"))
    p.references = _all_ids(p.header("References"))
    p.subject = p.header("Subject") or ""
    p.from_ = _addresses(p, "From")
    p.sender = _addresses(p, "Sender")
    p.reply_to = _addresses(p, "Reply-To")
    p.to = _addresses(p, "To")
    p.cc = _addresses(p, "Cc")
    p.date = _date(p)
    p.received_count = len(p.raw_values("Received"))
    p.auto_submitted = p.header("Auto-Submitted")
    for name in msg:
        key = name.lower()
        if key.startswith("list-") and key not in p.list_headers:
            p.list_headers[key] = p.header(name) or ""


def _first_id(value: str | None) -> str | None:
    ids = _all_ids(value)
    return ids[0] if ids else None


def _all_ids(value: str | None) -> list[str]:
    if not value:
        return []
    found = [i.strip() for i in _MSG_ID.findall(value) if i.strip()]
    # Some mailers drop the angle brackets (RFC 5322 §3.6.4 requires them), or one
    # of them ("<a@b"); "<>" names nothing.
    return found or [t for t in (t.strip("<>") for t in re.split(r"[\s,]+", value)) if t]


def _codecs(have: tuple[str, ...], labels: set[str] | list[str]) -> tuple[str, ...]:
    """``have`` plus the codecs of ``labels`` that read 8-bit text (not ASCII, not UTF-8)."""
    out = list(have)
    for label in labels:
        for codec in charsets.codecs_for(label) or ():
            if codec not in out and not codec.startswith("utf"):
                out.append(codec)
    return tuple(out)


def _drop_phrase_comments(text: str) -> str:
    """Remove comments from display names (RFC 5322 §3.2.2: CFWS is not part of a phrase).

    ``Helpdesk (Ticket System) <h@x>`` names "Helpdesk". A comment after a bare
    address (``h@x (Helpdesk)``) is the old way to give a name and is kept for
    getaddresses, as is a quoted string's text.
    """
    out: list[str] = []
    i, n = 0, len(text)
    quoted = angle = False
    while i < n:
        c = text[i]
        if quoted:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
            out.append(c)
        elif c in "<>":
            angle = c == "<"
            out.append(c)
        elif c == "(" and not angle:
            depth, j = 0, i
            while j < n:
                if text[j] == "\\":
                    j += 1
                elif text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            rest = text[j + 1 :]
            cut = rest.find(",")
            if "<" in (rest if cut < 0 else rest[:cut]):
                out.append(" ")  # a comment inside the phrase of a "name <addr>"
                i = j + 1
                continue
            out.append(text[i : j + 1])
            i = j
        else:
            out.append(c)
        i += 1
    return "".join(out)


# Mailboxes senders write against RFC 5322: an address as the display name
# ("a@b.example <a@b.example>", PHP mailers), "<mailto:a@b>" and "<<a@b>>".
_ADDRESS_AS_NAME = re.compile(r'(^|,)(\s*)([^\s,<>"()]+@[^\s,<>"()]+)(\s+<[^<>]+>)')
_ANGLE_JUNK = re.compile(r"<\s*(?:<|mailto:)([^<>]+)>?>", re.I)


def _sloppy_mailboxes(text: str) -> str:
    text = _ANGLE_JUNK.sub(r"<\1>", text)
    return _ADDRESS_AS_NAME.sub(r'\1\2"\3"\4', text)


def _mailboxes(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _SIMPLE_MAILBOX.match(text, pos)
        if match is None or match.end() == pos:
            if "(" in text:
                text = _drop_phrase_comments(text)
            return getaddresses([text])
        if match.group("bare"):
            found.append(("", match.group("bare")))
        elif match.group("quoted") is not None:
            found.append((_QUOTED_PAIR.sub(r"\1", match.group("quoted")), match.group("routed")))
        else:
            found.append((" ".join(match.group("plain").split()), match.group("routed")))
        pos = match.end()
    return found


# "GMT+0800", "UTC-5": an offset written after the zone name (some webmail, Chinese
# clients); the stdlib reads the name alone and loses the offset.
_GMT_OFFSET = re.compile(r"\b(?:GMT|UTC)\s?([+-])(\d{1,2}):?(\d\d)?(?=\s|\(|$)")


def _date(p: ParsedMessage) -> datetime | None:
    value = p.header("Date")
    if not value:
        return None
    if "GMT" in value or "UTC" in value:
        value = _GMT_OFFSET.sub(
            lambda m: f"{m.group(1)}{int(m.group(2)):02d}{m.group(3) or '00'}", value
        )
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:  # ISO 8601 ("2024-03-04T10:00:00Z"), written by some scripts and gateways
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            p.errors.append(f"unparseable Date header {value[:60]!r}")
            return None
    # RFC 5322 §3.3: "-0000" means UTC with the sender's local offset unknown.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _addresses(p: ParsedMessage, name: str) -> list[Address]:
    out: list[Address] = []
    hints = p.hints()
    for value in p.raw_values(name):
        text = charsets.unfold(str(value))
        problems: list[str] = []
        # Split first, decode encoded words after: a decoded name may hold a comma.
        # The split runs on the raw value, so 8-bit bytes inside an encoded word
        # are still the word's own bytes when it is decoded.
        if "<" in text and ("<<" in text or "ailto:" in text or text.count("@") > text.count("<")):
            text = _sloppy_mailboxes(text)
        pairs = [
            (charsets.decode_words(display, problems, hint=hints).strip(), address)
            for display, address in _mailboxes(text)
        ]
        if "=?" in text and not any(_VALID_ADDRESS.fullmatch(a.strip()) for _, a in pairs):
            # The whole mailbox in one encoded word (email.mime writes this):
            # decode first, then split.
            decoded = charsets.decode_words(text, problems, hint=hints)
            again = [(d.strip(), a) for d, a in _mailboxes(decoded)]
            if any(_VALID_ADDRESS.fullmatch(a.strip()) for _, a in again):
                pairs = again
        for display, address in pairs:
            address = address.strip()
            if address:
                if not address.isascii():  # RFC 6532: UTF-8 addresses
                    address = charsets.decode_words(address, problems, hint=hints)
                out.append(Address(display, address))
        for problem in problems:
            p.note(problem, f"{name}: ")
    return out


# --- body -----------------------------------------------------------------------


@dataclass(slots=True)
class _Body:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    charset: str | None = None  # first non-UTF-8 charset label of a text body part
    sibling: str | None = None  # the charset a sibling text part declares
    declared: tuple[str, ...] | None = None  # codecs of every declared text charset
    root: Message | None = None

    def note(self, problem: str, prefix: str) -> None:
        (self.warnings if charsets.is_warning(problem) else self.errors).append(prefix + problem)

    def hints(self) -> tuple[str, ...]:
        """Codecs for unlabelled 8-bit bytes: a sibling's charset, then any declared one."""
        if self.declared is None:
            labels = [self.sibling] if self.sibling else []
            if self.root is not None:
                labels += [
                    label
                    for part in self.root.walk()
                    if part.get_content_maintype() == "text"
                    and (label := part.get_content_charset())
                ]
            self.declared = _codecs((), labels)
        if self.sibling:
            return _codecs((), [self.sibling]) + self.declared
        return self.declared


def _read_body(p: ParsedMessage) -> None:
    body = _Body(errors=p.errors, warnings=p.warnings, root=p.raw)
    _walk(body, p.raw, 0)
    p.attachments = body.attachments
    p.html = "\n".join(body.htmls) if body.htmls else None
    if body.texts:
        p.text = "\n".join(body.texts)
    elif p.html is not None:
        p.text = html_to_text(p.html)
    if body.charset:
        codec_list = charsets.codecs_for(body.charset)
        p.header_charset = codec_list[0] if codec_list else None


def _defects(body: _Body, part: Message, ctype: str) -> None:
    for defect in part.defects:
        detail = str(defect)
        body.errors.append(f"{ctype}: {type(defect).__name__}" + (f": {detail}" if detail else ""))


def _walk(body: _Body, part: Message, depth: int) -> None:
    ctype = part.get_content_type()
    if depth > MAX_DEPTH:
        body.errors.append(f"MIME parts nested deeper than {MAX_DEPTH}; the rest is skipped")
        return
    maintype = ctype.partition("/")[0]
    if maintype == "multipart":
        payload = part.get_payload()
        _defects(body, part, ctype)
        children: list[Message] | None
        if isinstance(payload, list):
            children = [c for c in payload if isinstance(c, Message)]
        else:
            children = _recover_multipart(body, part, ctype)
        if children is None:
            # No boundary at all: the best reading left is that the payload is the text.
            _add_text(body, part, "text/plain")
            return
        if ctype == "multipart/related":
            children = _root_first(part, children)
        taken: set[str] = set()
        outer_sibling = body.sibling
        body.sibling = next(
            (
                label
                for c in children
                if c.get_content_maintype() == "text" and (label := c.get_content_charset())
            ),
            outer_sibling,
        )
        for child in children:
            child_type = child.get_content_type()
            if ctype == "multipart/alternative" and child_type in ("text/plain", "text/html"):
                # RFC 2046 §5.1.4: alternatives of the same content; keep one of each type.
                if child_type in taken or _disposition(child) == "attachment":
                    continue
                taken.add(child_type)
            _walk(body, child, depth + 1)
        body.sibling = outer_sibling
        return
    if maintype == "message" and ctype in ("message/rfc822", "message/global"):
        _forwarded(body, part, ctype)
        return
    _leaf(body, part, ctype)


def _root_first(part: Message, children: list[Message]) -> list[Message]:
    # RFC 2387 §3.2: the root is the "start" part, else the first one.
    start = part.get_param("start")
    if isinstance(start, str) and start.strip("<> "):
        cid = start.strip("<> ")
        for i, child in enumerate(children):
            if _content_id(child) == cid:
                return [child, *children[:i], *children[i + 1 :]]
    return children


def _recover_multipart(body: _Body, part: Message, ctype: str) -> list[Message] | None:
    """Re-split a multipart whose declared boundary is wrong or missing, on its first "--" line."""
    payload = part.get_payload()
    data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    match = re.search(rb"^--([0-9A-Za-z'()+_,./:=? -]{1,70})\r?$", data, re.M)
    declared = part.get_boundary()
    if match is None:
        body.errors.append(f"{ctype}: boundary {declared!r} not found; body kept as text")
        return None
    found = match.group(1).rstrip(b" ").removesuffix(b"--")
    head = b"Content-Type: " + ctype.encode() + b'; boundary="' + found + b'"\r\n\r\n'
    children = _PARSER.parsebytes(head + data).get_payload()
    if not isinstance(children, list) or not children:
        body.errors.append(f"{ctype}: boundary {declared!r} not found; body kept as text")
        return None
    body.errors.append(
        f"{ctype}: boundary {declared!r} not found; split on {found.decode('ascii', 'replace')!r}"
    )
    return [c for c in children if isinstance(c, Message)]


def _disposition(part: Message) -> str | None:
    value = part.get("content-disposition")
    if value is None:
        return None
    return str(value).partition(";")[0].strip().lower() or None


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if value is None:
        return None
    return charsets.unfold(str(value)).strip().strip("<>").strip() or None


def _split_params(raw: str) -> dict[str, str]:
    """The parameters of a raw header value (8-bit bytes as surrogates), unquoted."""
    params: dict[str, str] = {}
    pieces: list[str] = []
    start, quoted, i = 0, False, 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and quoted:
            i += 1
        elif c == '"':
            quoted = not quoted
        elif c == ";" and not quoted:
            pieces.append(raw[start:i])
            start = i + 1
        i += 1
    pieces.append(raw[start:])
    for piece in pieces[1:]:
        key, eq, value = piece.partition("=")
        if eq:
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
            params.setdefault(key.strip().lower(), value)
    return params


def _param_8bit(part: Message, name: str, header: str) -> str | None:
    """``name`` from a header holding raw 8-bit bytes, as they came (surrogates kept).

    compat32 turns such a value into a Header whose 8-bit bytes read as U+FFFD; the
    parameter is parsed from the raw value instead. None when the header is ASCII.
    """
    for key, value in part.raw_items():
        if key.lower() == header:
            raw = charsets.unfold(str(value))
            if raw.isascii():
                return None
            params = _split_params(raw)
            if any(k.startswith(name + "*") for k in params):
                return None  # RFC 2231 form: the stdlib's reading handles it
            return params.get(name)
    return None


def _filename(body: _Body, part: Message) -> str | None:
    value: str | tuple[str | None, str | None, str] | None = _param_8bit(
        part, "filename", "content-disposition"
    )
    if value is None:
        value = part.get_param("filename", None, "content-disposition")
    if value is None:
        value = _param_8bit(part, "name", "content-type")
    if value is None:
        value = part.get_param("name", None, "content-type")
    if value is None:
        return None
    problems: list[str] = []
    if isinstance(value, tuple):
        # RFC 2231 §4: charset'language'percent-encoded, already joined and unquoted
        # by the parser into one character per byte.
        label, _lang, encoded = value
        name, problem = charsets.decode_bytes(
            str(encoded).encode("latin-1", "replace"), label or "us-ascii"
        )
        if problem:
            problems.append(problem)
    else:
        # Encoded words in a parameter: not allowed by RFC 2047 §5, but what most
        # mailers send.
        hints = (body.charset, *body.hints()) if body.charset else body.hints()
        name = charsets.decode_words(charsets.unfold(str(value)), problems, hint=hints)
    for problem in problems:
        body.note(problem, "attachment name: ")
    return _safe_name(name)


def _safe_name(name: str) -> str | None:
    # RFC 2183 §2.3: never take a path from the sender; keep only the last component.
    name = _BAD_NAME_CHARS.sub("", name).replace("\\", "/").rpartition("/")[2].strip()
    return name[:200] or None


def _payload(body: _Body, part: Message, ctype: str) -> bytes:
    raw_body = getattr(part, "raw_body", None)
    if ctype in ("message/partial", "message/external-body") and isinstance(raw_body, str):
        # A fragment (RFC 2046 §5.2.2) must be joined byte for byte with its siblings,
        # and an external-body's headers are its content: keep them exactly.
        _defects(body, part, ctype)
        return raw_body.encode("utf-8", "surrogateescape")
    data = part.get_payload(decode=True)
    entities = part.get_payload()
    if data is None and isinstance(entities, list):
        # message/delivery-status and its kin parse as a list of header blocks.
        text = "\r\n".join(_serialize(e) for e in entities if isinstance(e, Message))
        data = text.encode("utf-8", "surrogateescape")
    _defects(body, part, ctype)
    if any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects):
        data = _salvage_base64(part.get_payload())
    return data if isinstance(data, bytes) else b""


def _salvage_base64(payload: object) -> bytes:
    """Decode a truncated base64 body as far as it goes (compat32 returns it undecoded).

    A length of 4n+1 alphabet characters cannot be valid (RFC 4648 §4): the last one
    is a fragment of a cut-off quantum and carries no whole byte, so it is dropped.
    """
    if not isinstance(payload, str):
        return b""
    data = _NOT_BASE64.sub(b"", payload.encode("ascii", "replace"))
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except binascii.Error:
        return b""


def _add_text(body: _Body, part: Message, ctype: str) -> None:
    data = _payload(body, part, ctype)
    label = part.get_content_charset()
    if label and body.charset is None and not label.startswith(("us-ascii", "utf")):
        body.charset = label
    # RFC 2045 §5.2 says an unlabelled part is US-ASCII; with 8-bit bytes in it, the
    # charset its sibling declares is the likeliest reading after UTF-8.
    hints = body.hints() if not data.isascii() and not charsets.codecs_for(label) else None
    text, problem = charsets.decode_bytes(data, label, hint=hints)
    if problem:
        body.note(problem, f"{ctype}: ")
    text = _NEWLINES.sub("\n", text)
    if ctype == "text/html":
        body.htmls.append(text)
        return
    if _param(part, "format") == "flowed":
        text = _unflow(text, delsp=_param(part, "delsp") == "yes")
    if "begin " in text:
        text = _extract_uuencoded(body, text)
    body.texts.append(text)


def _param(part: Message, name: str) -> str:
    value = part.get_param(name, "")
    return value.strip().lower() if isinstance(value, str) else ""


def _leaf(body: _Body, part: Message, ctype: str) -> None:
    disposition = _disposition(part)
    name = _filename(body, part)
    if ctype in ("text/plain", "text/html") and disposition != "attachment":
        have = body.texts if ctype == "text/plain" else body.htmls
        # A body part sometimes carries a name; a named inline text after the body is a file.
        if name is None or not have:
            _add_text(body, part, ctype)
            return
    data = _payload(body, part, ctype)
    if ctype == "application/ms-tnef" or (name or "").lower() == "winmail.dat":
        try:
            files = tnef_files(data)
        except ValueError as exc:
            body.errors.append(f"winmail.dat: {exc}")
            files = []
        if files:
            for f in files:
                body.attachments.append(Attachment(f.filename, _type_of(f.filename), f.data))
            return
    cid = _content_id(part)
    inline = disposition == "inline" or (disposition is None and cid is not None)
    name = name or _default_name(body, ctype)
    body.attachments.append(Attachment(name, ctype, data, cid, inline))


def _default_name(body: _Body, ctype: str) -> str:
    return f"attachment-{len(body.attachments) + 1}.{_TYPE_EXTS.get(ctype, 'bin')}"


def _type_of(filename: str) -> str:
    return _EXT_TYPES.get(filename.rpartition(".")[2].lower(), "application/octet-stream")


def _forwarded(body: _Body, part: Message, ctype: str) -> None:
    """A message/rfc822 part is one attachment; its text stays out of the outer text."""
    _defects(body, part, ctype)
    inner = part.get_payload()
    inner_msg = inner[0] if isinstance(inner, list) and inner else None
    if not isinstance(inner_msg, Message):
        inner_msg = None
    data = b""
    if isinstance(inner_msg, Message):
        data = _serialize(inner_msg).encode("utf-8", "surrogateescape")
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        # RFC 2046 §5.2.1 forbids this encoding, but some mailers use it anyway.
        try:
            data = binascii.a2b_base64(data) if cte == "base64" else binascii.a2b_qp(data)
        except binascii.Error:
            body.errors.append(f"{ctype}: undecodable {cte} body")
        inner_msg = _PARSER.parsebytes(data, headersonly=True)
    name = _filename(body, part)
    if name is None and inner_msg is not None:
        raw_subject = next((str(v) for k, v in inner_msg.raw_items() if k.lower() == "subject"), "")
        subject = charsets.decode_words(charsets.unfold(raw_subject))
        name = _safe_name(subject.replace("/", "_").replace("\\", "_"))
        name = f"{name}.eml" if name else None
    name = name or "forwarded-message.eml"
    disposition = _disposition(part)
    cid = _content_id(part)
    body.attachments.append(Attachment(name, ctype, data, cid, disposition == "inline"))


def _serialize(msg: Message) -> str:
    """The message's text as parsed: headers as they came, parts joined on their boundary.

    Much faster than ``email.generator``, which refolds every header on the way out.
    """
    out = [f"{name}: {value}\r\n" for name, value in msg.raw_items()]
    out.append("\r\n")
    payload = msg.get_payload()
    if isinstance(payload, str):
        out.append(payload)
    elif isinstance(payload, list):
        boundary = msg.get_boundary()
        if boundary is None:  # message/rfc822 or delivery-status: the entities in a row
            out.append("\r\n".join(_serialize(p) for p in payload if isinstance(p, Message)))
        else:
            if msg.preamble:
                out.append(msg.preamble + "\r\n")
            for sub in payload:
                if isinstance(sub, Message):
                    out.append(f"--{boundary}\r\n{_serialize(sub)}\r\n")
            out.append(f"--{boundary}--\r\n" + (msg.epilogue or ""))
    return "".join(out)


def _unflow(text: str, *, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676 §4.2)."""
    out: list[str] = []
    joined: str | None = None
    joined_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing, §4.4
            content = content[1:]
        # §4.3: the signature separator "-- " is never flowed.
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if joined is not None and depth == joined_depth:
            joined += content
        else:
            if joined is not None:
                out.append(_quote(joined_depth, joined))
            joined, joined_depth = content, depth
        if not soft:
            out.append(_quote(joined_depth, joined))
            joined = None
    if joined is not None:
        out.append(_quote(joined_depth, joined))
    return "\n".join(out)


def _quote(depth: int, line: str) -> str:
    return (">" * depth + " " + line) if depth and line else ">" * depth + line


def _extract_uuencoded(body: _Body, text: str) -> str:
    """Move "begin 644 name" ... "end" blocks (uuencode) out of the text into attachments."""

    def take(match: re.Match[str]) -> str:
        data = bytearray()
        for line in match.group(2).split("\n"):
            if not line.strip():
                continue
            try:
                data += binascii.a2b_uu(line)
            except binascii.Error:
                # Some encoders pad lines with junk; decode only the length the line announces.
                size = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
                try:
                    data += binascii.a2b_uu(line[:size])
                except binascii.Error:
                    body.errors.append(
                        f"uuencoded {match.group(1).strip()!r}: bad line; kept as text"
                    )
                    return match.group(0)
        name = _safe_name(match.group(1)) or _default_name(body, "application/octet-stream")
        body.attachments.append(Attachment(name, _type_of(name), bytes(data)))
        return ""

    return _UU_BLOCK.sub(take, text)


# --- classification ----------------------------------------------------------------


def _classify(p: ParsedMessage) -> None:
    result = classify(p.raw, text=p.text, subject=p.subject)
    p.classification = result
    p.errors.extend(str(e) for e in result.errors)
    if result.kind in KINDS:
        p.kind = result.kind
    else:
        p.errors.append(f"classify gave an unknown kind {result.kind!r}")
    p.bounce = result.bounce if isinstance(result.bounce, dict) else None


def _reply(p: ParsedMessage) -> None:
    p.reply_text = extract_reply(p.text, p.html, p.subject)
