"""Screenshots of the later console pages in a real browser (zh-CN): a sending domain
with its records, teams, alias domains with "Which server?", and mailbox sign-in.

Written where tests/test_console_browser.py writes its own (MAILGATE_SCREENSHOTS or a
temporary directory), for a person to look at; no script error may occur on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailgate.services import sending_domains
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from tests.helpers import smtp_transport
from tests.servers.authdns import ZONE, AuthDns
from tests.servers.console import ConsoleServer
from tests.test_console_browser import Walk
from tests.test_console_browser import browser as browser
from tests.test_console_browser import shots as shots


def test_later_pages_in_the_browser(
    console_server: ConsoleServer, browser: Any, shots: Path, authdns: AuthDns
) -> None:
    ws = console_server.workspace("shots-acme")
    admin = console_server.user("admin@shots-acme.example.com", "admin", ws, language="zh_CN")
    console_server.app.settings.dns_resolver = authdns.address
    with transaction(console_server.app.sessions) as session:
        transport_service.create(
            session, console_server.app.secrets, ws,
            smtp_transport(console_server.sink.port, name="上海中继", sender="noreply@acme.cn"),
        )
        transport_service.create(  # a Gmail server that signs in with OAuth2, not connected
            session, console_server.app.secrets, ws,
            smtp_transport(
                console_server.sink.port, name="Gmail", default=False,
                sender="sales@acme.cn", config={"username": "sales@acme.cn", "auth": "xoauth2"},
            ),
        )
    domain = sending_domains.create(console_server.app, ws, f"news.acme.{ZONE}")
    walk = Walk(console_server, browser, "zh_CN", shots)
    errors: list[str] = []
    walk.page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        walk.login(admin)
        walk.go(f"/domains/{domain['id']}")
        assert walk.page.locator("code.secret").count() >= 2 * len(domain["records"])
        walk.page.click("form[action$='/verify'] button")
        walk.page.wait_for_load_state()
        walk.shot("domain")
        # The first screen only, small enough for docs/img.
        walk.page.screenshot(path=str(shots / "zh_CN-domain-top.png"))
        walk.go("/teams")
        walk.page.fill("form[action='/teams'] input[name=name]", "销售部")
        walk.page.click("form[action='/teams'] button")
        walk.page.wait_for_load_state()
        walk.shot("teams")
        walk.go("/alias-domains")
        walk.page.fill("form[action='/alias-domains'] input[name=domain]", "acme.cn")
        walk.page.fill("form[action='/alias-domains'] input[name=reply_to]", "catchall@acme.cn")
        walk.page.click("form[action='/alias-domains'] button[type=submit]")
        walk.page.wait_for_load_state()
        walk.page.fill("#which-server input[name=from]", "李雷 <sales@acme.cn>")
        walk.page.click("#which-server button[type=submit]")
        walk.page.wait_for_load_state()
        assert walk.page.locator("#explained").is_visible()
        walk.shot("alias-domains")
        walk.go("/oauth")
        walk.shot("oauth")
        # The configuration forms (tests/test_console_forms.py tests them over HTTP):
        # an IMAP source refused beside *port*, its password not written back, then saved.
        walk.go("/inbound/sources/new?kind=imap")
        form = "form[action='/inbound/sources/new']"
        walk.page.fill(f"{form} input[name=name]", "客服邮箱")
        walk.page.fill(f"{form} input[name='config.host']", "127.0.0.1")
        walk.page.fill(f"{form} input[name='config.port']", "99999")
        walk.page.fill(f"{form} input[name='config.username']", "help@acme.cn")
        walk.page.fill(f"{form} input[name='config.password']", "imap-Shot-pw")
        walk.page.uncheck(f"{form} input[name=enabled]")
        walk.page.click(f"{form} button[type=submit]")
        walk.page.wait_for_load_state()
        assert walk.page.locator(".field-error[data-field=port]").is_visible()
        assert "imap-Shot-pw" not in walk.page.content()
        walk.shot("source-form")
        walk.page.screenshot(path=str(shots / "zh_CN-source-form-top.png"))
        walk.page.fill(f"{form} input[name='config.port']", "1143")
        walk.page.fill(f"{form} input[name='config.password']", "imap-Shot-pw")
        walk.page.click(f"{form} button[type=submit]")
        walk.page.wait_for_load_state()
        assert "/inbound/sources/src_" in walk.page.url
        # A webhook's own page: its edit form, Send a test, New secret, the delivery log.
        walk.go("/webhooks")
        walk.page.fill("form[action='/webhooks'] input[name=url]", "http://127.0.0.1:9/hooks")
        walk.page.click("form[action='/webhooks'] button[type=submit]")
        walk.page.wait_for_load_state()
        walk.page.click("a[href^='/webhooks/wh']")
        walk.page.wait_for_load_state()
        walk.page.click("form[action$='/test'] button")
        walk.page.wait_for_load_state()
        walk.shot("webhook")
        walk.page.screenshot(path=str(shots / "zh_CN-webhook-top.png"))
        # The SMTP form's sign-in selector and warm-up plan.
        walk.go("/transports/new")
        walk.page.select_option("select[name=auth]", "xoauth2")
        walk.page.fill("input[name='warmup.start']", "200")
        walk.page.fill("input[name='warmup.target']", "50000")
        walk.page.locator("#oauth").scroll_into_view_if_needed()
        walk.page.screenshot(path=str(shots / "zh_CN-transport-signin-warmup.png"))
    finally:
        walk.close()
    assert errors == []
