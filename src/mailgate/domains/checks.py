"""Checking one sending domain: build its records, look them up, record the outcome.

The DNS look-ups run outside any transaction (a slow name server must not hold the
SQLite write lock); the outcome is written in one transaction with its event. The
scheduled re-check (:mod:`mailgate.domains.schedule`) and the *verify* button both
end here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailgate.domains import dkim, records, state, verify
from mailgate.inbound import tokens
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.eventlog import emit
from mailgate.store.models import SendingDomain, TransportRow, utcnow


def dns_for(app: Context) -> verify.Dns:
    """Look-ups through ``MAILGATE_DNS_RESOLVER``, else the system resolver."""
    return verify.Dns(nameserver=app.settings.dns_resolver)


def inbound_host(app: Context) -> str:
    return app.settings.inbound_host or app.settings.hostname


def senders(session: Session, workspace_id: str) -> list[records.Sender]:
    """The transports that may send the workspace's mail: its own and the system's."""
    rows = session.scalars(
        select(TransportRow)
        .where(TransportRow.enabled.is_(True))
        .where(or_(TransportRow.workspace_id == workspace_id, TransportRow.scope == "system"))
        .order_by(TransportRow.created_at, TransportRow.id)
    )
    return [records.Sender(kind=r.kind, config=dict(r.config or {})) for r in rows]


def spf_mechanisms(app: Context, workspace_id: str, lookup: verify.Dns) -> list[str]:
    """Our SPF mechanisms from today's transports; relays are resolved outside any transaction."""
    with app.sessions() as session:
        sending = senders(session, workspace_id)
    return records.spf_mechanisms(sending, hostname=app.settings.hostname, resolve=lookup.addresses)


def expected(
    session: Session, app: Context, row: SendingDomain, mechanisms: list[str]
) -> list[dict[str, Any]]:
    """The records ``row`` should publish now (SPF follows today's transports)."""
    return records.expected_records(
        row.name,
        mechanisms=mechanisms,
        dkim=dkim.dkim_records(session, app.secrets, row, app.settings),
        inbound_host=inbound_host(app),
        rua=tokens.dmarc_address(app.secrets, row.id, records.bounce_domain(row.name)),
    )


def mailbox_warning(name: str, lookup: verify.Dns, ours: str) -> list[str]:
    """A warning when ``name`` already receives mail elsewhere (the staff mailboxes)."""
    try:
        exchanges = [host for _, host in lookup.mx(name)]
    except verify.DnsUnavailable:
        return []
    elsewhere = [h for h in exchanges if h != ours.lower()]
    if not elsewhere:
        return []
    return [
        f"{name} already receives mail at {', '.join(sorted(elsewhere))}: it looks like your "
        f"organisation's own mailbox domain. Send bulk and application mail from a sub-domain "
        f"such as news.{name} instead: complaints and bounces from it then cannot hurt the "
        f"reputation your staff's mail depends on, and its SPF, DKIM and DMARC records can "
        f"change without touching the DNS your mailboxes need."
    ]


def check_records(
    expected_records: list[dict[str, Any]], lookup: verify.Dns
) -> list[dict[str, Any]]:
    return [verify.check(rec, lookup) for rec in expected_records]


def selector_of(rec: dict[str, Any]) -> str:
    return str(rec["host"]).split("._domainkey.", 1)[0]


def published_key(rec: dict[str, Any]) -> str | None:
    """The ``p=`` an ok DKIM record serves: ours, or (delegated CNAME) the one behind it."""
    for text in [rec["value"], *rec["found"]]:
        key = verify.tags(text).get("p")
        if key:
            return "".join(key.split())
    return None


def apply(
    session: Session,
    app: Context,
    row: SendingDomain,
    checked: list[dict[str, Any]],
    *,
    now: datetime,
) -> str | None:
    """Store a check's outcome on ``row``; the event it fired (type), if any."""
    # A rotated-in key signs from the moment its record is seen (domains/dkim.py).
    found = {
        selector_of(r): published_key(r)
        for r in checked
        if r["purpose"] == "dkim" and r["status"] == "ok"
    }
    if found:
        dkim.promote_verified(session, row, found, app.settings, now=now)
    new, event = state.next_state(row.state, checked)
    row.records = checked
    row.checked_at = now
    row.next_check_at = state.next_check(new, now)
    if new == "verified" and row.state != "verified":
        row.verified_at = now
    row.state = new
    if event is not None:
        emit(
            session,
            row.workspace_id,
            event,
            {
                "domain": {"id": row.id, "name": row.name, "state": new},
                "records": state.failing(checked),
            },
            now=now,
        )
    return event


def run_check(
    app: Context,
    domain_id: str,
    *,
    write: Callable[[Session, SendingDomain], bool] | None = None,
) -> bool:
    """Check ``domain_id`` now and store the outcome; False if the domain is gone.

    ``write`` decides, inside the writing transaction, whether this outcome may be
    stored (the scheduled lane checks it still holds the lease).
    """
    lookup = dns_for(app)
    with app.sessions() as session:
        workspace_id = session.scalar(
            select(SendingDomain.workspace_id).where(SendingDomain.id == domain_id)
        )
    if workspace_id is None:
        return False
    mechanisms = spf_mechanisms(app, workspace_id, lookup)
    # A write: dkim_records retires keys whose grace period has ended.
    with transaction(app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        if row is None:
            return False
        want = expected(session, app, row, mechanisms)
    checked = check_records(want, lookup)
    with transaction(app.sessions) as session:
        row = session.get(SendingDomain, domain_id)
        if row is None:
            return False
        if write is None or write(session, row):
            apply(session, app, row, checked, now=utcnow())
    return True
