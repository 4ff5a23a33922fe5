"""A DKIM signer (RFC 6376, relaxed/relaxed; RFC 8463 Ed25519) on top of ``cryptography``.

dkimpy does the RSA arithmetic in Python; this module hands it to OpenSSL and does
the canonicalisation with a few byte-level regular expressions, which is what makes
signing cheap enough to do for every message (benchmarks/dkim.py).

The message is brought to CRLF line ends first, as ``outbound.smtp.wire_format``
does on the wire: what is signed is exactly what leaves.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

RSA = "rsa-sha256"
ED25519 = "ed25519-sha256"

#: The headers a receiver's judgement depends on (RFC 6376 §5.4.1), in signing order.
SIGNED_HEADERS = (
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
#: Listed once more than present, so no further instance can be added after signing
#: without breaking the signature (§8.15, "over-signing").
OVERSIGNED = ("from",)

_LINE_ENDS = re.compile(rb"\r\n|\n|\r")
_WSP = re.compile(rb"[ \t]+")
#: Runs of WSP that are not already one space: replacing only these spares a
#: substitution per word in ordinary text (signing speed, benchmarks/dkim.py).
_WSP_RUN = re.compile(rb"\t[ \t]*| [ \t]+")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
_FOLD = re.compile(rb"\r\n(?=[ \t])")
_HEADER_END = re.compile(rb"\r\n\r\n")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A loaded private key and where its public half is published."""

    domain: str  # d=, A-labels
    selector: str  # s=
    algorithm: str  # rsa-sha256 | ed25519-sha256
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def load_key(domain: str, selector: str, algorithm: str, pem: bytes) -> SigningKey:
    """Parse a PKCS#8 PEM key once (RSA key checks cost milliseconds: cache the result)."""
    private = serialization.load_pem_private_key(pem, password=None)
    if algorithm == ED25519 and not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ValueError("an ed25519-sha256 key must be an Ed25519 private key")
    if algorithm == RSA and not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("an rsa-sha256 key must be an RSA private key")
    assert isinstance(private, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey))
    return SigningKey(domain, selector, algorithm, private)


def crlf(message: bytes) -> bytes:
    """The bytes as the SMTP transport sends them: CRLF line ends, a CRLF at the end."""
    crlfs = message.count(b"\r\n")
    if message.count(b"\n") != crlfs or message.count(b"\r") != crlfs:
        message = _LINE_ENDS.sub(b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def split(message: bytes) -> tuple[list[bytes], bytes]:
    """(header fields, each with its folding and final CRLF; body) of a CRLF message."""
    if message.startswith(b"\r\n"):
        return [], message[2:]
    end = _HEADER_END.search(message)
    head, body = (message[: end.start() + 2], message[end.end() :]) if end else (message, b"")
    if head and not head.endswith(b"\r\n"):
        head += b"\r\n"
    fields: list[bytes] = []
    for line in head.split(b"\r\n")[:-1]:
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line + b"\r\n"
        else:
            fields.append(line + b"\r\n")
    return fields, body


def field_name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip().lower()


def relaxed_header(field: bytes) -> bytes:
    """RFC 6376 §3.4.2: lower-case name, unfolded, runs of WSP → one SP, trimmed."""
    name, _, value = field.partition(b":")
    value = _WSP.sub(b" ", _FOLD.sub(b"", value.rstrip(b"\r\n"))).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4: no WSP at line ends, runs of WSP → one SP, no empty lines at the end."""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"  # §3.4.4 (and the wire adds it: outbound.smtp.wire_format)
    tabs = b"\t" in body
    if tabs or b" \r\n" in body:
        body = _TRAILING_WSP.sub(b"\r\n", body)
    if tabs or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def body_hash(body: bytes) -> bytes:
    return base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())


def sign(message: bytes, keys: Sequence[SigningKey], *, timestamp: int | None = None) -> bytes:
    """``message`` (CRLF line ends) with one DKIM-Signature per key prepended.

    Later signatures never cover earlier ones: with two keys (RSA and Ed25519) each
    verifies on its own, as RFC 8463 §4 expects of a double-signed message.
    """
    message = crlf(message)
    if not keys:
        return message
    fields, body = split(message)
    bh = body_hash(body).decode()
    present = [field_name(f) for f in fields]
    names = [n for n in SIGNED_HEADERS if n.encode() in present]
    counts = {n: present.count(n.encode()) for n in names}
    h = [n for n in names for _ in range(counts[n])]
    h += [n for n in OVERSIGNED]
    signed = _select(fields, h)
    when = int(time.time()) if timestamp is None else timestamp
    headers = [_signature(key, h, bh, when, signed) for key in keys]
    return b"".join(headers) + message


def _select(fields: list[bytes], names: list[str]) -> bytes:
    """The canonical headers named in h=, each instance taken from the bottom up (§5.4.2)."""
    used: dict[str, int] = {}
    out = []
    for name in names:
        instances = [f for f in fields if field_name(f) == name.encode()]
        n = used.get(name, 0)
        used[name] = n + 1
        if n < len(instances):  # a name listed more often than present signs nothing
            out.append(relaxed_header(instances[-1 - n]) + b"\r\n")
    return b"".join(out)


def _signature(key: SigningKey, h: list[str], bh: str, when: int, signed: bytes) -> bytes:
    tags = (
        f"v=1; a={key.algorithm}; c=relaxed/relaxed; d={key.domain}; s={key.selector};\r\n"
        f"\tt={when}; h={_fold_list(h)};\r\n"
        f"\tbh={bh};\r\n\tb="
    ).encode()
    header = b"DKIM-Signature: " + tags
    data = signed + relaxed_header(header)
    if isinstance(key.private, ed25519.Ed25519PrivateKey):
        # RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, not the data itself.
        raw = key.private.sign(hashlib.sha256(data).digest())
    else:
        raw = key.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    b = base64.b64encode(raw)
    folded = b"\r\n\t".join(b[i : i + 72] for i in range(0, len(b), 72))
    return header + folded + b"\r\n"


def _fold_list(names: list[str]) -> str:
    """h= with a fold every few names, so no line runs past 78 characters."""
    lines, line = [], ""
    for name in names:
        part = (":" if line else "") + name
        if len(line) + len(part) > 60:
            lines.append(line + ":")
            line = name
        else:
            line += part
    lines.append(line)
    return "\r\n\t ".join(lines)


#: A key as a helper process receives it: (key id, domain, selector, algorithm, PEM).
KeySpec = tuple[str, str, str, str, bytes]
_CHILD_KEYS: dict[tuple[str, bytes], SigningKey] = {}


def sign_jobs(keys: dict[str, KeySpec], jobs: list[tuple[bytes, list[str]]]) -> list[bytes]:
    """Sign ``jobs`` (message, key ids) in a helper process (queue/signing.py).

    RSA signing holds the GIL in ``cryptography``: done here, it runs on another core
    than the worker's event loop. Loaded keys are kept per process.
    """
    loaded: dict[str, SigningKey] = {}
    for key_id, (_, domain, selector, algorithm, pem) in keys.items():
        cached = _CHILD_KEYS.get((key_id, pem))
        if cached is None:
            cached = _CHILD_KEYS[(key_id, pem)] = load_key(domain, selector, algorithm, pem)
        loaded[key_id] = cached
    return [sign(raw, [loaded[k] for k in ids]) for raw, ids in jobs]
