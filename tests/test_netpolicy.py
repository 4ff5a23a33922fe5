"""The network policy: which hosts a workspace may make mailgate connect to (SSRF).

The classifier is pure (core/netpolicy.py); the rest runs against a real mailgate
whose settings do NOT allow loopback (unlike every other test module), with its
DNS pointed at a real name server on 127.0.0.1 that the test controls, so that a
name can resolve to a public address when saved and to 127.0.0.1 when connected
(DNS rebinding). No test ever connects anywhere but 127.0.0.1: refused hosts are
refused before any packet leaves, and "public" answers are only ever saved.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailgate.core.netpolicy import (
    category,
    parse_ip_literal,
    parse_networks,
    refusal,
)
from mailgate.events.delivery import excerpt
from mailgate.outbound.netguard import NetGuard, NetworkRefused
from mailgate.runtime import Mailgate, build
from tests.servers.dns import DnsServer
from tests.servers.dovecot import Dovecot
from tests.servers.mailgate import Server, make_settings
from tests.servers.smtpsink import free_port
from tests.test_inbound_imap import imap_source
from tests.test_inbound_pop3 import make_mail, pop3_source
from tests.test_webhooks import Receiver, receiver, wait_delivery

__all__ = ["receiver"]  # a fixture, imported to be used here

PUBLIC = "93.184.216.34"  # only ever saved, never connected to


# -- the classifier --------------------------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "0x7f000001",
    "0x7f.1",
    "2130706433",
    "0177.0.0.1",
    "017700000001",
    "127.0.0.1.",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "[::ffff:127.0.0.1]",
    "::ffff:7f00:1",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 around 127.0.0.1
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_spelling_of_loopback_is_loopback(host: str) -> None:
    """inet_aton forms, IPv6, mapped, 6to4 and NAT64 spellings all classify as loopback."""
    ip = parse_ip_literal(host)
    assert ip is not None
    assert category(ip) == "loopback"
    assert refusal(ip) == "loopback"


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),
        ("0xa9fea9fe", "link-local"),
        ("[::ffff:169.254.169.254]", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("012.1", "private"),  # octal 10.0.0.1
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
    ],
)
def test_non_public_kinds(host: str, kind: str) -> None:
    """Each kind of non-public address is named, whatever its notation."""
    ip = parse_ip_literal(host)
    assert ip is not None and category(ip) == kind


@pytest.mark.parametrize(
    "host", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", PUBLIC]
)
def test_public_addresses_are_allowed(host: str) -> None:
    """Public addresses (and NAT64 of a public one) pass."""
    ip = parse_ip_literal(host)
    assert ip is not None and refusal(ip) is None


@pytest.mark.parametrize("host", ["example.com", "1e9", "08.0.0.1", "127.0.0.1.nip.io", "a..b"])
def test_names_are_not_literals(host: str) -> None:
    """What inet_aton would not read as an address is a name, resolved and checked later."""
    assert parse_ip_literal(host) is None


def test_allowed_networks_override_and_match_mapped_forms() -> None:
    """An allowed CIDR lets its addresses through, also in IPv4-mapped form; nothing else."""
    allowed = parse_networks(["127.0.0.0/8", "10.1.0.0/16"])
    for host in ("127.0.0.1", "[::ffff:127.0.0.1]", "0x7f000001", "10.1.2.3"):
        ip = parse_ip_literal(host)
        assert ip is not None and refusal(ip, allowed) is None, host
    for host in ("10.2.0.1", "::1", "169.254.169.254"):
        ip = parse_ip_literal(host)
        assert ip is not None and refusal(ip, allowed) is not None, host


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv4_notation_means_the_same_address(value: int) -> None:
    """Decimal, hex, octal-dotted and IPv4-mapped spellings parse to one address and one kind."""
    v4 = ipaddress.IPv4Address(value)
    octets = str(v4).split(".")
    spellings = [
        str(v4),
        str(value),
        hex(value),
        ".".join("0" + oct(int(o))[2:] for o in octets),
        f"{octets[0]}.{int(octets[1]) << 16 | int(octets[2]) << 8 | int(octets[3])}",
    ]
    for spelling in spellings:
        assert parse_ip_literal(spelling) == v4, spelling
    mapped = parse_ip_literal(f"[::ffff:{v4}]")
    assert mapped is not None and category(mapped) == category(v4)


@given(st.ip_addresses(v=4))
def test_sixtofour_is_judged_by_the_address_inside(v4: ipaddress.IPv4Address) -> None:
    """A 6to4 address is refused whenever the IPv4 address it carries is."""
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1)
    if category(v4) is not None:
        assert category(sixtofour) is not None


def test_excerpt_is_short_and_printable() -> None:
    """A receiver's answer becomes at most 200 printable characters, no line breaks."""
    body = b"secret\r\nX-Header: 1\x1b[31m\x00" + b"y" * 5000
    text = excerpt(body)
    assert len(text) <= 200
    assert text.isprintable() and "\n" not in text and "\x1b" not in text


