"""Odoo's multi-company set-up: the From domain picks the server, each company its catch-all."""

from __future__ import annotations

import email
import email.policy

from mailgate.testing.smtpserver import ScriptedSMTPServer
from tests.helpers import smtp_transport
from tests.servers.mailgate import Server


def test_the_from_domain_picks_the_transport_and_the_catchall(server: Server) -> None:
    with ScriptedSMTPServer() as main_box, ScriptedSMTPServer() as cn_box, server.client() as c:
        c.post("/v1/transports", json=smtp_transport(main_box.port, mode="immediate"))
        cn = c.post(
            "/v1/transports",
            json=smtp_transport(
                cn_box.port,
                name="acme.cn relay",
                default=False,
                mode="immediate",
                sender="noreply@acme.cn",
                sender_policy="on_behalf_of",
            ),
        ).json()
        bad = c.post("/v1/alias-domains", json={"domain": "acme cn"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "domain"
        alias = c.post(
            "/v1/alias-domains",
            json={"domain": "ACME.cn", "transport": cn["id"], "reply_to": "catchall@acme.cn"},
        )
        assert alias.status_code == 201, alias.text
        assert alias.json()["domain"] == "acme.cn"
        assert c.post("/v1/alias-domains", json={"domain": "acme.cn"}).status_code == 409

        why = c.post("/v1/transports/resolve", json={"from": "Li Lei <sales@acme.cn>"}).json()
        assert "transport" in why, why
        assert why["transport"]["id"] == cn["id"] and why["sender_policy"] == "on_behalf_of"
        assert why["reply_to"] == "catchall@acme.cn"
        assert why["sender"] == "noreply@acme.cn" and why["envelope_from"] == "noreply@acme.cn"
        assert "alias domain" in why["rules"][0] and "catch-all" in why["rules"][1]
        assert why["rules"][-1].startswith("sender policy on_behalf_of")

        sent = c.post(
            "/v1/messages",
            json={"from": "Li Lei <sales@acme.cn>", "to": ["buyer@example.net"], "text": "报价"},
        ).json()
        assert sent["status"] == "sent", sent
        assert c.get(f"/v1/messages/{sent['id']}").json()["routing"] == why["rules"]
        [out] = cn_box.messages
        msg = email.message_from_bytes(out.data, policy=email.policy.default)
        assert msg["Reply-To"] == "catchall@acme.cn" and main_box.messages == []

        # A Reply-To given by the caller wins; a support domain turns its catch-all off.
        given = c.post(
            "/v1/transports/resolve",
            json={"from": "sales@acme.cn", "reply_to": ["li.lei@acme.cn"]},
        ).json()
        assert given["reply_to"] == "li.lei@acme.cn"
        off = c.patch(f"/v1/alias-domains/{alias.json()['id']}", json={"catchall": False})
        assert off.status_code == 200 and off.json()["catchall"] is False
        assert (
            c.post("/v1/transports/resolve", json={"from": "sales@acme.cn"}).json()["reply_to"]
            is None
        )

        # Another domain: the workspace default, and the rule says so.
        other = c.post("/v1/transports/resolve", json={"from": "ops@acme.com"}).json()
        assert other["transport"]["id"] != cn["id"]
        assert other["rules"][0].startswith("the workspace's default transport")
        named = c.post(
            "/v1/transports/resolve", json={"from": "ops@acme.cn", "transport": cn["id"]}
        ).json()
        assert named["rules"][0].startswith("the request names transport")

    _, key = server.new_workspace("globex")
    with server.client(key) as stranger:
        assert stranger.get(f"/v1/alias-domains/{alias.json()['id']}").status_code == 404
        # Its own alias on the same name steers only its own mail, never acme's.
        mine = stranger.post("/v1/alias-domains", json={"domain": "acme.cn"})
        assert mine.status_code == 201
        r = stranger.post("/v1/alias-domains", json={"domain": "acme.org", "transport": cn["id"]})
        assert r.status_code == 404 and r.json()["error"]["field"] == "transport"
        # Nor can it resolve (or send) through acme's transport.
        r = stranger.post(
            "/v1/transports/resolve", json={"from": "x@acme.cn", "transport": cn["id"]}
        )
        assert r.status_code == 404 and r.json()["error"]["field"] == "transport"
