"""The console's later pages over plain HTTP: /domains, /teams, /alias-domains.

Each goes through the service the API uses (the same messages beside the fields,
the same workspace scoping: another workspace's object answers 404).
"""

from __future__ import annotations

import html
from datetime import timedelta

import pytest

from mailgate.services import sending_domains, teams
from mailgate.services import transports as transport_service
from mailgate.store.db import transaction
from mailgate.store.models import DmarcReport, utcnow
from tests.helpers import smtp_transport
from tests.servers.authdns import ZONE, AuthDns
from tests.servers.console import ConsoleServer, csrf_of
from tests.test_domains_api import zone_lines

ADMIN = "admin@dom-console.example.com"
OTHER = "admin@dom-other.example.com"


@pytest.fixture(scope="module")
def workspaces(console_server: ConsoleServer) -> tuple[str, str]:
    ws = console_server.workspace("dom-console")
    other = console_server.workspace("dom-other")
    console_server.user(ADMIN, "admin", ws)
    console_server.user(OTHER, "admin", other)
    console_server.user("agent@dom-console.example.com", "agent", ws)
    return ws, other


def test_domains_page_records_verify_reports_and_scoping(
    console_server: ConsoleServer, workspaces: tuple[str, str], authdns: AuthDns
) -> None:
    """Add a domain (a bad name's 422 beside the field), see every record to publish in
    a <code> block, verify against Knot DNS, read the DMARC reports; B gets 404."""
    ws, _ = workspaces
    console_server.app.settings.dns_resolver = authdns.address
    with console_server.login(ADMIN) as c:
        token = csrf_of(c.get("/domains").text)
        bad = c.post("/domains", data={"name": "not a domain", "csrf": token})
        assert bad.status_code == 422
        assert 'class="field-error"' in bad.text and "not a domain" in bad.text

        added = c.post("/domains", data={"name": f"mail.acme.{ZONE}", "csrf": token})
        assert added.status_code == 303
        domain_url = added.headers["location"]
        domain_id = domain_url.rsplit("/", 1)[1]
        shown = sending_domains.show(console_server.app, ws, domain_id)
        page = html.unescape(c.get(domain_url).text)
        for rec in shown["records"]:  # each with its reason, host and value to copy
            assert rec["reason"] in page
            assert f'<code class="secret">{rec["host"]}</code>' in page
            assert f'<code class="secret">{rec["value"]}</code>' in page
        assert shown["dkim"]["selector"] in page
        assert "No DMARC report received yet." in page
        listing = c.get("/domains").text
        assert f"mail.acme.{ZONE}" in listing and "pending" in listing

        authdns.publish(*zone_lines(shown["records"], skip=("dmarc",)))
        verified = c.post(f"{domain_url}/verify", data={"csrf": token})
        assert verified.status_code == 200
        assert "Every record was looked up in DNS just now." in verified.text
        assert '<span class="badge ok">verified</span>' in verified.text
        found = html.unescape(verified.text).split("Found", 1)[1]
        assert shown["records"][0]["value"] in found  # what DNS answered

        too_many = c.post(
            f"{domain_url}/limits",
            data={"daily_quota": "0", "rate_per_minute": "", "csrf": token},
        )
        assert too_many.status_code == 422
        assert 'data-field="daily_quota">daily_quota must be between 1 and' in too_many.text
        limited = c.post(
            f"{domain_url}/limits", data={"daily_quota": "500", "rate_per_minute": "60",
                                          "csrf": token},
        )
        assert limited.status_code == 303
        assert sending_domains.show(console_server.app, ws, domain_id)["limits"][
            "daily_quota"
        ] == 500
        assert "0 of 500" in c.get(domain_url).text

        now = utcnow()
        with transaction(console_server.app.sessions) as session:
            session.add(
                DmarcReport(
                    workspace_id=ws, domain_id=domain_id, org_name="receiver.example.net",
                    report_id="r-console-1", begin_at=now - timedelta(days=1), end_at=now,
                    policy="none", messages=12, passed=10, rows=[],
                )
            )
        page = c.get(domain_url).text
        assert "receiver.example.net" in page
        assert "10 of 12 messages passed (DKIM or SPF aligned), 2 failed." in page

    with console_server.login(OTHER) as b:
        token_b = csrf_of(b.get("/domains").text)
        assert b.get(domain_url).status_code == 404
        assert b.post(f"{domain_url}/verify", data={"csrf": token_b}).status_code == 404
        assert b.post(f"{domain_url}/delete", data={"csrf": token_b}).status_code == 404
        hostile = b.post(f"{domain_url}/limits", data={"daily_quota": "1", "csrf": token_b})
        assert hostile.status_code == 404
        assert f"mail.acme.{ZONE}" not in b.get("/domains").text
    with console_server.login("agent@dom-console.example.com") as agent:
        assert agent.get(domain_url).status_code == 403
    with console_server.login(ADMIN, "zh-CN") as zh:
        assert "发送域名" in zh.get("/domains").text
        gone = zh.post(f"{domain_url}/delete", data={"csrf": csrf_of(zh.get(domain_url).text)})
        assert gone.status_code == 303
        assert zh.get(domain_url).status_code == 404


