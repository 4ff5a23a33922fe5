"""A sending domain's state from its checked records, and the event a change fires.

* ``pending``: never verified yet (just created, or its records not all found).
* ``verified``: SPF, DKIM, the reply MX and the return path all ``ok``; DMARC is
  recommended and shown, never required (``p=none`` changes nothing for receivers).
* ``degraded``: was verified, and a required record is now missing or wrong. Mail
  still leaves: a record lost for an hour should not stop a business's mail.

A record whose look-up got no answer (``pending``) proves nothing either way: the
state stays what it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

REQUIRED = ("spf", "dkim", "mx", "return_path")
#: Re-check intervals: daily once verified, hourly until then (and while degraded).
CHECK_VERIFIED = timedelta(days=1)
CHECK_UNVERIFIED = timedelta(hours=1)


def next_state(old: str, records: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(new state, event type or None) after a check."""
    required = [r for r in records if r["purpose"] in REQUIRED]
    purposes = {r["purpose"] for r in required}
    failing = [r for r in required if r["status"] in ("missing", "mismatch")]
    if not failing and purposes == set(REQUIRED) and all(r["status"] == "ok" for r in required):
        return "verified", (None if old == "verified" else "domain.verified")
    if failing and old == "verified":
        return "degraded", "domain.degraded"
    return old, None


def next_check(state: str, now: datetime) -> datetime:
    return now + (CHECK_VERIFIED if state == "verified" else CHECK_UNVERIFIED)


def failing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What an event names: the records that are not ok, without their reasons."""
    return [
        {k: r.get(k) for k in ("purpose", "type", "host", "status", "detail")}
        for r in records
        if r["status"] != "ok"
    ]
