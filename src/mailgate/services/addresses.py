"""Support addresses (support@acme.com): what mailgate receives for, and its verification.

Verification is Zendesk's forwarding check: mailgate sends a mail *to* the address;
when that mail comes back through any inbound path (the company's server
forwarding it, an IMAP box, a Mailgun route), the address is verified. That proves
the mail reaches this installation, not which workspace owns the address: ownership
comes from the receiving domain (services/receiving_domains.py).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import update as update_rows
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.core.domain_names import normalise_address
from mailgate.errors import Conflict, InvalidInput, NotFound
from mailgate.inbound.routing import VERIFY_HEADER
from mailgate.queue.delivery import DeliveryContext
from mailgate.services import messages as message_service
from mailgate.services import receiving_domains, tenancy
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, SupportAddress, Workspace, new_id

STATES = ("pending", "verified", "failed", "disconnected")


def public(row: SupportAddress, session: Session | None = None) -> dict[str, Any]:
    """The address as the API shows it; with a session, its state and last check too."""
    out: dict[str, Any] = {
        "id": row.id,
        "address": row.address,
        "transport": row.transport_id,
        "team": row.team_id,
        "default": row.is_default,
        "verified": row.verified_at is not None,
        "verified_at": row.verified_at.isoformat() if row.verified_at else None,
        "created_at": row.created_at.isoformat(),
    }
    if session is not None:
        check = last_check(session, row)
        out["state"] = state(row, check)
        out["last_check"] = check
    return out


def last_check(session: Session, row: SupportAddress) -> dict[str, Any] | None:
    """The verification mail last sent: where its delivery stands, in the server's words."""
    if row.verify_message_pk is None:
        return None
    msg = session.get(MessageRow, row.verify_message_pk)
    if msg is None:
        return None
    return {
        "message": msg.id,
        "status": msg.status,
        "error": msg.last_error,
        "at": msg.updated_at.isoformat(),
    }


def state(row: SupportAddress, check: dict[str, Any] | None) -> str:
    """``pending`` | ``verified`` | ``failed`` | ``disconnected``.

    Verification survives a change of transport or credentials: it proves that mail
    *to* the address reaches mailgate, which a new outgoing server does not change.
    """
    if row.disconnected_at is not None:
        return "disconnected"
    if row.verified_at is not None:
        return "verified"
    if check is not None and check["status"] == "failed":
        return "failed"
    return "pending"


def update(
    session: Session, workspace_id: str, address_id: str, data: dict[str, Any]
) -> SupportAddress:
    """PATCH: ``transport``, ``team`` and ``default``; the verification is kept.

    Naming a transport reconnects a disconnected address. An address becomes the
    default sender only once verified (Zendesk's rule: mail must not go out from an
    address whose replies are not proven to come back).
    """
    row = get(session, workspace_id, address_id)
    if "transport" in data:
        if data["transport"]:
            transport_service.get(session, workspace_id, data["transport"])
            row.disconnected_at = None
        row.transport_id = data["transport"] or None
    if "team" in data:
        if data["team"]:
            tenancy.get_team(session, workspace_id, data["team"])
        row.team_id = data["team"] or None
    if data.get("default") is True:
        make_default(session, row)
    elif data.get("default") is False:
        row.is_default = False
    return row


def make_default(session: Session, row: SupportAddress) -> None:
    if row.verified_at is None or row.disconnected_at is not None:
        raise InvalidInput(
            f"{row.address} is not verified: it cannot be the default sender until its "
            f"verification mail comes back (POST /v1/addresses/{row.id}/verify)",
            field="default",
        )
    session.execute(
        update_rows(SupportAddress)
        .where(
            SupportAddress.workspace_id == row.workspace_id,
            SupportAddress.team_id.is_(None)
            if row.team_id is None
            else SupportAddress.team_id == row.team_id,
            SupportAddress.id != row.id,
        )
        .values(is_default=False)
    )
    row.is_default = True


def disconnect(
    session: Session, workspace_id: str, address_id: str, now: datetime
) -> SupportAddress:
    """Stop sending through the address's own server (its credentials are no longer used);
    mail to the address is still received, and its verification is kept for a reconnect."""
    row = get(session, workspace_id, address_id)
    row.transport_id = None
    row.is_default = False
    row.disconnected_at = now
    return row


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
    if data.get("default"):
        make_default(session, row)  # refused: a new address is not verified yet
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
    with transaction(app.sessions) as session:
        get(session, workspace.id, address_id).verify_message_pk = answer.id
    return answer
