"""SPF, DKIM and DMARC verdicts for a received message (docs/conversations.md).

Two ways, chosen by the settings:

* trust the MTA in front (``MAILGATE_TRUSTED_AUTHSERV_ID``): its topmost
  ``Authentication-Results`` field is read (``core/authresults.py``); lower fields
  claiming its id came with the message and are ignored;
* compute (``MAILGATE_INBOUND_AUTH=compute``, the default): DKIM with dkimpy over
  every signature, SPF with pyspf against the SMTP client's address, HELO and MAIL
  FROM, DMARC from the ``_dmarc`` record and alignment (``core/dmarc.py``).

This costs DNS look-ups, so it runs in the inbound worker (``processor.py``, in the
``inbound`` executor), never in the SMTP session before ``250``. DNS goes to
``MAILGATE_DNS_RESOLVER`` when set, else the system's resolver.
"""

from __future__ import annotations

import logging
import threading
import warnings
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

import dkim
import dkim.util
import dns.exception
import dns.name
import dns.resolver

from mailgate.config import Settings
from mailgate.core import dmarc
from mailgate.core.authresults import trusted_verdicts
from mailgate.core.domain_names import organizational_domain

with warnings.catch_warnings():
    # pyspf's source has docstrings with invalid escapes: a compile-time warning only.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    import spf

log = logging.getLogger(__name__)

#: Seconds one look-up may take; a slow name server gives temperror, not a stuck worker.
DNS_TIMEOUT = 5.0
#: Signatures verified per message: each costs a look-up, and a sender may add hundreds.
MAX_SIGNATURES = 8
#: Sources whose SMTP client is the sender's server: SPF can be checked against it.
SMTP_SOURCES = ("smtp",)


def verdicts(
    settings: Settings,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    peer_ip: str | None,
    helo: str | None,
) -> dict[str, Any]:
    """``{"spf", "dkim", "dmarc", "source"}`` for one received message."""
    try:
        return _verdicts(
            settings, raw, source=source, mail_from=mail_from, peer_ip=peer_ip, helo=helo
        )
    except Exception as e:  # a verdict we could not reach must not dead-letter the mail
        log.exception("inbound authentication failed")
        reason = f"could not be checked: {type(e).__name__}: {e}"
        return {
            "spf": {"result": "temperror", "domain": None, "reason": reason},
            "dkim": [],
            "dmarc": {"result": "temperror", "policy": None, "domain": None, "reason": reason},
            "source": "error",
        }


def _verdicts(
    settings: Settings,
    raw: bytes,
    *,
    source: str,
    mail_from: str,
    peer_ip: str | None,
    helo: str | None,
) -> dict[str, Any]:
    header = BytesHeaderParser(policy=compat32).parsebytes(raw[: 1 << 20])
    from_domain, from_problem = _from_domain(header.get_all("From") or [])
    resolver = _resolver(settings)
    if settings.trusted_authserv_id:
        values = [str(v) for v in header.get_all("Authentication-Results") or []]
        trusted = trusted_verdicts(values, settings.trusted_authserv_id)
        if trusted is not None:
            trusted["dmarc"]["domain"] = trusted["dmarc"]["domain"] or from_domain
            if "reason" in trusted["dmarc"] and settings.inbound_auth == "compute":
                # The MTA checked SPF and DKIM but not DMARC: evaluate its results here.
                trusted["dmarc"] = _dmarc(resolver, from_domain, from_problem, trusted)
            return trusted
    if settings.inbound_auth != "compute":
        reason = "not computed (MAILGATE_INBOUND_AUTH=off) and no trusted Authentication-Results"
        return {
            "spf": {"result": "none", "domain": None, "reason": reason},
            "dkim": [],
            "dmarc": {"result": "none", "policy": None, "domain": from_domain, "reason": reason},
            "source": "none",
        }
    out: dict[str, Any] = {
        "spf": _spf(resolver, source, mail_from, peer_ip, helo),
        "dkim": _dkim(resolver, raw),
        "source": "computed",
    }
    if settings.trusted_authserv_id:
        out["note"] = f"no Authentication-Results from {settings.trusted_authserv_id}"
    out["dmarc"] = _dmarc(resolver, from_domain, from_problem, out)
    return out


# -- DNS ---------------------------------------------------------------------------


def _resolver(settings: Settings) -> dns.resolver.Resolver:
    if settings.dns_resolver is None:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [settings.dns_resolver[0]]
        resolver.port = settings.dns_resolver[1]
    resolver.timeout = resolver.lifetime = DNS_TIMEOUT
    return resolver


class _TempError(Exception):
    pass


