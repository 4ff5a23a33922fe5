"""How much of a claimed campaign batch may leave now: quotas, rates, throttled domains.

The same counters as triggered mail (``send_counters``, queue/limits.py): a
transport's or sending domain's daily quota and rates are shared by both, so a
campaign cannot push the day's total over the quota. A campaign's own
``rate_per_minute`` is one more scope. What does not fit waits, still pending, for
the window to reset — a campaign never fails because the day's quota ran out.

One batch is one campaign through one transport with one From domain, so every
scope applies to the whole batch and the first ``allowed`` recipients go.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.core.limits import window
from mailgate.queue import warmup
from mailgate.store import counters
from mailgate.store.eventlog import emit, emit_many
from mailgate.store.models import DestinationThrottle, SendingDomain, TransportRow, Workspace

_WINDOWS = (("second", "rate_per_second"), ("minute", "rate_per_minute"), ("day", "daily_quota"))


@dataclass(slots=True)
class Verdict:
    """The recipients (by index) that may go; when the rest is due, and why."""

    allowed: list[int]
    #: index → (due, why): mail to a throttled receiving domain waits on its own.
    throttled: dict[int, tuple[datetime, str]]
    #: A quota or rate window that is full: the whole campaign waits for its reset.
    window_until: tuple[datetime, str] | None = None
    quota_wait: str | None = None  # set when a daily quota holds the rest


def _scopes(
    session: Session,
    transport_id: str,
    workspace_id: str,
    from_domain: str,
    campaign_id: str,
    rate_per_minute: int | None,
    now: datetime,
    events: list[dict[str, Any]],
) -> list[tuple[str, str, dict[str, int], str]]:
    """(key, label, window → limit, day's zone) of every limited scope, in one order.

    The day follows the zone of the scope's workspace (UTC for a system transport),
    exactly as for triggered mail: both must count into the same day's counter.
    """
    out: list[tuple[str, str, dict[str, int], str]] = []
    zone = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    zone = zone or "UTC"
    t = session.get(TransportRow, transport_id)
    if t is not None:
        lim = {w: getattr(t, c) for w, c in _WINDOWS if getattr(t, c) is not None}
        tz = zone if t.workspace_id == workspace_id else "UTC"
        _warm_up(session, "transport", t, tz, lim, now, events)
        if lim:
            out.append((f"transport:{t.id}", f"transport {t.name!r}", lim, tz))
    d = session.scalars(
        select(SendingDomain).where(
            SendingDomain.workspace_id == workspace_id, SendingDomain.name == from_domain
        )
    ).first()
    if d is not None:
        lim = {w: getattr(d, c) for w, c in _WINDOWS if getattr(d, c) is not None}
        _warm_up(session, "domain", d, zone, lim, now, events)
        if lim:
            out.append((f"domain:{d.id}", f"domain {d.name!r}", lim, zone))
    if rate_per_minute:
        minute = {"minute": rate_per_minute}
        out.append((f"campaign:{campaign_id}", "the campaign", minute, "UTC"))
    return sorted(out)  # one lock order for every worker (PostgreSQL deadlocks otherwise)


def gate(
    session: Session,
    *,
    campaign_id: str,
    workspace_id: str,
    transport_id: str,
    from_domain: str,
    rate_per_minute: int | None,
    emails: list[str],
    now: datetime,
) -> Verdict:
    """Count what may go now in every window of every scope; the rest gets a due time."""
    later: dict[int, tuple[datetime, str]] = {}
    _throttled(session, transport_id, emails, now, later)
    candidates = [i for i in range(len(emails)) if i not in later]
    quota_wait: str | None = None
    counted: list[tuple[str, str, datetime, int]] = []
    allowed_n = len(candidates)
    resets: tuple[datetime, str] | None = None
    events: list[dict[str, Any]] = []
    scopes = _scopes(
        session, transport_id, workspace_id, from_domain, campaign_id, rate_per_minute, now, events
    )
    emit_many(session, events)
    for key, label, lim, tz in scopes:
        for kind, _ in _WINDOWS:
            limit = lim.get(kind)
            if limit is None or allowed_n == 0:
                continue
            win = window(kind, now, tz if kind == "day" else "UTC")
            after = counters.add(session, key, kind, win.start, allowed_n)
            fits = max(0, min(allowed_n, limit - (after - allowed_n)))
            counters.give_back(session, key, kind, win.start, allowed_n - fits)
            counted.append((key, kind, win.start, fits))
            if fits < allowed_n:
                why = f"{'daily quota' if kind == 'day' else 'rate'} of {label}: {limit} per {kind}"
                if resets is None or win.end > resets[0]:
                    resets = (win.end, why)
                if kind == "day":
                    if counters.mark_exhausted(session, key, win.start):  # once a scope and day
                        scope_kind, _, scope_id = key.partition(":")
                        payload = {
                            scope_kind: scope_id,
                            "name": label.split(" ", 1)[1].strip("'"),
                            "daily": limit,
                            "resets_at": win.end.isoformat(),
                        }
                        emit(session, workspace_id, "quota.exhausted", payload, now=now)
                    quota_wait = (
                        f"waiting for the daily quota of {label} to reset at "
                        f"{win.end:%Y-%m-%d %H:%M} UTC"
                    )
                allowed_n = fits
    # What an earlier window counted but a later one refused goes back to the earlier one.
    for key, kind, start, fits in counted:
        counters.give_back(session, key, kind, start, fits - allowed_n)
    return Verdict(candidates[:allowed_n], later, resets, quota_wait)


def _warm_up(
    session: Session,
    kind: str,
    row: Any,
    tz: str,
    lim: dict[str, int],
    now: datetime,
    events: list[dict[str, Any]],
) -> None:
    """A warm-up plan's quota for today tightens the daily quota (queue/warmup.py)."""
    quota = warmup.today_quota(
        session,
        kind=kind,
        row_id=row.id,
        name=row.name,
        workspace_id=row.workspace_id,
        plan_data=row.warmup,
        state=row.warmup_state,
        tz=tz,
        now=now,
        events=events,
    )
    if quota is not None:
        lim["day"] = min(lim.get("day", quota), quota)


def _throttled(
    session: Session,
    transport_id: str,
    emails: list[str],
    now: datetime,
    later: dict[int, tuple[datetime, str]],
) -> None:
    """Receiving domains that asked this transport to slow down get nothing, or fewer."""
    rows = session.execute(
        select(
            DestinationThrottle.domain,
            DestinationThrottle.until,
            DestinationThrottle.concurrency,
            DestinationThrottle.reason,
        ).where(
            DestinationThrottle.transport_id == transport_id, DestinationThrottle.cut_until > now
        )
    ).all()
    if not rows:
        return
    active = {r.domain: r for r in rows}
    taken: dict[str, int] = defaultdict(int)
    for i, email in enumerate(emails):
        r = active.get(email.rpartition("@")[2])
        if r is None:
            continue
        if r.until > now:
            later[i] = (r.until, r.reason)
        elif taken[r.domain] >= r.concurrency:
            why = f"concurrency to {r.domain} cut after throttling"
            later[i] = (now + timedelta(seconds=1), why)
        else:
            taken[r.domain] += 1
