"""Sender policy: what the From, Sender and envelope sender become for a transport.

Many providers refuse a From that is not the authenticated account
(``553 5.7.1 mail from must equal authorized user``, ``501 mail from address must be
same as authorization user``). A transport picks one of three policies, after the
options Odoo offers for the same trouble:

* ``as_is`` — send the draft unchanged;
* ``on_behalf_of`` — keep the user in From and name the account in Sender
  (RFC 5322 §3.6.2: Sender is the mailbox that actually sent the message);
* ``restrict_from`` — From becomes the account, shown as "User via Workspace", and
  replies still reach the user through Reply-To (RFC 5322 §3.6.2, §3.6.3).
"""

from __future__ import annotations

from dataclasses import replace

from mailgate.core.message import Address, Draft
from mailgate.errors import InvalidInput

POLICIES = ("as_is", "on_behalf_of", "restrict_from")


def apply_sender_policy(
    draft: Draft,
    *,
    policy: str,
    account: Address,
    bounce_address: str | None,
    workspace_name: str,
) -> tuple[Draft, str]:
    """The draft with the policy applied (never mutated: a changed one is a copy), and
    the envelope sender (MAIL FROM)."""
    if policy == "as_is":
        return draft, bounce_address or draft.from_.address
    if policy == "on_behalf_of":
        sender = None if _same(account, draft.from_) else account
        return replace(draft, sender=sender), bounce_address or account.address
    if policy == "restrict_from":
        user = draft.from_
        if _same(account, user):
            return draft, account.address
        shown = f"{user.name or user.address} via {workspace_name}"
        reply_to = list(draft.reply_to) if draft.reply_to else [user]
        new = replace(
            draft,
            from_=Address(name=shown, address=account.address),
            reply_to=reply_to,
            sender=None,
        )
        # The account must also be MAIL FROM: the same providers compare it (RFC 5321 §3.3).
        return new, account.address
    raise InvalidInput(
        f"unknown sender policy {policy!r}; use one of {', '.join(POLICIES)}",
        field="sender_policy",
    )


def _same(a: Address, b: Address) -> bool:
    # RFC 5321 §2.4: the domain is case-insensitive; local parts are compared as given.
    la, _, da = a.address.rpartition("@")
    lb, _, db = b.address.rpartition("@")
    return la == lb and da.lower() == db.lower()
