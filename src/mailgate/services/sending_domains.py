"""Sending domains of a workspace: add, list, show, verify, remove (docs/domains.md).

A name is held by one workspace at most; another workspace asking for it gets a
``409`` that names nobody. Changing the sending domain later is adding the new one
and switching the transports' senders to it: nothing is bound at first use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailgate.core.domain_names import sending_domain_name
from mailgate.domains import checks, dkim, records
from mailgate.domains.state import next_check
from mailgate.errors import Conflict, NotFound
from mailgate.inbound import dmarc_reports as inbound_reports
from mailgate.services import limits
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import DkimKey, DmarcReport, SendingDomain, new_id, utcnow


def current_records(app: Context, session: Session, row: SendingDomain) -> list[dict[str, Any]]:
    """The records as last checked, with the DKIM ones following the keys as they are now.

    A rotation adds a key between two checks: its record is shown (``pending``) at
    once, and a retired key's record leaves, without waiting for the next check.
    A write: ``dkim_records`` retires keys whose grace period has ended.
    """
    stored = list(row.records or [])
    checked = {(r["host"], r["value"]): r for r in stored if r["purpose"] == "dkim"}
    fresh = [
        checked.get((r["host"], r["value"]))
        or records.record("dkim", r["type"], r["host"], r["value"], r["reason"])
        for r in dkim.dkim_records(session, app.secrets, row, app.settings)
    ]
    others = [r for r in stored if r["purpose"] != "dkim"]
    at = 1 if others and others[0]["purpose"] == "spf" else 0
    return others[:at] + fresh + others[at:]


def public(app: Context, session: Session, row: SendingDomain) -> dict[str, Any]:
    """The domain as the API shows it (run inside a transaction: see current_records)."""
    keys = dkim.published_keys(session, row)
    signing = next((k for k in keys if k.state == "active"), keys[0] if keys else None)
    return {
        "id": row.id,
        "name": row.name,
        "state": row.state,
        "records": current_records(app, session, row),
        "dkim": (
            {"selector": signing.selector, "algorithm": signing.algorithm}
            if signing is not None
            else None
        ),
        "warnings": list(row.warnings or []),
        "limits": limits.public(row),
        "quota": limits.quota(session, row),
        "verified_at": row.verified_at.isoformat() if row.verified_at else None,
        "checked_at": row.checked_at.isoformat() if row.checked_at else None,
        "next_check_at": row.next_check_at.isoformat() if row.next_check_at else None,
        "created_at": row.created_at.isoformat(),
    }


def _taken(session: Session, name: str) -> bool:
    return session.scalar(select(SendingDomain.id).where(SendingDomain.name == name)) is not None


def create(app: Context, workspace_id: str, name: str) -> dict[str, Any]:
    """Add ``name`` (422 naming ``name`` for a bad one, 409 if any workspace has it)."""
    name = sending_domain_name(name, field="name")
    with app.sessions() as session:
        if _taken(session, name):
            raise Conflict(f"{name} is already a sending domain", field="name")
    lookup = checks.dns_for(app)
    # Looked up before the transaction: DNS may be slow, the write lock must not wait.
    warnings = checks.mailbox_warning(name, lookup, checks.inbound_host(app))
    mechanisms = checks.spf_mechanisms(app, workspace_id, lookup)
    pairs = {dkim.RSA: dkim.new_key_pair(dkim.RSA)}  # made before the write lock is taken
    now = utcnow()
    try:
        with transaction(app.sessions) as session:
            row = SendingDomain(
                id=new_id("sdom"),
                workspace_id=workspace_id,
                name=name,
                state="pending",
                warnings=warnings,
                records=[],
                created_at=now,
                next_check_at=next_check("pending", now),
            )
            session.add(row)
            session.flush()
            dkim.ensure_keys(session, app.secrets, row, now=now, pairs=pairs)
            row.records = checks.expected(session, app, row, mechanisms)
            return public(app, session, row)
    except IntegrityError:  # a concurrent request took the name first
        raise Conflict(f"{name} is already a sending domain", field="name") from None


def get_own(session: Session, workspace_id: str, domain_id: str) -> SendingDomain:
    row = session.get(SendingDomain, domain_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no sending domain {domain_id} in this workspace", field="domain")
    return row


def listing(app: Context, workspace_id: str) -> list[dict[str, Any]]:
    with transaction(app.sessions) as session:
        rows = session.scalars(
            select(SendingDomain)
            .where(SendingDomain.workspace_id == workspace_id)
            .order_by(SendingDomain.name)
        ).all()
        return [public(app, session, r) for r in rows]


def show(app: Context, workspace_id: str, domain_id: str) -> dict[str, Any]:
    with transaction(app.sessions) as session:
        return public(app, session, get_own(session, workspace_id, domain_id))


def verify(app: Context, workspace_id: str, domain_id: str) -> dict[str, Any]:
    """Check every record against DNS now; the domain with each record's status."""
    with app.sessions() as session:
        get_own(session, workspace_id, domain_id)
    checks.run_check(app, domain_id)
    return show(app, workspace_id, domain_id)


def update(app: Context, workspace_id: str, domain_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """PATCH: the domain's sending limits (docs/transports.md, "Quotas, rates and throttling")."""
    with transaction(app.sessions) as session:
        row = limits.set_limits(session, workspace_id, domain_id, data)
        return public(app, session, row)


def dmarc_reports(
    app: Context, workspace_id: str, domain_id: str, limit: int = 30
) -> dict[str, Any]:
    """The domain's latest DMARC aggregate reports, newest period first, with their totals.

    ``passed`` counts messages with aligned DKIM or SPF; a ``failed`` share from a
    source you know is a transport missing from SPF or DKIM; from a source you
    don't, it is someone else sending as the domain.
    """
    with app.sessions() as session:
        get_own(session, workspace_id, domain_id)
        rows = session.scalars(
            select(DmarcReport)
            .where(DmarcReport.domain_id == domain_id)
            .order_by(DmarcReport.begin_at.desc(), DmarcReport.id.desc())
            .limit(limit)
        ).all()
        items = [
            {**inbound_reports.summary(r), "received_at": r.received_at.isoformat(), "rows": r.rows}
            for r in rows
        ]
    total = sum(i["messages"] for i in items)
    passed = sum(i["passed"] for i in items)
    return {"items": items, "messages": total, "passed": passed, "failed": total - passed}


def delete(app: Context, workspace_id: str, domain_id: str) -> None:
    with transaction(app.sessions) as session:
        row = get_own(session, workspace_id, domain_id)
        for key in session.scalars(select(DkimKey).where(DkimKey.domain_id == row.id)):
            session.delete(key)  # the private keys go with the domain
        session.delete(row)
