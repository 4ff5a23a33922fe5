"""Webhook subscriptions per workspace, and the signature every delivery carries.

A subscription is a URL, the event types it wants (or ``"*"``) and a secret.
The secret is write-only: encrypted at rest with :class:`mailgate.crypto.SecretBox`,
shown once when mailgate generates it, never returned afterwards.

Signature (DESIGN.md, "Contracts others rely on")::

    X-Mailgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

The timestamp is inside the MAC so a captured request cannot be replayed later
than the receiver's tolerance; :func:`verify_signature` is what receivers run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as secrets_mod
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.core.netpolicy import parse_ip_literal
from mailgate.crypto import SecretBox
from mailgate.errors import Conflict, InvalidInput, NotFound
from mailgate.outbound.netguard import NetGuard, approve_host, require_allowed
from mailgate.store.eventlog import EVENT_TYPES
from mailgate.store.models import (
    Event,
    WebhookDelivery,
    WebhookSubscription,
    new_id,
    utcnow,
)

#: The event type ``POST /v1/webhooks/{id}/test`` sends; never fanned out to others.
TEST_EVENT = "webhook.test"
SIGNATURE_HEADER = "X-Mailgate-Signature"
MAX_URL_LENGTH = 2000

__all__ = [
    "SIGNATURE_HEADER",
    "TEST_EVENT",
    "check_events",
    "check_url",
    "create",
    "deliveries",
    "get",
    "listing",
    "new_secret",
    "payload",
    "public",
    "secret_of",
    "send_test",
    "sign",
    "update",
    "url_host",
    "verify_signature",
]


# -- signing -------------------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-Mailgate-Signature`` value for ``body`` at ``timestamp`` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds.

    ``body`` must be the raw request bytes, before any JSON parsing. Several ``v1=``
    parts are allowed (any one may match); a malformed header is simply ``False``.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body).encode()
    # Compare every candidate in constant time; never stop early on a match.
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(expected, candidate.encode())
    return found


def payload(event: Event) -> bytes:
    """The JSON body of a delivery: the same bytes on every attempt of it."""
    doc = {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "workspace": event.workspace_id,
        "data": event.payload,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


# -- validation ----------------------------------------------------------------------------


def url_host(url: str) -> str:
    """The host a webhook URL names, as written (brackets of IPv6 removed, lower case)."""
    return (urlsplit(url).hostname or "").lower()


def check_url(value: Any, *, guard: NetGuard | None = None) -> str:
    """An absolute http(s) URL naming a host and no credentials; InvalidInput names ``url``.

    With ``guard`` (a workspace choosing the URL), a host written as an address in
    any notation (``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
    ``[::ffff:127.0.0.1]``) that the network policy refuses is
    :class:`~mailgate.errors.Forbidden` (403) naming ``url``; names are checked by
    :func:`~mailgate.outbound.netguard.approve_host` and again at every delivery.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("a webhook needs a URL", field="url")
    url: str = value.strip()
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise InvalidInput("the URL is too long or contains whitespace", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput(f"{url!r} is not a URL", field="url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            "the URL must start with http:// or https:// and name a host", field="url"
        )
    if "@" in parts.netloc:
        # user:pass@ in a URL ends up in logs and in the delivery log: never accepted.
        raise InvalidInput("the URL must not contain a user name or password", field="url")
    host = url_host(url)
    if guard is not None and guard.literal_refusal(host) is not None:
        require_allowed(guard, host, "url")
    if parse_ip_literal(host) is None and not all(
        c.isalnum() or c in "-._" or not c.isascii() for c in host
    ):
        raise InvalidInput(f"{host!r} is not a host name", field="url")
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise InvalidInput(f"{url!r} is not a URL", field="url") from None
    return url


def check_events(events: Any) -> list[str]:
    """Known event types or ``"*"``, without duplicates; InvalidInput names ``events[i]``."""
    if not isinstance(events, list) or not events:
        raise InvalidInput('events must list event types, or ["*"] for all', field="events")
    out: list[str] = []
    for i, name in enumerate(events):
        if name != "*" and name not in EVENT_TYPES:
            raise InvalidInput(
                f"unknown event type {name!r}; known: {', '.join(EVENT_TYPES)} or '*'",
                field=f"events[{i}]",
            )
        if name not in out:
            out.append(name)
    return out


def _check_secret(secret: Any) -> str:
    if not isinstance(secret, str) or len(secret) < 16 or len(secret) > 200:
        raise InvalidInput("the secret must be 16 to 200 characters", field="secret")
    return secret


def new_secret() -> str:
    return "whsec_" + secrets_mod.token_urlsafe(32)


# -- subscriptions -------------------------------------------------------------------------


def public(row: WebhookSubscription) -> dict[str, Any]:
    """The API view of a subscription. The secret is never part of it."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "enabled": row.enabled,
        # An operator chose the URL: the network policy does not apply to it.
        "private_network": bool(row.private_network),
        "created_at": row.created_at.isoformat(),
    }


def create(
    session: Session,
    box: SecretBox,
    workspace_id: str,
    *,
    url: Any,
    events: Any,
    secret: Any = None,
    enabled: bool = True,
    operator: bool = False,
    guard: NetGuard | None = None,
) -> tuple[WebhookSubscription, str | None]:
    """Add a subscription; returns it and the generated secret (None if the caller gave one).

    ``operator`` is the caller's role and ``guard`` the network policy a workspace's
    URL must pass (:func:`~mailgate.outbound.netguard.approve_host`).
    """
    generated = None
    if secret is None:
        secret = generated = new_secret()
    checked = check_url(url, guard=None if operator else guard)
    row = WebhookSubscription(
        id=new_id("wh"),
        workspace_id=workspace_id,
        url=checked,
        events=check_events(events),
        secret=box.encrypt({"secret": _check_secret(secret)}),
        enabled=bool(enabled),
        created_at=utcnow(),
    )
    approve_host(
        row,
        before=None,
        after=checked,
        host=url_host(checked),
        field="url",
        operator=operator,
        guard=guard,
        creating=True,
    )
    session.add(row)
    session.flush()
    return row, generated


def update(
    session: Session,
    box: SecretBox,
    row: WebhookSubscription,
    data: dict[str, Any],
    *,
    operator: bool = False,
    guard: NetGuard | None = None,
) -> None:
    """PATCH semantics: only the fields given change; a new secret replaces the old one."""
    if "url" in data:
        unchanged = isinstance(data["url"], str) and data["url"].strip() == row.url
        checked = check_url(data["url"], guard=None if operator or unchanged else guard)
        approve_host(
            row,
            before=row.url,
            after=checked,
            host=url_host(checked),
            field="url",
            operator=operator,
            guard=guard,
            creating=False,
        )
        row.url = checked
    if "events" in data:
        row.events = check_events(data["events"])
    if "enabled" in data:
        if data["enabled"] is None:
            raise InvalidInput("enabled must be true or false", field="enabled")
        row.enabled = bool(data["enabled"])
    if "secret" in data:
        row.secret = box.encrypt({"secret": _check_secret(data["secret"])})
    session.flush()


def get(session: Session, workspace_id: str, subscription_id: str) -> WebhookSubscription:
    """A subscription of this workspace; any other workspace's is NotFound, like a missing one."""
    row = session.get(WebhookSubscription, subscription_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no webhook {subscription_id}", field="id")
    return row


def listing(session: Session, workspace_id: str) -> list[WebhookSubscription]:
    return list(
        session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.workspace_id == workspace_id)
            .order_by(WebhookSubscription.id)
        )
    )


