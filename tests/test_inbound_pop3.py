"""POP3 sources against a real Dovecot, through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import socket
import threading
import warnings
from collections import Counter
from typing import Any

import pytest

from mailgate.core.netpolicy import parse_networks
from mailgate.inbound.base import SourceError
from mailgate.inbound.netconnect import connect_errors
from mailgate.inbound.pop3 import _POP3
from mailgate.outbound.netguard import NetGuard
from tests.helpers import wait_for
from tests.servers.dovecot import Dovecot
from tests.servers.mailbox import maildir_files, make_mail, stored, stored_ids
from tests.servers.mailgate import Server


def pop3_source(dovecot: Dovecot, **config: Any) -> dict[str, Any]:
    enabled = config.pop("enabled", False)
    return {
        "name": "pop box",
        "kind": "pop3",
        "enabled": enabled,
        "config": {
            "host": dovecot.host,
            "port": dovecot.pop3_port,
            "security": "none",
            "username": dovecot.user,
            "password": dovecot.password,
            "poll_interval": 600,
            **config,
        },
    }


def test_pop3_takes_then_deletes(server: Server, dovecot: Dovecot) -> None:
    """RETR, store, commit, DELE: the box empties and every message is stored once."""
    raws = [make_mail(i) for i in range(4)]
    for raw in raws:
        dovecot.add_message(raw)
    with server.client() as c:
        r = c.post("/v1/sources", json=pop3_source(dovecot, batch_size=3))
        assert r.status_code == 201, r.text
        assert r.json()["secrets_set"] == ["password"]
        sid = r.json()["id"]
        r = c.post(f"/v1/sources/{sid}/poll")
        assert r.status_code == 200, r.text
        assert r.json() == {"taken": 4, "acknowledged": 4, "seen": 4}
        assert maildir_files(dovecot.maildir) == []
        assert sorted(stored(server.app, sid)) == sorted(raws)
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 0
        dovecot.add_message(make_mail(4))
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 1
        assert sorted(stored_ids(server.app, sid)) == [f"<t-{i}@example.test>" for i in range(5)]


def test_leave_on_server_keeps_and_never_retakes(server: Server, dovecot: Dovecot) -> None:
    """leave_on_server: nothing is deleted, and UIDL keeps a second poll from re-taking."""
    for i in range(3):
        dovecot.add_message(make_mail(i))
    with server.client() as c:
        sid = c.post("/v1/sources", json=pop3_source(dovecot, leave_on_server=True)).json()["id"]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 3
        assert len(maildir_files(dovecot.maildir)) == 3
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 0
        dovecot.add_message(make_mail(3))
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 1
        assert len(maildir_files(dovecot.maildir)) == 4
        assert Counter(stored_ids(server.app, sid)) == Counter(
            f"<t-{i}@example.test>" for i in range(4)
        )


def test_long_lines_and_dot_stuffing_survive(server: Server, dovecot: Dovecot) -> None:
    """A 10,000-byte line and lines starting with a dot come back byte for byte."""
    raw = make_mail(0, body="." + "x" * 10_000 + "\r\n..two dots\r\n.\r\n")
    dovecot.add_message(raw)
    with server.client() as c:
        sid = c.post("/v1/sources", json=pop3_source(dovecot)).json()["id"]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 1
        assert stored(server.app, sid) == [raw]


def test_stls_with_verified_certificate(server: Server, dovecot: Dovecot) -> None:
    """STLS upgrade, checking the certificate against the test CA."""
    dovecot.add_message(make_mail(0))
    with server.client() as c:
        body = pop3_source(dovecot, security="starttls", ca_file=str(dovecot.tls.ca_file))
        with server.operator_client() as op:  # a CA file on the server is the operator's
            sid = op.post("/v1/sources", json=body).json()["id"]
        assert c.post(f"/v1/sources/{sid}/poll").json()["taken"] == 1


def test_enabled_pop3_source_is_polled_by_the_worker(server: Server, dovecot: Dovecot) -> None:
    """The supervisor polls an enabled source on its interval and records last_polled_at."""
    with server.client() as c:
        sid = c.post(
            "/v1/sources", json=pop3_source(dovecot, enabled=True, poll_interval=0.1)
        ).json()["id"]
        wait_for(lambda: c.get(f"/v1/sources/{sid}").json()["last_polled_at"], what="a pass")
        for i in range(3):
            dovecot.add_message(make_mail(i))
        wait_for(lambda: len(stored(server.app, sid)) == 3, what="the worker to take 3")
        wait_for(lambda: maildir_files(dovecot.maildir) == [], what="the box to empty")
        # Disabled: new mail stays on the server.
        assert c.patch(f"/v1/sources/{sid}", json={"enabled": False}).status_code == 200
        assert c.get(f"/v1/sources/{sid}").json()["enabled"] is False
        assert Counter(stored_ids(server.app, sid)) == Counter(
            f"<t-{i}@example.test>" for i in range(3)
        )


def test_wrong_password_is_reported(server: Server, dovecot: Dovecot) -> None:
    """A refused login answers 502 and is kept as last_error."""
    with server.client() as c:
        sid = c.post("/v1/sources", json=pop3_source(dovecot, password="nope")).json()["id"]
        r = c.post(f"/v1/sources/{sid}/poll")
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "source_error"
        assert "login" in c.get(f"/v1/sources/{sid}").json()["last_error"]



def test_a_refused_greeting_leaves_no_socket_open() -> None:
    """A server that answers -ERR and hangs up (Dovecot stopping): poplib's socket is closed.

    poplib leaves it open when the greeting fails; the collector then reported it in
    whichever test ran next (a flaky ResourceWarning in the end-to-end tests).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def refuse() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"-ERR [SYS/TEMP] going away\r\n")

    thread = threading.Thread(target=refuse)
    thread.start()
    guard = NetGuard(allowed=parse_networks(("127.0.0.0/8",)))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(SourceError) as err, connect_errors("POP3", "127.0.0.1", port):
                _POP3("127.0.0.1", port, timeout=5, guard=guard)
            gc.collect()
    finally:
        thread.join(5)
        listener.close()
    assert err.value.stage == "protocol"
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
