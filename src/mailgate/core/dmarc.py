"""DMARC (RFC 7489) without I/O: the record, identifier alignment and the verdict.

The DNS look-ups are the caller's (``inbound/authentication.py``); this module
decides from what they found, so every rule here is tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailgate.core.domain_names import organizational_domain

#: The ``p=``/``sp=`` values RFC 7489 §6.3 defines.
POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True, slots=True)
class Record:
    """One ``v=DMARC1`` record, as far as the verdict needs it."""

    policy: str  # p=
    subdomain_policy: str | None  # sp=
    adkim: str  # "r" relaxed | "s" strict
    aspf: str


class RecordError(ValueError):
    """A published record that is not DMARC (a permerror for the verdict)."""


def parse_record(text: str) -> Record | None:
    """The record in one TXT string; None if it is not a DMARC record at all.

    RFC 7489 §6.6.3: a record whose ``p=`` is missing or unknown is invalid, except
    that a valid ``rua=`` makes it ``p=none`` — kept simple here: invalid is an error.
    """
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq:
            tags.setdefault(name.strip().lower(), value.strip())
    first = text.split(";", 1)[0].replace(" ", "").replace("\t", "")
    if first != "v=DMARC1":  # §6.4: v= comes first, exactly so
        return None
    policy = tags.get("p", "").lower()
    if policy not in POLICIES:
        raise RecordError(f"p={tags.get('p', '')!r} is not one of {', '.join(POLICIES)}")
    sp = tags.get("sp", "").lower() or None
    if sp is not None and sp not in POLICIES:
        raise RecordError(f"sp={tags['sp']!r} is not one of {', '.join(POLICIES)}")
    adkim, aspf = tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower()
    for name, mode in (("adkim", adkim), ("aspf", aspf)):
        if mode not in ("r", "s"):
            raise RecordError(f"{name}={mode!r} is neither r (relaxed) nor s (strict)")
    return Record(policy, sp, adkim, aspf)


def aligned(identifier: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 §3.1: strict is the same name; relaxed is the same organizational domain."""
    a, b = identifier.lower().rstrip("."), from_domain.lower().rstrip(".")
    if not a or not b:
        return False
    if mode == "s":
        return a == b
    return organizational_domain(a) == organizational_domain(b)


def verdict(
    from_domain: str,
    record: Record | None,
    *,
    record_domain: str,
    spf: dict[str, Any],
    dkim: list[dict[str, Any]],
) -> dict[str, Any]:
    """``{"result", "policy", "domain", "reason"}`` for a From domain and what DNS held.

    ``record`` is the one found at ``_dmarc.<from_domain>``, else at the organizational
    domain's (``record_domain`` says which: ``sp=`` applies to sub-domains).
    """
    out: dict[str, Any] = {"result": "none", "policy": None, "domain": from_domain}
    if record is None:
        out["reason"] = f"no DMARC record for {from_domain}"
        return out
    sub = record_domain.lower() != from_domain.lower()
    policy = (record.subdomain_policy or record.policy) if sub else record.policy
    out["policy"] = policy
    spf_ok = spf.get("result") == "pass" and aligned(
        str(spf.get("domain") or ""), from_domain, record.aspf
    )
    dkim_ok = [
        s
        for s in dkim
        if s.get("result") == "pass"
        and aligned(str(s.get("domain") or ""), from_domain, record.adkim)
    ]
    if spf_ok or dkim_ok:
        out["result"] = "pass"
        via = ["spf"] if spf_ok else []
        via += [f"dkim d={s['domain']}" for s in dkim_ok]
        out["reason"] = "aligned: " + ", ".join(via)
        return out
    out["result"] = "fail"
    out["reason"] = (
        f"neither SPF ({spf.get('result')}, {spf.get('domain') or 'no domain'}) nor any "
        f"passing DKIM signature aligns with {from_domain} "
        f"(aspf={record.aspf}, adkim={record.adkim})"
    )
    return out
