"""Warm-up: a daily quota that grows day by day while bounces and complaints stay low. Pure.

A new sending domain or IP has no reputation; receivers (Gmail, Outlook, QQ, 163)
throttle or junk a sudden volume from it. The usual cure, which SendCloud and the
other ESPs apply to new accounts, is to start small and multiply the daily volume
each good day. A *plan* says how::

    {"start": 200, "growth": 1.5, "target": 50000,
     "max_bounce_rate": 0.05, "max_complaint_rate": 0.001}

Day 0 allows ``start`` messages; each following day that (a) sent something and
(b) stayed under both rates moves one step: ``start × growth^step``, up to
``target``, where the warm-up is ``done`` and only the scope's own ``daily_quota``
(if any) applies. A bad day *holds* the step (it does not grow, and says why); a
day with nothing sent keeps the step as it is, since reputation grows with mail
actually delivered. The rates compare the bounces and complaints that arrived on
a day with the messages handed over that day: receivers report within hours, and
a rolling comparison needs no per-message bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mailgate.errors import InvalidInput

#: Bounds that catch a typo, not a real plan.
_MAX_VOLUME = 100_000_000


@dataclass(frozen=True, slots=True)
class Plan:
    start: int
    growth: float
    target: int
    max_bounce_rate: float = 0.05
    max_complaint_rate: float = 0.001

    def quota(self, step: int) -> int:
        # Integer steps by repeated multiplication: no float overflow for a long plan.
        value = float(self.start)
        for _ in range(step):
            value *= self.growth
            if value >= self.target:
                return self.target
        return min(self.target, max(1, round(value)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "growth": self.growth,
            "target": self.target,
            "max_bounce_rate": self.max_bounce_rate,
            "max_complaint_rate": self.max_complaint_rate,
        }


@dataclass(frozen=True, slots=True)
class DayStats:
    sent: int
    bounced: int
    complained: int


def plan_from(data: object) -> Plan:
    """A validated plan; each refusal names its field (``warmup.start``…)."""
    if not isinstance(data, dict):
        raise InvalidInput(
            "warmup must be an object such as "
            '{"start": 200, "growth": 1.5, "target": 50000}, or null',
            field="warmup",
        )
    unknown = sorted(
        set(data) - {"start", "growth", "target", "max_bounce_rate", "max_complaint_rate"}
    )
    if unknown:
        raise InvalidInput(f"warmup has no field {unknown[0]!r}", field=f"warmup.{unknown[0]}")
    start = _whole(data.get("start"), "start")
    target = _whole(data.get("target"), "target")
    if target < start:
        raise InvalidInput("warmup.target must be at least warmup.start", field="warmup.target")
    growth = _number(data.get("growth", 1.5), "growth", 1.05, 10.0)
    bounce = _number(data.get("max_bounce_rate", 0.05), "max_bounce_rate", 0.0, 1.0)
    complaint = _number(data.get("max_complaint_rate", 0.001), "max_complaint_rate", 0.0, 1.0)
    return Plan(start, growth, target, bounce, complaint)


def _whole(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_VOLUME:
        raise InvalidInput(
            f"warmup.{name} must be a whole number from 1 to {_MAX_VOLUME}", field=f"warmup.{name}"
        )
    return value


def _number(value: object, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(
            f"warmup.{name} must be a number from {low} to {high}", field=f"warmup.{name}"
        )
    return float(value)


def initial(plan: Plan, today: date) -> dict[str, Any]:
    """The state of a plan that starts today."""
    return {
        "step": 0,
        "date": today.isoformat(),
        "quota": plan.quota(0),
        "status": "warming",
        "reason": None,
    }


def roll(
    plan: Plan, state: dict[str, Any], today: date, yesterday: DayStats
) -> tuple[dict[str, Any], str | None]:
    """Today's state from the last one and the last day's figures, and the event to emit
    (``warmup.advanced``, ``warmup.held`` or None)."""
    step = int(state.get("step", 0))
    out = {**state, "date": today.isoformat()}
    if state.get("status") == "done":
        return out, None
    rates = _rates(yesterday)
    out.update(rates)
    if yesterday.sent == 0:
        out.update(status="warming", reason=f"nothing was sent on {state.get('date')}")
        return out, None
    over = _over(plan, rates)
    if over:
        out.update(status="held", reason=over, quota=plan.quota(step))
        return out, "warmup.held"
    step += 1
    quota = plan.quota(step)
    done = quota >= plan.target
    out.update(step=step, quota=quota, status="done" if done else "warming", reason=None)
    return out, "warmup.advanced"


def _rates(day: DayStats) -> dict[str, float]:
    sent = max(day.sent, 1)
    return {
        "bounce_rate": round(day.bounced / sent, 4),
        "complaint_rate": round(day.complained / sent, 5),
    }


def _over(plan: Plan, rates: dict[str, float]) -> str | None:
    if rates["bounce_rate"] > plan.max_bounce_rate:
        return (
            f"bounce rate {rates['bounce_rate']:.2%} is over {plan.max_bounce_rate:.2%}: "
            "clean the list (remove addresses that bounce) before sending more"
        )
    if rates["complaint_rate"] > plan.max_complaint_rate:
        return (
            f"complaint rate {rates['complaint_rate']:.3%} is over "
            f"{plan.max_complaint_rate:.3%}: send only to people who asked for this mail"
        )
    return None
