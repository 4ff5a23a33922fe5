"""Tests for mailgate.core.addresses: parsing, validation and formatting of mailboxes."""

from __future__ import annotations

import email
import email.policy

import pytest

from mailgate.core.addresses import (
    envelope_address,
    format_address,
    needs_smtputf8,
    parse_address,
    parse_address_list,
)
from mailgate.core.message import Address
from mailgate.errors import InvalidAddress


def _read_back(value: str) -> tuple[str, str]:
    msg = email.message_from_string(f"To: {value}\r\n\r\n", policy=email.policy.default)
    (addr,) = msg["To"].addresses
    return addr.display_name, addr.addr_spec


def test_bare_address() -> None:
    """A bare address parses with an empty name and a normalized domain."""
    assert parse_address("Ann@Example.COM", field="to") == Address("", "Ann@example.com")


def test_name_and_angle_address() -> None:
    """``Name <a@b.c>`` gives the name and the address."""
    assert parse_address("Ann Lee <ann@example.com>", field="to") == Address(
        "Ann Lee", "ann@example.com"
    )


def test_quoted_name_with_specials() -> None:
    """A quoted name keeps its commas and escaped quotes."""
    a = parse_address(r'"Lee, Ann \"AL\"" <ann@example.com>', field="to")
    assert a.name == 'Lee, Ann "AL"'


def test_rfc2047_name_is_decoded() -> None:
    """An RFC 2047 encoded name is decoded to Unicode."""
    a = parse_address("=?utf-8?b?5byg5LiJ?= <zhang@example.com>", field="from")
    assert a.name == "张三"


def test_chinese_name_and_idn_address() -> None:
    """Chinese names, local parts and domains are accepted as Unicode."""
    a = parse_address("张三 <用户@例子.中国>", field="to")
    assert a == Address("张三", "用户@例子.中国")


def test_invalid_address_names_field_and_reason() -> None:
    """A refused address raises InvalidAddress with the field and email-validator's reason."""
    with pytest.raises(InvalidAddress) as info:
        parse_address("Ann <ann@localhost>", field="cc")
    assert info.value.field == "cc"
    assert "period" in info.value.message


def test_line_break_is_refused() -> None:
    """A line break in an address value is refused before anything else."""
    with pytest.raises(InvalidAddress):
        parse_address("ann@example.com\r\nBcc: x@y.com", field="to")


def test_broken_encoded_word_is_refused() -> None:
    """An encoded word in an unknown charset is a clear error, not a crash."""
    with pytest.raises(InvalidAddress):
        parse_address("=?x-nope?q?abc?= <a@example.com>", field="to")


def test_list_names_failing_item() -> None:
    """parse_address_list reports the index of the bad item in the field."""
    with pytest.raises(InvalidAddress) as info:
        parse_address_list(["a@example.com", "b@example.com", "nope"], field="to")
    assert info.value.field == "to[2]"


def test_format_plain_and_atom_names() -> None:
    """ASCII atom names stay bare; names with specials are quoted and escaped."""
    assert format_address(Address("", "a@example.com")) == "a@example.com"
    assert format_address(Address("Ann Lee", "a@example.com")) == "Ann Lee <a@example.com>"
    formatted = format_address(Address('Lee, Ann "AL"', "a@example.com"))
    assert formatted == '"Lee, Ann \\"AL\\"" <a@example.com>'
    assert _read_back(formatted) == ('Lee, Ann "AL"', "a@example.com")


def test_format_chinese_name_is_encoded() -> None:
    """A non-ASCII name becomes UTF-8 encoded words that read back unchanged."""
    formatted = format_address(Address("张三（客服部）", "zhang@example.com"))
    assert formatted.isascii() and "=?utf-8?" in formatted
    assert _read_back(formatted) == ("张三（客服部）", "zhang@example.com")


def test_format_idn_domain_to_a_labels() -> None:
    """With an ASCII local part the IDN domain is written in A-labels."""
    assert format_address(Address("", "info@münchen.de")) == "info@xn--mnchen-3ya.de"


def test_format_keeps_utf8_local_part() -> None:
    """A Unicode local part stays UTF-8 (RFC 6532), domain included."""
    assert format_address(Address("", "用户@例子.中国")) == "用户@例子.中国"


def test_needs_smtputf8() -> None:
    """Only a non-ASCII local part needs SMTPUTF8; an IDN domain converts."""
    assert not needs_smtputf8("a@example.com")
    assert not needs_smtputf8("a@例子.中国")
    assert needs_smtputf8("用户@example.com")


def test_envelope_address() -> None:
    """The envelope address carries the IDNA form of the domain."""
    assert envelope_address("a@例子.中国") == "a@xn--fsqu00a.xn--fiqs8s"
    assert envelope_address("用户@例子.中国") == "用户@xn--fsqu00a.xn--fiqs8s"
    assert envelope_address("a@example.com") == "a@example.com"


def test_format_name_looking_like_encoded_word() -> None:
    """A name containing '=?' is encoded so no reader decodes it by mistake."""
    name = "=?utf-8?q?Admin?="
    assert _read_back(format_address(Address(name, "a@example.com"))) == (name, "a@example.com")
