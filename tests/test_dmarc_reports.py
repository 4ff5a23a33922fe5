"""DMARC aggregate reports: the domain's signed ``rua`` is received, reports are filed once.

The reports are written here in the shape RFC 7489 Appendix C gives and the big
receivers send: a zipped (or gzipped) ``<feedback>`` document attached to a short
mail from the reporter's ``noreply-dmarc-support``-style address.
"""

from __future__ import annotations

import gzip
import io
import smtplib
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mailgate.core.dmarc_report import MAX_XML, ReportError, parse_xml, reports_in
from mailgate.core.message import Attachment
from mailgate.inbound.smtp import start_listener
from mailgate.store.models import Conversation, Event
from tests.helpers import wait_for
from tests.servers.authdns import AuthDns
from tests.servers.listener import LoopThread, RunningListener
from tests.servers.mailgate import Server


def feedback(domain: str, report_id: str = "rep-1", *, namespace: bool = False) -> bytes:
    ns = ' xmlns="urn:ietf:params:xml:ns:dmarc-2.0"' if namespace else ""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback{ns}>
  <report_metadata>
    <org_name>receiver.example</org_name>
    <email>noreply-dmarc@receiver.example</email>
    <report_id>{report_id}</report_id>
    <date_range><begin>1764460800</begin><end>1764547199</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.25</source_ip><count>40</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim></auth_results>
  </record>
  <record>
    <row>
      <source_ip>198.51.100.7</source_ip><count>2</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>{domain}</header_from></identifiers>
  </record>
