"""Alias domains: one workspace, several companies (Odoo's multi-company set-up).

A group that runs ``acme.com`` and ``acme.cn`` from one help desk gives each domain
its own mail server and its own catch-all: mail *from* ``sales@acme.cn`` leaves
through the Chinese company's server and, when the caller gives no Reply-To,
carries ``catchall@acme.cn``. A support domain whose replies must reach a person
switches its catch-all off (``catchall: false``).

An alias domain only steers this workspace's own outgoing mail, so it needs no
proof of ownership (sending as a domain is what sending domains and DKIM prove).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.core.addresses import parse_address
from mailgate.core.domain_names import normalise_domain
from mailgate.errors import Conflict, InvalidInput, NotFound
from mailgate.services import transports as transport_service
from mailgate.store.models import AliasDomain, new_id


def public(row: AliasDomain) -> dict[str, Any]:
    return {
        "id": row.id,
        "domain": row.domain,
        "transport": row.transport_id,
        "reply_to": row.reply_to,
        "catchall": row.catchall,
        "created_at": row.created_at.isoformat(),
    }


def create(session: Session, workspace_id: str, data: dict[str, Any]) -> AliasDomain:
    domain = normalise_domain(str(data.get("domain") or ""), field="domain")
    taken = select(AliasDomain.id).where(
        AliasDomain.workspace_id == workspace_id, AliasDomain.domain == domain
    )
    if session.scalar(taken):
        raise Conflict(f"{domain} is an alias domain of this workspace already", field="domain")
    row = AliasDomain(id=new_id("alias"), workspace_id=workspace_id, domain=domain)
    _apply(session, workspace_id, row, {"catchall": True, **data})
    session.add(row)
    session.flush()  # a concurrent twin fails here: uq_alias_domains
    return row


def update(session: Session, workspace_id: str, alias_id: str, data: dict[str, Any]) -> AliasDomain:
    row = get(session, workspace_id, alias_id)
    if "domain" in data and data["domain"] != row.domain:
        raise InvalidInput("domain cannot change: add the new domain instead", field="domain")
    _apply(session, workspace_id, row, data)
    return row


def _apply(session: Session, workspace_id: str, row: AliasDomain, data: dict[str, Any]) -> None:
    if "transport" in data:
        if data["transport"]:
            transport_service.get(session, workspace_id, data["transport"])
        row.transport_id = data["transport"] or None
    if "reply_to" in data:
        value = data["reply_to"]
        row.reply_to = parse_address(value, field="reply_to").address if value else None
    if "catchall" in data:
        if not isinstance(data["catchall"], bool):
            raise InvalidInput("catchall must be true or false", field="catchall")
        row.catchall = data["catchall"]


def get(session: Session, workspace_id: str, alias_id: str) -> AliasDomain:
    row = session.get(AliasDomain, alias_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no alias domain {alias_id} in this workspace", field="id")
    return row


def listing(session: Session, workspace_id: str) -> list[AliasDomain]:
    q = select(AliasDomain).where(AliasDomain.workspace_id == workspace_id)
    return list(session.scalars(q.order_by(AliasDomain.domain)))
