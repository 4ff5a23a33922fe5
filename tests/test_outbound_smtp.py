"""SmtpTransport against real servers: Postfix smtp-sink, ScriptedSMTPServer, a private Postfix."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.outbound.base import CheckResult, DeliveryResult, Envelope
from mailgate.outbound.smtp import SmtpConfig, SmtpTransport
from mailgate.outbound.smtp_errors import enhanced_status, is_permanent
from mailgate.testing import ScriptedSMTPServer
from tests.servers.postfix import PostfixSubmission
from tests.servers.smtpsink import SmtpSink, free_port

T = TypeVar("T")

RAW = (
    b"From: App <app@sender.test>\r\n"
    b"To: Customer <customer@x.test>\r\n"
    b"Subject: Your ticket #42\r\n"
    b"Message-ID: <t42@sender.test>\r\n"
    b"\r\n"
    b"Hello.\r\n"
    b".a line starting with a dot\r\n"
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def transport(port: int, **settings: Any) -> SmtpTransport:
    return SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, timeout=10, **settings))


async def deliver_and_close(
    t: SmtpTransport, envelope: Envelope, raw: bytes = RAW
) -> DeliveryResult:
    try:
        return await t.deliver(envelope, raw)
    finally:
        await t.close()


async def check(t: SmtpTransport) -> CheckResult:
    return await t.check()


# -- reply classification -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1.1 <bad@x.test>: Recipient address rejected", "5.1.1"),
        ("4.7.1 Greylisted", "4.7.1"),
        ("2.0.0 Ok: queued as ABC", "2.0.0"),
        ("Requested action aborted", None),
        ("5.1.10 multi-digit detail", "5.1.10"),
        ("3.1.1 not a class", None),
        ("5.1.1x glued", None),
    ],
)
def test_enhanced_status_is_read_from_the_reply_start(text: str, expected: str | None) -> None:
    """The RFC 3463 code is taken from the start of the reply text, or None."""
    assert enhanced_status(text) == expected


@pytest.mark.parametrize(
    ("code", "permanent"), [(550, True), (554, True), (552, False), (451, False), (421, False)]
)
def test_only_5xx_but_552_is_permanent(code: int, permanent: bool) -> None:
    """5xx is permanent except 552 (RFC 5321 §4.5.3.1.10); 4xx never is."""
    assert is_permanent(code) is permanent


# -- smtp-sink ------------------------------------------------------------------------


def test_delivers_a_message_to_smtp_sink(smtp_sink: SmtpSink) -> None:
    """A plain delivery is accepted with 250 and arrives with its envelope and bytes."""
    envelope = Envelope("bounce@sender.test", ("customer@x.test", "copy@x.test"))
    result = run(deliver_and_close(transport(smtp_sink.port), envelope))

    assert [r.accepted for r in result.recipients] == [True, True]
    assert {r.code for r in result.recipients} == {250}
    (message,) = smtp_sink.messages(expect=1)
    assert message.mail_from == "bounce@sender.test"
    assert message.rcpt_tos == ["customer@x.test", "copy@x.test"]
    assert b"Subject: Your ticket #42" in message.dump
    assert b"\n.a line starting with a dot" in message.dump  # dot-stuffing undone by the server


def test_reuses_one_connection_for_many_messages(smtp_sink: SmtpSink) -> None:
    """Sequential deliveries share one pooled connection."""
    t = transport(smtp_sink.port)

    async def send_many() -> list[DeliveryResult]:
        try:
            return [
                await t.deliver(Envelope("a@sender.test", (f"r{i}@x.test",)), RAW) for i in range(5)
            ]
        finally:
            await t.close()

    results = run(send_many())

    assert all(r.recipients[0].accepted for r in results)
    assert t.connections_opened == 1
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages(expect=5)) == [
        f"r{i}@x.test" for i in range(5)
    ]


def test_concurrent_deliveries_never_exceed_max_connections(smtp_sink: SmtpSink) -> None:
    """Parallel deliveries open at most max_connections connections."""
    t = transport(smtp_sink.port, max_connections=2)

    async def send_parallel() -> list[DeliveryResult]:
        try:
            return await asyncio.gather(
                *(t.deliver(Envelope("a@sender.test", (f"p{i}@x.test",)), RAW) for i in range(8))
            )
        finally:
            await t.close()

    results = run(send_parallel())

    assert all(r.recipients[0].accepted for r in results)
    assert 1 <= t.connections_opened <= 2
    assert len(smtp_sink.messages(expect=8)) == 8


def test_rcpt_5xx_is_permanent_per_recipient(smtp_sink_factory: Callable[..., SmtpSink]) -> None:
    """A 5xx answer to RCPT fails that recipient permanently, with code and status."""
    sink = smtp_sink_factory("-f", "RCPT", "-B", "550 5.1.1 no such user here")
    envelope = Envelope("a@sender.test", ("nobody@x.test", "other@x.test"))
    result = run(deliver_and_close(transport(sink.port), envelope))

    for r in result.recipients:
        assert (r.accepted, r.code, r.enhanced_status, r.permanent) == (False, 550, "5.1.1", True)
        assert "no such user here" in r.text
    assert sink.messages() == []


def test_rcpt_4xx_is_transient(smtp_sink_factory: Callable[..., SmtpSink]) -> None:
    """A 4xx answer to RCPT is a transient failure."""
    sink = smtp_sink_factory("-r", "RCPT")
    result = run(deliver_and_close(transport(sink.port), Envelope("a@s.test", ("r@x.test",))))

    (r,) = result.recipients
    assert (r.accepted, r.code, r.enhanced_status, r.permanent) == (False, 450, "4.3.0", False)


def test_end_of_data_5xx_fails_every_accepted_recipient(
    smtp_sink_factory: Callable[..., SmtpSink],
) -> None:
    """A refusal after the message text applies to all recipients accepted at RCPT."""
    sink = smtp_sink_factory("-f", ".")
    envelope = Envelope("a@sender.test", ("one@x.test", "two@x.test"))
    result = run(deliver_and_close(transport(sink.port), envelope))

    assert [(r.accepted, r.code, r.permanent) for r in result.recipients] == [
        (False, 500, True),
        (False, 500, True),
    ]


def test_a_dropped_connection_is_transient(smtp_sink_factory: Callable[..., SmtpSink]) -> None:
    """The server hanging up mid-transaction gives a transient failure with a clear text."""
    sink = smtp_sink_factory("-q", "DATA")
    result = run(deliver_and_close(transport(sink.port), Envelope("a@s.test", ("r@x.test",))))

    (r,) = result.recipients
    assert (r.accepted, r.permanent, r.code) == (False, False, None)
    assert f"connection to 127.0.0.1:{sink.port} closed unexpectedly" in r.text


def test_connection_stays_usable_after_a_refused_transaction(
    smtp_sink_factory: Callable[..., SmtpSink],
) -> None:
    """After a refused transaction the pooled connection is reset and reused."""
    sink = smtp_sink_factory("-f", "MAIL")
    t = transport(sink.port)

    async def twice() -> list[DeliveryResult]:
        try:
            return [await t.deliver(Envelope("a@s.test", ("r@x.test",)), RAW) for _ in range(2)]
        finally:
            await t.close()

    results = run(twice())

    assert [r.recipients[0].code for r in results] == [500, 500]
    assert t.connections_opened == 1


def test_check_succeeds_against_smtp_sink(smtp_sink: SmtpSink) -> None:
    """check() connects, greets and quits."""
    assert run(check(transport(smtp_sink.port))) == CheckResult(True, "connect success")


def test_check_reports_starttls_missing(smtp_sink: SmtpSink) -> None:
    """security=starttls against a server without STARTTLS fails at stage tls."""
    result = run(check(transport(smtp_sink.port, security="starttls")))
    assert (result.ok, result.stage) == (False, "tls")
    assert "does not offer STARTTLS" in result.message


# -- network failures -------------------------------------------------------------------


def test_check_refused_port() -> None:
    """A closed port fails at stage connect and says who refused."""
    port = free_port()
    result = run(check(transport(port)))
    assert result == CheckResult(False, f"connection refused by 127.0.0.1:{port}", "connect")


def test_check_unresolvable_host() -> None:
    """A name under .invalid (RFC 2606; resolved locally, never sent out) fails at stage dns."""
    t = SmtpTransport(SmtpConfig(host="mail.mailgate.invalid", port=25, timeout=10))
    result = run(check(t))
    assert (result.ok, result.stage) == (False, "dns")
    assert result.message.startswith("cannot resolve mail.mailgate.invalid")


def test_deliver_to_refused_port_is_transient() -> None:
    """Network failures are transient for every recipient."""
    port = free_port()
    envelope = Envelope("a@s.test", ("r1@x.test", "r2@x.test"))
    result = run(deliver_and_close(transport(port), envelope))
    for r in result.recipients:
        assert (r.accepted, r.permanent) == (False, False)
        assert r.text == f"connection refused by 127.0.0.1:{port}"


# -- ScriptedSMTPServer -------------------------------------------------------------------


def test_per_recipient_mix() -> None:
    """One accepted, one 550, one 451: each recipient gets its own result."""
    server = ScriptedSMTPServer(
        rcpt_replies={"bad@x.test": "550 5.1.1 no such user", "later@x.test": "451 4.3.0 try later"}
    )
    envelope = Envelope("a@sender.test", ("good@x.test", "bad@x.test", "later@x.test"))
    with server:
        result = run(deliver_and_close(transport(server.port), envelope))

    good, bad, later = result.recipients
    assert (good.address, good.accepted, good.code) == ("good@x.test", True, 250)
    assert (bad.accepted, bad.code, bad.enhanced_status, bad.permanent) == (
        False,
        550,
        "5.1.1",
        True,
    )
    assert bad.text == "5.1.1 no such user"
    assert (later.accepted, later.code, later.enhanced_status, later.permanent) == (
        False,
        451,
        "4.3.0",
        False,
    )
    (message,) = server.messages
    assert message.rcpt_tos == ["good@x.test"]
    assert message.data == RAW


def test_552_at_data_is_transient() -> None:
    """552 (storage exceeded) is treated as temporary, per RFC 5321 §4.5.3.1.10."""
    with ScriptedSMTPServer(data_reply="552 5.2.2 mailbox full") as server:
        result = run(deliver_and_close(transport(server.port), Envelope("a@s.test", ("r@x.test",))))
    (r,) = result.recipients
    assert (r.accepted, r.code, r.enhanced_status, r.permanent) == (False, 552, "5.2.2", False)


def test_auth_failure_is_transient_with_the_server_text() -> None:
    """A wrong password defers delivery and reports the server's own reply."""
    with ScriptedSMTPServer(auth=("app", "right")) as server:
        t = transport(server.port, username="app", password="wrong")
        result = run(deliver_and_close(t, Envelope("a@s.test", ("r@x.test",))))
        checked = run(check(transport(server.port, username="app", password="wrong")))

    (r,) = result.recipients
    assert (r.accepted, r.permanent, r.code) == (False, False, 535)
    assert r.text == "535 5.7.8 Authentication credentials invalid"
    assert checked == CheckResult(False, "535 5.7.8 Authentication credentials invalid", "auth")
    assert server.messages == []


