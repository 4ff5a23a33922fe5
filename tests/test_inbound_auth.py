"""Inbound authentication: SPF, DKIM and DMARC verdicts, and routing that uses them.

Real parts: mail arrives through mailgate's SMTP listener (so the peer address is a
real 127.0.0.1), DNS is the tests' own server on loopback answering the TXT records
each test publishes, DKIM signatures are made here with dkimpy, and mailgate's worker
processes the mail. The hostile side: a forged From quoting a thread's Message-ID, a
forged ``Authentication-Results`` claiming our MTA's id.
"""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from mailgate.config import Settings
from mailgate.core import authresults, dmarc
from mailgate.errors import ConfigurationError
from mailgate.inbound import authentication, tokens
from mailgate.inbound.smtp import start_listener
from mailgate.runtime import Mailgate
from mailgate.store.models import Conversation, Event, MessageRow
from tests.helpers import wait_for
from tests.servers.dns import DnsServer
from tests.servers.listener import LoopThread, RunningListener, add_address
from tests.servers.mailgate import Server

SUPPORT = "support@acme.example.com"
CUSTOMER = "li.lei@customer.example.org"
OUR_MTA = "mx.acme.example.com"


@dataclass(frozen=True)
class Key:
    private_pem: bytes
    public_txt: str  # the DKIM key record


@pytest.fixture(scope="module")
def dkim_key() -> Key:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())


def publish(dns: DnsServer, key: Key) -> None:
    """The zone the tests' senders live in (127.0.0.1 is the listener's peer address)."""
    dns.txt.update(
        {
            # customer.example.org: SPF allows loopback, DMARC reject, DKIM key s1.
            "customer.example.org": ["v=spf1 ip4:127.0.0.1 -all"],
            "_dmarc.customer.example.org": ["v=DMARC1; p=reject"],
            "s1._domainkey.customer.example.org": [key.public_txt],
            # SPF outcomes for the envelope domain, and a DMARC record that is not one.
            "soft.example.net": ["v=spf1 ip4:192.0.2.1 ~all"],
            "hard.example.net": ["v=spf1 ip4:192.0.2.1 -all"],
            "unrelated.example.net": ["google-site-verification=abc"],
            # shop.example (its own organizational domain, unlike customer.example.org
            # whose is example.org): sub-domains fall under its sp=.
            "_dmarc.shop.example": ["v=DMARC1; p=reject; sp=quarantine"],
            "s1._domainkey.shop.example": [key.public_txt],
            # strict.example: adkim=s and aspf=s, the same key under its own name.
            "_dmarc.strict.example": ["v=DMARC1; p=reject; adkim=s; aspf=s"],
            "s1._domainkey.strict.example": [key.public_txt],
            "strict.example": ["v=spf1 ip4:127.0.0.1 -all"],
        }
    )


