"""Domain names as mailgate stores and compares them: lower-case IDNA A-labels.

One spelling per domain, so that ``Bücher.Test``, ``xn--bcher-kva.test`` and
``BÜCHER.test.`` are the same receiving domain and an equality test is enough
(never a ``LIKE`` pattern, where ``%`` and ``_`` are wildcards).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import idna

from mailgate.errors import InvalidInput

# RFC 1035 §2.3.1 letters-digits-hyphen labels (after IDNA, RFC 5891 §4.4).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_domain(value: str, *, field: str = "domain") -> str:
    """``value`` as lower-case A-labels, or :class:`InvalidInput` naming ``field``."""
    text = str(value or "").strip().rstrip(".")
    try:
        # UTS #46 maps case and compatibility forms the way email-validator does.
        ascii_: str = idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidInput(f"{value!r} is not a domain name", field=field) from None
    labels = ascii_.split(".")
    if (
        len(ascii_) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()  # an IP address is not a domain
    ):
        raise InvalidInput(f"{value!r} is not a domain name", field=field)
    return ascii_


def sending_domain_name(value: str, *, field: str = "name") -> str:
    """A domain mailgate may send from, as lower-case A-labels; else InvalidInput saying why.

    Stricter than :func:`normalise_domain` and precise about the rule broken, since
    the name is typed by a person setting up DNS: LDH labels (RFC 1035 §2.3.1 after
    IDNA, RFC 5891), at most 253 octets and 63 per label, and not a public suffix
    (nobody can publish SPF or DKIM for all of ``co.uk``).
    """
    raw = str(value or "")
    text = raw.strip()
    if not text:
        raise InvalidInput("the domain name is empty", field=field)
    if text != raw or any(ch.isspace() for ch in text):
        raise InvalidInput(f"{raw!r} contains a space: a domain name has none", field=field)
    text = text[:-1] if text.endswith(".") else text
    if "_" in text:
        raise InvalidInput(
            f"{raw!r} contains an underscore: only letters, digits and hyphens are allowed",
            field=field,
        )
    if "" in text.split("."):
        raise InvalidInput(f"{raw!r} has an empty label (two dots in a row)", field=field)
    if text.isascii():
        # Said precisely here: the IDNA codec would only say "label too long".
        _check_lengths(text.lower(), field)
    try:
        ascii_: str = idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise InvalidInput(
            f"{raw!r} is not a valid internationalised domain name ({exc}): only letters, "
            "digits and hyphens are allowed in each label",
            field=field,
        ) from None
    _check_lengths(ascii_, field)
    labels = ascii_.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise InvalidInput(
                f"the label {label!r} may hold only letters, digits and hyphens, "
                "and may not start or end with a hyphen",
                field=field,
            )
    if len(labels) < 2:
        raise InvalidInput(
            f"{ascii_!r} is a top-level domain, not a domain to send from", field=field
        )
    if labels[-1].isdigit():
        raise InvalidInput(f"{raw!r} is an IP address, not a domain name", field=field)
    if is_public_suffix(ascii_):
        raise InvalidInput(
            f"{ascii_!r} is a public suffix (publicsuffix.org): register a domain under it",
            field=field,
        )
    return ascii_


def _check_lengths(ascii_: str, field: str) -> None:
    """RFC 1035 §2.3.4: 63 octets a label, 253 the name (255 on the wire)."""
    if len(ascii_) > 253:
        raise InvalidInput(
            f"the domain name is {len(ascii_)} octets long in A-labels: at most 253", field=field
        )
    for label in ascii_.split("."):
        if len(label) > 63:
            raise InvalidInput(
                f"the label {label[:20]}… is {len(label)} octets long: at most 63", field=field
            )


def is_public_suffix(domain: str) -> bool:
    """``domain`` (A-labels) is on the Public Suffix List (the copy bundled with the package)."""
    return bool(_public_suffixes().is_public(domain))


def organizational_domain(domain: str) -> str:
    """The registered domain under the Public Suffix List (RFC 7489 §3.2); itself if none."""
    domain = domain.lower().rstrip(".")
    return str(_public_suffixes().privatesuffix(domain) or domain)


@functools.cache
def _public_suffixes() -> Any:
    # Read once, from the list shipped inside the package: no network at run time.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(only_icann=False)


def normalise_address(address: str, *, field: str = "address") -> str:
    """``local@domain`` lower-cased, the domain in A-labels; InvalidInput if it has none."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        raise InvalidInput(f"{address!r} is not an address with a domain", field=field)
    return f"{local.lower()}@{normalise_domain(domain, field=field)}"