@pytest.mark.parametrize("mechanism", ["auto", "plain", "login"])
def test_auth_success(mechanism: str) -> None:
    """The right password is accepted with each mechanism."""
    with ScriptedSMTPServer(auth=("app", "right")) as server:
        t = transport(server.port, username="app", password="right", auth=mechanism)
        result = run(deliver_and_close(t, Envelope("a@s.test", ("r@x.test",))))
    assert result.recipients[0].accepted
    assert len(server.messages) == 1


def test_idle_connection_closed_by_server_is_replaced_once() -> None:
    """A pooled connection the server hung up on is replaced without failing the message."""
    with ScriptedSMTPServer() as server:
        t = transport(server.port)

        async def first() -> DeliveryResult:
            return await t.deliver(Envelope("a@s.test", ("one@x.test",)), RAW)

        async def second() -> DeliveryResult:
            return await deliver_and_close(t, Envelope("a@s.test", ("two@x.test",)))

        async def both() -> list[DeliveryResult]:
            done = [await first()]
            await asyncio.to_thread(server.drop_connections)
            done.append(await second())
            return done

        results = run(both())

    assert [r.recipients[0].accepted for r in results] == [True, True]
    assert t.connections_opened == 2
    assert [m.rcpt_tos for m in server.messages] == [["one@x.test"], ["two@x.test"]]


