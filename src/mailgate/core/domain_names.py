"""Domain names as mailgate stores and compares them: lower-case IDNA A-labels.

One spelling per domain, so that ``Bücher.Test``, ``xn--bcher-kva.test`` and
``BÜCHER.test.`` are the same receiving domain and an equality test is enough
(never a ``LIKE`` pattern, where ``%`` and ``_`` are wildcards).
"""

from __future__ import annotations

import re

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


def normalise_address(address: str, *, field: str = "address") -> str:
    """``local@domain`` lower-cased, the domain in A-labels; InvalidInput if it has none."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        raise InvalidInput(f"{address!r} is not an address with a domain", field=field)
    return f"{local.lower()}@{normalise_domain(domain, field=field)}"
