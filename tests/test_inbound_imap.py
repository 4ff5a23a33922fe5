"""IMAP sources against a real Dovecot, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import flags, maildir_files, make_mail, stored, stored_ids
from tests.servers.mailgate import Server


def imap_source(dovecot: Dovecot, **config: Any) -> dict[str, Any]:
    enabled = config.pop("enabled", False)
    return {
        "name": "support inbox",
        "kind": "imap",
        "enabled": enabled,
        "config": {
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "security": "none",
            "username": dovecot.user,
            "password": dovecot.password,
            "idle": False,
            "poll_interval": 600,
            **config,
        },
    }


def test_messages_are_taken_once_and_flagged_after(server: Server, dovecot: Dovecot) -> None:
    """Every message is stored once, \\Seen is set on the server, a second poll takes none."""
    raws = [make_mail(i) for i in range(3)]
    for raw in raws:
        dovecot.add_message(raw)
    dovecot.add_message(make_mail(9, tag="read"), seen=True)  # read elsewhere: still taken
    with server.client() as c:
        r = c.post("/v1/sources", json=imap_source(dovecot))
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = c.post(f"/v1/sources/{sid}/poll")
        assert r.status_code == 200, r.text
        assert r.json()["taken"] == 4
        assert sorted(stored(server.app, sid)) == sorted([*raws, make_mail(9, tag="read")])
        assert all("S" in flags(p) for p in maildir_files(dovecot.maildir))
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 0
        dovecot.add_message(make_mail(3))
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 1
        assert Counter(stored_ids(server.app, sid)) == Counter(
            [*(f"<t-{i}@example.test>" for i in range(4)), "<read-9@example.test>"]
        )
        body = c.get(f"/v1/sources/{sid}").json()
        assert body["state"]["uidvalidity"] > 0
        assert body["last_polled_at"] is not None
        assert body["last_error"] is None


def test_move_takes_then_moves_to_the_folder(server: Server, dovecot: Dovecot) -> None:
    """after=move: the inbox drains into the folder (created when missing) after storing."""
    for i in range(3):
        dovecot.add_message(make_mail(i))
    with server.client() as c:
        sid = c.post(
            "/v1/sources", json=imap_source(dovecot, after="move", move_to="Taken")
        ).json()["id"]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 3
        assert maildir_files(dovecot.maildir) == []
        assert len(maildir_files(dovecot.maildir, "Taken")) == 3
        assert len(stored(server.app, sid)) == 3
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 0


def test_delete_expunges_after_storing(server: Server, dovecot: Dovecot) -> None:
    """after=delete: stored, then expunged; nothing is taken twice."""
    for i in range(5):
        dovecot.add_message(make_mail(i))
    with server.client() as c:
        sid = c.post("/v1/sources", json=imap_source(dovecot, after="delete", batch_size=2)).json()[
            "id"
        ]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 5
        assert maildir_files(dovecot.maildir) == []
        assert sorted(stored_ids(server.app, sid)) == [f"<t-{i}@example.test>" for i in range(5)]


def test_idle_takes_a_new_message_promptly(server: Server, dovecot: Dovecot) -> None:
    """An enabled source waits in IDLE; mail arriving then is taken without a poll interval."""
    dovecot.add_message(make_mail(0))
    with server.client() as c:
        body = imap_source(dovecot, enabled=True, idle=True, poll_interval=3600)
        sid = c.post("/v1/sources", json=body).json()["id"]
        wait_for(lambda: len(stored(server.app, sid)) == 1, what="the first pass")
        wait_for(
            lambda: c.get(f"/v1/sources/{sid}").json()["last_polled_at"], what="last_polled_at"
        )
        dovecot.add_message(make_mail(1))
        wait_for(lambda: len(stored(server.app, sid)) == 2, what="IDLE to report the new mail")
        wait_for(
            lambda: all("S" in flags(p) for p in maildir_files(dovecot.maildir)),
            what="both flagged",
        )
        assert sorted(stored_ids(server.app, sid)) == ["<t-0@example.test>", "<t-1@example.test>"]


def test_starttls_with_verified_certificate(server: Server, dovecot: Dovecot) -> None:
    """STARTTLS, checking the server certificate against the test CA."""
    dovecot.add_message(make_mail(0))
    with server.client() as c:
        body = imap_source(dovecot, security="starttls", ca_file=str(dovecot.tls.ca_file))
        with server.operator_client() as op:  # a CA file on the server is the operator's
            sid = op.post("/v1/sources", json=body).json()["id"]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 1


def test_uidvalidity_change_rereads_without_duplicates(server: Server, dovecot: Dovecot) -> None:
    """A new UIDVALIDITY re-reads the folder; the same bytes are not stored again."""
    for i in range(3):
        dovecot.add_message(make_mail(i))
    with server.client() as c:
        sid = c.post("/v1/sources", json=imap_source(dovecot)).json()["id"]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 3
        before = c.get(f"/v1/sources/{sid}").json()["state"]["uidvalidity"]
        # What a restored or rebuilt mailbox looks like: Dovecot's UID list says a new
        # UIDVALIDITY (and its index, which would remember the old one, is gone).
        uidlist = dovecot.maildir / "dovecot-uidlist"
        head, _, rest = uidlist.read_text().partition("\n")
        uidlist.write_text(head.replace(f"V{before}", f"V{before + 1000}") + "\n" + rest)
        for path in dovecot.maildir.glob("dovecot.index*"):
            path.unlink()
        dovecot.add_message(make_mail(3))
        r = c.post(f"/v1/sources/{sid}/poll").json()
        assert r["taken"] == 1
        assert c.get(f"/v1/sources/{sid}").json()["state"]["uidvalidity"] == before + 1000
        assert sorted(stored_ids(server.app, sid)) == [f"<t-{i}@example.test>" for i in range(4)]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 0


def test_wrong_password_is_reported(server: Server, dovecot: Dovecot) -> None:
    """A refused login answers 502 naming the stage, and is kept as last_error."""
    with server.client() as c:
        sid = c.post("/v1/sources", json=imap_source(dovecot, password="wrong")).json()["id"]
        r = c.post(f"/v1/sources/{sid}/poll")
        assert r.status_code == 502
        assert "login" in r.json()["error"]["message"]
        assert "login" in c.get(f"/v1/sources/{sid}").json()["last_error"]


def test_supervisor_recovers_when_the_password_is_fixed(server: Server, dovecot: Dovecot) -> None:
    """An enabled source failing records last_error; PATCHing the password restarts it."""
    dovecot.add_message(make_mail(0))
    with server.client() as c:
        body = imap_source(dovecot, enabled=True, password="wrong", poll_interval=0.2)
        sid = c.post("/v1/sources", json=body).json()["id"]
        wait_for(lambda: c.get(f"/v1/sources/{sid}").json()["last_error"], what="last_error")
        r = c.patch(f"/v1/sources/{sid}", json={"config": {"password": dovecot.password}})
        assert r.status_code == 200, r.text
        wait_for(lambda: len(stored(server.app, sid)) == 1, what="the fixed source to take mail")
        wait_for(
            lambda: c.get(f"/v1/sources/{sid}").json()["last_error"] is None, what="error cleared"
        )


def test_sources_api_hides_secrets_and_isolates_workspaces(
    server: Server, dovecot: Dovecot
) -> None:
    """Secrets are write-only; PATCH keeps them; another workspace sees 404."""
    with server.client() as c:
        r = c.post("/v1/sources", json=imap_source(dovecot))
        assert r.status_code == 201
        created = r.json()
        assert "password" not in created["config"]
        assert created["secrets_set"] == ["password"]
        assert dovecot.password not in r.text
        sid = created["id"]
        r = c.patch(f"/v1/sources/{sid}", json={"name": "renamed", "config": {"folder": "INBOX"}})
        assert r.json()["name"] == "renamed"
        assert r.json()["secrets_set"] == ["password"]
        assert [s["id"] for s in c.get("/v1/sources").json()["items"]] == [sid]
        bad = imap_source(dovecot, after="move")  # move needs move_to
        r = c.post("/v1/sources", json=bad)
        assert r.status_code == 422
        assert r.json()["error"]["field"].startswith("config")
        r = c.post("/v1/sources", json={"name": "x", "kind": "nntp", "config": {}})
        assert r.status_code == 422
        _, other_key = server.new_workspace("globex")
        with server.client(other_key) as o:
            assert o.get(f"/v1/sources/{sid}").status_code == 404
            assert o.patch(f"/v1/sources/{sid}", json={"name": "mine"}).status_code == 404
            assert o.post(f"/v1/sources/{sid}/poll").status_code == 404
            assert o.delete(f"/v1/sources/{sid}").status_code == 404
            assert o.get("/v1/sources").json()["items"] == []
        assert c.delete(f"/v1/sources/{sid}").status_code == 204
        assert c.get(f"/v1/sources/{sid}").status_code == 404


@pytest.mark.parametrize("after", ["flag", "delete"])
def test_a_concurrent_poll_never_duplicates(server: Server, dovecot: Dovecot, after: str) -> None:
    """The running poller and *poll now* racing on one mailbox still store each message once."""
    for i in range(30):
        dovecot.add_message(make_mail(i))
    with server.client() as c:
        body = imap_source(dovecot, enabled=True, after=after, batch_size=3, poll_interval=0.1)
        sid = c.post("/v1/sources", json=body).json()["id"]
        for _ in range(3):
            assert c.post(f"/v1/sources/{sid}/poll").status_code == 200
        wait_for(lambda: len(stored(server.app, sid)) >= 30, what="all taken")
        assert Counter(stored_ids(server.app, sid)) == Counter(
            f"<t-{i}@example.test>" for i in range(30)
        )
