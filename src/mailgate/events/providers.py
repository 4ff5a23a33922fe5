"""Provider event webhooks: what Mailgun or SendCloud saw after they took our mail.

Each HTTP provider transport posts its events to ``/v1/transports/{id}/events``
(the URL is on ``GET /v1/transports/{id}`` as ``events_url``, absolute under
``MAILGATE_PUBLIC_URL``). The transport module's ``parse_webhook`` hook normalises
the body into :class:`mailgate.outbound.http.ProviderEvent` items; the push-source
base checks the signature, the freshness and the replay record
(:mod:`mailgate.inbound.push`); this module applies them.

Evidence, not authority — the same rule as DSNs (inbound/routing.py): an event
changes state only when its provider message id names a recipient we sent
*through this transport*, and the address is that recipient. Anything else is
recorded in ``provider_events`` (``matched`` false, with the reason), an
``provider_event.unmatched`` event goes to the transport's workspace, and nothing
changes. Campaign mail (no ``messages`` row) is found the same way on its campaign
recipient, which keeps the transport and the provider's id it was sent with: the
recipient's state changes (``bounced``, ``complained``, ``unsubscribed``, hence the
campaign's counts), with the same suppressions, and proven bounces and complaints
count for the warm-up plans. Effects of a matched event:

=============  ==============================================================
delivered      recipient ``provider_status``; ``message.delivered``
bounced        recipient ``bounced``, ``hard_bounce`` suppression (scope all)
failed         one soft bounce towards a pause (MAILGATE_SOFT_BOUNCE_LIMIT)
complained     ``complaint`` suppression (scope all); ``message.complained``
unsubscribed   ``unsubscribe`` suppression (scope bulk)
opened         ``message.opened``
clicked        ``message.clicked``
=============  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailgate.inbound import campaign_feedback, suppression
from mailgate.inbound.push import Refused, replay_key, verify_hmac
from mailgate.outbound.http import HttpTransport, ProviderError, ProviderEvent
from mailgate.outbound.registry import TRANSPORTS
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.eventlog import emit_many, event
from mailgate.store.models import (
    Campaign,
    CampaignRecipient,
    MessageRow,
    Recipient,
    TransportRow,
    utcnow,
)
from mailgate.store.models import ProviderEvent as EventRow

#: Which config secret signs each provider's callbacks, and whether its time is in ms.
SIGNING = {"mailgun": ("webhook_signing_key", False), "sendcloud": ("app_key", True)}


@dataclass(frozen=True, slots=True)
class Outcome:
    matched: int
    unmatched: int
    ignored: int


def provider_class(kind: str) -> type[HttpTransport] | None:
    cls = TRANSPORTS.get(kind)
    return cls if isinstance(cls, type) and issubclass(cls, HttpTransport) else None


def events_path(transport_id: str) -> str:
    return f"/v1/transports/{transport_id}/events"


def accept(app: Context, transport_id: str, content_type: str, body: bytes) -> Outcome:
    """Verify one event callback and apply it; :class:`Refused` (→ 406) when not genuine."""
    with app.sessions() as session:
        row = session.get(TransportRow, transport_id)
        cls = provider_class(row.kind) if row is not None else None
        if row is None or cls is None or row.kind not in SIGNING:
            raise Refused("no such provider transport")
        secrets = app.secrets.decrypt(row.secrets)
        max_age = int((row.config or {}).get("max_age_seconds") or 300)
    secret_name, millis = SIGNING[row.kind]
    try:
        hook = cls.parse_webhook(content_type, body)
    except ProviderError as exc:
        raise Refused(str(exc)) from None
    verify_hmac(
        secrets.get(secret_name) or "",
        hook.timestamp,
        hook.token,
        hook.signature,
        max_age=max_age,
        millis=millis,
    )
    key = replay_key(hook.signature)
    limits = suppression.SoftBounceLimits(
        app.settings.soft_bounce_limit,
        app.settings.soft_bounce_window_days,
        app.settings.soft_bounce_suppress_days,
    )
    try:
        with transaction(app.sessions) as session:
            taken = session.scalar(
                select(EventRow.id).where(
                    EventRow.transport_id == transport_id, EventRow.replay_key == key
                )
            )
            if taken:
                raise Refused("this token was used before", field="token")
            if not hook.events:  # nothing to act on, but the signature is spent
                session.add(
                    EventRow(transport_id=transport_id, replay_key=key, kind="ignored",
                             matched=False, reason="not an event mailgate acts on")
                )
                return Outcome(0, 0, hook.ignored)
            matched = 0
            for n, item in enumerate(hook.events):
                ok = _apply(session, row, item, key if n == 0 else f"{key}:{n}", limits)
                matched += ok
            return Outcome(matched, len(hook.events) - matched, hook.ignored)
    except IntegrityError:  # the same signature applied by a concurrent request
        raise Refused("this token was used before", field="token") from None


def _apply(
    session: Session,
    row: TransportRow,
    item: ProviderEvent,
    key: str,
    limits: suppression.SoftBounceLimits,
) -> bool:
    now = utcnow()
    record = EventRow(
        transport_id=row.id,
        replay_key=key,
        kind=item.kind,
        provider_message_id=item.provider_message_id[:255],
        recipient=item.recipient[:320],
        matched=False,
        received_at=now,
    )
    session.add(record)
    found = _sent(session, row.id, Recipient.provider_message_id == item.provider_message_id)
    if not found:
        # A provider that keeps the Message-ID of the MIME we gave it (Mailgun may) names
        # the message by it: ours too, and still only through this transport.
        bare = item.provider_message_id.strip("<>")
        found = _sent(session, row.id, MessageRow.message_id.in_((f"<{bare}>", bare)))
    match = next(
        ((r, m) for r, m in found if r.address.lower() == item.recipient.lower()), None
    )
    if match is None and not found:
        # Campaign mail has no messages row: its recipient row keeps the provider id.
        person = _campaign_recipient(session, row.id, item)
        if person is not None:
            record.matched = True
            _apply_campaign(session, row, item, person, limits, now)
            return True
    if match is None:
        record.reason = (
            f"{item.recipient} was not a recipient of provider message "
            f"{item.provider_message_id}"
            if found
            else f"no message sent through this transport has provider id "
            f"{item.provider_message_id}"
        )
        if row.workspace_id:  # a system transport's stranger has no workspace to tell
            stranger: dict[str, Any] = {
                "transport": row.id,
                "provider": row.kind,
                "event": item.kind,
                "provider_message_id": item.provider_message_id,
                "recipient": item.recipient,
                "reason": record.reason,
            }
            emit_many(session, [event(row.workspace_id, "provider_event.unmatched", stranger,
                                      now=now)])
        return False
    rec, msg = match
    record.matched, record.message_pk = True, msg.id
    rec.provider_status, rec.provider_event_at = item.kind, now
    ws, address = msg.workspace_id, rec.address
    base: dict[str, Any] = {
        "message": msg.id,
        "recipient": address,
        "provider": row.kind,
        "provider_message_id": item.provider_message_id,
    }
    events: list[dict[str, Any]] = []
    if item.kind == "delivered":
        events.append(event(ws, "message.delivered", base, message_pk=msg.id, now=now))
    elif item.kind == "bounced":
        rec.status, rec.text, rec.updated_at = "bounced", item.text or "bounced", now
        suppression.suppress(
            session, ws, address, reason="hard_bounce", scope="all", now=now, source=msg.id
        )
        payload: dict[str, Any] = {
            **base,
            "recipients": [{"address": address, "diagnostic": item.text}],
        }
        events.append(event(ws, "message.bounced", payload, message_pk=msg.id, now=now))
    elif item.kind == "failed":
        suppression.soft_bounce(session, ws, address, msg.id, now, limits)
        payload = {**base, "text": item.text}
        events.append(event(ws, "message.soft_bounced", payload, message_pk=msg.id, now=now))
    elif item.kind == "complained":
        suppression.suppress(
            session, ws, address, reason="complaint", scope="all", now=now, source=msg.id
        )
        payload = {**base, "addresses": [address]}
        events.append(event(ws, "message.complained", payload, message_pk=msg.id, now=now))
    elif item.kind == "unsubscribed":
        if suppression.suppress(
            session, ws, address, reason="unsubscribe", scope="bulk", now=now, source=msg.id
        ):
            payload = {"address": address.lower(), "scope": "bulk", "message": msg.id,
                       "via": row.kind}
            events.append(event(ws, "suppression.unsubscribed", payload, now=now))
    elif item.kind in ("opened", "clicked"):
        events.append(event(ws, f"message.{item.kind}", base, message_pk=msg.id, now=now))
    emit_many(session, events)
    return True


def _campaign_recipient(
    session: Session, transport_id: str, item: ProviderEvent
) -> tuple[CampaignRecipient, str] | None:
    """The campaign recipient (and its workspace) sent through this transport that the
    event names, by the provider's id or our Message-ID, and only at that address."""
    bare = item.provider_message_id.strip("<>")
    t = CampaignRecipient
    for which in (t.provider_message_id == item.provider_message_id, t.message_id == bare):
        found = session.execute(
            select(t, Campaign.workspace_id)
            .join(Campaign, Campaign.id == t.campaign_id)
            .where(which, t.transport_id == transport_id, t.email == item.recipient.lower())
            .limit(1)
        ).first()
        if found is not None:
            return found[0], found[1]
    return None


