"""The verdicts a trusted MTA wrote in ``Authentication-Results`` (RFC 8601), without I/O.

Only the topmost field whose authserv-id is the trusted one counts: our MTA adds
its field above everything the message arrived with. Any lower field claiming the
same id came with the message — a sender can write any header — and is ignored
(counted in ``ignored``), as RFC 8601 §5 asks of a receiver that trusts its border.
Parsing is the ``authres`` package's (by dkimpy's author).
"""

from __future__ import annotations

import re
from typing import Any

import authres

_ID = re.compile(r"^\s*(?:\([^)]*\)\s*)*([^\s;()]+)")


def authserv_id(value: str) -> str:
    """The authserv-id a field claims, read leniently (also from a field that won't parse)."""
    m = _ID.match(value)
    return m.group(1).lower() if m else ""


def trusted_verdicts(values: list[str], trusted_id: str) -> dict[str, Any] | None:
    """Verdicts from the topmost field of ``trusted_id`` among ``values`` (top first).

    None when no field claims that id: the MTA did not vouch for this message.
    """
    wanted = trusted_id.strip().lower()
    claims = [v for v in values if authserv_id(v) == wanted]
    if not claims:
        return None
    out: dict[str, Any] = {
        "spf": {"result": "none", "domain": None},
        "dkim": [],
        "dmarc": {"result": "none", "policy": None, "domain": None},
        "source": f"trusted:{wanted}",
    }
    if len(claims) > 1:
        out["ignored"] = len(claims) - 1  # forged by the sender, below our MTA's own
    try:
        header = authres.AuthenticationResultsHeader.parse_value(claims[0])
    except authres.AuthResError as e:
        reason = f"the trusted Authentication-Results does not parse: {e}"
        out["spf"]["reason"] = out["dmarc"]["reason"] = reason
        out["spf"]["result"] = out["dmarc"]["result"] = "permerror"
        return out
    seen_dmarc = False
    for r in header.results:
        props = {f"{p.type}.{p.name}".lower(): str(p.value) for p in r.properties}
        method, result = str(r.method).lower(), str(r.result).lower()
        if method == "spf":
            out["spf"] = {
                "result": result,
                "domain": _domain(props.get("smtp.mailfrom") or props.get("smtp.helo")),
            }
        elif method == "dkim":
            out["dkim"].append(
                {
                    "result": result,
                    "domain": (props.get("header.d") or _domain(props.get("header.i"))),
                    "selector": props.get("header.s"),
                }
            )
        elif method == "dmarc" and not seen_dmarc:
            seen_dmarc = True
            out["dmarc"] = {
                "result": result,
                "policy": props.get("policy.dmarc"),
                "domain": props.get("header.from"),
            }
    if not seen_dmarc:
        out["dmarc"]["reason"] = "the trusted Authentication-Results has no dmarc result"
    return out


def _domain(value: str | None) -> str | None:
    """The domain of ``local@domain``, ``@domain`` or a bare domain."""
    if not value:
        return None
    return value.rpartition("@")[2].lower() or None
