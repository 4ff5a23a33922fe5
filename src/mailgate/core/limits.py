"""Sending-limit windows: where a day, a minute or a second begins and ends. Pure.

A daily quota counts the workspace's calendar day (its IANA time zone), so a
quota of 10,000 "per day" resets at local midnight, as a person reading the
console expects; DST days are 23 or 25 hours long and that is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WINDOWS = ("day", "minute", "second")


@dataclass(frozen=True, slots=True)
class Window:
    kind: str  # day | minute | second
    start: datetime  # UTC
    end: datetime  # UTC: when the count resets


def window(kind: str, now: datetime, tz: str = "UTC") -> Window:
    """The ``kind`` window containing ``now`` (aware); a day follows ``tz``."""
    now = now.astimezone(UTC)
    if kind == "second":
        start = now.replace(microsecond=0)
        return Window(kind, start, start + timedelta(seconds=1))
    if kind == "minute":
        start = now.replace(second=0, microsecond=0)
        return Window(kind, start, start + timedelta(minutes=1))
    if kind != "day":
        raise ValueError(f"unknown window {kind!r}")
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    following = midnight.date() + timedelta(days=1)
    nxt = datetime(following.year, following.month, following.day, tzinfo=zone)
    return Window(kind, midnight.astimezone(UTC), nxt.astimezone(UTC))


def valid_timezone(name: object) -> str | None:
    """``name`` when it is an IANA zone this machine knows, else None."""
    if not isinstance(name, str) or not name or name != name.strip():
        return None
    if name not in available_timezones() and name != "UTC":
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
