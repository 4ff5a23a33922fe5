"""Campaigns: create, preview, upload, life cycle, dispatch into smtp-sink, feedback."""

from __future__ import annotations

import codecs
import json
import re

import httpx
from sqlalchemy import select

from mailgate.inbound.pipeline import Incoming, receive
from mailgate.store.db import transaction
from mailgate.store.models import CampaignRecipient, Event
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server
from tests.servers.smtpsink import SmtpSink

FROM = "news@acme.example.com"


def campaign(c: httpx.Client, **extra: object) -> dict[str, object]:
    body = {
        "name": "Spring",
        "from": f"Acme <{FROM}>",
        "reply_to": "sales@acme.example.com",
        "subject": "Hello {{ first }}",
        "text": "Dear {{ first }},\nyour code is {{ code }}.\n",
        "html": "<p>Dear {{ first }}</p>",
        **extra,
    }
    r = c.post("/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def upload(c: httpx.Client, cid: object, body: bytes, ctype: str = "text/csv") -> dict[str, object]:
    r = c.post(f"/v1/campaigns/{cid}/recipients", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_campaign_api(server: Server, smtp_sink: SmtpSink) -> None:
    """Templates, uploads (UTF-8 BOM, GB18030, NDJSON), states, scoping and refusals."""
    with server.client() as c:
        assert c.post("/v1/transports", json=smtp_transport(smtp_sink.port)).status_code == 201
        # A template error names the part and the line (422).
        r = c.post(
            "/v1/campaigns",
            json={"name": "x", "from": FROM, "subject": "s", "text": "ok\n{% if %}"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["field"] == "text" and "line 2" in r.json()["error"]["message"]
        # The sandbox refuses Python internals, at preview time.
        bad = campaign(c, subject="Hi", text="{{ ''.__class__.__mro__ }}")
        r = c.post(f"/v1/campaigns/{bad['id']}/preview", json={"variables": {}})
        assert r.status_code == 422 and "unsafe" in r.json()["error"]["message"]
        made = campaign(c)
        cid = made["id"]
        assert made["state"] == "draft" and made["counts"]["pending"] == 0  # type: ignore[index]
        r = c.post(f"/v1/campaigns/{cid}/preview", json={"variables": {"first": "Li", "code": 7}})
        assert r.status_code == 200, r.text
        assert r.json()["subject"] == "Hello Li" and "code is 7" in r.json()["text"]
        # A missing variable names it and the line; a header injection is refused.
        r = c.post(f"/v1/campaigns/{cid}/preview", json={"variables": {"first": "Li"}})
        assert r.status_code == 422 and "'code' is undefined" in r.json()["error"]["message"]
        assert "line 2" in r.json()["error"]["message"]
        r = c.post(
            f"/v1/campaigns/{cid}/preview",
            json={"variables": {"first": "x\r\nBcc: a@b.c", "code": 1}},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "header_injection"
        # Starting without recipients is a clear 409.
        r = c.post(f"/v1/campaigns/{cid}/start")
        assert r.status_code == 409 and "no recipients" in r.json()["error"]["message"]
        assert c.post("/v1/suppressions", json={"address": "gone@example.org"}).status_code == 201
        csv_utf8 = codecs.BOM_UTF8 + (
            "email,first,code\r\n"
            "a@example.org,Ann,1\r\n"
            "not-an-address,Bob,2\r\n"
            "A@example.org,Ann again,3\r\n"
            "gone@example.org,Gone,4\r\n"
            "b@example.org,Björn,5,extra\r\n"
        ).encode()
        report = upload(c, cid, csv_utf8)
        assert report["accepted"] == 1 and report["duplicates"] == 1
        assert report["suppressed"] == 1 and report["invalid"] == 2
        rows = {r["row"] for r in report["invalid_rows"]}  # type: ignore[attr-defined]
        assert rows == {3, 6}
        for ctype, body, fld in (
            ("text/csv", b"mail,first\nx@example.org,X\n", "header"),
            ("application/json", b"[]", "content-type"),
        ):
            r = c.post(
                f"/v1/campaigns/{cid}/recipients", content=body, headers={"Content-Type": ctype}
            )
            assert r.status_code == 422 and r.json()["error"]["field"] == fld, r.text
        again = upload(c, cid, csv_utf8)  # uploading again adds only who is new: nobody
        assert (again["accepted"], again["duplicates"], again["suppressed"]) == (0, 3, 0)
        gb = "email,first,code\n张@example.org,张伟,8\n".replace("张@", "zhang@").encode("gb18030")
        assert upload(c, cid, gb)["accepted"] == 1
        lines = [
            {"email": "c@example.org", "variables": {"first": "Cé", "code": 9, "note": "x" * 900}},
            {"x": 1},
        ]
        body = "\n".join(json.dumps(x) for x in lines).encode()
        # A list is streamed into the store: the request body cap does not apply to it.
        server.app.settings.max_request_bytes = 600
        try:
            report = upload(c, cid, body, "application/x-ndjson")
            too_big = {"name": "x" * 700, "from": FROM, "subject": "s", "text": "t"}
            assert c.post("/v1/campaigns", json=too_big).status_code == 413
        finally:
            server.app.settings.max_request_bytes = 0
        assert report["accepted"] == 1 and report["invalid"] == 1 and report["total"] == 4
        with transaction(server.app.sessions) as session:
            names = dict(
                session.execute(
                    select(CampaignRecipient.email, CampaignRecipient.variables).where(
                        CampaignRecipient.campaign_id == cid
                    )
                ).all()
            )
        assert names["zhang@example.org"]["first"] == "张伟"
        # Another workspace sees nothing of it.
        _, other = server.new_workspace("other")
        with server.client(other) as o:
            assert o.get(f"/v1/campaigns/{cid}").status_code == 404
            assert o.post(f"/v1/campaigns/{cid}/start").status_code == 404
            r = o.post(
                f"/v1/campaigns/{cid}/recipients",
                content=b"email\nx@example.org\n",
                headers={"Content-Type": "text/csv"},
            )
            assert r.status_code == 404
        # The state machine: resume a draft is refused; start, pause, cancel.
        r = c.post(f"/v1/campaigns/{cid}/resume")
        assert r.status_code == 409 and "draft" in r.json()["error"]["message"]
        assert c.post(f"/v1/campaigns/{bad['id']}/cancel").json()["state"] == "cancelled"
        r = c.post(
            f"/v1/campaigns/{bad['id']}/recipients",
            content=b"email\nx@example.org\n",
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 409
        assert c.post(f"/v1/campaigns/{cid}/start").status_code == 200
        done = wait_for(
            lambda: (d := c.get(f"/v1/campaigns/{cid}").json())["state"] == "done" and d,
            what="the campaign to finish",
        )
        assert done["counts"]["sent"] == 3 and done["counts"]["suppressed"] == 1
        assert c.post(f"/v1/campaigns/{cid}/pause").status_code == 409
        assert [x["id"] for x in c.get("/v1/campaigns").json()["items"]] == [cid, bad["id"]]
    dumps = smtp_sink.messages(expect=3)
    assert sorted(m.rcpt_tos[0] for m in dumps) == [
        "a@example.org",
        "c@example.org",
        "zhang@example.org",
    ]
    ann = next(m.dump for m in dumps if m.rcpt_tos == ["a@example.org"])
    assert b"Subject: Hello Ann" in ann
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in ann
    assert re.search(rb"List-Unsubscribe: <http[^>]+/u/", ann)
    with transaction(server.app.sessions) as session:
        sent = session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.email == "a@example.org")
        ).one()
        assert sent.template_version == 1 and sent.message_id and sent.message_id.encode() in ann
        types = set(session.scalars(select(Event.type)))
    assert "campaign.done" in types
    # Feedback: a hard bounce (found by the returned Message-ID) and a one-click unsubscribe.
    [got] = receive(server.app, [Incoming(server.workspace_id, _bounce(sent.message_id), "api")])
    cee = next(m.dump for m in dumps if m.rcpt_tos == ["c@example.org"])
    link = re.search(rb"List-Unsubscribe: <http[^>]+(/u/[^>]+)>", cee)
    assert link is not None
    with server.client() as c:
        wait_for(lambda: c.get(f"/v1/messages/{got.id}").json()["status"] == "processed")
        assert c.post(link.group(1).decode()).status_code == 200
        counts = c.get(f"/v1/campaigns/{cid}").json()["counts"]
        assert counts["bounced"] == 1 and counts["unsubscribed"] == 1 and counts["sent"] == 1
        entries = {(e["address"], e["scope"]) for e in c.get("/v1/suppressions").json()["items"]}
    assert {("a@example.org", "all"), ("c@example.org", "bulk")} <= entries


def _bounce(message_id: str | None) -> bytes:
    return (
        "From: MAILER-DAEMON@example.org\r\n"
        "To: news@acme.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nNo such person here.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; a@example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 unknown user\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{message_id}>\r\nSubject: Hello Ann\r\n\r\n--B--\r\n"
    ).encode()
