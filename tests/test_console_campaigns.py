"""The console's campaigns pages over plain HTTP: create, preview, upload, start, refusals.

Shares the module's console server (tests/servers/console.py): its worker sends the
campaign into its smtp-sink. The browser walk is tests/test_console_campaigns_browser.py.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from mailgate.services import transports
from mailgate.store.db import transaction
from tests.helpers import smtp_transport
from tests.servers.console import ConsoleServer, csrf_of

ADMIN = "admin@cmp-http.example.com"


@pytest.fixture(scope="module")
def ws(console_server: ConsoleServer) -> str:
    ws = console_server.workspace("cmp-http")
    console_server.user(ADMIN, "admin", ws)
    console_server.user("agent@cmp-http.example.com", "agent", ws)
    with transaction(console_server.app.sessions) as session:
        transports.create(
            session, console_server.app.secrets, ws, smtp_transport(console_server.sink.port)
        )
    return ws


def _create(c: httpx.Client, **fields: str) -> httpx.Response:
    token = csrf_of(c.get("/campaigns/new").text)
    data = {
        "name": "Autumn",
        "from": "Acme <news@cmp-http.example.com>",
        "subject": "Hello {{ first }}",
        "text": "Dear {{ first }},\nyour code is {{ code }}.\n",
        "html": "<p>Dear {{ first }}</p><script>alert(1)</script>",
        "csrf": token,
        **fields,
    }
    return c.post("/campaigns/new", data=data)


def _counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def test_create_preview_upload_and_send(console_server: ConsoleServer, ws: str) -> None:
    """The whole life of a campaign through the pages; it reaches smtp-sink."""
    with console_server.login(ADMIN) as c:
        # A template error is shown beside its field, naming the line; the form keeps values.
        bad = _create(c, text="fine\n{% if %}\n")
        assert bad.status_code == 422
        error = re.search(r'data-field="text">([^<]*)<', bad.text)
        assert error and "line 2" in error.group(1), bad.text
        assert "Autumn" in bad.text
        made = _create(c)
        assert made.status_code == 303, made.text
        path = made.headers["location"]
        page = c.get(path)
        assert page.status_code == 200 and "Autumn" in page.text
        token = csrf_of(page.text)
        # Preview for a sample recipient: rendered, HTML cleaned of scripts.
        shown = c.post(
            f"{path}/preview", data={"csrf": token, "variables": "first = Li\ncode = 7"}
        )
        assert shown.status_code == 200
        assert 'id="preview-subject">Hello Li<' in shown.text
        assert "your code is 7." in shown.text
        srcdoc = re.search(r'srcdoc="([^"]*)"', shown.text)
        assert srcdoc and "Dear Li" in srcdoc.group(1) and "alert" not in srcdoc.group(1)
        missing = c.post(f"{path}/preview", data={"csrf": token, "variables": '{"first": "Li"}'})
        assert missing.status_code == 422
        assert "&#39;code&#39; is undefined" in missing.text and 'data-field="text"' in missing.text
        garbled = c.post(f"{path}/preview", data={"csrf": token, "variables": "first"})
        assert garbled.status_code == 422 and 'data-field="variables"' in garbled.text
        # Upload: the same report as the API (accepted, invalid rows, duplicates, suppressed).
        listing = (
            b"email,first,code\n"
            b"one@example.org,One,1\n"
            b"two@example.org,Two,2\n"
            b"not-an-address,Bad,3\n"
            b"ONE@example.org,Again,4\n"
        )
        report = c.post(
            f"{path}/recipients",
            data={"csrf": token},
            files={"list": ("people.csv", listing, "application/vnd.ms-excel")},
        )
        assert report.status_code == 200, report.text
        got = dict(re.findall(r'data-report="(\w+)">(\d+)<', report.text))
        assert got == {
            "accepted": "2", "invalid": "1", "duplicates": "1", "suppressed": "0", "total": "2"
        }
        assert re.search(r"<td>4</td><td>[^<]+</td>", report.text), "row 4 is listed"
        # The preview form now starts from the first uploaded recipient.
        assert "first = One\ncode = 1</textarea>" in c.get(path).text
        empty = c.post(f"{path}/recipients", data={"csrf": token}, files={"list": ("", b"")})
        assert empty.status_code == 422 and 'data-field="list"' in empty.text
        # Start, then follow the polled fragment until every recipient is sent.
        assert c.post(f"{path}/start", data={"csrf": token}).status_code == 303
        deadline = time.monotonic() + 20
        while True:
            frag = c.get(f"{path}/progress")
            assert frag.status_code == 200 and frag.headers["x-poll-version"]
            if 'data-state="done"' in frag.text:
                break
            assert time.monotonic() < deadline, frag.text
            time.sleep(0.1)
        assert _counts(frag.text)["sent"] == 2
        listed = c.get("/campaigns").text
        assert "Autumn" in listed and path.rsplit("/", 1)[1] in listed
        # A finished campaign can no longer be paused: the page says why (409).
        late = c.post(f"{path}/pause", data={"csrf": token})
        assert late.status_code == 409 and 'data-field="action"' in late.text
    subjects = [m.dump for m in console_server.sink.messages() if b"Hello One" in m.dump]
    assert subjects, "the campaign reached smtp-sink"


def test_refusals(console_server: ConsoleServer, ws: str) -> None:
    """Agents get 403, another workspace's campaign is a 404, a post without CSRF a 403."""
    with console_server.login(ADMIN) as c:
        path = _create(c, name="Private").headers["location"]
        token = csrf_of(c.get(path).text)
        assert c.post(f"{path}/start", data={}).status_code == 403
        assert c.post(f"{path}/launch", data={"csrf": token}).status_code == 404
    with console_server.login("agent@cmp-http.example.com") as c:
        assert c.get("/campaigns").status_code == 403
        assert c.get(path).status_code == 403
    other = console_server.workspace("cmp-http-other")
    console_server.user("admin@cmp-http-other.example.com", "admin", other)
    with console_server.login("admin@cmp-http-other.example.com") as c:
        assert c.get(path).status_code == 404
        assert c.get(f"{path}/progress").status_code == 404
        token = csrf_of(c.get("/campaigns").text)
        for action in ("start", "cancel", "preview", "recipients"):
            answer = c.post(f"{path}/{action}", data={"csrf": token})
            assert answer.status_code == 404, (action, answer.status_code)
        assert "Private" not in c.get("/campaigns").text
