"""``/campaigns``: bulk campaigns: list, create, preview, upload a list, follow, start and pause.

The pages call ``services.campaigns`` exactly as ``/v1/campaigns`` does (same
templates, same streamed upload, same life cycle), scoped to the page's workspace:
another workspace's campaign is a 404. The progress block polls
``/campaigns/{id}/progress`` through ``static/console.js``; without JavaScript a
reload shows the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from mailgate.campaigns.state import OPEN
from mailgate.errors import InvalidInput, MailgateError, NotFound
from mailgate.services import campaigns as svc
from mailgate.services import tenancy
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.executors import run_in
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import errors_of, optional, text
from mailgate.web.mailhtml import clean

router = APIRouter()
POLL_VERSION = "X-Poll-Version"
ACTIONS = ("start", "pause", "resume", "cancel")
#: Recipient states in the order the progress block shows them.
STATES = (
    "pending", "deferred", "sent", "failed", "bounced", "complained", "unsubscribed", "suppressed",
)
CHUNK = 64 * 1024


@router.get("/campaigns")
def campaigns(p: AdminDep) -> HTMLResponse:
    with p.app.sessions() as session:
        rows, _ = svc.listing(session, p.workspace(), limit=200, after=None)
        items = [svc.public(session, r) for r in rows]
    return p.render("campaigns.html", items=items)


def _transports(p: Page) -> list[tuple[str, str]]:
    with p.app.sessions() as session:
        return [(t.id, t.name) for t in transport_service.visible(session, p.workspace())]


def _form(p: Page, code: int, values: dict[str, Any], errors: dict[str, str]) -> HTMLResponse:
    return p.render(
        "campaign_form.html", code, values=values, errors=errors, transports=_transports(p)
    )


@router.get("/campaigns/new")
def new(p: AdminDep) -> HTMLResponse:
    return _form(p, 200, {"timezone": p.timezone or "UTC"}, {})


def _rate(form: FormData) -> int | None:
    value = text(form, "rate")
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput("rate is messages per minute, a whole number", field="rate")
    return int(value)


@router.post("/campaigns/new")
def create(p: AdminDep, form: FormDep) -> Response:
    values = {k: text(form, k) for k in (
        "name", "from", "reply_to", "subject", "text", "html", "transport", "timezone", "rate",
    )}
    # Templates keep their own spacing: only the trimmed copy decides emptiness.
    for part in ("subject", "text", "html"):
        raw = form.get(part)
        values[part] = raw if isinstance(raw, str) and raw.strip() else ""
    try:
        req = svc.CampaignRequest(
            name=values["name"],
            from_=values["from"],
            subject=values["subject"],
            text=values["text"] or None,
            html=values["html"] or None,
            reply_to=optional(form, "reply_to"),
            transports=[values["transport"]] if values["transport"] else [],
            timezone=values["timezone"] or "UTC",
            rate=_rate(form),
        )
        if not req.from_:
            raise InvalidInput("a campaign needs a From address", field="from")
        with transaction(p.app.sessions) as session:
            row = svc.create(session, tenancy.get_workspace(session, p.workspace()), req)
            campaign_id = row.id
    except MailgateError as exc:
        return _form(p, exc.status, values, errors_of(exc))
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


def _version(campaign: dict[str, Any]) -> str:
    """What console.js compares: the state and every count."""
    key = json.dumps([campaign["state"], campaign["counts"], campaign["total"]], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _campaign(p: Page, campaign_id: str) -> dict[str, Any]:
    with p.app.sessions() as session:
        found = svc.public(session, svc.get(session, p.workspace(), campaign_id))
    found["left"] = sum(found["counts"].get(s, 0) for s in OPEN)
    found["done_count"] = found["total"] - found["left"]
    found["percent"] = int(100 * found["done_count"] / found["total"]) if found["total"] else 0
    return found


def _detail(p: Page, campaign_id: str, code: int = 200, **extra: Any) -> HTMLResponse:
    c = _campaign(p, campaign_id)
    version = _version(c)
    context: dict[str, Any] = {
        "preview": None, "report": None, "errors": {}, "variables": "", **extra,
    }
    return p.render(
        "campaign.html", code, c=c, states=STATES, actions=ACTIONS, version=version,
        headers={POLL_VERSION: version}, **context,
    )


def as_lines(variables: dict[str, Any]) -> str:
    """Variables as the preview form's ``name = value`` lines (JSON when a value is not
    a one-line string, so that it comes back the same)."""
    if all(
        isinstance(v, str) and "\n" not in v and v == v.strip() and "=" not in k
        for k, v in variables.items()
    ):
        return "\n".join(f"{k} = {v}" for k, v in variables.items())
    return json.dumps(variables, ensure_ascii=False)


@router.get("/campaigns/{campaign_id}")
def detail(campaign_id: str, p: AdminDep) -> HTMLResponse:
    """The campaign; the preview form starts from the first uploaded recipient."""
    with p.app.sessions() as session:
        sample = svc.sample_variables(session, p.workspace(), campaign_id)
    return _detail(p, campaign_id, variables=as_lines(sample))


@router.get("/campaigns/{campaign_id}/progress")
def progress(campaign_id: str, p: AdminDep) -> HTMLResponse:
    """The progress block alone, polled by console.js."""
    c = _campaign(p, campaign_id)
    version = _version(c)
    return p.render(
        "campaign_progress.html", c=c, states=STATES, actions=ACTIONS,
        headers={POLL_VERSION: version},
    )


def variables_of(value: str) -> dict[str, Any]:
    """A JSON object, or one ``name = value`` per line (values stay strings)."""
    value = value.strip()
    if not value:
        return {}
    if value.startswith("{"):
        try:
            found = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"variables: not JSON (line {exc.lineno}: {exc.msg})", field="variables"
            ) from None
        if not isinstance(found, dict):
            raise InvalidInput("variables is an object of name → value", field="variables")
        return found
    out: dict[str, Any] = {}
    for n, line in enumerate(value.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, given = line.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(
                f"variables: line {n} is not 'name = value'", field="variables"
            )
        out[name.strip()] = given.strip()
    return out


@router.post("/campaigns/{campaign_id}/preview")
def preview(campaign_id: str, p: AdminDep, form: FormDep) -> HTMLResponse:
    given = form.get("variables")
    given = given if isinstance(given, str) else ""
    try:
        with p.app.sessions() as session:
            shown = svc.preview(session, p.workspace(), campaign_id, variables_of(given))
    except NotFound:
        raise
    except MailgateError as exc:
        # A template failing on these variables is shown beside the preview, naming the part.
        errors = {"preview": exc.message, "part": exc.field or ""}
        return _detail(p, campaign_id, exc.status, errors=errors, variables=given)
    if shown.get("html"):
        shown["safe_html"] = clean(shown["html"])[0]
    return _detail(p, campaign_id, preview=shown, variables=given)


def _content_type(item: UploadFile) -> str:
    """The list's type from the file's name first (browsers guess CSV types loosely)."""
    name = (item.filename or "").lower()
    if name.endswith((".ndjson", ".jsonl")):
        return "application/x-ndjson"
    if name.endswith(".csv"):
        return "text/csv"
    return item.content_type or "text/csv"


@router.post("/campaigns/{campaign_id}/recipients")
async def recipients(campaign_id: str, p: AdminDep, form: FormDep) -> Response:
    """A CSV or NDJSON file, read in chunks into the same streaming upload as the API."""
    item = form.get("list")
    if not isinstance(item, UploadFile) or not item.filename:
        return await run_in(
            p.app.executors.api,
            lambda: _detail(p, campaign_id, 422, errors={"list": p._("Choose a file to upload.")}),
        )
    upload_file = item

    def chunks() -> Iterator[bytes]:
        while chunk := upload_file.file.read(CHUNK):
            yield chunk

    def work() -> HTMLResponse:
        try:
            report = svc.upload_recipients(
                p.app, p.workspace(), campaign_id, _content_type(upload_file), chunks()
            )
        except NotFound:
            raise
        except MailgateError as exc:
            return _detail(p, campaign_id, exc.status, errors={"list": exc.message})
        return _detail(p, campaign_id, report=report.public())

    return await run_in(p.app.executors.api, work)


@router.post("/campaigns/{campaign_id}/{action}")
def act(campaign_id: str, action: str, p: AdminDep, form: FormDep) -> Response:
    if action not in ACTIONS:
        raise NotFound(f"no such campaign action {action!r}", field="action")
    try:
        with transaction(p.app.sessions) as session:
            svc.act(session, p.workspace(), campaign_id, action)
    except NotFound:
        raise
    except MailgateError as exc:
        return _detail(p, campaign_id, exc.status, errors={"action": exc.message})
    if action in ("start", "resume"):
        p.app.wake_workers()
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
