"""Sending domains without the API: name rules, the records built, and checks against Knot DNS."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailgate.core.domain_names import sending_domain_name
from mailgate.domains import records, state, verify
from mailgate.errors import InvalidInput
from tests.servers.authdns import AuthDns

# -- name rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("news.acme.com", "news.acme.com"),
        ("News.ACME.com.", "news.acme.com"),
        ("post.bücher.example", "post.xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example.org", "a-b.c-d.example.org"),
        ("mail.acme.co.uk", "mail.acme.co.uk"),
        ("shop.github.io", "shop.github.io"),  # under a private suffix: a site of its own
    ],
)
def test_good_names_are_stored_as_lower_case_a_labels(name: str, stored: str) -> None:
    """IDNA is accepted and stored as A-labels; case and a final dot do not matter."""
    assert sending_domain_name(name) == stored


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "empty"),
        ("news_letter.acme.com", "underscore"),
        ("news letter.acme.com", "space"),
        (" news.acme.com", "space"),
        ("news.acme.com/x", "letters, digits and hyphens"),
        ("news!.acme.com", "letters, digits and hyphens"),
        ("-news.acme.com", "hyphen"),
        ("news..acme.com", "empty label"),
        ("a" * 64 + ".acme.com", "at most 63"),
        (".".join(["abcdefghi"] * 26) + ".com", "at most 253"),
        ("com", "top-level"),
        ("co.uk", "public suffix"),
        ("github.io", "public suffix"),
        ("公司.cn", "public suffix"),  # the list's IDN entries, compared as A-labels
        ("192.0.2.1", "IP address"),
    ],
)
def test_refused_names_say_which_rule_they_broke(name: str, rule: str) -> None:
    """Each refusal is a 422 naming ``name`` and the rule."""
    with pytest.raises(InvalidInput) as caught:
        sending_domain_name(name)
    assert caught.value.field == "name"
    assert rule in str(caught.value), str(caught.value)


LDH_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"[a-zA-Z0-9_.\- ]{1,40}", fullmatch=True))
def test_junk_is_refused_cleanly_or_stored_as_ldh(junk: str) -> None:
    """Any text: a named refusal, or an LDH name of ≤ 253 octets that validates again."""
    try:
        name = sending_domain_name(junk)
    except InvalidInput as exc:
        assert exc.field == "name"
        return
    assert LDH_NAME.match(name) and len(name) <= 253
    assert sending_domain_name(name) == name


# -- the records built -------------------------------------------------------------


def no_dns(host: str) -> list[str]:
    raise AssertionError(f"no look-up expected for {host}")


def test_spf_comes_from_the_transports_that_send() -> None:
    """Providers give their include, an SMTP relay its addresses, capture nothing."""
    senders = [
        records.Sender("capture", {}),
        records.Sender("mailgun", {"domain": "mg.acme.com"}),
        records.Sender("sendcloud", {}),
        records.Sender("smtp", {"host": "smtp.eu.mailgun.org", "port": 587}),
        records.Sender("smtp", {"host": "192.0.2.25", "port": 25}),
        records.Sender("smtp", {"host": "2001:db8::25", "port": 25}),
        records.Sender("smtp", {"host": "relay.acme.example"}),
        records.Sender("smtp", {"host": "gone.acme.example"}),
    ]

    def resolve(host: str) -> list[str]:
        if host == "gone.acme.example":
            raise verify.DnsUnavailable(host)
        return {"relay.acme.example": ["198.51.100.7"]}[host]

    mechanisms = records.spf_mechanisms(senders, hostname="localhost", resolve=resolve)
    assert mechanisms == [
        "include:mailgun.org",
        "include:sendcloud.net",
        "ip4:192.0.2.25",
        "ip6:2001:db8::25",
        "ip4:198.51.100.7",
        "a:gone.acme.example",
    ]
    assert records.spf_value(mechanisms).endswith(" ~all")
    assert records.spf_value([]) == "v=spf1 ~all"


def test_every_record_has_a_host_a_value_and_a_reason() -> None:
    """SPF, DKIM, DMARC, the reply MX and the return path, each explained."""
    reason = "The public key of selector s1, from domains/dkim.py."
    dkim = [
        {
            "purpose": "dkim",
            "type": "TXT",
            "host": "s1._domainkey.news.acme.com",
            "value": "v=DKIM1; k=rsa; p=QUJD",
            "reason": reason,
        }
    ]
    built = records.expected_records(
        "news.acme.com",
        mechanisms=["ip4:192.0.2.25"],
        dkim=dkim,
        inbound_host="in.mailgate.net",
        rua="dmarc+sdom_1.0123456789ab@bounces.news.acme.com",
    )
    by = {r["purpose"]: r for r in built}
    assert [r["purpose"] for r in built] == ["spf", "dkim", "dmarc", "mx", "return_path"]
    assert by["spf"]["host"] == "news.acme.com"
    assert by["dkim"]["reason"] == reason
    assert by["dmarc"]["host"] == "_dmarc.news.acme.com"
    assert by["dmarc"]["value"] == (
        "v=DMARC1; p=none; rua=mailto:dmarc+sdom_1.0123456789ab@bounces.news.acme.com"
    )
    assert (by["mx"]["host"], by["mx"]["value"]) == ("reply.news.acme.com", "10 in.mailgate.net.")
    assert by["return_path"]["host"] == "bounces.news.acme.com"
    for rec in built:
        assert rec["status"] == "pending" and rec["found"] == []
        assert rec["reason"].endswith(".") and len(rec["reason"]) > 30


# -- checks against a real DNS server ----------------------------------------------

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 340 + "IDAQAB"
OTHER_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "y" * 340 + "IDAQAB"


def txt(value: str) -> str:
    """A TXT value as zone-file strings of at most 255 octets (RFC 1035 §3.3)."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def rec(purpose: str, type_: str, host: str, value: str) -> dict[str, Any]:
    return records.record(purpose, type_, host, value, "why.")


