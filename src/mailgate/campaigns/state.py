"""The campaign life cycle: draft → scheduled → sending ⇄ paused → done | cancelled.

``start`` schedules a draft (it begins sending at ``send_at``, or at once when
there is none); ``pause`` and ``resume`` stop and restart the dispatch lane within
one batch; ``cancel`` ends it for good (what was sent stays sent). ``done`` is
reached by the dispatcher alone, when no recipient is left to send.
"""

from __future__ import annotations

from mailgate.errors import Conflict

STATES = ("draft", "scheduled", "sending", "paused", "done", "cancelled")
#: Recipient states, in the order the counts are shown.
RECIPIENT_STATES = (
    "pending",
    "sent",
    "deferred",
    "failed",
    "bounced",
    "complained",
    "unsubscribed",
    "suppressed",
)
#: Recipient states still to send.
OPEN = ("pending", "deferred")

#: action → (states it may leave from, the state it leads to).
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft",), "scheduled"),
    "pause": (("scheduled", "sending"), "paused"),
    "resume": (("paused",), "sending"),
    "cancel": (("draft", "scheduled", "sending", "paused"), "cancelled"),
}


def transition(campaign_id: str, state: str, action: str) -> str:
    """The state ``action`` leads to from ``state``; Conflict (409) says why not."""
    sources, target = ACTIONS[action]
    if state not in sources:
        allowed = " or ".join(sources)
        raise Conflict(
            f"campaign {campaign_id} is {state}: {action} applies only to a {allowed} campaign",
            field="state",
        )
    return target
