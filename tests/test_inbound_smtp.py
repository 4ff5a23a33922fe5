"""The SMTP/LMTP listener against real smtplib clients, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import select

from mailgate.config import Settings
from mailgate.errors import ConfigurationError
from mailgate.inbound.groupcommit import GroupCommitter
from mailgate.inbound.pipeline import Incoming, Received
from mailgate.inbound.smtp import server_tls_context
from mailgate.runtime import Mailgate
from mailgate.services import tenancy
from mailgate.store.db import transaction
from mailgate.store.models import MessageRow, Workspace
from tests.servers.listener import RunningListener
from tests.servers.mailgate import BLOB_STORES
from tests.servers.postfix import PostfixSubmission
from tests.servers.tls import TlsCert


def message(to: str, subject: str = "hello", body: str = "Hi there.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "customer@client.example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@client.example.org>"
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)  # CRLF: smtplib sends bytes unchanged


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_stored_before_250(smtp_listener: RunningListener) -> None:
    """The row and its raw bytes are committed by the time the client sees 250."""
    raw = message("support@acme.example.com")
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        refused = client.sendmail("customer@client.example.org", ["support@acme.example.com"], raw)
        rows = smtp_listener.inbound()  # read right after 250, before anything else
    assert refused == {}
    assert len(rows) == 1
    row = rows[0]
    assert row.workspace_id == smtp_listener.workspace_id
    assert row.source == "smtp"
    assert row.mail_from == "customer@client.example.org"
    assert row.rcpt_to == ["support@acme.example.com"]
    assert smtp_listener.raw(row) == raw


def test_reply_names_the_stored_message(smtp_listener: RunningListener) -> None:
    """The 250 after DATA carries the id of the stored row."""
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.ehlo()
        client.mail("customer@client.example.org")
        assert client.rcpt("support@acme.example.com")[0] == 250
        code, text = client.data(message("support@acme.example.com"))
    assert code == 250
    (row,) = smtp_listener.inbound()
    assert row.id in text.decode()


def test_unknown_recipient_550(smtp_listener: RunningListener) -> None:
    """An address the workspace does not own on a domain nobody owns is refused at RCPT."""
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.ehlo()
        client.mail("customer@client.example.org")
        code, text = client.rcpt("someone@elsewhere.example.net")
    assert code == 550
    assert text.decode() == "5.1.1 <someone@elsewhere.example.net>: no such mailbox here"
    assert smtp_listener.inbound() == []


def test_other_domain_and_unregistered_address_refused(smtp_listener: RunningListener) -> None:
    """Another domain is refused, and so is an unregistered address on ours (no catch-all)."""
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        for rcpt in ("support@other.example.com", "sales@acme.example.com"):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.sendmail("a@client.example.org", [rcpt], b"x\r\n")
            assert refused.value.recipients[rcpt][0] == 550
    assert smtp_listener.inbound() == []


def test_partial_refusal_stores_for_accepted(smtp_listener: RunningListener) -> None:
    """One refused recipient does not stop delivery to the accepted one."""
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        refused = client.sendmail(
            "a@client.example.org",
            ["support@acme.example.com", "nobody@nowhere.example.net"],
            message("support@acme.example.com"),
        )
    assert refused["nobody@nowhere.example.net"][0] == 550
    (row,) = smtp_listener.inbound()
    assert row.rcpt_to == ["support@acme.example.com"]


def test_oversize_552(smtp_listener: RunningListener) -> None:
    """Over max_message_bytes: refused at MAIL with SIZE=, and at end of DATA without it."""
    limit = 2048
    smtp_listener.app.settings.max_message_bytes = limit
    # The setting is read when a connection opens: these connections see the new limit.
    big = message("support@acme.example.com", body=("x" * 70 + "\n") * 40)
    assert len(big) > limit
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.ehlo()
        assert client.has_extn("size")
        code, text = client.mail("a@client.example.org", [f"SIZE={len(big)}"])
        assert (code, text) == (552, b"5.3.4 message too big")
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.ehlo()
        client.mail("a@client.example.org")
        client.rcpt("support@acme.example.com")
        code, text = client.data(big)
        assert (code, text) == (552, b"5.3.4 message too big")
    assert smtp_listener.inbound() == []


def test_starttls(listener_factory: Callable[..., RunningListener], tls_cert: TlsCert) -> None:
    """STARTTLS is offered with a certificate; mail sent over it is stored."""
    running = listener_factory(tls=server_tls_context(tls_cert.cert_file, tls_cert.key_file))
    context = ssl.create_default_context(cafile=str(tls_cert.ca_file))
    with smtplib.SMTP("127.0.0.1", running.port) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=context)
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail(
            "a@client.example.org",
            ["support@acme.example.com"],
            message("support@acme.example.com"),
        )
    assert len(running.inbound()) == 1


def test_no_starttls_without_certificate(smtp_listener: RunningListener) -> None:
    """Without a certificate STARTTLS is not advertised."""
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.ehlo()
        assert not client.has_extn("starttls")


@pytest.mark.parametrize("blob_store", BLOB_STORES)
def test_two_workspaces_two_copies(smtp_listener: RunningListener) -> None:
    """Recipients in two workspaces: one stored copy each, each in its own workspace only."""
    other = smtp_listener.new_workspace("globex", "help@globex.example.com")
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.sendmail(
            "a@client.example.org",
            ["support@acme.example.com", "help@globex.example.com"],
            message("both"),
        )
    rows = {r.workspace_id: r for r in smtp_listener.inbound()}
    assert set(rows) == {smtp_listener.workspace_id, other}
    assert rows[smtp_listener.workspace_id].rcpt_to == ["support@acme.example.com"]
    assert rows[other].rcpt_to == ["help@globex.example.com"]
    assert rows[other].blob_key == rows[smtp_listener.workspace_id].blob_key


def test_lmtp_per_recipient(listener_factory: Callable[..., RunningListener]) -> None:
    """LMTP answers once per accepted recipient after the commit (RFC 2033 §4.2)."""
    running = listener_factory(lmtp=True)
    running.new_workspace("globex", "help@globex.example.com")
    client = smtplib.LMTP("127.0.0.1", running.port)
    try:
        client.ehlo()  # smtplib.LMTP sends LHLO
        client.mail("a@client.example.org")
        assert client.rcpt("support@acme.example.com")[0] == 250
        assert client.rcpt("nobody@nowhere.example.net")[0] == 550
        assert client.rcpt("help@globex.example.com")[0] == 250
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(message("lmtp") + b".\r\n")
        replies = [client.getreply() for _ in range(2)]
        rows = running.inbound()  # right after the last per-recipient reply
    finally:
        client.close()
    assert [code for code, _ in replies] == [250, 250]
    assert replies[0][1].decode().endswith("<support@acme.example.com>")
    assert replies[1][1].decode().endswith("<help@globex.example.com>")
    assert [r.source for r in rows] == ["lmtp", "lmtp"]


def test_lmtp_refuses_helo(listener_factory: Callable[..., RunningListener]) -> None:
    """LMTP speaks LHLO only."""
    running = listener_factory(lmtp=True)
    with smtplib.SMTP("127.0.0.1", running.port) as client:
        assert client.helo()[0] == 500


def test_store_failure_451(smtp_listener: RunningListener) -> None:
    """A failed commit answers 451 4.3.0 (the client keeps the mail) and stores nothing."""
    ghost = smtp_listener.new_workspace("ghost", "help@ghost.example.com")
    with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
        client.ehlo()
        client.mail("a@client.example.org")
        assert client.rcpt("help@ghost.example.com")[0] == 250
        # The workspace the recipient was accepted for is deleted before DATA ends:
        # the database refuses the row (foreign key) and the transaction rolls back.
        with transaction(smtp_listener.app.sessions) as session:
            session.delete(session.get(Workspace, ghost))
        code, text = client.data(message("help@ghost.example.com"))
    assert code == 451
    assert text.startswith(b"4.3.0 ")
    assert smtp_listener.inbound() == []


@pytest.fixture
def postfix_routes(smtp_listener: RunningListener) -> dict[str, int]:
    """The private Postfix relays acme.example.com to the listener."""
    return {"acme.example.com": smtp_listener.port}


def test_postfix_relays_into_the_listener(
    smtp_listener: RunningListener, postfix_submission: PostfixSubmission
) -> None:
    """A real Postfix relaying acme.example.com to the listener: the message lands in the DB."""
    pf = postfix_submission
    context = ssl.create_default_context(cafile=str(pf.dovecot.tls.ca_file))
    with smtplib.SMTP(pf.host, pf.port) as client:
        client.starttls(context=context)
        client.login(pf.dovecot.user, pf.dovecot.password)
        client.sendmail(
            "a@client.example.org",
            ["support@acme.example.com"],
            message("support@acme.example.com", "relayed"),
        )
    deadline = time.monotonic() + 30  # Postfix's queue manager delivers on its own time
    while not (rows := smtp_listener.inbound()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(rows) == 1, pf.log()
    assert rows[0].workspace_id == smtp_listener.workspace_id
    assert rows[0].mail_from == "a@client.example.org"
    assert rows[0].rcpt_to == ["support@acme.example.com"]
    raw = smtp_listener.raw(rows[0])
    assert raw.startswith(b"Received: ")  # Postfix's trace header: it really went through
    assert b"<relayed@client.example.org>" in raw


def test_group_commit_one_transaction_for_concurrent_units(mailgate_app: Mailgate) -> None:
    """Units submitted together are stored in one group; each caller gets its own answers."""
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme").id

    async def run() -> tuple[list[list[Received]], int]:
        committer = GroupCommitter(mailgate_app)
        await committer.start()
        try:
            units = [[Incoming(ws, f"Subject: {i}\r\n\r\n".encode(), "smtp")] for i in range(20)]
            answers = await asyncio.gather(*(committer.submit(u) for u in units))
        finally:
            await committer.aclose()
        return list(answers), committer.groups

    answers, groups = asyncio.run(run())
    assert groups == 1
    ids = [a.id for unit in answers for a in unit]
    assert len(set(ids)) == 20
    with mailgate_app.sessions() as session:
        for i, msg_id in enumerate(ids):
            row = session.get(MessageRow, msg_id)
            assert row is not None
            assert mailgate_app.blobs.get(session, row.blob_key) == f"Subject: {i}\r\n\r\n".encode()


def test_group_commit_failure_reaches_every_waiter(mailgate_app: Mailgate) -> None:
    """One bad unit fails its whole group: every waiter hears of it, nothing is stored."""
    with transaction(mailgate_app.sessions) as session:
        ws = tenancy.create_workspace(session, "acme").id

    async def run() -> tuple[list[object], list[Received]]:
        committer = GroupCommitter(mailgate_app)
        await committer.start()
        try:
            good = committer.submit([Incoming(ws, b"Subject: good\r\n\r\n", "smtp")])
            bad = committer.submit([Incoming("ws_missing", b"Subject: bad\r\n\r\n", "smtp")])
            results = await asyncio.gather(good, bad, return_exceptions=True)
            later = await committer.submit([Incoming(ws, b"Subject: later\r\n\r\n", "smtp")])
        finally:
            await committer.aclose()
        return list(results), later

    results, later = asyncio.run(run())
    assert all(isinstance(r, Exception) for r in results)
    with mailgate_app.sessions() as session:
        rows = session.scalars(select(MessageRow).where(MessageRow.direction == "in")).all()
    assert [r.id for r in rows] == [later[0].id]  # the next group is not affected


def test_concurrent_sessions_all_stored_once(smtp_listener: RunningListener) -> None:
    """Many sessions at once: every message acknowledged is stored exactly once."""

    def send(i: int) -> None:
        with smtplib.SMTP(smtp_listener.host, smtp_listener.port) as client:
            client.sendmail(
                "a@client.example.org",
                ["support@acme.example.com"],
                message("support@acme.example.com", f"concurrent {i}"),
            )

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, range(64)))
    rows = smtp_listener.inbound()
    numbers = [re.search(rb"Subject: concurrent (\d+)", smtp_listener.raw(r)) for r in rows]
    assert sorted(int(m[1]) for m in numbers if m) == list(range(64))


def test_listener_settings_from_env(tls_cert: TlsCert, tmp_path: Path) -> None:
    """TLS needs both files; the protocol is smtp or lmtp; a bad value names the setting."""
    env = {
        "MAILGATE_SMTP_TLS_CERT": str(tls_cert.cert_file),
        "MAILGATE_SMTP_TLS_KEY": str(tls_cert.key_file),
        "MAILGATE_SMTP_PROTOCOL": "LMTP",
    }
    key = "Zx3Cv5Bn7Mq9Wr2Ty4Ui6Op8-listener"
    base = {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_SECRET_KEY": key}
    settings = Settings.from_env({**base, **env})
    assert settings.smtp_lmtp and settings.smtp_tls is not None
    assert server_tls_context(*settings.smtp_tls) is not None
    assert Settings.from_env(base).smtp_tls is None
    with pytest.raises(ConfigurationError) as half:
        Settings.from_env({**base, "MAILGATE_SMTP_TLS_CERT": str(tls_cert.cert_file)})
    assert half.value.setting == "MAILGATE_SMTP_TLS_KEY"
    with pytest.raises(ConfigurationError) as bad:
        Settings.from_env({**base, "MAILGATE_SMTP_PROTOCOL": "uucp"})
    assert bad.value.setting == "MAILGATE_SMTP_PROTOCOL"