def _apply_campaign(
    session: Session,
    row: TransportRow,
    item: ProviderEvent,
    person: tuple[CampaignRecipient, str],
    limits: suppression.SoftBounceLimits,
    now: Any,
) -> None:
    """What the event proves about campaign mail: the recipient's state (and so the
    campaign's counts), suppressions and the warm-up figures, as for other mail."""
    rec, ws = person
    address, source = rec.email, rec.campaign_id
    base: dict[str, Any] = {
        "campaign": rec.campaign_id,
        "recipient": address,
        "provider": row.kind,
        "provider_message_id": item.provider_message_id,
    }
    events: list[dict[str, Any]] = []
    if item.kind == "delivered":
        events.append(event(ws, "message.delivered", base, now=now))
    elif item.kind == "bounced":
        rec.state, rec.last_error = "bounced", item.text or "bounced"
        suppression.suppress(
            session, ws, address, reason="hard_bounce", scope="all", now=now, source=source
        )
        campaign_feedback.count_for_warmup(session, rec, "bounced", now)
        payload = {**base, "recipients": [{"address": address, "diagnostic": item.text}]}
        events.append(event(ws, "message.bounced", payload, now=now))
    elif item.kind == "failed":
        suppression.soft_bounce(session, ws, address, source, now, limits)
        events.append(event(ws, "message.soft_bounced", {**base, "text": item.text}, now=now))
    elif item.kind == "complained":
        rec.state = "complained"
        suppression.suppress(
            session, ws, address, reason="complaint", scope="all", now=now, source=source
        )
        campaign_feedback.count_for_warmup(session, rec, "complained", now)
        events.append(event(ws, "message.complained", {**base, "addresses": [address]}, now=now))
    elif item.kind == "unsubscribed":
        rec.state = "unsubscribed"
        if suppression.suppress(
            session, ws, address, reason="unsubscribe", scope="bulk", now=now, source=source
        ):
            payload = {"address": address, "scope": "bulk", "campaign": rec.campaign_id,
                       "via": row.kind}
            events.append(event(ws, "suppression.unsubscribed", payload, now=now))
    elif item.kind in ("opened", "clicked"):
        events.append(event(ws, f"message.{item.kind}", base, now=now))
    emit_many(session, events)


def _sent(session: Session, transport_id: str, which: Any) -> list[Any]:
    """(recipient, message) pairs of mail sent through this transport matching ``which``."""
    return list(
        session.execute(
            select(Recipient, MessageRow)
            .join(MessageRow, Recipient.message_pk == MessageRow.id)
            .where(which, MessageRow.transport_id == transport_id, MessageRow.direction == "out")
        ).all()
    )