def letter(
    sender: str,
    subject: str = "printer broken",
    body: str = "It does not print.\r\n",
    *,
    to: str = SUPPORT,
    in_reply_to: str | None = None,
    extra: list[str] | None = None,
) -> tuple[bytes, str]:
    mid = make_msgid(domain="mail.customer.example.org")
    headers = [*(extra or [])]
    headers += [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Message-ID: {mid}",
        "Date: Mon, 30 Nov 2026 09:00:00 +0800",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode(), mid.strip("<>")


def sign(raw: bytes, key: Key, domain: str) -> bytes:
    signature: bytes = dkim.sign(
        raw,
        b"s1",
        domain.encode(),
        key.private_pem,
        include_headers=[b"from", b"to", b"subject", b"message-id", b"date"],
    )
    return signature + raw


@dataclass
class Desk:
    """The listener's workspace, reachable by SMTP and by its API key."""

    app: Mailgate
    server: Server
    listener: RunningListener
    key: str

    def send(self, raw: bytes, mail_from: str, rcpt: str = SUPPORT) -> str:
        with smtplib.SMTP(self.listener.host, self.listener.port, timeout=30) as s:
            s.ehlo("mail.customer.example.org")
            reply = s.sendmail(mail_from, [rcpt], raw)
            assert reply == {}
        return self.stored_id(raw)

    def stored_id(self, raw: bytes) -> str:
        rows = [r for r in self.listener.inbound() if self.listener.raw(r) == raw]
        assert len(rows) == 1
        return rows[0].id

    def processed(self, pk: str) -> MessageRow:
        def done() -> MessageRow | None:
            with self.app.sessions() as session:
                row = session.get_one(MessageRow, pk)
                return row if row.status in ("processed", "dead") else None

        row: MessageRow = wait_for(done, what=f"{pk} to be processed")
        assert row.status == "processed", row.last_error
        return row


@pytest.fixture
def authed(mailgate_app: Mailgate, dns_server: DnsServer, dkim_key: Key) -> Mailgate:
    """Compute verdicts, asking only the tests' DNS server."""
    publish(dns_server, dkim_key)
    mailgate_app.settings.inbound_auth = "compute"
    mailgate_app.settings.dns_resolver = dns_server.address
    return mailgate_app


@pytest.fixture
def desk(authed: Mailgate, server: Server) -> Iterator[Desk]:
    """The ``server`` fixture's workspace with support@ and an SMTP listener into it."""
    add_address(authed, server.workspace_id, SUPPORT)
    loop = LoopThread()
    listener = loop.run(start_listener(authed, "127.0.0.1", 0))
    running = RunningListener(authed, listener, loop, server.workspace_id)
    try:
        yield Desk(authed, server, running, server.key)
    finally:
        running.stop()


# -- computed, through the listener --------------------------------------------------


def test_verdicts_computed_from_real_dns_and_signatures(desk: Desk, dkim_key: Key) -> None:
    """SPF pass/fail/softfail/none, DKIM pass/fail, DMARC pass/fail and alignment."""
    cases: dict[str, tuple[bytes, str]] = {}
    raw, _ = letter(f"Li Lei <{CUSTOMER}>")
    cases["genuine"] = (sign(raw, dkim_key, "customer.example.org"), CUSTOMER)
    cases["softfail"] = (letter("a@soft.example.net")[0], "bounce@soft.example.net")
    cases["fail"] = (letter("a@hard.example.net")[0], "bounce@hard.example.net")
    cases["no spf"] = (letter("a@unrelated.example.net")[0], "x@unrelated.example.net")
    # From the customer, unsigned, sent from an envelope that is not theirs: DMARC fail.
    cases["spoof"] = (letter(f"Li Lei <{CUSTOMER}>")[0], "mallory@hard.example.net")
    # A sub-domain's From, signed by the organizational domain: relaxed alignment, sp=.
    raw, _ = letter("news@news.shop.example")
    cases["relaxed"] = (sign(raw, dkim_key, "shop.example"), "x@unrelated.example.net")
    # The same under adkim=s/aspf=s: the signature and SPF pass but do not align.
    raw, _ = letter("news@news.strict.example")
    cases["strict"] = (sign(raw, dkim_key, "strict.example"), "b@strict.example")
    # Signed, then changed on the way.
    raw = sign(letter(f"Li Lei <{CUSTOMER}>")[0], dkim_key, "customer.example.org")
    cases["tampered"] = (raw.replace(b"It does not print.", b"Pay to IBAN XX00."), CUSTOMER)

    ids = {name: desk.send(raw, mail_from) for name, (raw, mail_from) in cases.items()}
    auth = {name: desk.processed(pk).auth or {} for name, pk in ids.items()}

    with desk.app.sessions() as session:
        row = session.get_one(MessageRow, ids["genuine"])
        assert (row.peer_ip, row.helo) == ("127.0.0.1", "mail.customer.example.org")
    assert auth["genuine"] == {
        "spf": {
            "result": "pass",
            "domain": "customer.example.org",
            "reason": "sender SPF authorized",
        },
        "dkim": [{"result": "pass", "domain": "customer.example.org", "selector": "s1"}],
        "dmarc": {
            "result": "pass",
            "policy": "reject",
            "domain": "customer.example.org",
            "reason": "aligned: spf, dkim d=customer.example.org",
        },
        "source": "computed",
    }
    assert auth["softfail"]["spf"]["result"] == "softfail"
    assert auth["fail"]["spf"]["result"] == "fail"
    assert auth["no spf"]["spf"]["result"] == "none"
    assert auth["no spf"]["dmarc"]["result"] == "none"  # no record: nothing to fail
    assert auth["spoof"]["spf"]["result"] == "fail"
    assert auth["spoof"]["dkim"] == []
    assert auth["spoof"]["dmarc"]["result"] == "fail"
    assert auth["spoof"]["dmarc"]["policy"] == "reject"
    assert auth["relaxed"]["dmarc"]["result"] == "pass"
    assert auth["relaxed"]["dmarc"]["policy"] == "quarantine"  # sp= of the org domain
    assert auth["strict"]["dkim"][0]["result"] == "pass"
    assert auth["strict"]["spf"]["result"] == "pass"
    assert auth["strict"]["dmarc"]["result"] == "fail"
    assert auth["tampered"]["dkim"][0]["result"] == "fail"
    assert "body hash mismatch" in auth["tampered"]["dkim"][0]["reason"]
    assert auth["tampered"]["dmarc"]["result"] == "pass"  # SPF still aligns
    # The verdicts travel with the webhook event.
    with desk.app.sessions() as session:
        payloads = {
            e.payload["message"]: e.payload
            for e in session.scalars(select(Event).where(Event.type == "message.received"))
        }
    assert payloads[ids["spoof"]]["auth"]["dmarc"]["result"] == "fail"
    assert payloads[ids["genuine"]]["auth"]["dkim"][0]["result"] == "pass"


def test_spoofed_from_does_not_join_the_thread_it_quotes(desk: Desk, dkim_key: Key) -> None:
    """A forged From of the customer quoting the thread's Message-ID or tag opens a new,
    linked conversation that shows the failure; the signed reply address still threads."""
    raw, first_mid = letter(f"Li Lei <{CUSTOMER}>")
    first = desk.processed(desk.send(sign(raw, dkim_key, "customer.example.org"), CUSTOMER))
    thread = first.conversation_id
    assert thread and first.auth and first.auth["dmarc"]["result"] == "pass"
    with desk.app.sessions() as session:
        tag = session.get_one(Conversation, thread).tag

    spoof, _ = letter(
        f"Li Lei <{CUSTOMER}>",
        "Re: printer broken",
        "New bank details attached.\r\n",
        in_reply_to=first_mid,
    )
    forged = desk.processed(desk.send(spoof, "mallory@hard.example.net"))
    assert forged.auth and forged.auth["dmarc"]["result"] == "fail"
    assert forged.conversation_id not in (None, thread)
    by_tag, _ = letter(f"Li Lei <{CUSTOMER}>", f"Re: printer broken [#{tag}]")
    tagged = desk.processed(desk.send(by_tag, "mallory@hard.example.net"))
    assert tagged.conversation_id not in (None, thread, forged.conversation_id)

    with desk.server.client(desk.key) as c:
        view = c.get(f"/v1/conversations/{forged.conversation_id}").json()
        assert view["related"] == thread
        assert "failed DMARC (p=reject)" in view["auth_warning"]
        assert view["messages"][0]["auth"]["dmarc"]["result"] == "fail"
        original = c.get(f"/v1/conversations/{thread}").json()
        assert original["auth_warning"] is None
        assert original["message_count"] == 1
        assert original["messages"][0]["auth"]["dmarc"]["result"] == "pass"
    with desk.app.sessions() as session:
        created = [
            e.payload
            for e in session.scalars(select(Event).where(Event.type == "conversation.created"))
            if e.payload["conversation"] == forged.conversation_id
        ]
    assert created[0]["related"] == thread and created[0]["auth_warning"]

    # Whoever holds the signed reply address may post, DMARC or not (it was never public).
    reply_to = tokens.reply_address(desk.app.secrets, tag, "acme.example.com")
    answer, _ = letter(f"Li Lei <{CUSTOMER}>", "Re: printer broken", to=reply_to)
    threaded = desk.processed(desk.send(answer, "mallory@hard.example.net", rcpt=reply_to))
    assert threaded.auth and threaded.auth["dmarc"]["result"] == "fail"
    assert threaded.conversation_id == thread


# -- trusting our MTA's Authentication-Results ----------------------------------------


def test_forged_authentication_results_below_ours_is_ignored(desk: Desk) -> None:
    """The sender wrote a passing field with our MTA's id; our MTA's own field, above it,
    says DMARC failed. Only the topmost counts, and the spoof does not join the thread."""
    desk.app.settings.trusted_authserv_id = OUR_MTA
    raw, first_mid = letter(
        f"Li Lei <{CUSTOMER}>",
        extra=[
            f"Authentication-Results: {OUR_MTA}; spf=pass smtp.mailfrom={CUSTOMER};"
            " dkim=pass header.d=customer.example.org header.s=s1;"
            " dmarc=pass policy.dmarc=reject header.from=customer.example.org"
        ],
    )
    genuine = desk.processed(desk.send(raw, CUSTOMER))
    assert genuine.auth and genuine.auth["source"] == f"trusted:{OUR_MTA}"
    assert genuine.auth["dmarc"]["result"] == "pass"

    ours = (
        f"Authentication-Results: {OUR_MTA.upper()};\r\n"
        "  spf=fail smtp.mailfrom=mallory@hard.example.net;\r\n"
        "  dkim=none; dmarc=fail policy.dmarc=reject header.from=customer.example.org"
    )
    forged_field = (
        f"Authentication-Results: {OUR_MTA}; spf=pass smtp.mailfrom={CUSTOMER};"
        " dkim=pass header.d=customer.example.org header.s=s1;"
        " dmarc=pass header.from=customer.example.org"
    )
    spoof, _ = letter(
        f"Li Lei <{CUSTOMER}>",
        "Re: printer broken",
        in_reply_to=first_mid,
        extra=[ours, "Received: from evil (unknown [192.0.2.66])", forged_field],
    )
    row = desk.processed(desk.send(spoof, "mallory@hard.example.net"))
    assert row.auth == {
        "spf": {"result": "fail", "domain": "hard.example.net"},
        "dkim": [{"result": "none", "domain": None, "selector": None}],
        "dmarc": {"result": "fail", "policy": "reject", "domain": "customer.example.org"},
        "source": f"trusted:{OUR_MTA}",
        "ignored": 1,
    }
    assert row.conversation_id not in (None, genuine.conversation_id)


# -- pure parts and sources without a client address ----------------------------------


def test_trusted_field_choice() -> None:
    mine = f"{OUR_MTA}; dmarc=fail header.from=a.example"
    other = "mx.elsewhere.example; dmarc=pass header.from=a.example"
    forged = f"{OUR_MTA}; dmarc=pass header.from=a.example"
    found = authresults.trusted_verdicts([other, mine, forged], OUR_MTA)
    assert found and found["dmarc"]["result"] == "fail" and found["ignored"] == 1
    assert authresults.trusted_verdicts([other], OUR_MTA) is None
    broken = authresults.trusted_verdicts([f"{OUR_MTA}; spf=pass ;;; ==="], OUR_MTA)
    assert broken and broken["spf"]["result"] == "permerror"
    assert authresults.authserv_id("(comment) MX.Example.COM 1; none") == "mx.example.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=DMARC1; p=reject", dmarc.Record("reject", None, "r", "r")),
        ("v=DMARC1;p=none;sp=reject;adkim=s", dmarc.Record("none", "reject", "s", "r")),
        ("v=spf1 -all", None),
        ("p=reject; v=DMARC1", None),  # v= must come first
    ],
)
def test_dmarc_record(text: str, expected: dmarc.Record | None) -> None:
    assert dmarc.parse_record(text) == expected