def test_teams_create_rename_and_delete_refused_while_they_own_servers(
    console_server: ConsoleServer, workspaces: tuple[str, str]
) -> None:
    ws, _ = workspaces
    with console_server.login(ADMIN) as c:
        token = csrf_of(c.get("/teams").text)
        empty = c.post("/teams", data={"name": " ", "csrf": token})
        assert empty.status_code == 422 and "a team needs a name" in empty.text
        assert c.post("/teams", data={"name": "Sales", "csrf": token}).status_code == 303
        with console_server.app.sessions() as session:
            team_id = next(t.id for t in teams.listing(session, ws) if t.name == "Sales")
        renamed = c.post(f"/teams/{team_id}", data={"name": "Sales CN", "csrf": token})
        assert renamed.status_code == 303
        assert "Sales CN" in c.get("/teams").text
        with transaction(console_server.app.sessions) as session:
            transport_service.create(
                session, console_server.app.secrets, ws,
                smtp_transport(console_server.sink.port, name="team-relay", scope="team",
                               team=team_id),
            )
        refused = c.post(f"/teams/{team_id}/delete", data={"csrf": token})
        assert refused.status_code == 409
        assert "still has 1 mail server(s)" in refused.text
    with console_server.login(OTHER) as b:
        token_b = csrf_of(b.get("/teams").text)
        assert "Sales CN" not in b.get("/teams").text
        assert b.post(f"/teams/{team_id}", data={"name": "x", "csrf": token_b}).status_code == 404
        assert b.post(f"/teams/{team_id}/delete", data={"csrf": token_b}).status_code == 404
        assert b.post("/teams", data={"name": "B team"}).status_code == 403  # no CSRF token


def test_alias_domains_and_which_server(
    console_server: ConsoleServer, workspaces: tuple[str, str]
) -> None:
    """Create (a bad domain's 422 beside the field), edit, ask "Which server?", delete."""
    ws, _ = workspaces
    with transaction(console_server.app.sessions) as session:
        main = transport_service.create(
            session, console_server.app.secrets, ws,
            smtp_transport(console_server.sink.port, name="cn-relay", default=False,
                           sender="noreply@acme.cn"),
        )
        main_id = main.id
    with console_server.login(ADMIN) as c:
        token = csrf_of(c.get("/alias-domains").text)
        bad = c.post("/alias-domains", data={"domain": "no domain", "csrf": token})
        assert bad.status_code == 422 and 'class="field-error"' in bad.text
        made = c.post(
            "/alias-domains",
            data={"domain": "acme.cn", "transport": main_id, "reply_to": "catchall@acme.cn",
                  "catchall": "on", "csrf": token},
        )
        assert made.status_code == 303
        page = c.get("/alias-domains").text
        assert "acme.cn" in page and 'value="catchall@acme.cn"' in page
        alias_id = page.split('<tr id="', 1)[1].split('"', 1)[0]

        why = c.post(
            "/alias-domains/resolve", data={"from": "Li Lei <sales@acme.cn>", "csrf": token}
        )
        assert why.status_code == 200
        explained = why.text.split('id="explained"', 1)[1]
        assert "cn-relay" in explained and "catchall@acme.cn" in explained
        assert "alias domain" in explained  # the rule that decided it
        refused = c.post("/alias-domains/resolve", data={"from": "not an address", "csrf": token})
        assert refused.status_code == 422 and 'class="field-error"' in refused.text

        off = c.post(f"/alias-domains/{alias_id}", data={"transport": main_id, "csrf": token})
        assert off.status_code == 303
        why = c.post("/alias-domains/resolve", data={"from": "sales@acme.cn", "csrf": token})
        assert "catchall@acme.cn" not in why.text.split('id="explained"', 1)[1]
    with console_server.login(OTHER) as b:
        token_b = csrf_of(b.get("/alias-domains").text)
        assert "acme.cn" not in b.get("/alias-domains").text
        hostile = b.post(f"/alias-domains/{alias_id}", data={"csrf": token_b})
        assert hostile.status_code == 404
        deleted = b.post(f"/alias-domains/{alias_id}/delete", data={"csrf": token_b})
        assert deleted.status_code == 404
    with console_server.login(ADMIN) as c:
        token = csrf_of(c.get("/alias-domains").text)
        assert c.post(f"/alias-domains/{alias_id}/delete", data={"csrf": token}).status_code == 303
        assert "acme.cn" not in c.get("/alias-domains").text.split("<main>", 1)[1].split(
            'id="which-server"'
        )[0]
