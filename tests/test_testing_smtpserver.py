"""ScriptedSMTPServer, driven by the standard library's smtplib as a user's test would."""

from __future__ import annotations

import asyncio
import smtplib
import ssl

import pytest

from mailgate.testing import ReceivedMessage, ScriptedSMTPServer
from tests.servers.tls import TlsCert

RAW = b"Subject: hello\r\n\r\nbody\r\n"


def test_records_accepted_messages() -> None:
    """An accepted message is recorded with its envelope and exact bytes."""
    with ScriptedSMTPServer() as server, smtplib.SMTP(server.host, server.port) as client:
        client.sendmail("a@s.test", ["b@x.test", "c@x.test"], RAW)
    assert server.messages == [
        ReceivedMessage("a@s.test", ["b@x.test", "c@x.test"], RAW, ["SIZE=24"])
    ]
    assert server.connections == 1


def test_scripted_recipient_replies() -> None:
    """Scripted recipients get their reply; others are accepted."""
    server = ScriptedSMTPServer(rcpt_replies={"Bad@X.test": "550 5.1.1 no such user"})
    with server, smtplib.SMTP(server.host, server.port) as client:
        refused = client.sendmail("a@s.test", ["good@x.test", "bad@x.test"], RAW)
    assert refused == {"bad@x.test": (550, b"5.1.1 no such user")}
    assert server.messages[0].rcpt_tos == ["good@x.test"]


@pytest.mark.parametrize(
    ("server", "error"),
    [
        (ScriptedSMTPServer(mail_reply="451 4.3.2 not now"), smtplib.SMTPSenderRefused),
        (ScriptedSMTPServer(data_reply="554 5.6.0 content rejected"), smtplib.SMTPDataError),
    ],
)
def test_scripted_mail_and_data_replies(server: ScriptedSMTPServer, error: type[Exception]) -> None:
    """mail_reply and data_reply answer every MAIL / end of DATA; nothing is recorded."""
    with (
        server,
        smtplib.SMTP(server.host, server.port) as client,
        pytest.raises(error),
    ):
        client.sendmail("a@s.test", ["b@x.test"], RAW)
    assert server.messages == []


def test_starttls_and_auth(tls_cert: TlsCert) -> None:
    """With tls and auth, a client upgrades, logs in and sends; a wrong password is 535."""
    server = ScriptedSMTPServer(
        tls=(str(tls_cert.cert_file), str(tls_cert.key_file)), auth=("u", "p")
    )
    context = ssl.create_default_context(cafile=str(tls_cert.ca_file))
    with server:
        with smtplib.SMTP(server.host, server.port) as client:
            client.starttls(context=context)
            with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
                client.login("u", "wrong")
            assert caught.value.smtp_code == 535
        with smtplib.SMTP(server.host, server.port) as client:
            client.starttls(context=context)
            client.login("u", "p")
            client.sendmail("a@s.test", ["b@x.test"], RAW)
    assert len(server.messages) == 1


def test_async_context_manager() -> None:
    """Inside a running loop the server runs in that loop."""

    async def scenario() -> list[ReceivedMessage]:
        async with ScriptedSMTPServer() as server:
            await asyncio.to_thread(_send, server.port)
            return server.messages

    assert [m.rcpt_tos for m in asyncio.run(scenario())] == [["b@x.test"]]


def _send(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("a@s.test", ["b@x.test"], RAW)


def test_drop_connections_hangs_up_on_clients() -> None:
    """drop_connections closes open sessions, as an idle timeout would."""
    with ScriptedSMTPServer() as server:
        client = smtplib.SMTP(server.host, server.port)
        client.ehlo()
        server.drop_connections()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
        client.close()