def test_dmarc_record_refused_with_the_tag() -> None:
    with pytest.raises(dmarc.RecordError, match="p='block'"):
        dmarc.parse_record("v=DMARC1; p=block")
    with pytest.raises(dmarc.RecordError, match="adkim"):
        dmarc.parse_record("v=DMARC1; p=none; adkim=x")


def test_alignment() -> None:
    assert dmarc.aligned("mail.acme.example", "acme.example", "r")
    assert not dmarc.aligned("mail.acme.example", "acme.example", "s")
    assert dmarc.aligned("Acme.Example.", "acme.example", "s")
    # Two registrants under one public suffix are not aligned.
    assert dmarc.aligned("a.shop.example.co.uk", "example.co.uk", "r")
    assert not dmarc.aligned("other.co.uk", "example.co.uk", "r")
    assert not dmarc.aligned("", "example.co.uk", "r")


def test_no_client_address_says_so(authed: Mailgate) -> None:
    """IMAP, POP3 and Mailgun give no SMTP client: SPF is none with the reason; DKIM and
    DMARC still computed from the bytes."""
    raw, _ = letter(f"Li Lei <{CUSTOMER}>")
    for source in ("imap", "pop3", "mailgun", "lmtp"):
        found = authentication.verdicts(
            authed.settings, raw, source=source, mail_from=CUSTOMER, peer_ip=None, helo=None
        )
        assert found["spf"]["result"] == "none"
        assert source in found["spf"]["reason"] or "LMTP" in found["spf"]["reason"]
        assert found["dmarc"]["result"] == "fail"  # nothing aligned under p=reject


