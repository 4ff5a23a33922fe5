"""Bounded requests: size and key are checked before a body is read; named page and name limits.

:class:`RequestLimits` is a pure-ASGI middleware in front of every route. For a request
with a body it answers, without reading a byte of it:

* ``401 unauthorized`` when the route needs an API key and the ``Authorization`` header
  is missing, not a Bearer token, or (for bodies that may be large) names no live key;
* ``413 too_large`` when ``Content-Length`` is over the cap;

and otherwise counts the bytes as they arrive and answers 413 the moment the cap is
passed, so a body without ``Content-Length`` (chunked) is never buffered past the cap.
The real key check stays in the routes' dependency (``api/deps.py``); this one only
refuses what is obviously unauthenticated before it costs memory.

Starlette's ``RequestBodyLimitMiddleware`` counts bytes too, but answers in plain text
only once the route reads the body; here the refusal is decided before the route runs,
is the API's JSON error naming the setting, and includes the key pre-check.
"""

# No ``from __future__ import annotations``: FastAPI reads page_limit's annotations,
# whose Query() names a closure variable, at run time.

import logging
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailgate.api.errors import error_body
from mailgate.config import Settings
from mailgate.errors import InvalidInput, Unauthorized
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.store.executors import run_in

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# A body this small is read before the key is looked up: one lookup per request is
# saved, and 64 KiB from a stranger costs nothing.
_LOOKUP_ABOVE = 64 * 1024


#: A campaign recipient list (``POST /v1/campaigns/{id}/recipients``) is read as it
#: streams in and stored in batches, so its size costs no memory: a million rows are
#: ~50 MB, over the message cap; this bound only stops a runaway client.
LIST_CAP = 4 * 1024 * MiB
_LIST_UPLOAD = re.compile(r"/v1/campaigns/[^/]+/recipients")


def body_cap(settings: Settings) -> int:
    """The largest request body accepted on routes that take an API key.

    ``MAILGATE_MAX_MESSAGE_BYTES`` limits the composed message, which carries its
    attachments in base64 with a line break every 76 characters: 4/3 × 78/76 ≈ 1.37 ×
    the files. In the JSON body the same files are base64 without line breaks, so a
    message that fits the limit arrives in a body no larger than itself, give or take
    JSON escapes. The worst legitimate case is text escaped as ``\\uXXXX`` (6 bytes for a
    CJK character that the message holds in 4 bytes of base64): 1.5 ×. Hence 1.5 × the
    message limit plus 1 MiB for the rest of the JSON; ``MAILGATE_MAX_REQUEST_BYTES`` sets
    it outright. A batch shares one body: larger batches are split by the caller.
    """
    if settings.max_request_bytes > 0:
        return settings.max_request_bytes
    return settings.max_message_bytes * 3 // 2 + MiB


def signed_route_cap(settings: Settings) -> int:
    """A backstop for routes a provider's signature authenticates (the Mailgun route).

    Mailgun posts a message as form fields that repeat its text (``body-plain``,
    ``stripped-text``, ``body-html``…); its route spools the body under its own cap of
    twice the message limit plus 1 MiB and answers 406, which Mailgun does not retry
    (``api/sources.py``). This cap sits above that one so the route's answer wins, and
    still bounds a signed route that forgot its own.
    """
    return max(body_cap(settings), 2 * settings.max_message_bytes + 4 * MiB)


def _too_large_body(cap: int) -> dict[str, object]:
    return error_body(
        "too_large",
        f"the request body is over the {cap} byte limit (set by MAILGATE_MAX_REQUEST_BYTES, "
        "or by default 1.5 × MAILGATE_MAX_MESSAGE_BYTES plus 1 MiB)",
        "body",
    )


_NO_KEY = (
    "send the API key as 'Authorization: Bearer <key>' "
    "(create one with `mailgate apikey create --workspace NAME`)"
)


