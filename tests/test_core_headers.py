"""Tests for mailgate.core.headers: injection refusal, caller headers, RFC 2047 words."""

from __future__ import annotations

import base64

import pytest

from mailgate.core.headers import caller_headers, check_header, encode_words, unstructured
from mailgate.errors import HeaderInjection, InvalidInput


@pytest.mark.parametrize("value", ["a\r\nBcc: x@y.z", "a\nb", "a\rb", "a\0b"])
def test_line_breaks_and_nul_refused(value: str) -> None:
    """CR, LF and NUL in a value raise HeaderInjection naming the field."""
    with pytest.raises(HeaderInjection) as info:
        check_header("Subject", value, field="subject")
    assert info.value.field == "subject"


@pytest.mark.parametrize("name", ["", "X Bad", "X:Bad", "X-É", "X\tY", "X" * 77])
def test_bad_names_refused(name: str) -> None:
    """Names outside RFC 5322 ftext, or too long to fold, are refused."""
    with pytest.raises(HeaderInjection):
        check_header(name, "v", field="headers")


def test_ordinary_value_passes() -> None:
    """A normal Unicode value with tabs passes."""
    check_header("Subject", "你好\tworld", field="subject")


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("From", "from"),
        ("bcc", "bcc"),
        ("Reply-To", "reply_to"),
        ("Message-ID", "message_id"),
        ("Content-Type", "attachments"),
        ("Resent-From", "resend"),
        ("DKIM-Signature", "DKIM"),
        ("Return-Path", "bounce"),
    ],
)
def test_owned_headers_refused(name: str, hint: str) -> None:
    """Headers mailgate writes are refused with the API field to use instead."""
    with pytest.raises(InvalidInput) as info:
        caller_headers({name: "x"})
    assert info.value.field == f"headers.{name}"
    assert hint in info.value.message


def test_other_headers_kept() -> None:
    """X-*, List-*, Auto-Submitted and Precedence pass through unchanged."""
    given = {
        "X-Mailer": "crm 2.1",
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "OOF",
        "List-Unsubscribe": "<mailto:u@example.com>, <https://example.com/u?t=1>",
        "List-Id": "News <news.example.com>",
        "Precedence": "bulk",
    }
    assert caller_headers(given) == given


def test_caller_header_injection_names_header() -> None:
    """An injected value in a caller header names headers.<Name>."""
    with pytest.raises(HeaderInjection) as info:
        caller_headers({"X-Tag": "a\r\nBcc: evil@example.com"})
    assert info.value.field == "headers.X-Tag"


def test_duplicate_names_refused() -> None:
    """The same header twice in different case is refused."""
    with pytest.raises(InvalidInput):
        caller_headers({"X-A": "1", "x-a": "2"})


def test_encoded_words_hold_whole_characters() -> None:
    """Each B word is at most 75 characters and decodes to whole UTF-8 characters."""
    text = "中文主题😀" * 40
    words = encode_words(text)
    assert all(len(w) <= 75 for w in words)
    decoded = [base64.b64decode(w[10:-2]).decode("utf-8") for w in words]
    assert "".join(decoded) == text


def test_q_chosen_for_mostly_ascii() -> None:
    """Mostly ASCII text is Q-encoded, which is shorter there."""
    assert encode_words("Café au lait") == ["=?utf-8?q?Caf=C3=A9_au_lait?="]


def test_plain_subject_kept_readable() -> None:
    """A printable ASCII subject is written as is and folded at spaces."""
    field = unstructured("Subject", "word " * 30 + "end")
    assert "=?" not in field
    assert all(len(line) <= 76 for line in field.split("\r\n"))
