"""The campaigns page in a real browser (chromium through Playwright), in Chinese.

Reuses the console browser module's fixtures (one chromium, screenshots) and the
module's console server: create a campaign, see a template error beside its field,
preview it for a sample recipient, upload a CSV and read the report, start it and
watch the progress block (polled by console.js, no reload) reach *done* while the
worker sends into smtp-sink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailgate.services import transports
from mailgate.store.db import transaction
from tests.helpers import smtp_transport
from tests.servers.console import ConsoleServer
from tests.test_console_browser import Walk, browser, shots

__all__ = ["browser", "shots"]  # the fixtures this module uses


def test_campaign_walk_in_chinese(console_server: ConsoleServer, browser: Any, shots: Path) -> None:
    ws = console_server.workspace("cmp-browser")
    console_server.user("admin@cmp-browser.example.com", "admin", ws)
    with transaction(console_server.app.sessions) as session:
        transports.create(
            session, console_server.app.secrets, ws, smtp_transport(console_server.sink.port)
        )
    walk = Walk(console_server, browser, "zh_CN", shots)
    try:
        walk.login("admin@cmp-browser.example.com")
        walk.go("/campaigns")
        assert "群发活动" in walk.page.content()
        walk.page.click("a[href='/campaigns/new']")
        page = walk.page
        page.fill("input[name=name]", "双十二")
        page.fill("input[name=from]", "Acme <news@cmp-browser.example.com>")
        page.fill("input[name=subject]", "{{ first }}，您好")
        page.fill("textarea[name=text]", "尊敬的 {{ first }}：\n{% if %}\n")
        page.click("form[action='/campaigns/new'] button[type=submit]")
        error = page.wait_for_selector(".field-error[data-field=text]")
        assert "line 2" in error.inner_text()
        assert page.input_value("input[name=name]") == "双十二"
        walk.shot("campaign-form-error")
        page.fill("textarea[name=text]", "尊敬的 {{ first }}：\n优惠码 {{ code }}。\n")
        page.fill("textarea[name=html]", "<p>尊敬的 {{ first }}</p>")
        page.click("form[action='/campaigns/new'] button[type=submit]")
        page.wait_for_selector("#progress")
        assert "草稿" in page.inner_text("#campaign-state")

        page.fill("textarea[name=variables]", "first = 李雷\ncode = X12")
        page.click("form[action$='/preview'] button[type=submit]")
        assert page.inner_text("#preview-subject") == "李雷，您好"
        assert "优惠码 X12。" in page.inner_text("#preview-text")
        walk.shot("campaign-preview")

        listing = "email,first,code\n李@example.org,李,1\nwang@example.org,王,2\nbad,坏,3\n"
        listing = listing.replace("李@", "li@")
        page.set_input_files(
            "input[name=list]",
            {"name": "名单.csv", "mimeType": "text/csv", "buffer": listing.encode("gb18030")},
        )
        page.click("form[action$='/recipients'] button[type=submit]")
        page.wait_for_selector("#upload-report")
        assert page.inner_text("[data-report=accepted]") == "2"
        assert page.inner_text("[data-report=invalid]") == "1"
        assert "4\tnot an email address" in page.inner_text("#invalid-rows")  # header is row 1
        walk.shot("campaign-upload")

        page.click("#campaign-actions button[value=start]")
        page.wait_for_selector("#campaign-state")
        # No reload from here: console.js swaps the progress block in as it changes.
        page.wait_for_selector("#campaign-state[data-state=done]", timeout=20000)
        assert page.inner_text("[data-count=sent]") == "2"
        walk.shot("campaign-done")
    finally:
        walk.close()
    assert any(b"wang@example.org" in m.dump for m in console_server.sink.messages())