def _bearer(headers: Headers) -> str | None:
    scheme, _, key = headers.get("authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _operation_needs_key(operation: dict[str, Any], default: bool) -> bool:
    for param in operation.get("parameters", []):
        if param.get("in") == "header" and param.get("name", "").lower() == "authorization":
            return True
    return bool(operation.get("security", default))


def keyed_routes(openapi: dict[str, Any]) -> list[tuple[re.Pattern[str], str, bool]]:
    """(path pattern, method, needs a key) for every operation of the OpenAPI document.

    The document is the public description of which routes take a key (an
    ``Authorization`` header parameter or a security requirement), so this holds
    whatever dependency the routes use. Static paths sort first (``/batch`` before
    ``/{message_id}``), as the router tries them.
    """
    default = bool(openapi.get("security"))
    out: list[tuple[int, re.Pattern[str], str, bool]] = []
    for template, operations in openapi.get("paths", {}).items():
        regex = re.sub(
            r"\\\{([^}:]+)(:path)?\\\}",
            lambda m: ".+" if m.group(2) else "[^/]+",
            re.escape(template),
        )
        for method, operation in operations.items():
            if isinstance(operation, dict) and method.isalpha():
                keyed = _operation_needs_key(operation, default)
                out.append((template.count("{"), re.compile(regex), method.upper(), keyed))
    out.sort(key=lambda item: item[0])
    return [(pattern, method, keyed) for _, pattern, method, keyed in out]


class _TooLarge(Exception):
    """Raised into the route from ``receive`` once the 413 has been sent."""


class RequestLimits:
    """Refuse oversized and unauthenticated request bodies before reading them."""

    def __init__(self, app: ASGIApp, *, api: FastAPI, settings: Settings) -> None:
        self.app = app
        self.api = api
        self.settings = settings  # read per request: tests and operators may change limits
        self._keyed: list[tuple[re.Pattern[str], str, bool]] | None = None

    def _route_needs_key(self, scope: Scope) -> bool:
        if self._keyed is None:
            try:
                self._keyed = keyed_routes(self.api.openapi())
            except Exception:
                # A model whose schema cannot be drawn must not take every POST down:
                # without the table only the backstop cap applies, and the routes'
                # own key check still runs.
                log.exception("cannot read the OpenAPI document; no key pre-check")
                self._keyed = []
        path, method = scope["path"], scope["method"]
        for pattern, verb, keyed in self._keyed:
            if verb == method and pattern.fullmatch(path):
                return keyed
        return False  # no such route (404) or method (405): the router answers unread

    async def _key_problem(self, key: str) -> str | None:
        """Why ``key`` is refused (unknown, revoked), or None: tenancy's look-up, read-only."""
        mailgate: Mailgate = self.api.state.mailgate

        def lookup() -> str | None:
            with mailgate.sessions() as session:
                try:
                    tenancy.find_key(session, key)
                except Unauthorized as exc:
                    return exc.message
            return None

        return await run_in(mailgate.executors.api, lookup)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared_raw = headers.get("content-length")
        declared = int(declared_raw) if declared_raw and declared_raw.isdigit() else None
        if not declared and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body to bound
            return
        keyed = self._route_needs_key(scope)
        if keyed:
            key = _bearer(headers)
            problem = _NO_KEY if key is None else None
            if key is not None and (declared is None or declared > _LOOKUP_ABOVE):
                problem = await self._key_problem(key)
            if problem is not None:
                await _answer(send, 401, error_body("unauthorized", problem))
                return
        cap = body_cap(self.settings) if keyed else signed_route_cap(self.settings)
        if keyed and _LIST_UPLOAD.fullmatch(scope["path"]):
            cap = LIST_CAP  # a campaign's list is streamed into the store, never held
        # A signed route answers an announced size itself (Mailgun: 406, never retried);
        # for it the cap below is only the streaming backstop.
        if keyed and declared is not None and declared > cap:
            await _answer(send, 413, _too_large_body(cap))
            return
        await self._streaming(scope, receive, send, cap)

    async def _streaming(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        received = 0
        started = answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    if not started:
                        answered = True
                        await _answer(send, 413, _too_large_body(cap))
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 went out; whatever the route makes of the error is dropped
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            log.debug("request body over the cap; the route's exception is dropped")


async def _answer(send: Send, status: int, body: dict[str, object]) -> None:
    response = JSONResponse(body, status_code=status)
    # Close the connection: the unread body must not be parsed as the next request.
    response.headers["Connection"] = "close"

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response({"type": "http"}, no_body, send)


# --- named limits on lists and names -----------------------------------------------------


def page_limit(default: int = 50) -> Callable[..., int]:
    """A ``?limit=`` dependency: 1 up to ``MAILGATE_MAX_PAGE_SIZE``, else 422 naming ``limit``.

    Over the maximum is refused rather than clamped: a client that asked for more and
    silently got less might never look at ``next``.
    """

    def limit_param(
        request: Request,
        limit: Annotated[
            int | None,
            Query(
                description=f"items per page ({default} when left out): 1 up to "
                "MAILGATE_MAX_PAGE_SIZE (500 by default)",
            ),
        ] = None,
    ) -> int:
        most: int = request.app.state.mailgate.settings.max_page_size
        if limit is None:
            return min(default, most)
        if not 1 <= limit <= most:
            raise InvalidInput(
                f"limit must be between 1 and {most} (MAILGATE_MAX_PAGE_SIZE); "
                "page through the rest with `next`",
                field="limit",
            )
        return limit

    return limit_param


def check_name(settings: Settings, value: str | None, field: str = "name") -> None:
    """Refuse a name longer than ``MAILGATE_MAX_NAME_LENGTH`` (422 naming the field)."""
    if value is not None and len(value) > settings.max_name_length:
        raise InvalidInput(
            f"{field} is {len(value)} characters; the limit is {settings.max_name_length} "
            "(MAILGATE_MAX_NAME_LENGTH)",
            field=field,
        )
