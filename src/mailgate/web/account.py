"""Signing in and out, the user's own settings, and an operator's workspace switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.errors import InvalidInput, MailgateError, Unauthorized
from mailgate.services import users
from mailgate.store.db import transaction
from mailgate.web import i18n
from mailgate.web.base import (
    ENVIRONMENTS,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    WORKSPACE_COOKIE,
    CsrfRejected,
    FormDep,
    PageDep,
    mailgate,
    new_token,
    set_cookie,
    token_matches,
)

router = APIRouter()


def _safe_next(value: str | None) -> str:
    """Only a path of this console: never another site (``//evil``, ``https://…``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_page(
    request: Request,
    *,
    status: int = 200,
    email: str = "",
    error: str | None = None,
    next_: str = "/",
    token: str | None = None,
) -> HTMLResponse:
    language = i18n.negotiate(None, request.headers.get("accept-language"))
    token = token or request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
    html = ENVIRONMENTS[language].get_template("login.html").render(
        page=None, csrf=token, email=email, error=error, next=next_
    )
    response = HTMLResponse(html, status_code=status)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return _login_page(request, next_=_safe_next(next))


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    # Login CSRF: the form's token must be the one this browser's cookie holds.
    if not token_matches(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        raise CsrfRejected
    app = mailgate(request)
    ip = request.client.host if request.client else None
    problem: MailgateError | None = None
    token = ""
    with transaction(app.sessions) as session:
        try:
            user = users.authenticate(session, email, password, ip)
            token = users.start_session(session, user)
        except (Unauthorized, users.TooManyAttempts) as exc:
            problem = exc  # the failure is counted: this transaction still commits
    if problem is not None:
        language = i18n.negotiate(None, request.headers.get("accept-language"))
        _ = i18n.CATALOGUES[language].gettext
        if isinstance(problem, users.TooManyAttempts):
            message = _("Too many failed sign-ins. Try again in %(seconds)s seconds.") % {
                "seconds": problem.retry_after
            }
        else:
            message = _("Wrong e-mail or password.")
        response = _login_page(
            request, status=problem.status, email=email, error=message, next_=_safe_next(next)
        )
        if isinstance(problem, users.TooManyAttempts):
            response.headers["Retry-After"] = str(problem.retry_after)
        return response
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    lifetime = int(users.SESSION_LIFETIME.total_seconds())
    set_cookie(request, redirect, SESSION_COOKIE, token, max_age=lifetime)
    redirect.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return redirect


@router.post("/logout")
def logout(request: Request, p: PageDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        users.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account")
def account(p: PageDep) -> HTMLResponse:
    return p.render("account.html", errors={}, saved=bool(p.request.query_params.get("saved")))


@router.post("/account")
def save_account(p: PageDep, form: FormDep) -> Response:
    language = str(form.get("language") or "") or None
    timezone = str(form.get("timezone") or "").strip() or None
    try:
        with transaction(p.app.sessions) as session:
            users.update_settings(session, p.user.user_id, language=language, timezone=timezone)
    except InvalidInput as exc:
        return p.render(
            "account.html", 422, errors={exc.field or "": exc.message}, saved=False
        )
    return RedirectResponse("/account?saved=1", status_code=303)


@router.post("/workspace")
def switch_workspace(request: Request, p: PageDep, form: FormDep) -> Response:
    """An operator chooses the workspace the pages act in (a cookie: operators see all)."""
    wanted = str(form.get("workspace") or "")
    response = RedirectResponse("/", status_code=303)
    if p.operator and wanted in {w for w, _ in p.workspaces}:
        set_cookie(request, response, WORKSPACE_COOKIE, wanted)
    return response
