"""DKIM keys of a sending domain: creation, the records to publish, rotation, retirement.

Key life (``DkimKey.state``): ``pending`` (published, not yet seen in DNS) →
``active`` (signs) → ``retiring`` (still published so mail in transit verifies,
no longer signs) → ``retired`` (private key erased; the record may go).

* A domain's first key is ``active`` at once: a verifier that cannot find the key
  treats the signature as absent (RFC 6376 §6.1), so signing early costs nothing and
  starts counting the moment the customer publishes the record.
* A rotated-in key stays ``pending`` until its record is seen in DNS
  (:func:`promote_verified`, or :func:`check_pending` which looks it up itself):
  switching to an unpublished key would break signatures that verify today.

The private key is sealed with :class:`~mailgate.crypto.SecretBox` and no function
here returns it; the signer (``queue/signing.py``) opens it once per key id.

Engineer-facing contract for the sending-domains code: :func:`ensure_keys` when a
domain is created, :func:`dkim_records` for its DKIM record(s), and
:func:`promote_verified` (or :func:`check_pending`) from its verification.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import dns.exception
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy.orm import Session

from mailgate.config import Settings
from mailgate.crypto import SecretBox
from mailgate.errors import NotFound
from mailgate.store.models import DkimKey, SendingDomain, new_id, utcnow

RSA = "rsa-sha256"
ED25519 = "ed25519-sha256"
#: Keys whose record must stay in DNS (the signer uses only ``active`` ones).
PUBLISHED = ("pending", "active", "retiring")


def ensure_keys(
    session: Session,
    box: SecretBox,
    domain: SendingDomain,
    *,
    ed25519: bool = False,
    now: datetime | None = None,
    pairs: dict[str, tuple[str, str]] | None = None,
) -> list[DkimKey]:
    """Give ``domain`` its signing keys unless it has them; the published keys.

    RSA-2048 always; with ``ed25519`` also an Ed25519 key (RFC 8463), and messages
    are then signed twice, since many verifiers still know only RSA (§4 there).
    ``pairs`` (algorithm → :func:`new_key_pair`) are keys made beforehand, outside
    the write transaction: an RSA key takes tens of milliseconds to generate.
    """
    keys = published_keys(session, domain)
    have = {k.algorithm for k in keys}
    wanted = [RSA, ED25519] if ed25519 else [RSA]
    missing = [a for a in wanted if a not in have]
    if missing:
        state = "pending" if have else "active"
        keys += _generate(session, box, domain, missing, state=state, now=now, pairs=pairs)
    return keys


def rotate(
    session: Session, box: SecretBox, domain: SendingDomain, *, now: datetime | None = None
) -> list[DkimKey]:
    """Create the next generation of keys (one per algorithm in use), ``pending``.

    An unfinished rotation is replaced: its pending keys never signed, so they are
    retired at once (kept, so that their selectors are never handed out again for a
    different key that a stale record would then contradict).
    """
    for key in published_keys(session, domain):
        if key.state == "pending":
            key.state = "retired"
            key.private_key = ""
    session.flush()
    algorithms = sorted({k.algorithm for k in published_keys(session, domain)}) or [RSA]
    return _generate(session, box, domain, algorithms, state="pending", now=now)


def published_keys(session: Session, domain: SendingDomain) -> list[DkimKey]:
    return (
        session.query(DkimKey)
        .filter(DkimKey.domain_id == domain.id, DkimKey.state.in_(PUBLISHED))
        .order_by(DkimKey.created_at, DkimKey.algorithm.desc())  # RSA first
        .all()
    )


def own_domain(session: Session, workspace_id: str, domain_id: str) -> SendingDomain:
    """The workspace's sending domain ``domain_id``; another workspace's is not found."""
    row = session.get(SendingDomain, domain_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no sending domain {domain_id} in this workspace", field="domain")
    return row


def public_key_view(key: DkimKey) -> dict[str, str | None]:
    """What the API shows of a key: never the private half, sealed or not."""
    return {
        "selector": key.selector,
        "algorithm": key.algorithm,
        "state": key.state,
        "public_key": key.public_key,
        "created_at": key.created_at.isoformat(),
        "activated_at": key.activated_at.isoformat() if key.activated_at else None,
        "retire_after": key.retire_after.isoformat() if key.retire_after else None,
    }


def delegated_zone(session: Session, delegation_domain: str) -> list[str]:
    """Zone-file lines the installation serves under MAILGATE_DKIM_DELEGATION_DOMAIN.

    One TXT per published key of every workspace, at the name customers' CNAMEs
    point to (docs/domains.md, "DKIM"). Long values are split into 255-octet strings.
    """
    rows = (
        session.query(SendingDomain, DkimKey)
        .join(DkimKey, DkimKey.domain_id == SendingDomain.id)
        .filter(DkimKey.state.in_(PUBLISHED))
        .order_by(SendingDomain.name, DkimKey.selector)
    )
    lines = []
    for domain, key in rows:
        value = record_value(key)
        strings = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        lines.append(f"{delegated_host(key, domain, delegation_domain)}. 3600 IN TXT {strings}")
    return lines


def record_value(key: DkimKey) -> str:
    """The TXT value of a key's record (RFC 6376 §3.6.1; ``k=ed25519``: RFC 8463 §4)."""
    k = "ed25519" if key.algorithm == ED25519 else "rsa"
    return f"v=DKIM1; k={k}; p={key.public_key}"


