"""``/v1/domains/{id}/dkim``: a sending domain's DKIM keys and their rotation.

The domain itself (create, verify, records) is ``api/domains.py``; this router
shares its prefix. docs/domains.md, "DKIM".
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mailgate.api.deps import AppDep, OperatorDep, WorkspaceDep
from mailgate.domains import dkim
from mailgate.errors import Conflict
from mailgate.store.db import transaction

router = APIRouter(prefix="/v1/domains", tags=["domains"])
zone_router = APIRouter(prefix="/v1/dkim", tags=["domains"])


def _view(app: AppDep, session: Any, row: Any) -> dict[str, Any]:
    return {
        "domain_id": row.id,
        "name": row.name,
        "keys": [dkim.public_key_view(k) for k in dkim.published_keys(session, row)],
        "records": dkim.dkim_records(session, app.secrets, row, app.settings),
    }


@router.get("/{domain_id}/dkim")
def keys(domain_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """The published keys (pending, active, retiring) and the records they need."""
    with transaction(app.sessions) as session:  # a write: keys past their grace retire
        return _view(app, session, dkim.own_domain(session, ws.id, domain_id))


@router.post("/{domain_id}/dkim/rotate", status_code=201)
def rotate(domain_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Add the next key as ``pending``: publish its record; it signs once DNS serves it.

    The key it replaces keeps signing until then, and stays published for
    MAILGATE_DKIM_RETIRE_AFTER afterwards.
    """
    with transaction(app.sessions) as session:
        row = dkim.own_domain(session, ws.id, domain_id)
        dkim.rotate(session, app.secrets, row)
        return _view(app, session, row)


@router.post("/{domain_id}/dkim/ed25519", status_code=201)
def add_ed25519(domain_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Add an Ed25519 key (RFC 8463) beside RSA: ``pending`` until its record is found,
    then every message is signed twice. Asking again changes nothing."""
    with transaction(app.sessions) as session:
        row = dkim.own_domain(session, ws.id, domain_id)
        dkim.ensure_keys(session, app.secrets, row, ed25519=True)
        return _view(app, session, row)


@router.post("/{domain_id}/dkim/check")
def check(domain_id: str, ws: WorkspaceDep, app: AppDep) -> dict[str, Any]:
    """Look the pending keys up in DNS now (CNAMEs followed) and promote those found.

    The domain's own verification does this too; this is the DKIM-only shortcut,
    and the one that finds a rotated key behind a delegation CNAME.
    """
    with app.sessions() as session:
        row = dkim.own_domain(session, ws.id, domain_id)
        hosts = {
            k.selector: dkim.key_host(k, row)
            for k in dkim.published_keys(session, row)
            if k.state == "pending"
        }
    resolver = dkim.resolver_for(app.settings)  # look-ups outside any transaction
    found = {selector: dkim.lookup_p(resolver, host) for selector, host in hosts.items()}
    with transaction(app.sessions) as session:
        row = dkim.own_domain(session, ws.id, domain_id)
        promoted = dkim.promote_verified(session, row, found, app.settings)
        return {**_view(app, session, row), "promoted": [k.selector for k in promoted]}


@zone_router.get("/zone")
def zone(app: AppDep, _operator: OperatorDep) -> dict[str, Any]:
    """The TXT records the installation serves under MAILGATE_DKIM_DELEGATION_DOMAIN."""
    delegation = app.settings.dkim_delegation_domain
    if not delegation:
        raise Conflict(
            "MAILGATE_DKIM_DELEGATION_DOMAIN is not set: customers publish their keys "
            "themselves, and there is no zone to serve",
            field="dkim_delegation_domain",
        )
    with app.sessions() as session:
        return {"domain": delegation, "records": dkim.delegated_zone(session, delegation)}
