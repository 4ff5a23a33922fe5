"""Words the console shows for stored values (statuses, kinds, scopes, roles).

The stored value stays English (the API's vocabulary); ``Page.label`` shows its
translation. ``_`` here only marks the words for extraction into the catalogues.
"""

from __future__ import annotations


def _(message: str) -> str:
    return message


LABELS = {
    # outbound mail and recipients
    "queued": _("queued"),
    "sending": _("sending"),
    "deferred": _("deferred"),
    "held": _("held"),
    "sent": _("sent"),
    "failed": _("failed"),
    "pending": _("pending"),
    "suppressed": _("suppressed"),
    # received mail
    "received": _("received"),
    "processing": _("processing"),
    "processed": _("processed"),
    "dead": _("dead letter"),
    # kinds of mail
    "normal": _("normal"),
    "auto_reply": _("automatic reply"),
    "bounce": _("bounce"),
    "complaint": _("complaint"),
    "loop": _("loop"),
    # conversations
    "open": _("open"),
    "closed": _("closed"),
    # scopes and roles
    "system": _("system"),
    "workspace": _("workspace"),
    "team": _("team"),
    "operator": _("operator"),
    "admin": _("admin"),
    "agent": _("agent"),
    # webhook deliveries
    "delivered": _("delivered"),
    "retrying": _("retrying"),
    # suppression reasons and scopes
    "hard_bounce": _("hard bounce"),
    "soft_bounce": _("repeated soft bounces"),
    "manual": _("added by hand"),
    "unsubscribe": _("unsubscribed"),
    "all": _("all mail"),
    "bulk": _("bulk mail only"),
    # sending domains, their records and OAuth connections
    "verified": _("verified"),
    "degraded": _("degraded"),
    "ok": _("ok"),
    "missing": _("missing"),
    "mismatch": _("does not match"),
    "refreshing": _("refreshing"),
    "reauth_required": _("sign-in needed again"),
    # campaigns and their recipients
    "draft": _("draft"),
    "scheduled": _("scheduled"),
    "paused": _("paused"),
    "done": _("done"),
    "cancelled": _("cancelled"),
    "bounced": _("bounced"),
    "complained": _("complained"),
    "unsubscribed": _("unsubscribed"),
    "transactional": _("transactional"),
}