# -- resolving and checking ------------------------------------------------------------------


def test_every_resolved_address_is_checked(dns_server: DnsServer) -> None:
    """One refused address among a name's answers refuses the name (order is no defence)."""
    dns_server.records["mixed.test"] = [PUBLIC, "127.0.0.1"]
    guard = NetGuard(nameserver=dns_server.address)
    with pytest.raises(NetworkRefused) as info:
        guard.check("mixed.test", 25)
    assert info.value.reason == "loopback"
    assert sorted(guard.trusting().check("mixed.test", 25)) == sorted([PUBLIC, "127.0.0.1"])


def test_the_system_resolver_is_checked_too() -> None:
    """Without MAILGATE_DNS_RESOLVER, getaddrinfo answers (here /etc/hosts) are checked alike."""
    with pytest.raises(NetworkRefused) as info:
        NetGuard().check("localhost", 25)
    assert info.value.reason == "loopback"
    allowed = NetGuard(allowed=parse_networks(["127.0.0.0/8", "::1/128"]))
    assert "127.0.0.1" in allowed.check("localhost", 25)


def test_a_literal_is_checked_without_asking_dns(dns_server: DnsServer) -> None:
    """127.1 is an address, not a name: refused at once, no query sent."""
    guard = NetGuard(nameserver=dns_server.address)
    with pytest.raises(NetworkRefused):
        guard.check("127.1", 80)
    assert dns_server.queries == []


# -- a mailgate that does not allow loopback -------------------------------------------------


@pytest.fixture
def mailgate_app(tmp_path: Path, dns_server: DnsServer) -> Iterator[Mailgate]:
    """Like the shared fixture, but strict: no allowed networks, our name server."""
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'mailgate.db'}",
        allow_private_networks=(),
        dns_resolver=dns_server.address,
    )
    app = build(settings)
    try:
        yield app
    finally:
        app.dispose()


def smtp_transport(host: str, port: int = 25, **extra: Any) -> dict[str, Any]:
    config = {"host": host, "port": port}
    return {"name": f"relay {host}", "kind": "smtp", "config": config, **extra}


REFUSED_HOSTS = ["127.0.0.1", "127.1", "0x7f000001", "2130706433", "[::1]", "169.254.169.254"]


def test_workspace_transport_host_is_refused_when_saved(
    server: Server, dns_server: DnsServer
) -> None:
    """A workspace key: 403 naming config.host for a refused address or a name resolving to one."""
    dns_server.records["inside.evil.test"] = ["127.0.0.1"]
    with server.client() as c:
        for host in [*REFUSED_HOSTS, "inside.evil.test"]:
            r = c.post("/v1/transports", json=smtp_transport(host))
            assert r.status_code == 403, (host, r.text)
            assert r.json()["error"] == {
                "code": "forbidden",
                "message": r.json()["error"]["message"],
                "field": "config.host",
            }
        assert c.get("/v1/transports").json()["items"] == []


def test_rebound_transport_is_refused_at_connect_without_telling_ports_apart(
    server: Server, dns_server: DnsServer
) -> None:
    """Public when saved, 127.0.0.1 when checked: stage policy, the same answer open or closed."""
    dns_server.records["relay.rebind.test"] = [PUBLIC]
    open_port = int(server.url.rsplit(":", 1)[1])  # mailgate's own HTTP port: open
    closed_port = free_port()
    with server.client() as c:
        ids = []
        for port in (open_port, closed_port):
            r = c.post("/v1/transports", json=smtp_transport("relay.rebind.test", port))
            assert r.status_code == 201, r.text
            assert r.json()["private_network"] is False
            ids.append(r.json()["id"])
        dns_server.records["relay.rebind.test"] = ["127.0.0.1"]
        answers = [c.post(f"/v1/transports/{tid}/check").json() for tid in ids]
    assert [a["stage"] for a in answers] == ["policy", "policy"]
    assert not any(a["ok"] for a in answers)
    assert answers[0]["message"] == answers[1]["message"]
    assert "loopback" in answers[0]["message"]


