"""Push sources: what a provider POSTs to us, verified once and stored once.

A push source kind (Mailgun routes today) is a :class:`PushKind`: how to read the
signed fields from the body as a stream, and how to turn a genuine body into a
message. This module owns the rest, the same for every kind and for provider
event webhooks (:mod:`mailgate.events.providers`):

* **signature first** — the signed fields are read from the spooled body before
  anything else is parsed; :func:`verify_hmac` checks HMAC-SHA256 of
  ``timestamp + token`` (Mailgun's and SendCloud's scheme) in constant time;
* **freshness** — the timestamp must be plain digits and within ``max_age``
  seconds (30 s of clock skew ahead allowed);
* **replay** — the record is the signature itself (:func:`replay_key`), written in
  the transaction that stores what the request carried, so a replay, a re-split
  of the signed string, or a retry after a crash is stored once;
* **answers** — 200 only after the commit, 406 for a refusal (:class:`Refused`:
  providers do not retry it), 503 when the source is disabled or storing failed
  (:class:`SourceDisabled`, any other error: the provider retries). The HTTP side
  is :mod:`mailgate.api.push`.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailgate.errors import MailgateError
from mailgate.inbound.pipeline import Incoming, Received, store_many
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import Source, SourceItem

#: A little clock skew between the provider and us is not an attack.
FUTURE_SKEW_SECONDS = 30
_TIMESTAMP = re.compile(r"[1-9][0-9]{0,11}")  # ASCII digits only: no "1e9", "nan", "+1", " 1"
_TIMESTAMP_MS = re.compile(r"[1-9][0-9]{0,14}")
_TOKEN = re.compile(r"[!-~]{1,200}")  # printable ASCII, no space
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class Refused(MailgateError):
    """Not a genuine, fresh request: answered 406 so the provider gives up."""

    code = "refused"
    status = 406


class SourceDisabled(MailgateError):
    """The source is switched off: 503, so the provider keeps the mail and retries."""

    code = "source_disabled"
    status = 503


def verify_hmac(
    key: str,
    timestamp: str,
    token: str,
    signature: str,
    *,
    max_age: int = 300,
    now: float | None = None,
    millis: bool = False,
) -> None:
    """HMAC-SHA256(key, timestamp + token) == signature, and the timestamp is fresh.

    The timestamp must be ASCII digits with no leading zero: anything else (``1e9``,
    ``nan``, ``+1``, `` 1``, ``0…``) is how the unseparated signed string would be
    re-split into another (timestamp, token). ``millis``: the provider sends
    milliseconds (SendCloud).
    """
    if not (_TIMESTAMP_MS if millis else _TIMESTAMP).fullmatch(timestamp):
        raise Refused("timestamp must be a Unix time in plain digits", field="timestamp")
    if not _TOKEN.fullmatch(token):
        raise Refused("token is missing or malformed", field="token")
    if not _SIGNATURE.fullmatch(signature):
        raise Refused("bad signature", field="signature")
    if not key:
        raise Refused("no signing key is configured", field="signature")
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise Refused("bad signature", field="signature")
    seconds = int(timestamp) / 1000 if millis else int(timestamp)
    age = (time.time() if now is None else now) - seconds
    if age > max_age or age < -FUTURE_SKEW_SECONDS:
        raise Refused("timestamp is not within the allowed window", field="timestamp")


def replay_key(signature: str) -> str:
    """The record that makes a signed request single: its MAC."""
    return f"sig:{signature.lower()}"


def chunks(body: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    while chunk := body.read(size):
        yield chunk


@dataclass(frozen=True, slots=True)
class Message:
    """What a genuine push carried: raw MIME and its envelope."""

    raw: bytes
    sender: str
    recipients: list[str]


@dataclass(frozen=True, slots=True)
class PushKind:
    """A push source kind: its settings and its two hooks."""

    kind: str
    Config: type[BaseModel]
    #: ``timestamp``, ``token``, ``signature`` from the body, read as a stream.
    signed_fields: Callable[[str, Iterable[bytes]], dict[str, str]]
    #: The message of a body whose signature was checked (may raise :class:`Refused`).
    message: Callable[[str, bytes], Message]
    #: Which secret of the source's config signs its requests.
    secret: str = "signing_key"
    #: Replay keys older versions recorded, besides :func:`replay_key` (still replays).
    legacy_keys: Callable[[dict[str, str]], list[str]] = field(default=lambda _signed: [])

    def webhook_path(self, source_id: str) -> str:
        return f"/v1/inbound/{source_id}"


def accept(
    app: Context,
    source_id: str,
    content_type: str,
    body: bytes | IO[bytes],
    kinds: dict[str, PushKind],
    *,
    only: str | None = None,
) -> Received:
    """Verify a push and store its message; raises :class:`Refused` (→ 406).

    ``body`` may be a file (the route spools large posts to disk): it is read whole
    only after the signature and the replay record have been checked. ``only``: the
    kind the URL named (the Mailgun-specific path); otherwise the source's kind.
    """
    stream: IO[bytes] = io.BytesIO(body) if isinstance(body, bytes) else body
    with app.sessions() as session:
        source = session.get(Source, source_id)
        if source is None or source.kind not in kinds or (only and source.kind != only):
            raise Refused(f"no such {only.title() + ' ' if only else 'push '}source")
        kind = kinds[source.kind]
        workspace_id, enabled = source.workspace_id, source.enabled
        secrets = app.secrets.decrypt(source.secrets)
        max_age = int(source.config.get("max_age_seconds") or 300)
    if not enabled:
        # Providers retry non-406 answers for hours: a short pause loses nothing.
        raise SourceDisabled("this source is disabled")
    stream.seek(0)
    signed = kind.signed_fields(content_type, chunks(stream))
    timestamp, token = signed.get("timestamp", ""), signed.get("token", "")
    signature = signed.get("signature", "")
    verify_hmac(secrets.get(kind.secret, ""), timestamp, token, signature, max_age=max_age)
    key = replay_key(signature)
    with app.sessions() as session:
        if session.scalar(
            select(SourceItem.id).where(
                SourceItem.source_id == source_id,
                SourceItem.item_key.in_((key, *kind.legacy_keys(signed))),
            )
        ):
            raise Refused("this token was used before", field="token")
    stream.seek(0)
    message = kind.message(content_type, stream.read())  # genuine and new: now parse it
    if len(message.raw) > app.settings.max_message_bytes:
        raise Refused("message is over the size limit")
    item = Incoming(
        workspace_id, message.raw, kind.kind, message.sender, message.recipients,
        item=(source_id, key),
    )
    try:
        with transaction(app.sessions) as session:
            [received] = store_many(session, app, [item])
    except IntegrityError:  # the same signature stored by a concurrent request
        raise Refused("this token was used before", field="token") from None
    if received.duplicate:
        raise Refused("this token was used before", field="token")
    app.wake_workers()  # acknowledged (200) by the caller only now, after the commit
    return received
