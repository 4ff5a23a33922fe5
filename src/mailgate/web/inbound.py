"""``/inbound``: sources (state, last error, poll now) and dead letters (reason, raw, reprocess)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from mailgate.errors import MailgateError
from mailgate.services import console
from mailgate.services import sources as svc
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page

router = APIRouter()


def _page(p: Page, **extra: Any) -> HTMLResponse:
    with p.app.sessions() as session:
        sources = [svc.public(r, p.app.secrets) for r in svc.list_(session, p.workspace())]
        dead, _ = console.inbound(session, p.workspace(), "dead", limit=50)
    return p.render("inbound.html", sources=sources, stats={"dead_letters": dead}, **extra)


@router.get("/inbound")
def inbound(p: AdminDep) -> HTMLResponse:
    return _page(p)


@router.post("/inbound/sources/{source_id}/poll")
async def poll(source_id: str, p: AdminDep, form: FormDep) -> Response:
    try:
        result = await run_in(p.app.executors.api, svc.poll_now, p.app, p.workspace(), source_id)
        polled = {"id": source_id, "ok": True, "taken": result.taken, "message": ""}
    except MailgateError as exc:
        if exc.status == 404:
            raise
        polled = {"id": source_id, "ok": False, "message": exc.message}
    except Exception as exc:  # the mailbox's own words (connection refused, bad login)
        polled = {"id": source_id, "ok": False, "message": str(exc)}
    p.app.wake_workers()
    return await run_in(p.app.executors.api, lambda: _page(p, polled=polled))
