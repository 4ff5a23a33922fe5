"""Every inbound source kind by name: the pollers (IMAP, POP3) and the push kinds.

One registry: :data:`SOURCE_KINDS` gives each kind's settings model (what the API
validates), :data:`PUSH_KINDS` the kinds a provider POSTs to at
``/v1/inbound/{source_id}`` (:mod:`mailgate.inbound.push`). A new push kind is one
module with a :class:`~mailgate.inbound.push.PushKind` and one line here.
"""

from __future__ import annotations

from pydantic import BaseModel

from mailgate.inbound import mailgun
from mailgate.inbound.pollers import POLLERS
from mailgate.inbound.push import PushKind

PUSH_KINDS: dict[str, PushKind] = {
    "mailgun": mailgun.KIND,
}

SOURCE_KINDS: dict[str, type[BaseModel]] = {
    **{kind: cls.Config for kind, cls in POLLERS.items()},
    **{kind: push.Config for kind, push in PUSH_KINDS.items()},
}
