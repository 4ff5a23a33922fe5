"""Sending limits checked when a worker claims a batch: quotas, rates, throttled domains.

After :func:`mailgate.queue.outbox.claim` leased a batch, :func:`gate` decides what
of it may leave now and puts the rest back, still durable, with a time to try:

* a receiving domain that throttled this transport (``destination_throttles``)
  gets nothing before its ``until``, then at most ``concurrency`` messages per
  claim while its cut lasts;
* ``rate_per_second`` / ``rate_per_minute`` of the transport or of the sending
  domain (the From domain): the excess waits for the next window;
* ``daily_quota``: the excess is ``held`` (reason ``quota_exceeded``) until the day
  resets in the workspace's time zone, its lifetime extended by the hold, and
  ``quota.exhausted`` is emitted once per scope and day.

Counts live in ``send_counters`` (:mod:`mailgate.store.counters`): one upsert per
scope and window per claim, never a query per message. A message counts when it
is handed to the transport, whether or not the receiver then accepts it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailgate.core.limits import window
from mailgate.queue import warmup
from mailgate.queue.outbox import Claimed
from mailgate.store import counters
from mailgate.store.db import update_rows
from mailgate.store.eventlog import emit_many, event
from mailgate.store.models import (
    DestinationThrottle,
    MessageRow,
    SendingDomain,
    TransportRow,
    Workspace,
)

QUOTA_EXCEEDED = "quota_exceeded"
_Counted = list[tuple[str, datetime, list[Claimed]]]
_WINDOWS = (("second", "rate_per_second"), ("minute", "rate_per_minute"), ("day", "daily_quota"))


@dataclass(slots=True)
class Scope:
    """A transport or sending domain with at least one limit."""

    key: str  # transport:<id> | domain:<id>
    kind: str  # transport | domain
    id: str
    name: str
    workspace_id: str | None
    limits: dict[str, int]  # window → limit
    tz: str = "UTC"
    members: list[Claimed] = field(default_factory=list)
    #: A warm-up plan and its state (queue/warmup.py): today's quota joins ``limits``.
    warmup: Any = None
    warmup_state: dict[str, Any] | None = None
    #: What an HTTP provider's account API said (outbound/http.py): its quota joins too.
    provider_state: dict[str, Any] | None = None


@dataclass(slots=True)
class _Putback:
    status: str
    next_attempt_at: datetime
    last_error: str
    expires_at: datetime | None


def gate(
    session: Session,
    claimed: list[Claimed],
    now: datetime,
    *,
    put_back: dict[str, str] | None = None,
) -> list[Claimed]:
    """What of ``claimed`` may be delivered now; the rest is put back in this transaction.

    ``put_back`` receives id → new status of what was put back (immediate mode
    answers it: ``held`` or ``queued``).
    """
    if not claimed:
        return claimed
    back: dict[str, _Putback] = {}
    _throttled(session, claimed, now, back)
    scopes = _scopes(session, [c for c in claimed if c.id not in back])
    events: list[dict[str, Any]] = []
    for scope in scopes:
        _warm_up(session, scope, now, events)
        _provider_quota(scope, now)
    counted = [(scope, _count(session, scope, now, back, events)) for scope in scopes]
    for scope, windows in counted:
        _give_back(session, scope, windows, back)
    emit_many(session, events)
    if back:
        _put_back(session, claimed, back, now)
        if put_back is not None:
            put_back.update({mid: p.status for mid, p in back.items()})
    return [c for c in claimed if c.id not in back]


def _status(msg: Claimed) -> str:
    return "queued" if msg.attempts == 0 else "deferred"


def _domains(msg: Claimed) -> set[str]:
    return {a.rpartition("@")[2].lower() for a in msg.recipients}


def _throttled(
    session: Session, claimed: list[Claimed], now: datetime, back: dict[str, _Putback]
) -> None:
    """Hold back mail to receiving domains that asked this transport to slow down."""
    tids = {c.transport_id for c in claimed if c.transport_id}
    if not tids:
        return
    rows = session.execute(
        select(
            DestinationThrottle.transport_id,
            DestinationThrottle.domain,
            DestinationThrottle.until,
            DestinationThrottle.concurrency,
            DestinationThrottle.reason,
        ).where(DestinationThrottle.transport_id.in_(tids), DestinationThrottle.cut_until > now)
    ).all()
    if not rows:
        return
    active = {(r.transport_id, r.domain): r for r in rows}
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for msg in claimed:
        hits = [active[k] for d in _domains(msg) if (k := (msg.transport_id or "", d)) in active]
        if not hits:
            continue
        blocked = [h for h in hits if h.until > now]
        if blocked:
            until = max(h.until for h in blocked)
            back[msg.id] = _Putback(_status(msg), until, blocked[0].reason, msg.expires_at)
            continue
        if any(taken[(h.transport_id, h.domain)] >= h.concurrency for h in hits):
            # Over the cut concurrency for this claim: the next second's claim takes it.
            reason = f"concurrency to {hits[0].domain} cut after throttling"
            back[msg.id] = _Putback(
                _status(msg), now + timedelta(seconds=1), reason, msg.expires_at
            )
            continue
        for h in hits:
            taken[(h.transport_id, h.domain)] += 1


def _scopes(session: Session, claimed: list[Claimed]) -> list[Scope]:
    """The limited transports and sending domains of these messages (two or three queries)."""
    if not claimed:
        return []
    tids = {c.transport_id for c in claimed if c.transport_id}
    wsids = {c.workspace_id for c in claimed}
    scopes: list[Scope] = []
    t = TransportRow
    for r in session.execute(
        select(
            t.id,
            t.name,
            t.workspace_id,
            t.daily_quota,
            t.rate_per_second,
            t.rate_per_minute,
            t.warmup,
            t.warmup_state,
            t.provider_state,
        )
        .where(t.id.in_(tids))
        .where(
            or_(
                t.daily_quota.is_not(None),
                t.warmup.is_not(None),
                t.provider_state.is_not(None),
                t.rate_per_second.is_not(None),
                t.rate_per_minute.is_not(None),
            )
        )
    ):
        scope = Scope(f"transport:{r.id}", "transport", r.id, r.name, r.workspace_id, _limits(r))
        scope.warmup, scope.warmup_state = r.warmup, r.warmup_state
        scope.provider_state = r.provider_state
        scope.members = [c for c in claimed if c.transport_id == r.id]
        scopes.append(scope)
    d = SendingDomain
    domains = session.execute(
        select(
            d.id,
            d.name,
            d.workspace_id,
            d.daily_quota,
            d.rate_per_second,
            d.rate_per_minute,
            d.max_connections,
            d.warmup,
            d.warmup_state,
        )
        .where(d.workspace_id.in_(wsids))
        .where(
            or_(
                d.daily_quota.is_not(None),
                d.warmup.is_not(None),
                d.rate_per_second.is_not(None),
                d.rate_per_minute.is_not(None),
                d.max_connections.is_not(None),
            )
        )
    ).all()
    if domains:
        ids = [c.id for c in claimed]
        from_addr: dict[str, str] = dict(
            session.execute(
                select(MessageRow.id, MessageRow.from_addr).where(MessageRow.id.in_(ids))
            ).all()
        )
        for dom in domains:
            scope = Scope(
                f"domain:{dom.id}", "domain", dom.id, dom.name, dom.workspace_id, _limits(dom)
            )
            scope.warmup, scope.warmup_state = dom.warmup, dom.warmup_state
            scope.members = [
                c
                for c in claimed
                if c.workspace_id == dom.workspace_id
                and from_addr.get(c.id, "").rpartition("@")[2].lower() == dom.name
            ]
            if dom.max_connections is not None:
                for c in scope.members:
                    c.slot = (scope.key, dom.max_connections)
            scopes.append(scope)
    if any(("day" in s.limits or s.warmup or s.provider_state) and s.workspace_id for s in scopes):
        zones: dict[str, str] = dict(
            session.execute(
                select(Workspace.id, Workspace.timezone).where(
                    Workspace.id.in_({s.workspace_id for s in scopes if s.workspace_id})
                )
            ).all()
        )
        for s in scopes:
            s.tz = zones.get(s.workspace_id or "", "UTC") or "UTC"
    # One order for every worker: two claims locking the same counter rows in
    # opposite orders would deadlock on PostgreSQL.
    return sorted((s for s in scopes if s.members), key=lambda s: s.key)


def _warm_up(session: Session, scope: Scope, now: datetime, events: list[dict[str, Any]]) -> None:
    """A warm-up plan's quota for today tightens the scope's daily quota."""
    quota = warmup.today_quota(
        session,
        kind=scope.kind,
        row_id=scope.id,
        name=scope.name,
        workspace_id=scope.workspace_id,
        plan_data=scope.warmup,
        state=scope.warmup_state,
        tz=scope.tz,
        now=now,
        events=events,
    )
    if quota is not None:
        scope.limits["day"] = min(scope.limits.get("day", quota), quota)


def _provider_quota(scope: Scope, now: datetime) -> None:
    """The provider's remaining daily quota tightens the scope's (SendCloud's account API).

    The effective quota is ``min(configured, counted at the check + remaining then)``,
    and only for the day the provider was asked (services/transports.py records
    ``counted`` and ``window_start`` with it): a new day waits for a new answer.
    """
    quota = (scope.provider_state or {}).get("quota")
    if not isinstance(quota, dict) or "remaining" not in quota:
        return
    if quota.get("window_start") != window("day", now, scope.tz).start.isoformat():
        return
    cap = int(quota.get("counted") or 0) + int(quota["remaining"])
    scope.limits["day"] = min(scope.limits.get("day", cap), cap)


def _limits(row: Any) -> dict[str, int]:
    return {w: getattr(row, col) for w, col in _WINDOWS if getattr(row, col) is not None}


def _count(
    session: Session,
    scope: Scope,
    now: datetime,
    back: dict[str, _Putback],
    events: list[dict[str, Any]],
) -> _Counted:
    """Count this scope's messages window by window; the excess is put back.

    What a later window or scope refuses was already counted by the earlier ones:
    it is given back (:func:`_give_back`), so a counter holds only what was handed
    to a transport.
    """
    counted: _Counted = []
    for kind, _ in _WINDOWS:
        limit = scope.limits.get(kind)
        if limit is None:
            continue
        members = [c for c in scope.members if c.id not in back]
        if not members:
            break
        win = window(kind, now, scope.tz)
        after = counters.add(session, scope.key, kind, win.start, len(members))
        before = after - len(members)
        allowed = max(0, min(len(members), limit - before))
        counters.give_back(session, scope.key, kind, win.start, len(members) - allowed)
        for msg in members[allowed:]:
            back[msg.id] = _refused(msg, scope, kind, win.end, now)
        counted.append((kind, win.start, members[:allowed]))
        if (
            kind == "day"
            and allowed < len(members)
            and counters.mark_exhausted(session, scope.key, win.start)
        ):
            events.extend(_exhausted(scope, limit, win.end, now))
    return counted


def _give_back(
    session: Session, scope: Scope, counted: _Counted, back: dict[str, _Putback]
) -> None:
    """Return to each window what a later window or scope refused after it counted."""
    for kind, start, members in counted:
        refused = sum(1 for c in members if c.id in back)
        counters.give_back(session, scope.key, kind, start, refused)


def _refused(msg: Claimed, scope: Scope, kind: str, resets: datetime, now: datetime) -> _Putback:
    if kind == "day":
        # Held, not failing: the lifetime clock stops while the quota keeps it here.
        expires = msg.expires_at + (resets - now) if msg.expires_at is not None else None
        return _Putback("held", resets, QUOTA_EXCEEDED, expires)
    reason = f"rate limit of {scope.kind} {scope.name!r}: {scope.limits[kind]} per {kind}"
    return _Putback(_status(msg), resets, reason, msg.expires_at)


def _exhausted(scope: Scope, limit: int, resets: datetime, now: datetime) -> list[dict[str, Any]]:
    payload = {
        scope.kind: scope.id,
        "name": scope.name,
        "daily": limit,
        "resets_at": resets.isoformat(),
    }
    workspaces = (
        {scope.workspace_id} if scope.workspace_id else {c.workspace_id for c in scope.members}
    )
    return [event(ws, "quota.exhausted", payload, now=now) for ws in sorted(workspaces)]


def _put_back(
    session: Session, claimed: list[Claimed], back: dict[str, _Putback], now: datetime
) -> None:
    rows = [
        {
            "id": c.id,
            "status": p.status,
            "next_attempt_at": p.next_attempt_at,
            "last_error": p.last_error,
            "expires_at": p.expires_at,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        for c in claimed
        if (p := back.get(c.id)) is not None
    ]
    update_rows(session, MessageRow, rows)
