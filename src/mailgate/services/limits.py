"""Sending limits: set them on transports and sending domains, read the day's quota.

The limits are enforced by the worker when it claims mail (queue/limits.py); this
module validates them (each refusal names its field), sets the workspace's time
zone (where the quota's day begins) and answers ``quota: {daily, used_today,
resets_at}`` for the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from mailgate.core import warmup
from mailgate.core.limits import valid_timezone, window
from mailgate.errors import InvalidInput, NotFound
from mailgate.store import counters
from mailgate.store.models import MessageRow, SendingDomain, TransportRow, Workspace, utcnow

LIMIT_FIELDS = ("daily_quota", "rate_per_second", "rate_per_minute", "max_connections")
#: Upper bounds that catch a typo (an extra zero) rather than a real plan.
_MAX = {
    "daily_quota": 100_000_000,
    "rate_per_second": 100_000,
    "rate_per_minute": 6_000_000,
    "max_connections": 100,
}


def validated(data: dict[str, Any]) -> dict[str, int | None]:
    """The limit fields present in ``data``: whole numbers from 1 up, or null for none."""
    out: dict[str, int | None] = {}
    for name in LIMIT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be a whole number or null", field=name)
        if not 1 <= value <= _MAX[name]:
            raise InvalidInput(
                f"{name} must be between 1 and {_MAX[name]} (null for no limit)", field=name
            )
        out[name] = value
    return out


def apply(
    row: TransportRow | SendingDomain, data: dict[str, Any], session: Session | None = None
) -> None:
    """Set the limits given in ``data`` on a transport or sending domain (PATCH semantics).

    A changed ``daily_quota`` makes the mail it held due again at once: the next
    claim counts it against the new quota (and holds again what still does not fit).
    """
    values = validated(data)
    changed = "daily_quota" in values and values["daily_quota"] != row.daily_quota
    for name, value in values.items():
        setattr(row, name, value)
    if "warmup" in data:
        plan = None if data["warmup"] is None else warmup.plan_from(data["warmup"]).as_dict()
        if plan != row.warmup:
            # A new plan starts from its first day; the held mail is counted against it.
            row.warmup, row.warmup_state = plan, None
            changed = True
    if changed and session is not None and row.id is not None:
        _release_held(session, row)


def _release_held(session: Session, row: TransportRow | SendingDomain) -> None:
    q = update(MessageRow).where(MessageRow.status == "held")
    if isinstance(row, TransportRow):
        q = q.where(MessageRow.transport_id == row.id)
    else:  # held mail does not say which scope held it: the workspace's is re-checked
        q = q.where(MessageRow.workspace_id == row.workspace_id)
    session.execute(q.values(next_attempt_at=utcnow()))


def public(row: TransportRow | SendingDomain) -> dict[str, Any]:
    return {**{name: getattr(row, name) for name in LIMIT_FIELDS}, "warmup": row.warmup or None}


def set_limits(
    session: Session, workspace_id: str, domain_id: str, data: dict[str, Any]
) -> SendingDomain:
    """Set a sending domain's limits (the ``PATCH /v1/domains/{id}`` body's limit fields)."""
    row = session.get(SendingDomain, domain_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no domain {domain_id}", field="id")
    apply(row, data, session)
    return row


def set_timezone(session: Session, workspace_id: str, value: object) -> Workspace:
    """Where the workspace's day begins: an IANA zone name such as ``Europe/Paris``."""
    name = valid_timezone(value)
    if name is None:
        raise InvalidInput(
            "timezone must be an IANA time zone name such as 'Europe/Paris' or 'UTC'",
            field="timezone",
        )
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id}", field="workspace")
    ws.timezone = name
    return ws


def quota(
    session: Session, row: TransportRow | SendingDomain, now: datetime | None = None
) -> dict[str, Any] | None:
    """``{daily, used_today, resets_at}``, or None when there is no daily quota.

    Under a warm-up plan ``daily`` is today's warm-up quota when it is the smaller,
    and ``warmup`` says where the plan stands (step, status and why).
    """
    plan = row.warmup or {}
    state = dict(row.warmup_state or {}) if plan else {}
    daily = row.daily_quota
    if plan and state.get("status") != "done":
        today = int(state.get("quota") or plan["start"])
        daily = today if daily is None else min(daily, today)
    if daily is None:
        return None
    tz = "UTC"
    if row.workspace_id:
        ws = session.get(Workspace, row.workspace_id)
        tz = ws.timezone if ws is not None else "UTC"
    day = window("day", now or utcnow(), tz)
    kind = "transport" if isinstance(row, TransportRow) else "domain"
    key = f"{kind}:{row.id}"
    used = counters.used(session, [(key, "day", day.start)])[key]
    out: dict[str, Any] = {
        "daily": daily,
        "used_today": min(used, daily),
        "resets_at": day.end.isoformat(),
        "timezone": tz,
    }
    if plan:
        out["warmup"] = {"plan": plan, **state}
    return out


def apply_failover(session: Session, row: TransportRow, data: dict[str, Any]) -> None:
    """``fallback_transport`` (an id, or null) and ``failover_after`` (attempts, 1-100)."""
    if "failover_after" in data:
        n = data["failover_after"]
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100):
            raise InvalidInput(
                "failover_after must be a whole number of attempts from 1 to 100, or null",
                field="failover_after",
            )
        row.failover_after = n
    if "fallback_transport" in data:
        fid = data["fallback_transport"]
        if fid is not None:
            fallback = session.get(TransportRow, fid) if isinstance(fid, str) else None
            visible = fallback is not None and (
                fallback.scope == "system" or fallback.workspace_id == row.workspace_id
            )
            if fallback is None or not visible or fallback.id == row.id:
                raise InvalidInput(
                    "fallback_transport must be another transport of this workspace "
                    "or a system one",
                    field="fallback_transport",
                )
        row.fallback_transport_id = fid
