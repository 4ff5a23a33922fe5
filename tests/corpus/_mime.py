"""Byte-level MIME builders for the corpus generator.

The corpus is written by hand-shaped builders, not by ``email.generator``, so
each message keeps the exact header order, boundaries, folding and encodings a
real client or MTA produces, including the mistakes some of them make.
"""

from __future__ import annotations

import base64
import quopri
import struct
from dataclasses import dataclass, field

CRLF = "\r\n"


@dataclass
class Part:
    """One MIME entity: header lines (already encoded) and the body bytes."""

    headers: list[tuple[str, str | bytes]]
    body: bytes
    extra: list[tuple[str, str | bytes]] = field(default_factory=list)


def ew(text: str, charset: str = "utf-8", enc: str = "B", width: int = 40) -> str:
    """RFC 2047 encoded words, split between characters so each stays short."""
    words: list[str] = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode(charset)) > width and chunk:
            words.append(_one_word(chunk, charset, enc))
            chunk = ""
        chunk += ch
    if chunk:
        words.append(_one_word(chunk, charset, enc))
    return " ".join(words)


def _one_word(text: str, charset: str, enc: str) -> str:
    data = text.encode(charset)
    if enc.upper() == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    out = ""
    for byte in data:
        c = chr(byte)
        if c.isalnum() and byte < 128:
            out += c
        elif c == " ":
            out += "_"
        else:
            out += f"={byte:02X}"
    return f"=?{charset}?Q?{out}?="


def mailbox(name: str, address: str, charset: str = "utf-8", enc: str = "B") -> str:
    """A From/To mailbox; non-ASCII names become encoded words (RFC 2047 §5(3))."""
    if not name:
        return f"<{address}>"
    if name.isascii():
        return f'"{name}" <{address}>'
    return f"{ew(name, charset, enc)} <{address}>"


def b64(data: bytes) -> bytes:
    """Base64 body in 76-character lines (RFC 2045 §6.8)."""
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i : i + 76] for i in range(0, len(enc), 76)) + b"\r\n"


def qp(data: bytes) -> bytes:
    """Quoted-printable body (RFC 2045 §6.7) with CRLF line ends."""
    data = data.replace(b"\r\n", b"\n")
    return quopri.encodestring(data).replace(b"\n", b"\r\n")


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def text_part(
    text: str,
    charset: str = "utf-8",
    cte: str = "base64",
    subtype: str = "plain",
    params: str = "",
    quote_charset: bool = True,
) -> Part:
    """A text/* leaf in ``charset`` with the given transfer encoding."""
    data = crlf(text).encode(charset)
    cs = f'"{charset}"' if quote_charset else charset
    headers: list[tuple[str, str | bytes]] = [
        ("Content-Type", f"text/{subtype}; charset={cs}{params}"),
        ("Content-Transfer-Encoding", cte),
    ]
    if cte == "base64":
        body = b64(data)
    elif cte == "quoted-printable":
        body = qp(data)
    else:
        body = data if data.endswith(b"\r\n") else data + b"\r\n"
    return Part(headers, body)


def file_part(
    data: bytes,
    ctype: str,
    disposition: str,
    cte: str = "base64",
    extra: list[tuple[str, str | bytes]] | None = None,
) -> Part:
    """An attachment or inline leaf; ``ctype`` and ``disposition`` are header values."""
    headers: list[tuple[str, str | bytes]] = [("Content-Type", ctype)]
    headers += extra or []
    headers += [("Content-Transfer-Encoding", cte), ("Content-Disposition", disposition)]
    body = b64(data) if cte == "base64" else data
    return Part(headers, body)


def raw_part(ctype: str, body: bytes, extra: list[tuple[str, str | bytes]] | None = None) -> Part:
    """A leaf whose body is given verbatim (message/delivery-status, message/rfc822…)."""
    return Part([("Content-Type", ctype), *(extra or [])], body)


def multipart(
    subtype: str,
    boundary: str,
    parts: list[Part],
    params: str = "",
    preamble: str = "This is a multi-part message in MIME format.\r\n",
) -> Part:
    """A multipart entity; ``params`` adds e.g. '; report-type=delivery-status'."""
    out = preamble.encode()
    for p in parts:
        out += f"\r\n--{boundary}\r\n".encode() + render_part(p)
    out += f"\r\n--{boundary}--\r\n".encode()
    return Part([("Content-Type", f'multipart/{subtype}; boundary="{boundary}"{params}')], out)


def _header_bytes(headers: list[tuple[str, str | bytes]]) -> bytes:
    out = b""
    for name, value in headers:
        v = value if isinstance(value, bytes) else value.encode("ascii")
        out += name.encode() + b": " + v + b"\r\n"
    return out


def render_part(p: Part) -> bytes:
    return _header_bytes(p.headers + p.extra) + b"\r\n" + p.body


def message(top: list[tuple[str, str | bytes]], body: Part, lf: bool = False) -> bytes:
    """A whole message: top-level headers, then the body entity's own headers."""
    raw = _header_bytes([*top, ("MIME-Version", "1.0"), *body.headers, *body.extra])
    raw += b"\r\n" + body.body
    return raw.replace(b"\r\n", b"\n") if lf else raw


def tnef(
    attachments: list[tuple[str, bytes]], message_class: str = "IPM.Microsoft Mail.Note"
) -> bytes:
    """A minimal valid TNEF stream (MS-OXTNEF) carrying ``attachments`` (name, data)."""

    def attr(level: int, ident: int, data: bytes) -> bytes:
        # MS-OXTNEF §2.1.3.1: level, id, length, data, checksum (sum of data bytes mod 2^16).
        return (
            struct.pack("<BII", level, ident, len(data))
            + data
            + struct.pack("<H", sum(data) & 0xFFFF)
        )

    out = struct.pack("<IH", 0x223E9F78, 0x0102)
    out += attr(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += attr(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += attr(1, 0x00078008, message_class.encode() + b"\0")  # attMessageClass
    for name, data in attachments:
        rend = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0)  # attAttachRendData
        out += attr(2, 0x00069002, rend)
        out += attr(2, 0x00018010, name.encode("cp1252") + b"\0")  # attAttachTitle
        out += attr(2, 0x0006800F, data)  # attAttachData
    return out