def secret_of(box: SecretBox, row: WebhookSubscription) -> str:
    return str(box.decrypt(row.secret)["secret"])


# -- deliveries ----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def deliveries(
    session: Session,
    workspace_id: str,
    subscription_id: str,
    *,
    limit: int = 50,
    before: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of one subscription's delivery log, newest first; ``before`` is the cursor."""
    get(session, workspace_id, subscription_id)
    q = (
        select(WebhookDelivery, Event.type)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
    )
    if before:
        q = q.where(WebhookDelivery.id < before)
    rows = session.execute(q.order_by(WebhookDelivery.id.desc()).limit(limit + 1)).all()
    nxt = rows[limit - 1][0].id if len(rows) > limit else None
    items = [
        {
            "id": d.id,
            "event": d.event_id,
            "type": type_,
            "status": d.status,
            "attempts": d.attempts,
            "last_code": d.last_code,
            "last_error": d.last_error,
            "next_attempt_at": _iso(d.next_attempt_at)
            if d.status in ("pending", "retrying")
            else None,
            "created_at": _iso(d.created_at),
            "updated_at": _iso(d.updated_at),
        }
        for d, type_ in rows[:limit]
    ]
    return items, nxt


def send_test(session: Session, row: WebhookSubscription) -> tuple[str, str]:
    """Record a ``webhook.test`` event for this subscription only; returns (event, delivery).

    It bypasses :func:`mailgate.store.eventlog.emit_many` on purpose: a test ping
    must not reach the workspace's other (``"*"``) subscriptions.
    """
    if not row.enabled:
        raise Conflict("the webhook is disabled: enable it before testing", field="enabled")
    now = utcnow()
    ev = Event(
        id=new_id("ev"),
        workspace_id=row.workspace_id,
        type=TEST_EVENT,
        payload={"webhook": row.id, "message": "a test event sent from mailgate"},
        created_at=now,
    )
    session.add(ev)
    session.flush()  # the delivery's foreign key needs the event first
    delivery = WebhookDelivery(
        id=new_id("whd"),
        subscription_id=row.id,
        event_id=ev.id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    session.flush()
    return ev.id, delivery.id
