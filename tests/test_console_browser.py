"""The console in a real browser (Debian's chromium through Playwright), in zh-CN and English.

Against a real ``mailgate serve`` process (tests/servers/serve.py: ``mailgate init``
then ``serve``, configured through ``MAILGATE_*``, SQLite and a files blob store in a
temporary directory, HTTP and SMTP listener on free ports) and Postfix smtp-sink, one
of each and one chromium for the module. Workspaces and their first users come from
the CLI (``mailgate workspace create``, ``mailgate user create --password-stdin``),
as an operator makes them. Each walk, once per language:

* the admin signs in, adds the support address, invites the agent, adds an SMTP
  server pointing at smtp-sink and presses *test* (smtp-sink's own words shown),
  sends a message and finds it in the sent journal;
* a customer's GBK-encoded mail is sent over SMTP into serve's listener; the agent
  reads it, answers with an attachment, and the answer reaches smtp-sink with
  In-Reply-To and References; the customer's next mail appears in the open page
  without a reload; the mail's script never runs (no dialog, no request, no console
  message; the frame is sandboxed) and its remote image waits for *Load images*; a
  POST without the CSRF token answers 403;
* workspace B's agent gets 404 for every URL of A's conversation and messages.

``serve`` is stopped with SIGTERM at the end; a non-zero exit or a traceback on its
stderr fails the module. Screenshots of every page go to ``$MAILGATE_SCREENSHOTS``
(else pytest's temporary directory): artefacts for a person, never committed. The
small PNGs in docs/img/ change only through ``MAILGATE_UPDATE_SNAPSHOTS=1`` (see
:data:`DOC_SHOTS`).
"""

from __future__ import annotations

import base64
import email
import email.policy
import os
import re
import shutil
import smtplib
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.servers.console import PASSWORD
from tests.servers.serve import Serve, start_serve
from tests.servers.smtpsink import SMTP_SINK, SmtpSink, _start_sink, stop_process_group

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
#: Screenshots copied (first screen only) to docs/img/console-<name>.png when the run
#: is asked to update them: ``MAILGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_console*browser.py``.
DOC_SHOTS = frozenset(
    {
        "en-apikeys", "en-journal", "en-login", "en-message", "en-transport-form",
        "zh_CN-conversation", "zh_CN-conversations", "zh_CN-dashboard", "zh_CN-transports",
        "zh_CN-mobile-conversations", "zh_CN-domain", "zh_CN-teams", "zh_CN-oauth",
    }
)  # fmt: skip


def update_docs() -> bool:
    return os.environ.get("MAILGATE_UPDATE_SNAPSHOTS") == "1"


