"""Mailgun route webhook: what a route's ``forward()`` POSTs, verified and stored once.

Mailgun sends one of two forms (its *Routes* documentation):

* parsed — ``forward("https://HOST/v1/inbound/mailgun/<source id>")``: form
  fields ``recipient``, ``sender``, ``from``, ``subject``, ``body-plain``,
  ``stripped-text``, ``body-html``, ``message-headers`` (a JSON list of
  ``[name, value]``), ``attachment-count``, files ``attachment-1``…``N``,
  ``content-id-map`` (JSON ``{"<cid>": "attachment-1"}``) for inline parts;
* raw — a URL ending in ``mime``: the whole message in field ``body-mime``.

Both carry ``timestamp``, ``token`` and ``signature`` = hex HMAC-SHA256 of
``timestamp + token`` with the webhook signing key. The parsed form is rebuilt
into one MIME message with the :mod:`email` package, so the pipeline always sees
raw bytes. Signature, freshness, replay record and the HTTP answers (406 for a
refusal, which Mailgun does not retry; 200 after the commit; 503 so Mailgun
retries when storing failed) are the push-source base's (:mod:`mailgate.inbound.push`);
this module is the Mailgun kind's hooks, :data:`KIND`.

The signature is checked first, before anything is parsed or held in memory:
the route spools the body to a temporary file and :func:`signature_fields` reads
only those three small fields from it with a streaming form parser. A stranger's
50 MB post costs a file write, not a MIME parse.

Mailgun's signed string has no separator, so ``("1700000000", "ab…")`` and
``("1700000000a", "b…")`` sign the same bytes; with a timestamp read by
``float()``, ``ts + "e0"`` and a token two characters shorter passed as a *new*
token (and ``"nan"`` passed any age check). So the timestamp must be plain ASCII
digits without a leading zero (and then fresh), and the replay record is the
signed string's MAC, ``sig:<signature>``, written in ``source_items`` in the
transaction that stores the message: every re-split of one signed string has the
same MAC, so none of them is new. A retry after a crash is stored once.
"""

from __future__ import annotations

import email.header
import email.policy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import MIMEPart
from email.parser import BytesParser
from typing import IO
from urllib.parse import parse_qsl, unquote_to_bytes

from pydantic import BaseModel, ConfigDict, Field
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, QuerystringParser, parse_options_header

from mailgate.inbound import push
from mailgate.inbound.pipeline import Received
from mailgate.inbound.push import FUTURE_SKEW_SECONDS, Refused, SourceDisabled, replay_key
from mailgate.store.context import Context

__all__ = ["FUTURE_SKEW_SECONDS", "KIND", "Refused", "SourceDisabled", "accept", "replay_key"]

#: The form fields the signature covers, read before anything else.
SIGNED_FIELDS = ("timestamp", "token", "signature")
#: Longer than any genuine value (a 10-digit time, a 50-character token, 64 hex digits).
MAX_SIGNED_FIELD = 256
#: Rebuilt from the parsed bodies, so the original ones would lie.
_MIME_HEADERS = {"content-type", "content-transfer-encoding", "mime-version", "content-length"}
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 §2.2: printable, no colon


class MailgunConfig(BaseModel):
    """Settings of a Mailgun route source."""

    model_config = ConfigDict(extra="forbid")

    signing_key: str = Field(
        min_length=1,
        repr=False,
        json_schema_extra={"secret": True},
        description="HTTP webhook signing key (Mailgun: Sending → Webhooks)",
    )
    max_age_seconds: int = Field(
        default=300, ge=10, le=3600, description="Refuse requests signed longer ago"
    )


