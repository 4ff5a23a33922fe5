"""``/journal``: sent, pending, deferred and failed mail; ``/messages/{id}``: one message."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.core.parse import parse_message
from mailgate.errors import Conflict, InvalidInput, MailgateError
from mailgate.inbound import processor
from mailgate.services import console, tenancy
from mailgate.services import journal as svc
from mailgate.services import messages as message_service
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page, PageDep
from mailgate.web.forms import addresses, attachments, errors_of, text

router = APIRouter()
STATUSES = ("sent", "pending", "deferred", "failed")


def _journal(
    p: Page,
    status: str,
    transport: str,
    before: str | None,
    address: str = "",
    day: str = "",
    **extra: Any,
) -> HTMLResponse:
    with p.app.sessions() as session:
        try:
            rows, nxt = console.search_journal(
                session, p.workspace(), status=status or None, transport_id=transport or None,
                address=address, day=day or None, tz=p.timezone, before=before or None,
            )
        except InvalidInput as exc:
            rows, nxt = [], None
            extra["errors"] = {**extra.get("errors", {}), **errors_of(exc)}
        items = [svc.public(session, r, detail=False) for r in rows]
        transports = [(t.id, t.name) for t in transport_service.visible(session, p.workspace())]
    return p.render(
        "journal.html", status=status, transport=transport, items=items, next=nxt,
        statuses=STATUSES, transports=transports, address=address, day=day, **extra,
    )


@router.get("/journal")
def journal(
    p: AdminDep,
    status: str = "",
    transport: str = "",
    address: str = "",
    date: str = "",
    before: str | None = None,
) -> HTMLResponse:
    return _journal(p, status, transport, before, address, date, values={}, errors={})


@router.post("/journal/send")
async def send(p: AdminDep, form: FormDep) -> Response:
    """Send one message from the console, through the same service as ``POST /v1/messages``."""
    request = message_service.SendRequest(
        to=addresses(form, "to"),
        subject=text(form, "subject"),
        text=text(form, "text") or None,
        from_=text(form, "from") or None,
        attachments=attachments(form),
    )

    def workspace() -> Any:
        with p.app.sessions() as session:
            return tenancy.get_workspace(session, p.workspace())

    ws = await run_in(p.app.executors.api, workspace)
    [answer] = await message_service.accept(p.app, ws, [request])
    if answer.error is not None:
        values = {k: text(form, k) for k in ("to", "subject", "text", "from")}
        errors = errors_of(answer.error)
        return await run_in(
            p.app.executors.api, lambda: _journal(p, "", "", None, values=values, errors=errors)
        )
    return RedirectResponse(f"/messages/{answer.id}", status_code=303)


@router.get("/messages/{message_id}")
def message(message_id: str, p: PageDep) -> HTMLResponse:
    with p.app.sessions() as session:
        row = svc.get(session, p.workspace(), message_id)
        _readable(p, row)
        detail = svc.public(session, row)
        raw = svc.raw(session, p.app, row)
    parsed = parse_message(raw)
    files = [(i, a.filename, a.content_type, len(a.data)) for i, a in enumerate(parsed.attachments)]
    return p.render(
        "message.html", m=detail, raw=raw.decode("utf-8", "replace"), files=files,
        direction=detail["direction"],
    )


def _readable(p: Page, row: Any) -> None:
    """Agents read the mail of conversations, not the workspace's whole journal."""
    if not p.admin and row.conversation_id is None:
        raise Conflict("agents see messages of conversations only")


@router.get("/messages/{message_id}/raw")
def raw(message_id: str, p: PageDep) -> Response:
    with p.app.sessions() as session:
        row = svc.get(session, p.workspace(), message_id)
        _readable(p, row)
        data = svc.raw(session, p.app, row)
    return Response(
        data, media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="{message_id}.eml"'},
    )


@router.get("/messages/{message_id}/attachments/{index}")
def attachment(message_id: str, index: int, p: PageDep) -> Response:
    from urllib.parse import quote

    with p.app.sessions() as session:
        row = svc.get(session, p.workspace(), message_id)
        _readable(p, row)
        parsed = parse_message(svc.raw(session, p.app, row))
    if not 0 <= index < len(parsed.attachments):
        raise Conflict(f"message {message_id} has no attachment {index}")
    att = parsed.attachments[index]
    return Response(
        att.data, media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=utf-8''{quote(att.filename)}"},
    )


@router.post("/messages/{message_id}/retry")
def retry(message_id: str, p: AdminDep, form: FormDep) -> Response:
    try:
        with transaction(p.app.sessions) as session:
            svc.retry(session, p.workspace(), message_id)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        return p.render("error.html", exc.status, status=exc.status, message=exc.message)
    p.app.wake_workers()
    return RedirectResponse(f"/messages/{message_id}", status_code=303)


@router.post("/messages/{message_id}/reprocess")
async def reprocess(message_id: str, p: AdminDep, form: FormDep) -> Response:
    def run() -> str:
        with p.app.sessions() as session:
            row = svc.get(session, p.workspace(), message_id)
            if row.direction != "in" or row.status != "dead":
                raise Conflict(
                    f"only dead-lettered inbound mail is reprocessed; this is {row.status}"
                )
        return processor.reprocess(p.app, message_id)

    await run_in(p.app.executors.api, run)
    p.app.wake_workers()
    return RedirectResponse("/inbound", status_code=303)
