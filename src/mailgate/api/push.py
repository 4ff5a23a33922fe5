"""What providers POST to us: push sources and provider event webhooks.

* ``POST /v1/inbound/{source_id}`` — every push source kind (a Mailgun route
  today; ``/v1/inbound/mailgun/{id}`` keeps working, api/sources.py);
* ``POST /v1/transports/{transport_id}/events`` — an HTTP provider transport's
  event callbacks (delivered, bounced, complained, ...; events/providers.py).

None takes an API key: the provider's signature authenticates the request
(:mod:`mailgate.inbound.push`). The answers are the push-source policy: 200 only
after the commit, 406 for what is not a genuine fresh request (providers do not
retry it), 503 when the source is disabled or storing failed, so they retry.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mailgate.api.deps import AppDep
from mailgate.api.errors import error_body
from mailgate.errors import MailgateError
from mailgate.events import providers
from mailgate.inbound import push
from mailgate.inbound.kinds import PUSH_KINDS
from mailgate.store.executors import run_in

log = logging.getLogger(__name__)

#: What a route's form adds to twice the message limit (field names, boundaries).
FORM_OVERHEAD = 1024 * 1024
#: Provider event callbacks are small JSON or form bodies.
EVENT_BODY_LIMIT = 256 * 1024

router = APIRouter(tags=["inbound"])


async def receive(
    request: Request,
    cap: int,
    handle: Callable[[str, IO[bytes]], Any],
    executor: Any,
    what: str,
) -> JSONResponse:
    """Spool the body under ``cap`` (memory to 1 MiB, then disk), run ``handle`` on it
    in ``executor``, and answer by the push policy (200 / 406 / 503)."""
    too_large = JSONResponse(
        error_body("too_large", "request body is over the size limit"), status_code=406
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return too_large
    content_type = request.headers.get("content-type", "")
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                return too_large
            spool.write(chunk)
        try:
            answer = await run_in(executor, handle, content_type, spool)
        except MailgateError as exc:
            return JSONResponse(
                error_body(exc.code, exc.message, exc.field), status_code=exc.status
            )
        except Exception:
            log.exception("storing a %s failed", what)
            err = error_body("unavailable", f"could not store the {what}; retry later")
            return JSONResponse(err, status_code=503)
    return JSONResponse(answer, status_code=200)


@router.post("/v1/inbound/{source_id}")
async def inbound_push(source_id: str, request: Request, app: AppDep) -> JSONResponse:
    """A push source's POST (every kind in inbound/kinds.py), signature checked first."""

    def handle(content_type: str, spool: IO[bytes]) -> dict[str, Any]:
        received = push.accept(app, source_id, content_type, spool, PUSH_KINDS)
        return {"id": received.id}

    cap = 2 * app.settings.max_message_bytes + FORM_OVERHEAD
    return await receive(request, cap, handle, app.executors.inbound, "pushed message")


@router.post("/v1/transports/{transport_id}/events")
async def provider_events(transport_id: str, request: Request, app: AppDep) -> JSONResponse:
    """Mailgun's or SendCloud's signed event callback for this transport."""

    def handle(content_type: str, spool: IO[bytes]) -> dict[str, Any]:
        spool.seek(0)
        out = providers.accept(app, transport_id, content_type, spool.read())
        return {"matched": out.matched, "unmatched": out.unmatched, "ignored": out.ignored}

    return await receive(request, EVENT_BODY_LIMIT, handle, app.executors.inbound, "event")
