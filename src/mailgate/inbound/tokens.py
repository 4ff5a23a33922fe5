"""Addresses that route mail back: ``reply+TAG.SIG@domain``, VERP ``LOCAL+MSG.SIG@domain``,
``unsubscribe+MSG.SIG@domain`` and the DMARC report address ``dmarc+DOMAIN.SIG@domain``.

The signature is an HMAC with the installation's secret key, so a token can be
neither forged nor guessed from another one (a conversation tag alone is not
enough to post into a conversation). New tokens are signed with the current key;
tokens signed with a key in ``MAILGATE_OLD_SECRET_KEYS`` still verify, so rotating
the key does not break the reply addresses customers already hold. Once an old key
is dropped, its tokens are simply not tokens any more (``parse`` answers None).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from mailgate.crypto import SecretBox

_SIG_LEN = 12  # hex chars: 48 bits, checked online only (no offline guessing)
REPLY_LOCAL = "reply"
UNSUBSCRIBE_LOCAL = "unsubscribe"
DMARC_LOCAL = "dmarc"
_KINDS = {REPLY_LOCAL: "reply", UNSUBSCRIBE_LOCAL: "unsubscribe", DMARC_LOCAL: "dmarc"}
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


def unsubscribe_address(box: SecretBox, message_pk: str, domain: str) -> str:
    """The List-Unsubscribe ``mailto:`` of a (single-recipient) bulk message."""
    return f"{UNSUBSCRIBE_LOCAL}+{message_pk}.{_sig(box, 'unsubscribe', message_pk)}@{domain}"


def dmarc_address(box: SecretBox, domain_pk: str, domain: str) -> str:
    """The ``rua`` of sending domain ``domain_pk``: aggregate reports come back to it.

    Signed like the others, so a report is filed under the domain that published the
    address, never under a workspace that merely claimed the same name later.
    """
    return f"{DMARC_LOCAL}+{domain_pk}.{_sig(box, 'dmarc', domain_pk)}@{domain}"


def parse(box: SecretBox, address: str) -> tuple[str, str] | None:
    """``(kind, value)`` for a genuine token address, else None: ``("reply", tag)``,
    ``("verp", message_pk)``, ``("unsubscribe", message_pk)`` or ``("dmarc", domain_pk)``."""
    local = address.rpartition("@")[0]
    m = _TOKEN.match(local)
    if not m:
        return None
    value, sig = m["id"], m["sig"].lower()
    base = m["base"].lower()
    kind = _KINDS.get(base, "verp")
    if box.verify(f"{kind}:{value}", sig, length=_SIG_LEN):
        return kind, value
    return None


_URL_SIG_LEN = 32  # hex chars: 128 bits; a link lives for years in mailboxes
_URL_TOKEN = re.compile(r"^(?P<data>[A-Za-z0-9_-]{4,600})\.(?P<sig>[0-9a-f]{32})$")


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """What an unsubscribe link speaks for: one recipient of one workspace's mail."""

    workspace_id: str
    address: str
    category: str


def unsubscribe_token(box: SecretBox, workspace_id: str, address: str, category: str) -> str:
    """The token of a List-Unsubscribe URL: the facts in clear (base64url), signed.

    Self-contained, so a link works after the message that carried it is gone.
    """
    data = f"{workspace_id}|{category}|{address.lower()}"
    encoded = base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")
    return f"{encoded}.{box.sign(f'unsubscribe-url:{encoded}')[:_URL_SIG_LEN]}"


def parse_unsubscribe(box: SecretBox, token: str) -> Unsubscribe | None:
    """The facts of a genuine token (current key or an old one), else None."""
    m = _URL_TOKEN.match(token)
    if not m or not box.verify(f"unsubscribe-url:{m['data']}", m["sig"], length=_URL_SIG_LEN):
        return None
    try:
        data = base64.urlsafe_b64decode(m["data"] + "=" * (-len(m["data"]) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    workspace_id, category, address = [*data.split("|", 2), "", ""][:3]
    if not (workspace_id and category and "@" in address):
        return None
    return Unsubscribe(workspace_id, address, category)