def test_from_domain_dns_cannot_hold(authed: Mailgate) -> None:
    """A From domain with a 70-octet label has no record: DMARC none, nothing raised."""
    raw, _ = letter(f"x@{'a' * 70}.example.org")
    found = authentication.verdicts(
        authed.settings, raw, source="smtp", mail_from="", peer_ip="127.0.0.1", helo="h.example"
    )
    assert found["dmarc"]["result"] == "none"
    assert found["source"] == "computed"


def test_several_from_domains_is_a_dmarc_permerror(authed: Mailgate) -> None:
    raw, _ = letter(f"{CUSTOMER}, boss@other.example")
    found = authentication.verdicts(
        authed.settings, raw, source="imap", mail_from="", peer_ip=None, helo=None
    )
    assert found["dmarc"]["result"] == "permerror"
    assert "several domains" in found["dmarc"]["reason"]



def test_settings_from_the_environment(tmp_path: Path) -> None:
    key = "Vq8Lr2Xn5Tb9Kw3Jd7Hs1Pf6Mz4Gc0Ay"
    base = {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_SECRET_KEY": key}
    trusted = {"MAILGATE_TRUSTED_AUTHSERV_ID": " MX.Acme.Example.COM "}
    settings = Settings.from_env({**base, **trusted, "MAILGATE_INBOUND_AUTH": "off"})
    assert (settings.trusted_authserv_id, settings.inbound_auth) == ("mx.acme.example.com", "off")
    assert Settings.from_env(base).inbound_auth == "compute"
    with pytest.raises(ConfigurationError) as err:
        Settings.from_env({**base, "MAILGATE_INBOUND_AUTH": "maybe"})
    assert "MAILGATE_INBOUND_AUTH" in str(err.value)
