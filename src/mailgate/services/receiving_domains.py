"""Receiving domains: the one workspace that receives a domain's mail.

The operator assigns a domain to a workspace; from then on only that workspace may
register an address on it (a support address, or a transport's bounce address), and
the listener refuses mail on it for anyone else. While the installation has a
single workspace (what ``mailgate init`` makes) that workspace holds every domain it
registers an address on, so a first set-up needs no operator step. A verification
round trip proves that mail reaches the installation, never who owns an address:
ownership comes from the domain. Conflicts answer 409 without naming the holder.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailgate.core.domain_names import normalise_address, normalise_domain
from mailgate.errors import Conflict, Forbidden, NotFound
from mailgate.store.models import ReceivingDomain, SupportAddress, TransportRow, Workspace, new_id


def domain_of(address: str, *, field: str = "address") -> str:
    """The normalised domain of an address (the part after the last ``@``)."""
    return normalise_address(address, field=field).rpartition("@")[2]


def holder(session: Session, domain: str) -> str | None:
    """The workspace that holds ``domain`` (normalised), or None."""
    return session.scalar(
        select(ReceivingDomain.workspace_id).where(ReceivingDomain.domain == domain)
    )


def public(row: ReceivingDomain) -> dict[str, Any]:
    return {
        "id": row.id,
        "domain": row.domain,
        "workspace": row.workspace_id,
        "created_at": row.created_at.isoformat(),
    }


def _on_domain(column: Any, domain: str) -> Any:
    """``column`` is an address on exactly ``domain`` (a suffix test, not a LIKE pattern)."""
    suffix = "@" + domain
    return func.substr(func.lower(column), func.length(column) - len(suffix) + 1) == suffix


def _others_on(session: Session, workspace_id: str, domain: str) -> bool:
    """Does another workspace receive for an address on ``domain`` already?"""
    support = session.scalar(
        select(SupportAddress.id)
        .where(SupportAddress.workspace_id != workspace_id)
        .where(_on_domain(SupportAddress.address, domain))
        .limit(1)
    )
    bounce = session.scalar(
        select(TransportRow.id)
        .where(TransportRow.workspace_id.is_not(None), TransportRow.workspace_id != workspace_id)
        .where(TransportRow.bounce_address.is_not(None))
        .where(_on_domain(TransportRow.bounce_address, domain))
        .limit(1)
    )
    return bool(support or bounce)


def assign(session: Session, workspace_id: str, domain: str) -> ReceivingDomain:
    """The operator gives ``domain`` to a workspace; 409 if it is held or in use elsewhere."""
    domain = normalise_domain(domain)
    if session.get(Workspace, workspace_id) is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace")
    if holder(session, domain) is not None:
        raise Conflict(f"{domain} is assigned already", field="domain")
    if _others_on(session, workspace_id, domain):
        raise Conflict(
            f"another workspace has addresses on {domain}: remove them first", field="domain"
        )
    row = ReceivingDomain(id=new_id("dom"), workspace_id=workspace_id, domain=domain)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent assignment won
        raise Conflict(f"{domain} is assigned already", field="domain") from None
    return row


def listing(session: Session, workspace_id: str) -> list[ReceivingDomain]:
    return list(
        session.scalars(
            select(ReceivingDomain)
            .where(ReceivingDomain.workspace_id == workspace_id)
            .order_by(ReceivingDomain.domain)
        )
    )


def get(session: Session, workspace_id: str, domain_id: str) -> ReceivingDomain:
    row = session.get(ReceivingDomain, domain_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no domain {domain_id} in this workspace", field="domain")
    return row


def _single_workspace(session: Session, workspace_id: str) -> bool:
    ids = session.scalars(select(Workspace.id).limit(2)).all()
    return list(ids) == [workspace_id]


def claim(
    session: Session,
    workspace_id: str,
    address: str,
    *,
    operator: bool,
    field: str = "address",
    needs_domain: bool = True,
) -> None:
    """May ``workspace_id`` receive mail for ``address``? Raise if not; take the domain if due.

    Held by this workspace: yes. Held by another, or the address is another
    workspace's (support or bounce address): 409, the same words either way. Held by
    nobody: an operator acting in the workspace, or the only workspace there is,
    takes the domain with it; any other workspace is refused (403) until the operator
    assigns it — unless ``needs_domain`` is False (a transport's bounce address, often
    on a sending domain nobody receives for): then the address alone is reserved.
    """
    address = normalise_address(address, field=field)
    domain = address.rpartition("@")[2]
    unavailable = Conflict(f"{address} is not available to this workspace", field=field)
    taken = session.scalar(
        select(SupportAddress.id).where(
            func.lower(SupportAddress.address) == address,
            SupportAddress.workspace_id != workspace_id,
        )
    ) or session.scalar(
        select(TransportRow.id).where(
            func.lower(TransportRow.bounce_address) == address,
            TransportRow.workspace_id.is_not(None),
            TransportRow.workspace_id != workspace_id,
        )
    )
    held = holder(session, domain)
    if taken or (held is not None and held != workspace_id):
        raise unavailable
    if held == workspace_id:
        return
    if operator or _single_workspace(session, workspace_id):
        if _others_on(session, workspace_id, domain):
            raise unavailable
        assign(session, workspace_id, domain)
        return
    if not needs_domain:
        return
    raise Forbidden(
        f"{domain} is not a receiving domain of this workspace: the operator assigns it "
        "(POST /v1/workspaces/{id}/domains or `mailgate workspace add-domain`)",
        field=field,
    )
