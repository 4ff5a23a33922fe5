"""A Mailgun double: the parts of Mailgun's published API mailgate uses, on loopback.

Contract notes (which documented request and answer each route follows) are in
``tests/servers/PROVIDERS.md``. Failures are scripted with :meth:`MailgunDouble.fail`:
the next sends answer what was queued (401, 400 with a message, 429 with
``Retry-After``, 5xx). :meth:`MailgunDouble.post_event` sends a signed event
webhook, as Mailgun does, to a URL of mailgate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.servers.httpdouble import serve

API_KEY = "key-mailgun-double-7c1f0e"
SIGNING_KEY = "mg-signing-double-4d2b9a"


@dataclass
class Sent:
    domain: str
    to: list[str]
    mime: bytes
    id: str


@dataclass
class MailgunDouble:
    url: str = ""
    api_key: str = API_KEY
    signing_key: str = SIGNING_KEY
    domains: dict[str, str] = field(default_factory=lambda: {"mg.ppmessage.example": "active"})
    sent: list[Sent] = field(default_factory=list)
    _failures: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """The next send answers ``status`` (queued: several calls, several answers)."""
        with self._lock:
            self._failures.append((status, body, headers or {}))

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self._failures.clear()
        self.domains = {"mg.ppmessage.example": "active"}

    # -- the API ----------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == "api" and hmac.compare_digest(key, self.api_key)

    async def send_mime(self, request: Request) -> Response:
        if not self._authorized(request):
            return PlainTextResponse("Forbidden", status_code=401)
        domain = request.path_params["domain"]
        if domain not in self.domains:
            return JSONResponse({"message": f"Domain not found: {domain}"}, status_code=404)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return JSONResponse({"message": "message is not a file"}, status_code=400)
        form = await request.form()
        try:
            to = [str(v) for v in form.getlist("to")]
            message = form.get("message")
            mime = await message.read() if hasattr(message, "read") else None
        finally:
            await form.close()
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, body, headers = failure
            if isinstance(body, dict):
                return JSONResponse(body, status_code=status, headers=headers)
            return PlainTextResponse(str(body or ""), status_code=status, headers=headers)
        if not to:
            return JSONResponse({"message": "'to' parameter is missing"}, status_code=400)
        if not mime:
            return JSONResponse({"message": "'message' parameter is missing"}, status_code=400)
        mid = f"{time.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(8)}@{domain}"
        with self._lock:
            self.sent.append(Sent(domain, to, mime, mid))
        return JSONResponse({"id": f"<{mid}>", "message": "Queued. Thank you."})

    async def domain(self, request: Request) -> Response:
        if not self._authorized(request):
            return PlainTextResponse("Forbidden", status_code=401)
        name = request.path_params["domain"]
        if name not in self.domains:
            return JSONResponse({"message": "Domain not found"}, status_code=404)
        return JSONResponse(
            {
                "domain": {"name": name, "state": self.domains[name], "type": "custom"},
                "receiving_dns_records": [],
                "sending_dns_records": [],
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/{domain}/messages.mime", self.send_mime, methods=["POST"]),
                Route("/v3/domains/{domain}", self.domain, methods=["GET"]),
            ]
        )

    # -- event webhooks -----------------------------------------------------------

    def event_body(
        self,
        event: str,
        message_id: str,
        recipient: str,
        *,
        severity: str | None = None,
        age: float = 0,
        token: str | None = None,
        key: str | None = None,
        code: int | None = None,
    ) -> dict[str, Any]:
        """What Mailgun's webhooks POST: ``signature`` and ``event-data``."""
        timestamp = str(int(time.time() - age))
        token = token or secrets.token_hex(25)
        mac = hmac.new(
            (key or self.signing_key).encode(), (timestamp + token).encode(), hashlib.sha256
        ).hexdigest()
        data: dict[str, Any] = {
            "event": event,
            "id": secrets.token_urlsafe(16),
            "timestamp": time.time(),
            "recipient": recipient,
            "message": {"headers": {"message-id": message_id}},
        }
        if severity:
            data["severity"] = severity
        if code:
            data["delivery-status"] = {"code": code, "message": "mailbox unavailable"}
        return {"signature": {"timestamp": timestamp, "token": token, "signature": mac},
                "event-data": data}

    def post_event(self, url: str, body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(url, content=json.dumps(body),
                               headers={"Content-Type": "application/json"})


@pytest.fixture(scope="session")
def _mailgun_double() -> Iterator[MailgunDouble]:
    double = MailgunDouble()
    with serve(double.app()) as url:
        double.url = url
        yield double


@pytest.fixture
def mailgun_double(_mailgun_double: MailgunDouble) -> MailgunDouble:
    """The session's Mailgun double, emptied for this test."""
    _mailgun_double.reset()
    return _mailgun_double
