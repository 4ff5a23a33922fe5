"""Who may point a transport, a source or a webhook at which network (saving side).

The rule (DESIGN.md, "Tenancy, roles and trust"): a workspace key may only name
hosts the network policy allows — public addresses and the operator's
``MAILGATE_ALLOW_PRIVATE_NETWORKS``. Only an operator may point a workspace's SMTP
transport, IMAP/POP3 source or webhook anywhere else; the row then remembers
``private_network`` so that the connect-time check (:mod:`mailgate.outbound.netguard`)
lets it through. A workspace key that changes the host clears that approval.

Saving checks what it can (an address literal in any notation, and the name's
current DNS answer); the connect-time check is the one that counts, because
DNS can change between saving and connecting.
"""

from __future__ import annotations

from typing import Protocol

from mailgate.core.netpolicy import parse_ip_literal
from mailgate.errors import Forbidden
from mailgate.outbound.netguard import NetGuard, NetworkRefused, ResolveFailed, policy_message


class Approvable(Protocol):
    private_network: bool


def approve_host(
    row: Approvable,
    *,
    before: str | None,
    after: str | None,
    field: str,
    operator: bool,
    guard: NetGuard | None,
    creating: bool,
) -> None:
    """Record who chose ``after`` on ``row``; a workspace's refused host is 403 naming ``field``.

    ``before`` is the stored host (None when creating), ``after`` the one saved
    (None for kinds that connect nowhere). ``guard`` is the installation's policy;
    without one only an operator's choice is recorded and nothing is refused here.
    """
    changed = creating or (after or None) != (before or None)
    if not changed:
        return  # the same host as before: whoever chose it, that stands
    if operator:
        row.private_network = after is not None
        return
    row.private_network = False
    if after is not None and guard is not None:
        require_allowed(guard, after, field)


def require_allowed(guard: NetGuard, host: str, field: str) -> None:
    """403 naming ``field`` when ``host`` is, or now resolves to, a refused address."""
    reason = guard.literal_refusal(host)
    if reason is None and parse_ip_literal(host) is None:
        try:
            guard.check(host, 0)
        except ResolveFailed:
            pass  # it may not exist yet: connecting checks again, every time
        except NetworkRefused as exc:
            reason = exc.reason
    if reason is not None:
        raise Forbidden(
            f"{field}: {policy_message(host, reason)}; only an operator key may choose it",
            field=field,
        )
