"""OpenDKIM, a second independent verifier, accepts what mailgate signs (and refuses tampering)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailgate.domains.dkim import ED25519, RSA, new_key_pair
from mailgate.outbound import dkim_sign
from tests.servers.opendkim import Verdict

Verify = Callable[[bytes, list[str]], Verdict]
DOMAIN = "news.acme.test"

MESSAGE = (
    "From: 王小明 <ann@news.acme.test>\n"
    "To: bob@example.net,\n"
    "    carol@example.net\n"
    "Subject: 您的发票已开具   (folded\n"
    "\tsubject)  \n"
    "Date: Mon, 30 Nov 2026 09:00:00 +0000\n"
    "Message-ID: <opendkim-1@news.acme.test>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "List-Unsubscribe: <mailto:u@news.acme.test>\n"
    "\n"
    "您好  \t \n"
    "trailing spaces   \n"
    "\n"
    "\n"
).encode()


def _key(algorithm: str, selector: str) -> tuple[dkim_sign.SigningKey, str]:
    pem, public = new_key_pair(algorithm)
    k = "ed25519" if algorithm == ED25519 else "rsa"
    record = f"v=DKIM1; k={k}; p={public}"
    strings = " ".join(f'"{record[i : i + 200]}"' for i in range(0, len(record), 200))
    return dkim_sign.load_key(DOMAIN, selector, algorithm, pem.encode()), strings


RSA_KEY, RSA_TXT = _key(RSA, "mg202611")
ED_KEY, ED_TXT = _key(ED25519, "ed202611")


def test_rsa_signature_verifies_in_opendkim(opendkim: Verify) -> None:
    """An RSA-SHA256 relaxed/relaxed signature passes; a Received header on top keeps it."""
    signed = dkim_sign.sign(MESSAGE, [RSA_KEY])
    relayed = b"Received: from mailgate by mx.example.net; Mon, 30 Nov 2026\r\n" + signed
    verdict = opendkim(relayed, [f"mg202611._domainkey.news.acme TXT {RSA_TXT}"])
    assert verdict.ok, verdict.output


def test_tampered_message_fails_in_opendkim(opendkim: Verify) -> None:
    """The same check refuses an edited body and a second From (the test is not vacuous)."""
    zone = [f"mg202611._domainkey.news.acme TXT {RSA_TXT}"]
    signed = dkim_sign.sign(MESSAGE, [RSA_KEY])
    edited = opendkim(signed.replace(b"trailing", b"Trailing"), zone)
    assert not edited.ok
    assert not opendkim(b"From: evil@news.acme.test\r\n" + signed, zone).ok


def test_missing_key_fails_in_opendkim(opendkim: Verify) -> None:
    """Without the record in DNS, OpenDKIM does not accept the signature."""
    assert not opendkim(dkim_sign.sign(MESSAGE, [RSA_KEY]), []).ok


def test_delegated_key_behind_a_cname_verifies_in_opendkim(opendkim: Verify) -> None:
    """The customer's CNAME to the installation's zone (MAILGATE_DKIM_DELEGATION_DOMAIN) works."""
    zone = [
        "mg202611._domainkey.news.acme CNAME mg202611.news.acme.test.dkim.mailgate-dns.test.",
        f"mg202611.news.acme.test.dkim.mailgate-dns TXT {RSA_TXT}",
    ]
    verdict = opendkim(dkim_sign.sign(MESSAGE, [RSA_KEY]), zone)
    assert verdict.ok, verdict.output


@pytest.mark.parametrize("order", ["rsa-first", "ed25519-only"])
def test_ed25519_signature_verifies_in_opendkim(opendkim: Verify, order: str) -> None:
    """RFC 8463: Ed25519 alone, and double-signed with RSA, both pass OpenDKIM."""
    keys = [RSA_KEY, ED_KEY] if order == "rsa-first" else [ED_KEY]
    zone = [
        f"mg202611._domainkey.news.acme TXT {RSA_TXT}",
        f"ed202611._domainkey.news.acme TXT {ED_TXT}",
    ]
    signed = dkim_sign.sign(MESSAGE, keys)
    verdict = opendkim(signed, zone)
    assert verdict.ok, verdict.output
    assert not opendkim(signed.replace(b"trailing", b"Trailing"), zone).ok
