"""Throttling replies: back off the receiving domain, not just the one message.

Called while an attempt is recorded. A reply that :func:`mailgate.core.throttle.classify`
recognises marks the recipient's result ``throttled`` (and transient: QQ says
``550 … frequency limited`` for a limit that lifts), and upserts the
``destination_throttles`` row of (transport, recipient domain): nothing goes to that
domain before ``until`` (doubling per strike), then at most ``concurrency`` messages
per claim (halved per strike) until ``cut_until`` (:mod:`mailgate.queue.limits`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailgate.core.throttle import Throttle, backoff_seconds, classify, cut_concurrency
from mailgate.queue.outbox import Outcome
from mailgate.store.models import DestinationThrottle

#: The cut concurrency lasts this many backoffs after ``until``.
_CUT_BACKOFFS = 10


@dataclass(frozen=True, slots=True)
class Policy:
    base_seconds: float
    max_seconds: float
    concurrency: int


def note(
    session: Session, outcomes: list[Outcome], policy: Policy, now: datetime
) -> dict[str, datetime]:
    """Mark throttled results in ``outcomes``; returns message id → not before.

    One read and one upsert per throttled domain of the batch; nothing when no
    reply was a throttle.
    """
    seen: dict[tuple[str, str], Throttle] = {}
    hit: dict[str, set[tuple[str, str]]] = {}
    for outcome in outcomes:
        tid = outcome.message.transport_id
        if not tid:
            continue
        for i, res in enumerate(outcome.results):
            if res.accepted:
                continue
            throttle = classify(res.code, res.enhanced_status, res.text)
            if throttle is None:
                continue
            key = (tid, res.address.rpartition("@")[2].lower())
            if key not in seen or throttle.severity == "block":
                seen[key] = throttle
            hit.setdefault(outcome.message.id, set()).add(key)
            outcome.results[i] = dataclasses.replace(res, permanent=False, throttled=True)
    if not seen:
        return {}
    untils = {key: _upsert(session, key, t, policy, now) for key, t in seen.items()}
    return {mid: max(untils[k] for k in keys) for mid, keys in hit.items()}


def _upsert(
    session: Session, key: tuple[str, str], throttle: Throttle, policy: Policy, now: datetime
) -> datetime:
    transport_id, domain = key
    row = session.execute(
        select(
            DestinationThrottle.strikes,
            DestinationThrottle.concurrency,
            DestinationThrottle.cut_until,
        ).where(
            DestinationThrottle.transport_id == transport_id, DestinationThrottle.domain == domain
        )
    ).first()
    ongoing = row is not None and row.cut_until > now
    strikes = row.strikes + 1 if row is not None and ongoing else 1
    concurrency = cut_concurrency(row.concurrency if ongoing and row else None, policy.concurrency)
    delay = backoff_seconds(
        strikes, throttle.severity, base=policy.base_seconds, cap=policy.max_seconds
    )
    until = now + timedelta(seconds=delay)
    values = {
        "until": until,
        "strikes": strikes,
        "concurrency": concurrency,
        "cut_until": until + timedelta(seconds=delay * _CUT_BACKOFFS),
        "reason": throttle.reason,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(DestinationThrottle).values(transport_id=transport_id, domain=domain, **values)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["transport_id", "domain"], set_=values)
    )
    return until