def test_operator_may_point_a_workspace_transport_at_loopback(
    server: Server, smtp_sink: Any
) -> None:
    """An operator's host is honoured at connect; a workspace editing the host undoes that."""
    with server.operator_client() as op:
        r = op.post("/v1/transports", json=smtp_transport("127.0.0.1", smtp_sink.port))
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        assert r.json()["private_network"] is True
    with server.client() as c:
        assert c.post(f"/v1/transports/{tid}/check").json()["ok"] is True
        renamed = c.patch(f"/v1/transports/{tid}", json={"name": "still the operator's host"})
        assert renamed.status_code == 200 and renamed.json()["private_network"] is True
        moved = c.patch(f"/v1/transports/{tid}", json={"config": {"host": "127.0.0.2"}})
        assert moved.status_code == 403 and moved.json()["error"]["field"] == "config.host"
        # The operator allowed this port on that host, not another service there.
        other_port = c.patch(f"/v1/transports/{tid}", json={"config": {"port": 6379}})
        assert other_port.status_code == 403, other_port.text
        assert c.get(f"/v1/transports/{tid}").json()["config"]["port"] == smtp_sink.port


def test_workspace_source_host_is_refused_when_saved_and_when_polled(
    server: Server, dns_server: DnsServer, dovecot: Dovecot
) -> None:
    """POP3: 403 for a loopback host; a rebound name fails poll-now at stage policy, no banner."""
    dovecot.add_message(make_mail(0))
    with server.client() as c:
        r = c.post("/v1/sources", json=pop3_source(dovecot))
        assert r.status_code == 403 and r.json()["error"]["field"] == "config.host"
        dns_server.records["mail.rebind.test"] = [PUBLIC]
        body = pop3_source(dovecot)
        body["config"]["host"] = "mail.rebind.test"
        r = c.post("/v1/sources", json=body)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        dns_server.records["mail.rebind.test"] = ["127.0.0.1"]
        polled = c.post(f"/v1/sources/{sid}/poll")
    assert polled.status_code == 502
    message = polled.json()["error"]["message"]
    assert message.startswith("policy: mail.rebind.test is a loopback address")
    assert "+OK" not in message and "Dovecot" not in message
    assert len(dovecot.messages()) == 1  # nothing was taken


def test_operator_source_on_loopback_is_polled(server: Server, dovecot: Dovecot) -> None:
    """A source an operator pointed at loopback connects (the approval is checked at connect)."""
    dovecot.add_message(make_mail(0))
    with server.operator_client() as op:
        r = op.post("/v1/sources", json=pop3_source(dovecot))
        assert r.status_code == 201, r.text
        assert r.json()["private_network"] is True
        assert op.post(f"/v1/sources/{r.json()['id']}/poll").json()["taken"] == 1


def test_a_bad_ca_file_does_not_tell_whether_the_file_exists(
    server: Server, dovecot: Dovecot, tmp_path: Path
) -> None:
    """A missing file, a directory and a non-PEM file give the same sentence."""
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    answers = set()
    with server.operator_client() as op:
        for path in ("/nonexistent/ca.pem", "/etc", str(not_pem), "/etc/passwd"):
            body = pop3_source(dovecot, security="starttls", ca_file=path)
            sid = op.post("/v1/sources", json=body).json()["id"]
            r = op.post(f"/v1/sources/{sid}/poll")
            assert r.status_code == 502
            answers.add(r.json()["error"]["message"])
    assert answers == {"config: ca_file could not be loaded as PEM CA certificates"}


WEBHOOK_REFUSED = [
    "http://127.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1:8443/hook",
]


@pytest.mark.parametrize("url", WEBHOOK_REFUSED)
def test_webhook_addresses_in_every_notation_are_refused(server: Server, url: str) -> None:
    """A workspace key gets 403 naming url, whatever the notation of the address."""
    with server.client() as c:
        r = c.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["field"] == "url"


@pytest.mark.parametrize(
    "url", ["http://user:pass@example.com/hook", "http://user@example.com/", "ftp://example.com/"]
)
def test_webhook_userinfo_and_other_schemes_are_refused(server: Server, url: str) -> None:
    """Credentials in the URL, and schemes other than http(s): 422 naming url."""
    with server.client() as c:
        r = c.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "url"


def test_rebound_webhook_is_refused_at_delivery(
    server: Server, dns_server: DnsServer, receiver: Receiver
) -> None:
    """Public when saved, 127.0.0.1 when delivered: policy in last_error, the receiver sees none."""
    dns_server.records["hooks.rebind.test"] = [PUBLIC]
    with server.client() as c:
        url = f"http://hooks.rebind.test:{receiver.port}/hooks"
        r = c.post("/v1/webhooks", json={"url": url, "events": ["*"]})
        assert r.status_code == 201, r.text
        hid = r.json()["id"]
        dns_server.records["hooks.rebind.test"] = ["127.0.0.1"]
        assert c.post(f"/v1/webhooks/{hid}/test").status_code < 300
        failed = wait_delivery(c, hid, "retrying", "failed")
    assert failed["last_code"] is None
    assert failed["last_error"].startswith("policy: hooks.rebind.test is a loopback address")
    assert receiver.requests == []


