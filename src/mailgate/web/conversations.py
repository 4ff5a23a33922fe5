"""``/conversations``: the agents' inbox; ``/conversations/{id}``: a thread and its reply form.

New mail appears without reloading: ``static/console.js`` polls the thread
fragment (``/conversations/{id}/thread``) and swaps it in; without JavaScript the
page works the same after a reload.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.errors import MailgateError
from mailgate.services import console, tenancy
from mailgate.services import conversations as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import CSP, CSP_REMOTE_IMAGES, FormDep, Page, PageDep
from mailgate.web.forms import attachments, errors_of, text
from mailgate.web.mailhtml import clean

router = APIRouter()
#: The header console.js compares with ``data-poll-version``.
POLL_VERSION = "X-Poll-Version"


@router.get("/conversations")
def inbox(
    p: PageDep, status: str = "", team: str = "", assignee: str = "", q: str = ""
) -> HTMLResponse:
    """``assignee``: ``me``, ``none`` or a user id of the workspace (another's: nothing)."""
    with p.app.sessions() as session:
        if status and status not in svc.STATUSES:
            status = ""
        rows = console.search_conversations(
            session, p.workspace(), status=status or None, team=team or None,
            assignee=assignee or None, me=p.user.user_id, query=q,
        )
        items = [svc.public(session, r) for r in rows]
        teams = [(t.id, t.name) for t in console.teams(session, p.workspace())]
        people = [(u.id, u.email) for u in svc.assignees(session, p.workspace())]
    version = _version(
        ";".join(
            f"{c['id']}@{c['updated_at']}@{c['status']}@{(c['assignee'] or {}).get('id')}"
            for c in items
        )
    )
    return p.render(
        "conversations.html", items=items, status=status, team=team, q=q, teams=teams,
        assignee=assignee, people=people, statuses=svc.STATUSES, version=version,
        headers={POLL_VERSION: version},
    )


def _version(text: str) -> str:
    """What console.js compares to decide whether a polled fragment changed."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _thread(p: Page, conversation_id: str, images: str) -> dict[str, Any]:
    with p.app.sessions() as session:
        detail = svc.detail(session, p.app, svc.get(session, p.workspace(), conversation_id))
        teams = [(t.id, t.name) for t in console.teams(session, p.workspace())]
        people = [(u.id, u.email) for u in svc.assignees(session, p.workspace())]
    for m in detail["messages"]:
        m["safe_html"], m["remote_images"] = (
            clean(m["html"], remote_images=images == m["id"]) if m.get("html") else ("", 0)
        )
        m["images_loaded"] = images == m["id"]
        reply, full = (m.get("reply_text") or "").strip(), (m.get("text") or "").strip()
        m["shown_text"] = reply or full
        m["quoted"] = full if reply and full != reply else ""
    version = _version(
        ";".join(f"{m['id']}@{m['status']}" for m in detail["messages"]) + images
    )
    return {
        "conv": detail, "teams": teams, "people": people, "images": images, "version": version,
    }


@router.get("/conversations/{conversation_id}")
def thread(conversation_id: str, p: PageDep, images: str = "") -> HTMLResponse:
    context = _thread(p, conversation_id, images)
    csp = CSP_REMOTE_IMAGES if images else CSP
    return p.render(
        "conversation.html", csp=csp, errors={}, values={},
        headers={POLL_VERSION: context["version"]}, **context,
    )


@router.get("/conversations/{conversation_id}/thread")
def thread_fragment(conversation_id: str, p: PageDep, images: str = "") -> HTMLResponse:
    """The messages alone: what console.js swaps in while the agent has the page open."""
    context = _thread(p, conversation_id, images)
    csp = CSP_REMOTE_IMAGES if images else CSP
    return p.render("thread.html", csp=csp, headers={POLL_VERSION: context["version"]}, **context)


@router.post("/conversations/{conversation_id}/reply")
async def reply(conversation_id: str, p: PageDep, form: FormDep) -> Response:
    body = {"text": text(form, "text"), "attachments": attachments(form)}

    def workspace() -> Any:
        with p.app.sessions() as session:
            return tenancy.get_workspace(session, p.workspace())

    ws = await run_in(p.app.executors.api, workspace)
    try:
        await svc.reply(p.app, ws, conversation_id, body)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        errors = errors_of(exc)

        def again() -> HTMLResponse:
            context = _thread(p, conversation_id, "")
            return p.render(
                "conversation.html", 422, errors=errors, values={"text": body["text"]}, **context
            )

        return await run_in(p.app.executors.api, again)
    return RedirectResponse(f"/conversations/{conversation_id}#reply", status_code=303)


@router.post("/conversations/{conversation_id}/status")
def set_status(conversation_id: str, p: PageDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        conv = svc.get(session, p.workspace(), conversation_id)
        svc.update(session, conv, {"status": text(form, "status")})
    return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/team")
def assign(conversation_id: str, p: PageDep, form: FormDep) -> Response:
    with transaction(p.app.sessions) as session:
        conv = svc.get(session, p.workspace(), conversation_id)
        svc.update(session, conv, {"team": text(form, "team") or None})
    return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)


@router.post("/conversations/{conversation_id}/assignee")
def set_assignee(conversation_id: str, p: PageDep, form: FormDep) -> Response:
    """``assignee_id``: a user id, ``me`` (an agent's "assign to me"), or empty: nobody.
    The service decides who may do what; its refusal is shown beside the field."""
    wanted = text(form, "assignee_id")
    actor = svc.Actor(p.user.user_id, p.user.role)
    try:
        with transaction(p.app.sessions) as session:
            conv = svc.get(session, p.workspace(), conversation_id)
            svc.assign(
                session, conv, p.user.user_id if wanted == "me" else wanted or None, actor
            )
    except MailgateError as exc:
        if exc.status == 404:
            raise
        context = _thread(p, conversation_id, "")
        return p.render(
            "conversation.html", exc.status, errors=errors_of(exc), values={}, **context
        )
    return RedirectResponse(f"/conversations/{conversation_id}", status_code=303)