SPF = rec("spf", "TXT", "d.test", "v=spf1 ip4:192.0.2.25 include:mailgun.org ~all")
DKIM = rec("dkim", "TXT", "s1._domainkey.d.test", f"v=DKIM1; k=rsa; p={KEY}")
DMARC = rec("dmarc", "TXT", "_dmarc.d.test", "v=DMARC1; p=none; rua=mailto:dmarc@bounces.d.test")
MX = rec("mx", "MX", "reply.d.test", "10 mailgate.example.com.")


@pytest.fixture
def lookup(authdns: AuthDns) -> verify.Dns:
    return verify.Dns(nameserver=authdns.address, timeout=5)


def status(record: dict[str, Any], lookup: verify.Dns) -> tuple[str, str | None]:
    checked = verify.check(record, lookup)
    return checked["status"], checked["detail"]


def test_spf_statuses(authdns: AuthDns, lookup: verify.Dns) -> None:
    """ok (a network covers our address), missing, two records, one lacking, too many look-ups."""
    authdns.publish(
        f"d TXT {txt('v=spf1 ip4:192.0.2.0/24 include:mailgun.org include:other.test -all')}",
        'd TXT "google-site-verification=abc"',
        'twice TXT "v=spf1 ip4:192.0.2.25 include:mailgun.org ~all"',
        'twice TXT "v=spf1 include:other.test ~all"',
        'lacking TXT "v=spf1 ip4:192.0.2.26 ~all"',
        'anyone TXT "v=spf1 ip4:192.0.2.25 include:mailgun.org +all"',
        'deep TXT "v=spf1 ip4:192.0.2.25 include:mailgun.org include:l1.test ~all"',
        *(f'l{i} TXT "v=spf1 include:l{i + 1}.test a/24 mx ~all"' for i in range(1, 4)),
        'l4 TXT "v=spf1 redirect=l5.test"',
        'l5 TXT "v=spf1 exists:%{i}.l5.test mx//64 ~all"',
        'other TXT "v=spf1 ip4:203.0.113.0/24 ~all"',
    )
    checked = verify.check(SPF, lookup)
    assert checked["status"] == "ok", checked
    assert checked["found"] == [
        "v=spf1 ip4:192.0.2.0/24 include:mailgun.org include:other.test -all"
    ]
    assert checked["detail"] == "2 of 10 DNS look-ups used"  # the two includes

    def on(host: str) -> dict[str, Any]:
        return {**SPF, "host": host}

    assert status(on("nothing.test"), lookup)[0] == "missing"
    st_, detail = status(on("twice.test"), lookup)
    assert st_ == "mismatch" and "2 SPF records" in str(detail) and "permerror" in str(detail)
    assert sorted(verify.check(on("twice.test"), lookup)["found"]) == [
        "v=spf1 include:other.test ~all",
        "v=spf1 ip4:192.0.2.25 include:mailgun.org ~all",
    ]
    st_, detail = status(on("lacking.test"), lookup)
    assert st_ == "mismatch" and detail == "the SPF record lacks ip4:192.0.2.25 include:mailgun.org"
    assert status(on("anyone.test"), lookup)[0] == "mismatch"
    st_, detail = status(on("deep.test"), lookup)
    assert st_ == "mismatch" and "more than 10 DNS look-ups" in str(detail)


