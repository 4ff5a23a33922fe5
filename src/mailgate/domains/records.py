"""The DNS records a sending domain publishes, each with the one-sentence reason it exists.

Records are rebuilt from the current set-up every time they are shown or checked:
change the transports (or rotate a DKIM key) and the SPF (or DKIM) record to
publish changes with them. Nothing is fixed when the domain is first created.

A record is a plain dict (it is stored as JSON on ``sending_domains.records``)::

    {"purpose": "spf"|"dkim"|"dmarc"|"mx"|"return_path", "type", "host", "value",
     "reason", "status": "pending"|"ok"|"missing"|"mismatch", "found": [...], "detail"}
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Sub-domain of a sending domain that receives replies to conversations.
REPLY_LABEL = "reply"
#: Sub-domain of the envelope sender (VERP, Return-Path): bounces and DMARC reports.
BOUNCE_LABEL = "bounces"

#: What a transport kind that is an HTTP provider puts into SPF (their published include).
PROVIDER_INCLUDES: dict[str, str] = {
    "mailgun": "include:mailgun.org",
    "sendcloud": "include:sendcloud.net",
}
#: SMTP relays of well-known providers (host suffix → their include): their sending IPs
#: change, so the provider's include is the record to publish, never today's address.
SMTP_HOST_INCLUDES: dict[str, str] = {
    "mailgun.org": "include:mailgun.org",
    "sendcloud.net": "include:sendcloud.net",
    "sendgrid.net": "include:sendgrid.net",
    "amazonaws.com": "include:amazonses.com",
    "gmail.com": "include:_spf.google.com",
    "google.com": "include:_spf.google.com",
    "office365.com": "include:spf.protection.outlook.com",
    "outlook.com": "include:spf.protection.outlook.com",
    "postmarkapp.com": "include:spf.mtasv.net",
    "mailjet.com": "include:spf.mailjet.com",
}
#: Kinds that never put mail on the internet.
SILENT_KINDS = frozenset({"capture"})

REASONS = {
    "spf": "SPF lists the servers allowed to send mail for {name}, so receivers can tell "
    "mail from mailgate's transports from forgeries.",
    "dkim": "DKIM publishes the public key (selector {selector}) that checks the signature "
    "mailgate adds to every message from {name}.",
    "dmarc": "DMARC tells receivers what to do with mail that fails SPF and DKIM (p=none "
    "only reports while you start) and sends the reports to an address mailgate receives.",
    "mx": "Replies to conversations are addressed to {host}; this MX routes them to "
    "mailgate's inbound host.",
    "return_path": "The envelope sender (Return-Path) of mail from {name} is on {host}; "
    "this MX brings bounces back to mailgate, which matches them to the message (VERP).",
}


@dataclass(frozen=True, slots=True)
class Sender:
    """A transport that sends for the domain: its kind and non-secret config."""

    kind: str
    config: dict[str, Any]


def reply_domain(name: str) -> str:
    return f"{REPLY_LABEL}.{name}"


def bounce_domain(name: str) -> str:
    return f"{BOUNCE_LABEL}.{name}"


def record(purpose: str, type_: str, host: str, value: str, reason: str) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "type": type_,
        "host": host,
        "value": value,
        "reason": reason,
        "status": "pending",
        "found": [],
        "detail": None,
    }


def spf_mechanisms(
    senders: Iterable[Sender],
    *,
    hostname: str,
    resolve: Callable[[str], list[str]],
) -> list[str]:
    """The mechanisms our SPF record needs, in a stable order, without duplicates."""
    out: list[str] = []
    for sender in senders:
        for mech in _mechanisms(sender, hostname=hostname, resolve=resolve):
            if mech not in out:
                out.append(mech)
    return out


def _mechanisms(sender: Sender, *, hostname: str, resolve: Callable[[str], list[str]]) -> list[str]:
    if sender.kind in SILENT_KINDS:
        return []
    if sender.kind in PROVIDER_INCLUDES:
        return [PROVIDER_INCLUDES[sender.kind]]
    if sender.kind == "sendmail":
        # The local MTA sends from this machine: its name, as the operator set it.
        return [] if hostname in ("", "localhost") else [f"a:{hostname}"]
    host = str(sender.config.get("host") or "").strip().rstrip(".").lower()
    if not host:
        return []
    for suffix, include in SMTP_HOST_INCLUDES.items():
        if host == suffix or host.endswith("." + suffix):
            return [include]
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a) for a in resolve(host)]
        except Exception:  # an unresolvable relay: let receivers resolve it themselves
            return [f"a:{host}"]
    return [f"ip{a.version}:{a}" for a in addresses] or [f"a:{host}"]


def spf_value(mechanisms: Sequence[str]) -> str:
    # ~all (softfail), not -all: a forgotten transport then lands in spam, not nowhere,
    # and DMARC, not SPF, is where the domain owner tightens the policy later.
    return " ".join(["v=spf1", *mechanisms, "~all"])


def expected_records(
    name: str,
    *,
    mechanisms: Sequence[str],
    dkim: Sequence[dict[str, Any]],
    inbound_host: str,
    rua: str,
) -> list[dict[str, Any]]:
    """Every record ``name`` should publish, in the order a person publishes them.

    ``rua`` is the signed address on the bounce sub-domain that receives the DMARC
    aggregate reports (:func:`mailgate.inbound.tokens.dmarc_address`).
    """
    bounces, replies = bounce_domain(name), reply_domain(name)
    out = [
        record("spf", "TXT", name, spf_value(mechanisms), REASONS["spf"].format(name=name)),
    ]
    for key in dkim:
        row = record(
            "dkim",
            str(key.get("type", "TXT")),
            str(key["host"]),
            str(key["value"]),
            str(
                key.get("reason")
                or REASONS["dkim"].format(name=name, selector=key.get("selector", "?"))
            ),
        )
        row.update({k: v for k, v in key.items() if k not in row})
        out.append(row)
    out += [
        record(
            "dmarc",
            "TXT",
            f"_dmarc.{name}",
            f"v=DMARC1; p=none; rua=mailto:{rua}",
            REASONS["dmarc"],
        ),
        record("mx", "MX", replies, f"10 {inbound_host}.", REASONS["mx"].format(host=replies)),
        record(
            "return_path",
            "MX",
            bounces,
            f"10 {inbound_host}.",
            REASONS["return_path"].format(name=name, host=bounces),
        ),
    ]
    return out
