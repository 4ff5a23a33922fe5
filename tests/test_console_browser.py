"""The console in a real browser (Debian's chromium through Playwright), in zh-CN and English.

One browser and one mailgate (HTTP, console, worker, SMTP listener) and smtp-sink
for the module. Each walk signs in, adds an SMTP server pointing at smtp-sink and
presses *test*, sends a message and finds it in the sent journal; a customer's
GBK-encoded mail arrives through the listener and the agent reads it and answers
with an attachment, the answer reaching the sink with threading headers.
Screenshots of every page go to ``$MAILGATE_SCREENSHOTS`` (else a temporary
directory): artefacts for a person to look at, never committed.
"""

from __future__ import annotations

import base64
import email
import email.policy
import os
import re
import shutil
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailgate.store.db import transaction
from mailgate.store.models import SupportAddress, new_id
from tests.servers.console import PASSWORD, ConsoleServer

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


class Walk:
    """One person in one browser context: signs in, clicks, takes screenshots."""

    def __init__(self, server: ConsoleServer, browser: Any, lang: str, shots: Path) -> None:
        locale = "zh-CN" if lang == "zh_CN" else "en-US"
        self.server, self.lang, self.shots = server, lang, shots
        self.context = browser.new_context(
            locale=locale, viewport={"width": 1200, "height": 860}, timezone_id="Asia/Shanghai"
        )
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.set_default_timeout(15000)

    def go(self, path: str) -> Any:
        return self.page.goto(self.server.url + path)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{self.lang}-{name}.png"), full_page=True)

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


def _deliver(server: ConsoleServer, raw: bytes, to: str) -> None:
    with smtplib.SMTP(server.listener.host, server.listener.port, timeout=30) as smtp:
        smtp.sendmail("zhang@customer.example.net", [to], raw)


def _sink_message(server: ConsoleServer, predicate: Any) -> email.message.EmailMessage:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for m in server.sink.messages():
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
    deadline = time.monotonic() + 20
    while True:
        walk.go(path)
        if needle in walk.page.content() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert needle in walk.page.content()


def _workspace(server: ConsoleServer, name: str) -> tuple[str, str]:
    ws = server.workspace(name)
    support = f"support@{name}.example.com"
    with transaction(server.app.sessions) as session:
        session.add(SupportAddress(id=new_id("adr"), workspace_id=ws, address=support))
    server.user(f"admin@{name}.example.com", "admin", ws)
    server.user(f"agent@{name}.example.com", "agent", ws)
    return ws, support


def _admin_walk(server: ConsoleServer, walk: Walk, name: str, support: str) -> None:
    """Sign in, add smtp-sink as the default server, test it, send, find it as sent."""
    walk.login(f"admin@{name}.example.com")
    walk.shot("dashboard")
    walk.go("/transports/new")
    walk.page.fill("input[name=name]", "sink")
    walk.page.fill("input[name=host]", "127.0.0.1")
    walk.page.fill("input[name=port]", str(server.sink.port))
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
    for path, shot in (
        ("/inbound", "inbound"),
        ("/addresses", "addresses"),
        ("/suppressions", "suppressions"),
        ("/webhooks", "webhooks"),
        ("/apikeys", "apikeys"),
        ("/users", "users"),
    ):
        assert walk.go(path).status == 200, path
        walk.shot(shot)


