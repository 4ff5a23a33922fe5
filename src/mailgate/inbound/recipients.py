"""Which workspace (if any) a recipient address belongs to: what the listener accepts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.crypto import SecretBox
from mailgate.inbound import tokens
from mailgate.store.models import Conversation, MessageRow, SupportAddress, TransportRow


def workspace_for(session: Session, box: SecretBox, address: str) -> str | None:
    """The workspace that receives mail for ``address``, or None (answer ``550``).

    In order: a signed reply or VERP token; a support address exactly; a bounce
    address of a transport; any address on the domain of a support address (the
    catch-all of Odoo's alias domain).
    """
    address = address.strip().strip("<>").lower()
    token = tokens.parse(box, address)
    if token is not None:
        kind, value = token
        if kind == "reply":
            ws = session.scalar(select(Conversation.workspace_id).where(Conversation.tag == value))
        else:
            ws = session.scalar(select(MessageRow.workspace_id).where(MessageRow.id == value))
        if ws:
            return ws
    exact = session.scalar(
        select(SupportAddress.workspace_id).where(func.lower(SupportAddress.address) == address)
    )
    if exact:
        return exact
    bounce = session.scalar(
        select(TransportRow.workspace_id).where(
            func.lower(TransportRow.bounce_address) == address,
            TransportRow.workspace_id.is_not(None),
        )
    )
    if bounce:
        return bounce
    domain = address.rpartition("@")[2]
    if not domain:
        return None
    return session.scalar(
        select(SupportAddress.workspace_id)
        .where(func.lower(SupportAddress.address).like(f"%@{domain}"))
        .order_by(SupportAddress.created_at)
        .limit(1)
    )