def test_operator_webhook_reaches_loopback_by_name_with_its_host_header(
    server: Server, dns_server: DnsServer, receiver: Receiver
) -> None:
    """An operator's webhook is delivered to the checked address; Host keeps the name."""
    dns_server.records["hooks.internal.test"] = ["127.0.0.1"]
    with server.operator_client() as op:
        url = f"http://hooks.internal.test:{receiver.port}/hooks"
        r = op.post("/v1/webhooks", json={"url": url, "events": ["*"]})
        assert r.status_code == 201, r.text
        assert r.json()["private_network"] is True
        hid = r.json()["id"]
        assert op.post(f"/v1/webhooks/{hid}/test").status_code < 300
    [got] = receiver.got(1)
    assert got.headers["Host"] == f"hooks.internal.test:{receiver.port}"
    with server.client() as c:
        # A workspace key may not re-aim the operator's URL, not even its path.
        moved = c.patch(f"/v1/webhooks/{hid}", json={"url": url.removesuffix("/hooks") + "/admin"})
        assert moved.status_code == 403 and moved.json()["error"]["field"] == "url"
        assert c.patch(f"/v1/webhooks/{hid}", json={"events": ["message.sent"]}).status_code == 200


def test_failed_delivery_keeps_status_and_a_short_clean_excerpt(
    server: Server, dns_server: DnsServer, receiver: Receiver
) -> None:
    """last_error holds the code and at most 200 printable characters of the answer."""
    dns_server.records["hooks.internal.test"] = ["127.0.0.1"]
    receiver.default = 500
    receiver.answer = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\r\n\x1b[2J" + b"z" * 4000
    with server.operator_client() as op:
        url = f"http://hooks.internal.test:{receiver.port}/hooks"
        hid = op.post("/v1/webhooks", json={"url": url, "events": ["*"]}).json()["id"]
        op.post(f"/v1/webhooks/{hid}/test")
        failed = wait_delivery(op, hid, "retrying", "failed")
    assert failed["last_code"] == 500
    error: str = failed["last_error"]
    prefix = "HTTP 500 Internal Server Error: "
    assert error.startswith(prefix)
    assert len(error) <= len(prefix) + 200
    assert error.isprintable() and "\x1b" not in error



def test_rebound_imap_source_is_refused_at_poll(
    server: Server, dns_server: DnsServer, dovecot: Dovecot
) -> None:
    """IMAP: a name that resolves to 127.0.0.1 by poll time fails at stage policy."""
    dovecot.add_message(make_mail(0))
    dns_server.records["imap.rebind.test"] = [PUBLIC]
    body = imap_source(dovecot)
    body["config"]["host"] = "imap.rebind.test"
    with server.client() as c:
        r = c.post("/v1/sources", json=body)
        assert r.status_code == 201, r.text
        dns_server.records["imap.rebind.test"] = ["127.0.0.1"]
        polled = c.post(f"/v1/sources/{r.json()['id']}/poll")
    assert polled.status_code == 502
    assert polled.json()["error"]["message"].startswith("policy: imap.rebind.test is a loopback")


def test_tls_is_verified_against_the_name_not_the_checked_address(
    server: Server, dns_server: DnsServer, dovecot: Dovecot
) -> None:
    """The socket goes to the checked address; STARTTLS still checks the certificate's name.

    The test certificate names ``localhost`` and ``127.0.0.1``: connecting by address
    but verifying the name, ``localhost`` passes and another name for the same
    address fails at stage tls.
    """
    dovecot.add_message(make_mail(0))
    dns_server.records["localhost"] = ["127.0.0.1"]
    dns_server.records["other-name.test"] = ["127.0.0.1"]
    answers = {}
    with server.operator_client() as op:
        for host in ("localhost", "other-name.test"):
            body = imap_source(dovecot, security="starttls", ca_file=str(dovecot.tls.ca_file))
            body["config"]["host"] = host
            sid = op.post("/v1/sources", json=body).json()["id"]
            answers[host] = op.post(f"/v1/sources/{sid}/poll")
    assert answers["localhost"].status_code == 200, answers["localhost"].text
    assert answers["localhost"].json()["taken"] == 1
    refused = answers["other-name.test"]
    assert refused.status_code == 502
    assert refused.json()["error"]["message"].startswith("tls: ")
