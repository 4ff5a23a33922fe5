"""What every console page shares: who is signed in, where they act, how pages render.

A page takes ``PageDep`` (any signed-in user), ``AdminDep`` (operators and
workspace admins) and, when it changes something, ``FormDep``: the posted form,
read only after its CSRF token matched the session's (403 otherwise). Pages call
the same service functions as the API, with the same workspace scoping: an object
of another workspace raises the services' NotFound, which the console answers
with its 404 page.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from mailgate.errors import Forbidden
from mailgate.runtime import Mailgate
from mailgate.services import tenancy, users
from mailgate.services.users import SignedIn
from mailgate.web import i18n
from mailgate.web.labels import LABELS

SESSION_COOKIE = "mg_session"
LOGIN_CSRF_COOKIE = "mg_login_csrf"
WORKSPACE_COOKIE = "mg_workspace"
TEMPLATES = Path(__file__).parent / "templates"

#: Scripts and styles from this origin only; nothing inline may run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: The same, once the agent asked for a message's remote images.
CSP_REMOTE_IMAGES = CSP.replace("img-src 'self' data:", "img-src 'self' data: https: http:")


class LoginRequired(Exception):
    """No live session: the console answers with a redirect to /login."""


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token: 403."""


def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.CATALOGUES[language], newstyle=True)  # type: ignore[attr-defined]
    return env


ENVIRONMENTS = {lang: _environment(lang) for lang in i18n.LANGUAGES}


def mailgate(request: Request) -> Mailgate:
    app: Mailgate = request.app.state.mailgate
    return app


def secure(request: Request) -> bool:
    """Cookies get ``Secure`` when the browser came over HTTPS (uvicorn honours the

    X-Forwarded-Proto of a proxy on 127.0.0.1)."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Any, name: str, value: str, **kw: Any) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="lax", secure=secure(request), path="/", **kw
    )


@dataclass
class Page:
    """One request of a signed-in user: language, zone, the workspace acted in."""

    request: Request
    app: Mailgate
    user: SignedIn
    language: str
    workspace_id: str | None
    workspace_name: str = ""
    workspaces: list[tuple[str, str]] = field(default_factory=list)
    #: The workspace's zone: dates use it when the user chose none.
    workspace_timezone: str | None = None

    @property
    def operator(self) -> bool:
        return self.user.operator

    @property
    def admin(self) -> bool:
        return self.user.role in ("operator", "admin")

    @property
    def timezone(self) -> str | None:
        return self.user.timezone or self.workspace_timezone

    def _(self, message: str, **values: Any) -> str:
        text = i18n.CATALOGUES[self.language].gettext(message)
        return text % values if values else text

    def label(self, value: Any) -> str:
        """A stored status, kind, scope or role in the reader's language."""
        text = str(value or "")
        return self._(LABELS[text]) if text in LABELS else text

    def when(self, value: Any) -> str:
        return i18n.format_when(value, self.language, self.timezone)

    def render(
        self,
        template: str,
        code: int = 200,
        *,
        csp: str = CSP,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = ENVIRONMENTS[self.language].get_template(template).render(page=self, **context)
        return HTMLResponse(
            html, status_code=code, headers={"Content-Security-Policy": csp, **(headers or {})}
        )

    def workspace(self) -> str:
        """The workspace this page acts in; an operator without any gets a clear error."""
        if self.workspace_id is None:
            raise Forbidden("there is no workspace yet: create one with `mailgate workspace`")
        return self.workspace_id


def signed_in(request: Request) -> SignedIn:
    app = mailgate(request)
    with app.sessions() as session:
        user = users.signed_in(session, request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise LoginRequired
    return user


def page(request: Request, user: Annotated[SignedIn, Depends(signed_in)]) -> Page:
    app = mailgate(request)
    language = i18n.negotiate(user.language, request.headers.get("accept-language"))
    ws_id = user.workspace_id
    listed: list[tuple[str, str]] = []
    name = ""
    with app.sessions() as session:
        if user.operator:
            listed = [(w.id, w.name) for w in tenancy.list_workspaces(session)]
            wanted = request.cookies.get(WORKSPACE_COOKIE)
            ids = [w for w, _ in listed]
            ws_id = wanted if wanted in ids else (ids[0] if ids else None)
        zone = None
        if ws_id is not None:
            ws = tenancy.get_workspace(session, ws_id)
            name, zone = ws.name, ws.timezone
    p = Page(request, app, user, language, ws_id, name, listed, zone)
    request.state.page = p
    return p


PageDep = Annotated[Page, Depends(page)]


def admin_page(p: PageDep) -> Page:
    """Configuration pages: operators and workspace admins; an agent gets 403."""
    if not p.admin:
        raise Forbidden("agents work conversations only; this page is for admins")
    return p


AdminDep = Annotated[Page, Depends(admin_page)]


def token_matches(expected: str | None, given: Any) -> bool:
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


async def posted_form(request: Request, p: PageDep) -> AsyncIterator[FormData]:
    """The posted form, once its ``csrf`` field (or X-CSRF-Token) matched the session's."""
    form = await request.form()
    try:
        given = form.get("csrf") or request.headers.get("x-csrf-token")
        if not token_matches(p.user.csrf_token, given):
            raise CsrfRejected
        yield form
    finally:
        await form.close()


FormDep = Annotated[FormData, Depends(posted_form)]


def new_token() -> str:
    return secrets.token_urlsafe(24)
