"""``/v1/domains``: sending domains, the DNS records to publish, and their verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from mailgate.api.deps import AppDep, WorkspaceDep
from mailgate.api.schemas import Strict
from mailgate.services import sending_domains as svc

router = APIRouter(prefix="/v1/domains", tags=["domains"])


class DomainIn(Strict):
    name: str


class DomainPatch(Strict):
    # Sending limits; null is no limit. Typed loosely so that the service's own
    # refusal (naming the field and the range) is the one a caller sees.
    daily_quota: Any = None
    rate_per_second: Any = None
    rate_per_minute: Any = None
    max_connections: Any = None
    warmup: Any = None


@router.post("", status_code=201)
def create(body: DomainIn, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Add a sending domain: the records to publish, each with its reason (docs/domains.md)."""
    return svc.create(app, ws.id, body.name)


@router.get("")
def listing(ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    return {"items": svc.listing(app, ws.id)}


@router.get("/{domain_id}")
def get(domain_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """The domain as last checked (the scheduled re-check or the last verify)."""
    return svc.show(app, ws.id, domain_id)


@router.patch("/{domain_id}")
def patch(domain_id: str, body: DomainPatch, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Set the domain's daily quota, rates and connection cap; fields left out are kept."""
    return svc.update(app, ws.id, domain_id, body.model_dump(exclude_unset=True))


@router.post("/{domain_id}/verify")
def verify(domain_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Look every record up in DNS now; each record gets its status and what was found."""
    return svc.verify(app, ws.id, domain_id)


@router.get("/{domain_id}/dmarc-reports")
def dmarc_reports(
    domain_id: str, ws: WorkspaceDep, app: AppDep, limit: int = Query(30, ge=1, le=200)
) -> dict[str, Any]:
    """Receivers' DMARC aggregate reports about the domain (sent to its ``rua``), newest first."""
    return svc.dmarc_reports(app, ws.id, domain_id, limit)


@router.delete("/{domain_id}", status_code=204)
def delete(domain_id: str, ws: WorkspaceDep, app: AppDep) -> Response:
    svc.delete(app, ws.id, domain_id)
    return Response(status_code=204)
