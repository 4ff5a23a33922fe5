"""Which network addresses a tenant may make mailgate connect to (pure; no I/O).

A workspace points mailgate at hosts: its SMTP relay, its IMAP/POP3 mailbox, its
webhook URL. Without a policy those become a way into the installation's own
networks (SSRF): the loopback services, the private LAN, the cloud metadata
endpoint ``169.254.169.254``. The rule is one function, :func:`refusal`:

* a public (globally routable) address is allowed;
* an address inside one of the operator's allowed networks
  (``MAILGATE_ALLOW_PRIVATE_NETWORKS``) is allowed;
* anything else is refused, and the answer says what kind of address it is:
  loopback, private, link-local, multicast, unspecified or reserved.

IPv6 forms that carry an IPv4 address are judged by that address too: an
IPv4-mapped ``::ffff:127.0.0.1`` *is* ``127.0.0.1`` on a dual-stack socket, and
6to4 (RFC 3056, ``2002::/16``), NAT64 (RFC 6052, ``64:ff9b::/96``) and the
deprecated IPv4-compatible ``::a.b.c.d`` reach the IPv4 address inside.

:func:`parse_ip_literal` reads a host the way a resolver library would before
any DNS query: every notation ``inet_aton`` accepts (``127.1``, ``0x7f000001``,
``2130706433``, ``0177.0.0.1``) and bracketed IPv6 (``[::1]``), so a literal in a
strange spelling is classified as the address it is, not looked up as a name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = [
    "IPAddress",
    "IPNetwork",
    "canonical",
    "category",
    "embedded_ipv4",
    "parse_ip_literal",
    "parse_networks",
    "refusal",
]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: RFC 8215: NAT64 for local use; what it reaches is the operator's own network.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
#: RFC 6598 shared address space (carrier-grade NAT): private in all but name.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


def canonical(ip: IPAddress) -> IPAddress:
    """The address a socket really reaches: IPv4-mapped IPv6 becomes the IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id:  # fe80::1%eth0: the zone does not change the class
            return ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])
    return ip


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, NAT64 or IPv4-compatible IPv6 address leads to, if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 0xFFFF):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def category(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is, or None for a public one."""
    ip = canonical(ip)
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64:
        # RFC 6052: a DNS64 answer for a public host; judged by the IPv4 address inside.
        return category(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:  # includes 169.254.169.254, the cloud metadata service
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and (
        (ip.is_private and not ip.is_reserved) or ip in _SHARED
    ):
        return "private"
    if isinstance(ip, ipaddress.IPv6Address) and (
        ip in _NAT64_LOCAL or ip.is_site_local or ip in ipaddress.IPv6Network("fc00::/7")
    ):
        return "private"
    if not ip.is_global or ip.is_reserved:
        return "reserved"
    inner = embedded_ipv4(ip)
    if inner is not None and (inner_kind := category(inner)) is not None:
        return inner_kind
    return None


def refusal(ip: IPAddress, allowed: Sequence[IPNetwork] = ()) -> str | None:
    """Why ``ip`` may not be reached, or None when it may.

    ``allowed`` are the operator's networks: an address inside one is allowed
    whatever its kind (a mapped IPv4 address is matched as IPv4).
    """
    ip = canonical(ip)
    if any(ip.version == net.version and ip in net for net in allowed):
        return None
    inner = embedded_ipv4(ip)
    if inner is not None and any(inner in net for net in allowed if net.version == 4):
        return None
    return category(ip)


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings (already validated by the settings) as networks."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def _inet_aton_part(text: str) -> int | None:
    """One part of a BSD ``inet_aton`` address: decimal, octal (leading 0) or hex (0x)."""
    if not text:
        return None
    low = text.lower()
    try:
        if low.startswith("0x"):
            return int(low[2:], 16) if low[2:] else 0
        if len(low) > 1 and low.startswith("0"):
            return int(low[1:], 8)
        return int(low, 10) if low.isdigit() else None
    except ValueError:
        return None


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """What ``inet_aton`` (and so ``getaddrinfo``) makes of ``text``, or None if not IPv4."""
    parts = text.split(".")
    if text.endswith("."):
        parts = parts[:-1]  # "127.0.0.1." is still the address for glibc
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_inet_aton_part(p) for p in parts]
    if any(n is None or n < 0 for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    # a.b.c.d: 8 bits each; a.b.c: c is 16 bits; a.b: b is 24 bits; a: 32 bits.
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for v in head:
        value = value << 8 | v
    value = value << (8 * (4 - len(head))) | last
    return ipaddress.IPv4Address(value)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells in any notation, or None when it is a name."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    if not text or not all(c.isalnum() or c == "." for c in text):
        return None
    return _inet_aton(text)
