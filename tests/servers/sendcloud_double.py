"""A SendCloud double: the parts of SendCloud's published v2 API mailgate uses, on loopback.

Contract notes are in ``tests/servers/PROVIDERS.md``. Two API users of one
account (triggered and bulk, as Fxiaoke creates them) share its daily quota.
SendCloud answers most refusals with HTTP 200 and ``result: false``; transport
trouble (429 with ``Retry-After``, 5xx) is scripted with :meth:`SendCloudDouble.fail`.
"""

from __future__ import annotations

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

PREFIX = "/apiv2"
USERS = {
    "fxiaoke_trigger": "sc-trigger-key-91b2",
    "fxiaoke_batch": "sc-batch-key-5e77",
}
APP_KEY = "sc-app-key-double-3f8c"


@dataclass
class Sent:
    api_user: str
    fields: dict[str, str]
    to: list[str]
    email_ids: list[str]
    files: list[str]


@dataclass
class SendCloudDouble:
    url: str = ""
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    app_key: str = APP_KEY
    quota: int = 2500
    used_today: int = 0
    balance: int = 10000
    sent: list[Sent] = field(default_factory=list)
    _failures: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._failures.append((status, body, headers or {}))

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()
            self._failures.clear()
            self.quota, self.used_today, self.balance = 2500, 0, 10000

    @staticmethod
    def _answer(code: int, message: str, info: dict[str, Any] | None = None) -> JSONResponse:
        return JSONResponse(
            {"result": code == 200, "statusCode": code, "message": message, "info": info or {}}
        )

    async def _fields(self, request: Request) -> tuple[dict[str, str], list[str]]:
        form = await request.form()
        try:
            fields = {k: str(v) for k, v in form.multi_items() if isinstance(v, str)}
            files = [
                str(getattr(v, "filename", ""))
                for k, v in form.multi_items()
                if k == "attachments" and not isinstance(v, str)
            ]
        finally:
            await form.close()
        return fields, files

    async def send(self, request: Request) -> Response:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, body, headers = failure
            if isinstance(body, dict):
                return JSONResponse(body, status_code=status, headers=headers)
            return PlainTextResponse(str(body or ""), status_code=status, headers=headers)
        fields, files = await self._fields(request)
        user = fields.get("apiUser", "")
        if user not in self.users or not hmac.compare_digest(
            fields.get("apiKey", ""), self.users[user]
        ):
            return self._answer(40005, "认证失败")
        for name, code in (("from", 40301), ("subject", 40304)):
            if not fields.get(name):
                return self._answer(code, f"{name} cannot be empty")
        if not fields.get("html") and not fields.get("plain"):
            return self._answer(40305, "html and plain cannot both be empty")
        to = [a for a in fields.get("to", "").split(";") if a]
        if not to:
            return self._answer(40303, "to cannot be empty")
        if "headers" in fields:
            try:
                json.loads(fields["headers"])
            except ValueError:
                return self._answer(40307, "headers is not JSON")
        with self._lock:
            if self.used_today + len(to) > self.quota:
                return self._answer(40908, "daily quota exceeded")
            self.used_today += len(to)
            self.balance -= len(to)
            base = f"{int(time.time() * 1000)}_{secrets.randbelow(10**6)}_1.sc-double"
            ids = [f"{base}{n}${a}" for n, a in enumerate(to)]
            self.sent.append(Sent(user, fields, to, ids, files))
        return self._answer(200, "请求成功", {"emailIdList": ids})

    async def userinfo(self, request: Request) -> Response:
        user = request.query_params.get("apiUser", "")
        key = request.query_params.get("apiKey", "")
        if user not in self.users or not hmac.compare_digest(key, self.users[user]):
            return self._answer(40005, "认证失败")
        return self._answer(
            200,
            "请求成功",
            {
                "restNum": self.balance,
                "restFlowSize": 0,
                "email": "ops@fxiaoke.example",
                "quota": self.quota,
                "todayUsedQuota": self.used_today,
                "regTime": "2015-03-28",
                "reputation": 90.5,
                "userName": "fxiaoke",
                "accountType": "paid user",
            },
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"{PREFIX}/mail/send", self.send, methods=["POST"]),
                Route(f"{PREFIX}/userinfo/get", self.userinfo, methods=["GET", "POST"]),
            ]
        )

    # -- event webhooks -----------------------------------------------------------

    def event_form(
        self,
        event: str,
        email_id: str,
        recipient: str,
        *,
        age: float = 0,
        token: str | None = None,
        key: str | None = None,
    ) -> dict[str, str]:
        """What SendCloud's WebHook posts: form fields, HMAC-SHA256(app key, timestamp+token)."""
        timestamp = str(int((time.time() - age) * 1000))  # SendCloud sends milliseconds
        token = token or secrets.token_urlsafe(38)[:50]
        mac = hmac.new(
            (key or self.app_key).encode(), (timestamp + token).encode(), hashlib.sha256
        ).hexdigest()
        return {
            "event": event,
            "message": event,
            "emailId": email_id,
            "recipient": recipient,
            "apiUser": "fxiaoke_trigger",
            "category": "fxiaoke_trigger",
            "labelId": "0",
            "timestamp": timestamp,
            "token": token,
            "signature": mac,
        }

    def post_event(self, url: str, form: dict[str, str]) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            return client.post(url, data=form)


@pytest.fixture(scope="session")
def _sendcloud_double() -> Iterator[SendCloudDouble]:
    double = SendCloudDouble()
    with serve(double.app()) as url:
        double.url = url + PREFIX
        yield double


@pytest.fixture
def sendcloud_double(_sendcloud_double: SendCloudDouble) -> SendCloudDouble:
    """The session's SendCloud double, emptied for this test."""
    _sendcloud_double.reset()
    return _sendcloud_double
