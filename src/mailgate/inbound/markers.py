"""The mark on our own outgoing mail: ``X-Mailgate-Id: <message id>.<HMAC>``.

The HMAC covers the workspace *and* the message, so only the workspace that sent
a message can recognise it when it comes back: a loop is our own mail returning
to the same workspace, while mail from workspace B to A's support address (two
tenants on one installation) is ordinary mail for A. The same mark in the
returned copy inside a bounce or an ARF report proves the report is about a
message this workspace sent.
"""

from __future__ import annotations

import re

from mailgate.crypto import SecretBox

HEADER = "X-Mailgate-Id"
_SIG_LEN = 32  # hex chars: 128 bits
_MARKER = re.compile(r"^\s*(?P<id>[0-9A-Za-z_]{1,40})\.(?P<sig>[0-9a-f]{32})\s*$", re.I)


def _data(workspace_id: str, message_pk: str) -> str:
    return f"marker:{workspace_id}:{message_pk}"


def marker(box: SecretBox, workspace_id: str, message_pk: str) -> str:
    """The header value for message ``message_pk`` sent by ``workspace_id``."""
    return f"{message_pk}.{box.sign(_data(workspace_id, message_pk))[:_SIG_LEN]}"


def verify(box: SecretBox, workspace_id: str, value: str | None) -> str | None:
    """The message id when ``value`` is a genuine mark of ``workspace_id``, else None."""
    m = _MARKER.match(value or "")
    if not m:
        return None
    if _valid(box, _data(workspace_id, m["id"]), m["sig"].lower()):
        return m["id"]
    return None


def _valid(box: SecretBox, data: str, sig: str) -> bool:
    # SecretBox.verify accepts MAILGATE_OLD_SECRET_KEYS too: a rotation does not turn
    # our own mail coming back into a stranger's.
    return box.verify(data, sig, length=_SIG_LEN)
