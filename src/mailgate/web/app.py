"""The console beside the API: ``install(api, mailgate)`` adds its routes to the app.

``mailgate serve`` calls it after ``api.app.create_app``; the console's routes are
left out of the OpenAPI document. Console paths get security headers (CSP without
inline scripts, no framing) and HTML error pages; ``/v1`` keeps its JSON errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailgate.errors import MailgateError
from mailgate.runtime import Mailgate
from mailgate.web.account import router as account_pages
from mailgate.web.alias_domains import router as alias_domain_pages
from mailgate.web.base import CSP, ENVIRONMENTS, CsrfRejected, LoginRequired, Page
from mailgate.web.campaigns import router as campaign_pages
from mailgate.web.conversations import router as conversation_pages
from mailgate.web.dashboard import router as dashboard_pages
from mailgate.web.domains import router as domain_pages
from mailgate.web.i18n import negotiate
from mailgate.web.inbound import router as inbound_pages
from mailgate.web.journal import router as journal_pages
from mailgate.web.oauth import router as oauth_pages
from mailgate.web.settings import router as settings_pages
from mailgate.web.teams import router as team_pages
from mailgate.web.transports import router as transport_pages

STATIC = Path(__file__).parent / "static"
#: Paths that are not the console's: the API keeps its own answers.
API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")


def is_console(path: str) -> bool:
    return not path.startswith(API_PREFIXES)


class SecurityHeaders:
    """Headers for every console response (pages set their own CSP; others get the strict one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                    b"cache-control": b"no-store",
                }
                if scope["path"].startswith("/static/"):
                    extra[b"cache-control"] = b"max-age=3600"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    page: Page | None = getattr(request.state, "page", None)
    if page is not None:
        return page.render("error.html", status, status=status, message=message)
    language = negotiate(None, request.headers.get("accept-language"))
    html = ENVIRONMENTS[language].get_template("error.html").render(
        page=None, status=status, message=message
    )
    return HTMLResponse(html, status_code=status)


def install(api: FastAPI, mailgate: Mailgate) -> None:
    """Add the console to ``api`` (the FastAPI app of ``api.app.create_app``)."""
    api.state.mailgate = mailgate
    for router in (
        account_pages,
        dashboard_pages,
        transport_pages,
        campaign_pages,
        journal_pages,
        inbound_pages,
        conversation_pages,
        settings_pages,
        domain_pages,
        team_pages,
        alias_domain_pages,
        oauth_pages,
    ):
        api.include_router(router, include_in_schema=False)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    api.add_middleware(SecurityHeaders)

    api_handler = api.exception_handlers.get(MailgateError)

    async def mailgate_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MailgateError)
        if is_console(request.url.path):
            return error_page(request, exc.status, exc.message)
        assert api_handler is not None
        answer: Response = await api_handler(request, exc)  # type: ignore[misc]
        return answer

    http_handler = api.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_console(request.url.path) and exc.status_code in (404, 405):
            return error_page(request, exc.status_code, str(exc.detail))
        assert http_handler is not None
        answer: Response = await http_handler(request, exc)  # type: ignore[misc]
        return answer

    async def login_required(request: Request, exc: Exception) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/"
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, "CSRF")

    handlers: dict[Any, Any] = {
        MailgateError: mailgate_error,
        StarletteHTTPException: http_error,
        LoginRequired: login_required,
        CsrfRejected: csrf_rejected,
    }
    for kind, handler in handlers.items():
        api.add_exception_handler(kind, handler)
