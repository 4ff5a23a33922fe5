"""``/u/{token}``: the List-Unsubscribe link (RFC 2369) and its one-click POST (RFC 8058).

Public: the signed token (``inbound/tokens.py``) is the authority, so these routes
declare no API key and ``api/limits.py`` treats them as unkeyed. ``GET`` only shows a
page with a button, because mail scanners and link previews fetch every URL in a
message: a GET that unsubscribed would unsubscribe people who never asked. ``POST``
(the button, or a mail client's one-click ``List-Unsubscribe=One-Click``) suppresses
the address from bulk mail at once; transactional mail still reaches it.
"""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from mailgate.api.deps import AppDep
from mailgate.inbound import tokens
from mailgate.services import suppressions as svc
from mailgate.store.db import transaction
from mailgate.store.executors import run_in

router = APIRouter(tags=["unsubscribe"])

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto;">
<h1>{title}</h1>
{body}
</body></html>
"""

_INVALID = (
    "<p>This unsubscribe link is not valid: it was altered, or it is too old to be "
    "honoured. Use the link in a recent message, or write to the sender.</p>"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    content = _PAGE.format(title=html.escape(title), body=body)
    return HTMLResponse(content, status_code=status, headers=headers)


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm(token: str, app: AppDep) -> HTMLResponse:
    """A confirmation page with a button; nothing changes until it is pressed."""
    facts = tokens.parse_unsubscribe(app.secrets, token)
    if facts is None:
        return _page("Invalid link", _INVALID, 400)
    who = html.escape(facts.address)
    body = (
        f"<p>Stop bulk mail (newsletters, announcements) to <strong>{who}</strong>? "
        "Messages you need, such as receipts and password resets, still arrive.</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", body)


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, app: AppDep) -> HTMLResponse:
    """Suppress the token's address from bulk mail (RFC 8058 one-click, or the button).

    The body (``List-Unsubscribe=One-Click``) is not needed: the token says who.
    Pressing twice is harmless.
    """
    facts = tokens.parse_unsubscribe(app.secrets, token)
    if facts is None:
        return _page("Invalid link", _INVALID, 400)

    def apply() -> bool:
        with transaction(app.sessions) as session:
            return svc.unsubscribe(session, facts, via="https")

    if not await run_in(app.executors.api, apply):
        return _page("Invalid link", _INVALID, 404)
    who = html.escape(facts.address)
    return _page("Unsubscribed", f"<p><strong>{who}</strong> will receive no more bulk mail.</p>")
