"""Teams (astercc's team mail servers) and support address states (Zendesk's rules)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests import test_conversations as conv
from tests.helpers import smtp_transport, wait_for
from tests.servers.mailgate import Server

# The help-desk set-up of test_conversations: a transport and a support address.
desk, outbox = conv.desk, conv.outbox
SUPPORT = conv.SUPPORT
MAILGATE = str(Path(sys.executable).parent / "mailgate")


def test_teams_own_team_mail_servers_and_are_scoped(server: Server) -> None:
    with server.client() as c:
        assert c.post("/v1/teams", json={"name": " "}).json()["error"]["field"] == "name"
        team = c.post("/v1/teams", json={"name": "Sales"}).json()
        assert c.post("/v1/teams", json={"name": "Sales"}).status_code == 409
        t = c.post("/v1/transports", json=smtp_transport(2525, scope="team", team=team["id"]))
        assert t.status_code == 201, t.text
        got = c.get(f"/v1/teams/{team['id']}").json()
        assert (got["name"], got["transports"]) == ("Sales", 1)
        renamed = c.patch(f"/v1/teams/{team['id']}", json={"name": "Sales CN"}).json()
        assert renamed["name"] == "Sales CN"
        # A team with a mail server is not deleted (the server would go with it).
        r = c.delete(f"/v1/teams/{team['id']}")
        assert r.status_code == 409 and "mail server" in r.json()["error"]["message"]
        assert c.delete(f"/v1/transports/{t.json()['id']}").status_code == 204
        assert c.delete(f"/v1/teams/{team['id']}").status_code == 204
        assert c.get(f"/v1/teams/{team['id']}").status_code == 404
        kept = c.post("/v1/teams", json={"name": "Support"}).json()
    _, key = server.new_workspace("globex")
    with server.client(key) as other:
        assert other.get("/v1/teams").json()["items"] == []
        for call in (other.get, other.delete):
            assert call(f"/v1/teams/{kept['id']}").status_code == 404
        r = other.patch(f"/v1/teams/{kept['id']}", json={"name": "mine"})
        assert r.status_code == 404


def test_address_states_patch_keeps_verification_and_default_needs_it(
    desk: Server, outbox: conv.ScriptedSMTPServer
) -> None:
    with desk.client() as c:
        [address] = c.get("/v1/addresses").json()["items"]
        aid = address["id"]
        assert (address["state"], address["last_check"]) == ("pending", None)
        # Zendesk's rule: an unverified address is never the default sender.
        r = c.patch(f"/v1/addresses/{aid}", json={"default": True})
        assert r.status_code == 422 and r.json()["error"]["field"] == "default"
        no_from = c.post("/v1/messages", json={"to": ["x@customer.example.org"], "text": "hi"})
        assert no_from.json()["status"] == "sent"  # the transport's own sender is used
        assert c.post(f"/v1/addresses/{aid}/verify").status_code == 202
        checked = c.get(f"/v1/addresses/{aid}").json()
        assert checked["last_check"]["status"] == "sent" and checked["state"] == "pending"
    conv.deliver_in(desk, outbox.messages[-1].data)  # the company's server forwards it back
    with desk.client() as c:
        wait_for(
            lambda: c.get(f"/v1/addresses/{aid}").json()["state"] == "verified",
            what="the address to be verified",
        )
        # Another mail server (new credentials): still verified.
        body = smtp_transport(2526, name="new relay", default=False)
        other = c.post("/v1/transports", json=body).json()
        moved = c.patch(f"/v1/addresses/{aid}", json={"transport": other["id"], "default": True})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["state"], moved.json()["transport"]) == ("verified", other["id"])
        assert moved.json()["default"] is True
        # Disconnected: its server is no longer used, it stops being the default.
        off = c.post(f"/v1/addresses/{aid}/disconnect").json()
        assert (off["state"], off["transport"], off["default"]) == ("disconnected", None, False)
        r = c.patch(f"/v1/addresses/{aid}", json={"default": True})
        assert r.status_code == 422
        back = c.patch(f"/v1/addresses/{aid}", json={"transport": other["id"]}).json()
        assert back["state"] == "verified"
    _, key = desk.new_workspace("globex")
    with desk.client(key) as stranger:
        assert stranger.patch(f"/v1/addresses/{aid}", json={"default": True}).status_code == 404
        assert stranger.post(f"/v1/addresses/{aid}/disconnect").status_code == 404
        foreign = stranger.post("/v1/transports", json=smtp_transport(2527, name="g")).json()
        foreign_team = stranger.post("/v1/teams", json={"name": "g"}).json()
    with desk.client() as c:  # acme cannot put its address on globex's server or team
        for body in ({"transport": foreign["id"]}, {"team": foreign_team["id"]}):
            r = c.patch(f"/v1/addresses/{aid}", json=body)
            assert r.status_code == 404 and r.json()["error"]["field"] == next(iter(body))


def test_a_failed_verification_mail_shows_as_failed(server: Server) -> None:
    """The verification mail cannot be delivered: the address is ``failed``, with why."""
    with server.client() as c:
        # The company's server refuses the address outright (5xx): the mail fails at once.
        with conv.ScriptedSMTPServer(rcpt_replies={SUPPORT: "550 5.1.1 no such user"}) as smtp:
            t = c.post("/v1/transports", json=smtp_transport(smtp.port, mode="immediate"))
            r = c.post("/v1/addresses", json={"address": SUPPORT, "transport": t.json()["id"]})
            aid = r.json()["id"]
            assert c.post(f"/v1/addresses/{aid}/verify").status_code == 202
        got = c.get(f"/v1/addresses/{aid}").json()
        assert got["state"] == "failed", got
        assert got["last_check"]["status"] == "failed"


def test_team_cli(tmp_path: Path) -> None:
    env = {**os.environ, "MAILGATE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MAILGATE, *args], env=env, capture_output=True, text=True, timeout=60
        )

    assert run("init").returncode == 0
    assert run("workspace", "create", "acme").returncode == 0
    made = run("team", "create", "Night shift", "-w", "acme")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("team_")
    assert "Night shift" in run("team", "list", "-w", "acme").stdout
    gone = run("team", "delete", "team_nope", "-w", "acme")
    assert gone.returncode != 0 and "Traceback" not in gone.stderr and "no team" in gone.stderr
