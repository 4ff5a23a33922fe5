"""Support addresses (support@acme.com): what mailgate receives for, and its verification.

Verification is Zendesk's forwarding check: mailgate sends a mail *to* the address;
when that mail comes back through any inbound path (the company's server
forwarding it, an IMAP box, a Mailgun route), the address is verified. That proves
the mail reaches this installation, not which workspace owns the address: ownership
comes from the receiving domain (services/receiving_domains.py).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.core.domain_names import normalise_address
from mailgate.errors import Conflict, NotFound
from mailgate.inbound.routing import VERIFY_HEADER
from mailgate.queue.delivery import DeliveryContext
from mailgate.services import messages as message_service
from mailgate.services import receiving_domains, tenancy
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.models import SupportAddress, Workspace, new_id


def public(row: SupportAddress) -> dict[str, Any]:
    return {
        "id": row.id,
        "address": row.address,
        "transport": row.transport_id,
        "team": row.team_id,
        "verified": row.verified_at is not None,
        "verified_at": row.verified_at.isoformat() if row.verified_at else None,
        "created_at": row.created_at.isoformat(),
    }


def create(
    session: Session, workspace_id: str, data: dict[str, Any], *, operator: bool = False
) -> SupportAddress:
    """Register an address on a domain this workspace holds (services/receiving_domains.py).

    Another workspace's address or domain is a 409 that does not say whose it is.
    """
    parsed = parse_address(str(data.get("address") or ""), field="address").address
    address = normalise_address(parsed, field="address")
    if session.scalar(
        select(SupportAddress.id).where(
            func.lower(SupportAddress.address) == address,
            SupportAddress.workspace_id == workspace_id,
        )
    ):
        raise Conflict(f"{address} is registered in this workspace already", field="address")
    receiving_domains.claim(session, workspace_id, address, operator=operator)
    if data.get("transport"):
        transport_service.get(session, workspace_id, data["transport"])
    if data.get("team"):
        tenancy.get_team(session, workspace_id, data["team"])
    row = SupportAddress(
        id=new_id("adr"),
        workspace_id=workspace_id,
        address=address,
        transport_id=data.get("transport"),
        team_id=data.get("team"),
    )
    session.add(row)
    session.flush()
    return row


def get(session: Session, workspace_id: str, address_id: str) -> SupportAddress:
    row = session.get(SupportAddress, address_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no address {address_id}", field="id")
    return row


def listing(session: Session, workspace_id: str) -> list[SupportAddress]:
    return list(
        session.scalars(
            select(SupportAddress)
            .where(SupportAddress.workspace_id == workspace_id)
            .order_by(SupportAddress.created_at)
        )
    )


async def send_verification(
    app: DeliveryContext, workspace: Workspace, address_id: str
) -> message_service.Accepted:
    """Mail a one-time token to the address; its return through any inbound path verifies it."""
    token = secrets.token_urlsafe(24)
    with transaction(app.sessions) as session:
        row = get(session, workspace.id, address_id)
        row.verify_token = token
        address, transport = row.address, row.transport_id
    req = message_service.SendRequest(
        to=[address],
        subject=f"mailgate: verify forwarding for {address}",
        text=(
            f"This message checks that mail sent to {address} reaches mailgate.\n"
            "If it arrived in a person's mailbox instead, forwarding is not set up yet.\n\n"
            f"mailgate-verify:{token}\n"
        ),
        headers={VERIFY_HEADER: token},
        transport=transport,
        auto=True,
    )
    [answer] = await message_service.accept(app, workspace, [req])
    if answer.error is not None:
        raise answer.error
    return answer
