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
from mailgate.web.base import AdminDep, FormDep, Page
from mailgate.web.forms import errors_of, text

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


def _page(p: Page, domain: dict[str, Any], **extra: Any) -> HTMLResponse:
    reports = svc.dmarc_reports(p.app, p.workspace(), domain["id"], limit=10)
    return p.render("domain.html", domain=domain, reports=reports, **extra)


@router.get("/domains/{domain_id}")
def domain(domain_id: str, p: AdminDep) -> HTMLResponse:
    return _page(p, svc.show(p.app, p.workspace(), domain_id))


@router.post("/domains/{domain_id}/verify")
def verify(domain_id: str, p: AdminDep, form: FormDep) -> HTMLResponse:
    """Look every record up in DNS now; the page shows what was found for each."""
    return _page(p, svc.verify(p.app, p.workspace(), domain_id), verified=True)


@router.post("/domains/{domain_id}/delete")
def delete(domain_id: str, p: AdminDep, form: FormDep) -> Response:
    svc.delete(p.app, p.workspace(), domain_id)
    return RedirectResponse("/domains", status_code=303)