def key_host(key: DkimKey, domain: SendingDomain) -> str:
    return f"{key.selector}._domainkey.{domain.name}"


def delegated_host(key: DkimKey, domain: SendingDomain, delegation_domain: str) -> str:
    """Where the installation serves a delegated key: ``<sel>.<customer>.dkim.<zone>``."""
    return f"{key.selector}.{domain.name}.dkim.{delegation_domain}"


def dkim_records(
    session: Session,
    box: SecretBox,
    domain: SendingDomain,
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
) -> list[dict[str, str]]:
    """The DKIM record(s) the customer publishes: a TXT per key, or a CNAME when delegated.

    ``box`` is accepted for symmetry with :func:`ensure_keys`; nothing secret is read.
    Keys past their grace period are retired first, so their records are not asked for.
    """
    del box
    retire_due(session, domain, now=now)
    delegation = settings.dkim_delegation_domain if settings else None
    records = []
    for key in published_keys(session, domain):
        why = _reason(key)
        if delegation:
            records.append(
                {
                    "purpose": "dkim",
                    "type": "CNAME",
                    "host": key_host(key, domain),
                    "value": delegated_host(key, domain, delegation),
                    "reason": why + f" The key itself is served by this installation under "
                    f"{delegation}, so it can be rotated without another change on your side.",
                }
            )
        else:
            records.append(
                {
                    "purpose": "dkim",
                    "type": "TXT",
                    "host": key_host(key, domain),
                    "value": record_value(key),
                    "reason": why,
                }
            )
    return records


def _reason(key: DkimKey) -> str:
    what = "Ed25519 (RFC 8463)" if key.algorithm == ED25519 else "RSA-2048"
    base = (
        f"The {what} public key receivers use to check mailgate's DKIM signature "
        f"(selector {key.selector}); a valid, aligned signature is what DMARC needs."
    )
    if key.state == "pending":
        return base + " New key: mailgate signs with it once this record is found in DNS."
    if key.state == "retiring":
        until = key.retire_after.date().isoformat() if key.retire_after else "soon"
        return base + f" Replaced key: keep it published until {until} for mail in transit."
    return base


def promote_verified(
    session: Session,
    domain: SendingDomain,
    found: Mapping[str, str | None],
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
) -> list[DkimKey]:
    """Activate pending keys whose record DNS now serves; the keys promoted.

    ``found`` maps each selector looked up to the ``p=`` value found (None: no
    record; for a delegated CNAME, the ``p=`` served at the CNAME's target). A
    promoted key takes over signing for its algorithm; the key it replaces turns
    ``retiring`` for ``MAILGATE_DKIM_RETIRE_AFTER``.
    """
    now = now or utcnow()
    grace = timedelta(seconds=settings.dkim_retire_after_seconds if settings else 7 * 24 * 3600)
    keys = published_keys(session, domain)
    promoted = [
        k for k in keys if k.state == "pending" and _same_key(found.get(k.selector), k.public_key)
    ]
    for key in promoted:
        for old in keys:
            if old.algorithm == key.algorithm and old.state == "active":
                old.state = "retiring"
                old.retire_after = now + grace
        key.state = "active"
        key.activated_at = now
    session.flush()
    return promoted


