"""Checking published records against real DNS, semantically rather than as strings.

* **SPF** (RFC 7208): exactly one ``v=spf1`` TXT record (two or more is a permerror,
  §4.5, and receivers then ignore SPF altogether); every mechanism of ours present
  (an ``ip4``/``ip6`` network that covers our address counts); at most 10 terms
  that cost a DNS look-up, counted through the includes (§4.6.4).
* **DKIM** (RFC 6376 §3.6.1): the ``p=`` of the TXT record equals our key, whatever
  the spacing or the string splitting; a CNAME to a delegated key is followed.
* **DMARC** (RFC 7489 §6.6.3): one record starting ``v=DMARC1`` with a valid ``p``.
* **MX**: an exchange equal to our inbound host.

A DNS server that does not answer leaves a record ``pending`` (never ``missing``):
a resolver outage must not turn a verified domain degraded.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.resolver

#: RFC 7208 §4.6.4: terms that cost a DNS look-up.
LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
LOOKUP_LIMIT = 10


class DnsUnavailable(Exception):
    """The DNS server did not answer (timeout, SERVFAIL): the check says nothing."""


@dataclass
class Dns:
    """Look-ups through dnspython: the system resolver, or ``nameserver`` (host, port)."""

    nameserver: tuple[str, int] | None = None
    timeout: float = 5.0

    def _resolver(self) -> dns.resolver.Resolver:
        if self.nameserver is None:
            resolver = dns.resolver.Resolver()
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [self.nameserver[0]]
            resolver.port = self.nameserver[1]
        resolver.timeout = resolver.lifetime = self.timeout
        return resolver

    def query(self, name: str, rdtype: str) -> tuple[list[Any], list[str]]:
        """(rdatas, CNAME chain followed) of ``name``; empty when it does not exist."""
        try:
            answer = self._resolver().resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return [], []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsUnavailable(f"the DNS server gave no answer for {name} {rdtype}") from exc
        chain = [
            f"{rrset.name.to_text(omit_final_dot=True)} CNAME "
            f"{rrset[0].target.to_text(omit_final_dot=True)}"
            for rrset in answer.response.answer
            if rrset.rdtype == dns.rdatatype.CNAME
        ]
        return list(answer), chain

    def txt(self, name: str) -> tuple[list[str], list[str]]:
        rdatas, chain = self.query(name, "TXT")
        # A TXT record may be split into strings of ≤ 255 octets: they are one value.
        return [b"".join(r.strings).decode("utf-8", "replace") for r in rdatas], chain

    def mx(self, name: str) -> list[tuple[int, str]]:
        rdatas, _ = self.query(name, "MX")
        return [
            (int(r.preference), r.exchange.to_text(omit_final_dot=True).lower()) for r in rdatas
        ]

    def addresses(self, host: str) -> list[str]:
        """A and AAAA of ``host`` (for the ip4/ip6 of an SMTP relay)."""
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            rdatas, _ = self.query(host, rdtype)
            out += [r.address for r in rdatas]
        return out


def _set(rec: dict[str, Any], status: str, found: list[str], detail: str | None) -> None:
    rec.update(status=status, found=found, detail=detail)


def check(rec: dict[str, Any], lookup: Dns) -> dict[str, Any]:
    """``rec`` with ``status``, ``found`` and ``detail`` filled in from DNS."""
    rec = dict(rec)
    checker: Callable[[dict[str, Any], Dns], None] = _CHECKS[rec["purpose"]]
    try:
        checker(rec, lookup)
    except DnsUnavailable as exc:
        _set(rec, "pending", [], f"{exc}: checked again later")
    return rec


# -- SPF ---------------------------------------------------------------------------


def _is_spf(text: str) -> bool:
    low = text.strip().lower()
    return low == "v=spf1" or low.startswith("v=spf1 ")


def _terms(text: str) -> list[str]:
    return [t.lower() for t in text.split()[1:]]


def _covers(theirs: list[str], ours: str) -> bool:
    """Does their mechanism set contain ours? Networks cover addresses inside them."""
    if ours in theirs or ("+" + ours) in theirs:
        return True
    kind, _, value = ours.partition(":")
    if kind not in ("ip4", "ip6"):
        return False
    try:
        address = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    for term in theirs:
        k, _, v = term.lstrip("+").partition(":")
        if k != kind:
            continue
        try:
            if address.subnet_of(ipaddress.ip_network(v, strict=False)):  # type: ignore[arg-type]
                return True
        except (ValueError, TypeError):
            continue
    return False


def count_lookups(terms: list[str], lookup: Dns, seen: set[str], budget: int) -> int:
    """Look-ups these terms cost, following ``include``/``redirect`` (stops past ``budget``)."""
    count = 0
    for term in terms:
        kind, _, target = term.lstrip("+-~?").partition(":")
        kind, _, redirect = kind.partition("=")
        kind = kind.split("/", 1)[0]  # a/24, mx//64: a CIDR length, still one look-up
        if kind not in LOOKUP_TERMS:
            continue
        count += 1
        target = target or redirect
        if kind in ("include", "redirect") and target and target not in seen:
            seen.add(target)
            if count > budget:
                return count
            try:
                texts, _ = lookup.txt(target)
            except DnsUnavailable:
                continue
            for text in texts:
                if _is_spf(text):
                    count += count_lookups(_terms(text), lookup, seen, budget - count)
                    break
        if count > budget:
            return count
    return count


def _check_spf(rec: dict[str, Any], lookup: Dns) -> None:
    texts, _ = lookup.txt(rec["host"])
    found = [t for t in texts if _is_spf(t)]
    if not found:
        _set(rec, "missing", [], f"no SPF record (TXT starting v=spf1) on {rec['host']}")
        return
    if len(found) > 1:
        _set(
            rec,
            "mismatch",
            found,
            f"{len(found)} SPF records: receivers treat that as a permerror (RFC 7208 §4.5) "
            "and ignore SPF; merge them into one",
        )
        return
    theirs = _terms(found[0])
    ours = [t for t in _terms(rec["value"]) if not t.endswith("all")]
    absent = [m for m in ours if not _covers(theirs, m)]
    if absent:
        _set(rec, "mismatch", found, f"the SPF record lacks {' '.join(absent)}")
        return
    if "+all" in theirs or "all" in theirs:
        _set(rec, "mismatch", found, "'+all' lets anyone send as this domain: end with ~all")
        return
    lookups = count_lookups(theirs, lookup, {rec["host"]}, LOOKUP_LIMIT)
    if lookups > LOOKUP_LIMIT:
        _set(
            rec,
            "mismatch",
            found,
            f"the record needs more than {LOOKUP_LIMIT} DNS look-ups (RFC 7208 §4.6.4, "
            "a permerror): replace includes by ip4/ip6 or drop unused ones",
        )
        return
    _set(rec, "ok", found, f"{lookups} of {LOOKUP_LIMIT} DNS look-ups used")


# -- DKIM --------------------------------------------------------------------------


def tags(text: str) -> dict[str, str]:
    """``k=v; k=v`` tag lists (DKIM, DMARC): keys lower-cased, whitespace dropped in p."""
    out: dict[str, str] = {}
    for part in text.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _key(text: str) -> str:
    return "".join(tags(text).get("p", "").split())


def _check_dkim(rec: dict[str, Any], lookup: Dns) -> None:
    if rec["type"] == "CNAME":
        rdatas, _ = lookup.query(rec["host"], "CNAME")
        targets = [r.target.to_text(omit_final_dot=True).lower() for r in rdatas]
        want = rec["value"].rstrip(".").lower()
        if not targets:
            _set(rec, "missing", [], f"no CNAME at {rec['host']}")
        elif want in targets:
            # The key served behind it, so that a rotated-in key can start signing.
            texts, _ = lookup.txt(rec["host"])
            _set(rec, "ok", targets + texts, None)
        else:
            _set(rec, "mismatch", targets, f"the CNAME points elsewhere, not at {want}")
        return
    texts, chain = lookup.txt(rec["host"])
    keys = [t for t in texts if "p=" in t.replace(" ", "").lower()]
    found = chain + texts
    if not keys:
        _set(rec, "missing", found, f"no DKIM key (TXT with p=) at {rec['host']}")
        return
    ours = _key(rec["value"])
    if any(_key(t) == ours for t in keys):
        via = f"through {chain[0]}" if chain else None
        _set(rec, "ok", found, via)
    elif any(_key(t) == "" for t in keys):
        _set(rec, "mismatch", found, "the key is revoked (empty p=)")
    else:
        _set(rec, "mismatch", found, "the published p= is not this domain's key")


# -- DMARC -------------------------------------------------------------------------


def _check_dmarc(rec: dict[str, Any], lookup: Dns) -> None:
    texts, _ = lookup.txt(rec["host"])
    found = [t for t in texts if t.strip().lower().startswith("v=dmarc1")]
    if not found:
        _set(rec, "missing", [], f"no DMARC record (TXT starting v=DMARC1) at {rec['host']}")
        return
    if len(found) > 1:
        _set(rec, "mismatch", found, "more than one DMARC record: receivers apply none")
        return
    parsed = tags(found[0])
    if parsed.get("v") != "DMARC1" or not found[0].strip().startswith("v=DMARC1"):
        _set(rec, "mismatch", found, "the record must start exactly with v=DMARC1")
    elif parsed.get("p", "").lower() not in ("none", "quarantine", "reject"):
        _set(rec, "mismatch", found, "p= must be none, quarantine or reject")
    else:
        ours = tags(rec["value"]).get("rua", "")
        rua = parsed.get("rua", "")
        note = None if ours.lower() in rua.lower() else "reports go elsewhere, not to mailgate"
        _set(rec, "ok", found, note)


# -- MX ----------------------------------------------------------------------------


def _check_mx(rec: dict[str, Any], lookup: Dns) -> None:
    exchanges = lookup.mx(rec["host"])
    found = [f"{pref} {host}." for pref, host in sorted(exchanges)]
    want = rec["value"].split()[-1].rstrip(".").lower()
    if not exchanges:
        _set(rec, "missing", [], f"no MX record at {rec['host']}")
    elif any(host == want for _, host in exchanges):
        _set(rec, "ok", found, None)
    else:
        _set(rec, "mismatch", found, f"the MX points elsewhere, not at {want}")


_CHECKS: dict[str, Callable[[dict[str, Any], Dns], None]] = {
    "spf": _check_spf,
    "dkim": _check_dkim,
    "dmarc": _check_dmarc,
    "mx": _check_mx,
    "return_path": _check_mx,
}