def _agent_walk(server: ConsoleServer, walk: Walk, name: str, support: str) -> str:
    """The customer's GBK mail arrives; the agent reads it and answers with a file."""
    customer_id = f"<gbk-{name}@customer.example.net>"
    _deliver(
        server,
        _gbk_mail(
            support,
            customer_id,
            "订单 1001 的发票问题",
            "您好，我的发票还没有收到，请帮忙查一下。\n\n张先生 写道：\n> 您的订单已发货。\n",
            "<p>您好，我的发票还没有收到。</p><script>alert('pwned')</script>"
            '<img src="http://tracker.example/pixel.gif"><img src=x onerror="alert(2)">',
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
    assert frame is not None and frame.get_attribute("sandbox") == ""
    assert "script" not in (frame.get_attribute("srcdoc") or "")

    walk.page.fill("textarea[name=text]", "张先生您好，发票已补开，请查收附件。")
    walk.page.set_input_files(
        "form[action$='/reply'] input[type=file]",
        files=[{"name": "发票.txt", "mimeType": "text/plain", "buffer": "发票号 8848".encode()}],
    )
    walk.page.click("form[action$='/reply'] button[type=submit]")
    walk.page.wait_for_selector("article.mail.out")
    walk.shot("conversation")
    reply = _sink_message(server, lambda m: m["In-Reply-To"] == customer_id)
    assert customer_id in reply["References"]
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in reply.iter_attachments()]
    assert files == [("发票.txt", "发票号 8848".encode())]
    assert "发票已补开" in reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return walk.page.url.split("/conversations/", 1)[1].split("#")[0].split("?")[0]


def test_walk_in_chinese(console_server: ConsoleServer, browser: Any, shots: Path) -> None:
    """The whole walk in zh-CN, with new mail appearing without a reload, hostile HTML
    that never runs, and another workspace's agent getting 404 for A's URLs."""
    name = "acme-zh"
    _, support = _workspace(console_server, name)
    admin = Walk(console_server, browser, "zh_CN", shots)
    try:
        admin.go("/login")
        assert "登录" in admin.page.content()
        admin.shot("login")
        _admin_walk(console_server, admin, name, support)
        assert "邮件服务器" in admin.page.content()
    finally:
        admin.close()

    agent = Walk(console_server, browser, "zh_CN", shots)
    try:
        conv_id = _agent_walk(console_server, agent, name, support)
        assert "回复" in agent.page.content()
        # A second customer mail appears in the open page, without a reload.
        _deliver(
            console_server,
            _gbk_mail(
                support,
                "<gbk-2@customer.example.net>",
                "Re: 订单 1001 的发票问题",
                "收到了，谢谢！",
                "<p>收到了，谢谢！</p>",
                refs=f"<gbk-{name}@customer.example.net>",
            ),
            support,
        )
        agent.page.wait_for_selector("text=收到了，谢谢！", timeout=20000)
        # Remote images stay blocked until asked for; then only that message's load.
        assert not [u for u in agent.requests if "tracker.example" in u]
        agent.page.click("details.html summary >> nth=0")
        agent.page.click("a[href*='images=']")
        agent.page.wait_for_selector("iframe.mailhtml")
        assert "tracker.example" in (
            agent.page.query_selector("iframe.mailhtml").get_attribute("srcdoc") or ""  # type: ignore[union-attr]
        )
        assert agent.dialogs == []  # no script of the mail ever ran
        # A POST without the CSRF token is refused, with the session cookie present.
        forged = agent.context.request.post(
            f"{console_server.url}/conversations/{conv_id}/status", form={"status": "closed"}
        )
        assert forged.status == 403
    finally:
        agent.close()

    _workspace(console_server, "beta-zh")
    other = Walk(console_server, browser, "zh_CN", shots)
    try:
        other.login("agent@beta-zh.example.com")
        answer = other.go(f"/conversations/{conv_id}")
        assert answer.status == 404
        assert "其他工作区" in other.page.content()
        other.shot("not-found")
        mobile = other.context.new_page()
        mobile.set_viewport_size({"width": 360, "height": 740})
        mobile.goto(console_server.url + "/conversations")
        mobile.screenshot(path=str(shots / "zh_CN-mobile-conversations.png"), full_page=True)
        mobile.close()
    finally:
        other.close()


def test_walk_in_english(console_server: ConsoleServer, browser: Any, shots: Path) -> None:
    """The same walk in English."""
    name = "acme-en"
    _, support = _workspace(console_server, name)
    admin = Walk(console_server, browser, "en", shots)
    try:
        admin.go("/login")
        assert "Sign in" in admin.page.content()
        admin.shot("login")
        _admin_walk(console_server, admin, name, support)
        assert "Mail servers" in admin.page.content()
    finally:
        admin.close()
    agent = Walk(console_server, browser, "en", shots)
    try:
        _agent_walk(console_server, agent, name, support)
        assert "Send the reply" in agent.page.content()
        assert agent.dialogs == []
    finally:
        agent.close()
