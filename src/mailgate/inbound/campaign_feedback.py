"""Bounces and complaints about campaign mail: the campaign recipient they prove.

Campaign mail has no ``messages`` row (it is composed at send time, docs/campaigns.md),
so :mod:`mailgate.inbound.routing` asks here when no message matched. The proof is
the same as for other mail, exact first: our signed ``X-Mailgate-Id`` marker
``cr_<recipient id>`` in the returned copy, then its Message-ID among the campaign
recipients of this workspace (indexed). Another workspace's campaign never matches.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.core.parse import ParsedMessage
from mailgate.crypto import SecretBox
from mailgate.inbound import markers, suppression
from mailgate.queue import warmup
from mailgate.store.eventlog import event
from mailgate.store.models import Campaign, CampaignRecipient, MessageRow

PREFIX = "cr_"  # campaigns/compose.py marks its mail with it


def recipient_for(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage
) -> CampaignRecipient | None:
    """The campaign recipient of this workspace the report is about, or None."""
    c = parsed.classification
    ws = row.workspace_id
    found: CampaignRecipient | None = None
    pk = markers.verify(box, ws, c.original_marker)
    if pk is not None and pk.startswith(PREFIX) and pk[len(PREFIX) :].isdigit():
        found = session.get(CampaignRecipient, int(pk[len(PREFIX) :]))
    elif c.original_message_id:
        found = session.scalars(
            select(CampaignRecipient)
            .where(CampaignRecipient.message_id == c.original_message_id.strip("<>"))
            .limit(1)
        ).first()
    if found is None:
        return None
    owner = session.scalar(select(Campaign.workspace_id).where(Campaign.id == found.campaign_id))
    return found if owner == ws else None


def count_for_warmup(session: Session, rec: CampaignRecipient, kind: str, now: datetime) -> None:
    """A proven hard bounce or complaint (``kind``) counts against the warm-up plans of
    the transport the mail went out through and of the campaign's From domain."""
    found = session.execute(
        select(Campaign.workspace_id, Campaign.from_addr).where(Campaign.id == rec.campaign_id)
    ).first()
    if found is None:
        return
    # A From that is itself a template has no one domain; the transport still counts.
    address = "" if "{" in found.from_addr else parseaddr(found.from_addr)[1]
    domain = address.rpartition("@")[2]
    warmup.record_feedback_for(
        session, found.workspace_id, rec.transport_id, domain, kind, 1, now
    )


def bounce(
    session: Session,
    box: SecretBox,
    row: MessageRow,
    parsed: ParsedMessage,
    failed: list[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]] | None:
    """Mark a proven hard or failed bounce on the campaign recipient; None: not campaign mail."""
    rec = recipient_for(session, box, row, parsed)
    if rec is None:
        return None
    mine = [r for r in failed if str(r.get("address", "")).lower() == rec.email]
    if not mine:
        return []  # a delay, or a report about someone else: nothing to change
    report = mine[0]
    rec.state = "bounced"
    rec.last_error = report.get("diagnostic") or report.get("status") or "bounced"
    if str(report.get("status") or "").startswith("5"):
        suppression.suppress(
            session,
            row.workspace_id,
            rec.email,
            reason="hard_bounce",
            scope="all",
            now=now,
            source=row.id,
        )
        count_for_warmup(session, rec, "bounced", now)
    payload = {"campaign": rec.campaign_id, "bounce": row.id, "recipients": mine}
    return [event(row.workspace_id, "message.bounced", payload, message_pk=row.id, now=now)]


def complaint(
    session: Session, box: SecretBox, row: MessageRow, parsed: ParsedMessage, now: datetime
) -> list[dict[str, Any]] | None:
    """A complaint about campaign mail: the one recipient complained; None: not campaign mail."""
    rec = recipient_for(session, box, row, parsed)
    if rec is None:
        return None
    rec.state = "complained"
    suppression.suppress(
        session,
        row.workspace_id,
        rec.email,
        reason="complaint",
        scope="all",
        now=now,
        source=row.id,
    )
    count_for_warmup(session, rec, "complained", now)
    report = parsed.classification.complaint or {}
    payload = {
        "campaign": rec.campaign_id,
        "complaint": row.id,
        "addresses": [rec.email],
        "feedback_type": report.get("feedback_type"),
    }
    return [event(row.workspace_id, "message.complained", payload, message_pk=row.id, now=now)]
