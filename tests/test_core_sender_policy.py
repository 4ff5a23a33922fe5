"""Tests for mailgate.core.sender_policy: as_is, on_behalf_of and restrict_from."""

from __future__ import annotations

import copy

import pytest

from mailgate.core.message import Address, Draft
from mailgate.core.sender_policy import apply_sender_policy
from mailgate.errors import InvalidInput

ACCOUNT = Address("Mailer", "mailer@provider.example")
USER = Address("Ann Lee", "ann@customer.example")


def _draft(**kw: object) -> Draft:
    base: dict[str, object] = {"from_": USER, "to": [Address("", "bob@example.org")]}
    base.update(kw)
    return Draft(subject="Hello", **base)  # type: ignore[arg-type]


def test_as_is_keeps_headers_and_uses_bounce_address() -> None:
    """as_is leaves From alone; the envelope is the bounce address when set."""
    d = _draft()
    new, env = apply_sender_policy(
        d, policy="as_is", account=ACCOUNT, bounce_address="b@x.example", workspace_name="Acme"
    )
    assert new == d and env == "b@x.example"


def test_as_is_envelope_defaults_to_from() -> None:
    """Without a bounce address as_is uses the From address as envelope sender."""
    _, env = apply_sender_policy(
        _draft(), policy="as_is", account=ACCOUNT, bounce_address=None, workspace_name="Acme"
    )
    assert env == USER.address


def test_on_behalf_of_sets_sender() -> None:
    """on_behalf_of keeps the user in From and puts the account in Sender."""
    new, env = apply_sender_policy(
        _draft(), policy="on_behalf_of", account=ACCOUNT, bounce_address=None, workspace_name="A"
    )
    assert new.from_ == USER and new.sender == ACCOUNT
    assert env == ACCOUNT.address


def test_on_behalf_of_prefers_bounce_address() -> None:
    """on_behalf_of uses the bounce address as envelope sender when configured."""
    _, env = apply_sender_policy(
        _draft(),
        policy="on_behalf_of",
        account=ACCOUNT,
        bounce_address="b@x.example",
        workspace_name="A",
    )
    assert env == "b@x.example"


def test_restrict_from_rewrites_from_and_reply_to() -> None:
    """restrict_from shows 'User via Workspace' on the account and replies go to the user."""
    new, env = apply_sender_policy(
        _draft(),
        policy="restrict_from",
        account=ACCOUNT,
        bounce_address="b@x.example",
        workspace_name="Acme",
    )
    assert new.from_ == Address("Ann Lee via Acme", ACCOUNT.address)
    assert new.reply_to == [USER]
    assert env == ACCOUNT.address


def test_restrict_from_uses_address_when_no_name() -> None:
    """Without a display name the user's address is shown before 'via'."""
    new, _ = apply_sender_policy(
        _draft(from_=Address("", "ann@customer.example")),
        policy="restrict_from",
        account=ACCOUNT,
        bounce_address=None,
        workspace_name="客服中心",
    )
    assert new.from_.name == "ann@customer.example via 客服中心"


def test_restrict_from_keeps_existing_reply_to() -> None:
    """A Reply-To already on the draft (a conversation's routing address) is kept."""
    route = [Address("", "reply+tok@mailgate.example")]
    new, _ = apply_sender_policy(
        _draft(reply_to=route),
        policy="restrict_from",
        account=ACCOUNT,
        bounce_address=None,
        workspace_name="Acme",
    )
    assert new.reply_to == route


def test_input_draft_not_mutated() -> None:
    """No policy changes the draft it was given."""
    d = _draft()
    before = copy.deepcopy(d)
    for policy in ("as_is", "on_behalf_of", "restrict_from"):
        apply_sender_policy(
            d, policy=policy, account=ACCOUNT, bounce_address=None, workspace_name="Acme"
        )
    assert d == before


def test_unknown_policy_refused() -> None:
    """An unknown policy raises InvalidInput naming sender_policy."""
    with pytest.raises(InvalidInput) as info:
        apply_sender_policy(
            _draft(), policy="spoof", account=ACCOUNT, bounce_address=None, workspace_name="A"
        )
    assert info.value.field == "sender_policy"
