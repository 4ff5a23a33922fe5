"""Which workspace (if any) a recipient address belongs to: what the listener accepts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.core.domain_names import normalise_address
from mailgate.crypto import SecretBox
from mailgate.errors import InvalidInput
from mailgate.inbound import tokens
from mailgate.store.models import (
    Conversation,
    MessageRow,
    ReceivingDomain,
    SendingDomain,
    SupportAddress,
    TransportRow,
)


def workspace_for(session: Session, box: SecretBox, address: str) -> str | None:
    """The workspace that receives mail for ``address``, or None (answer ``550``).

    In order: a signed reply, VERP, unsubscribe or DMARC report token; a bounce address
    of a workspace's transport; a registered support address exactly. Nothing else: an unregistered
    address on a domain we receive for is refused, not caught all. When a workspace
    holds the domain (``receiving_domains``), only that workspace's addresses count,
    so a claim made before the operator assigned the domain stops receiving.
    Every comparison is an equality on the normalised address, never ``LIKE``.
    """
    address = address.strip().strip("<>").lower()
    token = tokens.parse(box, address)
    if token is not None:
        kind, value = token
        if kind == "reply":
            ws = session.scalar(select(Conversation.workspace_id).where(Conversation.tag == value))
        elif kind == "dmarc":
            ws = session.scalar(
                select(SendingDomain.workspace_id).where(SendingDomain.id == value)
            )
        else:  # verp, unsubscribe: the message it names
            ws = session.scalar(select(MessageRow.workspace_id).where(MessageRow.id == value))
        if ws:
            return ws
    try:
        address = normalise_address(address)
    except InvalidInput:
        return None
    domain = address.rpartition("@")[2]
    held = session.scalar(
        select(ReceivingDomain.workspace_id).where(ReceivingDomain.domain == domain)
    )
    bounces = session.scalars(
        select(TransportRow.workspace_id).where(
            func.lower(TransportRow.bounce_address) == address,
            TransportRow.workspace_id.is_not(None),
        )
    ).all()
    owners = {ws for ws in bounces if ws and held in (None, ws)}
    if owners:
        # A bounce address is reserved to its transport's workspace, even against a
        # support address another workspace registered before that was checked; two
        # workspaces naming one bounce address (old rows) is ambiguous: refuse.
        return owners.pop() if len(owners) == 1 else None
    exact = session.scalar(
        select(SupportAddress.workspace_id).where(func.lower(SupportAddress.address) == address)
    )
    return exact if exact and held in (None, exact) else None
