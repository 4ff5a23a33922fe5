"""mailgate's own DKIM signer, checked against dkimpy's verifier (an independent implementation)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgate.outbound import dkim_sign
from mailgate.outbound.dkim_sign import SigningKey

DOMAIN = "news.example.org"


def _rsa() -> tuple[SigningKey, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    return SigningKey(DOMAIN, "mg1", dkim_sign.RSA, private), record


def _ed() -> tuple[SigningKey, str]:
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    record = f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    return SigningKey(DOMAIN, "ed1", dkim_sign.ED25519, private), record


RSA_KEY, RSA_RECORD = _rsa()
ED_KEY, ED_RECORD = _ed()


def dnsfunc(records: dict[str, str]) -> Callable[..., bytes | None]:
    """dkimpy's DNS look-up, answered from ``records`` (host → TXT value)."""

    def look(name: bytes, timeout: int = 5) -> bytes | None:
        value = records.get(name.decode().rstrip(".").lower())
        return value.encode() if value else None

    return look


DNS = dnsfunc(
    {
        f"mg1._domainkey.{DOMAIN}": RSA_RECORD,
        f"ed1._domainkey.{DOMAIN}": ED_RECORD,
    }
)


def verify_all(message: bytes) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature of ``message``."""
    d = dkim.DKIM(message)
    count = sum(1 for line in message.split(b"\n") if line.lower().startswith(b"dkim-signature:"))
    return [_verify(d, i) for i in range(count)]


def _verify(d: dkim.DKIM, idx: int) -> bool:
    try:
        return bool(d.verify(idx=idx, dnsfunc=DNS))
    except dkim.ValidationError:  # dkimpy raises for a body hash mismatch
        return False


MESSAGE = (
    "From: Ann Lee <ann@news.example.org>\n"
    "To: bob@example.net,\n"
    "\t  carol@example.net\n"
    "Subject: 您的发票   and  more  \n"
    "Date: Mon, 30 Nov 2026 09:00:00 +0000\n"
    "Message-ID: <1@news.example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hello  \t there \n"
    "\n"
    "\n"
).encode()


def test_rsa_and_ed25519_signatures_verify_in_dkimpy() -> None:
    """A double-signed message (RSA, then Ed25519 per RFC 8463) passes dkimpy for both."""
    signed = dkim_sign.sign(MESSAGE, [RSA_KEY, ED_KEY])
    assert verify_all(signed) == [True, True]
    assert b"a=rsa-sha256" in signed.split(b"DKIM-Signature")[1]
    assert b"\r\n" in signed and b"\n" not in signed.replace(b"\r\n", b"")


def test_headers_added_above_after_signing_do_not_break_it() -> None:
    """Received, Return-Path and trace headers a relay prepends leave the signature valid."""
    signed = dkim_sign.sign(MESSAGE, [RSA_KEY])
    later = b"Received: from mailgate by mx.example.net\r\nReturn-Path: <b+x@example.org>\r\n"
    assert verify_all(later + signed) == [True]


def test_a_second_from_or_a_changed_subject_breaks_it() -> None:
    """From is over-signed: adding another From (or editing Subject) fails verification."""
    signed = dkim_sign.sign(MESSAGE, [RSA_KEY])
    assert b"h=from:to:subject:date:message-id:mime-version:" in signed.replace(b"\r\n\t", b"")
    assert verify_all(b"From: evil@example.com\r\n" + signed) == [False]
    assert verify_all(signed.replace(b"and  more", b"and  less")) == [False]
    tampered_body = signed.replace(b"Hello", b"Hullo")
    assert verify_all(tampered_body) == [False]


def test_empty_body_and_no_final_newline() -> None:
    """An empty body, a body without a final line end, and headers only all verify."""
    head = b"From: a@news.example.org\r\nSubject: x\r\n"
    for message in (head + b"\r\n", head + b"\r\nlast line without CRLF", head):
        assert verify_all(dkim_sign.sign(message, [RSA_KEY, ED_KEY])) == [True, True], message


def test_unrelated_domain_key_does_not_verify() -> None:
    """A signature with d= of one domain and a key published for another fails (no DNS key)."""
    other = SigningKey("other.example", "mg1", dkim_sign.RSA, RSA_KEY.private)
    assert verify_all(dkim_sign.sign(MESSAGE, [other])) == [False]


_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ 09.,;:\t!\"'()你好世界 é–    ")),
    max_size=40,
)
_eol = st.sampled_from(["\r\n", "\n"])  # bare LF: the signer sends CRLF, as the wire does


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    eol = draw(_eol)
    headers = [("From", f"{draw(_text)} <ann@{DOMAIN}>")]
    for name in draw(
        st.lists(
            st.sampled_from(
                ["To", "Cc", "Subject", "Reply-To", "X-Other", "References", "Subject", "Date"]
            ),
            max_size=6,
        )
    ):
        value = draw(_text)
        if draw(st.booleans()):  # folded, with odd whitespace after the fold
            value = value + eol + draw(st.sampled_from([" ", "\t", "  \t"])) + draw(_text) + "x"
        headers.append((draw(st.sampled_from([name, name.lower(), name.upper()])), value))
    # (WSP before the colon is obsolete syntax, RFC 5322 §4.5, that dkimpy refuses to parse)
    spacing = draw(st.sampled_from([": ", ":", ":  ", ":\t"]))
    lines = [f"{n}{spacing}{v}" for n, v in headers]
    body_lines = draw(st.lists(_text, max_size=8))
    body = eol.join(body_lines) + draw(st.sampled_from(["", eol, eol * 3, " " + eol]))
    return (eol.join(lines) + eol + eol + body).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_differential_against_dkimpy(message: bytes) -> None:
    """Generated messages (Chinese text, folds, trailing WSP, bare LF, empty bodies) verify."""
    assert verify_all(dkim_sign.sign(message, [RSA_KEY, ED_KEY])) == [True, True]


@settings(max_examples=60, deadline=None)
@given(messages())
def test_relaxed_canonical_forms_match_dkimpy(message: bytes) -> None:
    """Our body hash equals dkimpy's for the same message (the canonicaliser, not only RSA)."""
    from dkim.canonicalization import Relaxed

    crlf = dkim_sign.crlf(message)
    _, body = dkim_sign.split(crlf)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    assert dkim_sign.relaxed_body(body) == Relaxed.canonicalize_body(body)


@pytest.mark.parametrize("algorithm", [dkim_sign.RSA, dkim_sign.ED25519])
def test_load_key_refuses_the_wrong_kind(algorithm: str) -> None:
    """A PEM of the other algorithm is refused when loaded, naming what was expected."""
    other = ED_KEY if algorithm == dkim_sign.RSA else RSA_KEY
    pem = other.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match=algorithm):
        dkim_sign.load_key(DOMAIN, "s", algorithm, pem)