def test_dkim_statuses(authdns: AuthDns, lookup: verify.Dns) -> None:
    """The key as split strings, another key, a revoked key, none, and a CNAME-delegated key."""
    authdns.publish(
        f"s1._domainkey.d TXT {txt(f'v=DKIM1; k=rsa; p={KEY}')}",
        f"s1._domainkey.wrong TXT {txt(f'v=DKIM1; k=rsa; p={OTHER_KEY}')}",
        's1._domainkey.revoked TXT "v=DKIM1; k=rsa; p="',
        "s1._domainkey.delegated CNAME s1.delegated.dkim.provider.test.",
        f"s1.delegated.dkim.provider TXT {txt(f'v=DKIM1; k=rsa; p={KEY}')}",
    )
    checked = verify.check(DKIM, lookup)
    assert checked["status"] == "ok" and checked["found"] == [f"v=DKIM1; k=rsa; p={KEY}"]

    def on(domain: str) -> dict[str, Any]:
        return {**DKIM, "host": f"s1._domainkey.{domain}"}

    assert status(on("wrong.test"), lookup) == (
        "mismatch",
        "the published p= is not this domain's key",
    )
    assert status(on("revoked.test"), lookup) == ("mismatch", "the key is revoked (empty p=)")
    assert status(on("nothing.test"), lookup)[0] == "missing"
    delegated = verify.check(on("delegated.test"), lookup)
    assert delegated["status"] == "ok", delegated
    assert delegated["found"][0] == (
        "s1._domainkey.delegated.test CNAME s1.delegated.dkim.provider.test"
    )
    # The record to publish may itself be the CNAME (MAILGATE_DKIM_DELEGATION_DOMAIN).
    cname = rec("dkim", "CNAME", "s1._domainkey.delegated.test", "s1.delegated.dkim.provider.test")
    assert status(cname, lookup)[0] == "ok"
    assert status({**cname, "value": "elsewhere.test"}, lookup)[0] == "mismatch"
    assert status({**cname, "host": "s1._domainkey.d.test"}, lookup)[0] == "missing"


