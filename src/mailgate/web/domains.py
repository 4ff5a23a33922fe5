"""``/domains``: sending domains, the DNS records to publish, verification, DMARC reports.

The same service as ``/v1/domains`` (services/sending_domains.py): another
workspace's domain is its NotFound, which the console answers with a 404 page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailgate.errors import MailgateError
from mailgate.services import sending_domains as svc
from mailgate.services.limits import LIMIT_FIELDS
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import errors_of, text
from mailgate.web.schemaform import WARMUP_FIELDS, warmup_of, warmup_values

router = APIRouter()


def _listing(p: Page, status: int = 200, **extra: Any) -> HTMLResponse:
    rows = svc.listing(p.app, p.workspace())
    return p.render("domains.html", status, rows=rows, **{"errors": {}, "values": {}, **extra})


@router.get("/domains")
def domains(p: AdminDep) -> HTMLResponse:
    return _listing(p)


@router.post("/domains")
def add(p: AdminDep, form: FormDep) -> Response:
    name = text(form, "name")
    try:
        domain = svc.create(p.app, p.workspace(), name)
    except MailgateError as exc:
        return _listing(p, exc.status, errors=errors_of(exc), values={"name": name})
    return RedirectResponse(f"/domains/{domain['id']}", status_code=303)


def _page(p: Page, domain: dict[str, Any], status: int = 200, **extra: Any) -> HTMLResponse:
    reports = svc.dmarc_reports(p.app, p.workspace(), domain["id"], limit=10)
    values = {**domain["limits"], **warmup_values(domain["limits"].get("warmup"))}
    context = {"errors": {}, "values": values, **extra}
    return p.render("domain.html", status, domain=domain, reports=reports, **context)


@router.get("/domains/{domain_id}")
def domain(domain_id: str, p: AdminDep) -> HTMLResponse:
    return _page(p, svc.show(p.app, p.workspace(), domain_id))


@router.post("/domains/{domain_id}/verify")
def verify(domain_id: str, p: AdminDep, form: FormDep) -> HTMLResponse:
    """Look every record up in DNS now; the page shows what was found for each."""
    return _page(p, svc.verify(p.app, p.workspace(), domain_id), verified=True)


def _number(value: str) -> Any:
    """A whole number, none when empty; anything else goes to the service as it is,
    whose refusal (naming the field and the range) is shown beside the field."""
    return None if not value else int(value) if value.isdigit() else value


@router.post("/domains/{domain_id}/limits")
def set_limits(domain_id: str, p: AdminDep, form: FormDep) -> Response:
    """The domain's quota, rates and warm-up plan, as ``PATCH /v1/domains/{id}``; empty is
    no limit (and no warm-up)."""
    data: dict[str, Any] = {name: _number(text(form, name)) for name in LIMIT_FIELDS}
    data["warmup"] = warmup_of(form)
    try:
        svc.update(p.app, p.workspace(), domain_id, data)
    except MailgateError as exc:
        if exc.status == 404:
            raise
        shown = svc.show(p.app, p.workspace(), domain_id)
        typed = {f"warmup.{n}": text(form, f"warmup.{n}") for n in WARMUP_FIELDS}
        values = {**data, **typed}
        return _page(p, shown, exc.status, errors=errors_of(exc), values=values)
    return RedirectResponse(f"/domains/{domain_id}", status_code=303)


@router.post("/domains/{domain_id}/delete")
def delete(domain_id: str, p: AdminDep, form: FormDep) -> Response:
    svc.delete(p.app, p.workspace(), domain_id)
    return RedirectResponse("/domains", status_code=303)