def test_smtputf8_is_used_when_an_address_needs_it() -> None:
    """A non-ASCII address is sent with the SMTPUTF8 parameter (RFC 6531)."""
    with ScriptedSMTPServer() as server:
        envelope = Envelope("app@sender.test", ("jürgen@bücher.test",))
        result = run(deliver_and_close(transport(server.port), envelope))
    assert result.recipients[0].accepted
    (message,) = server.messages
    assert message.rcpt_tos == ["jürgen@bücher.test"]
    assert "SMTPUTF8" in message.mail_options


def test_smtputf8_missing_is_permanent() -> None:
    """Without SMTPUTF8 on the server a non-ASCII address cannot be sent at all."""
    with ScriptedSMTPServer(smtputf8=False) as server:
        envelope = Envelope("app@sender.test", ("jürgen@bücher.test",))
        result = run(deliver_and_close(transport(server.port), envelope))
    (r,) = result.recipients
    assert (r.accepted, r.permanent, r.enhanced_status) == (False, True, "5.6.7")
    assert server.messages == []


# -- a private Postfix submission service (root only) -----------------------------------


def submission(pf: PostfixSubmission, **settings: Any) -> SmtpTransport:
    base: dict[str, Any] = {
        "security": "starttls",
        "username": pf.dovecot.user,
        "password": pf.dovecot.password,
        "ca_file": str(pf.dovecot.tls.ca_file),
    }
    return transport(pf.port, **{**base, **settings})