def test_dmarc_statuses(authdns: AuthDns, lookup: verify.Dns) -> None:
    """A record that parses is ok (reports elsewhere noted); a bad p, two records, none are not."""
    authdns.publish(
        '_dmarc.d TXT "v=DMARC1; p=none; rua=mailto:dmarc@bounces.d.test"',
        '_dmarc.strict TXT "v=DMARC1; p=reject; rua=mailto:reports@elsewhere.example"',
        '_dmarc.badp TXT "v=DMARC1; p=maybe"',
        '_dmarc.twice TXT "v=DMARC1; p=none"',
        '_dmarc.twice TXT "v=DMARC1; p=reject"',
    )
    assert status(DMARC, lookup) == ("ok", None)
    assert status({**DMARC, "host": "_dmarc.strict.test"}, lookup) == (
        "ok",
        "reports go elsewhere, not to mailgate",
    )
    assert status({**DMARC, "host": "_dmarc.badp.test"}, lookup)[0] == "mismatch"
    assert status({**DMARC, "host": "_dmarc.twice.test"}, lookup)[0] == "mismatch"
    assert status({**DMARC, "host": "_dmarc.nothing.test"}, lookup)[0] == "missing"


def test_mx_statuses(authdns: AuthDns, lookup: verify.Dns) -> None:
    """Our inbound host among the exchanges is ok; another host is a mismatch; none is missing."""
    authdns.publish(
        "reply.d MX 10 mailgate.example.com.",
        "reply.d MX 20 backup.example.net.",
        "reply.other MX 10 mx.elsewhere.example.",
    )
    checked = verify.check(MX, lookup)
    assert checked["status"] == "ok"
    assert checked["found"] == ["10 mailgate.example.com.", "20 backup.example.net."]
    assert status({**MX, "host": "reply.other.test"}, lookup)[0] == "mismatch"
    assert status({**MX, "host": "reply.nothing.test"}, lookup)[0] == "missing"


def test_a_silent_dns_server_leaves_records_pending(authdns: AuthDns) -> None:
    """No answer proves nothing: the record stays pending and the state does not change."""
    from tests.servers.postgres import free_port

    silent = verify.Dns(nameserver=("127.0.0.1", free_port()), timeout=0.2)
    all_five = (SPF, DKIM, DMARC, MX, {**MX, "purpose": "return_path"})
    checked = [verify.check(r, silent) for r in all_five]
    assert {r["status"] for r in checked} == {"pending"}
    assert "no answer" in str(checked[0]["detail"])
    assert state.next_state("verified", checked) == ("verified", None)


def test_state_transitions() -> None:
    """verified needs SPF, DKIM, MX and the return path; losing one degrades; DMARC optional."""

    def checked(**statuses: str) -> list[dict[str, Any]]:
        out = []
        for purpose in ("spf", "dkim", "dmarc", "mx", "return_path"):
            r = rec(purpose, "TXT", "h", "v")
            r["status"] = statuses.get(purpose, "ok")
            out.append(r)
        return out

    assert state.next_state("pending", checked(dmarc="missing")) == (
        "verified",
        "domain.verified",
    )
    assert state.next_state("verified", checked()) == ("verified", None)
    assert state.next_state("verified", checked(spf="missing")) == (
        "degraded",
        "domain.degraded",
    )
    assert state.next_state("degraded", checked(spf="missing")) == ("degraded", None)
    assert state.next_state("degraded", checked()) == ("verified", "domain.verified")
    assert state.next_state("pending", checked(mx="mismatch")) == ("pending", None)
    no_dkim = [r for r in checked() if r["purpose"] != "dkim"]
    assert state.next_state("pending", no_dkim) == ("pending", None)


def test_the_inbound_host_setting(tmp_path: Any) -> None:
    """MAILGATE_INBOUND_HOST is read as a lower-case name; unset, MX records use the hostname."""
    from mailgate.config import Settings
    from mailgate.domains.checks import inbound_host

    env = {"MAILGATE_DATA_DIR": str(tmp_path), "MAILGATE_HOSTNAME": "mail.acme.example"}
    settings = Settings.from_env({**env, "MAILGATE_INBOUND_HOST": "In.Mailgate.Example."})
    assert settings.inbound_host == "in.mailgate.example"

    class App:
        def __init__(self, settings: Settings) -> None:
            self.settings = settings

    assert inbound_host(App(settings)) == "in.mailgate.example"  # type: ignore[arg-type]
    assert inbound_host(App(Settings.from_env(env))) == "mail.acme.example"  # type: ignore[arg-type]
