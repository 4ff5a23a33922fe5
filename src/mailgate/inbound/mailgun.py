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
raw bytes. The token is recorded as ``token:<token>`` in ``source_items`` in the
transaction that stores the message: a replay is refused, and a retry after a
crash is stored once. The HTTP answer is decided in :mod:`mailgate.api.sources`:
406 for a refusal (Mailgun does not retry it), 200 after the commit, 5xx so
Mailgun retries when storing failed.
"""

from __future__ import annotations

import email.header
import email.policy
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from email.message import MIMEPart
from email.parser import BytesParser
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailgate.errors import MailgateError
from mailgate.inbound.pipeline import Incoming, Received, store_many
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import Source, SourceItem

#: A little clock skew between Mailgun and us is not an attack.
FUTURE_SKEW_SECONDS = 30
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


class Refused(MailgateError):
    """Not a genuine, fresh Mailgun request: answered 406 so Mailgun gives up."""

    code = "refused"
    status = 406


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
    """Mailgun's webhook signature: HMAC-SHA256(key, timestamp + token), fresh."""
    expected = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise Refused("bad signature", field="signature")
    try:
        ts = float(timestamp)
    except ValueError:
        raise Refused("timestamp is not a number", field="timestamp") from None
    age = (time.time() if now is None else now) - ts
    if age > max_age or age < -FUTURE_SKEW_SECONDS:
        raise Refused("timestamp is not within the allowed window", field="timestamp")


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


def accept(app: Context, source_id: str, content_type: str, body: bytes) -> Received:
    """Verify a route POST and store its message; raises :class:`Refused` (→ 406)."""
    with app.sessions() as session:
        source = session.get(Source, source_id)
        if source is None or source.kind != "mailgun":
            raise Refused("no such Mailgun source")
        workspace_id, enabled = source.workspace_id, source.enabled
        secrets = app.secrets.decrypt(source.secrets)
        max_age = int(source.config.get("max_age_seconds") or 300)
    if not enabled:
        # Mailgun retries non-406 answers for hours: a short pause loses nothing.
        raise SourceDisabled("this source is disabled")
    parts = parse_form(content_type, body)
    fields = {p.name: p.text for p in parts if p.filename is None}
    timestamp, token = fields.get("timestamp", ""), fields.get("token", "")
    verify(
        secrets.get("signing_key", ""),
        timestamp,
        token,
        fields.get("signature", ""),
        max_age=max_age,
    )
    if not token:
        raise Refused("no token", field="token")
    key = f"token:{token}"
    with app.sessions() as session:
        if session.scalar(
            select(SourceItem.id).where(
                SourceItem.source_id == source_id, SourceItem.item_key == key
            )
        ):
            raise Refused("this token was used before", field="token")
    raw, sender, rcpt = route_message(parts)
    if len(raw) > app.settings.max_message_bytes:
        raise Refused("message is over the size limit")
    item = Incoming(workspace_id, raw, "mailgun", sender, rcpt, item=(source_id, key))
    try:
        with transaction(app.sessions) as session:
            [received] = store_many(session, app, [item])
    except IntegrityError:  # the same token stored by a concurrent request
        raise Refused("this token was used before", field="token") from None
    if received.duplicate:
        raise Refused("this token was used before", field="token")
    app.wake_workers()
    return received


class SourceDisabled(MailgateError):
    """The source is switched off: 503, so Mailgun keeps the mail and retries."""

    code = "source_disabled"
    status = 503
