"""``mailgun``: send through Mailgun's HTTP API with the MIME mailgate composed.

Hooks of :class:`mailgate.outbound.http.HttpTransport` (docs/providers.md):

* send — ``POST {base}/v3/{domain}/messages.mime``, multipart form: the file field
  ``message`` holds the complete MIME (so DKIM, Message-ID and every header stay
  mailgate's), one ``to`` field per envelope recipient, basic auth ``api:<key>``.
  Mailgun answers ``{"id": "<…@domain>", "message": "Queued. Thank you."}``; the id
  (without brackets) is what its events name in ``message.headers.message-id``.
* account — ``GET {base}/v3/domains/{domain}``: ``domain.state`` is ``active`` or
  ``unverified`` (shown on the transport and by the check).
* events — Mailgun's webhooks POST JSON ``{"signature": {"timestamp", "token",
  "signature"}, "event-data": {...}}``; the signature is HMAC-SHA256 of
  timestamp + token with the webhook signing key (the same scheme as its routes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mailgate.outbound.base import DeliveryResult, Envelope, RecipientResult
from mailgate.outbound.http import (
    HttpRequest,
    HttpTransport,
    ProviderError,
    ProviderEvent,
    Webhook,
    excerpt,
)

REGIONS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
_DOMAIN_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-")


def check_base_url(value: str | None) -> str | None:
    """An http(s) URL without user name or password, or None (shared with sendcloud)."""
    if value is None or value == "":
        return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("must be an http or https URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an http or https URL")
    if url.userinfo:
        raise ValueError("must not carry a user name or password")
    if url.query or url.fragment:
        raise ValueError("must not carry a query or fragment")
    return str(url).rstrip("/")


class MailgunTransportConfig(BaseModel):
    """Settings of a Mailgun sending domain."""

    model_config = ConfigDict(extra="forbid")

    domain: str = Field(min_length=1, max_length=253, description="Sending domain in Mailgun")
    api_key: str = Field(
        min_length=1,
        repr=False,
        json_schema_extra={"secret": True},
        description="Private API key (Mailgun: API Security)",
    )
    region: Literal["us", "eu"] = Field(default="us", description="Where the domain lives")
    base_url: str | None = Field(default=None, description="Overrides the region's API URL")
    webhook_signing_key: str | None = Field(
        default=None,
        repr=False,
        json_schema_extra={"secret": True},
        description="HTTP webhook signing key, for delivery events (Sending → Webhooks)",
    )
    max_age_seconds: int = Field(
        default=300, ge=10, le=3600, description="Refuse event callbacks signed longer ago"
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower().rstrip(".")
        if not value or not set(value) <= _DOMAIN_CHARS or "." not in value:
            raise ValueError("must be a domain name such as mg.example.com")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return check_base_url(value)


#: Mailgun event → mailgate's kind; ``failed`` depends on its severity.
_EVENTS = {
    "delivered": "delivered",
    "opened": "opened",
    "clicked": "clicked",
    "unsubscribed": "unsubscribed",
    "complained": "complained",
}


class MailgunTransport(HttpTransport):
    """Mailgun's ``messages.mime`` API; see the module documentation."""

    kind: ClassVar[str] = "mailgun"
    Config: ClassVar[type[BaseModel]] = MailgunTransportConfig
    config: MailgunTransportConfig

    @property
    def base_url(self) -> str:
        return self.config.base_url or REGIONS[self.config.region]

    def build_request(self, envelope: Envelope, raw: bytes) -> HttpRequest:
        return HttpRequest(
            "POST",
            f"/v3/{self.config.domain}/messages.mime",
            data={"to": list(envelope.recipients)},
            files=[("message", ("message.mime", raw, "message/rfc822"))],
            auth=("api", self.config.api_key),
        )

    def parse_success(self, envelope: Envelope, response: httpx.Response) -> DeliveryResult:
        body = response.json()
        mid = str(body["id"]).strip().strip("<>")
        if not mid:
            raise ValueError("no message id")
        text = str(body.get("message") or "queued")
        kept = excerpt(response.text)
        return DeliveryResult(
            [
                RecipientResult(
                    r, True, response.status_code, None, text, provider_message_id=mid,
                    response=kept,
                )
                for r in envelope.recipients
            ]
        )

    async def account(self) -> dict[str, Any]:
        body = await self.get_json(
            HttpRequest(
                "GET", f"/v3/domains/{self.config.domain}", auth=("api", self.config.api_key)
            )
        )
        domain = body.get("domain") if isinstance(body, dict) else None
        state = str((domain or {}).get("state") or "unknown")
        return {
            "provider": "mailgun",
            "domain": self.config.domain,
            "domain_state": state,
            "checked_at": datetime.now(UTC).isoformat(),
            "summary": f"connect success: domain {self.config.domain} is {state}",
        }

    @classmethod
    def parse_webhook(cls, content_type: str, body: bytes) -> Webhook:
        if not content_type.lower().startswith("application/json"):
            raise ProviderError("Mailgun event webhooks are JSON")
        try:
            data = json.loads(body)
        except ValueError:
            raise ProviderError("the body is not JSON") from None
        sig = data.get("signature") if isinstance(data, dict) else None
        item = data.get("event-data") if isinstance(data, dict) else None
        if not isinstance(sig, dict) or not isinstance(item, dict):
            raise ProviderError("signature and event-data are required")
        hook = Webhook(str(sig.get("timestamp", "")), str(sig.get("token", "")),
                       str(sig.get("signature", "")))
        event = str(item.get("event") or "")
        permanent = str(item.get("severity") or "") == "permanent"
        kind = _EVENTS.get(event) or (
            ("bounced" if permanent else "failed") if event == "failed" else None
        )
        message = item.get("message")
        message = message if isinstance(message, dict) else {}
        headers = message.get("headers")
        headers = headers if isinstance(headers, dict) else {}
        mid = str(headers.get("message-id") or "").strip().strip("<>")
        if kind is None or not mid:
            hook.ignored = 1  # accepted, stored, ... : nothing to change
            return hook
        status = item.get("delivery-status")
        status = status if isinstance(status, dict) else {}
        text = " ".join(
            str(status.get(k)) for k in ("code", "message", "description") if status.get(k)
        )
        at = None
        if isinstance(item.get("timestamp"), int | float):
            at = datetime.fromtimestamp(float(item["timestamp"]), UTC)
        hook.events.append(
            ProviderEvent(kind, mid, str(item.get("recipient") or ""), permanent, text, at)
        )
        return hook
