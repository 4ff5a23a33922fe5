"""Addresses that route mail back: ``reply+TAG.SIG@domain`` and VERP ``LOCAL+MSG.SIG@domain``.

The signature is an HMAC with the installation's secret key, so a token can be
neither forged nor guessed from another one (a conversation tag alone is not
enough to post into a conversation). New tokens are signed with the current key;
tokens signed with a key in ``MAILGATE_OLD_SECRET_KEYS`` still verify, so rotating
the key does not break the reply addresses customers already hold. Once an old key
is dropped, its tokens are simply not tokens any more (``parse`` answers None).
"""

from __future__ import annotations

import re

from mailgate.crypto import SecretBox

_SIG_LEN = 12  # hex chars: 48 bits, checked online only (no offline guessing)
REPLY_LOCAL = "reply"
_TOKEN = re.compile(r"^(?P<base>[^+]+)\+(?P<id>[0-9a-z_]+)\.(?P<sig>[0-9a-f]{12})$", re.I)


def _sig(box: SecretBox, purpose: str, value: str) -> str:
    return box.sign(f"{purpose}:{value}")[:_SIG_LEN]


def reply_address(box: SecretBox, tag: str, domain: str) -> str:
    """The Reply-To that leads a customer's answer into conversation ``tag``."""
    return f"{REPLY_LOCAL}+{tag}.{_sig(box, 'reply', tag)}@{domain}"


def verp_address(box: SecretBox, bounce_address: str, message_pk: str) -> str:
    """The envelope sender for one message: bounces name the message they are about."""
    local, _, domain = bounce_address.rpartition("@")
    local = local.split("+", 1)[0]
    return f"{local}+{message_pk}.{_sig(box, 'verp', message_pk)}@{domain}"


def parse(box: SecretBox, address: str) -> tuple[str, str] | None:
    """``("reply", tag)`` or ``("verp", message_pk)`` for a genuine token address, else None."""
    local = address.rpartition("@")[0]
    m = _TOKEN.match(local)
    if not m:
        return None
    value, sig = m["id"], m["sig"].lower()
    kind = "reply" if m["base"].lower() == REPLY_LOCAL else "verp"
    if box.verify(f"{kind}:{value}", sig, length=_SIG_LEN):
        return kind, value
    return None