class HasUrl(Protocol):
    url: str


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (scripts/system-packages.sh)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("MAILGATE_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class Served:
    """The module's ``mailgate serve`` and the smtp-sink its admins point at."""

    serve: Serve
    sink: SmtpSink

    @property
    def url(self) -> str:
        return self.serve.url


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """``mailgate serve`` as a subprocess, beside smtp-sink; stopped with SIGTERM."""
    if not os.path.exists(SMTP_SINK):
        pytest.skip("Postfix smtp-sink is not installed")
    with tempfile.TemporaryDirectory(prefix="mailgate-serve-") as tmp:
        os.chmod(tmp, 0o755)  # smtp-sink (as nobody) writes below it
        (Path(tmp) / "sink").mkdir()
        sink = _start_sink(Path(tmp) / "sink", ())
        try:
            with start_serve(Path(tmp)) as serve:
                yield Served(serve, sink)
        finally:
            stop_process_group(sink.proc)


@pytest.fixture(scope="module")
def workspace_b(served: Served) -> Iterator[Future[str]]:
    """Workspace B and its agent, made by the CLI in the background while A walks (each
    `mailgate` command takes seconds to start on a busy machine); B's name."""
    with ThreadPoolExecutor(1) as terminal:
        yield terminal.submit(_operator, served, "beta", "agent")


class Walk:
    """One person in one browser context: signs in, clicks, takes screenshots.

    Records what would betray a script of a received mail: dialogs, console messages,
    page errors and every request the page made.
    """

    def __init__(self, server: HasUrl, browser: Any, lang: str, shots: Path) -> None:
        locale = "zh-CN" if lang == "zh_CN" else "en-US"
        self.server, self.lang, self.shots = server, lang, shots
        self.context = browser.new_context(
            locale=locale, viewport={"width": 1200, "height": 860}, timezone_id="Asia/Shanghai"
        )
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.console: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.set_default_timeout(15000)

    def go(self, path: str) -> Any:
        return self.page.goto(self.server.url + path)

    def shot(self, name: str, page: Any = None) -> None:
        page = page or self.page
        page.screenshot(path=str(self.shots / f"{self.lang}-{name}.png"), full_page=True)
        if update_docs() and f"{self.lang}-{name}" in DOC_SHOTS:
            page.evaluate("window.scrollTo(0, 0)")  # the page's first screen, top bar included
            page.screenshot(path=str(DOCS_IMG / f"console-{self.lang}-{name}.png"))

    def login(self, email_: str) -> None:
        self.go("/login")
        self.page.fill("input[name=email]", email_)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url

    def close(self) -> None:
        self.context.close()


def _gbk_mail(
    to: str, message_id: str, subject: str, text: str, html: str, refs: str = ""
) -> bytes:
    def b64(s: str) -> str:
        return base64.b64encode(s.encode("gbk")).decode()

    threading = f"In-Reply-To: {refs}\r\nReferences: {refs}\r\n" if refs else ""
    return (
        f"From: =?gbk?b?{b64('张先生')}?= <zhang@customer.example.net>\r\n"
        f"To: {to}\r\n"
        f"Subject: =?gbk?b?{b64(subject)}?=\r\n"
        f"Message-ID: {message_id}\r\n{threading}"
        "Date: Mon, 30 Nov 2026 10:00:00 +0800\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="gbk-b"\r\n\r\n'
        "--gbk-b\r\nContent-Type: text/plain; charset=gbk\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{b64(text)}\r\n"
        "--gbk-b\r\nContent-Type: text/html; charset=gbk\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{b64(html)}\r\n"
        "--gbk-b--\r\n"
    ).encode("ascii")


#: A script and event handlers that would each leave a trace: a dialog, a request for
#: a /pwned-… URL, a console line, a changed title.
HOSTILE_HTML = (
    "<p>您好，我的发票还没有收到。</p>"
    "<script>alert('pwned');fetch('/pwned-script');console.log('pwned');"
    "top.document.title='pwned'</script>"
    '<img src="http://tracker.example/pixel.gif">'
    "<img src=x onerror=\"fetch('/pwned-onerror');alert(2)\">"
    "<a href=\"javascript:fetch('/pwned-link')\">查看</a>"
    "<svg onload=\"fetch('/pwned-svg')\"></svg>"
)


def _deliver(served: Served, raw: bytes, to: str) -> None:
    """The customer's MTA: SMTP into serve's own listener port."""
    with smtplib.SMTP(served.serve.smtp_host, served.serve.smtp_port, timeout=30) as smtp:
        smtp.sendmail("zhang@customer.example.net", [to], raw)


def _sink_message(sink: SmtpSink, predicate: Any) -> email.message.EmailMessage:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for m in sink.messages():
            lines = m.dump.split(b"\n")
            while lines and lines[0].startswith(b"X-"):
                lines.pop(0)
            msg = email.message_from_bytes(b"\n".join(lines), policy=email.policy.default)
            if predicate(msg):
                return msg  # type: ignore[return-value]
        time.sleep(0.1)
    raise AssertionError("no such message reached smtp-sink")


def _wait_text(walk: Walk, path: str, needle: str) -> None:
    """Reload ``path`` until it shows ``needle`` (the worker delivers in the background)."""
    deadline = time.monotonic() + 30
    while True:
        walk.go(path)
        if needle in walk.page.content() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert needle in walk.page.content()


def _operator(served: Served, workspace: str, role: str) -> str:
    """What the operator does in a terminal: a workspace with its receiving domain and its
    first user (A's agent is invited in the console by A's admin); the workspace."""
    served.serve.cli("workspace", "create", workspace, "--domain", f"{workspace}.example.com")
    served.serve.cli(
        "user", "create", "--email", f"{role}@{workspace}.example.com", "--workspace", workspace,
        "--role", role, "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    return workspace


def _admin_walk(served: Served, walk: Walk, name: str, support: str) -> None:
    """Sign in, add the support address and the agent, add smtp-sink as the default
    server, test it, send, find it as sent, and look at every other admin page."""
    assert walk.go("/").url == served.url + "/login?next=/"  # the console answers at /
    walk.shot("login")
    walk.login(f"admin@{name}.example.com")
    walk.shot("dashboard")
    walk.go("/addresses")
    walk.page.fill("form[action='/addresses'] input[name=address]", support)
    walk.page.click("form[action='/addresses'] button[type=submit]")
    walk.page.wait_for_selector(f"td:text-is('{support}')")
    walk.shot("addresses")
    walk.go("/users")
    walk.page.fill("form[action='/users'] input[name=email]", f"agent@{name}.example.com")
    walk.page.select_option("form[action='/users'] select[name=role]", "agent")
    walk.page.fill("form[action='/users'] input[name=password]", PASSWORD)
    walk.page.click("form[action='/users'] button[type=submit]")
    walk.page.wait_for_selector(f"td:text-is('agent@{name}.example.com')")
    walk.shot("users")

    walk.go("/transports/new")
    walk.page.fill("input[name=name]", "sink")
    walk.page.fill("input[name=host]", "127.0.0.1")
    walk.page.fill("input[name=port]", str(served.sink.port))
    walk.page.fill("input[name=sender]", support)
    walk.page.check("input[name=default]")
    walk.shot("transport-form")
    walk.page.click("form[action='/transports/new'] button[type=submit]")
    walk.page.wait_for_selector("form[action$='/check'] button")
    walk.page.click("form[action$='/check'] button")
    result = walk.page.wait_for_selector("#check-result")
    words = result.inner_text()
    assert "connect success" in words and "250" in words, words  # smtp-sink's own replies
    walk.shot("transports")

    subject = f"Order 1001 shipped ({name})"
    walk.go("/journal")
    walk.page.click("details summary")
    walk.page.fill("input[name=to]", "buyer@customer.example.net")
    walk.page.fill("input[name=subject]", subject)
    walk.page.fill("textarea[name=text]", "Your parcel is on its way.")
    walk.page.click("form[action='/journal/send'] button[type=submit]")
    walk.page.wait_for_url(re.compile(r"/messages/msg_"))
    _wait_text(walk, "/journal?status=sent", subject)
    walk.shot("journal")
    walk.page.click(f"text={subject}")
    walk.page.wait_for_selector("dl.facts")
    walk.shot("message")
    sent = _sink_message(served.sink, lambda m: m["Subject"] == subject)
    assert sent["To"] == "buyer@customer.example.net"
    for path, shot in (
        ("/inbound", "inbound"),
        ("/suppressions", "suppressions"),
        ("/webhooks", "webhooks"),
        ("/apikeys", "apikeys"),
    ):
        assert walk.go(path).status == 200, path
        walk.shot(shot)


def _agent_walk(served: Served, walk: Walk, name: str, support: str) -> tuple[str, list[str]]:
    """The customer's GBK mail arrives; the agent reads it and answers with a file.

    Returns the conversation's id and the URLs of its messages, attachments and raw
    sources as the agent's page links them.
    """
    customer_id = f"<gbk-{name}@customer.example.net>"
    _deliver(
        served,
        _gbk_mail(
            support,
            customer_id,
            "订单 1001 的发票问题",
            "您好，我的发票还没有收到，请帮忙查一下。\n\n张先生 写道：\n> 您的订单已发货。\n",
            HOSTILE_HTML,
        ),
        support,
    )
    walk.login(f"agent@{name}.example.com")
    _wait_text(walk, "/conversations", "订单 1001 的发票问题")
    walk.shot("conversations")
    walk.page.click("text=订单 1001 的发票问题")
    walk.page.wait_for_selector("article.mail")
    body = walk.page.inner_text("article.mail .body")
    assert "我的发票还没有收到" in body and "您的订单已发货" not in body  # quote folded
    frame = walk.page.query_selector("iframe.mailhtml")
    assert frame is not None and frame.get_attribute("sandbox") == ""  # no allow-scripts
    srcdoc = frame.get_attribute("srcdoc") or ""
    assert "<script" not in srcdoc and "onerror" not in srcdoc and "javascript:" not in srcdoc
    walk.page.click("details.html summary >> nth=0")  # the HTML shown: still nothing runs

    walk.page.fill("textarea[name=text]", "张先生您好，发票已补开，请查收附件。")
    walk.page.set_input_files(
        "form[action$='/reply'] input[type=file]",
        files=[{"name": "发票.txt", "mimeType": "text/plain", "buffer": "发票号 8848".encode()}],
    )
    walk.page.click("form[action$='/reply'] button[type=submit]")
    walk.page.wait_for_selector("article.mail.out")
    walk.shot("conversation")
    _next_mail(served, walk, name, support)  # shown by the page's polling, awaited later
    reply = _sink_message(served.sink, lambda m: m["In-Reply-To"] == customer_id)
    assert customer_id in reply["References"]
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in reply.iter_attachments()]
    assert files == [("发票.txt", "发票号 8848".encode())]
    assert "发票已补开" in reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    conv_id = walk.page.url.split("/conversations/", 1)[1].split("#")[0].split("?")[0]
    links = walk.page.eval_on_selector_all(
        "article.mail a[href^='/messages/']", "as => as.map(a => a.getAttribute('href'))"
    )
    assert any("/attachments/" in u for u in links), links
    messages = {u.split("/")[2] for u in links}
    return conv_id, sorted({*links, *(f"/messages/{m}/raw" for m in messages)})


def _next_mail(served: Served, walk: Walk, name: str, support: str) -> None:
    """The customer answers while the agent's page is open."""
    walk.page.evaluate("window.__same_document = true")  # gone if the page reloads
    _deliver(
        served,
        _gbk_mail(
            support,
            f"<gbk-2-{name}@customer.example.net>",
            "Re: 订单 1001 的发票问题",
            "收到了，谢谢！",
            "<p>收到了，谢谢！</p>",
            refs=f"<gbk-{name}@customer.example.net>",
        ),
        support,
    )


def _new_mail_and_hostile_html(walk: Walk) -> None:
    """The next customer mail appears in the open page without a reload; the first
    mail's script never ran; its remote image loads only when asked."""
    walk.page.wait_for_selector("text=收到了，谢谢！", timeout=30000)
    assert walk.page.evaluate("window.__same_document") is True
    assert walk.dialogs == []
    assert not [u for u in walk.requests if "pwned" in u or "tracker.example" in u]
    assert walk.console == []  # not even a CSP or sandbox refusal: nothing tried to run
    assert walk.page.title() != "pwned"
    walk.page.click("details.html summary >> nth=0")
    walk.page.click("a[href*='images=']")
    walk.page.wait_for_selector("iframe.mailhtml")
    srcdoc = walk.page.query_selector("iframe.mailhtml").get_attribute("srcdoc")  # type: ignore[union-attr]
    assert "tracker.example" in (srcdoc or "")
    assert walk.dialogs == [] and not [u for u in walk.requests if "pwned" in u]


def _walk(
    served: Served, browser: Any, shots: Path, workspace_b: Future[str], lang: str, tag: str
) -> None:
    name = f"acme-{tag}"
    _operator(served, name, "admin")
    conv_id, urls = _walk_a(served, browser, shots, lang, name)
    _walk_b(served, browser, shots, lang, workspace_b.result(), conv_id, urls)
    assert "Traceback" not in served.serve.stderr, served.serve.stderr  # nothing crashed


def _walk_a(
    served: Served, browser: Any, shots: Path, lang: str, name: str
) -> tuple[str, list[str]]:
    """Workspace A: the admin's part, then the agent's; A's conversation and its URLs."""
    support = f"support@{name}.example.com"
    admin = Walk(served, browser, lang, shots)
    try:
        _admin_walk(served, admin, name, support)
        assert ("邮件服务器" if lang == "zh_CN" else "Mail servers") in admin.page.content()
    finally:
        admin.close()

    agent = Walk(served, browser, lang, shots)
    try:
        conv_id, urls = _agent_walk(served, agent, name, support)
        assert ("回复" if lang == "zh_CN" else "Send the reply") in agent.page.content()
        _new_mail_and_hostile_html(agent)
        # A POST without the CSRF token is refused, with the session cookie present.
        forged = agent.context.request.post(
            f"{served.url}/conversations/{conv_id}/status", form={"status": "closed"}
        )
        assert forged.status == 403
        assert agent.context.request.get(f"{served.url}/conversations/{conv_id}").ok
        phone = agent.context.new_page()  # the inbox on a 360 px screen
        phone.set_viewport_size({"width": 360, "height": 740})
        phone.goto(served.url + "/conversations")
        assert phone.locator("text=订单 1001 的发票问题").count() >= 1
        agent.shot("mobile-conversations", phone)
        phone.close()
    finally:
        agent.close()
    return conv_id, urls


def _walk_b(
    served: Served, browser: Any, shots: Path, lang: str, other: str, conv_id: str,
    urls: list[str],
) -> None:
    """Workspace B's agent: every URL of A's conversation answers 404."""
    stranger = Walk(served, browser, lang, shots)
    try:
        stranger.login(f"agent@{other}.example.com")
        answer = stranger.go(f"/conversations/{conv_id}")
        assert answer.status == 404
        assert ("其他工作区" if lang == "zh_CN" else "another workspace") in stranger.page.content()
        stranger.shot("not-found")
        for url in [f"/conversations/{conv_id}/thread", *urls]:
            got = stranger.context.request.get(served.url + url, max_redirects=0)
            assert got.status == 404, (url, got.status)
    finally:
        stranger.close()


def test_walk_in_chinese(
    served: Served, browser: Any, shots: Path, workspace_b: Future[str]
) -> None:
    """The whole walk in zh-CN (the browser's Accept-Language)."""
    _walk(served, browser, shots, workspace_b, "zh_CN", "zh")


def test_walk_in_english(
    served: Served, browser: Any, shots: Path, workspace_b: Future[str]
) -> None:
    """The same walk in English."""
    _walk(served, browser, shots, workspace_b, "en", "en")
