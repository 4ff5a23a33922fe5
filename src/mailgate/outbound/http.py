"""HTTP provider transports: the workflow every provider API shares, hooks per provider.

django-anymail is the model: a provider is one module (``mailgun.py``,
``sendcloud.py``) that subclasses :class:`HttpTransport` and fills in a few hooks:

* :meth:`HttpTransport.build_request` — the provider's request for one message;
* :meth:`HttpTransport.parse_success` — one :class:`RecipientResult` per envelope
  recipient from a 2xx answer (with the provider's message id);
* :meth:`HttpTransport.provider_message` — the provider's own error text;
* :meth:`HttpTransport.account` — the account/domain state shown on the transport;
* :meth:`HttpTransport.parse_webhook` — its signed event callbacks, normalised.

This base owns the rest: the network policy (a ``base_url`` is resolved, every
address checked like an SMTP host's, and the request sent to a checked address),
the POST with httpx, retries on 429/5xx honouring ``Retry-After`` (bounded, then a
transient result so the queue retries later), and the mapping of failures to
results, in one place (:func:`map_status`):

=========  ==========================================================
401, 403   permanent: the key or account is wrong (a config error)
400, 4xx   permanent, with the provider's message
429, 5xx   transient (retried here, then by the queue)
network    transient
=========  ==========================================================
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from mailgate.core.netpolicy import parse_ip_literal
from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope, RecipientResult
from mailgate.outbound.netguard import NetGuard, NetworkRefused, ResolveFailed

#: How much of a provider's answer is kept with the attempt.
RESPONSE_CHARS = 500
USER_AGENT = "mailgate/1"

#: The normalised provider event kinds (docs/providers.md).
EVENT_KINDS = (
    "delivered",
    "bounced",
    "failed",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request to the provider, relative to the transport's base URL."""

    method: str
    path: str
    data: Mapping[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    params: Mapping[str, str] | None = None
    auth: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One provider event, normalised: what happened to which recipient of which send."""

    kind: str  # one of EVENT_KINDS
    provider_message_id: str
    recipient: str
    #: A failure the provider will not retry (hard bounce) vs a temporary one.
    permanent: bool = False
    text: str = ""
    at: datetime | None = None


@dataclass(slots=True)
class Webhook:
    """A provider's event callback: what it signed, and the events it carries."""

    timestamp: str
    token: str
    signature: str
    events: list[ProviderEvent] = field(default_factory=list)
    #: Items we do not act on (SendCloud's ``request``), counted for the answer.
    ignored: int = 0


class ProviderError(Exception):
    """A webhook body that is not the provider's documented shape (answered 406)."""


def map_status(status: int, message: str) -> tuple[bool, str]:
    """(permanent, text) for a non-2xx answer: the one place HTTP errors are classified."""
    if status in (401, 403):
        return True, (
            f"HTTP {status}: the provider refused the credentials "
            f"(check the API key and account): {message}"
        ).rstrip(": ")
    if status == 429 or status >= 500:
        return False, f"HTTP {status}: {message}".rstrip(": ")
    return True, f"HTTP {status}: {message}".rstrip(": ")


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (RFC 9110 §10.2.3: seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def excerpt(text: str, limit: int = RESPONSE_CHARS) -> str:
    """Printable, single-line, at most ``limit`` characters (``…`` when cut)."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class HttpTransport:
    """The HTTP provider workflow; subclasses are one module of hooks each."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[BaseModel]]
    #: Takes a network guard (outbound.registry.build_transport).
    connects: ClassVar[bool] = True
    #: Retries within one delivery on 429/5xx before a transient result goes to the queue.
    max_retries: ClassVar[int] = 2
    #: A longer Retry-After is not waited for here: the queue retries later instead.
    max_retry_wait: ClassVar[float] = 5.0
    timeout: ClassVar[float] = 30.0

    def __init__(
        self, config: Any, *, guard: NetGuard | None = None, executor: Executor | None = None
    ) -> None:
        self.config = config
        self.guard = guard
        self.executor = executor
        self._client: httpx.AsyncClient | None = None
        #: What the last successful check read from the account API.
        self.last_state: dict[str, Any] | None = None

    # -- hooks ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API's base URL (region endpoint, or the ``base_url`` override)."""
        raise NotImplementedError

    def build_request(self, envelope: Envelope, raw: bytes) -> HttpRequest:
        raise NotImplementedError

    def parse_success(
        self, envelope: Envelope, response: httpx.Response
    ) -> DeliveryResult:
        """One result per envelope recipient from a 2xx answer."""
        raise NotImplementedError

    def provider_message(self, response: httpx.Response) -> str:
        """The provider's error text (its JSON ``message`` by default)."""
        try:
            body = response.json()
        except ValueError:
            return excerpt(response.text, 200)
        if isinstance(body, dict):
            for key in ("message", "error", "msg"):
                if body.get(key):
                    return excerpt(str(body[key]), 200)
        return excerpt(response.text, 200)

    async def account(self) -> dict[str, Any]:
        """What the provider says about the account or domain (shown on the transport)."""
        return {}

    @classmethod
    def parse_webhook(cls, content_type: str, body: bytes) -> Webhook:
        """The provider's event callback, normalised; :class:`ProviderError` if malformed."""
        raise ProviderError(f"{cls.kind} has no event webhooks")

    # -- the workflow -----------------------------------------------------------

    async def deliver(self, envelope: Envelope, raw: bytes) -> DeliveryResult:
        if not envelope.recipients:
            return DeliveryResult()
        try:
            request = self.build_request(envelope, raw)
        except ValueError as exc:  # a message this provider cannot carry
            return self._all(envelope, f"cannot send through {self.kind}: {exc}", permanent=True)
        attempt = 0
        while True:
            try:
                response = await self.send(request)
            except NetworkRefused as exc:
                return self._all(envelope, f"policy: {exc}", permanent=False)
            except ResolveFailed as exc:
                return self._all(envelope, f"dns: {exc}", permanent=False)
            except httpx.TimeoutException:
                return self._all(envelope, f"timed out after {self.timeout:g} s", permanent=False)
            except httpx.HTTPError as exc:
                text = f"{type(exc).__name__}: {exc}".rstrip(": ")
                return self._all(envelope, text, permanent=False)
            status = response.status_code
            if 200 <= status < 300:
                try:
                    return self.parse_success(envelope, response)
                except (ValueError, KeyError, TypeError) as exc:
                    # Sent, but the answer is not what the provider documents: it
                    # was accepted, so retrying could send it twice.
                    return DeliveryResult.all(
                        envelope,
                        accepted=True,
                        code=status,
                        text=f"accepted; unreadable answer ({exc})",
                    )
            permanent, text = map_status(status, self.provider_message(response))
            wait = retry_after(response.headers.get("retry-after"))
            if not permanent and attempt < self.max_retries:
                delay = min(wait if wait is not None else 0.2 * 2**attempt, self.max_retry_wait)
                if wait is None or wait <= self.max_retry_wait:
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
            if wait is not None and not permanent:
                text += f" (retry after {wait:g} s)"
            return DeliveryResult(
                [
                    RecipientResult(
                        r,
                        False,
                        status,
                        None,
                        text,
                        permanent,
                        response=excerpt(response.text),
                    )
                    for r in envelope.recipients
                ]
            )

    async def send(self, request: HttpRequest) -> httpx.Response:
        """Send ``request`` to a policy-checked address of the base URL's host."""
        url = httpx.URL(self.base_url.rstrip("/") + request.path)
        headers = {"User-Agent": USER_AGENT}
        extensions: dict[str, Any] = {}
        if self.guard is not None:
            host = url.raw_host.decode("ascii")
            port = url.port or (443 if url.scheme == "https" else 80)
            addresses = await self.guard.acheck(host, port, self.executor)
            headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https" and parse_ip_literal(host) is None:
                extensions["sni_hostname"] = host
            address = addresses[0]
            url = url.copy_with(host=f"[{address}]" if ":" in address else address)
        built = self._http().build_request(
            request.method,
            url,
            data=request.data,
            files=request.files,
            params=request.params,
            headers=headers,
            extensions=extensions,
        )
        return await self._http().send(built, auth=request.auth)

    async def check(self) -> CheckResult:
        """Ask the account API: credentials, and the domain or quota state."""
        try:
            state = await self.account()
        except NetworkRefused as exc:
            return CheckResult(False, str(exc), "policy")
        except ResolveFailed as exc:
            return CheckResult(False, str(exc), "dns")
        except httpx.TimeoutException:
            return CheckResult(False, f"timed out after {self.timeout:g} s", "timeout")
        except httpx.HTTPError as exc:
            return CheckResult(False, f"{type(exc).__name__}: {exc}", "connect")
        except AccountError as exc:
            return CheckResult(False, str(exc), exc.stage)
        self.last_state = state  # the caller stores it on the transport (api/transports.py)
        return CheckResult(True, state.get("summary") or "connect success", None)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- helpers ----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Redirects are not followed: a redirect could lead past the network policy.
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    def _all(self, envelope: Envelope, text: str, *, permanent: bool) -> DeliveryResult:
        return DeliveryResult.all(
            envelope, accepted=False, code=None, text=text, permanent=permanent
        )

    async def get_json(self, request: HttpRequest) -> Any:
        """An account API call: its JSON, or :class:`AccountError` with the mapped text."""
        response = await self.send(request)
        if not 200 <= response.status_code < 300:
            permanent, text = map_status(response.status_code, self.provider_message(response))
            stage = "auth" if response.status_code in (401, 403) else "config"
            raise AccountError(text, stage if permanent else "connect")
        try:
            return response.json()
        except ValueError:
            raise AccountError("the provider's answer is not JSON", "connect") from None


class AccountError(Exception):
    """The account API refused or failed; ``stage`` as in :class:`CheckResult`."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


def host_of(base_url: str) -> str | None:
    """The host a base URL connects to (for the save-time network policy check)."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        return None
    return url.host or None