def _same_key(found: str | None, ours: str) -> bool:
    return found is not None and "".join(found.split()) == ours


def retire_due(session: Session, domain: SendingDomain, *, now: datetime | None = None) -> None:
    """Retire keys whose grace period is over, erasing their private halves."""
    now = now or utcnow()
    for key in published_keys(session, domain):
        if key.state == "retiring" and key.retire_after and _aware(key.retire_after) <= now:
            key.state = "retired"
            key.private_key = ""  # nothing signs with it again: keep no copy
    session.flush()


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lookup_p(resolver: dns.resolver.Resolver, host: str) -> str | None:
    """The ``p=`` tag of the DKIM record at ``host`` (CNAMEs followed), or None."""
    try:
        answer = resolver.resolve(host, "TXT")
    except (dns.exception.DNSException, OSError):
        return None
    for rdata in answer:
        text = b"".join(rdata.strings).decode("ascii", "replace")
        tags = dict(
            (part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip())
            for part in text.split(";")
            if "=" in part
        )
        if "p" in tags:
            return "".join(tags["p"].split())
    return None


def resolver_for(settings: Settings) -> dns.resolver.Resolver:
    """dnspython against ``MAILGATE_DNS_RESOLVER``, else the system's resolver."""
    if settings.dns_resolver is None:
        return dns.resolver.Resolver()
    resolver = dns.resolver.Resolver(configure=False)
    host, port = settings.dns_resolver
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = 5.0
    return resolver


def check_pending(
    session: Session,
    domain: SendingDomain,
    settings: Settings,
    *,
    resolver: dns.resolver.Resolver | None = None,
    now: datetime | None = None,
) -> list[DkimKey]:
    """Look up each pending key's record in DNS and promote those found; the promoted."""
    resolver = resolver or resolver_for(settings)
    found = {
        k.selector: lookup_p(resolver, key_host(k, domain))
        for k in published_keys(session, domain)
        if k.state == "pending"
    }
    promoted = promote_verified(session, domain, found, settings, now=now) if found else []
    retire_due(session, domain, now=now)
    return promoted


def _generate(
    session: Session,
    box: SecretBox,
    domain: SendingDomain,
    algorithms: list[str],
    *,
    state: str,
    now: datetime | None,
    pairs: dict[str, tuple[str, str]] | None = None,
) -> list[DkimKey]:
    now = now or utcnow()
    taken = {s for (s,) in session.query(DkimKey.selector).filter(DkimKey.domain_id == domain.id)}
    suffix = next(
        s
        for s in ("", *(f"-{n}" for n in range(2, 10_000)))
        if f"mg{now:%Y%m}{s}" not in taken and f"ed{now:%Y%m}{s}" not in taken
    )
    keys = []
    for algorithm in algorithms:
        prefix = "ed" if algorithm == ED25519 else "mg"
        private_pem, public_b64 = (pairs or {}).get(algorithm) or new_key_pair(algorithm)
        key = DkimKey(
            id=new_id("dkim"),
            domain_id=domain.id,
            selector=f"{prefix}{now:%Y%m}{suffix}",
            algorithm=algorithm,
            private_key=box.encrypt({"pem": private_pem}),
            public_key=public_b64,
            state=state,
            created_at=now,
            activated_at=now if state == "active" else None,
        )
        session.add(key)
        keys.append(key)
    session.flush()
    return keys


def new_key_pair(algorithm: str) -> tuple[str, str]:
    """(PKCS#8 PEM private key, base64 ``p=`` value)."""
    if algorithm == ED25519:
        ed_private = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463 §4.2: p= is the bare 32-byte public key, not a SubjectPublicKeyInfo.
        raw = ed_private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        pem = ed_private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem.decode(), base64.b64encode(raw).decode()
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = rsa_private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = rsa_private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode(), base64.b64encode(der).decode()
