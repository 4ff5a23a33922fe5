"""The re-check lane: sending domains whose ``next_check_at`` has come, one at a time.

Each due domain is leased (``queue/lease.py``) so that any number of workers share
the schedule without checking a domain twice; the outcome is written only while
the lease is still ours. After a check, ``next_check_at`` moves a day ahead for a
verified domain and an hour ahead otherwise (:mod:`mailgate.domains.state`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from mailgate.domains import checks, state
from mailgate.queue import lease
from mailgate.store.context import Context
from mailgate.store.db import transaction
from mailgate.store.models import SendingDomain, utcnow

log = logging.getLogger(__name__)

#: Domains claimed per step: checks are slow (DNS) and rare; small batches share well.
BATCH = 5


def claim_due(
    app: Context, owner: str, *, limit: int = BATCH, now: datetime | None = None
) -> list[str]:
    """Lease up to ``limit`` domains due for a check; their ids."""
    now = now or utcnow()
    d = SendingDomain
    walks = [
        lease.Walk((d.next_check_at <= now, d.lease_owner.is_(None)), d.next_check_at),
        lease.Walk((d.lease_until < now,), d.next_check_at),  # its worker died holding it
    ]
    with transaction(app.sessions) as session:
        rows = lease.claim(
            session, d, owner, walks, limit=limit, lease_seconds=app.settings.lease_seconds, now=now
        )
    return [str(r[0]) for r in rows]


def check_due(app: Context, *, limit: int = BATCH, now: datetime | None = None) -> int:
    """One step of the lane (blocking): claim, check, record; how many were checked."""
    owner = lease.new_owner("domains")
    ids = claim_due(app, owner, limit=limit, now=now)
    for domain_id in ids:
        retry: dict[str, datetime] = {}
        try:
            checks.run_check(
                app,
                domain_id,
                write=lambda session, row: bool(
                    lease.held(session, SendingDomain, {row.id: owner}, what="domain check")
                ),
            )
        except Exception:
            # Not at once again: a domain that breaks the check must not spin the lane.
            log.exception("checking sending domain %s failed", domain_id)
            retry = {"next_check_at": utcnow() + state.CHECK_UNVERIFIED}
        with transaction(app.sessions) as session:
            lease.release(session, SendingDomain, owner, [domain_id], **retry)
    return len(ids)