@dataclass(frozen=True, slots=True)
class Part:
    """One form field or file, as bytes."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def parse_form(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/form-data or urlencoded body into parts, keeping raw bytes."""
    if content_type.lower().startswith("application/x-www-form-urlencoded"):
        return [
            Part(k, v.encode("utf-8", "surrogateescape"))
            for k, v in parse_qsl(
                body.decode("ascii", "surrogateescape"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="surrogateescape",
            )
        ]
    if not content_type.lower().startswith("multipart/form-data"):
        raise Refused(f"unexpected content type {content_type!r}")
    # The email package reads multipart bodies byte-exactly (RFC 7578 is MIME).
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    form = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = []
    for part in form.iter_parts() if form.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data: bytes
        if part.is_multipart():  # a field sent as message/rfc822 or multipart/*
            data = b"".join(p.as_bytes() for p in part.iter_parts())
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        ctype = part.get_content_type() if part.get("content-type") else None
        parts.append(Part(name, bytes(data), filename, ctype))
    return parts


def verify(
    signing_key: str,
    timestamp: str,
    token: str,
    signature: str,
    *,
    max_age: int = 300,
    now: float | None = None,
) -> None:
    """Mailgun's webhook signature: HMAC-SHA256(key, timestamp + token), fresh.

    The checks are the push-source base's (:func:`mailgate.inbound.push.verify_hmac`).
    """
    push.verify_hmac(signing_key, timestamp, token, signature, max_age=max_age, now=now)


def signature_fields(content_type: str, chunks: Iterable[bytes]) -> dict[str, str]:
    """``timestamp``, ``token`` and ``signature`` of a form body, read as a stream.

    Nothing else is kept: other fields and files pass through the parser without
    being stored. A signed field given twice, or longer than any genuine value,
    is refused (which of two values would count is not for a parser to decide).
    """
    ctype, params = parse_options_header(content_type)
    found: dict[str, bytearray] = {}
    name = bytearray()
    value = bytearray()
    header = bytearray()
    header_value = bytearray()
    wanted = False

    def keep(data: bytes, start: int, end: int) -> None:
        if wanted:
            value.extend(data[start:end])
            if len(value) > 3 * MAX_SIGNED_FIELD:  # %XX triples the urlencoded size
                raise Refused(f"{name.decode('latin-1')} is too long", field=name.decode())

    def begin() -> None:
        nonlocal wanted
        name.clear()
        value.clear()
        wanted = False

    def finish() -> None:
        if wanted:
            key = name.decode()
            if key in found:
                raise Refused(f"{key} is given twice", field=key)
            found[key] = bytearray(value)

    def on_field_name(data: bytes, start: int, end: int) -> None:
        nonlocal wanted
        name.extend(data[start:end])
        wanted = len(name) <= 20 and name.decode("latin-1") in SIGNED_FIELDS

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end][:1024])

    def on_header_end() -> None:
        nonlocal wanted
        if bytes(header).lower() == b"content-disposition":
            _, disposition = parse_options_header(bytes(header_value))
            field = disposition.get(b"name", b"").decode("latin-1")
            wanted = field in SIGNED_FIELDS and b"filename" not in disposition
            name[:] = field.encode("latin-1")
        header.clear()
        header_value.clear()

    parser: QuerystringParser | MultipartParser
    if ctype == b"application/x-www-form-urlencoded":
        parser = QuerystringParser(
            {
                "on_field_start": begin,
                "on_field_name": on_field_name,
                "on_field_data": keep,
                "on_field_end": finish,
            }
        )
    elif ctype == b"multipart/form-data" and params.get(b"boundary"):
        parser = MultipartParser(
            params[b"boundary"],
            {
                "on_part_begin": begin,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_part_data": keep,
                "on_part_end": finish,
            },
        )
    else:
        raise Refused(f"unexpected content type {content_type[:100]!r}")
    try:
        for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise Refused("the form is malformed") from None
    out: dict[str, str] = {}
    for key, raw in found.items():
        data = bytes(raw)
        if isinstance(parser, QuerystringParser):
            data = unquote_to_bytes(data.replace(b"+", b" "))
        if len(data) > MAX_SIGNED_FIELD:
            raise Refused(f"{key} is too long", field=key)
        out[key] = data.decode("utf-8", "replace")
    return out