def _txt(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """Every TXT string at ``name`` (chunks joined); [] when there is none."""
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
        raise _TempError(f"DNS {name}: {e}") from None
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return []  # not a name DNS can hold (a label over 63 octets, bad IDNA): no record
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


# -- SPF ---------------------------------------------------------------------------

_spf_local = threading.local()


def _spf_lookup(name: str, qtype: str, strict: bool = True, timeout: float = 30) -> list[Any]:
    """pyspf's look-up hook, through this thread's resolver (the configured server).

    pyspf calls a module-level function with no resolver argument; it is replaced
    once (below) by this one, which reads the resolver of the check running in this
    thread, and uses dnspython 2's ``resolve`` instead of the deprecated ``query``.
    """
    resolver: dns.resolver.Resolver = getattr(_spf_local, "resolver", None) or (
        dns.resolver.Resolver()
    )
    try:
        answers = resolver.resolve(name, qtype, search=False, lifetime=min(timeout, DNS_TIMEOUT))
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as e:
        raise spf.TempError(f"DNS {e}") from None
    out: list[Any] = []
    for r in answers:
        if qtype in ("A", "AAAA"):
            out.append(((name, qtype), r.address))
        elif qtype == "MX":
            out.append(((name, qtype), (r.preference, r.exchange)))
        elif qtype == "PTR":
            out.append(((name, qtype), r.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            out.append(((name, qtype), r.strings))
    return out


spf.DNSLookup = _spf_lookup


def _spf(
    resolver: dns.resolver.Resolver,
    source: str,
    mail_from: str,
    peer_ip: str | None,
    helo: str | None,
) -> dict[str, Any]:
    domain = (mail_from.rpartition("@")[2] if mail_from else (helo or "")).lower() or None
    if source not in SMTP_SOURCES or not peer_ip:
        why = (
            "received over LMTP: the client is the MTA in front of mailgate, trust its "
            "Authentication-Results (MAILGATE_TRUSTED_AUTHSERV_ID)"
            if source == "lmtp"
            else f"no SMTP client address: received by {source}"
        )
        return {"result": "none", "domain": domain, "reason": why}
    _spf_local.resolver = resolver
    try:
        # querytime: one budget for the whole check (at most 10 look-ups, RFC 7208 §4.6.4).
        result, _code, explanation = spf.query(
            i=peer_ip, s=mail_from, h=helo or "unknown", querytime=DNS_TIMEOUT * 4
        ).check()
    except Exception as e:  # a library bug must not dead-letter the message
        result, explanation = "temperror", f"{type(e).__name__}: {e}"
    finally:
        _spf_local.resolver = None
    return {"result": str(result), "domain": domain, "reason": str(explanation)}


# -- DKIM --------------------------------------------------------------------------


def _dkim(resolver: dns.resolver.Resolver, raw: bytes) -> list[dict[str, Any]]:
    def get_txt(name: bytes, timeout: float = DNS_TIMEOUT) -> bytes | None:
        try:
            found = _txt(resolver, name.decode("ascii").rstrip("."))
        except _TempError as e:
            raise dkim.DnsTimeoutError(str(e)) from None
        except UnicodeDecodeError:
            return None
        return found[0].encode() if found else None

    try:
        d = dkim.DKIM(raw)
    except dkim.DKIMException as e:
        return [{"result": "permerror", "domain": None, "selector": None, "reason": str(e)}]
    signatures = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
    out = []
    for idx, value in enumerate(signatures[:MAX_SIGNATURES]):
        try:
            tags = dkim.util.parse_tag_value(value)
        except Exception:  # the signature itself is garbage
            tags = {}
        entry: dict[str, Any] = {
            "result": "fail",
            "domain": tags.get(b"d", b"").decode("ascii", "replace").lower() or None,
            "selector": tags.get(b"s", b"").decode("ascii", "replace") or None,
        }
        try:
            entry["result"] = "pass" if d.verify(idx=idx, dnsfunc=get_txt) else "fail"
        except dkim.DnsTimeoutError as e:
            entry["result"], entry["reason"] = "temperror", str(e)
        except dkim.DKIMException as e:
            # A changed body is a failed signature (RFC 8601 §2.7.1: fail); a missing or
            # malformed key or signature is a permerror.
            changed = "body hash mismatch" in str(e)
            entry["result"], entry["reason"] = ("fail" if changed else "permerror"), str(e)
        except Exception as e:  # a malformed key or signature dkimpy did not foresee
            entry["result"], entry["reason"] = "permerror", f"{type(e).__name__}: {e}"
        out.append(entry)
    return out


# -- DMARC -------------------------------------------------------------------------


def _from_domain(values: list[str]) -> tuple[str | None, str | None]:
    """The From domain, and why there is none (DMARC needs exactly one author domain)."""
    decoded = []
    for v in values:
        try:
            decoded.append(str(make_header(decode_header(str(v)))))
        except Exception:
            decoded.append(str(v))
    domains = {a.rpartition("@")[2].lower() for _, a in getaddresses(decoded) if "@" in a}
    if not domains:
        return None, "no From address with a domain"
    if len(domains) > 1:
        return None, f"From names several domains ({', '.join(sorted(domains))})"
    return domains.pop(), None


def _dmarc(
    resolver: dns.resolver.Resolver,
    from_domain: str | None,
    from_problem: str | None,
    found: dict[str, Any],
) -> dict[str, Any]:
    if from_domain is None:
        return {"result": "permerror", "policy": None, "domain": None, "reason": from_problem}
    try:
        record, record_domain = _dmarc_record(resolver, from_domain)
    except _TempError as e:
        return {"result": "temperror", "policy": None, "domain": from_domain, "reason": str(e)}
    except dmarc.RecordError as e:
        return {"result": "permerror", "policy": None, "domain": from_domain, "reason": str(e)}
    return dmarc.verdict(
        from_domain, record, record_domain=record_domain, spf=found["spf"], dkim=found["dkim"]
    )


def _dmarc_record(
    resolver: dns.resolver.Resolver, from_domain: str
) -> tuple[dmarc.Record | None, str]:
    """RFC 7489 §6.6.3: the From domain's record, else its organizational domain's."""
    names = [from_domain]
    org = organizational_domain(from_domain)
    if org != from_domain:
        names.append(org)
    for name in names:
        records = [r for r in (dmarc.parse_record(t) for t in _txt(resolver, f"_dmarc.{name}"))]
        valid = [r for r in records if r is not None]
        if len(valid) == 1:
            return valid[0], name
        if len(valid) > 1:  # several records: as if none (§6.6.3 step 3)
            return None, name
    return None, from_domain
