"""``sendcloud``: send through SendCloud's v2 API with an API_USER and API_KEY.

Hooks of :class:`mailgate.outbound.http.HttpTransport` (docs/providers.md):

* send — ``POST {base}/mail/send``, form fields ``apiUser``, ``apiKey``, ``from``,
  ``fromName``, ``to`` (semicolon list), ``subject``, ``html`` / ``plain``,
  ``replyTo``, ``headers`` (JSON object) and ``attachments`` files. SendCloud
  documents no raw-MIME send, so the message mailgate composed is taken apart
  here: its Message-ID, In-Reply-To, References and List-Unsubscribe headers go
  in ``headers``; SendCloud signs with its own DKIM (docs/providers.md says so).
  The answer is ``{"result", "statusCode", "message", "info": {"emailIdList":
  [...]}}`` with one ``emailId`` per recipient, ``<id>$<address>``: that is the
  provider id its events name. It answers HTTP 200 with ``result: false`` for
  refusals: ``statusCode`` 40005 is bad credentials.
* two API users — Fxiaoke's set-up creates one for triggered mail and one for
  bulk mail (SendCloud requires it): the message's ``category`` picks
  ``bulk_api_user`` / ``bulk_api_key`` when they are set.
* account — ``GET {base}/userinfo/get``: ``quota`` (daily), ``todayUsedQuota``,
  ``restNum`` (the balance, in mails); shown on the transport and fed to the
  daily quota (queue/limits.py: the effective quota is the smaller one).
* events — form posts with ``event``, ``emailId``, ``recipient``, ``timestamp``,
  ``token``, ``signature`` = HMAC-SHA256 of timestamp + token with the app key.
"""

from __future__ import annotations

import email.policy
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mailgate.outbound.base import DeliveryResult, Envelope, RecipientResult
from mailgate.outbound.http import (
    AccountError,
    HttpRequest,
    HttpTransport,
    ProviderError,
    ProviderEvent,
    Webhook,
    excerpt,
)
from mailgate.outbound.mailgun import check_base_url

#: SendCloud's documented endpoints: mainland China, and the international service.
REGIONS = {"cn": "https://api.sendcloud.net/apiv2", "intl": "https://api2.sendcloud.net/api"}
#: Headers of ours that SendCloud's form has no field for: sent in ``headers``.
CARRIED_HEADERS = (
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "Precedence",
)
AUTH_FAILED = 40005
#: SendCloud publishes no code for "over the quota" or "out of balance": a refusal whose
#: message says so is retried later (the quota resets, the account is topped up),
#: never failed for good.
_LATER = ("quota", "balance", "limit", "额度", "余额", "频率", "超限")


class SendCloudConfig(BaseModel):
    """Settings of a SendCloud account: one API user per category."""

    model_config = ConfigDict(extra="forbid")

    api_user: str = Field(min_length=1, max_length=200, description="API_USER for triggered mail")
    api_key: str = Field(min_length=1, repr=False, json_schema_extra={"secret": True})
    bulk_api_user: str | None = Field(
        default=None, max_length=200, description="API_USER for bulk mail (category bulk)"
    )
    bulk_api_key: str | None = Field(default=None, repr=False, json_schema_extra={"secret": True})
    region: Literal["cn", "intl"] = Field(default="cn", description="SendCloud service")
    base_url: str | None = Field(default=None, description="Overrides the region's API URL")
    app_key: str | None = Field(
        default=None,
        repr=False,
        json_schema_extra={"secret": True},
        description="WebHook app key, for delivery events",
    )
    max_age_seconds: int = Field(default=300, ge=10, le=3600)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return check_base_url(value)

    @model_validator(mode="after")
    def _bulk_pair(self) -> SendCloudConfig:
        if bool(self.bulk_api_user) != bool(self.bulk_api_key):
            raise ValueError("bulk_api_user and bulk_api_key go together")
        return self


#: SendCloud event → mailgate's kind (``request`` is the send itself: ignored).
_EVENTS = {
    "deliver": ("delivered", False),
    "invalid": ("bounced", True),
    "soft_bounce": ("failed", False),
    "report_spam": ("complained", False),
    "unsubscribe": ("unsubscribed", False),
    "open": ("opened", False),
    "click": ("clicked", False),
}


def _form_fields(raw: bytes) -> tuple[dict[str, Any], list[tuple[str, tuple[str, bytes, str]]]]:
    """SendCloud's form fields (no credentials, no ``to``) from our MIME message."""
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    senders = getaddresses([str(msg.get("From", ""))])
    if not senders or not senders[0][1]:
        raise ValueError("the message has no From address")
    name, address = senders[0]
    subject = str(msg.get("Subject", "")) or "(no subject)"
    data: dict[str, Any] = {"from": address, "subject": subject}
    if name:
        data["fromName"] = name
    if msg.get("Reply-To"):
        data["replyTo"] = ";".join(a for _, a in getaddresses([str(msg["Reply-To"])]) if a)
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    if html is not None:
        data["html"] = html.get_content()
    if plain is not None:
        data["plain"] = plain.get_content()
    if "html" not in data and "plain" not in data:
        data["plain"] = ""
    carried = {h: str(msg[h]) for h in CARRIED_HEADERS if msg.get(h)}
    if carried:
        data["headers"] = json.dumps(carried, ensure_ascii=False)
    files = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        files.append(
            (
                "attachments",
                (
                    part.get_filename() or "attachment",
                    payload if isinstance(payload, bytes) else b"",
                    part.get_content_type(),
                ),
            )
        )
    return data, files


