"""One campaign message for one person, composed at send time (never stored as MIME).

What proves what was sent is the campaign's template version, the recipient's
variables and the Message-ID, all kept on the recipient row: rendering them again
gives the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailgate.campaigns.templates import Templates
from mailgate.core.addresses import parse_address
from mailgate.core.compose import compose
from mailgate.core.headers import check_header
from mailgate.core.message import Address, Draft
from mailgate.core.sender_policy import apply_sender_policy
from mailgate.crypto import SecretBox
from mailgate.errors import InvalidInput, MessageTooLarge
from mailgate.inbound import markers, tokens

#: The id a campaign recipient's mail carries in its signed X-Mailgate-Id marker;
#: bounces and complaints find the recipient by it (inbound/campaign_feedback.py).
PREFIX = "cr_"


def marker_id(recipient_id: int) -> str:
    return f"{PREFIX}{recipient_id}"


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What of the transport shapes the envelope and From (its sender policy)."""

    id: str
    sender: str | None
    sender_policy: str
    bounce_address: str | None


@dataclass(slots=True)
class Plan:
    """A campaign ready to compose for many people: compiled once per batch."""

    campaign_id: str
    workspace_id: str
    workspace_name: str
    category: str
    template_version: int
    templates: Templates
    public_base: str
    max_bytes: int
    _addresses: dict[tuple[str, str], Address] = field(default_factory=dict)

    def address(self, value: str, fld: str) -> Address:
        """Parsed once per distinct value: a From that is no template is one parse per batch."""
        key = (fld, value)
        found = self._addresses.get(key)
        if found is None:
            check_header(fld, value, field=fld)
            found = self._addresses[key] = parse_address(value, field=fld)
        return found


@dataclass(frozen=True, slots=True)
class Built:
    raw: bytes
    message_id: str
    mail_from: str


def render(plan: Plan, variables: dict[str, Any]) -> dict[str, str]:
    """The parts for one person, with subject, From and Reply-To checked as headers."""
    parts = plan.templates.render(variables)
    check_header("Subject", parts.get("subject", ""), field="subject")
    plan.address(parts.get("from", ""), "from")
    if parts.get("reply_to"):
        plan.address(parts["reply_to"], "reply_to")
    return parts


def build(
    plan: Plan,
    box: SecretBox,
    transport: SenderFacts,
    recipient_id: int,
    email: str,
    variables: dict[str, Any],
) -> Built:
    """Render and compose one message; InvalidInput (a template or header) fails the person."""
    parts = render(plan, variables)
    from_ = plan.address(parts["from"], "from")
    reply_to = [plan.address(parts["reply_to"], "reply_to")] if parts.get("reply_to") else []
    pk = marker_id(recipient_id)
    token = tokens.unsubscribe_token(box, plan.workspace_id, email, plan.category)
    headers = {
        markers.HEADER: markers.marker(box, plan.workspace_id, pk),
        # RFC 2369 and RFC 8058 one-click; the HTTPS link names its recipient.
        "List-Unsubscribe": f"<{plan.public_base}/u/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    draft = Draft(
        from_=from_,
        to=[Address("", email)],
        reply_to=reply_to,
        subject=parts.get("subject", ""),
        text=parts.get("text"),
        html=parts.get("html"),
        headers=headers,
    )
    account = (
        plan.address(transport.sender, "transport.sender") if transport.sender else from_
    )
    draft, mail_from = apply_sender_policy(
        draft,
        policy=transport.sender_policy,
        account=account,
        bounce_address=transport.bounce_address,
        workspace_name=plan.workspace_name,
    )
    composed = compose(draft, domain=draft.from_.domain)
    if len(composed.raw) > plan.max_bytes:
        raise MessageTooLarge(
            f"the message is {len(composed.raw)} bytes once encoded; the limit is "
            f"{plan.max_bytes} (MAILGATE_MAX_MESSAGE_BYTES)",
            field="html" if parts.get("html") else "text",
        )
    return Built(composed.raw, composed.message_id, mail_from)


def check_static(sources: dict[str, str | None]) -> None:
    """A From or Reply-To with no template syntax must be an address now, not at send time."""
    for fld in ("from", "reply_to"):
        value = sources.get(fld)
        if value and "{" not in value:
            check_header(fld, value, field=fld)
            parse_address(value, field=fld)
    if not sources.get("text") and not sources.get("html"):
        raise InvalidInput("a campaign needs a text or an html template", field="text")
