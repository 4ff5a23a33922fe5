"""Mailbox parsing, validation and formatting for headers and the SMTP envelope.

Addresses are validated by email-validator (RFC 5321/5322 syntax, IDNA 2008 domains,
RFC 6531 internationalised local parts); display names are ours to parse and encode.
"""

from __future__ import annotations

import functools
import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

import idna
from email_validator import EmailNotValidError, validate_email

from mailgate.core.headers import LINE, encode_words
from mailgate.core.message import Address
from mailgate.errors import InvalidAddress

# RFC 5322 §3.2.3 atext: a display name made only of these (and single spaces) needs no quotes.
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
# RFC 2047 §2 encoded word, as found in display names written by other mailers.
_ENCODED = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _decode_name(name: str, field: str) -> str:
    if not _ENCODED.search(name):
        return name
    try:
        return str(make_header(decode_header(name)))
    except (HeaderParseError, LookupError, UnicodeDecodeError) as exc:
        raise InvalidAddress(
            f"display name has a broken encoded word: {exc}", field=field
        ) from None


def _unquote(name: str) -> str:
    # RFC 5322 §3.2.4: inside a quoted string a backslash escapes the next character.
    return re.sub(r"\\(.)", r"\1", name[1:-1])


def _split(value: str) -> tuple[str, str]:
    """Split ``Name <addr>`` into name and address; a bare address has an empty name."""
    text = value.strip()
    if text.endswith(">") and "<" in text:
        lt = text.rindex("<")
        name, addr = text[:lt].strip(), text[lt + 1 : -1].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            return _unquote(name), addr
        return name, addr
    return "", text


# A plain ASCII address: dot-atom local part (RFC 5322 §3.4.1), LDH labels, alphabetic
# TLD. email-validator costs ~0.25 ms an address (IDNA tables); bulk sends validate
# tens of thousands, and every address this accepts is one email-validator accepts
# with the same normalisation (the domain lower-cased), so only the rest go to it.
_PLAIN = re.compile(
    r"(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z"
)
_RESERVED = ("arpa", "invalid", "local", "localhost", "onion")  # RFC 6761/6762/7686


@functools.lru_cache(maxsize=8192)
def _validated(addr: str) -> str:
    """The normalised address, or EmailNotValidError (errors are not cached)."""
    if _PLAIN.match(addr):
        domain = addr.rpartition("@")[2].lower()
        if not any(domain == r or domain.endswith("." + r) for r in _RESERVED):
            return f"{addr.rpartition('@')[0]}@{domain}"
    # test_environment: RFC 6761 reserves .test for testing, and a self-hosted gateway
    # is where people test; example.*, real domains and IDNs are unaffected.
    checked = validate_email(
        addr, check_deliverability=False, allow_smtputf8=True, test_environment=True
    )
    return str(checked.normalized)


def parse_address(value: str, *, field: str) -> Address:
    """Parse ``a@b.c``, ``Name <a@b.c>``, quoted or RFC 2047 names; validate the address."""
    if any(c in value for c in "\r\n\0"):
        raise InvalidAddress("address contains a line break or NUL", field=field)
    name, addr = _split(value)
    if not addr:
        raise InvalidAddress("address is empty", field=field)
    try:
        normalized = _validated(addr)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{addr!r} is not a valid address: {exc}", field=field) from None
    name = " ".join(_decode_name(name, field).split())
    return Address(name=name, address=normalized)


def parse_address_list(values: list[str], *, field: str) -> list[Address]:
    """Parse each value with :func:`parse_address`; a failure names ``field[i]``."""
    return [parse_address(v, field=f"{field}[{i}]") for i, v in enumerate(values)]


@functools.lru_cache(maxsize=1024)
def ascii_domain(domain: str) -> str | None:
    """The domain in IDNA A-labels, or None when it cannot be converted."""
    if domain.isascii():
        return domain
    try:
        # UTS #46 mapping as browsers and email-validator do (RFC 5891 §5.3, UTS #46 §4).
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def envelope_address(a: str) -> str:
    """The address for MAIL FROM / RCPT TO: domain in IDNA A-labels when possible."""
    local, at, domain = a.rpartition("@")
    if not at:
        return a
    converted = ascii_domain(domain)
    return f"{local}@{converted}" if converted is not None else a


def needs_smtputf8(address: str) -> bool:
    """True when the address cannot be written in ASCII (RFC 6531 SMTPUTF8 needed)."""
    local, _, domain = address.rpartition("@")
    return not local.isascii() or ascii_domain(domain) is None


def _header_address(address: str) -> str:
    # RFC 6532 lets UTF-8 stand in headers only with SMTPUTF8; when the local part is
    # ASCII the A-label domain keeps the message readable by every receiver (RFC 5890).
    local = address.rpartition("@")[0]
    return envelope_address(address) if local.isascii() else address


def address_tokens(a: Address) -> list[str]:
    """The unbreakable pieces of a mailbox, for folding (see headers.fold)."""
    addr = _header_address(a.address)
    name = a.name
    if not name:
        return [addr]
    # "=?" would read as an encoded word (RFC 2047 §6.1) whether bare or quoted.
    literal = "=?" not in name
    if literal and _ATOMS.match(name):
        return [*name.split(" "), f"<{addr}>"]
    if literal and name.isascii() and name.isprintable() and len(name) <= LINE - 12:
        # RFC 5322 §3.2.4: quote names with specials; escape quote and backslash.
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{quoted}"', f"<{addr}>"]
    return [*encode_words(name), f"<{addr}>"]


def format_address(a: Address) -> str:
    """An RFC 5322 mailbox for a header value (unfolded)."""
    return " ".join(address_tokens(a))
