"""Warm-up plans applied where quotas are: at claim (today's quota) and at feedback (rates).

The plan and its state live on the transport or sending domain (``warmup``,
``warmup_state``); the day's figures are counters in ``send_counters`` beside the
quota's own: the scope's ``day`` count is what was handed over, and
``bounced:<scope>`` / ``complained:<scope>`` count the proven bounces and
complaints that arrived that day. A day rolls over once, in the first claim of the
new day: the one worker whose ``warmup:<scope>`` counter reaches 1 decides and
emits the event; a claim racing it uses the last state, which is never larger.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailgate.core import warmup
from mailgate.core.limits import window
from mailgate.errors import InvalidInput
from mailgate.store import counters
from mailgate.store.eventlog import event
from mailgate.store.models import MessageRow, SendingDomain, TransportRow, Workspace

FEEDBACK = ("bounced", "complained")


def today_quota(
    session: Session,
    *,
    kind: str,
    row_id: str,
    name: str,
    workspace_id: str | None,
    plan_data: Any,
    state: dict[str, Any] | None,
    tz: str,
    now: datetime,
    events: list[dict[str, Any]],
) -> int | None:
    """Today's warm-up quota of one scope (None: no plan, or the plan is done)."""
    if not plan_data:
        return None
    try:
        plan = warmup.plan_from(plan_data)
    except InvalidInput:
        return None  # validated when saved; a plan no longer valid limits nothing
    key = f"{kind}:{row_id}"
    day = window("day", now, tz)
    today = day.start.astimezone(ZoneInfo(tz)).date()
    if state is None:
        state = warmup.initial(plan, today)
        _save(session, kind, row_id, state)
    elif state.get("date") != today.isoformat() and _first_today(session, key, day.start):
        before = window("day", day.start - timedelta(seconds=1), tz).start
        figures = counters.used(
            session, [(f"{k}:{key}" if k else key, "day", before) for k in ("", *FEEDBACK)]
        )
        stats = warmup.DayStats(
            sent=figures[key],
            bounced=figures[f"bounced:{key}"],
            complained=figures[f"complained:{key}"],
        )
        state, kind_of_event = warmup.roll(plan, state, today, stats)
        _save(session, kind, row_id, state)
        if kind_of_event and workspace_id:
            payload = {"scope": kind, "id": row_id, "name": name, **state}
            events.append(event(workspace_id, kind_of_event, payload, now=now))
    if state.get("status") == "done":
        return None
    return int(state.get("quota") or plan.start)


def _first_today(session: Session, key: str, day_start: datetime) -> bool:
    """True for the one claim that rolls this scope's day over."""
    return counters.add(session, f"warmup:{key}", "day", day_start, 1) == 1


def _save(session: Session, kind: str, row_id: str, state: dict[str, Any]) -> None:
    model = TransportRow if kind == "transport" else SendingDomain
    session.execute(update(model).where(model.id == row_id).values(warmup_state=state))


def record_feedback(session: Session, out: MessageRow, kind: str, n: int, now: datetime) -> None:
    """Count ``n`` proven bounces or complaints (``kind``) about ``out`` for the warm-up
    plans of its transport and its From domain (nothing when neither has one)."""
    domain = out.from_addr.rpartition("@")[2].lower()
    record_feedback_for(session, out.workspace_id, out.transport_id, domain, kind, n, now)


def record_feedback_for(
    session: Session,
    workspace_id: str,
    transport_id: str | None,
    from_domain: str,
    kind: str,
    n: int,
    now: datetime,
) -> None:
    """The same for mail that has no ``messages`` row (campaign mail): its workspace,
    the transport it went out through and its From domain."""
    if n <= 0:
        return
    scopes: list[str] = []
    if transport_id:
        q = select(TransportRow.warmup).where(TransportRow.id == transport_id)
        if session.scalar(q):
            scopes.append(f"transport:{transport_id}")
    domain = from_domain.strip().rstrip(">").lower()
    if domain:
        found = session.execute(
            select(SendingDomain.id, SendingDomain.warmup).where(
                SendingDomain.workspace_id == workspace_id, SendingDomain.name == domain
            )
        ).first()
        if found is not None and found.warmup:
            scopes.append(f"domain:{found.id}")
    if not scopes:
        return
    tz = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    start = window("day", now, tz or "UTC").start
    for scope in scopes:
        counters.add(session, f"{kind}:{scope}", "day", start, n)