class SendCloudTransport(HttpTransport):
    """SendCloud's v2 ``mail/send``; see the module documentation."""

    kind: ClassVar[str] = "sendcloud"
    Config: ClassVar[type[BaseModel]] = SendCloudConfig
    config: SendCloudConfig

    @property
    def base_url(self) -> str:
        return self.config.base_url or REGIONS[self.config.region]

    def credentials(self, category: str) -> tuple[str, str]:
        """The API user for this category: bulk mail goes through the bulk user when set."""
        if category == "bulk" and self.config.bulk_api_user and self.config.bulk_api_key:
            return self.config.bulk_api_user, self.config.bulk_api_key
        return self.config.api_user, self.config.api_key

    def build_request(self, envelope: Envelope, raw: bytes) -> HttpRequest:
        data, files = _form_fields(raw)
        user, key = self.credentials(envelope.category)
        data.update(
            apiUser=user, apiKey=key, to=";".join(envelope.recipients), respEmailId="true"
        )
        return HttpRequest("POST", "/mail/send", data=data, files=files or None)

    def parse_success(self, envelope: Envelope, response: httpx.Response) -> DeliveryResult:
        body = response.json()
        kept = excerpt(response.text)
        code = int(body.get("statusCode") or 0)
        if not body.get("result"):
            message = str(body.get("message") or "refused")
            if code == AUTH_FAILED:
                text = f"SendCloud {code}: the API_USER/API_KEY were refused: {message}"
                permanent = True
            else:
                text = f"SendCloud {code}: {message}"
                later = 50000 <= code < 60000 or any(w in message.lower() for w in _LATER)
                permanent = not later  # 5xxxx is their side; quota and balance pass
            return DeliveryResult(
                [
                    RecipientResult(r, False, code or None, None, text, permanent, response=kept)
                    for r in envelope.recipients
                ]
            )
        ids = [str(i) for i in (body.get("info") or {}).get("emailIdList") or []]
        by_address = {i.rpartition("$")[2].lower(): i for i in ids if "$" in i}
        results = []
        for n, r in enumerate(envelope.recipients):
            mid = by_address.get(r.lower()) or (ids[n] if n < len(ids) else None)
            results.append(
                RecipientResult(
                    r, True, 250, None, str(body.get("message") or "accepted"),
                    provider_message_id=mid, response=kept,
                )
            )
        return DeliveryResult(results)

    async def account(self) -> dict[str, Any]:
        user, key = self.config.api_user, self.config.api_key
        body = await self.get_json(
            HttpRequest("GET", "/userinfo/get", params={"apiUser": user, "apiKey": key})
        )
        if not isinstance(body, dict) or not body.get("result"):
            code = body.get("statusCode") if isinstance(body, dict) else None
            message = body.get("message") if isinstance(body, dict) else "unreadable answer"
            stage = "auth" if code == AUTH_FAILED else "config"
            raise AccountError(f"SendCloud {code}: {message}", stage)
        info = body.get("info") or {}
        daily = int(info.get("quota") or 0)
        used = int(info.get("todayUsedQuota") or 0)
        return {
            "provider": "sendcloud",
            "quota": {"daily": daily, "used_today": used, "remaining": max(0, daily - used)},
            "balance": info.get("restNum"),
            "account_type": info.get("accountType"),
            "reputation": info.get("reputation"),
            "checked_at": datetime.now(UTC).isoformat(),
            "summary": (
                f"connect success: {max(0, daily - used)} of {daily} mails left today, "
                f"balance {info.get('restNum')}"
            ),
        }

    @classmethod
    def parse_webhook(cls, content_type: str, body: bytes) -> Webhook:
        ctype = content_type.lower()
        if ctype.startswith("application/json"):
            try:
                loaded = json.loads(body)
            except ValueError:
                raise ProviderError("the body is not JSON") from None
            if not isinstance(loaded, dict):
                raise ProviderError("the body is not an object")
            fields = {str(k): str(v) for k, v in loaded.items()}
        elif ctype.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            raise ProviderError(f"unexpected content type {content_type[:100]!r}")
        hook = Webhook(fields.get("timestamp", ""), fields.get("token", ""),
                       fields.get("signature", ""))
        mapped = _EVENTS.get(fields.get("event", ""))
        mid = fields.get("emailId", "").strip()
        if mapped is None or not mid:
            hook.ignored = 1
            return hook
        kind, permanent = mapped
        recipient = fields.get("recipient") or mid.rpartition("$")[2]
        text = fields.get("message", "")
        hook.events.append(ProviderEvent(kind, mid, recipient, permanent, text))
        return hook