@pytest.mark.root
@pytest.mark.parametrize("mechanism", ["plain", "login"])
def test_submission_with_starttls_and_auth_lands_in_the_maildir(
    postfix_submission: PostfixSubmission, mechanism: str
) -> None:
    """STARTTLS + AUTH against real Postfix/Dovecot; the message is read back from the Maildir."""
    pf = postfix_submission
    t = submission(pf, auth=mechanism)
    result = run(deliver_and_close(t, Envelope("app@sender.test", (pf.dovecot.user,))))

    (r,) = result.recipients
    assert (r.accepted, r.code, r.enhanced_status) == (True, 250, "2.0.0"), pf.log()
    (stored,) = pf.dovecot.messages(expect=1)
    assert b"Subject: Your ticket #42" in stored
    assert b"\n.a line starting with a dot" in stored
    assert f"sasl_method={mechanism.upper()}" in pf.log()


@pytest.mark.root
def test_submission_check_succeeds(postfix_submission: PostfixSubmission) -> None:
    """check() negotiates STARTTLS, authenticates and quits."""
    assert run(check(submission(postfix_submission))) == CheckResult(True, "connect success")


@pytest.mark.root
def test_submission_wrong_password_fails_at_auth(postfix_submission: PostfixSubmission) -> None:
    """A wrong password gives stage auth with Postfix's own reply text."""
    result = run(check(submission(postfix_submission, password="wrong")))
    assert (result.ok, result.stage) == (False, "auth")
    assert result.message.startswith("535 5.7.8 ")
    assert "authentication failed" in result.message


@pytest.mark.root
def test_submission_relay_to_elsewhere_is_refused(postfix_submission: PostfixSubmission) -> None:
    """Without authentication Postfix refuses the recipient: a permanent per-recipient 5xx."""
    t = submission(postfix_submission, username=None, password=None)
    result = run(deliver_and_close(t, Envelope("app@sender.test", ("someone@elsewhere.test",))))
    (r,) = result.recipients
    assert (r.accepted, r.permanent) == (False, True)
    assert r.code == 554 and r.enhanced_status == "5.7.1"


@pytest.mark.root
def test_self_signed_certificate_fails_verification(postfix_submission: PostfixSubmission) -> None:
    """Without the CA file the test certificate is not trusted: stage tls."""
    result = run(check(submission(postfix_submission, ca_file=None)))
    assert (result.ok, result.stage) == (False, "tls")
    assert result.message.startswith("TLS certificate verify failed: ")


@pytest.mark.root
def test_verify_tls_off_accepts_the_certificate(postfix_submission: PostfixSubmission) -> None:
    """verify_tls=False skips certificate checks (an administrator's explicit choice)."""
    result = run(check(submission(postfix_submission, ca_file=None, verify_tls=False)))
    assert result == CheckResult(True, "connect success")


@pytest.mark.root
def test_submission_refuses_auth_before_starttls(postfix_submission: PostfixSubmission) -> None:
    """security=none against a TLS-only submission port fails at stage auth, saying why."""
    result = run(check(submission(postfix_submission, security="none")))
    assert (result.ok, result.stage) == (False, "auth")
    assert "(before TLS)" in result.message


@pytest.mark.root
def test_implicit_tls_submission(postfix_submission: PostfixSubmission) -> None:
    """security=tls (implicit TLS, RFC 8314) delivers through the submissions port."""
    pf = postfix_submission
    t = submission(pf, security="tls")
    t.config.port = pf.smtps_port
    result = run(deliver_and_close(t, Envelope("app@sender.test", (pf.dovecot.user,))))
    assert result.recipients[0].accepted, pf.log()
    assert len(pf.dovecot.messages(expect=1)) == 1


@given(
    st.binary(max_size=300)
    | st.lists(st.sampled_from([b".", b"\r", b"\n", b"a", b"\r\n"])).map(b"".join)
)
def test_wire_format_matches_aiosmtplib(raw: bytes) -> None:
    """Our byte-level dot-stuffing sends exactly what aiosmtplib's regular expressions would."""
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    from mailgate.outbound.smtp import wire_format

    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw)) + b".\r\n"
    assert wire_format(raw) == expected
