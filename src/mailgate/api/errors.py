"""Every error leaves as JSON ``{"error": {"code", "message", "field"}}``, never a traceback."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mailgate.api.schemas import TEXT_ERRORS
from mailgate.errors import MailgateError

log = logging.getLogger(__name__)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "field": field}}


# Where a location starts: not part of the field's name.
_SOURCES = ("body", "query", "path", "header", "cookie")
# pydantic adds the union member it tried to the location (``reply_to.str``,
# ``reply_to.list[str]``); the caller's field is the name before it.
_UNION_MEMBER = re.compile(r"(str|int|float|bool|none|bytes|[a-z-]+\[.*\])\Z")


def _field(loc: tuple[object, ...], where: str | None = None) -> str:
    """``("body", "attachments", 1, "filename")`` → ``attachments[1].filename``."""
    parts = list(loc[1:] if loc and loc[0] in _SOURCES else loc)
    out = ""
    for i, p in enumerate(parts):
        if isinstance(p, int):
            out += f"[{p}]"
        elif i > 0 and _UNION_MEMBER.match(str(p)):
            continue
        else:
            out += f".{p}" if out else str(p)
    if where:
        out += where if where.startswith("[") or not out else f".{where}"
    return out or "body"


def validation_error(first: dict[str, Any]) -> tuple[str, str]:
    """The (field, message) of one pydantic/FastAPI error; the field is always named."""
    loc = tuple(first.get("loc", ()))
    ctx = first.get("ctx") or {}
    if first.get("type") == "json_invalid":
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        return "body", f"the body is not valid JSON: {ctx.get('error', 'decode error')}{at}"
    field = _field(loc, ctx.get("where") if first.get("type") in TEXT_ERRORS else None)
    return field, f"{field}: {first.get('msg', 'invalid value')}"


def _most_specific(errors: list[Any]) -> dict[str, Any]:
    """The first error, or a deeper one about the same field.

    A union (``reply_to``: a string or a list) fails once per member; the member that
    got furthest (``reply_to.list[str].0``) says best what is wrong.
    """
    if not errors:
        return {"loc": (), "msg": "invalid request"}
    head = tuple(errors[0].get("loc", ()))[:2]
    same = [e for e in errors if tuple(e.get("loc", ()))[:2] == head]
    return max(same, key=lambda e: len(e.get("loc", ())))


def install(app: FastAPI) -> None:
    @app.exception_handler(MailgateError)
    async def _mailgate(_: Request, exc: MailgateError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        field, message = validation_error(_most_specific(list(exc.errors())))
        return JSONResponse(error_body("invalid", message, field), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        # FastAPI raises 400 only when it cannot read the body (a broken form, a lost client).
        field = "body" if exc.status_code == 400 else None
        return JSONResponse(error_body(code, str(exc.detail), field), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(
            error_body("internal", "internal error; the server log has the details"),
            status_code=500,
        )