def _header_line(name: str, value: str) -> bytes:
    # Unfold (RFC 5322 §2.2.3) and drop stray CR/LF: one header stays one header.
    value = re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", " ").replace("\n", " ")
    if value.isascii() and len(name) + len(value) < 996:
        return f"{name}: {value}\r\n".encode("ascii")
    try:
        policy = email.policy.SMTP.clone(refold_source="all")
        return policy.fold_binary(name, value)
    except Exception:  # a value the header parser chokes on: encode it whole
        encoded = email.header.Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
        return f"{name}: {encoded}\r\n".encode("ascii")


def mime_from_parsed(fields: dict[str, Part], files: list[Part]) -> bytes:
    """Rebuild one MIME message from the parsed form (headers kept in their order)."""
    try:
        headers = json.loads(fields["message-headers"].text) if "message-headers" in fields else []
        cids = json.loads(fields["content-id-map"].text) if "content-id-map" in fields else {}
    except ValueError:
        raise Refused("message-headers or content-id-map is not JSON") from None
    if not headers:  # an older or trimmed payload: the single fields are all there is
        headers = [[k.title(), fields[k].text] for k in ("from", "subject") if k in fields]
    text = fields["body-plain"].text if "body-plain" in fields else None
    html = fields["body-html"].text if "body-html" in fields else None
    # MIMEPart: no MIME-Version in every part; 7bit: non-ASCII bodies get QP or base64.
    body = MIMEPart(policy=email.policy.SMTP.clone(cte_type="7bit"))
    if text is not None or html is None:
        body.set_content(text or "")
        if html is not None:
            body.add_alternative(html, subtype="html")
    else:
        body.set_content(html, subtype="html")
    inline = {str(v): str(k).strip("<>") for k, v in cids.items()} if isinstance(cids, dict) else {}
    for f in files:
        maintype, _, subtype = (f.content_type or "application/octet-stream").partition("/")
        cid = inline.get(f.name)
        body.add_attachment(
            f.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=f.filename or f.name,
            disposition="inline" if cid else "attachment",
            cid=f"<{cid}>" if cid else None,
        )
    out = bytearray()
    for pair in headers:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            continue
        name, value = str(pair[0]).strip(), str(pair[1])
        if _HEADER_NAME.match(name) and name.lower() not in _MIME_HEADERS:
            out += _header_line(name, value)
    out += b"MIME-Version: 1.0\r\n"
    return bytes(out) + body.as_bytes()


def route_message(parts: list[Part]) -> tuple[bytes, str, list[str]]:
    """(raw MIME, envelope sender, envelope recipients) from either form."""
    fields = {p.name: p for p in parts if p.filename is None}
    files = sorted(
        (p for p in parts if p.filename is not None and p.name.startswith("attachment-")),
        key=lambda p: int(p.name.rpartition("-")[2]) if p.name.rpartition("-")[2].isdigit() else 0,
    )
    raw = fields["body-mime"].data if "body-mime" in fields else mime_from_parsed(fields, files)
    sender = fields["sender"].text.strip() if "sender" in fields else ""
    rcpt = fields["recipient"].text if "recipient" in fields else ""
    return raw, sender, [r.strip() for r in rcpt.split(",") if r.strip()]


def _message(content_type: str, body: bytes) -> push.Message:
    raw, sender, rcpt = route_message(parse_form(content_type, body))
    return push.Message(raw, sender, rcpt)


#: The Mailgun route kind of push source (inbound/kinds.py registers it).
KIND = push.PushKind(
    "mailgun",
    MailgunConfig,
    signature_fields,
    _message,
    # "token:" keys are what earlier versions recorded: still a replay.
    legacy_keys=lambda signed: [f"token:{signed.get('token', '')}"],
)


def accept(
    app: Context, source_id: str, content_type: str, body: bytes | IO[bytes]
) -> Received:
    """Verify a route POST and store its message; raises :class:`Refused` (→ 406)."""
    return push.accept(app, source_id, content_type, body, {"mailgun": KIND}, only="mailgun")