</feedback>
""".encode()


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buf.getvalue()


# -- the reader (pure) ---------------------------------------------------------------


def test_a_report_is_read_into_rows_and_totals() -> None:
    report = parse_xml(feedback("news.acme.test"))
    assert (report.org_name, report.report_id, report.domain) == (
        "receiver.example",
        "rep-1",
        "news.acme.test",
    )
    assert report.begin.isoformat() == "2025-11-30T00:00:00+00:00"
    assert report.policy == "none"
    assert (report.messages, report.passed) == (42, 40)
    assert report.rows[1] == {
        "source_ip": "198.51.100.7",
        "count": 2,
        "disposition": "none",
        "dkim": "fail",
        "spf": "fail",
        "header_from": "news.acme.test",
    }
    assert parse_xml(feedback("news.acme.test", namespace=True)).messages == 42


def test_zip_gzip_and_bare_xml_attachments_are_found() -> None:
    xml = feedback("d.test")
    atts = [
        Attachment("receiver.example!d.test!1!2.zip", "application/zip", zipped("r.xml", xml)),
        Attachment("r.xml.gz", "application/gzip", gzip.compress(xml)),
        Attachment("r.xml", "text/xml", xml),
        Attachment("logo.png", "image/png", b"\x89PNG"),
    ]
    reports, problems = reports_in(atts)
    assert [r.messages for r in reports] == [42, 42, 42] and problems == []


@pytest.mark.parametrize(
    ("att", "why"),
    [
        (
            Attachment(
                "r.xml",
                "text/xml",
                b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><feedback>&a;</feedback>',
            ),
            "document type declaration",
        ),
        # 40 MB of zeros zipped into a few KB: refused after MAX_XML, never inflated whole.
        (Attachment("bomb.zip", "application/zip", zipped("r.xml", bytes(2 * MAX_XML))), "expands"),
        (Attachment("bomb.gz", "application/gzip", gzip.compress(bytes(2 * MAX_XML))), "expands"),
        (Attachment("r.zip", "application/zip", b"PK\x03\x04 broken"), "zip"),
        (Attachment("r.zip", "application/zip", zipped("readme.txt", b"hi")), "no .xml"),
        (Attachment("r.xml", "text/xml", b"<html><body>hi</body></html>"), "<feedback>"),
        (Attachment("r.xml", "text/xml", b"<feedback><report_metadata>"), "well-formed"),
        (
            Attachment("r.xml", "text/xml", feedback("d.test").replace(b"1764460800", b"soon")),
            "1970",
        ),
    ],
)
def test_hostile_attachments_are_refused_with_a_reason(att: Attachment, why: str) -> None:
    reports, problems = reports_in([att])
    assert reports == [] and len(problems) == 1 and why in problems[0], problems


def test_a_report_without_its_identity_is_refused() -> None:
    with pytest.raises(ReportError, match="required"):
        parse_xml(b"<feedback><report_metadata/><policy_published/></feedback>")


# -- through the listener ------------------------------------------------------------


@pytest.fixture
def smtp(server: Server, authdns: AuthDns) -> Iterator[RunningListener]:
    server.app.settings.dns_resolver = authdns.address  # domain creation asks DNS (MX warning)
    loop = LoopThread()
    listener = loop.run(start_listener(server.app, "127.0.0.1", 0))
    running = RunningListener(server.app, listener, loop, server.workspace_id)
    try:
        yield running
    finally:
        running.stop()


def rua(domain: dict[str, object]) -> str:
    [dmarc] = [r for r in domain["records"] if r["purpose"] == "dmarc"]  # type: ignore[attr-defined]
    value = str(dmarc["value"])
    return value.partition("rua=mailto:")[2].split(";")[0].strip()


def report_mail(to: str, attachment: bytes, name: str, mid: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "noreply-dmarc@receiver.example"
    msg["To"] = to
    msg["Subject"] = "Report domain: news.acme.test Submitter: receiver.example Report-ID: rep-1"
    msg["Message-ID"] = f"<{mid}@receiver.example>"
    msg.set_content("This is an aggregate report from receiver.example.")
    msg.add_attachment(attachment, maintype="application", subtype="zip", filename=name)
    return msg.as_bytes()


def test_reports_to_the_signed_rua_are_filed_once_and_never_threaded(
    server: Server, smtp: RunningListener
) -> None:
    with server.client() as c:
        domain = c.post("/v1/domains", json={"name": "news.acme.test"}).json()
        address = rua(domain)
        local, _, host = address.partition("@")
        assert host == "bounces.news.acme.test" and local.startswith("dmarc+")
        report = zipped(
            "receiver.example!news.acme.test!1764460800!1764547199.xml", feedback("news.acme.test")
        )
        forged = f"{local[:-1]}{'1' if local.endswith('0') else '0'}@{host}"
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.ehlo()
            client.mail("noreply-dmarc@receiver.example")
            assert client.rcpt(forged)[0] == 550  # a forged token is nobody's address
            assert client.rcpt(f"dmarc@{host}")[0] == 550  # the bare local part is nobody's
            client.rset()
            client.sendmail(
                "noreply-dmarc@receiver.example",
                [address],
                report_mail(address, report, "r.zip", "m1"),
            )
            # The reporter is unsure it arrived and sends it again: one report.
            client.sendmail(
                "noreply-dmarc@receiver.example",
                [address],
                report_mail(address, report, "r.zip", "m2"),
            )

        def filed() -> list[dict[str, object]] | None:
            rows = smtp.inbound()
            if len(rows) == 2 and all(r.status == "processed" for r in rows):
                return rows  # type: ignore[return-value]
            return None

        rows = wait_for(filed, what="both reports routed")
        assert [r.kind for r in rows] == ["dmarc_report", "dmarc_report"]  # type: ignore[attr-defined]
        got = c.get(f"/v1/domains/{domain['id']}/dmarc-reports").json()
        assert (got["messages"], got["passed"], got["failed"]) == (42, 40, 2)
        [item] = got["items"]
        assert (item["org_name"], item["report_id"], item["policy"]) == (
            "receiver.example",
            "rep-1",
            "none",
        )
        assert {r["source_ip"] for r in item["rows"]} == {"192.0.2.25", "198.51.100.7"}
        assert c.get("/v1/conversations").json()["items"] == []

        # Another workspace sees none of it.
        _, key = server.new_workspace("globex")
        with server.client(key) as other:
            assert other.get(f"/v1/domains/{domain['id']}/dmarc-reports").status_code == 404

    with server.app.sessions() as session:
        types = list(session.scalars(select(Event.type).where(Event.type.like("domain.dmarc%"))))
        assert types == ["domain.dmarc_report"]
        assert session.scalars(select(Conversation)).all() == []


def test_a_report_about_another_domain_or_a_broken_one_is_kept_with_its_reason(
    server: Server, smtp: RunningListener
) -> None:
    with server.client() as c:
        domain = c.post("/v1/domains", json={"name": "news.acme.test"}).json()
        address = rua(domain)
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.sendmail(
                "a@receiver.example",
                [address],
                report_mail(address, zipped("r.xml", feedback("victim.test")), "r.zip", "x1"),
            )
            client.sendmail(
                "a@receiver.example",
                [address],
                report_mail(address, b"PK\x03\x04 not a zip", "r.zip", "x2"),
            )

        def done() -> list[object] | None:
            rows = smtp.inbound()
            ok = len(rows) == 2 and all(r.status == "processed" for r in rows)
            return rows if ok else None  # type: ignore[return-value]

        rows = wait_for(done, what="both mails routed")
        errors = sorted(str(r.last_error) for r in rows)  # type: ignore[attr-defined]
        assert "victim.test" in errors[1] and "zip" in errors[0], errors
        assert c.get(f"/v1/domains/{domain['id']}/dmarc-reports").json()["items"] == []
